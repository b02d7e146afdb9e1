"""CA-CFAR per-AP detection: the threshold against a NumPy window sum, the false-alarm rate on noise
only against its design value, and the detection of a strong target on a 2D-DFT range-Doppler map."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from isac_jax.cellfree.detection import beam_cfar, beam_cfar_factor, ca_cfar, ca_cfar_factor, mdl_order


def test_threshold_matches_a_numpy_window_sum():
    rng = np.random.default_rng(0)
    p = rng.exponential(size=(12, 10))
    det, thr = ca_cfar(jnp.asarray(p), guard=1, train=2, pfa=1e-3)
    n_train = 7 * 7 - 3 * 3
    alpha = n_train * (1e-3 ** (-1 / n_train) - 1)
    for r, d in [(0, 0), (5, 4), (11, 9), (3, 8)]:
        s = sum(p[(r + a) % 12, (d + b) % 10] for a in range(-3, 4) for b in range(-3, 4) if max(abs(a), abs(b)) > 1)
        np.testing.assert_allclose(float(thr[r, d]), alpha * s / n_train, rtol=1e-10)
    np.testing.assert_array_equal(np.asarray(det), p > np.asarray(thr))


def test_false_alarm_rate_on_noise_matches_the_design_value():
    """i.i.d. exponential cells of an unknown level: the mean false-alarm rate is P_fa (exact for
    CA-CFAR); tolerance 5 binomial standard errors of 524,288 cells (the correlation through shared
    training cells widens the spread a little), tight enough to reject a known-noise threshold
    ``ln(1 / P_fa)`` applied to the training mean (rate 0.0128)."""
    pfa, n_maps, shape = 1e-2, 512, (32, 32)
    noise = 7.3 * jax.random.exponential(jax.random.PRNGKey(1), (n_maps,) + shape, dtype=jnp.float64)
    det, _ = ca_cfar(noise, guard=1, train=2, pfa=pfa)
    n = n_maps * shape[0] * shape[1]
    rate = float(jnp.mean(det))
    assert abs(rate - pfa) < 5.0 * np.sqrt(pfa * (1 - pfa) / n), rate


def test_a_strong_target_on_a_range_doppler_map_is_detected():
    """A complex exponential in (subcarrier, symbol) at -10 dB per sample, 32 x 32 samples (20 dB
    after the 2D DFT), in 200 noise draws: detected at its cell in >= 99 %, P_fa = 1e-4."""
    n_draws, Ns, Ts, k0, l0 = 200, 32, 32, 7, 21
    i, t = np.arange(Ns)[:, None], np.arange(Ts)[None, :]
    tone = np.sqrt(0.1) * np.exp(2j * np.pi * (k0 * i / Ns + l0 * t / Ts))
    k_re, k_im = jax.random.split(jax.random.PRNGKey(2))
    noise = (jax.random.normal(k_re, (n_draws, Ns, Ts), dtype=jnp.float64)
             + 1j * jax.random.normal(k_im, (n_draws, Ns, Ts), dtype=jnp.float64)) / np.sqrt(2)
    maps = jnp.abs(jnp.fft.fft2(jnp.asarray(tone)[None] + noise)) ** 2 / (Ns * Ts)
    det, _ = ca_cfar(maps, guard=1, train=2, pfa=1e-4)
    assert float(jnp.mean(det[:, k0, l0])) >= 0.99


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="pfa"):
        ca_cfar_factor(8, 1.5)
    with pytest.raises(ValueError, match="window"):
        ca_cfar(jnp.ones((4, 4)), guard=1, train=2)
    with pytest.raises(ValueError, match="square-law"):
        ca_cfar(-jnp.ones((8, 8)))


# ------------------------------------------------------- per-AP rules inside the classical schemes
from isac_jax.cellfree import estimators as est  # noqa: E402
from isac_jax.core.arrays import ula_response  # noqa: E402

MR, NS, TS = 8, 8, 8                     # 8 antennas, K = 64 snapshots


def _noise(key, n):
    k_re, k_im = jax.random.split(key)
    shape = (n, MR, NS, TS)
    re, im = (jax.random.normal(k, shape, dtype=jnp.float64) for k in (k_re, k_im))
    return (re + 1j * im) * np.sqrt(0.5 * 3.7)


def _one_target(key, n, snr_db):
    """``n`` echoes of one target at a uniform direction cosine in (-0.95, 0.95), random unit-modulus
    snapshots at ``snr_db`` per antenna and snapshot, in unit noise; also returns the cosines."""
    k_c, k_s, k_n = jax.random.split(key, 3)
    cos = jax.random.uniform(k_c, (n,), minval=-0.95, maxval=0.95, dtype=jnp.float64)
    a = ula_response(cos, MR, normalise=False)                                             # [n, Mr]
    s = jnp.exp(2j * np.pi * jax.random.uniform(k_s, (n, NS, TS), dtype=jnp.float64)) * 10 ** (snr_db / 20)
    return a[:, :, None, None] * s[:, None] + _noise(k_n, n) / np.sqrt(3.7), cos


def test_beam_cfar_false_alarm_rate_on_noise_matches_the_design_value():
    """White noise of an unknown level: the per-beam false-alarm rate is P_fa (exact: F(2K, 2NK)).
    10,000 covariances x 8 beams; the beams of one covariance are independent, the training sets
    share cells; tolerance 5 binomial standard errors (1.8e-3), which rejects a threshold built for
    P_fa / 8, for one training beam too many, or a known-noise chi-squared threshold."""
    pfa, n = 1e-2, 10_000
    Y = _noise(jax.random.PRNGKey(5), n)
    det = jax.jit(jax.vmap(lambda y: beam_cfar(est._spatial_covariance(y), NS * TS, guard=1, pfa=pfa)[0]))(Y)
    rate = float(jnp.mean(det))
    assert abs(rate - pfa) < 5.0 * np.sqrt(pfa * (1 - pfa) / (n * MR)), rate


def test_beam_cfar_threshold_factor_against_a_numpy_monte_carlo():
    """The F(2K, 2NK) quantile against the empirical quantile of Gamma(K) / mean of N Gamma(K) draws
    (2e5 NumPy draws: the 0.99 quantile's standard error is ~3e-4 relative at K = 64)."""
    rng = np.random.default_rng(6)
    K, N, pfa = 64, 5, 1e-2
    ratio = rng.gamma(K, size=200_000) / rng.gamma(N * K, size=200_000) * N
    np.testing.assert_allclose(beam_cfar_factor(K, N, pfa), np.quantile(ratio, 1 - pfa), rtol=3e-3)


def _mdl_numpy(R, K, max_order):
    lam = np.sort(np.linalg.eigvalsh(R))[::-1]                                             # descending
    M = len(lam)
    crit = []
    for k in range(max_order + 1):
        tail = lam[k:]
        crit.append(-K * (M - k) * (np.mean(np.log(tail)) - np.log(np.mean(tail))) + 0.5 * k * (2 * M - k) * np.log(K))
    return int(np.argmin(crit))


def test_mdl_order_against_numpy():
    rng = np.random.default_rng(7)
    for trial in range(20):
        k_true = trial % 3
        A = rng.standard_normal((MR, k_true)) + 1j * rng.standard_normal((MR, k_true))
        S = (rng.standard_normal((k_true, 16)) + 1j * rng.standard_normal((k_true, 16))) * rng.uniform(0.1, 1.5)
        Y = A @ S + (rng.standard_normal((MR, 16)) + 1j * rng.standard_normal((MR, 16)))
        R = Y @ Y.conj().T / 16
        assert int(mdl_order(jnp.asarray(R), 16, 3)) == _mdl_numpy(R, 16, 3)


@pytest.mark.parametrize("detector", ["mdl", "cfar"])
def test_per_ap_rule_on_noise_and_on_one_strong_target(detector):
    """Noise only: ``cfar`` keeps a path in a fraction of the covariances between P_fa (one beam) and
    ``1 - (1 - P_fa)^M_r`` (some beam passes: the peaks are where the beams are largest, so the
    bracketing beams are the likeliest to pass), within 4 binomial standard errors; ``mdl`` (no design
    P_fa: consistent, its false-alarm probability vanishes with K) in at most 1 of 3,000 (4 binomial standard errors of 3,000 draws for ``cfar``). One target at
    0 dB per antenna and snapshot (18 dB after the 8 x 64 array and dwell gain): its path is kept,
    within a quarter beamwidth, in >= 99 % of 200 draws; ``mdl`` also keeps no second path (cap
    Q = 2) there (``cfar`` tests the second atom on the beams of the full covariance, where the
    target's own power may pass: its P_fa is per beam of a target-free covariance only)."""
    pfa, n = 1e-2, 3000
    settings = est.EstimatorSettings(n_angles=64, detector=detector, detection_pfa=pfa, omp_passes=1)
    rule = jax.jit(jax.vmap(lambda y: est._detect_angles(y, 2, "cs", settings)))
    _, _, valid = rule(_noise(jax.random.PRNGKey(8), n))
    rate = float(jnp.mean(jnp.any(valid, axis=-1)))
    if detector == "cfar":
        upper = 1 - (1 - pfa) ** MR
        assert pfa - 4 * np.sqrt(pfa / n) < rate < upper + 4 * np.sqrt(upper / n), rate
    else:
        assert rate <= 1 / n, rate
    Y, cos = _one_target(jax.random.PRNGKey(9), 200, 0.0)
    cos_hat, _, valid = map(np.asarray, rule(Y))
    ok = valid[:, 0] & (np.abs(cos_hat[:, 0] - np.asarray(cos)) < 0.5 / MR)
    if detector == "mdl":
        ok &= ~valid[:, 1]
    assert ok.mean() >= 0.99, ok.mean()
