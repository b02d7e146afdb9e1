"""Writing an experiment's outputs: ``results.json``, ``arrays.npz``, ``config.json``, ``figure.png``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..core.io import write_json_atomic, write_npz_atomic


def to_jsonable(obj):
    """Recursively convert numpy/JAX scalars and arrays to JSON-friendly Python objects."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        arr = np.asarray(obj)
        return arr.item() if arr.ndim == 0 else arr.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def collect_arrays(obj, prefix: str = "") -> dict:
    """Flatten every array of rank >= 1 in a nested dict into ``{"a/b": array}`` for ``.npz``."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(collect_arrays(v, f"{prefix}{k}/"))
    elif hasattr(obj, "shape") and np.ndim(obj) >= 1 and np.asarray(obj).dtype != object:
        out[prefix.rstrip("/")] = np.asarray(obj)
    return out


def write_outputs(out_dir: Path, results: dict, config, meta: dict, plot_fn) -> dict:
    """Write all outputs of one run into ``out_dir`` and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": out_dir / "results.json", "arrays": out_dir / "arrays.npz",
             "config": out_dir / "config.json", "figure": out_dir / "figure.png"}
    write_json_atomic(paths["results"], to_jsonable(results))
    write_npz_atomic(paths["arrays"], collect_arrays(results))
    write_json_atomic(paths["config"], to_jsonable({**meta, "config": config}))
    plot_fn(results, paths["figure"])
    return paths
