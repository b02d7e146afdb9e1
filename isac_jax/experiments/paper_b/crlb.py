"""Paper B, Fig. 6 (bound curves): root CRLB of target location and velocity vs transmit power P.

Per scenario (Sec. B.V: users and targets uniform in the area, velocities U[-20, 20] m/s,
beta ~ CN(0, 1), centralised MMSE precoding of 16-QAM at per-AP power P): CRLB_psi (B.24) by
autodiff (:func:`isac_jax.cellfree.crlb`) for the actual transmit tensor. Reported:
``sqrt(mean over scenarios and targets of (CRLB_x + CRLB_y))`` for location (m) and the same for
velocity (m/s) — the bound on the RMSE as Paper B defines it — plus the median over scenarios,
and the mean per-user SINR of the communication side. The same from the paper's closed-form
Appendix A derivatives (:func:`isac_jax.cellfree.crlb.crlb_closed_form`, Doppler-position term
dropped as in (35)) beside it. Computed in float64.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ...cellfree.config import CellFreeConfig, PRESETS as CF_PRESETS
from ...cellfree.crlb import crlb, crlb_closed_form
from ...cellfree.sensing import draw_transmission
from ...cellfree.comm import sinr
from ...core.sweep import run_sweep
from ..plotting import finish_figure, subplots
from ..registry import Experiment
from ...core.precision import float64

NAME = "b-crlb"
DESCRIPTION = "Paper B Fig. 6 bound: root CRLB of location and velocity vs transmit power P"


@dataclasses.dataclass(frozen=True)
class Config:
    powers_dbm: tuple = (0.0, 10.0, 20.0, 30.0, 40.0)
    system: CellFreeConfig = CF_PRESETS["quick"]
    n_scenarios: int = 16
    chunk_size: int = 16


PRESETS = {
    "quick": Config(),
    "paper": Config(system=CF_PRESETS["paper"], n_scenarios=200, chunk_size=4),
}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    base = config.system
    Q = base.n_targets

    def trial(key, power_dbm):
        cfg = dataclasses.replace(base, power_dbm=power_dbm)
        sc, H, W, x = draw_transmission(key, cfg, dtype=np.float64)
        args = (cfg.tx_array(), cfg.rx_array(), sc.targets, sc.velocities, sc.beta, x)
        d = jax.numpy.diagonal(crlb(*args, **cfg.crlb_kwargs))
        dc = jax.numpy.diagonal(crlb_closed_form(*args, **cfg.crlb_kwargs))
        return {"loc_var": d[:2 * Q].reshape(Q, 2).sum(-1), "vel_var": d[2 * Q:].reshape(Q, 2).sum(-1),
                "loc_var_closed": dc[:2 * Q].reshape(Q, 2).sum(-1), "vel_var_closed": dc[2 * Q:].reshape(Q, 2).sum(-1),
                "sinr_db": 10 * jax.numpy.log10(jax.numpy.mean(sinr(H, W, cfg.comm_noise_w)))}

    with float64():
        out = run_sweep(trial, {"power_dbm": list(config.powers_dbm)}, n_trials=config.n_scenarios,
                        key=jax.random.PRNGKey(seed), out_dir=None if work_dir is None else f"{work_dir}/sweep",
                        chunk_size=config.chunk_size, progress=progress, desc=NAME)
    loc, vel = np.asarray(out["loc_var"]), np.asarray(out["vel_var"])      # [P, trials, Q]
    loc_c, vel_c = np.asarray(out["loc_var_closed"]), np.asarray(out["vel_var_closed"])
    return {"root_crlb_closed_form_location_m": np.sqrt(loc_c.mean(axis=(1, 2))),
            "root_crlb_closed_form_velocity_mps": np.sqrt(vel_c.mean(axis=(1, 2))),
            "median_root_crlb_closed_form_location_m": np.median(np.sqrt(loc_c), axis=(1, 2)),
            "median_root_crlb_closed_form_velocity_mps": np.median(np.sqrt(vel_c), axis=(1, 2)),
"powers_dbm": np.array(config.powers_dbm), "n_scenarios": config.n_scenarios,
            "root_crlb_location_m": np.sqrt(loc.mean(axis=(1, 2))),
            "root_crlb_velocity_mps": np.sqrt(vel.mean(axis=(1, 2))),
            "median_root_crlb_location_m": np.median(np.sqrt(loc), axis=(1, 2)),
            "median_root_crlb_velocity_mps": np.median(np.sqrt(vel), axis=(1, 2)),
            "mean_sinr_db": np.asarray(out["sinr_db"]).mean(axis=1)}


def plot(results: dict, path) -> None:
    P = np.asarray(results["powers_dbm"])
    fig, (ax, ax2) = subplots(1, 2, figsize=(11, 4.5))
    ax.semilogy(P, results["root_crlb_location_m"], "k-o", label="root CRLB (mean of bound)")
    ax.semilogy(P, results["median_root_crlb_location_m"], "k--", label="root CRLB (median over scenarios)")
    ax.semilogy(P, results["root_crlb_closed_form_location_m"], "r:", marker="x",
                label="Appendix A closed form (mean)")
    ax.set_ylabel("Location RMSE bound (m)")
    ax.set_title("(a) location")
    ax2.semilogy(P, results["root_crlb_velocity_mps"], "k-o", label="root CRLB (mean of bound)")
    ax2.semilogy(P, results["median_root_crlb_velocity_mps"], "k--", label="root CRLB (median over scenarios)")
    ax2.semilogy(P, results["root_crlb_closed_form_velocity_mps"], "r:", marker="x",
                 label="Appendix A closed form (mean)")
    ax2.set_ylabel("Velocity RMSE bound (m/s)")
    ax2.set_title("(b) velocity")
    finish_figure(fig, (ax, ax2), path, xlabel="Maximum transmit power per AP, P (dBm)", legend_size=8)


EXPERIMENT = Experiment(NAME, "B", DESCRIPTION, PRESETS, run, plot)
