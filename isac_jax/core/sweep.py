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
  to rounding. Under ``jax.distributed.initialize()`` the same code sees each host's local
  devices; every host then runs the whole sweep on its own devices (no cross-host sharding).
* **Resumption.** With ``out_dir``, each finished grid point is written atomically to
  ``out_dir/points/point_<5-digit index>.npz`` and listed in ``out_dir/manifest.json``; a rerun with the same
  grid and trial count loads finished points instead of recomputing them. A rerun with a different
  grid or trial count is refused rather than mixing results. No pickle is used.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from .io import write_json_atomic, write_npz_atomic
from .validate import check_int


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

    manifest = {"grid": {n: [_jsonable(v) for v in grid[n]] for n in names}, "n_trials": n_trials,
                "dynamic": sorted(dynamic), "completed": []}
    point_dir = None
    if out_dir is not None:
        out_dir = Path(out_dir)
        point_dir = out_dir / "points"
        point_dir.mkdir(parents=True, exist_ok=True)
        mpath = out_dir / "manifest.json"
        if mpath.exists():
            old = json.loads(mpath.read_text())
            if old.get("grid") != manifest["grid"] or old.get("n_trials") != n_trials:
                raise ValueError(f"out_dir {str(out_dir)!r} holds a sweep with another grid or n_trials; "
                                 "use a fresh out_dir or the same settings to resume")
            manifest["completed"] = old.get("completed", [])

    compiled: dict = {}

    def batched_fn(static_items):
        if static_items not in compiled:
            static = dict(static_items)

            def one(k, dyn):
                return trial_fn(k, **static, **dyn)

            compiled[static_items] = jax.jit(jax.vmap(one, in_axes=(0, None)))
        return compiled[static_items]

    results = []
    bar = tqdm(total=len(points) * n_chunks, desc=desc, disable=not progress, leave=False)
    for i, params in enumerate(points):
        fpath = point_dir / f"point_{i:05d}.npz" if point_dir is not None else None
        if fpath is not None and i in manifest["completed"] and fpath.exists():
            with np.load(fpath) as data:
                results.append({k: data[k] for k in data.files})
            bar.update(n_chunks)
            continue
        static_items = tuple((n, params[n]) for n in names if n not in dynamic)
        dyn = {n: jnp.asarray(params[n]) for n in dynamic}
        fn = batched_fn(static_items)
        parts = []
        for c in range(n_chunks):
            keys = padded_keys[c * chunk:(c + 1) * chunk]
            if sharding is not None:
                keys = jax.device_put(keys, sharding)
            out = fn(keys, dyn)
            parts.append(jax.tree_util.tree_map(np.asarray, out))
            bar.update(1)
        stacked = {k: np.concatenate([p[k] for p in parts])[:n_trials] for k in parts[0]}
        for k, v in stacked.items():
            if np.issubdtype(v.dtype, np.inexact) and not np.all(np.isfinite(v)):
                raise FloatingPointError(f"trial_fn output {k!r} holds NaN/inf at grid point {params}")
        results.append(stacked)
        if fpath is not None:
            write_npz_atomic(fpath, stacked)
            manifest["completed"] = sorted(set(manifest["completed"]) | {i})
            write_json_atomic(out_dir / "manifest.json", manifest)
    bar.close()
    out = {k: np.stack([r[k] for r in results]) for k in results[0]}
    out["grid"] = points
    return out
