"""Paper A, Fig. 3: effect of sensing on CIFAR-10 accuracy (Paper A's CNN).

Without ``task.data_dir`` (the CIFAR-10 *binary* directory) the run uses the clearly labelled
synthetic 32x32x3 stand-in and says so in ``results.json`` and in the figure title. Inputs are
standardised per channel (the usual CIFAR preprocessing): on raw [0, 1] pixels the quick CNN stayed
near chance for 15 rounds, standardised it reached 0.975 (perfect FEEL, measured).
"""

from __future__ import annotations

import dataclasses

from ...collabsensefed import FeelProtocol
from ...ota.system import PaperASystem
from .accuracy import plot_accuracy, run_accuracy
from .feel import FEEL_SYSTEM, FeelTask
from ..registry import Experiment

NAME = "a-fig3"
DESCRIPTION = "Paper A Fig. 3: CIFAR CNN test accuracy vs rounds (synthetic stand-in without a CIFAR-10 directory)"


@dataclasses.dataclass(frozen=True)
class Config:
    system: PaperASystem = FEEL_SYSTEM
    protocol: FeelProtocol = FeelProtocol()
    task: FeelTask = FeelTask(source="cifar10", model="cnn", conv_filters=((8, 8), (16, 16), (32, 32)), fc=(64, 32),
                              learning_rate=0.05, standardise_inputs=True)
    n_rounds: int = 15
    n_trials: int = 1


PRESETS = {
    "quick": Config(),
    "paper": Config(task=FeelTask(source="cifar10", model="cnn", conv_filters=((32, 32), (64, 64), (128, 256)),
                                  fc=(1024, 512), learning_rate=0.05, standardise_inputs=True), n_rounds=100, n_trials=3),
}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    return run_accuracy(config, seed=seed, work_dir=work_dir, progress=progress)


def plot(results: dict, path) -> None:
    plot_accuracy(results, path, "Effect of sensing on CIFAR accuracy (Fig. 3)")


EXPERIMENT = Experiment(NAME, "A", DESCRIPTION, PRESETS, run, plot)
