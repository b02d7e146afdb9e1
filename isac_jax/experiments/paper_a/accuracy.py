"""Figs. 2 and 3 share this: test accuracy vs communication rounds of CollabSenseFed, perfect FEEL
and OTA-FEEL (same key: same geometry, channels, model initialisation and minibatches)."""

from __future__ import annotations

import numpy as np

from .feel import curve_results, run_schemes
from ..plotting import finish_figure, subplots

SCHEMES = ("collabsensefed", "perfect_feel", "ota_feel")
LABELS = {"collabsensefed": "CollabSenseFed (learning + sensing, OTA)", "perfect_feel": "Perfect FEEL without sensing",
          "ota_feel": "OTA-FEEL without sensing"}


def run_accuracy(config, *, seed, work_dir, progress) -> dict:
    runs = run_schemes(SCHEMES, config.system, config.protocol, config.task, config.n_rounds, config.n_trials, seed=seed,
                       work_dir=work_dir, progress=progress)
    res = curve_results(runs, SCHEMES, "accuracy")
    res["rounds"] = np.arange(config.n_rounds + 1)
    res["dataset"] = runs["_dataset"]
    res["n_params"] = runs["_n_params"]
    res["collabsensefed"]["location_mse"] = runs["collabsensefed"].location_se.mean(axis=1)
    res["collabsensefed"]["crb_v"] = runs["collabsensefed"].crb.mean(axis=1)
    res["final_accuracy"] = {s: float(res[s]["accuracy"][-1]) for s in SCHEMES}
    return res


def plot_accuracy(results: dict, path, title: str) -> None:
    fig, ax = subplots(figsize=(6.4, 4.6))
    for s, style in zip(SCHEMES, ("o-", "s--", "^:")):
        ax.plot(results["rounds"], 100 * np.asarray(results[s]["accuracy"]), style, ms=3, label=LABELS[s])
    ds = results["dataset"]
    name = ds["name"] + (" (SYNTHETIC stand-in, not CIFAR-10)" if ds["synthetic"] else "")
    ax.set_ylabel("Test accuracy (%)")
    ax.set_title(f"{title}\n{name}", fontsize=10)
    finish_figure(fig, [ax], path, xlabel="Communication round")
