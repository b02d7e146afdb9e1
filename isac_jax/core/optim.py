"""Accelerated projected gradient (FISTA with monotone restart) for smooth objectives over real or
complex arrays: the one solver behind every C-step.

With ``backtracking=True`` the step size is found by the sufficient-decrease test (used where no
Lipschitz constant is known in closed form, e.g. the CRB-aware C-step); with ``backtracking=False``
the given step (``1/L`` for an ``L``-smooth objective, e.g. Algorithm 1's quadratic C-step) is
used as it is. For a real
objective of a complex array, ``jax.grad`` returns the conjugate of the steepest-ascent direction
(JAX convention), so the descent direction is ``conj(grad)`` and the first-order change along
``d`` is ``Re <conj(grad), d>``; for real arrays ``conj`` is the identity.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


class PGBState(NamedTuple):
    """Iterate ``x``, extrapolation point ``y``, momentum ``t``, ``f(x)`` and the step size to try first."""

    x: jax.Array
    y: jax.Array
    t: jax.Array
    value: jax.Array
    step: jax.Array


def _inner(a, b):
    return jnp.real(jnp.vdot(a, b))


def pgb_init(fun: Callable, x0, step0) -> PGBState:
    real = jnp.real(x0).dtype
    return PGBState(x=x0, y=x0, t=jnp.ones((), real), value=fun(x0), step=jnp.asarray(step0, real))


def pgb_update(fun: Callable, project: Callable, state: PGBState, *, max_backtracks: int = 30,
               grow: float = 1.25, max_step=jnp.inf, backtracking: bool = True) -> PGBState:
    """One monotone accelerated (FISTA) projected-gradient step.

    From the extrapolation point ``y`` it accepts ``x+ = project(y - s d)`` once
    ``f(x+) <= f(y) + Re<d, x+ - y> + ||x+ - y||^2 / (2 s)`` (the sufficient-decrease test of
    proximal gradient), halving ``s`` otherwise; without ``backtracking`` the step ``s`` is fixed
    (and the test skipped). If ``f(x+) > f(x)`` the step is rejected and the momentum restarted, so
    ``f(x)`` never increases. With backtracking the next step starts from ``min(grow * s, max_step)``
    (capped: near a constrained optimum every step passes the test).
    """
    if not backtracking:
        d = jnp.conj(jax.grad(fun)(state.y))
        xp = project(state.y - state.step * d)
        fp = fun(xp)
        better = fp <= state.value
        x = jnp.where(better, xp, state.x)
        t_next = jnp.where(better, 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * state.t**2)), 1.0)
        y = jnp.where(better, x + ((state.t - 1.0) / t_next) * (x - state.x), x)
        return state._replace(x=x, y=y, t=t_next, value=jnp.where(better, fp, state.value))
    val, g = jax.value_and_grad(fun)(state.y)
    d = jnp.conj(g)

    def candidate(s):
        xp = project(state.y - s * d)
        diff = xp - state.y
        bound = val + _inner(d, diff) + _inner(diff, diff) / (2.0 * s)
        fp = fun(xp)
        return xp, fp, (fp <= bound) & jnp.isfinite(fp)

    def cond(c):
        i, s, _, _, ok = c
        return (i < max_backtracks) & ~ok

    def body(c):
        i, s, _, _, _ = c
        s = 0.5 * s
        xp, fp, ok = candidate(s)
        return i + 1, s, xp, fp, ok

    xp, fp, ok = candidate(state.step)
    _, s, xp, fp, ok = jax.lax.while_loop(cond, body, (0, state.step, xp, fp, ok))
    better = ok & (fp <= state.value)
    x = jnp.where(better, xp, state.x)
    t_next = jnp.where(better, 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * state.t**2)), 1.0)
    y = jnp.where(better, x + ((state.t - 1.0) / t_next) * (x - state.x), x)
    return PGBState(x=x, y=y, t=t_next, value=jnp.where(better, fp, state.value),
                    step=jnp.minimum(jnp.where(ok, grow * s, s), max_step))


def projected_gradient(fun: Callable, x0, project: Callable, *, n_iter: int, step0=1.0,
                       max_step=jnp.inf, backtracking: bool = True) -> PGBState:
    """Run ``n_iter`` accelerated projected-gradient steps from feasible ``x0`` (first step ``step0``,
    never above ``max_step``; a fixed step ``step0`` without ``backtracking``)."""
    state = pgb_init(fun, x0, step0)
    return jax.lax.fori_loop(0, n_iter, lambda _, s: pgb_update(fun, project, s, max_step=max_step,
                                                                backtracking=backtracking), state)


class QuadraticPGState(NamedTuple):
    """FISTA state for a quadratic: iterate ``x`` and ``Qx``, previous ``x_prev`` and ``Qx_prev``, the
    momentum weight ``beta`` of the next extrapolation, ``t`` and ``f(x)``."""

    x: jax.Array
    Qx: jax.Array
    x_prev: jax.Array
    Qx_prev: jax.Array
    beta: jax.Array
    t: jax.Array
    value: jax.Array


def quadratic_projected_gradient(apply_q: Callable, b, const, x0, project: Callable, *, step, n_iter: int,
                                 tol: float = 0.0) -> QuadraticPGState:
    """:func:`projected_gradient` without backtracking, specialised to ``f(x) = Re<x, Q x> - 2 Re<b, x> + c``
    (``Q`` Hermitian PSD, applied by ``apply_q``): the same iterates, one application of ``Q`` per step.

    ``Q`` is linear, so ``Q y`` at the extrapolation point ``y = x + beta (x - x_prev)`` is
    ``Qx + beta (Qx - Qx_prev)``, and ``Q x+`` gives both ``f(x+)`` and the next gradient
    ``2 (Q y - b)``. ``step`` multiplies that gradient (``1/(2 lambda_max(Q))`` is ``1/L``). With
    ``tol > 0`` the loop stops early at a stationary point: once an accepted step moves the iterate by
    at most ``tol * ||x||`` from its extrapolation point (the norm of the gradient mapping times the
    step; zero exactly at a KKT point). ``tol = 0`` runs all ``n_iter`` steps.
    """
    real = jnp.real(x0).dtype

    def value(x, Qx):
        return _inner(x, Qx) - 2.0 * _inner(b, x) + const

    Qx0 = apply_q(x0)
    state = QuadraticPGState(x=x0, Qx=Qx0, x_prev=x0, Qx_prev=Qx0, beta=jnp.zeros((), real),
                             t=jnp.ones((), real), value=value(x0, Qx0))

    def update(s):
        y = s.x + s.beta * (s.x - s.x_prev)
        Qy = s.Qx + s.beta * (s.Qx - s.Qx_prev)
        xp = project(y - (2.0 * step) * (Qy - b))
        Qxp = apply_q(xp)
        fp = value(xp, Qxp)
        better = fp <= s.value
        t_next = jnp.where(better, 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * s.t**2)), 1.0)
        new = QuadraticPGState(
            x=jnp.where(better, xp, s.x), Qx=jnp.where(better, Qxp, s.Qx), x_prev=s.x, Qx_prev=s.Qx,
            beta=jnp.where(better, (s.t - 1.0) / t_next, 0.0), t=t_next, value=jnp.where(better, fp, s.value))
        moved = jnp.sqrt(_inner(xp - y, xp - y))
        return new, better & (moved <= tol * jnp.sqrt(_inner(xp, xp)))

    if tol == 0.0:
        return jax.lax.fori_loop(0, n_iter, lambda _, s: update(s)[0], state)

    def cond(c):
        i, _, done = c
        return (i < n_iter) & ~done

    def body(c):
        i, s, _ = c
        new, done = update(s)
        return i + 1, new, done

    return jax.lax.while_loop(cond, body, (0, state, jnp.zeros((), bool)))[1]
