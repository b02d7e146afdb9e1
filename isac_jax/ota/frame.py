"""One dual-purpose frame end to end: OTA aggregation at the PS and sensing at the devices.

Composes (A.1)-(A.5) (:mod:`.aggregation`), (A.8) echoes and the whitened sufficient statistics
(:mod:`.echo`) from the *same* transmit signals, as in Algorithm 2 (lines 5-7, 13-14).
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from .aggregation import simulate_ota_frame
from .echo import (sample_correlation, simulate_echoes, simulate_statistics, sufficient_statistics,
                   whiten_statistics)


class IsacFrame(NamedTuple):
    """``r[T,I]`` PS output, ``target[T,I]`` ideal aggregate, ``Xi[K,M,M]`` raw and ``Xi_hat`` whitened
    statistics, ``R_sample[K,M,M]`` each device's sample correlation of its own signal."""

    r: jax.Array
    target: jax.Array
    Xi: jax.Array
    Xi_hat: jax.Array
    R_sample: jax.Array


def simulate_isac_frame(key, H, C, W, pulses, noise_var, Mrx, target_pos, devices, echo_noise_var, P,
                        *, alpha0=1.0, gamma=1.0, g=None, echo_samples: bool = True) -> IsacFrame:
    """Simulate one frame: OTA reception at the PS and echo statistics at the devices.

    ``echo_samples=False`` draws each device's statistic from its exact law given the symbols
    (:func:`.echo.simulate_statistics`, unimodular pulses) instead of simulating the ``T`` echo
    samples and correlating: the same joint law of every output, ``K M I`` instead of ``K T M``
    complex noise draws (the random numbers, not the model, change).
    """
    k_ota, k_echo = jax.random.split(key)
    ota = simulate_ota_frame(k_ota, H, C, W, pulses, noise_var, Mrx, g=g)
    T = pulses.shape[1]
    if echo_samples:
        u = simulate_echoes(k_echo, target_pos, devices, ota.x, echo_noise_var, alpha0=alpha0, gamma=gamma)
        Xi = sufficient_statistics(u, ota.x, P)
    else:
        Xi = simulate_statistics(k_echo, target_pos, devices, C, ota.g, pulses, echo_noise_var, P, alpha0=alpha0,
                                 gamma=gamma)
    return IsacFrame(r=ota.r, target=ota.target, Xi=Xi,
                     Xi_hat=whiten_statistics(Xi, C, echo_noise_var, T, P),
                     R_sample=sample_correlation(ota.x, P))
