"""Storage that never lies: every file written atomically with a SHA-256 on record, every read
verified and naming the file, and a truncated or altered sweep chunk or dataset shard rebuilt on
rerun (with a warning naming it) to exactly the data of an uninterrupted run."""

import hashlib
import json
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from isac_jax import cellfree as cf
from isac_jax.core import io, run_sweep
from isac_jax.core.io import CorruptFileError


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_atomic_writes_record_digests_and_reads_name_the_broken_file(tmp_path):
    p = tmp_path / "a.npz"
    digest = io.write_npz_digest(p, {"x": np.arange(5.0)})
    assert digest == hashlib.sha256(p.read_bytes()).hexdigest()              # the digest of the bytes on disk
    np.testing.assert_array_equal(io.load_npz(p, recover="r", digest=digest)["x"], np.arange(5.0))
    _truncate(p)
    with pytest.raises(CorruptFileError, match=r"a\.npz.*SHA-256.*; do this"):
        io.load_npz(p, recover="do this", digest=digest)
    with pytest.raises(CorruptFileError, match=r"a\.npz.*not a readable \.npz"):           # no digest: BadZipFile
        io.load_npz(p, recover="r")
    j = tmp_path / "m.json"
    io.write_json_verified(j, {"k": [1, 2]})
    assert io.read_json_verified(j, recover="r") == {"k": [1, 2]}
    j.write_text('{"k": [1, 3]}')                                             # valid JSON, but not what was written
    with pytest.raises(CorruptFileError, match=r"m\.json.*SHA-256"):
        io.read_json_verified(j, recover="r")
    j.write_text('{"k": [1,')
    with pytest.raises(CorruptFileError, match=r"m\.json.*not valid JSON.*; start over"):
        io.read_json(j, recover="start over")
    with pytest.raises(CorruptFileError, match=r"missing\.json.*cannot be read"):
        io.read_json(tmp_path / "missing.json", recover="r")

    # A writer that fails (or is interrupted) leaves the previous file intact and no temporary file.
    def failing(tmp):
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        io.write_atomic_via(j, failing)
    assert j.read_text() == '{"k": [1,' and sorted(f.name for f in tmp_path.iterdir()) == \
        ["a.npz", "m.json", "m.json.sha256"]


def _trial(key, n, scale):
    return {"s": scale * jnp.sum(jax.random.normal(key, (n,))), "v": jax.random.uniform(key, (2,))}


def test_sweep_rebuilds_truncated_and_altered_chunks_and_adopts_whole_unrecorded_ones(tmp_path, caplog):
    grid, key = {"n": [2, 3], "scale": [1.0, -2.0]}, jax.random.PRNGKey(5)
    kwargs = dict(n_trials=4, key=key, chunk_size=2, dynamic=("scale",), progress=False)
    fresh = run_sweep(_trial, grid, **kwargs)                                # uninterrupted, in memory
    run_sweep(_trial, grid, out_dir=tmp_path, **kwargs)
    chunks = tmp_path / "chunks"
    assert len(list(chunks.glob("*.npz"))) == 8 and len(list(chunks.glob("*.npz.sha256"))) == 8
    _truncate(chunks / "point_00001_chunk_00000.npz")                         # a partial file
    _flip_last_byte(chunks / "point_00002_chunk_00001.npz")                   # same size, other bytes
    (chunks / "point_00003_chunk_00000.npz.sha256").unlink()                  # killed between file and digest:
    _truncate(chunks / "point_00003_chunk_00001.npz")                         # whole: adopted; partial: redone
    (chunks / "point_00003_chunk_00001.npz.sha256").unlink()
    caplog.set_level(logging.INFO, logger="isac_jax.core.sweep")
    again = run_sweep(_trial, grid, out_dir=tmp_path, **kwargs)
    computed = {r.getMessage() for r in caplog.records if r.getMessage().startswith("computed")}
    assert computed == {"computed point 1 chunk 0", "computed point 2 chunk 1", "computed point 3 chunk 1"}
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for name in ("point_00001_chunk_00000.npz", "point_00002_chunk_00001.npz", "point_00003_chunk_00001.npz"):
        assert name in warned
    assert "point_00003_chunk_00000.npz" not in warned and io.recorded_digest(chunks / "point_00003_chunk_00000.npz")
    for k in ("s", "v"):
        np.testing.assert_array_equal(again[k], fresh[k])


def test_sweep_manifest_that_cannot_be_parsed_or_was_altered_is_an_error_naming_it(tmp_path):
    grid, kwargs = {"n": [2]}, dict(n_trials=2, key=jax.random.PRNGKey(0), progress=False)
    run_sweep(lambda k, n: {"s": jnp.sum(jax.random.normal(k, (n,)))}, grid, out_dir=tmp_path, **kwargs)
    manifest = tmp_path / "manifest.json"
    text = manifest.read_text()
    manifest.write_text(text.replace('"n_trials": 2', '"n_trials": 2 '))      # parses, but not what was written
    with pytest.raises(CorruptFileError, match=rf"{manifest}.*SHA-256.*delete the directory"):
        run_sweep(lambda k, n: {"s": jnp.sum(jax.random.normal(k, (n,)))}, grid, out_dir=tmp_path, **kwargs)
    manifest.write_text(text[:10])
    io.digest_path(manifest).unlink()                                         # no digest to check: parsed
    with pytest.raises(CorruptFileError, match=rf"{manifest}.*not valid JSON.*delete the directory"):
        run_sweep(lambda k, n: {"s": jnp.sum(jax.random.normal(k, (n,)))}, grid, out_dir=tmp_path, **kwargs)


@pytest.mark.heavy
def test_materialise_rebuilds_a_truncated_shard_and_load_split_names_it(tmp_path, caplog):
    # The configuration of test_cellfree's dataset test: the two share one compiled generator.
    cfg = cf.get_config("quick", n_subcarriers=8, n_symbols=8, n_tx_antennas=4, n_rx_antennas=4, n_clutter=2,
                        timing_offset_std_s=1e-9, cfo_std_hz=10.0)
    d = tmp_path / "ds"
    cf.materialise(d, 7, 5, cfg, shard_size=2, n_train=3, progress=False)
    full = {s: cf.load_split(d, s) for s in ("train", "test")}               # the uninterrupted run
    man = json.loads((d / "manifest.json").read_text())
    assert set(man["sha256"]) == {"shard_00000.npz", "shard_00001.npz", "shard_00002.npz"}
    _truncate(d / "shard_00001.npz")
    with pytest.raises(CorruptFileError, match=r"shard_00001\.npz.*rerun materialise"):
        cf.load_split(d, "train")
    _flip_last_byte(d / "shard_00002.npz")
    with caplog.at_level(logging.WARNING, logger="isac_jax.cellfree.dataset"):
        cf.materialise(d, 7, 5, cfg, shard_size=2, n_train=3, progress=False)
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "shard_00001.npz" in warned and "shard_00002.npz" in warned and "shard_00000.npz" not in warned
    for s in ("train", "test"):
        rebuilt = cf.load_split(d, s)
        assert set(rebuilt) == set(full[s])
        for k in full[s]:
            np.testing.assert_array_equal(rebuilt[k], full[s][k])
    # A manifest written before digests were recorded ("completed" shards): the shards that read back are adopted.
    legacy = {k: v for k, v in json.loads((d / "manifest.json").read_text()).items() if k != "sha256"}
    (d / "manifest.json").write_text(json.dumps({**legacy, "completed": [0, 1, 2]}))
    io.digest_path(d / "manifest.json").unlink()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="isac_jax.cellfree.dataset"):
        cf.materialise(d, 7, 5, cfg, shard_size=2, n_train=3, progress=False)
    assert caplog.records == []                                               # nothing rewritten
    assert set(json.loads((d / "manifest.json").read_text())["sha256"]) == set(man["sha256"])
    (d / "manifest.json").write_text("{")
    for call in (lambda: cf.load_split(d, "train"),
                 lambda: cf.materialise(d, 7, 5, cfg, shard_size=2, n_train=3, progress=False)):
        with pytest.raises(CorruptFileError, match=r"manifest\.json.*SHA-256.*delete the directory"):
            call()
