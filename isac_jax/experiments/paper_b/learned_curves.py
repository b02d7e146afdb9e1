"""Paper B, the learned curves of Figs. 6, 7, 8, 9, 13 and 14: the D-VQVAE's location and velocity
RMSE as one system parameter varies, beside the classical schemes, the trivial predictor and the
root CRLB evaluated on the very same test echoes.

The classical sweeps (``b-fig6`` ... ``b-fig14``) run on their own evaluation system
(:data:`.fig6.QUICK_SYSTEM` at the quick preset); the learned curves need a system small enough to
train on, the ``b-train`` learning system (:class:`.learning.LearningSetup`), so this experiment
scores every scheme there, per grid point, on the first ``n_classical`` test samples of that point
(the learned model and the trivial predictor also on all ``n_test``).

Per axis (``AXES`` of :mod:`.sweeps`): ``power_dbm`` (Fig. 6; the quick learning system, 8 transmit antennas
per AP, transmits 5 dB above the paper's power for the same per-sample echo SNR, see ``LearningSetup``,
so 35 dBm here reads as the paper's 30 dBm), ``n_targets`` (Fig. 7), ``n_symbols`` (Fig. 8), ``n_rx_antennas``
(Fig. 9), ``n_clutter`` (Fig. 13, clutter variance chi~^2 = 1, the paper's worst), ``offset_level``
(Fig. 14, clock offsets in resolution cells as in ``b-fig14``).

*Decision*: one D-VQVAE is trained per distinct system (the paper's figures vary the system the
network is trained for; a model trained at one point and tested at another would mix training
mismatch into the curve). Grid points that give the same system (every axis passes through the
nominal learning system) share one model. Every model has the same step budget; the checkpoints
live in the work directory, so an interrupted run resumes without losing finished models.

The network is the setup's: the project's by default (beyond the paper);
``Config(setup=paper_network(LearningSetup(steps=400, n_test=500)))`` draws the curves with Paper B's
network (:func:`.learning.paper_network`), recorded as ``network`` in the results.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import jax
import numpy as np

from ...dvqvae.data import GeneratedSplit
from ...dvqvae.model import SensingModel
from ...dvqvae.targets import LabelScaler
from ...dvqvae.training import evaluate, labels_of, trivial_prediction
from ..plotting import finish_figure, subplots
from ..registry import Experiment
from .fig6 import SCHEME_COLORS
from .learnability import check_choices, classical_on_test_samples, crlb_entries
from .learning import LearningSetup, train_and_evaluate
from .sweeps import AXES

NAME = "b-learned-curves"
DESCRIPTION = ("Paper B Figs. 6-9, 13, 14, learned curves: D-VQVAE RMSE vs P, Q, T_s, M_r, S and clock offsets, "
               "beside the classical schemes, the trivial predictor and the root CRLB on the same echoes")

#: The paper figure each axis belongs to, and its axis label.
FIGURES = {"power_dbm": ("6", "Transmit power per AP, P (dBm)"), "n_targets": ("7", "Number of targets Q"),
           "n_symbols": ("8", "Number of OFDM symbols $T_s$"), "n_rx_antennas": ("9", "Receive antennas per AP $M_r$"),
           "n_clutter": ("13", "Number of scatterers S ($\\tilde\\chi^2$ = 1)"),
           "offset_level": ("14", "Clock-offset level s (resolution cells)")}


@dataclasses.dataclass(frozen=True)
class Config:
    """``axes``: ``((axis, values), ...)`` with ``axis`` among :data:`FIGURES`."""

    setup: LearningSetup = LearningSetup(steps=400, n_test=500)
    axes: tuple = (("power_dbm", (25.0, 35.0, 45.0)), ("n_targets", (1, 2, 3)), ("n_symbols", (16, 32)),
                   ("n_rx_antennas", (4, 8)), ("n_clutter", (0, 9)), ("offset_level", (0.0, 0.2)))
    classical: tuple = ("music", "cs", "ml_refined")
    n_classical: int = 32
    chunk: int = 16


PRESETS = {
    # 400 steps per model (b-fig12's budget); nine distinct systems, about an hour on a 2-core CPU.
    "quick": Config(),
    "paper": Config(LearningSetup(system_preset="paper", system_overrides=(), net_preset="paper", n_train=16000,
                                  n_test=4000, batch_size=32, epochs=100, learning_rate=1e-4, steps=None),
                    axes=(("power_dbm", (0.0, 10.0, 20.0, 30.0, 40.0)), ("n_targets", (1, 2, 3, 4)),
                          ("n_symbols", (32, 64, 128, 256)), ("n_rx_antennas", (4, 8, 16, 32)),
                          ("n_clutter", (0, 6, 12, 18)), ("offset_level", (0.0, 0.05, 0.2, 0.5))),
                    n_classical=200, chunk=4),
}


def _point(system, setup: LearningSetup, config: Config, *, seed: int, work: Path, progress: bool) -> dict:
    """Train and score the D-VQVAE on ``system``; the trivial predictor, the classical schemes and
    the CRLB on the same test samples."""
    train = GeneratedSplit(system, seed, 0, setup.n_train)
    test = GeneratedSplit(system, seed, setup.n_train, setup.n_train + setup.n_test)
    common = dataclasses.replace(test, stop=test.start + config.n_classical)
    tag = hashlib.sha256(repr(system).encode()).hexdigest()[:10]
    model = SensingModel("dvqvae", setup.net(), system)
    learned = train_and_evaluate(model, setup.train_config(), train, test, seed=seed, progress=progress,
                                 checkpoint=work / f"dvqvae_{tag}.ckpt", calibration=setup.calibration(seed, system),
                                 n_common=config.n_classical)
    scaler = LabelScaler.fit(labels_of(train))
    trivial = trivial_prediction(train, len(test), scaler)
    summary = classical_on_test_samples(system, seed, setup.n_train, config.n_classical, config.classical,
                                        config.chunk)
    out = {"dvqvae": {k: learned[k] for k in ("location_rmse_m", "velocity_rmse_mps")},
           "dvqvae_common": {k: learned["common"][k] for k in ("location_rmse_m", "velocity_rmse_mps")},
           "trivial": {k: v for k, v in evaluate(trivial, test, scaler).items() if k.endswith(("_m", "_mps"))},
           "trivial_common": {k: v for k, v in evaluate(trivial[:config.n_classical], common, scaler).items()
                              if k.endswith(("_m", "_mps"))}}
    for scheme in config.classical:
        out[scheme] = {k: summary[scheme][k] for k in ("location_rmse_m", "velocity_rmse_mps")
                       if k in summary[scheme]}
    out.update(crlb_entries(summary))
    return out


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    setup = config.setup
    check_choices("axes", [a for a, _ in config.axes], FIGURES, config.n_classical, setup.n_test)
    work = Path(work_dir or ".")
    nominal = setup.system()
    points: dict[str, dict] = {}            # repr(system) -> scores: shared grid points train once
    res = {"axes": [a for a, _ in config.axes], "steps": setup.steps, "n_test": setup.n_test,
           "n_classical": config.n_classical, "network": setup.network, "ap_input": setup.ap_input, "nominal_power_dbm": nominal.power_dbm}
    for axis, values in config.axes:
        rows = []
        for value in values:
            system = AXES[axis](nominal, value)
            key = repr(system)
            if key not in points:
                points[key] = _point(system, setup, config, seed=seed, work=work, progress=progress)
                # Every grid point is a new system, so none of its programs (generator, features, training
                # step, classical schemes, CRLB) runs again. Dropping them unmaps their machine code: each
                # point maps about 5,500 memory regions, and nine of them passed Linux's default limit of
                # 65,530 (vm.max_map_count), where LLVM failed with "Cannot allocate memory".
                jax.clear_caches()
            rows.append(points[key])
        curves = {"values": np.asarray(values, dtype=float)}
        for name, first in rows[0].items():
            if isinstance(first, dict):
                curves[name] = {k: np.asarray([r[name].get(k, np.nan) for r in rows]) for k in first}
            else:
                curves[name] = np.asarray([r[name] for r in rows])
        res[axis] = curves
    res["n_models"] = len(points)
    return res


#: Curves drawn per panel: (result key, label, colour, line style).
_CURVES = (("dvqvae_common", "D-VQVAE", "C4", "-"), ("music", "MUSIC", SCHEME_COLORS["music"], "-"),
           ("cs", "CS", SCHEME_COLORS["cs"], "-"), ("ml_refined", "refined ML", SCHEME_COLORS["ml_refined"], "-"),
           ("trivial_common", "trivial (mean)", "C7", ":"))


def plot(results: dict, path) -> None:
    axes = results["axes"]
    fig, ax = subplots(2, len(axes), figsize=(3.6 * len(axes), 7.0), squeeze=False)
    for j, axis in enumerate(axes):
        c = results[axis]
        x = np.asarray(c["values"], dtype=float)
        for i, (metric, unit) in enumerate((("location", "m"), ("velocity", "mps"))):
            a = ax[i, j]
            key = f"{metric}_rmse_{unit}"
            for name, label, color, ls in _CURVES:
                if name in c and key in c[name]:
                    a.plot(x, c[name][key], marker="o", color=color, ls=ls, label=label)
            a.plot(x, c[f"root_crlb_{metric}_{unit}"], "k--", label="root of the mean CRLB")
            a.plot(x, c[f"median_root_crlb_{metric}_{unit}"], "k:", label="root of the median CRLB")
            a.set_yscale("log")
            fig_no, xlabel = FIGURES[axis]
            a.set_title(f"Fig. {fig_no}: {metric}", fontsize=9)
            a.set_xlabel(xlabel, fontsize=8)
        for a in ax[:, j]:
            a.grid(True, which="both", alpha=0.3)
    ax[0, 0].set_ylabel("Location RMSE (m)")
    ax[1, 0].set_ylabel("Velocity RMSE (m/s)")
    finish_figure(fig, [ax[0, 0]], path, legend_size=7)         # one legend: the curves are the same everywhere


EXPERIMENT = Experiment(NAME, "B", DESCRIPTION, PRESETS, run, plot)
