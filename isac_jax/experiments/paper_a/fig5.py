"""Paper A, Fig. 5: estimated vs true target locations, CollabSenseFed and single-shot."""

from __future__ import annotations

import dataclasses

import numpy as np

from ...collabsensefed import FeelProtocol
from ...ota.system import PaperASystem
from . import fig4
from .feel import FEEL_SYSTEM, FeelTask
from ..plotting import finish_figure, subplots
from ..registry import Experiment

NAME = "a-fig5"
DESCRIPTION = "Paper A Fig. 5: estimated vs true target locations (CollabSenseFed Setup III and single-shot)"


@dataclasses.dataclass(frozen=True)
class Config:
    system: PaperASystem = FEEL_SYSTEM
    protocol: FeelProtocol = FeelProtocol(learning_payload="model")
    task: FeelTask = FeelTask(source="digits", model="mlp", hidden=32)
    n_rounds: int = 5
    n_trials: int = 20


PRESETS = {"quick": Config(),
           "paper": Config(task=fig4.PRESETS["paper"].task, n_rounds=30, n_trials=50)}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    cfg = fig4.Config(system=config.system, protocol=config.protocol, task=config.task, n_rounds=config.n_rounds, n_trials=config.n_trials,
                        schemes=("setup_iii", "single_shot"), payload_ablations=(), n_repeats=0)
    res = fig4.run(cfg, seed=seed, work_dir=work_dir, progress=progress)
    out = {"targets": res["targets"], "estimates": res["estimates"], "final": res["final"]}
    out["location_mse"] = {s: float(np.mean(np.sum((np.asarray(res["estimates"][s]) - res["targets"]) ** 2, axis=1)))
                           for s in cfg.schemes}
    return out


def plot(results: dict, path) -> None:
    fig, ax = subplots(figsize=(6.4, 5.2))
    tgt = np.asarray(results["targets"])
    ax.plot(tgt[:, 0], tgt[:, 1], "k*", ms=9, label="Ground-truth target location")
    est = np.asarray(results["estimates"]["setup_iii"])
    ss = np.asarray(results["estimates"]["single_shot"])
    ax.plot(est[:, 0], est[:, 1], "b+", ms=10, label="CollabSenseFed estimate")
    ax.plot(ss[:, 0], ss[:, 1], "rx", ms=7, label="Single-shot sensing")
    for a, b in zip(tgt, ss):
        ax.plot([a[0], b[0]], [a[1], b[1]], "r-", lw=0.4, alpha=0.5)
    ax.set_ylabel("y (m)")
    ax.set_title("Target location estimation performance (Fig. 5)")
    ax.set_aspect("equal", adjustable="datalim")
    finish_figure(fig, [ax], path, xlabel="x (m)")


EXPERIMENT = Experiment(NAME, "A", DESCRIPTION, PRESETS, run, plot)
