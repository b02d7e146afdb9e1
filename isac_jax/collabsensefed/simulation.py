"""Round-by-round simulation of FEEL, CollabSenseFed and their baselines (Paper A, Sec. V).

:func:`simulate` runs one scheme of :data:`SCHEMES` for ``n_rounds`` communication rounds on
``n_trials`` independent realisations at once (``vmap`` over trials; clients and intervals are
vectorised / scanned inside). Every trial has its own geometry (Sec. V.A), model initialisation,
minibatches, Rayleigh channels redrawn every ``coherence_rounds`` rounds with the beamformers
redesigned by Algorithm 1 (:func:`~isac_jax.ota.design_beamformers`), receiver and echo noise.

Schemes (names as in ``results.json``):

======================  ===========  =========  ====  ==================================================
name                    learning     sensing    I     meaning
======================  ===========  =========  ====  ==================================================
``perfect_feel``        perfect      --         1     FedAvg over ideal links, no target
``ota_feel``            OTA          --         1     OTA-FEEL without sensing
``collabsensefed``      OTA          OTA        2     Algorithm 2, joint (= Setup III)
``setup_iii``           OTA          OTA        2     alias of ``collabsensefed`` (Fig. 4 naming)
``setup_i``             --           perfect    2     sensing only, noiseless orthogonal links
``setup_ii``            --           OTA        2     sensing only, OTA aggregation
``ota_sensing_i1``      --           OTA        1     sensing only, precoders designed for I = 1
``single_shot``         --           one-shot   2     local ML on the first frame, averaged once
======================  ===========  =========  ====  ==================================================

Every scheme uses the same number of channel uses per round (``d`` intervals, the model size, or
``intervals_per_round`` for sensing-only runs) and the same power budget. Sensing-only schemes
send zeros on an idle task 2. A pilot frame and an over-the-air grid acquisition precede round 1
for the sensing schemes; the acquisition is repeated after every round (see
:mod:`~isac_jax.collabsensefed.sensing`).

A run is checkpointed after every round (msgpack + SHA-256, no pickle); rerunning with the same
arguments resumes and gives the same curves as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.geometry import PAPER_A_DEVICE_REGION, PAPER_A_TARGET_REGION
from ..core.pulses import dft_pulses
from ..core.validate import check_int
from ..fl.clients import Federated, FlData, destandardise, fedavg, standardise
from ..ota.aggregation import aggregate_stream, debias_receiver, effective_gains
from ..ota.design import design_beamformers
from ..ota.scenario import rayleigh_channels
from ..ota.system import PaperASystem
from .sensing import (Link, SensingPhysics, acquire, pilot_frame, pooled_conditional_crb, pooled_crb, pooled_finite_t,
                      sensing_frames, single_shot)


LEARNING_PAYLOADS = ("model", "interleaved", "shuffled", "independent")


@dataclasses.dataclass(frozen=True)
class FeelProtocol:
    """How the devices run the FEEL / CollabSenseFed protocol on a :class:`~isac_jax.ota.PaperASystem`.

    ``energy_fraction`` eta sets Algorithm 1's epsilon as ``1/(eta K P)``; channels are redrawn (and
    the beamformers redesigned with ``bcd_iter`` BCD iterations) every ``coherence_rounds`` rounds;
    ``grid_shape`` is the acquisition / single-shot grid over the target region, repeated
    ``acquisition_repeats`` times over the air; ``init`` is ``"grid"`` (over-the-air acquisition) or
    ``"random"`` (Algorithm 2's literal random start); ``debias`` rescales the receiver so that
    aggregates are unbiased (:func:`~isac_jax.ota.debias_receiver`); ``ota_step`` damps the location
    steps taken from over-the-air gradients (1 on perfect links); ``leakage_aware`` makes the local loss
    on shared (non-orthogonal) echoes the Gaussian likelihood of the finite-T leakage model instead of
    (A.18)'s least squares (:func:`~isac_jax.collabsensefed.sensing.local_losses_from`).
    ``learning_payload`` (schemes that learn and sense) is what task 2 radiates, whose echoes the
    sensing statistics contain: ``"interleaved"`` (default) the standardised model updates under one
    pseudo-random permutation per round shared by all devices (the PS undoes it, so the over-the-air
    sum is unchanged); ``"model"`` the same in parameter order, as Algorithm 2 streams them, where
    runs of structured values (weights with zero gradient on every device stream one common value)
    keep the estimator far above its bound (``docs/modelling/paper-a-collabsensefed.md``). Two diagnostics aggregate the model over
    separate over-the-air channel uses, as OTA FEEL does, and radiate on task 2 either
    ``"shuffled"`` (each device's updates under its own permutation: the same values, no
    cross-device correlation) or ``"independent"`` (i.i.d. standard normal symbols, the finite-T
    leakage model's assumption)."""

    energy_fraction: float = 0.9
    coherence_rounds: int = 4
    bcd_iter: int = 10
    grid_shape: tuple = (8, 8, 3)
    acquisition_repeats: int = 8
    init: str = "grid"
    debias: bool = True
    ota_step: float = 0.05
    leakage_aware: bool = True
    learning_payload: str = "interleaved"

    def __post_init__(self):
        for name in ("coherence_rounds", "bcd_iter", "acquisition_repeats"):
            check_int(name, getattr(self, name))
        if not 0.0 < self.energy_fraction <= 1.0:
            raise ValueError(f"energy_fraction must be in (0, 1], got {self.energy_fraction}")
        if not 0.0 < self.ota_step <= 1.0:
            raise ValueError(f"ota_step must be in (0, 1], got {self.ota_step}")
        if self.init not in ("grid", "random"):
            raise ValueError(f"init must be 'grid' or 'random', got {self.init!r}")
        if self.learning_payload not in LEARNING_PAYLOADS:
            raise ValueError(f"learning_payload must be one of {', '.join(LEARNING_PAYLOADS)}, "
                             f"got {self.learning_payload!r}")

    def physics(self, system: PaperASystem, link_kind: str | None = None) -> SensingPhysics:
        """The sensing constants of ``system`` with this protocol's step for links of ``link_kind``."""
        step = self.ota_step if link_kind == "ota" else 1.0
        return SensingPhysics(power_w=system.power_w, echo_noise_var_w=system.echo_noise_var_w,
                              alpha0=system.alpha0, gamma=system.gamma, step=step, region=PAPER_A_TARGET_REGION,
                              leakage_aware=self.leakage_aware and link_kind == "ota")


def check_feel_system(system: PaperASystem) -> None:
    """The FEEL simulations use DFT pulses (A.2): ``frame_length`` T must be >= ``n_devices`` K."""
    if system.frame_length < system.n_devices:
        raise ValueError(f"frame_length T={system.frame_length} must be >= n_devices K={system.n_devices} "
                         "(DFT pulses)")


class Scheme(NamedTuple):
    """What a scheme of :data:`SCHEMES` runs: how the model is learned, how the target is sensed, and the
    number ``I`` of OTA tasks its precoders are designed for."""

    learning: str | None      # "perfect" | "ota" | None
    sensing: str | None       # "perfect" | "ota" | "single_shot" | None
    n_tasks: int


#: Every scheme of the module docstring's table, by name (``setup_iii`` is ``collabsensefed``).
SCHEMES = {
    "perfect_feel": Scheme("perfect", None, 1),
    "ota_feel": Scheme("ota", None, 1),
    "collabsensefed": Scheme("ota", "ota", 2),
    "setup_iii": Scheme("ota", "ota", 2),
    "setup_i": Scheme(None, "perfect", 2),
    "setup_ii": Scheme(None, "ota", 2),
    "ota_sensing_i1": Scheme(None, "ota", 1),
    "single_shot": Scheme(None, "single_shot", 2),
}


def get_scheme(name: str) -> Scheme:
    """The :data:`SCHEMES` entry ``name``; a ValueError names the known schemes otherwise."""
    if name not in SCHEMES:
        raise ValueError(f"unknown scheme {name!r}; known: {', '.join(SCHEMES)}")
    return SCHEMES[name]


def _weights(scheme: Scheme, K: int, learn_w, dtype):
    """Aggregation weights ``W[K, I, I]``: 1/K for sensing (a plain sum of gradients), n_k/n for learning."""
    sense_w = jnp.full((K,), 1.0 / K, dtype)
    if scheme.n_tasks == 2:
        second = learn_w if scheme.learning else sense_w
        return jax.vmap(jnp.diag)(jnp.stack([sense_w, second.astype(dtype)], axis=-1))
    w = learn_w.astype(dtype) if scheme.learning else sense_w
    return w[:, None, None]


def design_link(key, scheme: Scheme, system: PaperASystem, protocol: FeelProtocol, learn_w, dtype) -> Link:
    """Rayleigh channels for one coherence block and Algorithm 1's beamformers for them."""
    K, N, M, T = system.n_devices, system.n_ps_antennas, system.n_antennas, system.frame_length
    H = rayleigh_channels(key, K, N, M, dtype=dtype)
    W = _weights(scheme, K, learn_w, dtype)
    pulses = dft_pulses(K, T).astype(H.dtype)
    eps = 1.0 / (protocol.energy_fraction * K * system.power_w)
    Mrx, C, _ = design_beamformers(H, W, pulses, system.noise_var_w, system.power_w, eps, max_iter=protocol.bcd_iter)
    if protocol.debias:
        Mrx = debias_receiver(H, C, W, pulses, Mrx)
    return Link(C, W, pulses, Mrx, effective_gains(H, C, pulses, Mrx), jnp.asarray(system.noise_var_w, dtype))


def _frames(z, F: int, T: int):
    """``z[K, d]`` -> ``[F, T, K]`` (zero-padded to ``F T`` intervals)."""
    K, d = z.shape
    return jnp.zeros((K, F * T), z.dtype).at[:, :d].set(z).reshape(K, F, T).transpose(1, 2, 0)


def frame_correlation(z, T: int):
    """Cross-device correlation of the task-2 payload within each frame: ``z[K, d]`` (the streamed
    symbols) -> ``C[F, K, K]``, ``C_kl = sum_t z_k z_l / sqrt(sum_t z_k^2 sum_t z_l^2)`` over the ``T``
    intervals of a frame (``F = floor(d / T)`` full frames; an all-zero frame gives 0). The finite-T
    leakage model assumes independent signals, whose off-diagonal ``C_kl`` are ``O(1/sqrt(T))`` with
    mean 0."""
    K, d = z.shape
    F = d // T
    if F < 1:
        raise ValueError(f"z must hold at least one frame of T={T} intervals per device, got d={d}")
    zf = z[:, :F * T].reshape(K, F, T)
    S = jnp.einsum("kft,lft->fkl", zf, zf)
    p = jnp.sqrt(jnp.einsum("fkk->fk", S))
    den = p[:, :, None] * p[:, None, :]
    return jnp.where(den > 0, S / jnp.where(den > 0, den, 1.0), 0.0)


def _ota_learning(key, deltas, link: Link, weights, F: int, T: int):
    """OTA-FEEL aggregate of one round (I = 1): standardise, stream, de-standardise. Output ``[d]``."""
    d = deltas.shape[1]
    z, mean, std = standardise(deltas, weights)
    g = _frames(z, F, T)[..., None]                                                 # [F, T, K, 1]
    r = jnp.real(aggregate_stream(key, g, link.gains, link.Mrx, link.noise_var))[..., 0].reshape(-1)[:d]
    return destandardise(r, mean, std, weights)


class Trial(NamedTuple):
    """One independent realisation: its ``key``, ``devices[K, 3]`` and ``target[3]`` (m), Sec. V.A."""

    key: jax.Array
    devices: jax.Array
    target: jax.Array


def draw_trials(key, n_trials: int, K: int, dtype) -> Trial:
    """``n_trials`` trials (a :class:`Trial` with a leading trial axis): keys split from ``key``,
    devices and target drawn in the Sec. V.A regions."""
    keys = jax.random.split(key, n_trials)

    def one(k):
        k_dev, k_tgt = jax.random.split(jax.random.fold_in(k, 0))
        return Trial(k, PAPER_A_DEVICE_REGION.sample(k_dev, K).astype(dtype),
                      PAPER_A_TARGET_REGION.sample(k_tgt, 1)[0].astype(dtype))

    return jax.vmap(one)(keys)


def _signature(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


class _Setting(NamedTuple):
    """Everything static about one simulation (hashable by value): the jitted functions below take it
    as a static argument, so runs with equal settings share one compilation through JAX's cache."""

    scheme: Scheme
    system: PaperASystem
    protocol: FeelProtocol
    federated: Federated | None
    d: int
    dtype_name: str

    @property
    def sense_kind(self):
        return {"perfect": "perfect", "ota": "ota", "single_shot": "ota", None: None}[self.scheme.sensing]

    @property
    def physics(self) -> SensingPhysics:
        return self.protocol.physics(self.system, self.sense_kind)

    @property
    def n_frames(self) -> int:
        return -(-self.d // self.system.frame_length)


@functools.partial(jax.jit, static_argnums=0)
def _links(setting: _Setting, keys, learn_w):
    dtype = jnp.dtype(setting.dtype_name)
    return jax.vmap(lambda k: design_link(k, setting.scheme, setting.system, setting.protocol, learn_w, dtype))(keys)


def _start_one(setting: _Setting, trial: Trial, link: Link, data):
    scheme, K, T = setting.scheme, setting.system.n_devices, setting.system.frame_length
    dtype, physics = jnp.dtype(setting.dtype_name), setting.physics
    k_theta, k_v, k_pilot, _ = jax.random.split(jax.random.fold_in(trial.key, 1), 4)
    theta = setting.federated.init(k_theta) if scheme.learning else jnp.zeros((1,), dtype)
    state = jnp.zeros((), dtype)          # schemes without sensing carry an empty (scalar) state
    if scheme.sensing:
        v0 = physics.region.sample(k_v, 1)[0].astype(dtype)
        state = pilot_frame(k_pilot, v0, jnp.zeros((T, K), dtype), link, trial.devices, trial.target,
                            physics, setting.sense_kind)
        if scheme.sensing == "single_shot":
            state = state._replace(v=single_shot(state, trial.devices, physics,
                                                 grid_shape=setting.protocol.grid_shape))
    return theta, state


def _acquire_one(setting: _Setting, trial: Trial, link: Link, state, salt):
    """:func:`acquire` with the key of the start (``salt = 1``) or of round r (``salt = 10_000 + r``);
    one compilation shared by both."""
    k_acq = jax.random.split(jax.random.fold_in(trial.key, salt), 4)[3]
    return acquire(state, k_acq, link, trial.devices, setting.physics, setting.sense_kind,
                   grid_shape=setting.protocol.grid_shape, repeats=setting.protocol.acquisition_repeats)


def _round_one(setting: _Setting, trial: Trial, link: Link, theta, state, rnd, data):
    scheme, federated = setting.scheme, setting.federated
    K, T, F, d = setting.system.n_devices, setting.system.frame_length, setting.n_frames, setting.d
    dtype = jnp.dtype(setting.dtype_name)
    k = jax.random.fold_in(trial.key, 10_000 + rnd)
    k_clients, k_ota, k_sense, k_payload = jax.random.split(k, 4)
    r_learn = None
    if scheme.learning:
        deltas = federated.client_updates(theta, k_clients, data)                    # [K, d]
    payload = setting.protocol.learning_payload
    streams_model = scheme.learning and payload in ("model", "interleaved")
    if scheme.sensing in ("perfect", "ota"):
        learn, order = jnp.zeros((F, T, K), dtype), None
        if scheme.learning:
            z, mean, std = standardise(deltas, data.weights)
            if payload == "interleaved":            # one permutation for all devices: the sum survives it
                order = jax.random.permutation(k_payload, d)
                z = z[:, order]
            elif payload == "shuffled":             # diagnostics (FeelProtocol.learning_payload)
                orders = jax.vmap(lambda kk: jax.random.permutation(kk, d))(jax.random.split(k_payload, K))
                z = jnp.take_along_axis(z, orders, axis=1)
            elif payload == "independent":
                z = jax.random.normal(k_payload, (K, d), dtype)
            learn = _frames(z, F, T)
        state, r, v_hist = sensing_frames(state, k_sense, learn, link, trial.devices, trial.target, setting.physics,
                                          setting.sense_kind)
        if streams_model:
            agg = r[..., 1].reshape(-1)[:d]
            if order is not None:
                agg = jnp.zeros_like(agg).at[order].set(agg)
            r_learn = destandardise(agg, mean, std, data.weights)
    else:
        v_hist = jnp.broadcast_to(state.v, (F, 3)) if scheme.sensing else jnp.zeros((F, 3), dtype)
    if scheme.learning == "perfect":
        theta = theta + fedavg(deltas, data.weights)
    elif scheme.learning == "ota":
        if r_learn is None:
            r_learn = _ota_learning(k_ota, deltas, link, data.weights, F, T)
        theta = theta + r_learn.astype(theta.dtype)
    return theta, state, v_hist


def _metrics_one(setting: _Setting, trial: Trial, theta, state, data):
    scheme, dtype = setting.scheme, jnp.dtype(setting.dtype_name)
    acc = setting.federated.accuracy(theta, data.x_test, data.y_test) if scheme.learning else jnp.zeros(())
    if scheme.sensing:
        se = jnp.sum((state.v - trial.target) ** 2)
        bound = pooled_crb(state, trial.target, trial.devices, setting.physics)
        if setting.sense_kind == "perfect":           # orthogonal echoes: no leakage, LS attains CRB(v)
            bound_t = ls = bound
        else:
            bound_t, ls = pooled_finite_t(state, trial.target, trial.devices, setting.physics)
        bound_c = pooled_conditional_crb(state)
    else:
        se = bound = bound_t = ls = bound_c = jnp.zeros((), dtype)
    return acc, se, bound, bound_t, ls, bound_c


@functools.partial(jax.jit, static_argnums=0)
def _start(setting, trials, link, data):
    return jax.vmap(functools.partial(_start_one, setting), (0, 0, None))(trials, link, data)


@functools.partial(jax.jit, static_argnums=0)
def _acquire(setting, trials, link, state, salt):
    return jax.vmap(functools.partial(_acquire_one, setting), (0, 0, 0, None))(trials, link, state, salt)


@functools.partial(jax.jit, static_argnums=0)
def _round(setting, trials, link, theta, state, rnd, data):
    return jax.vmap(functools.partial(_round_one, setting), (0, 0, 0, 0, None, None))(trials, link, theta, state,
                                                                                      rnd, data)


@functools.partial(jax.jit, static_argnums=0)
def _metrics(setting, trials, theta, state, data):
    return jax.vmap(functools.partial(_metrics_one, setting), (0, 0, 0, None))(trials, theta, state, data)


class SimulationResult(NamedTuple):
    """What :func:`simulate` returns: host (NumPy) arrays, one column per trial (a pytree).

    ``R`` is ``n_rounds``, ``S`` ``n_trials``, ``K`` the number of devices and ``F`` the number of
    frames per round (``ceil(intervals_per_round / T)``). Rounds a run has not reached yet
    (``stop_after``) are NaN. Fields a scheme does not produce are ``None``: ``accuracy`` for the
    sensing-only schemes, the sensing fields for ``perfect_feel`` and ``ota_feel``.

    Attributes:
        intervals_per_round: channel uses (OTA intervals) per round, ``d``: the model size of a
            learning scheme, ``intervals_per_round`` of a sensing-only one (int).
        targets: ``float[S, 3]`` true target position of every trial (m).
        devices: ``float[S, K, 3]`` device positions of every trial (m, Sec. V.A).
        accuracy: ``float[R+1, S]`` test accuracy (fraction in [0, 1]) after each round, entry 0 at
            initialisation; ``None`` for sensing-only schemes.
        location_se: ``float[R+1, S]`` squared error ``||v - target||^2`` (m^2) of the estimate after
            each round, entry 0 after the acquisition; ``None`` without sensing.
        crb: ``float[R+1, S]`` CRB(v) (A.19) of the echo data gathered by then (m^2).
        crb_finite_t: ``float[R+1, S]`` the finite-T bound of the same data (m^2,
            :func:`~isac_jax.collabsensefed.sensing.pooled_finite_t`); equal to ``crb`` on orthogonal echoes.
        ls_mse_finite_t: ``float[R+1, S]`` the least-squares MSE under that finite-T model (m^2).
        crb_conditional: ``float[R+1, S]`` the bound of the same statistics given the realised streams
            (m^2, :func:`~isac_jax.collabsensefed.sensing.pooled_conditional_crb`), whatever the streams
            carry (gradient symbols included); for adaptive streams its mean over trials is at or above
            the valid bound (see :func:`~isac_jax.ota.finite_t.frame_conditional_information`).
        location_se_frames: ``float[F, S]`` squared error (m^2) after each frame of round 1.
        estimates: ``float[S, 3]`` the final position estimate ``v`` of every trial (m).
    """

    intervals_per_round: int
    targets: np.ndarray
    devices: np.ndarray
    accuracy: np.ndarray | None = None
    location_se: np.ndarray | None = None
    crb: np.ndarray | None = None
    crb_finite_t: np.ndarray | None = None
    ls_mse_finite_t: np.ndarray | None = None
    crb_conditional: np.ndarray | None = None
    location_se_frames: np.ndarray | None = None
    estimates: np.ndarray | None = None


def simulate(scheme_name: str, system: PaperASystem, n_rounds: int, key, *, protocol: FeelProtocol = FeelProtocol(),
             n_trials: int = 1, federated: Federated | None = None, data: FlData | None = None,
             intervals_per_round: int | None = None, checkpoint=None, progress: bool = False, desc: str = "",
             stop_after: int | None = None, geometry=None) -> SimulationResult:
    """Run ``scheme_name`` for ``n_rounds`` rounds on ``n_trials`` trials (vmapped) of ``system`` under
    ``protocol``.

    ``federated`` (:func:`~isac_jax.fl.make_federated`) and ``data`` are needed by the
    learning schemes; sensing-only schemes need ``intervals_per_round`` (use the model size of the
    learning run they are compared with, so channel uses match). Returns a :class:`SimulationResult`
    (per-round accuracy, squared location error and bounds, one column per trial).
    ``checkpoint``: file path; the run resumes from it when it exists (same arguments required).
    ``stop_after``: return after this many rounds of this call (the rest stays NaN); with a
    checkpoint, a later call continues (an interruption that loses nothing).
    ``geometry``: ``(devices[K, 3], target[3])`` (m) shared by every trial instead of drawn ones, so the
    trials differ only in their keys (the bias and variance of the estimator at one geometry).
    """
    scheme = get_scheme(scheme_name)
    check_feel_system(system)
    n_rounds = check_int("n_rounds", n_rounds, minimum=0)
    n_trials = check_int("n_trials", n_trials)
    if scheme.learning and (federated is None or data is None):
        raise ValueError(f"scheme {scheme_name!r} trains a model: pass federated= and data=")
    K, T = system.n_devices, system.frame_length
    if scheme.learning:
        if data.indices.shape[0] != K:
            raise ValueError(f"data has {data.indices.shape[0]} clients but system.n_devices is {K}")
        d = federated.n_params
    else:
        if intervals_per_round is None:
            raise ValueError(f"sensing-only scheme {scheme_name!r} needs intervals_per_round")
        d = check_int("intervals_per_round", intervals_per_round)
    F = -(-d // T)
    dtype = jnp.zeros(()).dtype
    trials = draw_trials(key, n_trials, K, dtype)
    if geometry is not None:
        dev, tgt = (jnp.asarray(g, dtype) for g in geometry)
        if dev.shape != (K, 3) or tgt.shape != (3,):
            raise ValueError(f"geometry must be (devices[{K}, 3], target[3]), got shapes {dev.shape}, {tgt.shape}")
        trials = trials._replace(devices=jnp.broadcast_to(dev, (n_trials, K, 3)),
                                 target=jnp.broadcast_to(tgt, (n_trials, 3)))
    learn_w = data.weights if scheme.learning else jnp.full((K,), 1.0 / K, dtype)
    setting = _Setting(scheme, system, protocol, federated if scheme.learning else None, d, jnp.dtype(dtype).name)

    def links_for(block):
        return _links(setting, jax.vmap(lambda k: jax.random.fold_in(k, 1000 + block))(trials.key), learn_w)

    acc = np.full((n_rounds + 1, n_trials), np.nan)
    se = np.full((n_rounds + 1, n_trials), np.nan)
    bound = np.full((n_rounds + 1, n_trials), np.nan)
    bound_t = np.full((n_rounds + 1, n_trials), np.nan)
    ls = np.full((n_rounds + 1, n_trials), np.nan)
    bound_c = np.full((n_rounds + 1, n_trials), np.nan)
    se_frames = np.full((F, n_trials), np.nan)
    tracks = scheme.sensing in ("perfect", "ota")          # over-the-air acquisition before every round
    link = links_for(0)
    theta, state = _start(setting, trials, link, data)
    done = 0
    key_bits = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    geo = None if geometry is None else [np.asarray(g).tolist() for g in geometry]
    signature = _signature(scheme_name, system, protocol, n_rounds, n_trials, d, np.asarray(key_bits).tolist(), geo)
    template = {"signature": "", "done": 0, "theta": theta, "state": state, "acc": acc, "se": se, "bound": bound,
                "bound_t": bound_t, "ls": ls, "bound_c": bound_c, "se_frames": se_frames}
    ckpt = None if checkpoint is None else Path(checkpoint)
    if ckpt is not None and ckpt.exists():
        saved = load_checkpoint(ckpt, template)
        if saved["signature"] != signature:
            raise ValueError(f"checkpoint {str(ckpt)!r} was written by another run; use another path")
        done, theta, state = int(saved["done"]), saved["theta"], saved["state"]
        acc, se, bound, bound_t, ls, bound_c, se_frames = (np.array(saved[n]) for n in (
            "acc", "se", "bound", "bound_t", "ls", "bound_c", "se_frames"))
    else:
        if tracks and protocol.init == "grid":
            state = _acquire(setting, trials, link, state, 1)
        acc[0], se[0], bound[0], bound_t[0], ls[0], bound_c[0] = (np.asarray(a) for a in _metrics(setting, trials, theta,
                                                                                                  state, data))

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=n_rounds, initial=done, desc=desc or scheme_name, leave=False)
    last = n_rounds if stop_after is None else min(n_rounds, done + check_int("stop_after", stop_after))
    for rnd in range(done, last):
        block = rnd // protocol.coherence_rounds
        if rnd == done or rnd % protocol.coherence_rounds == 0:
            link = links_for(block)
        theta, state, v_hist = _round(setting, trials, link, theta, state, rnd, data)
        if tracks:
            state = _acquire(setting, trials, link, state, 10_000 + rnd)
        metrics = (np.asarray(a) for a in _metrics(setting, trials, theta, state, data))
        acc[rnd + 1], se[rnd + 1], bound[rnd + 1], bound_t[rnd + 1], ls[rnd + 1], bound_c[rnd + 1] = metrics
        if rnd == 0:
            se_frames = np.asarray(jnp.sum((v_hist - trials.target[:, None]) ** 2, axis=-1)).T
        if not np.all(np.isfinite(se[rnd + 1])) or (scheme.learning and not np.all(np.isfinite(np.asarray(theta)))):
            raise FloatingPointError(f"{scheme_name}: non-finite state after round {rnd + 1}")
        if ckpt is not None:
            save_checkpoint(ckpt, {"signature": signature, "done": rnd + 1, "theta": theta, "state": state, "acc": acc,
                                   "se": se, "bound": bound, "bound_t": bound_t, "ls": ls, "bound_c": bound_c,
                                   "se_frames": se_frames})
        if bar is not None:
            bar.update(1)
            post = {"acc": float(np.mean(acc[rnd + 1]))} if scheme.learning else {}
            if scheme.sensing:
                post["mse"] = float(np.mean(se[rnd + 1]))
            bar.set_postfix(post)
    if bar is not None:
        bar.close()
    sensing = {}
    if scheme.sensing:
        sensing = dict(location_se=se, crb=bound, crb_finite_t=bound_t, ls_mse_finite_t=ls, crb_conditional=bound_c,
                       location_se_frames=se_frames, estimates=np.asarray(state.v))
    return SimulationResult(intervals_per_round=d, targets=np.asarray(trials.target),
                            devices=np.asarray(trials.devices), accuracy=acc if scheme.learning else None, **sensing)
