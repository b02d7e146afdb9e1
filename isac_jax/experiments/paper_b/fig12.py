"""Paper B Fig. 12: D-VQVAE location and velocity RMSE against the fronthaul overhead per receive
AP, varied through the codebook size N_c: ``fronthaul_bits_latents`` the ``N_b L`` index bits
(measured on the index tensors), ``fronthaul_bits`` everything on the AP's link, the transmit signals
the AP input needs included (``fronthaul_bits_tx_signals``; :mod:`isac_jax.cellfree.overhead`).

One D-VQVAE per N_c on the same streamed samples (checkpoints in the work directory).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ...dvqvae.model import SensingModel
from ..plotting import finish_figure, subplots
from ..registry import Experiment
from .learning import LearningSetup, train_and_evaluate

NAME = "b-fig12"
DESCRIPTION = "Paper B Fig. 12: D-VQVAE RMSE vs fronthaul bits per AP (codebook size N_c)"


@dataclasses.dataclass(frozen=True)
class Config:
    setup: LearningSetup = LearningSetup(steps=400)
    codebook_sizes: tuple = (4, 16, 64)


PRESETS = {
    "quick": Config(),
    "paper": Config(LearningSetup(system_preset="paper", system_overrides=(), net_preset="paper",
                                  n_train=16000, n_test=4000,
                                  epochs=100, learning_rate=1e-4, steps=None),
                    codebook_sizes=(4, 8, 16, 32, 64, 128)),
}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    setup = config.setup
    train, test = setup.splits(seed)
    rows = {k: [] for k in ("fronthaul_bits", "fronthaul_bits_latents", "fronthaul_bits_tx_signals",
                            "codebook_perplexity", "location_rmse_m", "velocity_rmse_mps", "epochs_completed")}
    for n_c in config.codebook_sizes:
        model = SensingModel("dvqvae", setup.net(n_codewords=n_c), setup.system())
        r = train_and_evaluate(model, setup.train_config(), train, test, seed=seed, progress=progress,
                               checkpoint=Path(work_dir or ".") / f"dvqvae_nc{n_c}.ckpt",
                               calibration=setup.calibration(seed))
        for k in rows:
            rows[k].append(r[k])
    return {"codebook_sizes": np.asarray(config.codebook_sizes), **{k: np.asarray(v) for k, v in rows.items()}}


def plot(results: dict, path) -> None:
    bits = np.asarray(results.get("fronthaul_bits_latents", results["fronthaul_bits"]))
    fig, ax = subplots(1, 2, figsize=(11, 4.2))
    for a, key, unit in ((ax[0], "location_rmse_m", "Location RMSE (m)"),
                         (ax[1], "velocity_rmse_mps", "Velocity RMSE (m/s)")):
        a.semilogx(bits, results[key], "o-", label="D-VQVAE")
        for b, n_c, v in zip(bits, results["codebook_sizes"], results[key]):
            a.annotate(f"$N_c$={n_c}", (b, v), fontsize=7, textcoords="offset points", xytext=(3, 3))
        a.set_ylabel(unit)
    finish_figure(fig, ax, path, xlabel="Codeword index bits per receive AP and update (N_b L)", legend_size=8)


EXPERIMENT = Experiment(NAME, "B", DESCRIPTION, PRESETS, run, plot)
