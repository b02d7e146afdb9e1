"""Multistatic OFDM sensing echoes (Paper B, (B.6)-(B.11), clutter (B.29), TO/CFO (B.30)).

Geometry in the plane; array orientations per SPEC §5 (transmit ULA axis along -x, receive along
+x): ``cos theta_nq = -(g_x - t_x)/d_nq``, ``sin theta_nq = (g_y - t_y)/d_nq``,
``cos vartheta_mq = (g_x - r_x)/d_mq``, ``sin vartheta_mq = (r_y - g_y)/d_mq``; (B.10)/(B.11) are
then the radial velocities away from each AP. Subcarrier index ``i = 0..N_s-1`` and symbol index
``t = 1..T_s`` as in (B.23). The phase of (B.6) is used literally,
``exp(-j 2 pi (i tau Delta f - t f_D Delta T))`` with ``f_D = (v_nq + v_mq) f_c / c``.

The kernel is separable: ``a_t^H x`` is formed once per (n, q), the delay and Doppler factors are
outer products over (i, t), and the receive steering vector is applied last, so every step is
one einsum (jit-able, vmappable over scenarios, differentiable in positions, velocities and ``x``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core.arrays import ula_response
from ..core.units import db_to_linear
from ..core.validate import check_finite, check_int, check_positive, is_concrete
from .config import SPEED_OF_LIGHT


def bistatic_geometry(tx, rx, points, velocities, *, carrier_hz=30e9):
    """Distances, direction cosines, delays and Doppler shifts of every (n, m, q) path.

    ``tx[N,2]``, ``rx[M,2]``, ``points[Q,2]`` (m), ``velocities[Q,2]`` (m/s). Returns a dict with
    ``cos_tx[N,Q]``, ``cos_rx[M,Q]``, ``range_m[N,M,Q]`` (bistatic, (B.7)), ``delay_s[N,M,Q]`` (B.8)
    and ``doppler_hz[N,M,Q]`` (B.9)-(B.11).
    """
    dt = points[None, :, :] - tx[:, None, :]                       # g - t  [N,Q,2]
    dr = points[None, :, :] - rx[:, None, :]                       # g - r  [M,Q,2]
    d_tx = jnp.linalg.norm(dt, axis=-1)
    d_rx = jnp.linalg.norm(dr, axis=-1)
    cos_tx, sin_tx = -dt[..., 0] / d_tx, dt[..., 1] / d_tx
    cos_rx, sin_rx = dr[..., 0] / d_rx, -dr[..., 1] / d_rx
    v_tx = -velocities[None, :, 0] * cos_tx + velocities[None, :, 1] * sin_tx          # (B.10)
    v_rx = velocities[None, :, 0] * cos_rx - velocities[None, :, 1] * sin_rx           # (B.11)
    rng = d_tx[:, None, :] + d_rx[None, :, :]
    return {"cos_tx": cos_tx, "cos_rx": cos_rx, "range_m": rng, "delay_s": rng / SPEED_OF_LIGHT,
            "doppler_hz": (v_tx[:, None, :] + v_rx[None, :, :]) * carrier_hz / SPEED_OF_LIGHT}


def check_echo_kwargs(*, carrier_hz, scs_hz, cp_s, pathloss_ref_db, pathloss_exp, ref_distance_m) -> None:
    """Validate the system keywords of :func:`noiseless_echo` (concrete values; tracers skipped)."""
    for name, v in (("carrier_hz", carrier_hz), ("scs_hz", scs_hz), ("pathloss_exp", pathloss_exp),
                    ("ref_distance_m", ref_distance_m)):
        check_positive(name, v)
    check_positive("cp_s", cp_s, allow_zero=True)
    check_finite("pathloss_ref_db", pathloss_ref_db, allow_complex=False)


def _check(tx, rx, points, velocities, beta, x, n_rx):
    """Shapes of the arguments of :func:`path_factors` (always), finiteness and targets away from the
    APs (concrete values only: the tracer rule of ``core.validate``)."""
    for name, arr in (("tx", tx), ("rx", rx), ("targets", points), ("velocities", velocities)):
        if jnp.ndim(arr) != 2 or jnp.shape(arr)[1] != 2:
            raise ValueError(f"{name} must have shape [n, 2] (x, y in metres), got {list(jnp.shape(arr))}")
    N, M, Q = tx.shape[0], rx.shape[0], points.shape[0]
    if velocities.shape[0] != Q:
        raise ValueError(f"velocities must have shape [Q={Q}, 2], got {list(velocities.shape)}")
    if jnp.shape(beta) != (N, M, Q):
        raise ValueError(f"beta must have shape [N={N}, M={M}, Q={Q}], got {list(jnp.shape(beta))}")
    if jnp.ndim(x) != 4 or jnp.shape(x)[0] != N:
        raise ValueError(f"x must have shape [N={N}, N_t, N_s, T_s], got {list(jnp.shape(x))}")
    check_int("n_rx", n_rx)
    for name, arr in (("tx", tx), ("rx", rx), ("targets", points), ("velocities", velocities)):
        check_finite(name, arr, allow_complex=False)
    check_finite("beta", beta)
    check_finite("x", x)
    if is_concrete((tx, rx, points)) and Q > 0:
        aps = jnp.concatenate([tx, rx])
        d = jnp.linalg.norm(points[:, None, :] - aps[None], axis=-1)
        if bool(jnp.any(d < 1e-3)):
            raise ValueError("targets must not coincide with an AP (distance to every AP must be >= 1 mm)")


class PathFactors(NamedTuple):
    """Separable factors of (B.6): ``delay[N,M,Q,N_s]`` (including ``beta sqrt(PL)``),
    ``doppler[N,M,Q,T_s]``, ``tx_beam[N,Q,N_s,T_s]`` (``a_t^H x_{i,n}[t]``), ``a_r[M,Q,M_r]``."""

    delay: jax.Array
    doppler: jax.Array
    tx_beam: jax.Array
    a_r: jax.Array


def path_factors(tx, rx, points, velocities, beta, x, *, n_rx=16, carrier_hz=30e9, scs_hz=240e3,
                 cp_s=1.04e-6, pathloss_ref_db=-60.0, pathloss_exp=2.0, ref_distance_m=1.0,
                 doppler_points=None) -> PathFactors:
    """The separable factors of every (n, m, q) path of (B.6) (see :class:`PathFactors`).

    ``doppler_points`` (default ``points``): the positions whose direction cosines enter the
    Doppler shift (B.9)-(B.11). Passing ``jax.lax.stop_gradient(points)`` drops the position
    dependence of the Doppler from derivatives, as Appendix B.A's (35) does.
    """
    _check(tx, rx, points, velocities, beta, x, n_rx)
    check_echo_kwargs(carrier_hz=carrier_hz, scs_hz=scs_hz, cp_s=cp_s, pathloss_ref_db=pathloss_ref_db,
                      pathloss_exp=pathloss_exp, ref_distance_m=ref_distance_m)
    N, Nt, Ns, Ts = x.shape
    geo = bistatic_geometry(tx, rx, points, velocities, carrier_hz=carrier_hz)
    if doppler_points is not None:
        geo["doppler_hz"] = bistatic_geometry(tx, rx, doppler_points, velocities, carrier_hz=carrier_hz)["doppler_hz"]
    pl = db_to_linear(pathloss_ref_db) * (geo["range_m"] / ref_distance_m) ** (-pathloss_exp)
    amp = beta * jnp.sqrt(pl)                                                      # A_nmq
    real = jnp.real(amp).dtype
    i = jnp.arange(Ns, dtype=real)[None, None, None, :]                            # [1,1,1,Ns]
    t = jnp.arange(1, Ts + 1, dtype=real)[None, None, None, :]                     # [1,1,1,Ts]
    delay = amp[..., None] * jnp.exp(-2j * jnp.pi * scs_hz * geo["delay_s"][..., None] * i)   # (B.6) [N,M,Q,Ns]
    doppler = jnp.exp(2j * jnp.pi * (1.0 / scs_hz + cp_s) * geo["doppler_hz"][..., None] * t)  # [N,M,Q,Ts]
    a_t = ula_response(geo["cos_tx"], Nt, normalise=True)                          # [N,Q,Nt]
    a_r = ula_response(geo["cos_rx"], n_rx, normalise=True)                        # [M,Q,Mr]
    return PathFactors(delay=delay, doppler=doppler, tx_beam=jnp.einsum("nqa,nait->nqit", jnp.conj(a_t), x),
                       a_r=a_r)


def combine_paths(f: PathFactors, offsets=None):
    """``y_{i,m}[t] = sum_{n,q} a_r (delay doppler a_t^H x)`` (B.6), optionally times the per-(n, m)
    TO/CFO factor ``offsets[N,M,N_s,T_s]`` (B.30). Output ``[M, M_r, N_s, T_s]``.

    Written as broadcast products summed over the short axes (n, q): XLA fuses them into one pass
    over the output, which is faster than a contraction over n and q of size 2-4.
    """
    z = f.delay[..., :, None] * f.doppler[..., None, :] * f.tx_beam[:, None]       # [N,M,Q,Ns,Ts]
    if offsets is not None:
        z = z * offsets[:, :, None]
    z = jnp.sum(z, axis=0)                                                         # [M,Q,Ns,Ts]
    return jnp.sum(f.a_r[:, :, :, None, None] * z[:, :, None], axis=1)


def noiseless_echo(tx, rx, targets, velocities, beta, x, *, n_rx=16, carrier_hz=30e9, scs_hz=240e3, cp_s=1.04e-6,
                   pathloss_ref_db=-60.0, pathloss_exp=2.0, ref_distance_m=1.0):
    """(B.22): noiseless sensing signal ``rho[M, M_r, N_s, T_s]`` at every receive AP (stable API).

    ``tx[N,2]``, ``rx[M,2]``, ``targets[Q,2]`` (m), ``velocities[Q,2]`` (m/s), ``beta[N,M,Q]``
    complex, ``x[N,N_t,N_s,T_s]`` transmit signals (sqrt(W)).
    """
    return combine_paths(path_factors(tx, rx, targets, velocities, beta, x, n_rx=n_rx, carrier_hz=carrier_hz,
                                      scs_hz=scs_hz, cp_s=cp_s, pathloss_ref_db=pathloss_ref_db,
                                      pathloss_exp=pathloss_exp, ref_distance_m=ref_distance_m))


def clock_offsets(key, n_tx, n_rx, n_symbols, *, timing_offset_std_s, cfo_std_hz, dtype=jnp.float32):
    """(B.30) residual TO ``tau_o[N,M,T_s]`` (s) and CFO ``f_o[N,M,T_s]`` (Hz), real Gaussian (SPEC decision)."""
    check_positive("timing_offset_std_s", timing_offset_std_s, allow_zero=True)
    check_positive("cfo_std_hz", cfo_std_hz, allow_zero=True)
    k1, k2 = jax.random.split(key)
    shape = (n_tx, n_rx, n_symbols)
    return (timing_offset_std_s * jax.random.normal(k1, shape, dtype),
            cfo_std_hz * jax.random.normal(k2, shape, dtype))


def offset_phase(timing_offset_s, cfo_hz, n_subcarriers, *, scs_hz=240e3, cp_s=1.04e-6):
    """(B.30) factor ``exp(-j2pi i tau_o Df) exp(j2pi f_o t DT)`` as ``[N, M, N_s, T_s]``."""
    real = jnp.asarray(timing_offset_s).dtype
    i = jnp.arange(n_subcarriers, dtype=real)[None, None, :, None]                 # [1,1,Ns,1]
    t = jnp.arange(1, timing_offset_s.shape[-1] + 1, dtype=real)[None, None, :]    # [1,1,Ts]
    phase = (-2.0 * jnp.pi * scs_hz * i * timing_offset_s[:, :, None, :]
             + 2.0 * jnp.pi * (1.0 / scs_hz + cp_s) * (cfo_hz * t)[:, :, None, :])
    return jnp.exp(1j * phase)
