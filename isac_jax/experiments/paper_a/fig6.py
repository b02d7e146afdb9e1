"""Paper A, Fig. 6: sensing error vs the DFT pulse duration T for several K.

For every (K, T), CollabSenseFed Setup III (or ``scheme``) runs ``n_rounds`` rounds; reported are
the final location MSE and the mean CRB(v) of the data gathered after the *first* frame after the
pilot (i.e. one frame of length T, the "lower bound on the variance of the sensing error" of the
figure) and after the whole run.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...collabsensefed import FeelProtocol
from ...ota.system import PaperASystem
from .feel import FEEL_SYSTEM, FeelTask, prepare, run_schemes
from ...core.precision import float64
from ..plotting import finish_figure, subplots
from ..registry import Experiment

NAME = "a-fig6"
DESCRIPTION = "Paper A Fig. 6: sensing error and CRB vs pulse duration T for several K (CollabSenseFed)"


@dataclasses.dataclass(frozen=True)
class Config:
    system: PaperASystem = FEEL_SYSTEM
    protocol: FeelProtocol = FeelProtocol()
    task: FeelTask = FeelTask(source="digits", model="mlp", hidden=16)
    devices: tuple = (5, 15)
    frame_lengths: tuple = (16, 32, 64)
    n_rounds: int = 2
    n_trials: int = 12
    scheme: str = "setup_iii"


PRESETS = {"quick": Config(),
           "paper": Config(task=FeelTask(source="mnist-5k", model="mlp", hidden=200), devices=(5, 10, 15, 20),
                           frame_lengths=(16, 32, 64, 128, 256), n_rounds=5, n_trials=50)}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    nK, nT = len(config.devices), len(config.frame_lengths)
    mse, crb_end, crb_frame = (np.full((nK, nT), np.nan) for _ in range(3))
    for i, K in enumerate(config.devices):
        for j, T in enumerate(config.frame_lengths):
            if T < K:
                continue
            system = dataclasses.replace(config.system, n_devices=K, frame_length=T)
            learning = config.scheme in ("setup_iii", "collabsensefed")
            d = None
            if not learning:
                with float64():
                    d = prepare(config.task, K, seed)[0].n_params
            runs = run_schemes((config.scheme,), system, config.protocol, config.task if learning else None, config.n_rounds,
                               config.n_trials, seed=seed, work_dir=work_dir, progress=progress, intervals_per_round=d)
            r = runs[config.scheme]
            mse[i, j] = np.mean(r.location_se[-1])
            crb_end[i, j] = np.mean(r.crb[-1])
            crb_frame[i, j] = np.mean(r.crb[0])
    return {"devices": np.array(config.devices), "frame_lengths": np.array(config.frame_lengths),
            "location_mse": mse, "crb_v_final": crb_end, "crb_v_one_frame": crb_frame, "scheme": config.scheme}


def plot(results: dict, path) -> None:
    fig, (ax, ax2) = subplots(1, 2, figsize=(12, 4.8))
    T = np.asarray(results["frame_lengths"])
    for i, K in enumerate(np.asarray(results["devices"])):
        line, = ax.loglog(T, results["crb_v_one_frame"][i], "o-", label=f"CRB(v) of one pilot frame, K={K}")
        ax2.loglog(T, results["location_mse"][i], "s-", color=line.get_color(), label=f"CollabSenseFed MSE, K={K}")
        ax2.loglog(T, results["crb_v_final"][i], "--", color=line.get_color(), label=f"CRB(v) of all data, K={K}")
    ax.set_ylabel("Lower bound on the sensing-error variance (m$^2$)")
    ax.set_title("Fig. 6: bound vs pulse duration")
    ax2.set_ylabel("Location MSE after the run (m$^2$)")
    ax2.set_title("Achieved error (same channel uses per round)")
    ax.set_xlabel("Pulse duration T (symbol intervals)")
    ax2.set_xlabel("Pulse duration T (symbol intervals)")
    finish_figure(fig, [ax, ax2], path)


EXPERIMENT = Experiment(NAME, "A", DESCRIPTION, PRESETS, run, plot)
