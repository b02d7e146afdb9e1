"""The finite-T bound (isac_jax.ota.finite_t): cross-device leakage as Gaussian interference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import crandn, rel_err
from isac_jax import ota
from isac_jax.core.fisher import fim_real_gaussian
from isac_jax.core import sample_paper_a_geometry
from isac_jax.ota import finite_t

FIM = jax.jit(finite_t.finite_t_fisher_information, static_argnames=("leakage",))
LS_MSE = jax.jit(finite_t.least_squares_mse, static_argnames=("leakage",))


def np_response(v, dev, M):
    d = np.linalg.norm(v - dev)
    return np.exp(-1j * np.pi * np.arange(M) * (v[2] - dev[2]) / d) / d


def np_inv_sqrt(R):
    w, U = np.linalg.eigh(R)
    return (U / np.sqrt(w)) @ U.conj().T


def np_statistics_map(v, devices, R, s2, T, P):
    """The whitened statistics as an explicit linear map of independent Gaussians (NumPy, float64).

    ``Y_k = [a_k a_k^T R_k + a_k sum_{l != k} a_l^T F_l Z_lk F_k^H / sqrt(T) + sqrt(s2/(P T)) N_k F_k^H] Omega_k``
    with ``F_k = chol(R_k)``, ``Z_lk`` (l < k) and ``N_k`` i.i.d. CN(0, 1), ``Z_kl = Z_lk^H``: the random
    matrices ``S_lk = sum_t x_l x_k^H`` and the noise written out, not their moments. Returns the real
    composite mean and covariance.
    """
    K, M = R.shape[:2]
    F = np.linalg.cholesky(R)
    Om = np.sqrt(P * T / s2) * np.stack([np_inv_sqrt(r) for r in R])
    a = np.stack([np_response(v, d, M) for d in devices])
    pairs = [(l, k) for k in range(K) for l in range(k)]
    n_in = (len(pairs) + K) * M * M

    def y_of(z):                                       # z complex [n_in] -> stacked Y [K, M, M]
        Z = z[:len(pairs) * M * M].reshape(len(pairs), M, M)
        N = z[len(pairs) * M * M:].reshape(K, M, M)
        Zlk = {}
        for i, (l, k) in enumerate(pairs):
            Zlk[(l, k)], Zlk[(k, l)] = Z[i], Z[i].conj().T
        out = []
        for k in range(K):
            leak = sum(a[l] @ F[l] @ Zlk[(l, k)] @ F[k].conj().T for l in range(K) if l != k)
            out.append((np.outer(a[k], leak) / np.sqrt(T) + np.sqrt(s2 / (P * T)) * N[k] @ F[k].conj().T) @ Om[k])
        return np.stack(out)

    cols = []
    for j in range(n_in):
        for unit in (1.0, 1j):                         # real and imaginary input, each of variance 1/2
            e = np.zeros(n_in, complex)
            e[j] = unit
            y = y_of(e).ravel()
            cols.append(np.concatenate([y.real, y.imag]))
    L = np.stack(cols, axis=1)
    mean = np.stack([np.outer(a[k], a[k] @ R[k] @ Om[k]) for k in range(K)]).ravel()
    return np.concatenate([mean.real, mean.imag]), 0.5 * L @ L.T


def np_fim_and_ls(v, devices, R, s2, T, P, h=1e-4):
    def f(u):
        return np_statistics_map(u, devices, R, s2, T, P)

    m0, S = f(v)
    dm, dS = [], []
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        (mp, Sp), (mm, Sm) = f(v + e), f(v - e)
        dm.append((mp - mm) / (2 * h))
        dS.append((Sp - Sm) / (2 * h))
    D = np.stack(dm, axis=1)
    J = D.T @ np.linalg.solve(S, D)
    A = [np.linalg.solve(S, d) for d in dS]
    J += 0.5 * np.array([[np.trace(A[i] @ A[j]) for j in range(3)] for i in range(3)])
    G = np.linalg.solve(D.T @ D, D.T)
    return J, np.trace(G @ S @ G.T)


def _geometry(seed, K):
    devices, target = sample_paper_a_geometry(jax.random.PRNGKey(seed), K)
    return np.asarray(devices), np.asarray(target)


@pytest.mark.heavy
def test_finite_t_fim_matches_numpy_reference_built_from_the_random_matrices(rng):
    K, M, T, P, s2 = 3, 3, 16, 1.0, 1e-6
    devices, target = _geometry(int(rng.integers(1 << 30)), K)
    C = crandn(rng, K, M, M)
    R = np.einsum("kmi,kni->kmn", C, C.conj()) / M
    J = FIM(target, devices, R, s2, T, P)
    J_ref, ls_ref = np_fim_and_ls(target, devices, R, s2, T, P)
    assert rel_err(J, J_ref) < 1e-5
    assert abs(float(LS_MSE(target, devices, R, s2, T, P)) / ls_ref - 1) < 1e-5
    # the least-squares error of the same statistics cannot beat their bound (Gauss-Markov, then the
    # covariance term): a property, on this instance with a margin
    assert ls_ref > 1.05 * float(np.trace(np.linalg.inv(np.asarray(J))))
    # the leakage matters at this echo SNR: the bound is well above the leakage-free CRB(v)
    C_eff = np.sqrt(P) * np.stack([np.linalg.cholesky(r) for r in R])
    assert float(np.trace(np.linalg.inv(np.asarray(J)))) > 1.5 * float(ota.crb(target, devices, C_eff, s2, T, P))


def test_finite_t_bound_reduces_to_crb_without_leakage(rng):
    """Without the leakage, the FIM is CRB(v)'s (A.19) for the same whitening; the
    least-squares MSE then equals it (LS is efficient in white Gaussian noise). Rank-deficient R
    (I < M) exercises the whitening's null space."""
    K, M, I, T, P, s2 = 4, 4, 2, 32, 2.0, 1e-5
    devices, target = _geometry(int(rng.integers(1 << 30)), K)
    C = crandn(rng, K, M, I)
    R = np.einsum("kmi,kni->kmn", C, C.conj()) / P
    J0 = FIM(target, devices, R, s2, T, P, whitening_precoders=C, leakage=False)
    assert rel_err(J0, jax.jit(ota.fisher_information, static_argnums=4)(target, devices, C, s2, T, P)) < 1e-8
    ls = float(LS_MSE(target, devices, R, s2, T, P, whitening_precoders=C, leakage=False))
    assert abs(ls / float(jax.jit(ota.crb, static_argnums=4)(target, devices, C, s2, T, P)) - 1) < 1e-8


def test_leakage_moments_match_simulated_echoes():
    """Monte Carlo: whitened statistics of simulated frames (i.i.d. symbols, DFT pulses), minus each
    device's own known echo term, have the covariance of the model, leakage and pseudo-covariance
    included (entrywise within 5 sample standard errors); the leakage is large enough here that the
    model without it fails the same check."""
    K, M, I, T, P, s2, n = 3, 2, 2, 8, 1.0, 2e-4, 20_000
    key = jax.random.PRNGKey(7)
    k_geo, k_c, k_mc = jax.random.split(key, 3)
    devices, target = sample_paper_a_geometry(k_geo, K)
    devices = target[None, :] + 0.1 * (devices - target[None, :])   # close to the target: leakage ~ noise
    C = ota.random_precoders(k_c, K, M, I, P)
    pulses = ota.dft_pulses(K, T)
    aat = ota.round_trip(target, devices, M)

    def draw(k):
        kg, ke = jax.random.split(k)
        g = jax.random.normal(kg, (K, T, I))
        x = ota.transmit_signals(C, g, pulses)
        Xi = ota.sufficient_statistics(ota.simulate_echoes(ke, target, devices, x, s2), x, P)
        own = jnp.einsum("kmn,knp->kmp", aat, ota.sample_correlation(x, P))
        y = ota.whiten_statistics(Xi - own, C, s2, T, P).ravel()
        return jnp.concatenate([jnp.real(y), jnp.imag(y)])

    e = np.asarray(jax.jit(jax.vmap(draw))(jax.random.split(k_mc, n)))
    R = np.einsum("kmi,kni->kmn", C, np.conj(C)) / P
    prods = e[:, :, None] * e[:, None, :]
    emp, se = prods.mean(0), prods.std(0) / np.sqrt(n)
    assert np.all(np.abs(e.mean(0)) < 5 * e.std(0) / np.sqrt(n))
    S = {leak: np.asarray(finite_t.whitened_statistics_model(devices, R, C, s2, T, P, leakage=leak)[1](target))
         for leak in (True, False)}
    assert np.max(np.abs(emp - S[True]) / se) < 5.0
    assert np.max(np.abs(emp - S[False]) / se) > 20.0
    n_c = K * M * M
    same_device = np.kron(np.ones((2, 2)), np.kron(np.eye(K), np.ones((M * M, M * M))))
    assert np.max(np.abs(emp - S[True] * same_device) / se) > 20.0      # the cross-device pseudo-covariance
    assert same_device.shape == (2 * n_c, 2 * n_c)


def test_leakage_aware_loss_and_its_curvature_are_the_per_device_gaussian_model(rng):
    """CollabSenseFed's leakage-aware local loss is, up to a constant, the negative log-likelihood of
    the finite-T model with the cross-device pseudo-covariance dropped, and
    ``block_fisher_information`` is that model's FIM (against the generic real Slepian-Bangs form)."""
    from isac_jax.collabsensefed.sensing import SensingPhysics, local_losses_from

    K, M, T, P, s2 = 3, 3, 16, 1.0, 1e-6
    devices, target = _geometry(int(rng.integers(1 << 30)), K)
    C = crandn(rng, K, M, M)
    R = np.einsum("kmi,kni->kmn", C, C.conj()) / M
    root = np.stack([(lambda w, U: (U * np.sqrt(w)) @ U.conj().T)(*np.linalg.eigh(r)) for r in R])
    mean_fn, cov_fn = finite_t.whitened_statistics_model(devices, R, np.sqrt(P) * root, s2, T, P)
    same = np.kron(np.ones((2, 2)), np.kron(np.eye(K), np.ones((M * M, M * M))))

    def block_cov(v):
        return cov_fn(v) * same

    # Jitted: one program each instead of hundreds of eager ops.
    J_ref = jax.jit(lambda v: fim_real_gaussian(mean_fn, block_cov, v))(jnp.asarray(target))
    J = jax.jit(finite_t.block_fisher_information, static_argnums=4)(target, devices, R, s2, T, P)
    assert rel_err(J, J_ref) < 1e-8
    assert rel_err(J, FIM(target, devices, R, s2, T, P)) > 1e-3   # it does differ

    y = np.asarray(mean_fn(target)) + rng.standard_normal(2 * K * M * M)
    Xi_hat = (y[:K * M * M] + 1j * y[K * M * M:]).reshape(K, M, M)

    mean_and_cov = jax.jit(lambda v: (mean_fn(v), block_cov(v)))

    def nll(v):
        m, S = map(np.asarray, mean_and_cov(v))
        r = y - m
        return 0.5 * r @ np.linalg.solve(S, r) + 0.5 * np.linalg.slogdet(S)[1]

    physics = SensingPhysics(power_w=P, echo_noise_var_w=s2, leakage_aware=True)
    other = target + np.array([0.7, -1.3, 0.4])
    local_loss = jax.jit(lambda v: jnp.sum(local_losses_from(v, Xi_hat, root, T, devices, physics)))
    loss = [float(local_loss(v)) for v in (target, other)]
    assert abs((loss[1] - loss[0]) / (nll(other) - nll(target)) - 1) < 1e-8
