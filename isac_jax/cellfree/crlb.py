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

import jax.numpy as jnp

from ..core.fisher import crb_matrix, fim_gram, fim_hessian, schur_fim
from ..core.units import dbm_to_watt
from .echo import noiseless_echo


def _pack(targets, velocities, beta):
    return jnp.concatenate([targets.reshape(-1), velocities.reshape(-1), jnp.real(beta).reshape(-1),
                            jnp.imag(beta).reshape(-1)])


def crlb(tx, rx, targets, velocities, beta, x, *, n_rx=16, carrier_hz=30e9, scs_hz=240e3, cp_s=1.04e-6,
         pathloss_ref_db=-60.0, pathloss_exp=2.0, ref_distance_m=1.0, noise_dbm=-90.0, method="gram"):
    """(B.24): ``CRLB_psi[4Q, 4Q]`` (m^2 and (m/s)^2 on the diagonal). ``method``: gram | hessian."""
    if method not in ("gram", "hessian"):
        raise ValueError(f"method must be 'gram' or 'hessian', got {method!r}")
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
        return noiseless_echo(tx, rx, g, v, b, x, **kw)

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
