"""Paper A, Fig. 2: effect of sensing on MNIST accuracy (two-layer MLP)."""

from __future__ import annotations

import dataclasses

from ...collabsensefed import FeelProtocol
from ...ota.system import PaperASystem
from .accuracy import plot_accuracy, run_accuracy
from .feel import FEEL_SYSTEM, FeelTask
from ..registry import Experiment

NAME = "a-fig2"
DESCRIPTION = "Paper A Fig. 2: MNIST MLP test accuracy vs rounds, CollabSenseFed vs perfect FEEL vs OTA-FEEL"


@dataclasses.dataclass(frozen=True)
class Config:
    system: PaperASystem = FEEL_SYSTEM
    protocol: FeelProtocol = FeelProtocol()
    task: FeelTask = FeelTask(source="mnist-5k", model="mlp", hidden=32)
    n_rounds: int = 30
    n_trials: int = 2


PRESETS = {
    "quick": Config(),
    # Full MNIST needs its IDX directory: pass a Config with task.data_dir set (see docs/modelling/paper-a-collabsensefed.md, "Data").
    "paper": Config(task=FeelTask(source="mnist-5k", model="mlp", hidden=200), n_rounds=100, n_trials=5),
}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    return run_accuracy(config, seed=seed, work_dir=work_dir, progress=progress)


def plot(results: dict, path) -> None:
    plot_accuracy(results, path, "Effect of sensing on MNIST accuracy (Fig. 2)")


EXPERIMENT = Experiment(NAME, "A", DESCRIPTION, PRESETS, run, plot)
