"""Beamformer design for the epsilon-constraint problem P1 (Paper A, Sec. IV, Algorithm 1).

Block coordinate descent alternates

* **M-step** (A.32): the closed-form receiver :func:`isac_jax.ota.optimal_receiver`;
* **C-step** (A.33): ``min_C f(C) = (1/T) sum_t sum_k ||M[t]^H H_k C_k p_k[t] - W_k||_F^2``
  s.t. ``||C_k||_F^2 <= P`` and ``sum_k ||C_k||_F^2 >= 1/eps``, solved by accelerated projected
  gradient with the exact Euclidean projection of :mod:`isac_jax.core.projections` (SPEC §3
  decision — no cvxpy).

``f`` is a sum of per-device quadratics ``tr(C_k^H Q_k C_k) - 2 Re tr(B_k^H C_k) + ||W_k||^2`` with
``Q_k = (1/T) sum_t A_tk^H A_tk``, ``B_k = (1/T) sum_t p_k[t]^* A_tk^H W_k``, ``A_tk = M[t]^H H_k``
(``|p_k[t]| = 1``). The step is ``1 / L`` with ``L`` an upper bound on ``max_k lambda_max(Q_k)`` (the
Lipschitz constant of the Wirtinger gradient ``Q_k C_k - B_k``) within 9 % of it
(:func:`lambda_max_bound`). Momentum (FISTA) is restarted whenever the objective would increase, so
every C-step is monotone and BCD never increases MSE_bar; a C-step ends early once a step moves the
precoders by less than :data:`CSTEP_TOL` relative.

The paper-faithful route solves the relaxation (A.35) instead — in which the energy constraint is
slack for any ``C`` with ``||C_k||^2 <= P`` — by projected gradient onto the per-device balls, then
normalises ``C_k <- sqrt(alpha_k) C_k / ||C_k||_F`` (Algorithm 1, line 7). The alpha of (A.35) is
not unique; we take ``sqrt(alpha)`` as the feasible norm vector nearest to ``(||C_k||_F)_k``, i.e.
the normalisation is the exact projection of :func:`project_precoders`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core.optim import quadratic_projected_gradient
from ..core.projections import project_precoders
from ..core.random import complex_normal
from ..core.validate import check_finite, check_int, check_positive, check_shape, is_concrete
from ._checks import check_ota_shapes
from .aggregation import aggregation_mse, optimal_receiver


#: Default relative stopping tolerance of the C-step's projected gradient: a step that moves the
#: precoders by less than this (relative) ends the C-step early. Each C-step starts from the previous
#: precoders, so most stop after a few dozen of their 200 steps; on the K = 6 instances of
#: ``benchmarks/bench_design.py`` the final MSE_bar after 50 BCD iterations agrees with 200 fixed
#: steps to under 1e-7 relative.
CSTEP_TOL = 1e-7


class CStepProblem(NamedTuple):
    """Quadratic data of the C-step: ``Q[K,M,M]`` (Hermitian PSD), ``B[K,M,I]``, ``const`` (scalar)."""

    Q: jax.Array
    B: jax.Array
    const: jax.Array


def cstep_problem(Mrx, H, W, pulses) -> CStepProblem:
    """Build ``Q_k``, ``B_k`` and the constant of ``f`` from the receivers ``Mrx[T,N,I]``."""
    T = pulses.shape[1]
    A = jnp.einsum("tni,knm->tkim", jnp.conj(Mrx), H)                    # A_tk = M[t]^H H_k  [T,K,I,M]
    Q = jnp.einsum("tkim,tkin->kmn", jnp.conj(A), A) / T
    B = jnp.einsum("kt,tkim,kij->kmj", jnp.conj(pulses), jnp.conj(A), W.astype(A.dtype)) / T
    const = jnp.sum(jnp.abs(W) ** 2)
    return CStepProblem(Q=Q, B=B, const=const)


def lambda_max_bound(Q, *, squarings: int = 4):
    """Upper bound on the largest eigenvalue of each Hermitian PSD ``Q[..., M, M]``, within a factor
    ``M^(1/2^squarings)`` of it (1.09 for M = 4): ``tr(Q^(2^s))^(1/2^s)``, by repeated squaring of
    ``Q / tr Q`` (no overflow). Cheaper than ``eigvalsh`` on a CPU for small M, and a valid Lipschitz
    bound for the projected-gradient step."""
    scale = jnp.maximum(jnp.real(jnp.trace(Q, axis1=-2, axis2=-1)), 1e-300)
    X = Q / scale[..., None, None].astype(Q.dtype)
    for _ in range(squarings):
        X = jnp.sum(X[..., :, :, None] * X[..., None, :, :], axis=-2)           # X @ X, fused
    return scale * jnp.real(jnp.trace(X, axis1=-2, axis2=-1)) ** (1.0 / 2**squarings)


def cstep_objective(problem: CStepProblem, C):
    """``f(C)`` of (A.33a) from its quadratic form (scalar)."""
    quad = jnp.real(jnp.einsum("kmi,kmn,kni->", jnp.conj(C), problem.Q, C))
    lin = jnp.real(jnp.einsum("kmi,kmi->", jnp.conj(problem.B), C))
    return quad - 2.0 * lin + problem.const


def solve_cstep(problem: CStepProblem, C0, project, *, n_iter: int = 200, tol: float = 0.0):
    """At most ``n_iter`` projected-gradient steps from ``C0`` (feasible), fewer once a step moves the
    iterate by at most ``tol`` relative (``tol = 0``: exactly ``n_iter``). Returns ``(C, f(C))``."""
    # f = Re tr(C^H Q C) - 2 Re tr(B^H C) + const has the real gradient 2 (Q C - B): L = 2 lambda_max(Q).
    step = 0.5 / jnp.maximum(jnp.max(lambda_max_bound(problem.Q)), 1e-30)
    # Q_k C_k as a fused product and sum, not a dot: at a design's M (a few antennas) XLA's CPU dot call
    # costs more than the arithmetic (2.2 against 3.6 us per step at K = 6, M = 4, I = 2).
    def apply_q(C):
        return jnp.sum(problem.Q[:, :, :, None] * C[:, None, :, :], axis=2)

    state = quadratic_projected_gradient(apply_q, problem.B, problem.const, C0, project, step=step, n_iter=n_iter,
                                         tol=tol)
    return state.x, state.value


def _check_eps(K, power, eps):
    check_positive("P", power)
    check_positive("eps", eps)
    if is_concrete((power, eps)) and float(K * power) < 1.0 / float(eps):
        raise ValueError(f"eps is infeasible: the energy constraint needs K*P >= 1/eps, got K*P = {K * float(power):g} "
                         f"< 1/eps = {1.0 / float(eps):g}")


def normalise_relaxed(C, power, eps):
    """Algorithm 1, line 7: ``C_k <- sqrt(alpha_k) C_k/||C_k||`` with ``sqrt(alpha)`` the nearest
    feasible norm vector — exactly :func:`project_precoders` (directions kept)."""
    return project_precoders(C, power, 1.0 / eps)


def default_precoders(K, M, I, power, *, dtype=jnp.float32):
    """Deterministic feasible start: ``C_k = sqrt(P/I) [I_I; 0]`` (full power, orthogonal streams).

    ``dtype`` is the *real* dtype (as everywhere in the package); the output is the matching complex
    dtype, ``[K, M, I]``."""
    base = jnp.eye(M, I, dtype=jnp.result_type(dtype, jnp.complex64)) * jnp.sqrt(power / I)
    return jnp.broadcast_to(base, (K, M, I))


def initial_precoders(K, M, I, power, *, dtype=jnp.float32, key=None):
    """BCD start: :func:`default_precoders` without ``key``, else i.i.d. ``CN(0, 2)`` entries (unit-variance
    real and imaginary parts; not yet projected onto the feasible set, which fixes the scale)."""
    if key is None:
        return default_precoders(K, M, I, power, dtype=dtype)
    return complex_normal(key, (K, M, I), var=2.0, dtype=dtype)


class BcdTrace(NamedTuple):
    """Result of :func:`bcd_trace`: receivers ``Mrx[T,N,I]``, precoders ``C[K,M,I]`` and per-iteration
    histories ``mse[max_iter + 1]`` (MSE_bar, A.7, of the kept iterate) and ``energy[max_iter + 1]``
    (``sum_k ||C_k||_F^2``). ``step_mse[max_iter + 1]`` is MSE_bar right after each C-step + M-step,
    *before* the monotonicity guard, and ``guard_count`` how many iterations the guard rejected (an
    iterate whose MSE_bar rose): with an exact C-step both stay at round-off level / zero.
    ``n_iter`` is the number of BCD iterations run and ``converged`` whether the stopping rule
    (relative MSE_bar decrease of one iteration at most ``tol``) ended them before ``max_iter``; a
    step the guard rejects also ends BCD (it would repeat itself) but is not convergence."""

    Mrx: jax.Array
    C: jax.Array
    mse: jax.Array
    energy: jax.Array
    step_mse: jax.Array
    guard_count: jax.Array
    n_iter: jax.Array
    converged: jax.Array


def bcd_trace(H, W, pulses, noise_var, P, eps, *, max_iter: int = 50, tol: float = 1e-6, key=None,
              n_cstep_iter: int = 200, cstep_tol: float = CSTEP_TOL, relaxed: bool = False, C0=None) -> BcdTrace:
    """BCD for P1 (Algorithm 1) with the MSE_bar and energy histories (see :func:`design_beamformers`).

    Each C-step runs at most ``n_cstep_iter`` projected-gradient steps and stops once a step moves
    the precoders by at most ``cstep_tol`` relative (:data:`CSTEP_TOL`; 0 runs every step).

    ``C0[K, M, I]`` (optional) is the start, projected onto the feasible set (a warm start, e.g. the
    design of a neighbouring epsilon); otherwise the start is drawn from ``key`` or the default.

    Entry 0 of each history is the start, entry i the value after BCD iteration i; once the relative
    decrease of MSE_bar over one iteration is at most ``tol`` (``(mse[i-1] - mse[i]) <= tol mse[i-1]``)
    BCD stops (``converged``, after ``n_iter`` iterations) and the remaining entries repeat the
    converged values; ``tol = 0`` runs ``max_iter`` iterations unless an iteration changes nothing.
    """
    if jnp.ndim(H) != 3:
        raise ValueError(f"H must have shape [K, N, M], got {list(jnp.shape(H))}")
    if jnp.ndim(W) != 3:
        raise ValueError(f"W must have shape [K, I, I], got {list(jnp.shape(W))}")
    K, N, M = jnp.shape(H)
    I = jnp.shape(W)[-1]
    check_ota_shapes(H, jnp.zeros((K, M, I), H.dtype), W, pulses)
    check_positive("noise_var", noise_var, allow_zero=True)
    _check_eps(K, P, eps)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    n_cstep_iter = check_int("n_cstep_iter", n_cstep_iter, minimum=1)
    check_positive("tol", tol, allow_zero=True)
    check_positive("cstep_tol", cstep_tol, allow_zero=True)
    if C0 is not None:
        check_shape("C0", C0, (K, M, I))
        check_finite("C0", C0)
    min_energy = 1.0 / eps
    if C0 is None:
        C0 = initial_precoders(K, M, I, P, dtype=jnp.real(H).dtype, key=key)
    C0 = project_precoders(jnp.asarray(C0, H.dtype), P, min_energy)

    if relaxed:
        def ball(C):
            return project_precoders(C, P, 0.0)
    else:
        def ball(C):
            return project_precoders(C, P, min_energy)

    def c_step(Mrx, C):
        prob = cstep_problem(Mrx, H, W, pulses)
        C_new, _ = solve_cstep(prob, C, ball, n_iter=n_cstep_iter, tol=cstep_tol)
        if relaxed:
            C_new = normalise_relaxed(C_new, P, eps)
        return C_new

    def mse_of(Mrx, C):
        return aggregation_mse(Mrx, H, C, W, pulses, noise_var)

    def energy_of(C):
        return jnp.sum(jnp.abs(C) ** 2)

    Mrx0 = optimal_receiver(H, C0, W, pulses, noise_var)
    hist0 = jnp.full((max_iter + 1,), mse_of(Mrx0, C0))
    ehist0 = jnp.full((max_iter + 1,), energy_of(C0))

    def cond(carry):
        i, *_, done = carry
        return (i < max_iter) & ~done

    def body(carry):
        i, Mrx, C, hist, ehist, shist, guards, _, _ = carry
        C_new = c_step(Mrx, C)
        Mrx_new = optimal_receiver(H, C_new, W, pulses, noise_var)
        val = mse_of(Mrx_new, C_new)
        prev = hist[i]
        later = jnp.arange(hist.shape[0]) > i
        shist = jnp.where(later, val, shist)
        keep = jnp.zeros((), bool)
        if not relaxed:
            # The exact route cannot increase MSE_bar (the C-step decreases f at fixed M, the M-step
            # is optimal); keep the previous iterate if round-off says otherwise, and count it.
            keep = val > prev
            guards = guards + keep.astype(guards.dtype)
            C_new = jnp.where(keep, C, C_new)
            Mrx_new = jnp.where(keep, Mrx, Mrx_new)
            val = jnp.minimum(val, prev)
        hist = jnp.where(later, val, hist)
        ehist = jnp.where(later, energy_of(C_new), ehist)
        # A rejected step would repeat itself (the iteration is deterministic): BCD stops there, but
        # that is a stall, not convergence.
        converged = ((prev - val) <= tol * jnp.abs(prev)) & ~keep
        return i + 1, Mrx_new, C_new, hist, ehist, shist, guards, converged, converged | keep

    n_iter, Mrx, C, hist, ehist, shist, guards, converged, _ = jax.lax.while_loop(
        cond, body, (jnp.zeros((), jnp.int32), Mrx0, C0, hist0, ehist0, hist0, jnp.zeros((), jnp.int32),
                     jnp.zeros((), bool), jnp.zeros((), bool)))
    return BcdTrace(Mrx=Mrx, C=C, mse=hist, energy=ehist, step_mse=shist, guard_count=guards, n_iter=n_iter,
                    converged=converged)


def design_beamformers(H, W, pulses, noise_var, P, eps, *, max_iter: int = 50, tol: float = 1e-6, key=None,
                       n_cstep_iter: int = 200, cstep_tol: float = CSTEP_TOL, relaxed: bool = False):
    """BCD for P1 (Algorithm 1). Returns ``(Mrx[T,N,I], C[K,M,I], mse_history[max_iter + 1])``.

    ``mse_history[0]`` is MSE_bar (A.7) of the start, entry i after BCD iteration i; once the relative
    decrease drops below ``tol`` the remaining entries repeat the converged value. ``key`` draws a
    random feasible start (default: :func:`default_precoders`). ``relaxed=True`` runs the
    paper-faithful route (A.35) + normalisation instead of the exact projection.
    """
    out = bcd_trace(H, W, pulses, noise_var, P, eps, max_iter=max_iter, tol=tol, key=key,
                    n_cstep_iter=n_cstep_iter, cstep_tol=cstep_tol, relaxed=relaxed)
    return out.Mrx, out.C, out.mse


def pareto_front(H, W, pulses, noise_var, P, eps_values, *, max_iter: int = 50, tol: float = 1e-6, key=None,
                 n_cstep_iter: int = 200, cstep_tol: float = CSTEP_TOL, relaxed: bool = False):
    """epsilon-constraint Pareto front: one BCD per ``eps`` in a single ``vmap``-ed, compiled call.

    Returns ``(mse[E], energy[E], C[E,K,M,I])`` with ``mse`` the final MSE_bar (A.7) and ``energy``
    ``sum_k ||C_k||_F^2`` (``CRB_L`` is ``rho varsigma_bar^2 / (T energy)``, Theorem 2). Every
    ``eps`` must be feasible (``K P >= 1/eps``); an infeasible one raises before any compilation.
    """
    eps_values = jnp.asarray(eps_values)
    K = H.shape[0]
    for e in jnp.atleast_1d(eps_values) if is_concrete(eps_values) else ():
        _check_eps(K, P, e)

    def one(eps):
        out = bcd_trace(H, W, pulses, noise_var, P, eps, max_iter=max_iter, tol=tol, key=key,
                        n_cstep_iter=n_cstep_iter, cstep_tol=cstep_tol, relaxed=relaxed)
        return out.mse[-1], out.energy[-1], out.C

    return jax.vmap(one)(eps_values)
