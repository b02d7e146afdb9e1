"""Maximum-likelihood target localisation from the whitened statistics (Paper A, Sec. III.B).

Local loss (A.18): ``l_k(v) = ||Xi_hat_k - A_hat_k(v)||_F^2``; global loss ``l(v) = sum_k l_k(v)``;
the joint ML estimate (A.17) minimises ``l``. :func:`ml_localize` is the centralised joint ML
estimator: a vmapped grid search over the target region, then Levenberg-Marquardt (damped
Gauss-Newton on the real-stacked residual) for a fixed number of jitted iterations. Vmap it over
trials for Monte Carlo studies.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..core.geometry import RingSector
from ..core.validate import check_finite, check_int, check_positive, check_shape
from .echo import whitened_mean


def local_losses(v, Xi_hat, devices, C, echo_noise_var, T, P, *, alpha0=1.0, gamma=1.0, correlation=None):
    """(A.18) for every device. ``Xi_hat[K,M,M]``. Output real ``[K]``."""
    A = whitened_mean(v, devices, C, echo_noise_var, T, P, alpha0=alpha0, gamma=gamma, correlation=correlation)
    d = Xi_hat - A
    return jnp.sum(jnp.real(d) ** 2 + jnp.imag(d) ** 2, axis=(1, 2))


def local_gradients(v, Xi_hat, devices, C, echo_noise_var, T, P, *, alpha0=1.0, gamma=1.0, correlation=None):
    """``grad_v l_k(v)`` for every device — what device k sends in CollabSenseFed. Output ``[K, 3]``."""
    return jax.jacrev(lambda w: local_losses(w, Xi_hat, devices, C, echo_noise_var, T, P, alpha0=alpha0,
                                             gamma=gamma, correlation=correlation))(v)


def ml_localize(Xi_hat, devices, C, echo_noise_var, T, P, region: RingSector, *, alpha0=1.0, gamma=1.0,
                correlation=None, grid_shape=(10, 10, 4), n_iter: int = 25):
    """Joint ML estimate of the target position (m): grid search then Levenberg-Marquardt.

    ``Xi_hat[K,M,M]`` whitened statistics; ``region`` the prior target region used for the grid.
    Output ``[3]``. Arguments are checked at the Python boundary (shapes, finite statistics,
    positive noise, ``T`` and ``P``); inside the search they are traced.
    """
    if not isinstance(region, RingSector):
        raise TypeError(f"region must be a RingSector, got {type(region).__name__}")
    if jnp.ndim(devices) != 2 or jnp.ndim(C) != 3:
        raise ValueError(f"devices must have shape [K, 3] and C [K, M, I], got {list(jnp.shape(devices))} and "
                         f"{list(jnp.shape(C))}")
    K, M = jnp.shape(C)[0], jnp.shape(C)[1]
    check_shape("Xi_hat", Xi_hat, (K, M, M))
    check_finite("Xi_hat", Xi_hat)
    check_finite("devices", devices, allow_complex=False)
    check_finite("C", C)
    check_positive("echo_noise_var", echo_noise_var)
    check_positive("T", T)
    check_positive("P", P)
    n_iter = check_int("n_iter", n_iter, minimum=0)

    def residual(v):
        d = Xi_hat - whitened_mean(v, devices, C, echo_noise_var, T, P, alpha0=alpha0, gamma=gamma,
                                   correlation=correlation)
        return jnp.concatenate([jnp.ravel(jnp.real(d)), jnp.ravel(jnp.imag(d))])

    def loss(v):
        return jnp.sum(residual(v) ** 2)

    grid = region.grid(*grid_shape)
    v0 = grid[jnp.argmin(jax.vmap(loss)(grid))]

    def body(carry, _):
        v, lam, cur = carry
        r = residual(v)
        J = jax.jacfwd(residual)(v)                                   # [2n, 3]
        JtJ = J.T @ J
        step = -jnp.linalg.solve(JtJ + lam * jnp.diag(jnp.diag(JtJ) + 1e-30), J.T @ r)
        cand = v + step
        new = loss(cand)
        ok = jnp.isfinite(new) & (new < cur)
        v = jnp.where(ok, cand, v)
        cur = jnp.where(ok, new, cur)
        lam = jnp.where(ok, lam * 0.3, lam * 10.0)
        return (v, lam, cur), None

    init = (v0, jnp.asarray(1e-2, dtype=v0.dtype), loss(v0))
    (v, _, _), _ = jax.lax.scan(body, init, None, length=n_iter)
    return v
