"""CollabSenseFed (Paper A, Algorithm 2): distributed ML localisation carried by the OTA uplink.

Every symbol interval t, device k transmits ``g_k[t] = [g_k^1[t], g_k^2[t]]`` through its precoder
and pulse, ``x_k[t] = C_k g_k[t] p_k[t]`` (A.1-A.2). Task 1 (sensing) carries one entry of its local
localisation gradient ``grad l_k(v)`` (A.18), the coordinates cycling x, y, z, x, ... (Alg. 2 line 8;
here the axes are rotated, see below);
task 2 (learning) carries entry t of the standardised model update (line 10). The PS forms
``r[t] = M[t]^H y[t]`` (line 14) and broadcasts it; every device updates the corresponding
coordinate of its location estimate from ``r_1[t]`` (line 15). The same transmissions are the radar
waveform: the echoes (A.8) of each frame of T intervals give new statistics ``Xi_hat_k`` (line 7).
The simulation is a ``lax.scan`` over intervals (the sensing update is sequential), vmappable over
trials; the echoes, statistics and the learning aggregate are vectorised over the frame.

Decisions (the paper leaves them open; documented in ``docs/modelling/paper-a-collabsensefed.md``):

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
* **Coordinate-Newton steps in the Fisher eigenbasis** (default). Algorithm 2 sends the gradient
  entries in x, y, z and updates the entry just received (line 15). The global Fisher matrix ``J``
  at the estimate (the Gauss-Newton curvature of ``l``) is shared once per frame as side
  information, like the standardisation scales; its eigenvectors ``u_1, u_2, u_3`` replace the x,
  y, z axes, so the stream carries ``u_i^T grad l_k(v)`` and the update is
  ``v <- v - step * G_i / lambda_i * u_i``. Measured: ``J`` has condition numbers of 1e6-1e7 and x-y
  correlations of 0.9999 for targets whose azimuth is seen only through echo amplitudes; x, y, z
  coordinate steps then zig-zag down a narrow, curved valley and crawl (Setup I trials stuck 1-9 m^2
  away for many rounds), while the eigen-direction steps make one Newton step per cycle with a fresh
  gradient for every direction. Far from the truth the Fisher curvature along the weak axis can be
  tiny, so every step is clipped to ``max_step_m`` (a trust region; measured: without it, estimates
  flew to the region's corners). ``SensingPhysics(coordinates="xyz")`` keeps the literal x, y, z cycle
  (with ``G_i / J_ii`` steps). Plain gradient steps with one step size cannot serve range (m) and
  altitude (sub-metre) together. ``step`` < 1 damps the noise of over-the-air gradients (a
  stochastic-approximation step). The estimate is kept in the target region widened by a margin
  (:func:`search_region`).
* **Standardisation of task 1.** Entry i is divided by ``s_i``, the RMS over devices of
  ``u_i^T grad l_k(v)`` at the start of the frame (side information), so the symbols have unit power
  there; they are clipped to ``+-symbol_clip`` (3) since the gradient can grow by orders of magnitude
  as the estimate moves within a frame (measured: unclipped, symbols of 1e6-1e23 times the RMS were
  sent, broke the power budget and, as the radar waveform, made the statistics overflow);
  ``G_i = s_i r_1[t] / w`` with ``w = 1/K`` the sensing aggregation weight.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core.geometry import PAPER_A_TARGET_REGION, RingSector
from ..core.linalg import hermitian_sqrt
from ..core.validate import check_positive
from ..fl.clients import destandardise, standardise
from ..ota.aggregation import aggregate_stream, receiver_noise, transmit_signals
from ..ota.bounds import crb, fisher_information
from ..ota.echo import array_responses, simulate_echoes, sufficient_statistics, whiten_statistics
from ..core.fisher import crb_trace
from ..ota.finite_t import (block_fisher_from_root, finite_t_crb, frame_conditional_information, leakage_gains,
                            least_squares_mse, numerical_rank)
from ..ota.localization import ml_localize

LINKS = ("perfect", "ota")
COORDINATES = ("fisher", "xyz")


@dataclasses.dataclass(frozen=True)
class SensingPhysics:
    """Sensing constants: power budget ``power_w`` (W), echo noise ``echo_noise_var_w`` (W), path-loss
    ``alpha0``/``gamma`` of (A.9), the step damping ``step`` and trust radius ``max_step_m`` (m), the clipping level
    ``symbol_clip`` of the standardised task-1 symbols, the axes of the coordinate steps
    (``coordinates``: ``"fisher"``, the eigenvectors of the global Fisher matrix at the estimate, or
    ``"xyz"``, Algorithm 2's literal x, y, z) and the target ``region``."""

    power_w: float = 1.0
    echo_noise_var_w: float = 1e-5
    alpha0: float = 1.0
    gamma: float = 1.0
    step: float = 1.0
    max_step_m: float = 0.5
    symbol_clip: float = 3.0
    coordinates: str = "fisher"
    region: RingSector = PAPER_A_TARGET_REGION
    leakage_aware: bool = False

    def __post_init__(self):
        for name in ("power_w", "echo_noise_var_w", "step", "max_step_m", "symbol_clip"):
            check_positive(name, getattr(self, name))
        if self.coordinates not in COORDINATES:
            raise ValueError(f"coordinates must be one of {COORDINATES}, got {self.coordinates!r}")


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
    ``Xi_hat[K,M,M]``, ``sqrt_corr[K,M,M]`` (``R_k^{1/2}``) and ``rank[K]`` (of ``R_k``); side information: the step axes
    ``axes[3, 3]`` (columns), the curvature along them ``curvature[3]`` (m^-2; the eigenvalues of the
    global Fisher matrix at ``v``, or its diagonal for x, y, z axes) and ``scale[3]``; the running
    interval counter ``interval`` (selects the axis); ``info_cond[3, 3]`` (m^-2), the Fisher information at
    the true target of all frames' statistics given the realised streams
    (:func:`~isac_jax.ota.finite_t.frame_conditional_information`; simulator-side, never used by the devices).
    """

    v: jax.Array
    stat_sum: jax.Array
    corr_sum: jax.Array
    n_samples: jax.Array
    Xi_hat: jax.Array
    sqrt_corr: jax.Array
    rank: jax.Array
    axes: jax.Array
    curvature: jax.Array
    scale: jax.Array
    interval: jax.Array
    info_cond: jax.Array


def _stat_scale(physics: SensingPhysics, K: int, n_samples, dtype):
    return jnp.full((K,), 1.0, dtype) * jnp.sqrt(physics.power_w * n_samples / physics.echo_noise_var_w)


def local_losses_from(v, Xi_hat, sqrt_corr, n_samples, devices, physics: SensingPhysics, rank=None):
    """(A.18) ``l_k(v) = ||Xi_hat_k - s_k a_k a_k^T R_k^{1/2}||_F^2`` for every device. Output ``[K]``.

    ``s_k = sqrt(P n_samples) / varsigma_k``. The same loss as :func:`~isac_jax.ota.local_losses` with
    ``C = C_eff`` (:func:`equivalent_precoders`), written with the precomputed ``R_k^{1/2}`` so that the
    per-interval gradient needs no matrix function.

    With ``physics.leakage_aware`` it is device k's Gaussian negative log-likelihood under the finite-T
    leakage model (:func:`~isac_jax.ota.finite_t.block_fisher_information`): the other devices' leakage
    lies along ``a_k`` with variance ``gamma_k`` (:func:`~isac_jax.ota.finite_t.leakage_gains`), so

        ``l_k = ||E_k||^2 - gamma_k / (1 + gamma_k ||a_k||^2) ||a_k^H E_k||^2 + r_k log(1 + gamma_k ||a_k||^2)``

    with ``E_k`` the residual above and ``r_k = rank R_k`` (``rank[K]``; computed when not given; it does
    not depend on ``v``, so loops pass it instead of decomposing ``R`` at every evaluation);
    ``gamma_k = 0`` gives (A.18).
    """
    K, M, _ = Xi_hat.shape
    a = array_responses(v, devices, M, alpha0=physics.alpha0, gamma=physics.gamma)
    s = _stat_scale(physics, K, n_samples, jnp.real(Xi_hat).dtype)
    d = Xi_hat - s[:, None, None] * jnp.einsum("km,kn,knp->kmp", a, a, sqrt_corr)
    loss = jnp.sum(jnp.real(d) ** 2 + jnp.imag(d) ** 2, axis=(1, 2))
    if not physics.leakage_aware:
        return loss
    R = jnp.einsum("kmn,kpn->kmp", sqrt_corr, jnp.conj(sqrt_corr))
    g = leakage_gains(v, devices, R, physics.echo_noise_var_w, physics.power_w, alpha0=physics.alpha0,
                      gamma=physics.gamma)
    norm2 = jnp.sum(jnp.abs(a) ** 2, axis=-1)
    along = jnp.sum(jnp.abs(jnp.einsum("km,kmn->kn", jnp.conj(a), d)) ** 2, axis=-1)
    rank = numerical_rank(R) if rank is None else rank
    return loss - g / (1.0 + g * norm2) * along + rank * jnp.log1p(g * norm2)


def sensing_fisher(v, sqrt_corr, rank, n_samples, devices, physics: SensingPhysics):
    """The curvature the coordinate steps use: the FIM (m^-2) at ``v`` of the model behind the local loss,
    (A.19)'s for the plain loss, :func:`~isac_jax.ota.finite_t.block_fisher_from_root` for the
    leakage-aware one. ``sqrt_corr = R^{1/2}``, ``rank`` ``[K]``. Output ``[3, 3]``."""
    P, s2 = physics.power_w, physics.echo_noise_var_w
    kw = {"alpha0": physics.alpha0, "gamma": physics.gamma}
    if physics.leakage_aware:
        return block_fisher_from_root(v, devices, sqrt_corr, rank, s2, n_samples, P, **kw)
    return fisher_information(v, devices, jnp.sqrt(P) * sqrt_corr, s2, n_samples, P, **kw)


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


def step_axes(J, coordinates: str):
    """Axes ``[3, 3]`` (columns) of the coordinate steps and the curvature ``[3]`` of ``J`` along them:
    the eigenvectors and eigenvalues of the Fisher matrix ``J[3, 3]`` (``"fisher"``), or x, y, z and
    ``diag(J)`` (``"xyz"``)."""
    J = 0.5 * (J + J.T)
    if coordinates == "xyz":
        return jnp.eye(3, dtype=J.dtype), jnp.diagonal(J)
    # Condition numbers reach 1e7 here: the weak eigenpair is resolved in float64, not in float32.
    lam, axes = jnp.linalg.eigh(J)
    return axes, lam


def refresh(v, stat_sum, corr_sum, n_samples, devices, physics: SensingPhysics, interval, info_cond) -> SensingState:
    """Statistics from the sums, then the side information at ``v`` (the step axes, the global Fisher
    curvature along them and the RMS over devices of each local-gradient component), all broadcast
    once per frame."""
    P, s2 = physics.power_w, physics.echo_noise_var_w
    C_eff = equivalent_precoders(corr_sum, n_samples, P)
    Xi_hat = whiten_statistics(stat_sum / n_samples, C_eff, s2, n_samples, P)
    sqrt_corr = C_eff / jnp.sqrt(P)
    rank = numerical_rank(corr_sum)
    axes, curvature = step_axes(sensing_fisher(v, sqrt_corr, rank, n_samples, devices, physics), physics.coordinates)
    grads = jax.jacrev(local_losses_from)(v, Xi_hat, sqrt_corr, n_samples, devices, physics, rank) @ axes   # [K, 3]
    scale = jnp.sqrt(jnp.mean(grads ** 2, axis=0))
    return SensingState(v, stat_sum, corr_sum, n_samples, Xi_hat, sqrt_corr, rank, axes, curvature,
                        jnp.where(scale > 0, scale, 1.0), interval, info_cond)


def pooled_crb(state: SensingState, target, devices, physics: SensingPhysics):
    """CRB(v) (A.19, m^2) at the true ``target`` of all data in ``state`` (its sample correlations)."""
    C_eff = equivalent_precoders(state.corr_sum, state.n_samples, physics.power_w)
    return crb(target, devices, C_eff, physics.echo_noise_var_w, state.n_samples, physics.power_w,
               alpha0=physics.alpha0, gamma=physics.gamma)


def pooled_finite_t(state: SensingState, target, devices, physics: SensingPhysics):
    """The finite-T bound and the least-squares MSE (m^2) at the true ``target`` of all data in ``state``
    (:mod:`isac_jax.ota.finite_t`: the other devices' leakage in each statistic as Gaussian
    interference, with the pooled sample correlations standing in for the signal correlations)."""
    R = state.corr_sum / state.n_samples
    args = (target, devices, R, physics.echo_noise_var_w, state.n_samples, physics.power_w)
    kw = {"alpha0": physics.alpha0, "gamma": physics.gamma}
    return finite_t_crb(*args, **kw), least_squares_mse(*args, **kw)


def pooled_conditional_crb(state: SensingState):
    """``tr J^{-1}`` (m^2) of ``state.info_cond``: the bound of all frames' statistics given the realised
    streams (:func:`~isac_jax.ota.finite_t.frame_conditional_information`), whatever the streams carry
    (pilots, gradient symbols, model updates); for streams that adapt to earlier echoes (Setups II/III)
    its mean over trials is at or above the valid bound, so only an estimator above it is conclusive."""
    return crb_trace(state.info_cond)


def search_region(region: RingSector) -> RingSector:
    """The target region widened by 5 m in range, 5 degrees each side in azimuth and 2 m in altitude.

    Coordinate steps in x, y, z followed by a projection onto the (non-separable) sector boundary can
    stall at boundary points that are not stationary; projecting only onto this wider set keeps the
    iterate free near the true region and still away from the devices' ring.
    """
    return RingSector(region.r_min_m, region.r_max_m + 5.0, region.arc_start_deg - 5.0, region.arc_width_deg + 10.0,
                      region.z_min_m - 2.0, region.z_max_m + 2.0)


def _trust(length, max_step_m):
    """A step length (m) clipped to ``+-max_step_m``; a non-finite one (a numerically singular Fisher
    matrix at a poor estimate) gives no step."""
    return jnp.where(jnp.isfinite(length), jnp.clip(length, -max_step_m, max_step_m), 0.0)


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
    info = frame_information(x, target, devices, physics, link_kind)
    return refresh(v0, *sums, devices, physics, jnp.zeros((), jnp.int32), info)


def transmit_frame(state: SensingState, key, learn, link: Link, devices, physics: SensingPhysics, link_kind: str):
    """The transmit side of one frame of Algorithm 2 (lines 8-15): the coordinate steps and what the
    devices radiate.

    ``learn[T, K]`` task-2 symbols (zeros when idle). ``link_kind``: ``"perfect"`` (orthogonal,
    noiseless: ``r = sum_k W_k g_k``) or ``"ota"`` (``r = sum_k A_k[t] g_k[t] + M[t]^H z[t]``); ``key``
    draws the receiver noise. Returns ``(v[3], interval, r[T, I] real, x[K, T, M])``: the estimate and
    interval counter after the frame, the aggregates (``r[:, 1]`` is the learning aggregate) and the
    transmit signals (A.1-A.2), the radar waveform of the frame.
    """
    if link_kind not in LINKS:
        raise ValueError(f"link_kind must be one of {LINKS}, got {link_kind!r}")
    T, n_tasks = link.pulses.shape[1], link.C.shape[2]
    noise = jnp.real(receiver_noise(key, link.Mrx, link.noise_var, 1)[0])              # [T, I]
    gains = jnp.real(link.gains)                                                        # g is real (A.5)
    w_sense = link.W[0, 0, 0]

    def loss_k(w):
        return local_losses_from(w, state.Xi_hat, state.sqrt_corr, state.n_samples, devices, physics, state.rank)

    region = search_region(physics.region)
    tiny = jnp.finfo(state.v.dtype).tiny

    def step(carry, inp):
        v, n = carry
        t, g2 = inp
        i = n % 3
        axis = state.axes[:, i]
        _, dl = jax.jvp(loss_k, (v,), (axis,))                       # u_i^T grad l_k(v) for every k  [K]
        g1 = jnp.clip(dl / state.scale[i], -physics.symbol_clip, physics.symbol_clip)
        g = _symbols(g1[None], g2[None], n_tasks)[:, 0]              # [K, I]
        if link_kind == "perfect":
            r = jnp.einsum("kij,kj->i", link.W, g)
        else:
            r = jnp.einsum("kij,kj->i", gains[t], g) + noise[t]
        G = state.scale[i] * r[0] / w_sense                           # global gradient component
        # line 15 of Algorithm 2: update along the component just received, scaled by the curvature
        length = _trust(physics.step * G / jnp.maximum(state.curvature[i], tiny), physics.max_step_m)
        v = region.project(v - length * axis)
        return (v, n + 1), (g1, r)

    (v, n), (g1, r) = jax.lax.scan(step, (state.v, state.interval), (jnp.arange(T), learn))
    return v, n, r, transmit_signals(link.C, _symbols(g1, learn, n_tasks), link.pulses)


def frame_information(x, target, devices, physics: SensingPhysics, link_kind: str):
    """:func:`~isac_jax.ota.finite_t.frame_conditional_information` of one frame ``x[K, T, M]`` at the
    true ``target`` (orthogonal echoes on a ``"perfect"`` link). Output ``[3, 3]`` (m^-2)."""
    return frame_conditional_information(target, devices, x, physics.echo_noise_var_w, alpha0=physics.alpha0,
                                         gamma=physics.gamma, orthogonal=link_kind == "perfect")


def sensing_frame(state: SensingState, key, learn, link: Link, devices, target, physics: SensingPhysics,
                  link_kind: str):
    """One frame of T intervals of Algorithm 2 (lines 3-20): :func:`transmit_frame`, then the echoes of
    what was sent update the statistics (line 7).

    Returns ``(new_state, r[T, I] real)``; ``r[:, 1]`` is the learning aggregate.
    """
    k_noise, k_echo = jax.random.split(key)
    v, n, r, x = transmit_frame(state, k_noise, learn, link, devices, physics, link_kind)
    sums = accumulate((state.stat_sum, state.corr_sum, state.n_samples), k_echo, x, target, devices, physics,
                      orthogonal=link_kind == "perfect")
    info = state.info_cond + frame_information(x, target, devices, physics, link_kind)
    return refresh(v, *sums, devices, physics, n, info), r


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


def _link_sum(key, values, link: Link, link_kind: str, repeats: int):
    """``sum_k w_k values[k, j]`` for every j, carried by task 1 over the link. ``values[K, n]``.

    The values are standardised (mean and std as side information); on an OTA link every value is
    sent ``repeats`` times and the PS averages the repeats. Returns the aggregate ``[n]`` and the
    standard deviation of its error, which the PS knows from the worst interval's task-1 row of
    (A.6) (zero on a perfect link).
    """
    w = link.W[:, 0, 0]
    z, mean, std = standardise(values, w)
    if link_kind == "perfect":
        return destandardise(jnp.einsum("k,kj->j", w, z), mean, std, w), jnp.zeros((), z.dtype)
    K, n = z.shape
    T, n_tasks = link.pulses.shape[1], link.C.shape[2]
    m = n * repeats
    F = -(-m // T)
    g = jnp.zeros((K, F * T, n_tasks), z.dtype).at[:, :m, 0].set(jnp.tile(z, (1, repeats)))
    g = g.reshape(K, F, T, n_tasks).transpose(1, 2, 0, 3)                               # [F, T, K, I]
    agg = jnp.real(aggregate_stream(key, g, link.gains, link.Mrx, link.noise_var))[..., 0].reshape(-1)[:m]
    agg = jnp.mean(agg.reshape(repeats, n), axis=0)
    row_err = (jnp.sum(jnp.abs(link.gains[:, :, 0, :] - link.W[None, :, 0, :]) ** 2, axis=(1, 2))
               + link.noise_var * jnp.sum(jnp.abs(link.Mrx[:, :, 0]) ** 2, axis=1))
    return destandardise(agg, mean, std, w), std * jnp.sqrt(jnp.max(row_err) / repeats)


def acquire(state: SensingState, key, link: Link, devices, physics: SensingPhysics, link_kind: str, *,
            grid_shape=(10, 10, 4), repeats: int = 8, n_candidates: int = 6, n_sweeps: int = 4) -> SensingState:
    """Over-the-air search for a better basin (replaces Algorithm 2's random start; repeated per round).

    A random start often stalls in a local minimum of the non-convex ``l`` (azimuth is seen only
    through the echo amplitudes), and a grid point next to the truth can score worse than a wrong
    local minimum once the statistics are sharp. So, all over task 1 of the link
    (:func:`_link_sum`; costs ``(G + C (3 S + 1)) * repeats`` channel uses, ``G = prod(grid_shape)``):

    1. every device sends its losses ``l_k`` at the grid points of the target region, relative to its
       loss at the current estimate; the PS keeps the ``C = n_candidates`` best points;
    2. ``S = n_sweeps`` coordinate-Newton sweeps polish all candidates in parallel (aggregated
       gradient components along :func:`step_axes` of the global Fisher matrix at each candidate,
       axes and curvatures as side information);
    3. the devices send their losses at the polished candidates, and the estimate moves to the best
       one only if the aggregated loss change is below ``-3`` standard deviations of the aggregation
       error (on a perfect link: whenever it is negative), so noise cannot make it jump.

    Returns the state at the chosen point with its side information refreshed.
    """
    def losses(points):                                                                 # [n, 3] -> [K, n]
        return jax.vmap(lambda v: local_losses_from(v, state.Xi_hat, state.sqrt_corr, state.n_samples, devices,
                                                    physics, state.rank))(points).T

    k_grid, k_polish, k_final = jax.random.split(key, 3)
    here = losses(state.v[None])                                                         # [K, 1]
    grid = physics.region.grid(*grid_shape)
    change, _ = _link_sum(k_grid, losses(grid) - here, link, link_kind, repeats)
    cand = grid[jnp.argsort(change)[:n_candidates]]                                      # [C, 3]
    w_mean = jnp.mean(link.W[:, 0, 0])                        # G / w_mean: the sum of local gradients
    region = search_region(physics.region)

    def sweep(c, k):
        axes, curv = jax.vmap(lambda v: step_axes(sensing_fisher(v, state.sqrt_corr, state.rank, state.n_samples,
                                                                 devices, physics),
                                                  physics.coordinates))(c)               # [C, 3, 3], [C, 3]
        for i, ki in enumerate(jax.random.split(k, 3)):
            grads = jax.vmap(lambda v, u: jax.jvp(lambda w: local_losses_from(w, state.Xi_hat, state.sqrt_corr,
                                                                              state.n_samples, devices, physics,
                                                                              state.rank),
                                                  (v,), (u,))[1])(c, axes[:, :, i]).T   # [K, C]
            G, _ = _link_sum(ki, grads, link, link_kind, repeats)
            length = _trust(G / (w_mean * jnp.maximum(curv[:, i], jnp.finfo(G.dtype).tiny)), physics.max_step_m)
            c = jax.vmap(region.project)(c - length[:, None] * axes[:, :, i])
        return c, None

    cand, _ = jax.lax.scan(sweep, cand, jax.random.split(k_polish, n_sweeps))
    change, noise_sd = _link_sum(k_final, losses(cand) - here, link, link_kind, repeats)
    j = jnp.argmin(change)
    v0 = jnp.where(change[j] < -3.0 * noise_sd, cand[j], state.v)
    return refresh(v0, state.stat_sum, state.corr_sum, state.n_samples, devices, physics, state.interval,
                   state.info_cond)
