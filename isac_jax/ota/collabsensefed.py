"""CollabSenseFed (Paper A, Algorithm 2): distributed ML localisation carried by the OTA uplink.

Every symbol interval t, device k transmits ``g_k[t] = [g_k^1[t], g_k^2[t]]`` through its precoder
and pulse, ``x_k[t] = C_k g_k[t] p_k[t]`` (A.1-A.2). Task 1 (sensing) carries one entry of its local
localisation gradient ``grad l_k(v)`` (A.18), the coordinates cycling x, y, z, x, ... (Alg. 2 line 8);
task 2 (learning) carries entry t of the standardised model update (line 10). The PS forms
``r[t] = M[t]^H y[t]`` (line 14) and broadcasts it; every device updates the corresponding
coordinate of its location estimate from ``r_1[t]`` (line 15). The same transmissions are the radar
waveform: the echoes (A.8) of each frame of T intervals give new statistics ``Xi_hat_k`` (line 7).
The simulation is a ``lax.scan`` over intervals (the sensing update is sequential), vmappable over
trials; the echoes, statistics and the learning aggregate are vectorised over the frame.

Decisions (the paper leaves them open; documented in ``docs/collabsensefed.md``):

* **Statistics of all frames so far.** Each device accumulates ``sum_t u_k[t] x_k[t]^H`` and
  ``sum_t x_k[t] x_k[t]^H`` over every frame it has sent; after each frame its statistic is
  recomputed from these sums (the sufficient statistic of everything observed, effective length
  ``T_tot``) and whitened with its *own sample correlation* ``R_k = (1/(P T_tot)) sum x_k x_k^H`` (a
  device knows what it sent; the gradient stream is not i.i.d. unit-variance, so ``C_k C_k^H / P``
  would mis-weight the likelihood). The estimate therefore moves towards the joint ML estimate of all
  data so far, and is compared with that data's CRB(v) (:func:`pooled_crb`), which falls like
  ``1 / T_tot``; the single-shot baseline only has the first frame.
* **A pilot frame** precedes the first round: with no statistics yet, task 1 sends i.i.d. N(0, 1)
  symbols for T intervals and the estimate is not updated (``T`` channel uses in a whole run).
* **Coordinate-Newton steps.** ``v_i <- v_i - step * G_i / J_ii(v)`` with ``G_i`` the aggregated
  global gradient entry and ``J_ii`` the diagonal of the global Fisher information at the current
  estimate (which is the Gauss-Newton curvature of ``l``), refreshed once per frame and shared as side
  information like the standardisation scales. Plain gradient steps with one step size cannot serve
  range (m) and altitude (sub-metre) together. The estimate is projected onto the target region.
* **Standardisation of task 1.** Entry i is divided by ``s_i``, the RMS over devices of
  ``d_i l_k(v)`` at the start of the frame (side information), so the symbols have unit power;
  ``G_i = s_i r_1[t] / w`` with ``w = 1/K`` the sensing aggregation weight.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core.geometry import PAPER_A_TARGET_REGION, RingSector
from ..core.linalg import hermitian_sqrt
from .aggregation import aggregate_stream, receiver_noise, transmit_signals
from .bounds import crb, fisher_information
from .federated import destandardise, standardise
from .echo import round_trip, simulate_echoes, sufficient_statistics, whiten_statistics
from .localization import ml_localize

LINKS = ("perfect", "ota")


@dataclasses.dataclass(frozen=True)
class SensingPhysics:
    """Sensing constants: power budget ``power_w`` (W), echo noise ``echo_noise_var_w`` (W), path-loss
    ``alpha0``/``gamma`` of (A.9), the coordinate-Newton damping ``step`` and the target ``region``."""

    power_w: float = 1.0
    echo_noise_var_w: float = 1e-5
    alpha0: float = 1.0
    gamma: float = 1.0
    step: float = 1.0
    region: RingSector = PAPER_A_TARGET_REGION


class Link(NamedTuple):
    """One coherence block: ``C[K,M,I]``, ``W[K,I,I]``, ``pulses[K,T]``, ``Mrx[T,N,I]``,
    ``gains[T,K,I,I]`` (:func:`~isac_jax.ota.aggregation.effective_gains`) and ``noise_var``."""

    C: jax.Array
    W: jax.Array
    pulses: jax.Array
    Mrx: jax.Array
    gains: jax.Array
    noise_var: jax.Array


class SensingState(NamedTuple):
    """Device-side sensing state.

    ``v[3]`` estimate (m); running sums ``stat_sum[K,M,M] = sum_t u_k x_k^H / P`` and
    ``corr_sum[K,M,M] = sum_t x_k x_k^H / P`` over ``n_samples`` intervals; the statistics they give,
    ``Xi_hat[K,M,M]`` and ``sqrt_corr[K,M,M]`` (``R_k^{1/2}``); side information ``curvature[3]``
    (m^-2) and ``scale[3]``; the running interval counter ``interval`` (selects the coordinate).
    """

    v: jax.Array
    stat_sum: jax.Array
    corr_sum: jax.Array
    n_samples: jax.Array
    Xi_hat: jax.Array
    sqrt_corr: jax.Array
    curvature: jax.Array
    scale: jax.Array
    interval: jax.Array


def _stat_scale(physics: SensingPhysics, K: int, n_samples, dtype):
    return jnp.full((K,), 1.0, dtype) * jnp.sqrt(physics.power_w * n_samples / physics.echo_noise_var_w)


def local_losses_from(v, Xi_hat, sqrt_corr, n_samples, devices, physics: SensingPhysics):
    """(A.18) ``l_k(v) = ||Xi_hat_k - s_k a_k a_k^T R_k^{1/2}||_F^2`` for every device. Output ``[K]``.

    ``s_k = sqrt(P n_samples) / varsigma_k``. The same loss as :func:`~isac_jax.ota.local_losses` with
    ``C = C_eff`` (:func:`equivalent_precoders`), written with the precomputed ``R_k^{1/2}`` so that the
    per-interval gradient needs no matrix function.
    """
    K, M, _ = Xi_hat.shape
    aat = round_trip(v, devices, M, alpha0=physics.alpha0, gamma=physics.gamma)
    s = _stat_scale(physics, K, n_samples, jnp.real(Xi_hat).dtype)
    d = Xi_hat - s[:, None, None] * jnp.einsum("kmn,knp->kmp", aat, sqrt_corr)
    return jnp.sum(jnp.real(d) ** 2 + jnp.imag(d) ** 2, axis=(1, 2))


def equivalent_precoders(corr_sum, n_samples, power_w):
    """``C_eff[K, M, M] = sqrt(P) R_k^{1/2}`` with ``R_k = corr_sum_k / n_samples``: ``C_eff C_eff^H = P R_k``.

    Passing it where a precoder is expected (with ``T = n_samples``) gives the whitening, mean model
    and FIM of the signal actually sent instead of the model value ``C_k C_k^H``.
    """
    return jnp.sqrt(power_w) * hermitian_sqrt(corr_sum / n_samples)


def accumulate(state_sums, key, x, target, devices, physics: SensingPhysics, *, orthogonal=False):
    """Add the echoes (A.8) of one frame ``x[K,T,M]`` to ``(stat_sum, corr_sum, n_samples)``.

    ``orthogonal``: only each device's own reflection (Setup I's orthogonal links).
    """
    stat_sum, corr_sum, n = state_sums
    T = x.shape[1]
    u = simulate_echoes(key, target, devices, x, physics.echo_noise_var_w, alpha0=physics.alpha0,
                        gamma=physics.gamma, orthogonal=orthogonal)
    return (stat_sum + T * sufficient_statistics(u, x, physics.power_w),
            corr_sum + T * sufficient_statistics(x, x, physics.power_w), n + T)


def refresh(v, stat_sum, corr_sum, n_samples, devices, physics: SensingPhysics, interval) -> SensingState:
    """Statistics from the sums, then the side information at ``v`` (diagonal of the global FIM and the
    RMS over devices of each local-gradient entry), all broadcast once per frame."""
    P, s2 = physics.power_w, physics.echo_noise_var_w
    C_eff = equivalent_precoders(corr_sum, n_samples, P)
    Xi_hat = whiten_statistics(stat_sum / n_samples, C_eff, s2, n_samples, P)
    sqrt_corr = C_eff / jnp.sqrt(P)
    J = fisher_information(v, devices, C_eff, s2, n_samples, P, alpha0=physics.alpha0, gamma=physics.gamma)
    grads = jax.jacrev(local_losses_from)(v, Xi_hat, sqrt_corr, n_samples, devices, physics)   # [K, 3]
    scale = jnp.sqrt(jnp.mean(grads ** 2, axis=0))
    curvature = jnp.maximum(jnp.diagonal(J), jnp.finfo(scale.dtype).tiny)
    return SensingState(v, stat_sum, corr_sum, n_samples, Xi_hat, sqrt_corr, curvature,
                        jnp.where(scale > 0, scale, 1.0), interval)


def pooled_crb(state: SensingState, target, devices, physics: SensingPhysics):
    """CRB(v) (A.19, m^2) at the true ``target`` of all data in ``state`` (its sample correlations)."""
    C_eff = equivalent_precoders(state.corr_sum, state.n_samples, physics.power_w)
    return crb(target, devices, C_eff, physics.echo_noise_var_w, state.n_samples, physics.power_w,
               alpha0=physics.alpha0, gamma=physics.gamma)


def _symbols(g1, learn, n_tasks):
    """Stack task symbols ``[T, K] -> [K, T, I]`` (task 2 only when the precoders have two columns)."""
    cols = [g1] if n_tasks == 1 else [g1, learn]
    return jnp.stack(cols, axis=-1).transpose(1, 0, 2)


def pilot_frame(key, v0, learn, link: Link, devices, target, physics: SensingPhysics, link_kind: str) -> SensingState:
    """The frame before round 1: task 1 sends i.i.d. N(0, 1) pilots, giving the first statistics.

    ``learn[T, K]``: task-2 symbols of the frame (zeros when idle). Returns the state at ``v0``.
    """
    k_g, k_echo = jax.random.split(key)
    K, M, _ = link.C.shape
    T = link.pulses.shape[1]
    real = jnp.real(link.C).dtype
    g1 = jax.random.normal(k_g, (T, K), real)
    x = transmit_signals(link.C, _symbols(g1, learn, link.C.shape[2]), link.pulses)
    zeros = jnp.zeros((K, M, M), link.C.dtype)
    sums = accumulate((zeros, zeros, jnp.zeros((), real)), k_echo, x, target, devices, physics,
                      orthogonal=link_kind == "perfect")
    return refresh(v0, *sums, devices, physics, jnp.zeros((), jnp.int32))


def sensing_frame(state: SensingState, key, learn, link: Link, devices, target, physics: SensingPhysics,
                  link_kind: str):
    """One frame of T intervals of Algorithm 2 (lines 3-20).

    ``learn[T, K]`` task-2 symbols (zeros when idle). ``link_kind``: ``"perfect"`` (orthogonal,
    noiseless: ``r = sum_k W_k g_k``) or ``"ota"`` (``r = sum_k A_k[t] g_k[t] + M[t]^H z[t]``).
    Returns ``(new_state, r[T, I] real)``; ``r[:, 1]`` is the learning aggregate.
    """
    if link_kind not in LINKS:
        raise ValueError(f"link_kind must be one of {LINKS}, got {link_kind!r}")
    T, n_tasks = link.pulses.shape[1], link.C.shape[2]
    k_noise, k_echo = jax.random.split(key)
    noise = jnp.real(receiver_noise(k_noise, link.Mrx, link.noise_var, 1)[0])          # [T, I]
    gains = jnp.real(link.gains)                                                        # g is real (A.5)
    w_sense = link.W[0, 0, 0]
    eye = jnp.eye(3, dtype=state.v.dtype)

    def loss_k(w):
        return local_losses_from(w, state.Xi_hat, state.sqrt_corr, state.n_samples, devices, physics)

    def step(carry, inp):
        v, n = carry
        t, g2 = inp
        i = n % 3
        _, dl = jax.jvp(loss_k, (v,), (eye[i],))                     # d_i l_k(v) for every k  [K]
        g1 = dl / state.scale[i]
        g = _symbols(g1[None], g2[None], n_tasks)[:, 0]              # [K, I]
        if link_kind == "perfect":
            r = jnp.einsum("kij,kj->i", link.W, g)
        else:
            r = jnp.einsum("kij,kj->i", gains[t], g) + noise[t]
        G = state.scale[i] * r[0] / w_sense                           # global gradient entry
        v = physics.region.project(v - physics.step * G / state.curvature[i] * eye[i])
        return (v, n + 1), (g1, r)

    (v, n), (g1, r) = jax.lax.scan(step, (state.v, state.interval), (jnp.arange(T), learn))
    x = transmit_signals(link.C, _symbols(g1, learn, n_tasks), link.pulses)
    sums = accumulate((state.stat_sum, state.corr_sum, state.n_samples), k_echo, x, target, devices, physics,
                      orthogonal=link_kind == "perfect")
    return refresh(v, *sums, devices, physics, n), r


def sensing_frames(state: SensingState, key, learn_frames, link: Link, devices, target,
                   physics: SensingPhysics, link_kind: str):
    """``F`` consecutive frames (a round): ``learn_frames[F, T, K]``.

    Returns ``(state, r[F, T, I], v_history[F, 3])`` (the estimate after each frame).
    """
    def one(st, inp):
        k, learn = inp
        st, r = sensing_frame(st, k, learn, link, devices, target, physics, link_kind)
        return st, (r, st.v)

    keys = jax.random.split(key, learn_frames.shape[0])
    state, (r, v_hist) = jax.lax.scan(one, state, (keys, learn_frames))
    return state, r, v_hist


def single_shot(state: SensingState, devices, physics: SensingPhysics, *, grid_shape=(10, 10, 4),
                n_iter: int = 25):
    """Single-shot baseline ([11] in Paper A): each device's *local* ML estimate from its own statistics
    (grid search + Levenberg-Marquardt on ``l_k`` alone, projected onto the target region), averaged
    once at the PS. Use it on the pilot-frame state. Output ``[3]``."""
    C_eff = equivalent_precoders(state.corr_sum, state.n_samples, physics.power_w)

    def local(Xi_hat_k, dev_k, C_k):
        v = ml_localize(Xi_hat_k[None], dev_k[None], C_k[None], physics.echo_noise_var_w, state.n_samples,
                        physics.power_w, physics.region, alpha0=physics.alpha0, gamma=physics.gamma,
                        grid_shape=grid_shape, n_iter=n_iter)
        return physics.region.project(v)

    return jnp.mean(jax.vmap(local)(state.Xi_hat, devices, C_eff), axis=0)


def acquire(state: SensingState, key, link: Link, devices, physics: SensingPhysics, link_kind: str, *,
            grid_shape=(10, 10, 4), repeats: int = 8) -> SensingState:
    """Over-the-air grid search for the starting point (replaces Algorithm 2's random start).

    Task 1 carries, for ``G = prod(grid_shape) + 1`` intervals, each device's local loss ``l_k(v_j)`` at grid
    point j of the target region and at the current estimate, each relative to the latter and
    standardised (std as side information), each value ``repeats`` times on an OTA link (the PS
    averages the repeats); the PS aggregates them like any other stream, which gives
    the change of the global loss for every candidate move. ``v`` moves to the best grid point only
    if that change is below ``-3`` standard deviations of the aggregation error (known to the PS
    from (A.6)); on a perfect link, whenever it is negative. Repeating the search as statistics
    accumulate (once per round in :mod:`~isac_jax.ota.feel`) thus leaves wrong basins without
    noise-driven jumps. Costs ``(G + 1) * repeats`` channel uses on an OTA link.
    A random start often stalls in a local minimum of the non-convex ``l`` (range-azimuth ambiguities
    of the amplitude-only azimuth information). Costs ``G`` channel uses once; returns the state at
    the new start with its side information refreshed.
    """
    # The current estimate is a candidate too, so a later acquisition only moves it if it improves.
    grid = jnp.concatenate([physics.region.grid(*grid_shape), state.v[None]])         # [G + 1, 3]
    losses = jax.vmap(lambda v: local_losses_from(v, state.Xi_hat, state.sqrt_corr, state.n_samples, devices,
                                                  physics))(grid).T                   # [K, G]
    w = link.W[:, 0, 0]
    # Each device sends its losses relative to its loss at the current estimate (a per-device shift
    # leaves the argmin of sum_k w_k l_k unchanged), so the aggregate is the global-loss change of a move.
    z, mean, std = standardise(losses - losses[:, -1:], w)
    if link_kind == "perfect":
        agg = jnp.einsum("k,kg->g", w, z)
        noise_sd = 0.0
    else:
        K, G = z.shape
        T, n_tasks = link.pulses.shape[1], link.C.shape[2]
        n = G * repeats                                     # every value is sent `repeats` times
        F = -(-n // T)
        g = jnp.zeros((K, F * T, n_tasks), z.dtype).at[:, :n, 0].set(jnp.tile(z, (1, repeats)))
        g = g.reshape(K, F, T, n_tasks).transpose(1, 2, 0, 3)                           # [F, T, K, I]
        agg = jnp.real(aggregate_stream(key, g, link.gains, link.Mrx, link.noise_var))[..., 0].reshape(-1)[:n]
        agg = jnp.mean(agg.reshape(repeats, G), axis=0)
        # Worst-interval aggregation error of task 1, (A.6) restricted to its row: the PS knows it.
        row_err = (jnp.sum(jnp.abs(link.gains[:, :, 0, :] - link.W[None, :, 0, :]) ** 2, axis=(1, 2))
                   + link.noise_var * jnp.sum(jnp.abs(link.Mrx[:, :, 0]) ** 2, axis=1))
        noise_sd = std * jnp.sqrt(jnp.max(row_err) / repeats)
    change = destandardise(agg, mean, std, w)[:-1] - destandardise(agg, mean, std, w)[-1]
    j = jnp.argmin(change)
    # Move only when the aggregated improvement is significant against the aggregation noise.
    v0 = jnp.where(change[j] < -3.0 * noise_sd, grid[j], state.v)
    return refresh(v0, state.stat_sum, state.corr_sum, state.n_samples, devices, physics, state.interval)
