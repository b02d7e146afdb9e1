"""Input validation shared by every public entry point.

Checks run on concrete (non-traced) values only, so validated functions stay jit-able: under
``jax.jit`` the shape checks still run (shapes are static) while value checks are skipped for
tracers. Every failure raises ``ValueError`` naming the argument and the rule it broke.
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np


def is_concrete(x) -> bool:
    """True when ``x`` holds actual values (not a tracer inside jit/vmap/grad)."""
    leaves = jax.tree_util.tree_leaves(x)
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def check_positive(name: str, value, *, allow_zero: bool = False) -> None:
    """Raise unless every entry of ``value`` is finite and > 0 (or >= 0 with ``allow_zero``)."""
    if not is_concrete(value):
        return
    arr = np.asarray(value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    bad = arr < 0 if allow_zero else arr <= 0
    if np.any(bad):
        rule = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {rule}, got {value!r}")


def check_int(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as int; raise unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def check_shape(name: str, arr, shape: Sequence[int | None]) -> None:
    """Raise unless ``arr.shape`` matches ``shape`` (``None`` matches any size)."""
    got = tuple(np.shape(arr))
    if len(got) != len(shape) or any(s is not None and g != s for g, s in zip(got, shape)):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"{name} must have shape {want}, got {list(got)}")

