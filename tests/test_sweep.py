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
    assert (tmp_path / "points" / "point_00000.npz").exists()
    traced.clear()

    def working(key, n):
        traced.append(n)
        return {"s": jnp.sum(jax.random.normal(key, (n,)))}

    out = run_sweep(working, grid, n_trials=5, key=key, out_dir=tmp_path, progress=False)
    assert traced == [4]   # the finished point was loaded, not recomputed
    fresh = run_sweep(working, grid, n_trials=5, key=key, progress=False)
    np.testing.assert_array_equal(out["s"], fresh["s"])
    with pytest.raises(ValueError, match="another grid or n_trials"):
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

    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    res = subprocess.run([sys.executable, "-c", _SHARD_SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr[-2000:]
