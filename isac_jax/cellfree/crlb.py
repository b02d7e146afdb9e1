"""CRLB of target locations and velocities (Paper B, (B.22)-(B.28)) by autodiff.

``eta = [psi; Re beta; Im beta]`` with ``psi = [g_1x, g_1y, ..., g_Qx, g_Qy, v_1x, ..., v_Qy]``
(SPEC §13 order). ``F = (2/xi^2) Re sum (d rho/d eta)^H (d rho/d eta)`` (B.23) with ``rho`` the
noiseless echo (B.22), by the Jacobian Gram form (``jax.jacfwd``) or ``jax.hessian`` of the
noiseless misfit (the two agree); ``CRLB_psi`` is the inverse of the Schur complement (B.24),
with Cholesky solves. Autodiff differentiates the exact model: unlike the closed-form derivatives
of Appendix B.A it keeps the angle dependence of the Doppler term (``f_D`` depends on the target
position through the direction cosines in (B.10)/(B.11)), so the velocity-position coupling of
``F`` is complete.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..core.fisher import crb_matrix, fim_gram, fim_hessian, schur_fim
from ..core.units import dbm_to_watt
from ..core.arrays import ula_response
from ..core.units import db_to_linear
from .config import SPEED_OF_LIGHT
from ..core.validate import check_finite
from .echo import _check, check_echo_kwargs, combine_paths, noiseless_echo, path_factors


def _pack(targets, velocities, beta):
    return jnp.concatenate([targets.reshape(-1), velocities.reshape(-1), jnp.real(beta).reshape(-1),
                            jnp.imag(beta).reshape(-1)])


def crlb(tx, rx, targets, velocities, beta, x, *, n_rx=16, carrier_hz=30e9, scs_hz=240e3, cp_s=1.04e-6,
         pathloss_ref_db=-60.0, pathloss_exp=2.0, ref_distance_m=1.0, noise_dbm=-90.0, method="gram",
         doppler_position_term=True):
    """(B.24): ``CRLB_psi[4Q, 4Q]`` (m^2 and (m/s)^2 on the diagonal). ``method``: gram | hessian.

    ``doppler_position_term=False`` differentiates a model whose Doppler shift does not move with
    the target position (as Appendix B.A's (35) assumes); it then equals :func:`crlb_closed_form`.
    """
    if method not in ("gram", "hessian"):
        raise ValueError(f"method must be 'gram' or 'hessian', got {method!r}")
    # Checked here, on the concrete arguments: inside the autodiff below they are traced.
    _check(tx, rx, targets, velocities, beta, x, n_rx)
    check_finite("noise_dbm", noise_dbm, allow_complex=False)
    Q = targets.shape[0]
    shape_b = beta.shape
    nb = beta.size
    kw = dict(n_rx=n_rx, carrier_hz=carrier_hz, scs_hz=scs_hz, cp_s=cp_s, pathloss_ref_db=pathloss_ref_db,
              pathloss_exp=pathloss_exp, ref_distance_m=ref_distance_m)
    real = jnp.real(x).dtype

    def rho(eta):
        g = eta[:2 * Q].reshape(Q, 2)
        v = eta[2 * Q:4 * Q].reshape(Q, 2)
        b = (eta[4 * Q:4 * Q + nb] + 1j * eta[4 * Q + nb:]).reshape(shape_b)
        if doppler_position_term:
            return noiseless_echo(tx, rx, g, v, b, x, **kw)
        return combine_paths(path_factors(tx, rx, g, v, b, x, doppler_points=jax.lax.stop_gradient(g), **kw))

    eta = _pack(jnp.asarray(targets, real), jnp.asarray(velocities, real), jnp.asarray(beta))
    noise = jnp.asarray(dbm_to_watt(noise_dbm), real)
    fim = (fim_gram if method == "gram" else fim_hessian)(rho, eta, noise)
    return crb_matrix(schur_fim(fim, 4 * Q))


def root_crlb(crlb_psi, n_targets: int):
    """(B.25)-(B.28) summed per target: root CRLB of location (m) and velocity (m/s), each ``[Q]``."""
    d = jnp.diagonal(crlb_psi)
    Q = n_targets
    loc = d[:2 * Q].reshape(Q, 2).sum(-1)
    vel = d[2 * Q:].reshape(Q, 2).sum(-1)
    return jnp.sqrt(loc), jnp.sqrt(vel)


def crlb_closed_form(tx, rx, targets, velocities, beta, x, *, n_rx=16, carrier_hz=30e9, scs_hz=240e3, cp_s=1.04e-6,
                     pathloss_ref_db=-60.0, pathloss_exp=2.0, ref_distance_m=1.0, noise_dbm=-90.0):
    """(B.24) from the hand-derived derivatives of Appendix B.A, (31)-(41), no autodiff.

    As the appendix, the phase derivative (35) keeps only the delay: the Doppler shift's dependence
    on the target position (through the direction cosines in (B.10)-(B.11)) is dropped. The angle
    derivatives are taken with respect to the direction cosines (``d a / d cos = -j pi k a`` for
    half-wavelength spacing, ``d cos theta / d g`` from the geometry of SPEC §5), which is (36)-(37)
    with (37) corrected: as printed, (37) reads ``-cot theta`` and lacks the ``1/d`` of a
    derivative by a position. Returns ``CRLB_psi[4Q, 4Q]``.
    """
    _check(tx, rx, targets, velocities, beta, x, n_rx)
    check_echo_kwargs(carrier_hz=carrier_hz, scs_hz=scs_hz, cp_s=cp_s, pathloss_ref_db=pathloss_ref_db,
                      pathloss_exp=pathloss_exp, ref_distance_m=ref_distance_m)
    check_finite("noise_dbm", noise_dbm, allow_complex=False)
    N, Nt, Ns, Ts = x.shape
    M, Q = rx.shape[0], targets.shape[0]
    real = jnp.real(x).dtype
    tx, rx = jnp.asarray(tx, real), jnp.asarray(rx, real)
    g, v = jnp.asarray(targets, real), jnp.asarray(velocities, real)
    dt = g[None] - tx[:, None]                                                   # [N, Q, 2]
    dr = g[None] - rx[:, None]                                                   # [M, Q, 2]
    d_t = jnp.linalg.norm(dt, axis=-1)
    d_r = jnp.linalg.norm(dr, axis=-1)
    cos_t, sin_t = -dt[..., 0] / d_t, dt[..., 1] / d_t                           # SPEC §5 orientations
    cos_r, sin_r = dr[..., 0] / d_r, -dr[..., 1] / d_r
    d = d_t[:, None] + d_r[None]                                                 # (B.7) [N, M, Q]
    lam = SPEED_OF_LIGHT / carrier_hz
    symbol_s = 1.0 / scs_hz + cp_s
    f_d = (-v[None, :, 0] * cos_t + v[None, :, 1] * sin_t)[:, None] + (v[None, :, 0] * cos_r
                                                                       - v[None, :, 1] * sin_r)[None]
    f_d = f_d / lam                                                              # (B.9) [N, M, Q]
    sqrt_pl = jnp.sqrt(db_to_linear(pathloss_ref_db) * (d / ref_distance_m) ** (-pathloss_exp))
    i = jnp.arange(Ns, dtype=real)
    t = jnp.arange(1, Ts + 1, dtype=real)
    phase = (jnp.exp(-2j * jnp.pi * scs_hz * (d / SPEED_OF_LIGHT)[..., None, None] * i[None, None, None, :, None])
             * jnp.exp(2j * jnp.pi * symbol_s * f_d[..., None, None] * t[None, None, None, None, :]))  # e^{-j phi}
    a_t = ula_response(cos_t, Nt, normalise=True)                                # [N, Q, Nt]
    a_r = ula_response(cos_r, n_rx, normalise=True)                              # [M, Q, Mr]
    k_t = jnp.arange(Nt, dtype=real)
    k_r = jnp.arange(n_rx, dtype=real)
    da_t = -1j * jnp.pi * k_t[None, None, :] * a_t                               # d a_t / d cos theta
    da_r = -1j * jnp.pi * k_r[None, None, :] * a_r
    s = jnp.einsum("nqa,nait->nqit", jnp.conj(a_t), x)                           # a_t^H x   [N, Q, Ns, Ts]
    ds = jnp.einsum("nqa,nait->nqit", jnp.conj(da_t), x)                         # (d a_t)^H x
    # d/d g of the geometry, [.., 2] over (x, y)
    dd_dg = (dt / d_t[..., None])[:, None] + (dr / d_r[..., None])[None]         # (34) [N, M, Q, 2]
    dcos_t = jnp.stack([-sin_t ** 2 / d_t, -cos_t * sin_t / d_t], -1)            # [N, Q, 2]
    dcos_r = jnp.stack([sin_r ** 2 / d_r, cos_r * sin_r / d_r], -1)              # [M, Q, 2]
    zeta = pathloss_exp
    base = (beta * sqrt_pl)[..., None, None] * phase                             # A e^{-j phi}  [N, M, Q, Ns, Ts]
    # amplitude and delay part: (dA/A - j dphi/dg) A e^{-j phi} a_r s
    amp = (-zeta / (2.0 * d))[..., None] * dd_dg                                 # [N, M, Q, 2]
    delay = -1j * (2.0 * jnp.pi * scs_hz / SPEED_OF_LIGHT) * dd_dg               # times i
    term_ad = (amp[..., None, None] + delay[..., None, None] * i[None, None, None, None, :, None]) \
        * (base * s[:, None])[:, :, :, None]                                     # [N, M, Q, 2, Ns, Ts]
    d_pos = (jnp.einsum("nmqcit,mqa->mqcait", term_ad, a_r)
             + jnp.einsum("nmqit,mqa,mqc->mqcait", base * s[:, None], da_r, dcos_r)
             + jnp.einsum("nmqit,mqa,nqc->mqcait", base * ds[:, None], a_r, dcos_t))     # [M, Q, 2, Mr, Ns, Ts]
    # (38)-(39): d phi / d v = -2 pi t DeltaT (f_c / c) (d f_D lambda / d v)
    dfd_dv = jnp.stack([-cos_t, sin_t], -1)[:, None] + jnp.stack([cos_r, -sin_r], -1)[None]   # [N, M, Q, 2]
    term_v = (1j * 2.0 * jnp.pi * symbol_s / lam) * dfd_dv[..., None, None] * t[None, None, None, None, None, :] \
        * (base * s[:, None])[:, :, :, None]                                     # -j dphi/dv * (...)
    d_vel = jnp.einsum("nmqcit,mqa->mqcait", term_v, a_r)                        # [M, Q, 2, Mr, Ns, Ts]
    # (41): d rho / d beta_nmq (only receive AP m sees it); Re and Im parts.
    d_beta = jnp.einsum("nmqit,mqa->nmqait", sqrt_pl[..., None, None] * phase * s[:, None], a_r)   # [N, M, Q, Mr, Ns, Ts]
    pos_rows = jnp.moveaxis(d_pos, 0, 2).reshape(Q * 2, M, -1)                   # [2Q, M, Mr Ns Ts] ((q, c) order)
    vel_rows = jnp.moveaxis(d_vel, 0, 2).reshape(Q * 2, M, -1)
    eye_m = jnp.eye(M, dtype=d_beta.dtype)
    beta_rows = (d_beta[:, :, :, None] * eye_m[None, :, None, :, None, None, None]).reshape(N * M * Q, M, -1)
    jac = jnp.concatenate([pos_rows, vel_rows, beta_rows, 1j * beta_rows]).reshape(4 * Q + 2 * N * M * Q, -1)
    fim = (2.0 / dbm_to_watt(noise_dbm)) * jnp.real(jnp.conj(jac) @ jac.T)
    return crb_matrix(schur_fim(fim, 4 * Q))
