"""OTA multi-task aggregation (A.3)-(A.7) and the optimal receiver (A.32)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import crandn, rel_err
from isac_jax import ota
from isac_jax.core.random import PRNG_IMPLS


def _instance(rng, K=5, N=6, M=3, I=2, T=8):
    H = crandn(rng, K, N, M)
    C = crandn(rng, K, M, I)
    W = np.stack([np.diag(rng.uniform(0.1, 1.0, I)) for _ in range(K)])
    p = np.asarray(ota.dft_pulses(K, T))
    return H, C, W, p


def _np_receiver(H, C, W, p, s2):
    K, N, _ = H.shape
    A = s2 * np.eye(N, dtype=complex)
    for k in range(K):
        G = H[k] @ C[k]
        A += G @ G.conj().T
    out = []
    for t in range(p.shape[1]):
        B = sum(p[k, t] * H[k] @ C[k] @ W[k].conj().T for k in range(K))
        out.append(np.linalg.solve(A, B))
    return np.stack(out)


def _np_mse(Mrx, H, C, W, p, s2):
    tot = []
    for t in range(p.shape[1]):
        e = sum(np.linalg.norm(Mrx[t].conj().T @ H[k] @ C[k] * p[k, t] - W[k]) ** 2 for k in range(H.shape[0]))
        tot.append(e + s2 * np.linalg.norm(Mrx[t]) ** 2)
    return np.mean(tot)


def test_optimal_receiver_and_mse_against_numpy(rng):
    for _ in range(3):
        H, C, W, p = _instance(rng)
        s2 = rng.uniform(0.05, 1.0)
        Mrx = np.asarray(ota.optimal_receiver(H, C, W, p, s2))
        assert rel_err(Mrx, _np_receiver(H, C, W, p, s2)) < 1e-8
        assert rel_err(ota.aggregation_mse(Mrx, H, C, W, p, s2), _np_mse(Mrx, H, C, W, p, s2)) < 1e-8


def test_optimal_receiver_is_a_minimiser(rng):
    H, C, W, p = _instance(rng)
    s2 = 0.3
    Mrx = ota.optimal_receiver(H, C, W, p, s2)
    best = float(ota.aggregation_mse(Mrx, H, C, W, p, s2))
    for _ in range(10):
        pert = Mrx + 1e-2 * crandn(rng, *Mrx.shape)
        assert float(ota.aggregation_mse(pert, H, C, W, p, s2)) > best


@pytest.mark.parametrize("impl", PRNG_IMPLS)
def test_monte_carlo_mse_matches_closed_form(rng, impl):
    """E||r - gbar||^2 averaged over frames equals (A.7) within sampling error, with keys of every
    PRNG implementation the package accepts."""
    H, C, W, p = _instance(rng, K=4, N=5, M=3, I=2, T=6)
    s2 = 0.2
    Mrx = ota.optimal_receiver(H, C, W, p, s2) * 1.1   # a non-optimal receiver: the formula is generic
    n = 20000
    keys = jax.random.split(jax.random.key(7, impl=impl), n)
    frames = jax.jit(jax.vmap(lambda k: ota.simulate_ota_frame(k, H, C, W, p, s2, Mrx)))(keys)
    err = np.sum(np.abs(np.asarray(frames.r - frames.target)) ** 2, axis=(1, 2)) / p.shape[1]
    closed = float(ota.aggregation_mse(Mrx, H, C, W, p, s2))
    assert abs(err.mean() - closed) < 4 * err.std(ddof=1) / np.sqrt(n)


def test_frame_signals_follow_definitions(rng):
    H, C, W, p = _instance(rng, K=3, N=4, M=2, I=2, T=4)
    Mrx = ota.optimal_receiver(H, C, W, p, 0.1)
    g = rng.standard_normal((3, 4, 2))
    fr = ota.simulate_ota_frame(jax.random.PRNGKey(0), H, C, W, p, 0.0, Mrx, g=jnp.asarray(g))
    x_ref = np.einsum("kmi,kti->ktm", C, g) * p[:, :, None]
    assert rel_err(fr.x, x_ref) < 1e-12
    y_ref = np.stack([sum(H[k] @ x_ref[k, t] for k in range(3)) for t in range(4)])
    assert rel_err(fr.y, y_ref) < 1e-12
    assert rel_err(fr.r, np.einsum("tni,tn->ti", Mrx.conj(), y_ref)) < 1e-12
    assert rel_err(fr.target, np.einsum("kii,kti->ti", W, g)) < 1e-12


def test_bad_inputs_raise(rng):
    H, C, W, p = _instance(rng)
    with pytest.raises(ValueError, match="noise_var must be >= 0"):
        ota.optimal_receiver(H, C, W, p, -1.0)
    with pytest.raises(ValueError, match=r"W must have shape \[5, 2, 2\]"):
        ota.optimal_receiver(H, C, W[:, :1, :1], p, 0.1)
    with pytest.raises(ValueError, match="pulses must have shape"):
        ota.optimal_receiver(H, C, W, p[:3], 0.1)
    with pytest.raises(ValueError, match="Mrx must have shape"):
        ota.aggregation_mse(np.zeros((2, 6, 2)), H, C, W, p, 0.1)
