"""Monte Carlo sweep runner: equals a plain loop, resumes without recomputing, refuses mixing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from isac_jax.core import run_sweep


def trial(key, n, scale):
    x = jax.random.normal(key, (n,))
    return {"mean": scale * jnp.mean(x), "vec": scale * x[:2]}


def test_sweep_equals_plain_loop():
    grid = {"n": [3, 5], "scale": [1.0, 2.0, -0.5]}
    key = jax.random.PRNGKey(0)
    out = run_sweep(trial, grid, n_trials=7, key=key, chunk_size=3, dynamic=("scale",), progress=False)
    assert out["mean"].shape == (6, 7) and out["vec"].shape == (6, 7, 2)
    for i, params in enumerate(out["grid"]):
        for j in range(7):
            ref = trial(jax.random.fold_in(key, j), **params)
            np.testing.assert_allclose(out["mean"][i, j], ref["mean"], rtol=1e-12)
            np.testing.assert_allclose(out["vec"][i, j], ref["vec"], rtol=1e-12)


def test_sweep_resumes_without_recomputing(tmp_path):
    traced = []

    def failing(key, n):
        traced.append(n)
        if n == 4:
            raise RuntimeError("simulated crash")
        return {"s": jnp.sum(jax.random.normal(key, (n,)))}

    grid = {"n": [2, 4]}
    key = jax.random.PRNGKey(1)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_sweep(failing, grid, n_trials=5, key=key, out_dir=tmp_path, progress=False)
    assert sorted(p.name for p in (tmp_path / "chunks").glob("*.npz")) == ["point_00000_chunk_00000.npz"]
    traced.clear()

    def working(key, n):
        traced.append(n)
        return {"s": jnp.sum(jax.random.normal(key, (n,)))}

    out = run_sweep(working, grid, n_trials=5, key=key, out_dir=tmp_path, progress=False)
    assert traced == [4]   # the finished point was loaded, not recomputed
    fresh = run_sweep(working, grid, n_trials=5, key=key, progress=False)
    np.testing.assert_array_equal(out["s"], fresh["s"])
    with pytest.raises(ValueError, match="another grid, n_trials or chunk size"):
        run_sweep(working, {"n": [2, 4, 6]}, n_trials=5, key=key, out_dir=tmp_path, progress=False)


def test_sweep_rejects_nan_and_bad_args():
    with pytest.raises(FloatingPointError, match="NaN"):
        run_sweep(lambda k, a: {"v": jnp.log(a - 1.0)}, {"a": [0.5]}, n_trials=2, key=jax.random.PRNGKey(0),
                  progress=False)
    with pytest.raises(ValueError, match="n_trials must be >= 1"):
        run_sweep(trial, {"n": [2]}, n_trials=0, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="not keys of grid"):
        run_sweep(trial, {"n": [2]}, n_trials=2, key=jax.random.PRNGKey(0), dynamic=("zz",))


_SHARD_SCRIPT = r"""
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
from isac_jax.core import run_sweep
assert len(jax.local_devices()) == 4
def trial(key, n):
    x = jax.random.normal(key, (n, n))
    return {"logdet": jnp.linalg.slogdet(x @ x.T + jnp.eye(n))[1], "first": x[0, :2]}
key = jax.random.PRNGKey(3)
for n_trials, chunk in ((10, 3), (1, 8)):
    one = run_sweep(trial, {"n": [3, 4]}, n_trials=n_trials, key=key, chunk_size=chunk, progress=False, shard=False)
    four = run_sweep(trial, {"n": [3, 4]}, n_trials=n_trials, key=key, chunk_size=chunk, progress=False)
    for k in ("logdet", "first"):
        np.testing.assert_allclose(four[k], one[k], rtol=1e-12, atol=1e-12)
print("OK")
"""


def test_sweep_sharded_over_four_devices_equals_one():
    """SPEC §9: the Monte Carlo axis sharded over 4 (forced host) devices gives the same results."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XLA_FLAGS": os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    res = subprocess.run([sys.executable, "-c", _SHARD_SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr[-2000:]


_DIST_WORKER = r"""
import logging, os, sys
import jax
jax.config.update("jax_platforms", "cpu")
jax.config.update("jax_enable_x64", True)
port, pid, out_dir, die_after = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=pid)
import jax.numpy as jnp, numpy as np
from isac_jax.core import run_sweep

class Units(logging.Handler):
    # Prints every computed unit; with die_after > 0 the process dies hard after that many units
    # (each unit's file is written before it is logged), i.e. mid-run.
    def emit(self, record):
        print("UNIT", record.args[0], record.args[1], flush=True)
        self.count = getattr(self, "count", 0) + 1
        if die_after and self.count == die_after:
            os._exit(3)

log = logging.getLogger("isac_jax.core.sweep")
log.addHandler(Units())
log.setLevel(logging.INFO)
def trial(key, n, scale):
    x = jax.random.normal(key, (n, n))
    return {"logdet": scale * jnp.linalg.slogdet(x @ x.T + jnp.eye(n))[1], "first": x[0, :2]}
out = run_sweep(trial, {"n": [3, 4], "scale": [1.0, -2.0]}, n_trials=6, key=jax.random.PRNGKey(3), chunk_size=2,
                dynamic=("scale",), progress=False, out_dir=out_dir)
if pid == 0:
    np.savez(os.path.join(out_dir, "merged.npz"), logdet=out["logdet"], first=out["first"])
print("DONE", pid, flush=True)
"""


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.heavy
def test_two_process_distributed_sweep_merges_and_resumes_after_a_kill(tmp_path):
    """SPEC §9: under jax.distributed (two CPU processes on localhost) the units are split between the
    processes and the merged result equals the single-process sweep; after process 1 is killed mid-run
    (and process 0 with it), a restart computes exactly the units that had no file, none twice."""
    import os
    import subprocess
    import sys

    script = tmp_path / "worker.py"
    script.write_text(_DIST_WORKER)
    work = tmp_path / "work"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}

    def launch(die_after):
        port = _free_port()
        return [subprocess.Popen([sys.executable, str(script), str(port), str(pid), str(work), str(die_after)],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for pid, die_after in ((0, 0), (1, die_after))]

    def units(text):
        return {tuple(map(int, line.split()[1:])) for line in text.splitlines() if line.startswith("UNIT")}

    every = {(i, c) for i in range(4) for c in range(3)}
    p0, p1 = launch(die_after=2)
    out1, err1 = p1.communicate(timeout=300)
    assert p1.returncode == 3, err1[-2000:]
    p0.kill()                                      # it waits at the barrier for the dead process
    out0, _ = p0.communicate(timeout=60)
    first = units(out0) | units(out1)
    on_disk = {(int(f.stem[6:11]), int(f.stem[-5:])) for f in (work / "chunks").glob("point_*.npz")}
    assert len(units(out1)) == 2 and first <= on_disk < every

    p0, p1 = launch(die_after=0)
    outs = [p.communicate(timeout=300) for p in (p0, p1)]
    assert [p.returncode for p in (p0, p1)] == [0, 0], outs[1][1][-2000:] + outs[0][1][-2000:]
    second = [units(o) for o, _ in outs]
    assert not second[0] & second[1]                        # no unit computed by both processes
    assert second[0] | second[1] == every - on_disk         # finished units are loaded, not recomputed
    for pid, done in enumerate((units(out0) | second[0], units(out1) | second[1])):
        assert all((3 * i + c) % 2 == pid for i, c in done)  # round-robin shares of the 12 units

    def trial(key, n, scale):
        x = jax.random.normal(key, (n, n))
        return {"logdet": scale * jnp.linalg.slogdet(x @ x.T + jnp.eye(n))[1], "first": x[0, :2]}

    ref = run_sweep(trial, {"n": [3, 4], "scale": [1.0, -2.0]}, n_trials=6, key=jax.random.PRNGKey(3), chunk_size=2,
                    dynamic=("scale",), progress=False)
    with np.load(work / "merged.npz") as merged:
        for k in ("logdet", "first"):
            np.testing.assert_allclose(merged[k], ref[k], rtol=1e-12, atol=1e-12)
