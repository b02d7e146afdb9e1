"""Fisher information and Cramér-Rao bounds for collaborative localisation (Paper A, Sec. III.C).

SPEC decision: the exact complex-Gaussian FIM of the whitened statistics,
``J(v) = 2 Re sum_k tr(dA_hat_k^H dA_hat_k)``. Because
``||X (C_k C_k^H/P)^{1/2}||_F^2 = ||X C_k||_F^2 / P``, the whitened misfit equals the misfit of the
equivalent mean ``mu_k(v) = (sqrt(T)/varsigma_k) a_k a_k^T C_k`` (``[M, I]``), so

    J_ij(v) = (2T) Re sum_k tr(d_i(a_k a_k^T) C_k C_k^H d_j(a_k a_k^T)^H) / varsigma_k^2.

P cancels (it only scales ``Xi_k`` and its whitening); ``P`` is still validated. (A.22) has the same
form without the factor 2 and the real part (the paper's FIM of a complex parameterisation); we
keep the exact real-parameter FIM. Computed with ``jax.hessian`` of the noiseless misfit
(:func:`fisher_information`) and, for cross-checks, the Jacobian Gram form
(:func:`fisher_information_gram`).

Theorem 2 with the constant from its definition: with ``S_k(v) = sum_i ||d_i(a_k a_k^T)||_F^2``,
``tr J <= 2T sum_k ||C_k||_F^2 S_k / varsigma_k^2 <= 2T S_max E / varsigma_bar^2`` and
``tr J^{-1} >= 9 / tr J``, so ``CRB_L = rho varsigma_bar^2 / (T E)`` with ``rho = 9 / (2 S_max)``,
``S_max = max_{k, v in region} S_k(v)``. ``CRB_L <= CRB(v)`` then holds for every v in the region.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..core.fisher import crb_trace, fim_gram, fim_hessian
from ..core.geometry import RingSector
from ._checks import check_sensing_inputs
from .echo import array_responses, round_trip


def _equivalent_mean_fn(devices, C, echo_noise_var, T, alpha0, gamma):
    K, M, _ = C.shape
    scale = jnp.sqrt(T / jnp.broadcast_to(jnp.asarray(echo_noise_var), (K,)))

    def mu(v):
        a = array_responses(v, devices, M, alpha0=alpha0, gamma=gamma)      # [K, M]
        aTc = jnp.einsum("km,kmi->ki", a, C)                                 # a_k^T C_k  [K, I]
        return (scale[:, None] * a)[:, :, None] * aTc[:, None, :]            # [K, M, I]

    return mu


def fisher_information(target, devices, C, echo_noise_var, T, P, *, alpha0=1.0, gamma=1.0):
    """3x3 FIM of the target position (m^-2), by ``jax.hessian`` of the noiseless misfit.

    ``target[3]``, ``devices[K,3]`` (m), ``C[K,M,I]``, ``echo_noise_var`` scalar or ``[K]`` (W),
    ``T`` frame length, ``P`` power budget (W; cancels).
    """
    check_sensing_inputs(target, devices, C, echo_noise_var, T, P)
    mu = _equivalent_mean_fn(devices, C, echo_noise_var, T, alpha0, gamma)
    return fim_hessian(mu, jnp.asarray(target))


def fisher_information_gram(target, devices, C, echo_noise_var, T, P, *, alpha0=1.0, gamma=1.0):
    """Same FIM by the Jacobian Gram form ``2 Re J^H J`` (cross-check of :func:`fisher_information`)."""
    check_sensing_inputs(target, devices, C, echo_noise_var, T, P)
    mu = _equivalent_mean_fn(devices, C, echo_noise_var, T, alpha0, gamma)
    return fim_gram(mu, jnp.asarray(target))


def round_trip_jacobians(targets, devices, n_antennas: int, *, alpha0=1.0, gamma=1.0):
    """``d(a_k a_k^T)/d l_i`` at every target of ``targets[S, 3]``, by ``jax.jacfwd``: ``[S, K, 3, M, M]``.

    They do not depend on the precoders, so a design loop computes them once and then evaluates
    the FIM for many ``C`` with :func:`fisher_information_batch`.
    """
    def one(v):
        jac = jax.jacfwd(lambda u: round_trip(u, devices, n_antennas, alpha0=alpha0, gamma=gamma))(v)  # [K,M,M,3]
        return jnp.moveaxis(jac, -1, 1)

    return jax.vmap(one)(jnp.asarray(targets))


def fisher_information_batch(jacobians, C, echo_noise_var, T):
    """FIM at every target from :func:`round_trip_jacobians` ``[S, K, 3, M, M]``: ``[S, 3, 3]`` (m^-2).

    ``J_ij = 2T Re sum_k tr(d_i(a_k a_k^T) C_k C_k^H d_j(a_k a_k^T)^H) / varsigma_k^2`` — the same
    FIM as :func:`fisher_information`, quadratic in ``C`` (cheap to differentiate in ``C``).
    """
    K = C.shape[0]
    inv_var = 1.0 / jnp.broadcast_to(jnp.asarray(echo_noise_var), (K,))
    Y = jnp.einsum("skimn,knj->skimj", jacobians, C)                            # d_i(a_k a_k^T) C_k
    Y = jnp.concatenate([jnp.real(Y), jnp.imag(Y)], axis=-1)                   # Re tr(Y_i Y_j^H), real GEMMs
    return 2.0 * T * jnp.einsum("skimj,skljm,k->sil", Y, jnp.swapaxes(Y, -1, -2), inv_var)


def crb(target, devices, C, echo_noise_var, T, P, *, alpha0=1.0, gamma=1.0):
    """(A.19): ``CRB(v) = tr J(v)^{-1}`` — bound on the total position MSE (m^2).

    A singular FIM (the position is not identifiable, e.g. all-zero precoders send no echo energy)
    gives ``+inf``, never NaN: the Cholesky solve fails there, and a failed solve of a finite FIM
    is reported as the infinite bound. Arguments as :func:`fisher_information` (NaN/inf inputs are
    refused there at the Python boundary).
    """
    J = fisher_information(target, devices, C, echo_noise_var, T, P, alpha0=alpha0, gamma=gamma)
    out = crb_trace(J)
    singular = ~jnp.isfinite(out) & jnp.all(jnp.isfinite(J))
    return jnp.where(singular, jnp.inf, out)


def echo_sensitivity(target, device, n_antennas: int, *, alpha0=1.0, gamma=1.0):
    """``S_k(v) = sum_{i in x,y,z} ||d/dl_i (a_k a_k^T)||_F^2`` for one device (m^-2 x amplitude^4)."""
    jac = jax.jacfwd(lambda v: round_trip(v, device[None], n_antennas, alpha0=alpha0, gamma=gamma)[0])(
        jnp.asarray(target))                                           # [M, M, 3]
    return jnp.sum(jnp.abs(jac) ** 2)


def maximise_over_region(fn, region: RingSector, *, grid_shape=(8, 8, 3), n_steps: int = 30,
                         step_m: float | None = None):
    """Approximate ``max_{v in region} fn(v)``: vmapped grid search, then projected gradient ascent.

    The ascent takes normalised steps of geometrically shrinking length from the best grid point,
    projecting onto the region after each step, and keeps the best value seen. Returns
    ``(value, argmax[3])``.
    """
    grid = region.grid(*grid_shape)
    vals = jax.vmap(fn)(grid)
    i0 = jnp.argmax(vals)
    if step_m is None:
        step_m = 0.5 * max(region.r_max_m - region.r_min_m, region.z_max_m - region.z_min_m, 1e-3)
    grad_fn = jax.value_and_grad(fn)

    def body(carry, i):
        v, best_v, best = carry
        val, g = grad_fn(v)
        better = val > best
        best_v = jnp.where(better, v, best_v)
        best = jnp.where(better, val, best)
        g = jnp.where(jnp.all(jnp.isfinite(g)), g, 0.0)
        step = step_m * 0.8**i / (jnp.linalg.norm(g) + 1e-30)
        v = region.project(v + step * g)
        return (v, best_v, best), None

    (v, best_v, best), _ = jax.lax.scan(body, (grid[i0], grid[i0], vals[i0]), jnp.arange(n_steps))
    last = fn(v)
    return jnp.where(last > best, last, best), jnp.where(last > best, v, best_v)


def universal_constant(devices, n_antennas: int, region: RingSector, *, alpha0=1.0, gamma=1.0,
                       grid_shape=(8, 8, 3), n_steps: int = 30):
    """Theorem 2's ``rho = 9 / (2 max_{k, v in region} S_k(v))`` (SPEC §2, factor 2 of the exact FIM)."""
    def s_max(v):
        return jnp.max(jax.vmap(lambda d: echo_sensitivity(v, d, n_antennas, alpha0=alpha0, gamma=gamma))(devices))

    smax, _ = maximise_over_region(s_max, region, grid_shape=grid_shape, n_steps=n_steps)
    return 9.0 / (2.0 * smax)


def crb_lower_bound(C, echo_noise_var, T, rho):
    """Theorem 2: ``CRB_L = rho varsigma_bar^2 / (T E)``, ``E = sum_k ||C_k||_F^2``,
    ``1/varsigma_bar^2 = sum_k 1/varsigma_k^2`` (m^2)."""
    K = C.shape[0]
    inv_bar = jnp.sum(1.0 / jnp.broadcast_to(jnp.asarray(echo_noise_var), (K,)))
    energy = jnp.sum(jnp.abs(C) ** 2)
    return rho / (inv_bar * T * energy)


def worst_case_crb(devices, C, echo_noise_var, T, P, region: RingSector, *, alpha0=1.0, gamma=1.0,
                   grid_shape=(8, 8, 3), n_steps: int = 30):
    """(A.21): ``max_{v in region} CRB(v)``, by grid search refined with projected gradient ascent.

    Returns ``(crb_worst, v_worst[3])``.
    """
    def f(v):
        mu = _equivalent_mean_fn(devices, C, echo_noise_var, T, alpha0, gamma)
        return crb_trace(fim_gram(mu, v))

    return maximise_over_region(f, region, grid_shape=grid_shape, n_steps=n_steps)
