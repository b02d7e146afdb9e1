"""Paper B Fig. 11: D-VQVAE training loss against the epoch for learning rates 1e-3, 1e-4, 1e-5.

Each rate trains from the same initialisation on the same streamed samples (checkpoints in the
work directory, so an interrupted run resumes); ``results.json`` holds the loss of every epoch.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ...dvqvae.model import SensingModel
from ...dvqvae.training import fit
from ..plotting import finish_figure, subplots
from ..registry import Experiment
from .learning import LearningSetup

NAME = "b-fig11"
DESCRIPTION = "Paper B Fig. 11: D-VQVAE training loss vs epoch for learning rates 1e-3, 1e-4, 1e-5"


@dataclasses.dataclass(frozen=True)
class Config:
    setup: LearningSetup = LearningSetup(n_train=1600, epochs=5, steps=None)
    learning_rates: tuple = (1e-3, 1e-4, 1e-5)


PRESETS = {
    "quick": Config(),
    "paper": Config(LearningSetup(system_preset="paper", system_overrides=(), net_preset="paper",
                                  n_train=16000, n_test=4000,
                                  epochs=100, learning_rate=1e-4, steps=None)),
}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    setup = config.setup
    train, _ = setup.splits(seed)
    model = SensingModel("dvqvae", setup.net(), setup.system())
    out = {"learning_rates": np.asarray(config.learning_rates), "curves": {}}
    for lr in config.learning_rates:
        res = fit(model, setup.train_config(learning_rate=lr), train, seed=seed, progress=progress,
                  checkpoint=Path(work_dir or ".") / f"dvqvae_lr{lr:g}.ckpt")
        out["curves"][f"{lr:g}"] = {"epoch_loss": res.epoch_loss(), "completed": res.completed}
    return out


def plot(results: dict, path) -> None:
    fig, ax = subplots(figsize=(7, 4.5))
    for lr, curve in results["curves"].items():
        loss = np.asarray(curve["epoch_loss"])
        ax.semilogy(np.arange(1, len(loss) + 1), loss, "o-", label=f"learning rate {lr}")
    ax.set_ylabel("Training loss (MSE on normalised labels + commitment)")
    finish_figure(fig, [ax], path, xlabel="Epoch", legend_size=8)


EXPERIMENT = Experiment(NAME, "B", DESCRIPTION, PRESETS, run, plot)
