"""Paper A, Fig. 4: target-location MSE vs communication rounds for every sensing scheme.

The judged bound of every setup is ``bound``: the CRB of all frames' statistics *given the realised
transmit streams* (``crb_conditional``, :func:`~isac_jax.ota.finite_t.frame_conditional_information`),
whatever the devices radiate (gradient symbols, model updates in any order). For the adaptive Setups
II and III its mean is at or above the valid bound ``tr (E J)^-1``: a setup above it is above the valid
bound, one below it is a flag to investigate (the function's docstring). Setup III is
Algorithm 2 as the paper states it: task 2 streams entry t of the model update in interval t
(``learning_payload="model"``); the common interleaver is the named variant ``setup_iii_interleaved``.
``res["final"][scheme]`` holds, for the last round, ``location_mse`` and ``location_mse_se`` over the
geometries, ``bound``, the per-trial ratios MSE / bound (``ratio_mean``, ``ratio_median`` with
bootstrap 95 % intervals ``*_ci``), ``clipped_fraction`` (runs ending on the search region's edge or
more than ``far_m`` off), and, from ``n_repeats`` runs that share one geometry (trial
``repeat_trial``'s) and differ only in their keys, ``bias_sq``, ``variance`` (the MSE's
decomposition), ``repeat_mse``/``repeat_mse_se``, ``repeat_bound`` and ``repeat_clipped_fraction``.
``acquisition_channel_uses_per_round`` counts the over-the-air acquisition's uses that the tracking
setups spend before each round beside the ``intervals_per_round`` every scheme spends.

Setups I-III of CollabSenseFed, OTA sensing with I = 1 and the single-shot baseline, all with the
same channel uses per round on their frames (the learning model's size ``d``) and power budget, plus,
per scheme and round, ``crb_conditional`` (the judged bound above), and as internal references the
mean CRB(v) of the data gathered by then (A.19, with the devices' sample correlations; ``crb``), the
finite-T model of the same statistics with the other devices' leakage as independent-signal Gaussian
interference (``crb_finite_t``, :mod:`isac_jax.ota.finite_t`; not a bound for gradient or model-update
streams, ``docs/modelling/paper-a-evidence.md``), the asymptotic MSE of the devices' least-squares localiser under it
(``ls_mse_finite_t``) and CRB_L (Theorem 2) at the same effective frame length (``crb_l``). Setup III trains ``task`` at the same time (the
paper uses CIFAR-10; the quick preset uses the digits MLP so 50 trials stay cheap).

``payload_ablations`` also runs Setup III with each listed ``FeelProtocol.learning_payload`` (key
``setup_iii_{payload}``; same trials, channels and keys): ``"interleaved"`` (one permutation per round
shared by all devices; the over-the-air sum is unchanged, the radar waveform is not) is beyond the
paper, ``"shuffled"`` and ``"independent"`` are diagnostics (:class:`~isac_jax.collabsensefed.FeelProtocol`).
With any of them, ``payload_frame_correlation`` records the cross-device correlation of the first
round's updates in parameter order (:func:`payload_correlation`).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ...collabsensefed import FeelProtocol, frame_correlation
from ...collabsensefed.sensing import search_region
from ...core.geometry import PAPER_A_TARGET_REGION
from ...core.precision import float64
from ...fl.clients import standardise
from ...ota.bounds import universal_constant
from ...ota.system import PaperASystem
from .feel import FEEL_SYSTEM, FeelTask, curve_results, prepare, run_schemes
from ..plotting import finish_figure, subplots
from ..registry import Experiment

NAME = "a-fig4"
DESCRIPTION = "Paper A Fig. 4: location MSE vs rounds (Setups I-III, I=1 OTA, single-shot) with CRB(v) and CRB_L"

PAYLOAD_LABELS = {"interleaved": "Setup III, interleaved updates (beyond the paper)",
                  "shuffled": "Setup III, per-device shuffled updates (diagnostic)",
                  "independent": "Setup III, independent task-2 symbols (diagnostic)"}
VARIANTS = tuple(f"setup_iii_{p}" for p in PAYLOAD_LABELS)
SENSING_ONLY = ("setup_i", "setup_ii", "ota_sensing_i1", "single_shot")
LABELS = {"setup_i": "CollabSenseFed - Setup I (perfect links)", "setup_ii": "CollabSenseFed - Setup II (OTA)",
          "setup_iii": "CollabSenseFed - Setup III (OTA, with learning; Algorithm 2's order)",
          **{f"setup_iii_{p}": label for p, label in PAYLOAD_LABELS.items()},
          "ota_sensing_i1": "OTA sensing only, I = 1",
          "single_shot": "Single-shot localisation"}


@dataclasses.dataclass(frozen=True)
class Config:
    system: PaperASystem = FEEL_SYSTEM
    protocol: FeelProtocol = FeelProtocol(learning_payload="model")
    task: FeelTask = FeelTask(source="digits", model="mlp", hidden=32)
    n_rounds: int = 10
    n_trials: int = 50
    schemes: tuple = ("setup_i", "setup_ii", "setup_iii", "ota_sensing_i1", "single_shot")
    payload_ablations: tuple = ("interleaved",)
    n_repeats: int = 16
    repeat_trial: int = 0
    far_m: float = 1.0


PRESETS = {
    "quick": Config(),
    "paper": Config(task=FeelTask(source="cifar10", model="cnn", conv_filters=((32, 32), (64, 64), (128, 256)),
                                  fc=(1024, 512), learning_rate=0.05, standardise_inputs=True), n_rounds=30, n_trials=100, n_repeats=50),
}


def payload_correlation(task: FeelTask, system: PaperASystem, seed: int) -> dict:
    """Off-diagonal :func:`~isac_jax.collabsensefed.frame_correlation` of the first round's streamed
    model updates (standardised as Setup III streams them, from one initialisation): its mean and
    mean magnitude, and the mean magnitude independent Gaussian signals would have
    (``sqrt(2 / (pi T))``)."""
    with float64():
        fed, data, _ = prepare(task, system.n_devices, seed)
        theta = fed.init(jax.random.PRNGKey(seed))
        z, _, _ = standardise(fed.client_updates(theta, jax.random.PRNGKey(seed + 1), data), data.weights)
        C = np.asarray(frame_correlation(z, system.frame_length))
    off = C[:, ~np.eye(C.shape[1], dtype=bool)]
    return {"mean": float(off.mean()), "mean_abs": float(np.abs(off).mean()),
            "independent_mean_abs": float(np.sqrt(2.0 / (np.pi * system.frame_length)))}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    with float64():
        d = prepare(config.task, config.system.n_devices, seed)[0].n_params
    joint = tuple(s for s in config.schemes if s not in SENSING_ONLY)
    alone = tuple(s for s in config.schemes if s in SENSING_ONLY)
    runs = {}
    if joint:
        runs.update(run_schemes(joint, config.system, config.protocol, config.task, config.n_rounds, config.n_trials, seed=seed,
                                work_dir=work_dir, progress=progress))
    if alone:
        runs.update(run_schemes(alone, config.system, config.protocol, None, config.n_rounds, config.n_trials, seed=seed,
                                work_dir=work_dir, progress=progress, intervals_per_round=d))
    schemes = tuple(config.schemes)
    for payload in (config.payload_ablations if "setup_iii" in joint else ()):
        name = f"setup_iii_{payload}"
        protocol = dataclasses.replace(config.protocol, learning_payload=payload)
        runs[name] = run_schemes(("setup_iii",), config.system, protocol, config.task, config.n_rounds,
                                 config.n_trials, seed=seed, progress=progress,
                                 work_dir=None if work_dir is None else f"{work_dir}/{name}")["setup_iii"]
        schemes += (name,)
    res = curve_results(runs, schemes, "location_se")
    if len(schemes) > len(config.schemes):
        res["payload_frame_correlation"] = payload_correlation(config.task, config.system, seed)
    sys = config.system
    ref = runs[config.schemes[0]]
    with float64():
        rho = np.array([float(universal_constant(dev, sys.n_antennas, PAPER_A_TARGET_REGION)) for dev in ref.devices])
    t_eff = sys.frame_length * (1 + np.arange(config.n_rounds + 1) * (-(-d // sys.frame_length)))
    # Theorem 2 at the effective length with every device at full power (E = K P): the smallest CRB_L.
    res["crb_l"] = np.mean(rho) * sys.echo_noise_var_w / (t_eff * sys.n_devices * sys.power_w)
    for s in schemes:
        res[s]["crb"], res[s]["crb_l"] = res[s]["crb_v"], res["crb_l"]
    res["rounds"] = np.arange(config.n_rounds + 1)
    res["intervals_per_round"] = d
    res["effective_frame_length"] = t_eff
    res["first_round_frames"] = {s: np.asarray(runs[s].location_se_frames).mean(axis=1) for s in schemes}
    if config.n_repeats > 0:
        geometry = (ref.devices[config.repeat_trial], ref.targets[config.repeat_trial])
        reps = _repeat_runs(config, d, joint, alone, geometry, seed, work_dir, progress)
        res["repeat_geometry"] = {"devices": geometry[0], "target": geometry[1]}
    else:
        reps = {}
    extra = _acquisition_uses(config.protocol)
    res["acquisition_channel_uses_per_round"] = {s: extra if _base(s) in _TRACKING else 0 for s in schemes}
    res["final"] = {s: _final_summary(runs[s], reps.get(s), config, s) for s in schemes}
    res["estimates"] = {s: runs[s].estimates for s in schemes}
    res["targets"] = ref.targets
    return res


_TRACKING = ("setup_i", "setup_ii", "setup_iii", "ota_sensing_i1")


def _base(scheme: str) -> str:
    return "setup_iii" if scheme in VARIANTS else scheme


def _field(run, name: str):
    """One field of a :class:`~isac_jax.collabsensefed.SimulationResult` (``None`` when absent)."""
    return getattr(run, name, None)


def _acquisition_uses(protocol: FeelProtocol, n_candidates: int = 6, n_sweeps: int = 4) -> int:
    """Channel uses of one over-the-air acquisition (:func:`~isac_jax.collabsensefed.sensing.acquire`):
    ``(G + C (3 S + 1)) * repeats`` with ``G`` the grid size, ``C`` candidates and ``S`` sweeps."""
    grid = int(np.prod(protocol.grid_shape))
    return (grid + n_candidates * (3 * n_sweeps + 1)) * protocol.acquisition_repeats


def _repeat_runs(config: Config, d: int, joint, alone, geometry, seed, work_dir, progress) -> dict:
    """Every scheme (and Setup III variant) again on ``n_repeats`` trials sharing ``geometry``."""
    sub = None if work_dir is None else f"{work_dir}/repeats"
    runs = {}
    if joint:
        runs.update(run_schemes(joint, config.system, config.protocol, config.task, config.n_rounds, config.n_repeats,
                                seed=seed, work_dir=sub, progress=progress, geometry=geometry))
    if alone:
        runs.update(run_schemes(alone, config.system, config.protocol, None, config.n_rounds, config.n_repeats,
                                seed=seed, work_dir=sub, progress=progress, intervals_per_round=d, geometry=geometry))
    for payload in (config.payload_ablations if "setup_iii" in joint else ()):
        protocol = dataclasses.replace(config.protocol, learning_payload=payload)
        runs[f"setup_iii_{payload}"] = run_schemes(
            ("setup_iii",), config.system, protocol, config.task, config.n_rounds, config.n_repeats, seed=seed,
            progress=progress, geometry=geometry,
            work_dir=None if sub is None else f"{sub}/setup_iii_{payload}")["setup_iii"]
    return runs


def at_edge(points, region, tol: float = 1e-6):
    """Boolean ``[...]``: whether each point ``[..., 3]`` lies on the boundary of ``region`` (within
    ``tol`` in range (m), azimuth (deg) or altitude (m)), i.e. where a projection clipped it."""
    c = np.asarray(region.to_cylindrical(np.asarray(points)))
    lo = np.array([region.r_min_m, region.arc_start_deg, region.z_min_m])
    hi = np.array([region.r_max_m, region.arc_start_deg + region.arc_width_deg, region.z_max_m])
    return np.any((np.abs(c - lo) <= tol) | (np.abs(c - hi) <= tol), axis=-1)


def mean_se(x) -> tuple:
    """Mean and its standard error (``std(ddof=1) / sqrt(n)``; ``None`` for one sample)."""
    x = np.asarray(x, dtype=float)
    return float(np.mean(x)), (float(np.std(x, ddof=1) / np.sqrt(x.size)) if x.size > 1 else None)


def bootstrap_ci(x, stat, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> list:
    """Percentile bootstrap interval ``[lo, hi]`` of ``stat`` (e.g. ``np.mean``) of the sample ``x``."""
    x = np.asarray(x, dtype=float)
    idx = np.random.default_rng(seed).integers(0, x.size, size=(n_boot, x.size))
    vals = stat(x[idx], axis=1)
    q = (1.0 - level) / 2.0
    return [float(np.quantile(vals, q)), float(np.quantile(vals, 1.0 - q))]


def bias_variance(estimates, target) -> dict:
    """Decomposition of the total MSE (m^2) of ``estimates[S, 3]`` of one ``target[3]``:
    ``bias_sq = ||mean - target||^2`` and ``variance = sum of the per-axis sample variances`` (ddof=1), so
    ``mse = bias_sq + variance (S - 1) / S``."""
    e = np.asarray(estimates, dtype=float)
    mean = e.mean(axis=0)
    return {"bias_sq": float(np.sum((mean - np.asarray(target)) ** 2)),
            "variance": float(np.sum(np.var(e, axis=0, ddof=1))) if e.shape[0] > 1 else None}


def _final_summary(run, rep, config: Config, scheme: str) -> dict:
    """The last round of one scheme: errors, bounds, ratios and the estimator's behaviour (module doc)."""
    se = np.asarray(_field(run, "location_se"))[-1]
    bound = np.asarray(_field(run, "crb_conditional"))[-1]
    est = np.asarray(_field(run, "estimates"))
    region = PAPER_A_TARGET_REGION if scheme == "single_shot" else search_region(PAPER_A_TARGET_REGION)
    mse, mse_se = mean_se(se)
    ratio = se / bound
    out = {"location_mse": mse, "location_mse_se": mse_se, "bound": float(np.mean(bound)),
           "crb_v": float(np.mean(np.asarray(_field(run, "crb"))[-1])),
           "crb_finite_t": float(np.mean(np.asarray(_field(run, "crb_finite_t"))[-1])),
           "ls_mse_finite_t": float(np.mean(np.asarray(_field(run, "ls_mse_finite_t"))[-1])),
           "ratio_mean": float(np.mean(ratio)), "ratio_mean_ci": bootstrap_ci(ratio, np.mean),
           "ratio_median": float(np.median(ratio)), "ratio_median_ci": bootstrap_ci(ratio, np.median),
           "clipped_fraction": float(np.mean(at_edge(est, region) | (np.sqrt(se) > config.far_m))),
           "n_trials": int(se.size)}
    if rep is not None:
        rse = np.asarray(_field(rep, "location_se"))[-1]
        rest = np.asarray(_field(rep, "estimates"))
        rmse, rmse_se = mean_se(rse)
        out.update(bias_variance(rest, np.asarray(_field(rep, "targets"))[0]))
        out.update(repeat_mse=rmse, repeat_mse_se=rmse_se,
                   repeat_bound=float(np.mean(np.asarray(_field(rep, "crb_conditional"))[-1])),
                   repeat_clipped_fraction=float(np.mean(at_edge(rest, region) | (np.sqrt(rse) > config.far_m))),
                   n_repeats=int(rse.size))
    else:
        out.update(bias_sq=None, variance=None)
    return out


def plot(results: dict, path) -> None:
    fig, (ax, ax2) = subplots(1, 2, figsize=(12, 4.8))
    rounds = results["rounds"]
    schemes = [s for s in LABELS if s in results]
    for s in schemes:
        line, = ax.semilogy(rounds, results[s]["location_mse"], "o-", ms=3, label=LABELS[s])
        if s != "single_shot" and s not in VARIANTS:
            ax.semilogy(rounds[1:], results[s]["crb_v"][1:], "--", color=line.get_color(), lw=1,
                        label=f"CRB(v), {s.replace('_', ' ')}")
            if s != "setup_i" and "crb_conditional" in results[s]:
                ax.semilogy(rounds[1:], results[s]["crb_conditional"][1:], "-.", color=line.get_color(), lw=1.5,
                            label=f"bound given the streams, {s.replace('_', ' ')}")
        frames = np.asarray(results["first_round_frames"][s])
        ax2.semilogy(np.arange(1, len(frames) + 1), frames, "-", color=line.get_color(), label=LABELS[s])
    ax.semilogy(rounds, results["crb_l"], "k:", label="CRB_L (Thm. 2, full power)")
    ax.set_ylabel("Target location MSE (m$^2$)")
    ax.set_title("Target location MSE vs iterations (Fig. 4)")
    ax2.set_ylabel("Location MSE during round 1 (m$^2$)")
    ax2.set_xlabel("Frame of T intervals")
    ax2.set_title("Round 1, frame by frame")
    ax.set_xlabel("Communication round")
    finish_figure(fig, [ax, ax2], path)


EXPERIMENT = Experiment(NAME, "A", DESCRIPTION, PRESETS, run, plot)
