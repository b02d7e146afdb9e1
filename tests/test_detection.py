"""CA-CFAR per-AP detection: the threshold against a NumPy window sum, the false-alarm rate on noise
only against its design value, and the detection of a strong target on a 2D-DFT range-Doppler map."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from isac_jax.cellfree.detection import ca_cfar, ca_cfar_factor


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
    CA-CFAR); tolerance 4 binomial standard errors, doubled for the correlation through shared
    training cells."""
    pfa, n_maps, shape = 1e-2, 64, (32, 32)
    noise = 7.3 * jax.random.exponential(jax.random.PRNGKey(1), (n_maps,) + shape, dtype=jnp.float64)
    det, _ = ca_cfar(noise, guard=1, train=2, pfa=pfa)
    n = n_maps * shape[0] * shape[1]
    rate = float(jnp.mean(det))
    assert abs(rate - pfa) < 8.0 * np.sqrt(pfa * (1 - pfa) / n), rate


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
