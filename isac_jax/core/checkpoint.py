"""Checkpoints of arbitrary pytrees without pickle: Flax msgpack bytes plus a SHA-256 digest.

A checkpoint is one file ``<path>`` holding ``{"digest": hex, "payload": msgpack}`` (itself msgpack);
it is written to a temporary file and renamed, so a crash mid-write leaves the previous one intact.
Restoring needs a *template* pytree of the same structure (e.g. a freshly initialised state):
the tree structure, shapes and dtypes are checked against it, and a truncated or altered file
raises :class:`~isac_jax.core.io.CorruptFileError` (a ``ValueError``) naming the path and how to
recover instead of returning garbage.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from .io import CorruptFileError, write_bytes_atomic

_RECOVER = "delete it to redo the work it saved (a rerun then starts that part afresh)"


def save_checkpoint(path, tree) -> Path:
    """Write ``tree`` (any pytree of arrays / Python scalars) to ``path`` atomically."""
    payload = serialization.to_bytes(jax.device_get(tree))
    blob = serialization.msgpack_serialize({"digest": hashlib.sha256(payload).hexdigest(), "payload": payload})
    return write_bytes_atomic(path, blob)


def load_checkpoint(path, template):
    """Read the checkpoint at ``path`` into the structure of ``template``.

    Raises ``FileNotFoundError`` if absent and :class:`~isac_jax.core.io.CorruptFileError` (a
    ``ValueError``) if the file is corrupted or was written for another structure (different keys,
    shapes or dtypes).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        outer = serialization.msgpack_restore(path.read_bytes())
        payload, digest = outer["payload"], outer["digest"]
    except Exception as err:   # msgpack raises several types on truncated input
        raise CorruptFileError(f"checkpoint {str(path)!r} is corrupted (unreadable: {err}); {_RECOVER}") from None
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CorruptFileError(f"checkpoint {str(path)!r} is corrupted (SHA-256 digest mismatch); {_RECOVER}")
    try:
        restored = serialization.from_bytes(template, payload)
    except (ValueError, KeyError, TypeError) as err:
        raise CorruptFileError(f"checkpoint {str(path)!r} does not match the expected structure: {err}; "
                               f"{_RECOVER}") from None
    for a, b in zip(jax.tree_util.tree_leaves(template), jax.tree_util.tree_leaves(restored)):
        if isinstance(a, str):
            continue
        if np.shape(a) != np.shape(b) or np.asarray(a).dtype != np.asarray(b).dtype:
            raise ValueError(f"checkpoint {str(path)!r} does not match the expected structure: "
                             f"leaf {np.shape(b)} {np.asarray(b).dtype} vs {np.shape(a)} {np.asarray(a).dtype}")
    return restored
