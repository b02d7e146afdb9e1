"""Monte Carlo sweep runner: a parameter grid x independent trials, resumable on disk.

``run_sweep(trial_fn, grid, n_trials=..., key=...)`` evaluates ``trial_fn(key, **params)`` (one
trial, returning a dict of arrays) for every point of the Cartesian product of ``grid`` and every
trial, with ``jax.vmap`` over trials in chunks of ``chunk_size`` (bounded memory; the last chunk is
padded so one compiled function serves every chunk).

* **Common random numbers.** Trial ``j`` uses ``fold_in(key, j)`` at *every* grid point, so curves
  over the grid are compared on the same geometries/noise draws (lower variance of differences).
* **Static vs dynamic parameters.** Parameters that change array shapes (K, T, M, ...) are static:
  one compilation per distinct value. Names listed in ``dynamic`` are passed as traced scalars,
  so all their values share one compilation.
* **Multi-device.** With ``shard=True`` (default) and several local devices, each chunk's trial
  axis is sharded over all of them (``Mesh`` + ``NamedSharding``; the chunk is rounded up to a
  multiple of the device count). Trials are independent, so results equal the single-device ones
  to rounding.
* **Multi-process / multi-host.** Under ``jax.distributed.initialize()`` the work units (grid point
  x trial chunk) are dealt round-robin to the ``jax.process_count()`` processes; each process runs
  its units on its own local devices and writes them to ``out_dir`` (required, on a file system
  every process sees), then all processes meet at a barrier (``sync_global_devices``) and every
  process returns the merged result, equal to the single-process one. Callers write their outputs
  from process 0 only (:func:`isac_jax.experiments.reproduce` does).
* **Resumption.** With ``out_dir``, each finished chunk is written atomically to
  ``out_dir/chunks/point_<5 digits>_chunk_<5 digits>.npz``, then its SHA-256 to ``<chunk>.sha256``
  beside it (one file per chunk, so the processes of a distributed run never write the same file),
  next to ``out_dir/manifest.json`` (grid, trial count, chunk size). A rerun with the same settings
  loads the finished chunks instead of recomputing them, also when a process of a distributed run
  was killed and restarted; a chunk whose file is truncated or altered is computed again, with a
  warning naming it (a chunk without a digest file that reads back whole gets one: older work
  directories resume). A rerun with a different grid, trial count or chunk size is
  refused rather than mixing results; an unparsable manifest is an error naming it. No pickle is used.
"""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from .io import CorruptFileError, adopt_digest, file_is_intact, load_npz, read_json_verified, write_digest, \
    write_json_verified, write_npz_digest
from .validate import check_int

log = logging.getLogger(__name__)


def _jsonable(v):
    if isinstance(v, (np.generic,)):
        return v.item()
    return v


def _grid_points(grid: Mapping[str, Sequence]):
    names = list(grid)
    for name in names:
        if len(grid[name]) == 0:
            raise ValueError(f"grid[{name!r}] must hold at least one value")
    return names, [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def run_sweep(trial_fn: Callable, grid: Mapping[str, Sequence], *, n_trials: int, key,
              out_dir: str | os.PathLike | None = None, chunk_size: int = 256,
              dynamic: Sequence[str] = (), progress: bool = True, desc: str = "sweep",
              shard: bool = True) -> dict:
    """Run ``trial_fn`` over ``grid`` x ``n_trials``. Returns ``{"grid": [...], name: array}``.

    Each output array has shape ``[n_points, n_trials, ...]``; ``"grid"`` lists the parameter dict
    of every point in order (last grid entry varies fastest).
    """
    n_trials = check_int("n_trials", n_trials)
    chunk_size = check_int("chunk_size", chunk_size)
    unknown = set(dynamic) - set(grid)
    if unknown:
        raise ValueError(f"dynamic names {sorted(unknown)} are not keys of grid")
    names, points = _grid_points(grid)
    n_proc, proc = jax.process_count(), jax.process_index()
    if n_proc > 1 and out_dir is None:
        raise ValueError("out_dir is required when jax.distributed runs several processes: they exchange their "
                         "chunks through it (a directory on a file system every process sees)")
    chunk = min(chunk_size, n_trials)
    devices = jax.local_devices()
    sharding = None
    if shard and len(devices) > 1:
        chunk = -(-chunk // len(devices)) * len(devices)
        mesh = jax.sharding.Mesh(np.array(devices), ("trials",))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("trials"))
    trial_keys = jax.vmap(lambda j: jax.random.fold_in(key, j))(jnp.arange(n_trials))
    n_chunks = -(-n_trials // chunk)
    pad = n_chunks * chunk - n_trials
    padded_keys = jnp.concatenate([trial_keys, jnp.repeat(trial_keys[-1:], pad, axis=0)]) if pad else trial_keys

    chunk_dir = None
    if out_dir is not None:
        out_dir = Path(out_dir)
        chunk_dir = out_dir / "chunks"
        chunk_dir.mkdir(parents=True, exist_ok=True)
        manifest = {"grid": {n: [_jsonable(v) for v in grid[n]] for n in names}, "n_trials": n_trials,
                    "dynamic": sorted(dynamic), "chunk": chunk}
        mpath = out_dir / "manifest.json"
        if mpath.exists():
            old = read_json_verified(mpath, recover=f"delete the directory {str(out_dir)!r} to start this sweep over")
            if not isinstance(old, dict) or any(old.get(k) != manifest[k] for k in ("grid", "n_trials", "chunk")):
                raise ValueError(f"out_dir {str(out_dir)!r} holds a sweep with another grid, n_trials or chunk size "
                                 "(or from an older version); use a fresh out_dir or the same settings to resume")
        else:
            write_json_verified(mpath, manifest)

    def chunk_path(i, c):
        return chunk_dir / f"point_{i:05d}_chunk_{c:05d}.npz"

    compiled: dict = {}

    def batched_fn(static_items):
        if static_items not in compiled:
            static = dict(static_items)

            def one(k, dyn):
                return trial_fn(k, **static, **dyn)

            compiled[static_items] = jax.jit(jax.vmap(one, in_axes=(0, None)))
        return compiled[static_items]

    # Work units (grid point, trial chunk), dealt round-robin to the processes.
    mine = [(i, c) for i in range(len(points)) for c in range(n_chunks)][proc::n_proc]
    parts: dict = {}
    bar = tqdm(total=len(mine), desc=desc, disable=not progress, leave=False)
    for i, c in mine:
        if chunk_dir is not None and chunk_path(i, c).exists():
            if file_is_intact(chunk_path(i, c), adopt_digest(chunk_path(i, c))):
                bar.update(1)
                continue
            log.warning("%s is truncated or altered: computing it again", chunk_path(i, c))
        params = points[i]
        static_items = tuple((n, params[n]) for n in names if n not in dynamic)
        dyn = {n: jnp.asarray(params[n]) for n in dynamic}
        keys = padded_keys[c * chunk:(c + 1) * chunk]
        if sharding is not None:
            keys = jax.device_put(keys, sharding)
        out = jax.tree_util.tree_map(np.asarray, batched_fn(static_items)(keys, dyn))
        out = {k: v[:min(chunk, n_trials - c * chunk)] for k, v in out.items()}
        for k, v in out.items():
            if np.issubdtype(v.dtype, np.inexact) and not np.all(np.isfinite(v)):
                raise FloatingPointError(f"trial_fn output {k!r} holds NaN/inf at grid point {params}")
        if chunk_dir is not None:
            write_digest(chunk_path(i, c), write_npz_digest(chunk_path(i, c), out))
        log.info("computed point %d chunk %d", i, c)
        parts[i, c] = out
        bar.update(1)
    bar.close()
    if n_proc > 1:
        from jax.experimental.multihost_utils import sync_global_devices

        sync_global_devices(f"isac_jax.run_sweep {desc}")          # every process's chunks are on disk

    def load(i, c):
        if (i, c) not in parts:     # written by another process (or by this one, earlier)
            path, again = chunk_path(i, c), "rerun the same command: the sweep computes it again"
            digest = adopt_digest(path)
            if digest is None:
                raise CorruptFileError(f"{str(path)!r} is missing or partial; {again}")
            parts[i, c] = load_npz(path, digest=digest, recover=again)
        return parts[i, c]

    try:
        per_point = [{k: np.concatenate([load(i, c)[k] for c in range(n_chunks)])
                      for k in load(i, 0)} for i in range(len(points))]
        out = {k: np.stack([p[k] for p in per_point]) for k in per_point[0]}
    except (ValueError, KeyError) as err:
        raise ValueError(f"the chunks of this sweep do not fit together ({err}); if out_dir {str(out_dir)!r} was "
                         "written by another version of trial_fn, use a fresh out_dir") from err
    out["grid"] = points
    return out
