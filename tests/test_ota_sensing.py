"""Echoes (A.8), sufficient statistics, whitening (A.12), FIM/CRB (A.19-A.22), Theorem 2, ML."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import crandn, rel_err
from isac_jax import ota
from isac_jax.core import PAPER_A_TARGET_REGION, sample_paper_a_geometry


def np_array_response(v, dev, M, alpha0=1.0, gamma=1.0):
    d = np.linalg.norm(v - dev)
    return alpha0 / d**gamma * np.exp(-1j * np.pi * np.arange(M) * (v[2] - dev[2]) / d)


def np_d_round_trip(v, dev, M, alpha0=1.0, gamma=1.0):
    """Analytic d(a a^T)/dl_i, i = x, y, z. Output [3, M, M]."""
    a = np_array_response(v, dev, M, alpha0, gamma)
    aat = np.outer(a, a)
    diff = v - dev
    d = np.linalg.norm(diff)
    mn = np.add.outer(np.arange(M), np.arange(M))
    out = []
    for i in range(3):
        ds = (1.0 if i == 2 else 0.0) / d - diff[2] * diff[i] / d**3
        out.append(aat * (-2 * gamma * diff[i] / d**2 - 1j * np.pi * mn * ds))
    return np.stack(out)


def np_fim(v, devices, C, s2, T, alpha0=1.0, gamma=1.0):
    J = np.zeros((3, 3))
    s2 = np.broadcast_to(s2, (len(devices),))
    for k, dev in enumerate(devices):
        D = np_d_round_trip(v, dev, C.shape[1], alpha0, gamma)
        R = C[k] @ C[k].conj().T
        for i in range(3):
            for j in range(3):
                J[i, j] += 2 * T / s2[k] * np.real(np.trace(D[i] @ R @ D[j].conj().T))
    return J


def _scenario(rng, K=6, M=4, I=2, P=1.5):
    devices, target = sample_paper_a_geometry(jax.random.PRNGKey(int(rng.integers(1 << 30))), K)
    C = crandn(rng, K, M, I)
    C *= np.sqrt(P) / np.linalg.norm(C, axis=(1, 2), keepdims=True) * rng.uniform(0.3, 1.0, (K, 1, 1))
    return np.asarray(devices), np.asarray(target), C, P


def test_array_response_against_numpy(rng):
    devices, target, _, _ = _scenario(rng)
    for gamma in (1.0, 2.0):
        a = ota.array_responses(target, devices, 4, alpha0=2.0, gamma=gamma)
        ref = np.stack([np_array_response(target, d, 4, 2.0, gamma) for d in devices])
        assert rel_err(a, ref) < 1e-12


def test_echoes_and_statistics_against_numpy_loops(rng):
    devices, target, C, P = _scenario(rng, K=4, M=3)
    K, M, I = C.shape
    T = 8
    x = crandn(rng, K, T, M)
    u = np.asarray(ota.simulate_echoes(jax.random.PRNGKey(0), target, devices, x, 1e-30))
    a = [np_array_response(target, d, M) for d in devices]
    u_ref = np.zeros((K, T, M), complex)
    for k in range(K):
        for t in range(T):
            for l in range(K):
                u_ref[k, t] += a[k] * (a[l] @ x[l, t])
    assert rel_err(u, u_ref) < 1e-9
    Xi = np.asarray(ota.sufficient_statistics(u_ref, x, P))
    Xi_ref = np.stack([sum(np.outer(u_ref[k, t], x[k, t].conj()) for t in range(T)) / (P * T) for k in range(K)])
    assert rel_err(Xi, Xi_ref) < 1e-12
    s2 = rng.uniform(0.5, 2.0, K)
    Xh = np.asarray(ota.whiten_statistics(Xi_ref, C, s2, T, P))
    for k in range(K):
        w, V = np.linalg.eigh(C[k] @ C[k].conj().T / P)
        keep = w > 1e-10
        pinv_half = (V[:, keep] / np.sqrt(w[keep])) @ V[:, keep].conj().T
        assert rel_err(Xh[k], np.sqrt(P * T / s2[k]) * Xi_ref[k] @ pinv_half) < 1e-9


def test_statistics_drawn_from_their_law_match_the_echo_route(rng):
    """simulate_statistics (no echo samples) has the law of sufficient_statistics(simulate_echoes(...)):
    the mean is the NumPy signal part, and the noise rows of both routes have the covariance
    varsigma_k conj(sum_t x_t x_t^H) / (P T)^2, within Monte Carlo error (4000 draws each)."""
    devices, target, C, P = _scenario(rng, K=2, M=3)
    K, M, I = C.shape
    T, n = 8, 4000
    g = rng.standard_normal((K, T, I))
    p = ota.dft_pulses(K, T)
    x = np.einsum("kmi,kti->ktm", C, g) * np.asarray(p)[:, :, None]
    s2 = np.array([0.5, 2.0])
    keys = jax.random.split(jax.random.PRNGKey(11), n)
    by_law = np.asarray(jax.jit(jax.vmap(lambda k: ota.simulate_statistics(
        k, target, devices, jnp.asarray(C), jnp.asarray(g), p, jnp.asarray(s2), P)))(keys))
    by_echo = np.asarray(jax.jit(jax.vmap(lambda k: ota.sufficient_statistics(
        ota.simulate_echoes(k, target, devices, jnp.asarray(x), jnp.asarray(s2)), jnp.asarray(x), P)))(keys))
    a = np.stack([np_array_response(target, d, M) for d in devices])
    b = np.einsum("lm,ltm->t", a, x)
    mean = np.stack([np.outer(a[k], np.einsum("t,tn->n", b, x[k].conj())) for k in range(K)]) / (P * T)
    for draws in (by_law, by_echo):
        assert np.max(np.abs(draws.mean(0) - mean)) < 5 * np.sqrt(s2.max() / n) * np.abs(x).max() / P
        noise = draws - mean
        for k in range(K):
            cov = np.einsum("fmi,fmj->ij", noise[:, k], noise[:, k].conj()) / (n * M)      # rows pooled
            ref = s2[k] * np.einsum("ti,tj->ij", x[k], x[k].conj()).conj() / (P * T) ** 2
            assert rel_err(cov, ref) < 6 / np.sqrt(n * M)


def test_statistics_approach_large_t_model():
    """Noise-free: ||Xi_k - a a^T C C^H/P||^2 (finite-T self and cross terms) shrinks like 1/T."""
    key = jax.random.PRNGKey(3)
    K, M, I, P = 4, 3, 2, 1.0
    devices, target = sample_paper_a_geometry(key, K)
    C = ota.random_precoders(jax.random.PRNGKey(4), K, M, I, P, dtype=jnp.float64)
    mean = ota.round_trip(target, devices, M) @ (jnp.einsum("kmi,kni->kmn", C, C.conj()) / P)

    def dev2(k, T):
        g = jax.random.normal(k, (K, T, I))
        x = ota.transmit_signals(C, g, ota.dft_pulses(K, T))
        u = ota.simulate_echoes(k, target, devices, x, 1e-300)
        return jnp.sum(jnp.abs(ota.sufficient_statistics(u, x, P) - mean) ** 2)

    n = 400
    errs = {T: np.asarray(jax.jit(jax.vmap(lambda k: dev2(k, T)))(jax.random.split(key, n))) for T in (16, 64, 256)}
    m = {T: e.mean() for T, e in errs.items()}
    assert m[16] > m[64] > m[256]
    # E||.||^2 ~ c/T: each quadrupling of T divides it by ~4 (sampling tolerance from n trials).
    for lo, hi in ((16, 64), (64, 256)):
        ratio = m[lo] / m[hi]
        tol = 4 * ratio * np.hypot(errs[lo].std() / m[lo], errs[hi].std() / m[hi]) / np.sqrt(n)
        assert abs(ratio - 4.0) < tol + 0.3


def test_whitened_noise_is_unit_variance_on_range():
    key = jax.random.PRNGKey(5)
    K, M, I, P, T, s2 = 2, 4, 2, 2.0, 32, 0.7
    devices, target = sample_paper_a_geometry(key, K)
    C = ota.random_precoders(key, K, M, I, P, dtype=jnp.float64)
    A = ota.whitened_mean(target, devices, C, s2, T, P)

    def resid(k):
        Xi = ota.large_t_statistics(k, target, devices, C, s2, T, P)
        return ota.whiten_statistics(Xi, C, s2, T, P) - A

    n = 4000
    r = np.asarray(jax.jit(jax.vmap(resid))(jax.random.split(key, n)))
    # Total noise energy per device = M * I (unit variance on the I-dim range, per row).
    e = np.sum(np.abs(r) ** 2, axis=(2, 3))
    assert np.all(np.abs(e.mean(0) - M * I) < 4 * e.std(0) / np.sqrt(n))
    assert np.abs(r.mean(0)).max() < 4 / np.sqrt(n)


def test_fisher_information_against_numpy_and_forms(rng):
    for gamma in (1.0, 2.0):
        devices, target, C, P = _scenario(rng)
        s2 = rng.uniform(1e-6, 1e-5, len(devices))
        T = 32
        # Jitted: one program per form instead of hundreds of eager ops.
        J = np.asarray(jax.jit(lambda *a: ota.fisher_information(*a, gamma=gamma))(target, devices, C, s2, T, P))
        Jg = np.asarray(jax.jit(lambda *a: ota.fisher_information_gram(*a, gamma=gamma))(target, devices, C, s2, T, P))
        Jref = np_fim(target, devices, C, s2, T, gamma=gamma)
        assert rel_err(J, Jref) < 1e-8
        assert rel_err(Jg, Jref) < 1e-8
        np.testing.assert_allclose(J, J.T, rtol=1e-12, atol=1e-12 * np.abs(J).max())
        assert np.linalg.eigvalsh(J).min() > 0
        c = float(jax.jit(lambda *a: ota.crb(*a, gamma=gamma))(target, devices, C, s2, T, P))
        assert abs(c - np.trace(np.linalg.inv(Jref))) / c < 1e-8


def test_fim_equals_hessian_of_whitened_misfit_and_finite_differences(rng):
    """The FIM from the equivalent C-form equals the Hessian of the whitened (A.12) misfit, and a
    central finite-difference Hessian of that misfit (eps = sqrt(machine eps) * scale)."""
    devices, target, C, P = _scenario(rng)
    s2, T = 1e-5, 16
    A0 = ota.whitened_mean(target, devices, C, s2, T, P)

    def misfit(v):
        d = A0 - ota.whitened_mean(v, devices, C, s2, T, P)
        return jnp.sum(jnp.real(d) ** 2 + jnp.imag(d) ** 2)   # not |d|^2: abs has no 2nd derivative at 0

    H = np.asarray(jax.jit(jax.hessian(misfit))(jnp.asarray(target)))
    J = np.asarray(jax.jit(ota.fisher_information, static_argnums=4)(target, devices, C, s2, T, P))
    assert rel_err(H, J) < 1e-8
    g = jax.jit(jax.grad(misfit))
    h = 1e-5 * 100.0
    Hfd = np.stack([(np.asarray(g(target + h * e)) - np.asarray(g(target - h * e))) / (2 * h) for e in np.eye(3)])
    assert rel_err(Hfd, J) < 1e-4


def test_fim_does_not_depend_on_power(rng):
    devices, target, C, P = _scenario(rng)
    fim = jax.jit(lambda P: ota.fisher_information(target, devices, C, 1e-5, 16, P))     # one program, two powers
    J1, J2 = fim(1.0), fim(7.0)
    assert rel_err(J1, J2) < 1e-12


@pytest.mark.heavy
def test_crb_lower_bound_below_crb_everywhere(rng):
    """Theorem 2 as a property: CRB_L <= CRB(v) for random v in the region and random precoders."""
    K, M, I = 6, 4, 2
    devices, _ = sample_paper_a_geometry(jax.random.PRNGKey(11), K)
    rho = float(ota.universal_constant(devices, M, PAPER_A_TARGET_REGION))
    # rho is at least as tight as the brute-force maximum over a fine grid.
    grid = np.asarray(PAPER_A_TARGET_REGION.grid(12, 12, 4))
    s_grid = max(np.sum(np.abs(np_d_round_trip(v, d, M)) ** 2) for v in grid[::7] for d in np.asarray(devices))
    assert rho <= 9 / (2 * s_grid) * (1 + 1e-9)
    crb_fn = jax.jit(jax.vmap(lambda v, C, s2: ota.crb(v, devices, C, s2, 16, 1.0), in_axes=(0, 0, 0)))
    n = 200
    vs = PAPER_A_TARGET_REGION.sample(jax.random.PRNGKey(12), n)
    Cs = crandn(rng, n, K, M, I) * rng.uniform(0.01, 3.0, (n, K, 1, 1))
    s2 = rng.uniform(1e-7, 1e-4, (n, K))
    crbs = np.asarray(crb_fn(vs, jnp.asarray(Cs), jnp.asarray(s2)))
    lbs = np.asarray(jax.jit(jax.vmap(lambda C, s: ota.crb_lower_bound(C, s, 16, rho)))(jnp.asarray(Cs),
                                                                                        jnp.asarray(s2)))
    assert np.all(lbs <= crbs)


def test_worst_case_crb_dominates_samples(rng):
    devices, _, C, P = _scenario(rng)
    # one compiled program (op-by-op dispatch of the grid search and ascent took most of this test)
    worst, v_worst = jax.jit(ota.worst_case_crb, static_argnums=(3, 4, 5))(devices, C, 1e-5, 16, P,
                                                                           PAPER_A_TARGET_REGION)
    assert bool(PAPER_A_TARGET_REGION.contains(v_worst))
    vs = PAPER_A_TARGET_REGION.sample(jax.random.PRNGKey(2), 64)
    crbs = jax.jit(jax.vmap(lambda v: ota.crb(v, devices, C, 1e-5, 16, P)))(vs)
    assert float(worst) >= float(jnp.max(crbs))


def test_local_gradients_against_finite_differences(rng):
    devices, target, C, P = _scenario(rng)
    s2, T = 1e-5, 16
    Xi_hat = ota.whitened_mean(target + np.array([1.0, -2.0, 0.5]), devices, C, s2, T, P) + crandn(rng, 6, 4, 4)
    G = np.asarray(jax.jit(lambda v: ota.local_gradients(v, Xi_hat, devices, C, s2, T, P))(jnp.asarray(target)))
    losses = jax.jit(lambda v: ota.local_losses(v, Xi_hat, devices, C, s2, T, P))
    h = 1e-4
    for i, e in enumerate(np.eye(3)):
        fd = (np.asarray(losses(target + h * e)) - np.asarray(losses(target - h * e))) / (2 * h)
        np.testing.assert_allclose(G[:, i], fd, rtol=1e-5, atol=1e-6 * np.abs(G).max())


def test_ml_estimator_exact_without_noise(rng):
    devices, target, C, P = _scenario(rng)
    Xi_hat = ota.whitened_mean(target, devices, C, 1e-5, 16, P)
    v = jax.jit(lambda xi: ota.ml_localize(xi, devices, C, 1e-5, 16, P, PAPER_A_TARGET_REGION))(Xi_hat)
    np.testing.assert_allclose(v, target, atol=1e-6)


@pytest.mark.heavy
def test_ml_estimator_is_efficient_at_high_snr():
    """Large-T model at high SNR: the empirical MSE of the joint ML estimate matches CRB(v).

    The squared error of a 3-D Gaussian error has relative std <= sqrt(2)/sqrt(n) of its mean;
    n = 300 gives ~0.08, tolerance +-25 %.
    """
    K, M, I, P, T, s2 = 8, 4, 2, 1.0, 32, 1e-6
    devices, target = sample_paper_a_geometry(jax.random.PRNGKey(21), K)
    C = ota.random_precoders(jax.random.PRNGKey(22), K, M, I, P, dtype=jnp.float64)

    def trial(k):
        Xi = ota.large_t_statistics(k, target, devices, C, s2, T, P)
        v = ota.ml_localize(ota.whiten_statistics(Xi, C, s2, T, P), devices, C, s2, T, P, PAPER_A_TARGET_REGION,
                            grid_shape=(6, 6, 3))
        return jnp.sum((v - target) ** 2)

    n = 300
    se = np.asarray(jax.jit(jax.vmap(trial))(jax.random.split(jax.random.PRNGKey(23), n)))
    bound = float(jax.jit(lambda: ota.crb(target, devices, C, s2, T, P))())
    assert 0.75 < se.mean() / bound < 1.25


@pytest.mark.parametrize("bad,msg", [
    (dict(echo_noise_var=-1.0), "echo_noise_var must be > 0"),
    (dict(P=0.0), "P must be > 0"),
    (dict(target="device"), "target must not coincide with a device"),
    (dict(C="short"), r"C must have shape \[K=6, M, I\]"),
])
def test_sensing_bad_input(rng, bad, msg):
    devices, target, C, P = _scenario(rng)
    args = dict(target=target, devices=devices, C=C, echo_noise_var=1e-5, T=16, P=P)
    if bad.get("target") == "device":
        bad = dict(target=devices[2])
    if bad.get("C") == "short":
        bad = dict(C=C[:3])
    args.update(bad)
    with pytest.raises(ValueError, match=msg):
        ota.fisher_information(**args)


def test_ssl_formulas():
    assert ota.ssl_centralised(10, 8, 200) == 32_000
    assert ota.ssl_distributed(3, 50, 5) == 30
    with pytest.raises(ValueError, match="n_antennas must be >= 1"):
        ota.ssl_centralised(10, 0, 200)
