"""Writing an experiment's outputs: ``results.json``, ``arrays.npz``, ``figure.png`` and ``config.json``.

``config.json`` holds what identifies the run (experiment, preset, seed, PRNG implementation, the
config), where the code came from (:func:`isac_jax.core.provenance.provenance`), the wall time, and
the SHA-256 of the other three files (``"files"``); its own digest is in ``config.json.sha256``.
:func:`check_out_dir` vets ``--out`` before any work, :func:`check_reuse` refuses to mix runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from ..core.io import write_atomic_via, read_json_verified, write_bytes_digest, \
    write_json_verified, write_npz_digest
from ..core.provenance import provenance

#: The fields of ``config.json`` that identify a run: a directory holding another run's values is not
#: reused without ``force``.
IDENTITY = ("experiment", "preset", "seed", "prng", "config")


class OutDirError(ValueError):
    """``--out`` is empty, a file, under a file, or not writable."""


class ExistingResultsError(ValueError):
    """The output directory holds the results of another run (another config, seed, preset or PRNG)."""


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


def check_out_dir(out, name: str) -> Path:
    """Create ``out/name`` and prove it writable (a probe file is written and removed), before any work.

    Args:
        out: the output root (``--out``); a non-empty path.
        name: the experiment's name (the subdirectory).

    Returns:
        ``Path(out) / name``.

    Raises:
        OutDirError: ``out`` is empty, ``out/name`` or one of its parents is a file, or the
            directory cannot be created or written.
    """
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip():
        raise OutDirError(f"--out must name a directory, got {out!r}")
    target = Path(out) / name
    for p in (target, *target.parents):
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                raise OutDirError(f"--out {str(out)!r}: {str(p)!r} is a file, not a directory")
            break
    probe = target / f".write-probe.{os.getpid()}"
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OutDirError(f"--out {str(out)!r} is not writable: {str(target)!r}: {err.strerror or err}") from None
    return target


def identity(meta: dict, config) -> dict:
    """The :data:`IDENTITY` fields of a run, as written to ``config.json``."""
    return to_jsonable({**{k: meta[k] for k in IDENTITY if k != "config"}, "config": config})


def check_reuse(out_dir: Path, ident: dict, *, force: bool) -> None:
    """Refuse ``out_dir`` when its ``config.json`` holds another run (unless ``force``).

    The same run (equal :data:`IDENTITY` fields, compared as the JSON written) resumes and overwrites
    its own outputs. With ``force`` another run's outputs stay until this run's replace them
    (:func:`write_outputs`), so a forced run that fails leaves them as they were. Raises
    :class:`ExistingResultsError` (another run) or :class:`~isac_jax.core.io.CorruptFileError` (an
    unreadable ``config.json``, without ``force``).
    """
    path = out_dir / "config.json"
    if not path.exists() or force:
        return
    old = read_json_verified(path, recover="pass --force to replace this directory's results, or use another --out")
    old = old if isinstance(old, dict) else {}

    def canonical(v):                          # NaN == NaN, tuples == lists: compare as the JSON written
        return json.dumps(v, sort_keys=True, allow_nan=True, default=repr)

    differ = [k for k in IDENTITY if canonical(old.get(k)) != canonical(ident[k])]
    if differ:
        what = ", ".join(f"{k} {old.get(k)!r} here, {ident[k]!r} now" if k != "config" else "another config"
                         for k in differ)
        raise ExistingResultsError(f"{str(out_dir)!r} holds the results of another run ({what}); pass --force to "
                                   "replace them, or use another --out")


def write_outputs(out_dir: Path, results: dict, config, meta: dict, plot_fn) -> dict:
    """Write all outputs of one run into ``out_dir`` (each atomically) and return their paths.

    ``config.json`` (``meta``, the provenance, ``config`` and the other files' SHA-256) is removed
    first and written last: an interruption in between leaves no ``config.json`` that vouches for
    the outputs of another run, or for half of this one's.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("config.json", "config.json.sha256"):
        (out_dir / stale).unlink(missing_ok=True)
    paths = {"results": out_dir / "results.json", "arrays": out_dir / "arrays.npz",
             "config": out_dir / "config.json", "figure": out_dir / "figure.png"}
    files = {"results.json": write_bytes_digest(paths["results"], json.dumps(to_jsonable(results), indent=1,
                                                                             allow_nan=True).encode()),
             "arrays.npz": write_npz_digest(paths["arrays"], collect_arrays(results)),
             "figure.png": write_atomic_via(paths["figure"], lambda tmp: plot_fn(results, tmp))}
    # ``meta`` carries the provenance taken when the run started (reproduce); taken now only as a fallback.
    write_json_verified(paths["config"], to_jsonable({**provenance(), **meta, "config": config, "files": files}))
    return paths
