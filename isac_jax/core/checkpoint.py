"""Checkpoints of arbitrary pytrees without pickle: Flax msgpack bytes plus a SHA-256 digest.

A checkpoint is one file ``<path>`` holding ``{"digest": hex, "payload": msgpack}`` (itself msgpack);
it is written to a temporary file and renamed, so a crash mid-write leaves the previous one intact.
Restoring needs a *template* pytree of the same structure (e.g. a freshly initialised state):
the tree structure, shapes and dtypes are checked against it, and a truncated or altered file
raises ``ValueError`` naming the path instead of returning garbage.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from .io import write_bytes_atomic


def save_checkpoint(path, tree) -> Path:
    """Write ``tree`` (any pytree of arrays / Python scalars) to ``path`` atomically."""
    payload = serialization.to_bytes(jax.device_get(tree))
    blob = serialization.msgpack_serialize({"digest": hashlib.sha256(payload).hexdigest(), "payload": payload})
    return write_bytes_atomic(path, blob)


def load_checkpoint(path, template):
    """Read the checkpoint at ``path`` into the structure of ``template``.

    Raises ``FileNotFoundError`` if absent and ``ValueError`` if the file is corrupted or was written
    for another structure (different keys, shapes or dtypes).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        outer = serialization.msgpack_restore(path.read_bytes())
        payload, digest = outer["payload"], outer["digest"]
    except Exception as err:   # msgpack raises several types on truncated input
        raise ValueError(f"checkpoint {str(path)!r} is corrupted (unreadable: {err})") from None
    if hashlib.sha256(payload).hexdigest() != digest:
        raise ValueError(f"checkpoint {str(path)!r} is corrupted (SHA-256 digest mismatch)")
    try:
        restored = serialization.from_bytes(template, payload)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"checkpoint {str(path)!r} does not match the expected structure: {err}") from None
    for a, b in zip(jax.tree_util.tree_leaves(template), jax.tree_util.tree_leaves(restored)):
        if isinstance(a, str):
            continue
        if np.shape(a) != np.shape(b) or np.asarray(a).dtype != np.asarray(b).dtype:
            raise ValueError(f"checkpoint {str(path)!r} does not match the expected structure: "
                             f"leaf {np.shape(b)} {np.asarray(b).dtype} vs {np.shape(a)} {np.asarray(a).dtype}")
    return restored
