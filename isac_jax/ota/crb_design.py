"""Beyond Paper A: CRB-aware beamformer design with the exact worst-case CRB as sensing constraint.

Paper A's epsilon-constraint design (:mod:`isac_jax.ota.design`) controls sensing only through
the energy ``E = sum_k ||C_k||_F^2`` in Theorem 2's ``CRB_L = rho varsigma_bar^2 / (T E)``, a
*lower* bound that ignores where the precoders point. Here the sensing constraint is the exact
worst-case CRB over the target region (A.21),

    min_{M, C}  MSE_bar(M, C)   s.t.  ||C_k||_F^2 <= P,   smax_{v in S} CRB(v; C) <= beta,

with ``S`` a fixed set of region samples and ``smax`` the log-sum-exp smooth maximum in the log
domain, ``exp(tau logsumexp(log CRB / tau))`` — never below the hard maximum over ``S`` (so the
constraint is conservative) and at most ``|S|^tau`` times above it. ``CRB(v; C)`` is
``tr J(v)^{-1}``, with the round-trip Jacobians ``d(a_k a_k^T)/dv`` at the samples taken once by
``jax.jacfwd`` and ``J`` then formed for each ``C`` (:func:`isac_jax.ota.fisher_information_batch`,
equal to :func:`isac_jax.ota.fisher_information`); the gradient in ``C`` is by autodiff.

Solver: block coordinate descent as in Algorithm 1 — closed-form receiver (A.32), then a C-step
on the augmented Lagrangian ``f(C) + (r/2) max(0, g(C) + lambda/r)^2`` with
``g = log smax CRB - log beta`` by backtracking projected gradient onto the per-device power balls
(:mod:`isac_jax.core.optim`); after each C-step ``lambda <- max(0, lambda + r g)`` and ``r`` grows
geometrically (inexact augmented-Lagrangian BCD). A design is *feasible* when its smooth worst-case
CRB is within ``feasibility_tol`` of ``beta``; the front function reports that flag rather than
hiding infeasible targets.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core.fisher import crb_trace
from ..core.optim import projected_gradient
from ..core.projections import project_precoders
from ..core.validate import check_int, check_positive
from ._checks import check_ota_shapes
from .aggregation import aggregation_mse, optimal_receiver
from .bounds import fisher_information_batch, round_trip_jacobians
from .design import cstep_objective, cstep_problem, initial_precoders


def smooth_max_crb(jacobians, C, echo_noise_var, T, *, temperature: float = 0.05):
    """Smooth maximum of ``CRB(v_s; C)`` (m^2) over the targets whose round-trip Jacobians
    ``[S, K, 3, M, M]`` (:func:`isac_jax.ota.round_trip_jacobians`) are given.

    ``exp(tau logsumexp(log CRB(v_s) / tau))``: ``max_s CRB <= value <= S^tau max_s CRB``.
    Differentiable in ``C[K,M,I]``.
    """
    fims = fisher_information_batch(jacobians, C, echo_noise_var, T)
    log_crb = jnp.log(jax.vmap(crb_trace)(fims))
    return jnp.exp(temperature * jax.nn.logsumexp(log_crb / temperature))


def smooth_worst_crb(C, devices, samples, echo_noise_var, T, *, temperature: float = 0.05, alpha0=1.0, gamma=1.0):
    """:func:`smooth_max_crb` over the target positions ``samples[S, 3]`` (m) for devices ``[K, 3]``."""
    jac = round_trip_jacobians(samples, devices, C.shape[1], alpha0=alpha0, gamma=gamma)
    return smooth_max_crb(jac, C, echo_noise_var, T, temperature=temperature)


class CrbAwareTrace(NamedTuple):
    """Receivers ``Mrx[T,N,I]``, precoders ``C[K,M,I]``, histories ``mse[max_iter+1]`` (MSE_bar) and
    ``crb_smooth[max_iter+1]`` (smooth worst-case CRB, m^2), final multiplier and ``feasible`` flag."""

    Mrx: jax.Array
    C: jax.Array
    mse: jax.Array
    crb_smooth: jax.Array
    multiplier: jax.Array
    feasible: jax.Array


def design_crb_aware(H, W, pulses, noise_var, P, crb_max, devices, echo_noise_var, samples, *, max_iter: int = 40,
                     n_inner: int = 50, penalty: float = 10.0, penalty_growth: float = 1.3,
                     temperature: float = 0.05, feasibility_tol: float = 0.01, alpha0=1.0, gamma=1.0,
                     key=None) -> CrbAwareTrace:
    """Minimise MSE_bar subject to per-device power ``P`` and smooth worst-case CRB ``<= crb_max``.

    ``H[K,N,M]``, ``W[K,I,I]``, ``pulses[K,T]`` (T is also the sensing frame length),
    ``noise_var`` (PS noise, W), ``crb_max`` (m^2), ``devices[K,3]`` (m), ``echo_noise_var`` (W, scalar
    or ``[K]``), ``samples[S,3]`` target positions covering the region (e.g. ``region.grid()``).
    ``penalty`` is the initial augmented-Lagrangian weight relative to the starting MSE_bar.
    Fixed ``max_iter`` BCD iterations (the multiplier keeps moving, so no early stop).
    """
    K, N, M, I, T = check_ota_shapes(H, jnp.zeros((H.shape[0], H.shape[2], W.shape[-1]), H.dtype), W, pulses)
    check_positive("noise_var", noise_var, allow_zero=True)
    check_positive("P", P)
    check_positive("crb_max", crb_max)
    check_positive("echo_noise_var", echo_noise_var)
    check_positive("penalty", penalty)
    max_iter = check_int("max_iter", max_iter)
    n_inner = check_int("n_inner", n_inner)
    if jnp.ndim(samples) != 2 or jnp.shape(samples)[1] != 3:
        raise ValueError(f"samples must have shape [S, 3], got {list(jnp.shape(samples))}")

    def ball(C):
        return project_precoders(C, P, 0.0)

    jac = round_trip_jacobians(samples, devices, M, alpha0=alpha0, gamma=gamma)

    def worst(C):
        return smooth_max_crb(jac, C, echo_noise_var, T, temperature=temperature)

    log_beta = jnp.log(crb_max)
    C0 = ball(initial_precoders(K, M, I, P, dtype=jnp.real(H).dtype, key=key))
    Mrx0 = optimal_receiver(H, C0, W, pulses, noise_var)
    mse0 = aggregation_mse(Mrx0, H, C0, W, pulses, noise_var)
    r0 = penalty * mse0

    def step(carry, _):
        Mrx, C, lam, r = carry
        prob = cstep_problem(Mrx, H, W, pulses)
        # 1/L of the quadratic part: the penalty only adds curvature, so no longer step is useful.
        step_max = 1.0 / jnp.maximum(jnp.max(jnp.linalg.eigvalsh(prob.Q)), 1e-30)

        def lagrangian(Cv):
            g = jnp.log(worst(Cv)) - log_beta
            return cstep_objective(prob, Cv) + 0.5 * r * jnp.maximum(0.0, g + lam / r) ** 2

        state = projected_gradient(lagrangian, C, ball, n_iter=n_inner, step0=step_max, max_step=step_max)
        C = state.x
        g = jnp.log(worst(C)) - log_beta
        lam = jnp.maximum(0.0, lam + r * g)
        Mrx = optimal_receiver(H, C, W, pulses, noise_var)
        mse = aggregation_mse(Mrx, H, C, W, pulses, noise_var)
        return (Mrx, C, lam, r * penalty_growth), (mse, worst(C))

    init = (Mrx0, C0, jnp.zeros((), mse0.dtype), r0)
    (Mrx, C, lam, _), (mse_h, crb_h) = jax.lax.scan(step, init, None, length=max_iter)
    mse_h = jnp.concatenate([mse0[None], mse_h])
    crb_h = jnp.concatenate([worst(C0)[None], crb_h])
    return CrbAwareTrace(Mrx=Mrx, C=C, mse=mse_h, crb_smooth=crb_h, multiplier=lam,
                         feasible=crb_h[-1] <= crb_max * (1.0 + feasibility_tol))
