"""Paper A, Fig. 4: target-location MSE vs communication rounds for every sensing scheme.

Setups I-III of CollabSenseFed, OTA sensing with I = 1 and the single-shot baseline, all with the
same channel uses per round (the learning model's size ``d``) and power budget, plus, per scheme and
round, the mean CRB(v) of the data gathered by then (A.19, with the devices' sample correlations;
``crb``), the finite-T bound of the same statistics with the other devices' leakage as Gaussian
interference (``crb_finite_t``, :mod:`isac_jax.ota.finite_t`; equal to CRB(v) for Setup I's
orthogonal echoes), the asymptotic MSE of the devices' least-squares localiser under it
(``ls_mse_finite_t``) and CRB_L (Theorem 2) at the same effective frame length (``crb_l``). Setup III trains ``task`` at the same time (the
paper uses CIFAR-10; the quick preset uses the digits MLP so 50 trials stay cheap).

``payload_ablations`` also runs Setup III with each listed ``FeelProtocol.learning_payload`` (key
``setup_iii_{payload}_payload``; same trials, channels and keys). The default Setup III streams its
model updates through a common interleaver; ``"model"`` streams them in parameter order as
Algorithm 2 does, ``"shuffled"`` and ``"independent"`` are diagnostics (see
:class:`~isac_jax.collabsensefed.FeelProtocol` and ``docs/modelling/paper-a-collabsensefed.md``). With any of them,
``payload_frame_correlation`` records the cross-device correlation of the first round's updates in
parameter order (:func:`payload_correlation`).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ...collabsensefed import FeelProtocol, frame_correlation
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

PAYLOAD_LABELS = {"model": "Setup III, updates in parameter order (Algorithm 2)",
                  "interleaved": "Setup III, interleaved updates",
                  "shuffled": "Setup III, per-device shuffled updates (diagnostic)",
                  "independent": "Setup III, independent task-2 symbols (diagnostic)"}
SENSING_ONLY = ("setup_i", "setup_ii", "ota_sensing_i1", "single_shot")
LABELS = {"setup_i": "CollabSenseFed - Setup I (perfect links)", "setup_ii": "CollabSenseFed - Setup II (OTA)",
          "setup_iii": "CollabSenseFed - Setup III (OTA, with learning)",
          **{f"setup_iii_{p}_payload": label for p, label in PAYLOAD_LABELS.items()},
          "ota_sensing_i1": "OTA sensing only, I = 1",
          "single_shot": "Single-shot localisation"}


@dataclasses.dataclass(frozen=True)
class Config:
    system: PaperASystem = FEEL_SYSTEM
    protocol: FeelProtocol = FeelProtocol()
    task: FeelTask = FeelTask(source="digits", model="mlp", hidden=32)
    n_rounds: int = 10
    n_trials: int = 50
    schemes: tuple = ("setup_i", "setup_ii", "setup_iii", "ota_sensing_i1", "single_shot")
    payload_ablations: tuple = ("model",)


PRESETS = {
    "quick": Config(),
    "paper": Config(task=FeelTask(source="cifar10", model="cnn", conv_filters=((32, 32), (64, 64), (128, 256)),
                                  fc=(1024, 512), learning_rate=0.05, standardise_inputs=True), n_rounds=30, n_trials=100),
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
        name = f"setup_iii_{payload}_payload"
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
    res["final"] = {s: {"location_mse": float(res[s]["location_mse"][-1]), "crb_v": float(res[s]["crb_v"][-1]),
                        "crb_finite_t": float(res[s]["crb_finite_t"][-1]),
                        "ls_mse_finite_t": float(res[s]["ls_mse_finite_t"][-1]),
                        # undefined for one trial: None (null in results.json), not a NaN and a warning
                        "location_mse_stderr": (float(np.std(runs[s].location_se[-1], ddof=1)
                                                      / np.sqrt(config.n_trials)) if config.n_trials > 1 else None),
                        "median_se_to_crb": float(np.median(runs[s].location_se[-1] / runs[s].crb[-1])),
                        "median_se_to_crb_finite_t": float(np.median(runs[s].location_se[-1]
                                                                     / runs[s].crb_finite_t[-1]))}
                    for s in schemes}
    res["estimates"] = {s: runs[s].estimates for s in schemes}
    res["targets"] = ref.targets
    return res


def plot(results: dict, path) -> None:
    fig, (ax, ax2) = subplots(1, 2, figsize=(12, 4.8))
    rounds = results["rounds"]
    schemes = [s for s in LABELS if s in results]
    for s in schemes:
        line, = ax.semilogy(rounds, results[s]["location_mse"], "o-", ms=3, label=LABELS[s])
        if s != "single_shot" and not s.endswith("_payload"):
            ax.semilogy(rounds[1:], results[s]["crb_v"][1:], "--", color=line.get_color(), lw=1,
                        label=f"CRB(v), {s.replace('_', ' ')}")
            if s != "setup_i" and "crb_finite_t" in results[s]:
                ax.semilogy(rounds[1:], results[s]["crb_finite_t"][1:], "-.", color=line.get_color(), lw=1.5,
                            label=f"finite-T bound, {s.replace('_', ' ')}")
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
