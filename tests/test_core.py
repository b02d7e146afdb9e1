"""Units, ULA responses, geometry, pulses and the generic Fisher-information module."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import crandn, rel_err
from isac_jax.core import (PAPER_A_TARGET_REGION, RingSector, crb_matrix, db_to_linear, dbm_to_watt, dft_pulses,
                           fim_gram, fim_hessian, gram_power, linear_to_db, schur_fim, ula_response,
                           walsh_hadamard_pulses, watt_to_dbm)


def test_units_against_numpy(rng):
    x = rng.uniform(-100, 50, size=20)
    np.testing.assert_allclose(db_to_linear(x), 10 ** (x / 10), rtol=1e-12)
    np.testing.assert_allclose(linear_to_db(db_to_linear(x)), x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dbm_to_watt(x), 1e-3 * 10 ** (x / 10), rtol=1e-12)
    np.testing.assert_allclose(watt_to_dbm(dbm_to_watt(x)), x, rtol=1e-12, atol=1e-12)


def test_ula_response_against_numpy(rng):
    u = rng.uniform(-1, 1, size=5)
    ref = np.exp(-1j * np.pi * np.outer(u, np.arange(7))) / np.sqrt(7)
    assert rel_err(ula_response(u, 7, normalise=True), ref) < 1e-13


@settings(max_examples=25, deadline=None)
@given(K=st.integers(1, 12), extra=st.integers(0, 20))
def test_dft_pulses_orthogonal_unit_modulus(K, extra):
    T = K + extra
    p = np.asarray(dft_pulses(K, T))
    np.testing.assert_allclose(np.abs(p), 1.0, atol=1e-12)
    np.testing.assert_allclose(p.conj() @ p.T, T * np.eye(K), atol=1e-9)
    np.testing.assert_allclose(p, np.exp(2j * np.pi * np.outer(np.arange(K), np.arange(T)) / T), atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(log_t=st.integers(0, 7), data=st.data())
def test_walsh_hadamard_orthogonal(log_t, data):
    T = 2**log_t
    K = data.draw(st.integers(1, T))
    p = np.asarray(walsh_hadamard_pulses(K, T))
    np.testing.assert_allclose(np.abs(p), 1.0)
    np.testing.assert_allclose(p.conj() @ p.T, T * np.eye(K), atol=1e-12)


@pytest.mark.parametrize("fn,K,T,msg", [
    (dft_pulses, 5, 4, "T must be >= K"),
    (walsh_hadamard_pulses, 3, 6, "power of two"),
    (walsh_hadamard_pulses, 5, 4, "T must be >= K"),
    (dft_pulses, 0, 4, "K must be >= 1"),
])
def test_pulses_reject_bad_lengths(fn, K, T, msg):
    with pytest.raises(ValueError, match=msg):
        fn(K, T)


def test_ring_sector_sampling_and_projection():
    region = RingSector(100.0, 110.0, 10.0, 20.0, 0.0, 3.0)
    pts = np.asarray(region.sample(jax.random.PRNGKey(0), 4000))
    r = np.hypot(pts[:, 0], pts[:, 1])
    phi = np.degrees(np.arctan2(pts[:, 1], pts[:, 0]))
    assert r.min() >= 100 - 1e-9 and r.max() <= 110 + 1e-9
    assert phi.min() >= 10 - 1e-9 and phi.max() <= 30 + 1e-9
    assert pts[:, 2].min() >= 0 and pts[:, 2].max() <= 3
    # Uniform in area: P(r^2 <= (100^2+110^2)/2) = 1/2, binomial std = 1/(2 sqrt(n)).
    frac = np.mean(r**2 <= (100**2 + 110**2) / 2)
    assert abs(frac - 0.5) < 4 * 0.5 / np.sqrt(len(r))
    assert bool(jnp.all(region.contains(pts)))
    outside = jnp.asarray([[0.0, 0.0, 10.0], [200.0, 200.0, -5.0], [105.0, -30.0, 1.0]])
    proj = region.project(outside)
    assert bool(jnp.all(region.contains(proj)))
    np.testing.assert_allclose(region.project(proj), proj, atol=1e-9)   # idempotent
    np.testing.assert_allclose(region.project(pts), pts, atol=1e-9)     # identity inside
    with pytest.raises(ValueError, match="r_min_m <= r_max_m"):
        RingSector(10.0, 5.0)


def _toy_mean(theta):
    # A nonlinear complex mean: damped complex exponentials with amplitude and frequency.
    t = jnp.arange(12.0)
    return theta[0] * jnp.exp(1j * theta[1] * t - theta[2] * t / 10.0)


def test_generic_fim_hessian_equals_gram_and_numpy(rng):
    theta = np.array([1.3, 0.4, 0.7])
    noise = rng.uniform(0.5, 2.0, size=12)
    Fh = np.asarray(fim_hessian(_toy_mean, theta, noise))
    Fg = np.asarray(fim_gram(_toy_mean, theta, noise))
    # Independent NumPy reference with analytic derivatives.
    t = np.arange(12.0)
    e = np.exp(1j * theta[1] * t - theta[2] * t / 10.0)
    J = np.stack([e, theta[0] * 1j * t * e, -theta[0] * t / 10.0 * e], axis=1)
    Fref = 2 * np.real(J.conj().T @ (J / noise[:, None]))
    assert rel_err(Fh, Fref) < 1e-10
    assert rel_err(Fg, Fref) < 1e-10
    np.testing.assert_allclose(Fh, Fh.T, atol=1e-12)
    assert np.linalg.eigvalsh(Fh).min() > 0


def test_schur_complement_and_crb(rng):
    A = rng.standard_normal((7, 7))
    F = A @ A.T + 0.5 * np.eye(7)
    inv = np.linalg.inv(F)
    np.testing.assert_allclose(np.asarray(crb_matrix(jnp.asarray(F))), inv, rtol=1e-9, atol=1e-12)
    S = np.asarray(schur_fim(jnp.asarray(F), 3))
    np.testing.assert_allclose(np.linalg.inv(S), inv[:3, :3], rtol=1e-9)


def test_gram_power_against_numpy(rng):
    C = crandn(rng, 5, 2)
    R = C @ C.conj().T / 2.0
    w, V = np.linalg.eigh(R)
    keep = w > 1e-10
    half = (V[:, keep] * np.sqrt(w[keep])) @ V[:, keep].conj().T
    pinv_half = (V[:, keep] / np.sqrt(w[keep])) @ V[:, keep].conj().T
    assert rel_err(gram_power(jnp.asarray(C), 0.5, scale=2.0), half) < 1e-10
    assert rel_err(gram_power(jnp.asarray(C), -0.5, scale=2.0), pinv_half) < 1e-10


def test_paper_region_defaults():
    assert PAPER_A_TARGET_REGION.r_min_m == 100 and PAPER_A_TARGET_REGION.z_max_m == 3
