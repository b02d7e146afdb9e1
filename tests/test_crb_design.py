"""CRB-aware design: batched FIM, smooth worst-case CRB, backtracking projected gradient, AL-BCD."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import crandn, rel_err
from isac_jax import ota
from isac_jax.core import PAPER_A_TARGET_REGION, project_precoders, sample_paper_a_geometry
from isac_jax.core.optim import projected_gradient
from test_ota_sensing import np_fim


def _geometry(seed, K):
    devices, _ = sample_paper_a_geometry(jax.random.PRNGKey(seed), K)
    return devices, PAPER_A_TARGET_REGION.sample(jax.random.PRNGKey(seed + 100), 5)


@pytest.mark.heavy
def test_batched_fim_matches_numpy_reference(rng):
    K, M, I, T = 4, 3, 2, 16
    devices, targets = _geometry(0, K)
    C = crandn(rng, K, M, I)
    s2 = rng.uniform(0.5e-5, 2e-5, K)
    jac = ota.round_trip_jacobians(targets, devices, M)
    fims = ota.fisher_information_batch(jac, jnp.asarray(C), jnp.asarray(s2), T)
    one = jax.jit(lambda v: ota.fisher_information(v, devices, jnp.asarray(C), jnp.asarray(s2), T, 1.0))
    for s in range(targets.shape[0]):
        ref = np_fim(np.asarray(targets[s]), np.asarray(devices), C, s2, T)
        assert rel_err(fims[s], ref) < 1e-10
        assert rel_err(fims[s], one(targets[s])) < 1e-10


@pytest.mark.heavy
def test_smooth_max_bounds_and_gradient(rng):
    K, M, I, T = 3, 3, 2, 8
    devices, targets = _geometry(1, K)
    C = jnp.asarray(crandn(rng, K, M, I))
    # Jitted: one program per function instead of hundreds of eager ops.
    crb_at = jax.jit(lambda v: ota.crb(v, devices, C, 1e-5, T, 1.0))
    crbs = np.array([float(crb_at(v)) for v in targets])
    tau = 0.05
    f = jax.jit(lambda X: ota.smooth_worst_crb(X, devices, targets, 1e-5, T, temperature=tau))
    val = float(f(C))
    assert crbs.max() <= val * (1 + 1e-12) and val <= crbs.max() * len(crbs) ** tau * (1 + 1e-12)
    # Autodiff gradient in C against central finite differences along a random complex direction.
    D = jnp.asarray(crandn(rng, K, M, I))
    g = jnp.conj(jax.jit(jax.grad(f))(C))                      # JAX: grad of real f(complex) is conj
    h = 1e-6
    fd = (f(C + h * D) - f(C - h * D)) / (2 * h)
    assert abs(float(jnp.real(jnp.vdot(g, D))) - float(fd)) <= 1e-5 * abs(float(fd))


def test_backtracking_projected_gradient_solves_ball_constrained_quadratic(rng):
    """min ||A x - b||^2 over ||x|| <= r: compare with the KKT solution by bisection on the multiplier."""
    n = 6
    A = crandn(rng, 10, n)
    b = crandn(rng, 10) * 5
    r = 0.5

    def sol(lam):
        return np.linalg.solve(A.conj().T @ A + lam * np.eye(n), A.conj().T @ b)

    lo, hi = 0.0, 1e6
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.linalg.norm(sol(mid)) > r else (lo, mid)
    x_ref = sol(hi)
    fun = lambda x: jnp.sum(jnp.abs(jnp.asarray(A) @ x - jnp.asarray(b)) ** 2)  # noqa: E731
    proj = lambda x: x * jnp.minimum(1.0, r / jnp.linalg.norm(x))  # noqa: E731
    state = projected_gradient(fun, jnp.zeros(n, complex), proj, n_iter=2000, step0=10.0)
    assert rel_err(state.x, x_ref) < 1e-6
    assert float(state.value) <= float(fun(jnp.asarray(x_ref))) * (1 + 1e-9)


def _instance(rng, K=4, N=8, M=3, I=2, T=8):
    H = jnp.asarray(crandn(rng, K, N, M))
    W = ota.uniform_weights(K, I, dtype=jnp.float64)
    devices, _ = _geometry(3, K)
    return H, W, ota.dft_pulses(K, T), devices


@pytest.mark.heavy
def test_crb_aware_design_meets_target_and_power(rng):
    H, W, p, devices = _instance(rng)
    P, s2, T = 1.0, 1e-5, 8
    samples = PAPER_A_TARGET_REGION.grid(3, 3, 2)
    _, C_ref, mse_ref = ota.design_beamformers(H, W, p, 1e-2, P, 1.0 / (1e-3 * 4 * P), max_iter=25, tol=0.0)
    ref = float(ota.smooth_worst_crb(C_ref, devices, samples, s2, T))
    run = jax.jit(lambda beta: ota.design_crb_aware(H, W, p, 1e-2, P, beta, devices, s2, samples, max_iter=25,
                                                    n_inner=30))
    tight = run(0.6 * ref)
    C = np.asarray(tight.C)
    assert np.all(np.sum(np.abs(C) ** 2, axis=(1, 2)) <= P * (1 + 1e-9))
    assert bool(tight.feasible)
    assert float(ota.smooth_worst_crb(tight.C, devices, samples, s2, T)) <= 0.6 * ref * 1.01
    np.testing.assert_allclose(tight.mse[-1], ota.aggregation_mse(tight.Mrx, H, tight.C, W, p, 1e-2), rtol=1e-9)
    # A loose target gives the epsilon-constraint BCD after as many iterations (within 1 %); a tight
    # one costs MSE.
    loose = run(10.0 * ref)
    assert abs(float(loose.mse[-1]) - float(mse_ref[-1])) <= 0.01 * float(mse_ref[-1])
    assert float(tight.mse[-1]) >= float(loose.mse[-1]) * (1 - 1e-3)


def test_bcd_trace_energy_history_and_wrapper(rng):
    H, W, p, _ = _instance(rng)
    tr = ota.bcd_trace(H, W, p, 1e-2, 1.0, 1.0 / 3.0, max_iter=5, key=jax.random.PRNGKey(0))
    np.testing.assert_allclose(tr.energy[-1], jnp.sum(jnp.abs(tr.C) ** 2), rtol=1e-12)
    assert np.all(np.asarray(tr.energy) >= 3.0 * (1 - 1e-9))
    Mrx, C, mse = ota.design_beamformers(H, W, p, 1e-2, 1.0, 1.0 / 3.0, max_iter=5, key=jax.random.PRNGKey(0))
    np.testing.assert_allclose(mse, tr.mse, rtol=1e-12)
    assert np.allclose(project_precoders(C, 1.0, 3.0), C)
