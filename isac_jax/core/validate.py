"""Input validation shared by every public entry point.

Every failure raises before any JAX tracing, with a message that names the argument and the rule it
broke: ``TypeError`` for the wrong kind of value (a string where a number belongs, a float array
of indices, an unsupported dtype), ``ValueError`` for a value of the right kind out of its range
(negative power, NaN, a size that cannot fit in memory).

The tracer rule: checks run on concrete (non-traced) values only, so validated functions stay
jit-able. Under ``jax.jit``/``vmap``/``grad`` the shape and dtype checks still run (they are
static) while value checks (finiteness, sign, index range) are skipped for tracers; such values are
checked at the Python boundary, i.e. when the public function is called on concrete arrays.

Memory: :func:`check_memory` refuses a request whose estimated footprint exceeds
:func:`memory_limit_bytes` (by default :data:`MEMORY_FRACTION` of the physical memory, read with
``os.sysconf``; the environment variable :data:`MEMORY_LIMIT_ENV` sets it in bytes).
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import jax
import numpy as np

#: Fraction of the physical memory a single request may need (see :func:`memory_limit_bytes`).
MEMORY_FRACTION = 0.8
#: Environment variable that sets the memory limit in bytes (overrides :data:`MEMORY_FRACTION`).
MEMORY_LIMIT_ENV = "ISAC_JAX_MEMORY_LIMIT_BYTES"


def is_concrete(x) -> bool:
    """True when ``x`` holds actual values (not a tracer inside jit/vmap/grad)."""
    leaves = jax.tree_util.tree_leaves(x)
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def _describe(value) -> str:
    """A short repr of ``value`` for an error message (arrays by shape and dtype, not by content)."""
    if np.ndim(value) == 0 or np.size(value) <= 8:
        try:
            return repr(value.tolist() if hasattr(value, "tolist") else value)
        except Exception:                                                     # noqa: BLE001 - a repr only
            return repr(value)
    return f"an array of shape {list(np.shape(value))}"


def _numeric(name: str, value, *, allow_complex: bool = False) -> np.ndarray:
    """``value`` as a NumPy array; ``TypeError`` unless it holds real (or complex) numbers."""
    try:
        arr = np.asarray(value)
    except Exception as exc:                                                  # noqa: BLE001 - re-raised named
        raise TypeError(f"{name} must be a number or an array of numbers, got {type(value).__name__}") from exc
    kinds = "iufc" if allow_complex else "iuf"
    if arr.dtype.kind not in kinds:
        what = "numbers" if allow_complex else "real numbers"
        raise TypeError(f"{name} must hold {what}, got {_describe(value)} of dtype {arr.dtype}")
    return arr


def check_finite(name: str, value, *, allow_complex: bool = True) -> None:
    """Raise unless every entry of ``value`` is a finite number (no NaN, no inf).

    ``TypeError`` for non-numeric values (strings, None, booleans) and, without ``allow_complex``,
    complex ones; ``ValueError`` for NaN or inf. Skipped for tracers (see the module docstring).
    """
    if not is_concrete(value):
        return
    arr = _numeric(name, value, allow_complex=allow_complex)
    bad = ~np.isfinite(arr)
    if np.any(bad):
        if arr.ndim == 0:
            raise ValueError(f"{name} must be finite, got {value!r}")
        raise ValueError(f"{name} must be finite, got {int(np.sum(bad))} NaN/inf entries of {arr.size} "
                         f"(shape {list(arr.shape)})")


def check_positive(name: str, value, *, allow_zero: bool = False) -> None:
    """Raise unless every entry of ``value`` is a finite real number > 0 (or >= 0 with ``allow_zero``).

    Skipped for tracers (see the module docstring).
    """
    if not is_concrete(value):
        return
    check_finite(name, value, allow_complex=False)
    arr = np.asarray(value)
    bad = arr < 0 if allow_zero else arr <= 0
    if np.any(bad):
        rule = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {rule}, got {_describe(value)}")


def check_range(name: str, value, low=None, high=None, *, low_open: bool = False, high_open: bool = False) -> None:
    """Raise unless ``value`` is a finite real number in the interval ``[low, high]``
    (``(low, ...`` with ``low_open``, ``..., high)`` with ``high_open``; ``None``: unbounded)."""
    if not is_concrete(value):
        return
    check_finite(name, value, allow_complex=False)
    arr = np.asarray(value)
    below = low is not None and np.any(arr <= low if low_open else arr < low)
    above = high is not None and np.any(arr >= high if high_open else arr > high)
    if below or above:
        lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
        raise ValueError(f"{name} must be in {lo}, {hi}, got {_describe(value)}")


def check_int(name: str, value, *, minimum: int | None = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int``; raise unless it is an integer in ``[minimum, maximum]``.

    Integral floats (``3.0``) are accepted; booleans, NaN, inf and fractions are ``ValueError``,
    non-numbers (strings, None, arrays of more than one entry) ``TypeError``.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, jax.core.Tracer):
        raise TypeError(f"{name} must be a concrete integer (a static size), got a traced value")
    if isinstance(value, int):                 # Python ints of any size (np.asarray(2**70) is an object array)
        out = value
    else:
        try:
            arr = np.asarray(value)
        except Exception as exc:                                              # noqa: BLE001 - re-raised named
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from exc
        if arr.ndim != 0 or arr.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be an integer, got {_describe(value)}")
        if not np.isfinite(arr) or int(arr) != arr:
            raise ValueError(f"{name} must be an integer, got {value!r}")
        out = int(arr)
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and out > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    return out


def check_shape(name: str, arr, shape: Sequence[int | None]) -> None:
    """Raise unless ``arr.shape`` matches ``shape`` (``None`` matches any size)."""
    got = tuple(np.shape(arr))
    if len(got) != len(shape) or any(s is not None and g != s for g, s in zip(got, shape)):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"{name} must have shape {want}, got {list(got)}")


def check_choice(name: str, value, choices: Sequence) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in tuple(choices):
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")


def check_dtype(name: str, dtype, allowed: Sequence[str] = ("float32", "float64")) -> np.dtype:
    """Return ``dtype`` as a NumPy dtype; ``TypeError`` unless it is one of ``allowed`` (names)."""
    try:
        if dtype is None:                      # np.dtype(None) is float64: refuse it, not guess
            raise TypeError
        dt = np.dtype(dtype)
    except Exception as exc:                                                  # noqa: BLE001 - re-raised named
        raise TypeError(f"{name} must be one of {', '.join(allowed)}, got {dtype!r}") from exc
    if dt.name not in tuple(allowed):
        raise TypeError(f"{name} must be one of {', '.join(allowed)}, got {dt.name}")
    return dt


def check_index_array(name: str, indices, *, upper: int | None = None, ndim: int = 1):
    """Validate an array of sample indices: an integer dtype, ``ndim`` axes, every entry in
    ``[0, upper)``. Returns it as an ``int64`` NumPy array (tracers are returned unchanged: their
    values cannot be checked; see the module docstring).

    ``TypeError`` for a non-integer dtype (floats would be truncated silently); ``ValueError`` for
    a negative index (it would wrap around in an unsigned key) or one ``>= upper``.
    """
    if not is_concrete(indices):
        if np.ndim(indices) != ndim:
            raise ValueError(f"{name} must have {ndim} axis(es), got shape {list(np.shape(indices))}")
        if not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(f"{name} must have an integer dtype, got {indices.dtype}")
        return indices
    try:
        arr = np.asarray(indices)
    except Exception as exc:                                                  # noqa: BLE001 - re-raised named
        raise TypeError(f"{name} must be an array of integers, got {type(indices).__name__}") from exc
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} axis(es), got shape {list(arr.shape)}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype (non-negative integers), got dtype {arr.dtype}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative integers, got min {int(arr.min())}")
    if upper is not None and np.any(arr >= upper):
        raise ValueError(f"{name} must be < {upper}, got max {int(arr.max())}")
    return arr.astype(np.int64)


def nbytes(shape: Sequence[int], dtype) -> int:
    """Bytes of an array of ``shape`` and ``dtype``, in Python integers (no overflow)."""
    return math.prod(int(s) for s in shape) * np.dtype(dtype).itemsize


def format_bytes(n: float) -> str:
    """``n`` bytes in the largest fitting binary-decimal unit, e.g. ``'137 GB'``."""
    for unit, scale in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def memory_limit_bytes() -> int:
    """The most memory one request may need: ``$ISAC_JAX_MEMORY_LIMIT_BYTES`` when set, else
    :data:`MEMORY_FRACTION` of the physical memory (``os.sysconf``; 64 GB where that is unknown)."""
    env = os.environ.get(MEMORY_LIMIT_ENV)
    if env:
        try:
            limit = int(float(env))
        except ValueError as exc:
            raise ValueError(f"{MEMORY_LIMIT_ENV} must be a number of bytes, got {env!r}") from exc
        if limit <= 0:
            raise ValueError(f"{MEMORY_LIMIT_ENV} must be > 0, got {env!r}")
        return limit
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        physical = 80 * 10**9
    return int(MEMORY_FRACTION * physical)


def check_memory(estimate_bytes: int, *, what: str, limit_bytes: int | None = None) -> None:
    """Refuse (``ValueError``) a request whose estimated footprint exceeds the memory limit.

    Args:
        estimate_bytes: the estimate (bytes), e.g. from :func:`nbytes`.
        what: what needs it, naming the arguments that set the size, e.g.
            ``"rayleigh_channels(n_devices=..., ...)"``; it starts the message.
        limit_bytes: the limit; default :func:`memory_limit_bytes`.
    """
    limit = memory_limit_bytes() if limit_bytes is None else int(limit_bytes)
    if estimate_bytes > limit:
        raise ValueError(f"{what} needs about {format_bytes(estimate_bytes)} of memory, more than the limit of "
                         f"{format_bytes(limit)} ({MEMORY_FRACTION:g} of physical memory unless "
                         f"{MEMORY_LIMIT_ENV} is set); use smaller sizes")
