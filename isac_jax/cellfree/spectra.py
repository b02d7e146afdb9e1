"""The multistatic sensing channel of Paper B and its angular delay-Doppler spectrum.

:func:`sensing_channel` is the MIMO channel ``G_{i,n,m}[t]`` of (B.6)/(31) without the transmit
signal, laid out ``[M, M_r, N, N_t, T_s, N_s]`` (receive AP, its antennas, transmit AP, its
antennas, OFDM symbol, subcarrier in natural order ``i = 0..N_s-1``).

:func:`delay_doppler_channel` and :func:`angular_delay_doppler_spectrum` follow the conventions of
Sionna PHY 2.2 (``sionna.phy.channel.ofdm_to_delay_doppler_channel`` and
``sionna.phy.isac.angular_delay_doppler_spectrum``), so that the same tensor gives the same
spectrum in both (``benchmarks/bench_peers.py`` checks it):

* ``h_dd[q, l] = (N S)^{-1} sum_{b, n} h[b, n] e^{+j 2 pi n l / N} e^{-j 2 pi b q / S}``, Doppler bins
  centred (``q = -floor(S/2) ... S - floor(S/2) - 1``); a path ``e^{-j 2 pi i tau Delta f}
  e^{+j 2 pi t f_D DeltaT}`` of (B.6) peaks at ``l = tau N Delta f`` and ``q = f_D DeltaT S``.
  The one convention difference: Sionna takes subcarriers in centred order (it ``ifftshift``-s
  them first), Paper B's index is natural, so Sionna is fed ``fftshift(h, axis=-1)``.
* ``P = |a_R^H H conj(a_T)|^2`` with both banks given as array responses (conjugated inside). The
  channel of (B.6) carries ``a_t^H``, so its transmit-side peak is at the bank ``conj(a_t)``.
"""

from __future__ import annotations

import jax.numpy as jnp

from ..core.arrays import ula_response
from ..core.units import db_to_linear
from .echo import bistatic_geometry


def sensing_channel(tx, rx, targets, velocities, beta, *, n_tx_antennas, n_rx_antennas, n_subcarriers, n_symbols,
                    carrier_hz=30e9, scs_hz=240e3, cp_s=1.04e-6, pathloss_ref_db=-60.0, pathloss_exp=2.0,
                    ref_distance_m=1.0):
    """``H[M, M_r, N, N_t, T_s, N_s]``: ``sum_q A e^{-j phi} a_r(vartheta) a_t(theta)^H`` of (31)."""
    geo = bistatic_geometry(tx, rx, targets, velocities, carrier_hz=carrier_hz)
    real = jnp.real(jnp.asarray(beta)).dtype
    amp = beta * jnp.sqrt(db_to_linear(pathloss_ref_db) * (geo["range_m"] / ref_distance_m) ** (-pathloss_exp))
    i = jnp.arange(n_subcarriers, dtype=real)
    t = jnp.arange(1, n_symbols + 1, dtype=real)
    delay = jnp.exp(-2j * jnp.pi * scs_hz * geo["delay_s"][..., None] * i[None, None, None, :])           # [N,M,Q,Ns]
    doppler = jnp.exp(2j * jnp.pi * (1.0 / scs_hz + cp_s) * geo["doppler_hz"][..., None] * t[None, None, None, :])
    a_t = ula_response(geo["cos_tx"], n_tx_antennas, normalise=True)                                       # [N,Q,Nt]
    a_r = ula_response(geo["cos_rx"], n_rx_antennas, normalise=True)                                       # [M,Q,Mr]
    return jnp.einsum("nmq,nmqi,nmqt,mqa,nqb->manbti", amp, delay, doppler, a_r, jnp.conj(a_t))


def delay_doppler_channel(h_f):
    """``h_f[..., S, N]`` (symbols, subcarriers in natural order) -> ``h_dd[..., S, N]`` (Doppler
    bins centred, delay lags ``0..N-1``), normalised by ``1/(N S)`` (Sionna's convention)."""
    h_t = jnp.fft.ifft(h_f, axis=-1)                                   # 1/N e^{+j 2 pi n l / N}
    return jnp.fft.fftshift(jnp.fft.fft(h_t, axis=-2, norm="forward"), axes=-2)


def angular_delay_doppler_spectrum(h_dd, rx_steering, tx_steering, *, mode: str = "paired"):
    """Bartlett angular delay-Doppler spectrum of ``h_dd[..., R, M_r, T, M_t, S, L]``.

    ``rx_steering[D_r, M_r]`` (or ``[R, D_r, M_r]``), ``tx_steering[D_t, M_t]`` (or ``[T, D_t, M_t]``):
    array responses, conjugated here. ``paired``: direction ``d`` of both banks together (``D_r = D_t``
    or one of them 1) -> ``[..., R, T, D, S, L]``; ``cartesian`` -> ``[..., R, D_r, T, D_t, S, L]``.
    """
    if mode not in ("paired", "cartesian"):
        raise ValueError(f"mode must be 'paired' or 'cartesian', got {mode!r}")
    R, T = h_dd.shape[-6], h_dd.shape[-4]
    rx = jnp.conj(jnp.broadcast_to(rx_steering, (R,) + rx_steering.shape[-2:]))
    tx = jnp.conj(jnp.broadcast_to(tx_steering, (T,) + tx_steering.shape[-2:]))
    if mode == "cartesian":
        # The output (D_r D_t per pair) dwarfs the input, so the run time is the output's memory
        # traffic: contract the receive side by einsum, then the (few) transmit antennas as an
        # unrolled sum that XLA fuses with |.|^2, so the complex output is never stored.
        projected = jnp.einsum("rim,...rmtnql->...ritnql", rx, h_dd)[..., None, :, :, :]   # [..., R, Di, T, 1, Mt, S, L]
        lead = (1,) * (projected.ndim - 5)                                                    # [..., R, Di]
        z = sum(projected[..., n, :, :] * tx[:, :, n].reshape(lead + (T, tx.shape[1], 1, 1))
                for n in range(tx.shape[-1]))                                                 # [..., R, Di, T, Dj, S, L]
        return jnp.real(z) ** 2 + jnp.imag(z) ** 2
    d_r, d_t = rx.shape[1], tx.shape[1]
    if d_r != d_t and 1 not in (d_r, d_t):
        raise ValueError(f"paired mode needs equal direction counts or one of them 1, got {d_r} and {d_t}")
    D = max(d_r, d_t)
    rx = jnp.broadcast_to(rx, (R, D, rx.shape[-1]))
    tx = jnp.broadcast_to(tx, (T, D, tx.shape[-1]))
    # One matrix product per (r, t): [D, M_r M_t] x [M_r M_t, S L].
    pairs = jnp.einsum("rdm,tdn->rtdmn", rx, tx)
    return jnp.abs(jnp.einsum("rtdmn,...rmtnql->...rtdql", pairs, h_dd)) ** 2

