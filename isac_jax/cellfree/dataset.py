"""Paper B datasets: a key-indexed, deterministic sample generator, streamed in batches with
bounded memory, and materialised to sharded ``.npz`` files with a manifest (resumable, no pickle).
The manifest records each finished shard's SHA-256; a rerun of :func:`materialise` writes again any
shard that is missing, truncated or altered (with a warning naming it), and :func:`load_split`
verifies every shard and names the one that fails.

Sample ``d`` is ``simulate_sample(fold_in(key, d))``: it depends only on the key and ``d``, never on
the batch size, the order or an interruption.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ..core.io import CorruptFileError, file_is_intact, load_npz, read_json_verified, sha256_file, \
    write_json_verified, write_npz_digest
from ..core.validate import check_dtype, check_index_array, check_int, check_memory
from .config import CellFreeConfig
from .sensing import sample_scenario_of, simulate_sample

log = logging.getLogger(__name__)

_compiled: dict = {}
_compiled_labels: dict = {}


def _padded_size(n: int) -> int:
    """The batch a request for ``n`` samples runs at: the next power of two (at least 8) up to 1024,
    then the next multiple of 1024, so a run compiles a few programs, not one per batch size (the
    generator's program takes seconds to compile and milliseconds to run)."""
    return max(8, 1 << max(n - 1, 0).bit_length()) if n <= 1024 else -(-n // 1024) * 1024


def _run_padded(fn, key, indices):
    """``fn(key, indices)`` with ``indices`` padded by repeating the last one to :func:`_padded_size`,
    the padding trimmed off (each sample depends on its index only, so the padding changes no sample)."""
    if isinstance(indices, jax.core.Tracer):
        return fn(key, indices.astype(jnp.uint32))
    idx = np.asarray(indices)
    if idx.ndim != 1:
        raise ValueError(f"indices must be a 1-D array of sample indices, got shape {idx.shape}")
    n = len(idx)
    if n == 0:
        return fn(key, jnp.asarray(idx, jnp.uint32))
    padded = np.concatenate([idx, np.repeat(idx[-1:], _padded_size(n) - n)])
    return jax.tree_util.tree_map(lambda a: a[:n], fn(key, jnp.asarray(padded, jnp.uint32)))


def _check_request(indices, cfg, dtype, *, signals: bool):
    """Validate the arguments of :func:`sample_batch`/:func:`sample_labels` before any tracing:
    ``cfg`` a :class:`CellFreeConfig`, ``dtype`` float32 or float64, ``indices`` a 1-D array of
    non-negative integers below 2^32 (the range of ``fold_in``; a traced array is checked by shape and
    dtype only), and, for ``signals``, a batch whose signal tensors fit in memory."""
    if not isinstance(cfg, CellFreeConfig):
        raise TypeError(f"cfg must be a CellFreeConfig, got {type(cfg).__name__}")
    dtype = check_dtype("dtype", dtype)
    indices = check_index_array("indices", indices, upper=2**32)
    if signals and not isinstance(indices, jax.core.Tracer):
        n = _padded_size(len(indices)) if len(indices) else 0
        check_memory(n * cfg.sample_nbytes(dtype), what=(
            f"sample_batch of {len(indices)} indices (run as a batch of {n}) at {dtype.name}, "
            f"{cfg.sample_nbytes(dtype) / 1e6:.3g} MB per sample"))
    return indices, dtype


def sample_batch(key, indices, cfg: CellFreeConfig, *, dtype=jnp.float32) -> dict:
    """Samples ``indices[B]`` (non-negative ints) as stacked arrays; one compiled function per
    (config, dtype), run at a few padded batch sizes (:func:`_padded_size`).

    The arguments are checked before tracing (``TypeError``/``ValueError`` naming the argument): a
    float or negative index, a ``dtype`` other than float32/float64, or a batch whose signal tensors
    need more than the memory limit (``core.validate.check_memory``, the message gives the estimate)
    is refused.
    """
    indices, dtype = _check_request(indices, cfg, dtype, signals=True)
    fn_key = (cfg, jnp.dtype(dtype).name)
    if fn_key not in _compiled:
        _compiled[fn_key] = jax.jit(jax.vmap(
            lambda k, d: simulate_sample(jax.random.fold_in(k, d), cfg, dtype=dtype), in_axes=(None, 0)))
    return _run_padded(_compiled[fn_key], key, indices)


def sample_labels(key, indices, cfg: CellFreeConfig, *, dtype=jnp.float32) -> dict:
    """``targets[B, Q, 2]`` and ``velocities[B, Q, 2]`` of samples ``indices`` (exactly those of
    :func:`sample_batch`), without simulating the signals. Arguments checked as there."""
    indices, dtype = _check_request(indices, cfg, dtype, signals=False)
    fn_key = (cfg, jnp.dtype(dtype).name)
    if fn_key not in _compiled_labels:
        def one(k, d):
            sc = sample_scenario_of(jax.random.fold_in(k, d), cfg, dtype=dtype)
            return {"targets": sc.targets, "velocities": sc.velocities}
        _compiled_labels[fn_key] = jax.jit(jax.vmap(one, in_axes=(None, 0)))
    return _run_padded(_compiled_labels[fn_key], key, indices)


def iterate_batches(key, start: int, stop: int, batch_size: int, cfg: CellFreeConfig, *, dtype=jnp.float32):
    """Yield batches of samples ``start..stop-1`` (the last one padded by repeating the last index,
    then trimmed), holding one batch in memory at a time."""
    batch_size = check_int("batch_size", batch_size)
    start, stop = check_int("start", start, minimum=0), check_int("stop", stop, minimum=0)
    if not 0 <= start <= stop:
        raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
    for b0 in range(start, stop, batch_size):
        idx = np.arange(b0, b0 + batch_size)
        n = min(batch_size, stop - b0)
        idx = np.minimum(idx, stop - 1)
        out = sample_batch(key, idx, cfg, dtype=dtype)
        yield {k: np.asarray(v)[:n] for k, v in out.items()}


def _manifest(cfg: CellFreeConfig, seed: int, n: int, shard: int, n_train: int, dtype):
    return json.loads(json.dumps({"config": dataclasses.asdict(cfg), "seed": seed, "n_samples": n,     # tuples as lists
                                  "shard_size": shard, "n_train": n_train, "dtype": np.dtype(dtype).name}))


def _shard_name(s: int) -> str:
    return f"shard_{s:05d}.npz"


def _read_manifest(out: Path) -> dict:
    man = read_json_verified(out / "manifest.json",
                             recover=f"delete the directory {str(out)!r} and materialise the dataset again")
    if not isinstance(man, dict) or not {"n_samples", "shard_size", "n_train"} <= set(man):
        raise CorruptFileError(f"{str(out / 'manifest.json')!r} is not a dataset manifest; delete the directory "
                               f"{str(out)!r} and materialise the dataset again")
    return man


def materialise(out_dir, seed: int, n_samples: int, cfg: CellFreeConfig, *, shard_size: int = 256,
                n_train: int | None = None, progress: bool = True, dtype=jnp.float32) -> Path:
    """Write samples ``0..n_samples-1`` of ``PRNGKey(seed)`` to ``out_dir/shard_00000.npz``, ``shard_00001.npz``, ...

    A ``manifest.json`` records the config, the split (first ``n_train`` samples for training,
    default 80 %) and the SHA-256 of every finished shard; a rerun skips the shards whose digest
    matches, writes the others again (a warning names each one) and refuses a directory written
    with other settings; an unparsable manifest is a :class:`~isac_jax.core.io.CorruptFileError`
    naming it.
    """
    n_samples = check_int("n_samples", n_samples)
    shard_size = check_int("shard_size", shard_size)
    n_train = int(0.8 * n_samples) if n_train is None else n_train
    if not 0 <= n_train <= n_samples:
        raise ValueError(f"n_train must be in [0, n_samples={n_samples}], got {n_train}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    man = _manifest(cfg, seed, n_samples, shard_size, n_train, dtype)
    mpath = out / "manifest.json"
    done: dict = {}                                             # shard file name -> SHA-256
    if mpath.exists():
        old = _read_manifest(out)
        old.setdefault("dtype", "float32")          # manifests without the key were written at the default dtype
        if {k: v for k, v in old.items() if k not in ("sha256", "completed")} != man:
            raise ValueError(f"out_dir {str(out)!r} holds a dataset with other settings; use a fresh directory")
        done = dict(old.get("sha256", {}))
        for s in old.get("completed", []):          # a manifest without digests: adopt the shards that read back
            path = out / _shard_name(s)
            if path.name not in done and path.exists():
                try:
                    load_npz(path, recover="")
                    done[path.name] = sha256_file(path)
                except CorruptFileError:
                    pass
        if "completed" in old:
            write_json_verified(mpath, {**man, "sha256": dict(sorted(done.items()))})
    key = jax.random.PRNGKey(seed)
    n_shards = -(-n_samples // shard_size)
    for s in tqdm(range(n_shards), desc="materialise", disable=not progress, leave=False):
        path = out / _shard_name(s)
        if file_is_intact(path, done.get(path.name)):
            continue
        if path.name in done or path.exists():
            log.warning("%s is missing, truncated, altered or not recorded as finished: writing it again", path)
        start, stop = s * shard_size, min((s + 1) * shard_size, n_samples)
        batch = next(iterate_batches(key, start, stop, shard_size, cfg, dtype=dtype))   # one compile for all shards
        done[path.name] = write_npz_digest(path, {"index": np.arange(start, stop), **batch})
        write_json_verified(mpath, {**man, "sha256": dict(sorted(done.items()))})
    return out


def load_split(out_dir, split: str = "train") -> dict:
    """Read a materialised dataset's ``train`` or ``test`` part as arrays (checks completeness)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    out = Path(out_dir)
    if not (out / "manifest.json").exists():
        raise FileNotFoundError(f"{str(out)!r} holds no manifest.json (not a materialised dataset)")
    man = _read_manifest(out)
    names = [_shard_name(s) for s in range(-(-man["n_samples"] // man["shard_size"]))]
    digests = man.get("sha256", {})
    if not set(names) <= set(digests):
        raise ValueError(f"dataset in {str(out)!r} is incomplete; rerun materialise() to finish it")
    parts = [load_npz(out / n, digest=digests[n], recover="rerun materialise() with the same arguments to write it "
                      "again") for n in names]
    full = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    sel = full["index"] < man["n_train"] if split == "train" else full["index"] >= man["n_train"]
    return {k: v[sel] for k, v in full.items()}
