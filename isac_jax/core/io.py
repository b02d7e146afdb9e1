"""Atomic file writes: every file the package writes (checkpoints, sweep points, dataset shards,
manifests, experiment outputs) goes through a temporary file in the same directory and an
``os.replace``, so a crash mid-write leaves the previous version (or nothing) intact, never half a file.
No pickle anywhere: ``.npz`` is written with ``allow_pickle`` irrelevant (plain numeric arrays) and
read back with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

import numpy as np


def _tmp_of(path: Path) -> Path:
    # Same directory (os.replace is atomic only within one file system); keep the suffix so that
    # numpy does not append ".npz" to the temporary name; the process id keeps concurrent writers
    # (the processes of a distributed sweep) apart.
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")


def write_bytes_atomic(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent directories are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_of(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def write_json_atomic(path, obj, *, indent: int = 1) -> Path:
    """``json.dumps(obj)`` to ``path`` atomically (NaN allowed, written as ``NaN``)."""
    return write_bytes_atomic(path, json.dumps(obj, indent=indent, allow_nan=True).encode())


def write_npz_atomic(path, arrays: Mapping[str, np.ndarray]) -> Path:
    """``np.savez(path, **arrays)`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_of(path)
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path
