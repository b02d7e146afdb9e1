"""Paper B, Fig. 10: estimated against true target locations and velocity vectors.

Test samples ``fold_in(key, j)`` of the quick system (:mod:`.fig6`) at P = 30 dBm; for each scheme
with velocity estimates (``music``, ``cs``, ``ml_refined``) the estimates are drawn next to the
true targets they are matched to (best assignment), locations as points and velocities as arrows.

``learned`` adds the default D-VQVAE (AP input ``area_maps``, head ``centre``, :mod:`.learning`): trained (resuming from
its checkpoint in the work directory) on the learning system, which is not the classical panels'
system (8 receive and 8 transmit antennas, 35 dBm with a null-space sensing stream, 32 x 32 grid on every 8th
subcarrier and symbol: see :class:`.learning.LearningSetup`), and drawn on the first ``n_samples`` of its own test
samples (the decoder's own output, not the calibrated read-out), matched to the true targets as in its loss. At the quick preset it is b-train's model (same setup and seed, so
a copy of b-train's ``dvqvae.ckpt`` in the work directory is resumed, not retrained).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ...cellfree.assignment import best_permutation, reorder_true
from ...cellfree.config import CellFreeConfig, PRESETS as CF_PRESETS
from ...cellfree.estimators import EstimatorSettings
from ...cellfree.evaluation import evaluate_trial, summarise
from ...core.precision import float64
from ...core.sweep import run_sweep
from ...dvqvae.model import SensingModel
from ...dvqvae.targets import assigned_errors, rmse
from ...dvqvae.readout import calibrated_predict
from ...dvqvae.training import fit, labels_of
from ..plotting import finish_figure, subplots
from ..registry import Experiment
from .fig6 import QUICK_SYSTEM
from .learning import LearningSetup
from .train import PRESETS as TRAIN_PRESETS

NAME = "b-fig10"
DESCRIPTION = "Paper B Fig. 10: estimated vs true locations and velocity vectors (MUSIC, CS, refined ML, D-VQVAE)"


@dataclasses.dataclass(frozen=True)
class Config:
    system: CellFreeConfig = dataclasses.replace(QUICK_SYSTEM, power_dbm=30.0)
    schemes: tuple = ("music", "cs", "ml_refined")
    settings: EstimatorSettings = EstimatorSettings()
    n_samples: int = 8
    chunk_size: int = 8
    learned: LearningSetup | None = None


PRESETS = {
    # b-train's D-VQVAE (2,000 steps on 64,000 fresh samples; same seed and setup, same model).
    "quick": Config(learned=TRAIN_PRESETS["quick"].setup),
    "paper": Config(system=CF_PRESETS["paper"], n_samples=20, chunk_size=4,
                    learned=LearningSetup(system_preset="paper", system_overrides=(), net_preset="paper",
                                          n_train=16000, n_test=4000, epochs=100, learning_rate=1e-4, steps=None)),
}


def learned_estimates(setup: LearningSetup, n: int, *, seed: int, checkpoint, progress: bool) -> dict:
    """The D-VQVAE of ``setup`` on its first ``n`` test samples: estimates and the true targets they
    are matched to (``[n, Q, 2]`` each, m and m/s) and their RMSEs."""
    train, test = setup.splits(seed)
    test = dataclasses.replace(test, stop=test.start + min(n, setup.n_test))
    model = SensingModel("dvqvae", setup.net(), setup.system())
    res = fit(model, setup.train_config(), train, seed=seed, checkpoint=checkpoint, progress=progress)
    pred = calibrated_predict(model, res.state, res.scaler, train, None, test)["peaks"]    # the decoder's own output
    true = res.scaler.normalise(labels_of(test))
    matched = res.scaler.rescale(np.asarray(reorder_true(true, best_permutation(pred, true))))
    est = res.scaler.rescale(np.asarray(pred))
    loc, vel = assigned_errors(pred, true, res.scaler)
    return {"locations": est[..., :2], "velocities": est[..., 2:], "true_locations": matched[..., :2],
            "true_velocities": matched[..., 2:], "location_rmse_m": rmse(loc), "velocity_rmse_mps": rmse(vel),
            "ap_input": setup.ap_input, "steps": setup.steps, "power_dbm": setup.system().power_dbm}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    if "monostatic" in config.schemes:
        raise ValueError("schemes must have velocity estimates: monostatic gives radial velocity only")

    def trial(key, power_dbm):
        return evaluate_trial(key, dataclasses.replace(config.system, power_dbm=power_dbm), config.schemes,
                              config.settings, with_estimates=True, with_crlb=False)

    with float64():
        out = run_sweep(trial, {"power_dbm": [config.system.power_dbm]}, n_trials=config.n_samples,
                        key=jax.random.PRNGKey(seed), out_dir=None if work_dir is None else f"{work_dir}/sweep",
                        chunk_size=config.chunk_size, progress=progress, desc=NAME)
    summary = summarise({k: v[0] for k, v in out.items() if k != "grid"}, config.system, config.schemes)
    res = {"power_dbm": config.system.power_dbm, "n_samples": config.n_samples}
    for s in config.schemes:
        res[s] = {"locations": out[f"{s}_locations"][0], "velocities": out[f"{s}_velocities"][0],
                  "true_locations": out[f"{s}_true_locations"][0],
                  "true_velocities": out[f"{s}_true_velocities"][0], **summary[s]}
    if config.learned is not None:
        ckpt = None if work_dir is None else f"{work_dir}/dvqvae.ckpt"
        res["dvqvae"] = learned_estimates(config.learned, config.n_samples, seed=seed, checkpoint=ckpt,
                                          progress=progress)
    return res


def plot(results: dict, path) -> None:
    schemes = [s for s in ("music", "cs", "ml_refined", "dvqvae") if s in results]
    fig, axes = subplots(1, len(schemes), figsize=(4.6 * len(schemes), 4.6), squeeze=False)
    for a, s in zip(axes[0], schemes):
        r = results[s]
        g, v = np.asarray(r["locations"]).reshape(-1, 2), np.asarray(r["velocities"]).reshape(-1, 2)
        gt, vt = np.asarray(r["true_locations"]).reshape(-1, 2), np.asarray(r["true_velocities"]).reshape(-1, 2)
        a.quiver(gt[:, 0], gt[:, 1], vt[:, 0], vt[:, 1], color="k", angles="xy", scale_units="xy", scale=2.0,
                 width=0.004, label="true (velocity / 2 per m)")
        a.quiver(g[:, 0], g[:, 1], v[:, 0], v[:, 1], color="C3", angles="xy", scale_units="xy", scale=2.0,
                 width=0.004, alpha=0.8, label="estimate")
        a.plot(gt[:, 0], gt[:, 1], "ko", ms=4)
        a.plot(g[:, 0], g[:, 1], "x", color="C3", ms=5)
        a.set_xlim(0, 100)
        a.set_ylim(0, 100)
        a.set_aspect("equal")
        name = s if s != "dvqvae" else f"D-VQVAE ({r['ap_input']}, {float(r['power_dbm']):g} dBm, learning system)"
        a.set_title(f"{name}: RMSE {float(r['location_rmse_m']):.2g} m, {float(r['velocity_rmse_mps']):.2g} m/s",
                    fontsize=9)
    finish_figure(fig, list(axes[0]), path, xlabel="x (m)")


EXPERIMENT = Experiment(NAME, "B", DESCRIPTION, PRESETS, run, plot)
