"""Paper B, Fig. 6: location and velocity RMSE of the classical schemes against transmit power P,
with the root CRLB on the same samples.

Schemes (:mod:`isac_jax.cellfree.estimators`): ``monostatic`` (location only), ``music``, ``cs``
and ``ml_refined`` (beyond the paper), all scored by :mod:`isac_jax.cellfree.evaluation` on test
samples ``fold_in(key, j)`` — the dataset's samples — common to every power (the power is a traced
sweep axis: one compilation for the whole curve). Computed in float64. Every RMSE carries its
standard error (``*_rmse_se_*``); every scheme reports ``detection_probability`` (targets whose
assigned estimate lies within half a range cell, :func:`~isac_jax.cellfree.evaluation.detection_gate_m`,
and is declared a target by the scheme's detection rule), ``false_alarms_per_sample`` (declared
estimates outside that gate) and ``location_rmse_detected_m``; ``music``, ``cs`` and ``ml_refined`` carry ``paired_vs_monostatic``,
the paired 95 % interval of the monostatic-minus-scheme location MSE on the same samples. For
``music`` and ``cs`` the fraction of samples in which every receive AP found every target's angle,
and the RMSE over those samples, show where the distributed schemes' error floor comes from.

``ml_refined`` costs far more per sample than the other schemes, so it is scored on the first
``ml_refined_samples`` of the ``n_samples`` samples (the same keys ``fold_in(key, j)``, ``j <
ml_refined_samples``): its RMSE, standard error, detection probability and outlier rate are those of
that subset (``results["ml_refined_samples"]``), its ``paired_vs_monostatic`` pairs it with the
monostatic errors of the same subset, and its entry carries the root CRLB of that subset
(``root_crlb_location_m``, ``root_crlb_velocity_mps``), the bound it is compared with.

The quick system (``QUICK_SYSTEM``: N_t = 4, M_r = 8, N_s = T_s = 64) resolves 19.5 m of bistatic
range and 15 m/s of velocity (:func:`~isac_jax.cellfree.estimators.resolution`; Table B.I: 4.9 m and
3.7 m/s). Its per-sample echo SNR equals the paper's at the same P: with unit-norm steering vectors
(B.1)-(B.2) and the per-AP power spread over the subcarriers, the echo energy of one path summed over
``(M_r, N_s, T_s)`` is ``PL |beta|^2 T_s P / N_t`` (the receive array adds no energy, the transmit
beam towards an arbitrary target gets ``1/N_t`` of it), and ``T_s / N_t = 64 / 4 = 256 / 16``. What
differs is resolution (bandwidth, aperture, dwell), hence the CRLB.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ...cellfree.config import CellFreeConfig, PRESETS as CF_PRESETS
from ...cellfree.estimators import SCHEMES, EstimatorSettings, resolution
from ...cellfree.evaluation import evaluate_trial, summarise
from ...core.precision import float64
from ...core.validate import check_int
from ...core.sweep import run_sweep
from ..plotting import finish_figure, subplots
from ..registry import Experiment

NAME = "b-fig6"
DESCRIPTION = "Paper B Fig. 6: RMSE of monostatic, MUSIC, CS and refined ML vs P, with the root CRLB"

#: One colour per scheme in every Paper B evaluation figure.
SCHEME_COLORS = {"monostatic": "C0", "music": "C1", "cs": "C2", "ml_refined": "C3"}

QUICK_SYSTEM = dataclasses.replace(CF_PRESETS["quick"], n_subcarriers=64, n_symbols=64, n_tx_antennas=4,
                                   n_rx_antennas=8)


@dataclasses.dataclass(frozen=True)
class Config:
    powers_dbm: tuple = (10.0, 20.0, 30.0, 40.0, 50.0)
    system: CellFreeConfig = QUICK_SYSTEM
    schemes: tuple = SCHEMES
    settings: EstimatorSettings = EstimatorSettings()
    n_samples: int = 200
    ml_refined_samples: int = 48
    chunk_size: int = 8


PRESETS = {
    "quick": Config(),
    "paper": Config(powers_dbm=(0.0, 10.0, 20.0, 30.0, 40.0), system=CF_PRESETS["paper"], n_samples=200,
                    ml_refined_samples=200, chunk_size=8),
}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    base = config.system
    n_ml = min(check_int("ml_refined_samples", config.ml_refined_samples), config.n_samples)
    # ml_refined in a sweep of its own when it runs on fewer samples than the other schemes.
    split = "ml_refined" in config.schemes and n_ml < config.n_samples
    # Its sweep skips the CRLB: the first sweep computed it on the same samples (the CRLB costs more
    # than the simulation and the three classical schemes together).
    groups = [(tuple(s for s in config.schemes if s != "ml_refined"), config.n_samples, "sweep", True),
              (("ml_refined",), n_ml, "sweep_ml_refined", False)] if split else [
        (config.schemes, config.n_samples, "sweep", True)]
    outs = []
    with float64():
        for schemes, n_trials, sub, with_crlb in groups:
            def trial(key, power_dbm, schemes=schemes, with_crlb=with_crlb):
                return evaluate_trial(key, dataclasses.replace(base, power_dbm=power_dbm), schemes, config.settings,
                                      with_crlb=with_crlb)

            outs.append(run_sweep(trial, {"power_dbm": list(config.powers_dbm)}, n_trials=n_trials,
                                  key=jax.random.PRNGKey(seed), out_dir=None if work_dir is None else f"{work_dir}/{sub}",
                                  chunk_size=config.chunk_size, dynamic=("power_dbm",), progress=progress,
                                  desc=f"{NAME} {'+'.join(schemes)}" if split else NAME))
    summary = summarise(outs[0], base, groups[0][0])
    if split:
        # The other schemes' errors and the bound (computed once, in the first sweep) on the same first
        # n_ml samples (trial axis -2 of [P, n, Q]).
        head = {k: np.asarray(v)[:, :n_ml] for k, v in outs[0].items() if k != "grid"}
        sub = summarise({**head, **outs[1]}, base, ("ml_refined",))
        # Its own bound: the root CRLB on the samples it was scored on.
        summary["ml_refined"] = {**sub["ml_refined"], "root_crlb_location_m": sub["root_crlb_location_m"],
                                 "root_crlb_velocity_mps": sub["root_crlb_velocity_mps"]}
    res = {"powers_dbm": np.asarray(config.powers_dbm), "n_samples": config.n_samples, "ml_refined_samples": n_ml,
           "root_crlb_location_m": summary["root_crlb_location_m"],
           "root_crlb_velocity_mps": summary["root_crlb_velocity_mps"],
           "resolution": resolution(base.n_subcarriers, base.n_symbols, carrier_hz=base.carrier_hz,
                                    scs_hz=base.sensed_scs_hz, cp_s=base.sensed_cp_s)}
    for scheme in config.schemes:
        res[scheme] = summary[scheme]
    return res


def plot(results: dict, path) -> None:
    P = np.asarray(results["powers_dbm"])
    fig, (ax, ax2) = subplots(1, 2, figsize=(11, 4.5))
    for scheme in SCHEMES:
        if scheme not in results:
            continue
        r = results[scheme]
        color = SCHEME_COLORS[scheme]
        ax.errorbar(P, r["location_rmse_m"], yerr=r["location_rmse_se_m"], marker="o", capsize=2, label=scheme, color=color)
        if "location_rmse_angles_found_m" in r:
            ax.plot(P, r["location_rmse_angles_found_m"], ":", marker=".", color=color,
                    label=f"{scheme}, samples with every angle found")
        if "velocity_rmse_mps" in r:
            ax2.errorbar(P, r["velocity_rmse_mps"], yerr=r["velocity_rmse_se_mps"], marker="o", capsize=2, label=scheme,
                         color=color)
    ax.semilogy(P, results["root_crlb_location_m"], "k--", label="root CRLB")
    ax2.semilogy(P, results["root_crlb_velocity_mps"], "k--", label="root CRLB")
    ax.set_yscale("log")
    ax2.set_yscale("log")
    ax.set_ylabel("Location RMSE (m)")
    ax2.set_ylabel("Velocity RMSE (m/s)")
    ax.set_title("(a) location")
    ax2.set_title("(b) velocity (monostatic: radial only, not shown)")
    finish_figure(fig, (ax, ax2), path, xlabel="Transmit power per AP, P (dBm)")


EXPERIMENT = Experiment(NAME, "B", DESCRIPTION, PRESETS, run, plot)
