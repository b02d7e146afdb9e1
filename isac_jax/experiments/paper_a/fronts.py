"""Pareto fronts of the Paper A design for several values of one system parameter (Figs. 8, 9 and
``a-pareto-crb``).

For every value and instance two fronts are computed:

* the paper's **epsilon-constraint front** (Algorithm 1, exact projection) over energy fractions
  ``eta`` — MSE_bar against CRB_L (Theorem 2), plus the exact worst-case CRB (A.21) of each design.
  Every point is solved twice, from a cold start and by continuation along ``eta`` from its tighter
  neighbour (:func:`~isac_jax.experiments.paper_a.design.eps_front`), each until one BCD iteration
  lowers MSE_bar by at most ``solver.tol`` relative or ``solver.max_iter`` iterations pass; the kept
  point is the better of the two. Per point the curve reports ``mse_cold`` / ``mse_warm``,
  ``converged_cold`` / ``converged_warm`` (fraction of instances that met the tolerance),
  ``iterations_cold`` / ``iterations_warm`` (largest over instances) and ``start_gap`` (largest relative
  MSE_bar difference of the two starts over instances). ``converged`` flags the points whose every
  instance met the tolerance from both starts, and ``spread_converged`` is the front's relative MSE_bar
  spread ``(max - min) / min`` over those points only (``None`` with fewer than two); ``spread_cold``
  is the spread of the cold starts alone (0 when every ``eta`` ends at the same design, e.g. when
  ``E = K P`` at all of them);
* the **CRB-aware front** (:mod:`isac_jax.ota.crb_design`) over worst-case-CRB targets
  ``beta = c CRB_ref`` — MSE_bar against the exact worst-case CRB, with a feasibility flag.

Curves are means over instances (common random numbers across the varied parameter). The
aggregation weights come from a Dirichlet(0.4) data split by default (``weights="uniform"``: the
collapsed front of uniform weights).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ...core.precision import float64
from ...core.sweep import run_sweep
from ...ota.system import PaperASystem
from ..plotting import finish_figure, subplots
from ..registry import Experiment
from .design import DesignSolver, check_weights, crb_aware_front, draw_instance, eps_front

#: the varied size -> its field of :class:`~isac_jax.ota.PaperASystem`
_SIZE_FIELDS = {"T": "frame_length", "N": "n_ps_antennas", "K": "n_devices", "I": "n_tasks"}
#: 20 energy fractions eta from 0.05 to 1 (paper presets).
PAPER_ENERGY_FRACTIONS = tuple(0.05 + 0.95 * i / 19 for i in range(20))
#: The fronts' solver: every point until one BCD iteration lowers MSE_bar by at most 1e-6 relative,
#: capped at ``max_iter`` iterations (a capped point is reported as not converged).
CONVERGED_SOLVER = DesignSolver(max_iter=500, tol=1e-6)


@dataclasses.dataclass(frozen=True)
class FrontsConfig:
    vary: str = "T"                                   # one of T, N, K, I
    values: tuple = (16, 32, 64)
    system: PaperASystem = PaperASystem()
    solver: DesignSolver = DesignSolver()
    weights: str = "dirichlet"                        # aggregation weights: Dirichlet data shares or uniform
    energy_fractions: tuple = (0.05, 0.25, 0.5, 0.75, 1.0)
    crb_fractions: tuple = (1.0, 0.7, 0.5, 0.4, 0.3)
    n_instances: int = 3
    chunk_size: int = 8


def run_fronts(config: FrontsConfig, *, name: str, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    if config.vary not in _SIZE_FIELDS:
        raise ValueError(f"vary must be one of {sorted(_SIZE_FIELDS)}, got {config.vary!r}")
    solver, weights = config.solver, check_weights(config.weights)
    if np.any(np.diff(config.energy_fractions) <= 0):
        raise ValueError(f"energy_fractions must increase (continuation along epsilon), got {config.energy_fractions}")

    def trial(key, **point):
        system = config.system.replace(**{_SIZE_FIELDS[config.vary]: point[config.vary]})
        inst = draw_instance(key, system, weights=weights)
        eps = eps_front(inst, system, solver, config.energy_fractions)
        aware = crb_aware_front(inst, system, solver, config.crb_fractions)
        return {**{f"eps_{k}": v for k, v in eps.items()}, **{f"aware_{k}": v for k, v in aware.items()}}

    with float64():
        out = run_sweep(trial, {config.vary: list(config.values)}, n_trials=config.n_instances,
                        key=jax.random.PRNGKey(seed), out_dir=None if work_dir is None else f"{work_dir}/sweep",
                        chunk_size=config.chunk_size, progress=progress, desc=name)
    curves = {}
    for i, v in enumerate(config.values):
        def mean(k):
            return np.asarray(out[k][i]).mean(axis=0)

        curves[f"{config.vary}={v}"] = {
            "mse": mean("eps_mse"), "crb_l": mean("eps_crb_l"), "crb_worst": mean("eps_crb_worst"),
            "energy": mean("eps_energy"),
            # fraction of instances whose point was won by the cold start over the continuation start
            "restart_won_fraction": mean("eps_restart_won"),
            **_start_report(out, i),
            "crb_aware": {"mse": mean("aware_mse"), "crb_worst": mean("aware_crb_worst"),
                          "crb_l": mean("aware_crb_l"), "crb_target": mean("aware_crb_target"),
                          "feasible_fraction": mean("aware_feasible")},
        }
    return {"vary": config.vary, "values": np.array(config.values), "tol": solver.tol, "max_iter": solver.max_iter,
            "energy_fraction": np.array(config.energy_fractions), "crb_fraction": np.array(config.crb_fractions),
            "n_instances": config.n_instances, "curves": curves}


def _start_report(out: dict, i: int) -> dict:
    """Both starts of every point of value ``i`` (see the module docstring), from the sweep output."""
    def arr(k):
        return np.asarray(out[f"eps_{k}"][i], dtype=float)                        # [instances, E]

    mse_c, mse_w = arr("mse_cold"), arr("mse_warm")
    conv_c, conv_w = arr("converged_cold"), arr("converged_warm")
    converged = np.all((conv_c > 0.5) & (conv_w > 0.5), axis=0)
    mse = arr("mse").mean(axis=0)
    return {"mse_cold": mse_c.mean(axis=0), "mse_warm": mse_w.mean(axis=0),
            "energy_cold": arr("energy_cold").mean(axis=0), "energy_warm": arr("energy_warm").mean(axis=0),
            "converged_cold": conv_c.mean(axis=0), "converged_warm": conv_w.mean(axis=0),
            "iterations_cold": arr("iterations_cold").max(axis=0).astype(int),
            "iterations_warm": arr("iterations_warm").max(axis=0).astype(int),
            "start_gap": (np.abs(mse_w - mse_c) / np.minimum(mse_w, mse_c)).max(axis=0),
            "converged": converged,
            "spread_converged": relative_spread(mse[converged]) if converged.sum() >= 2 else None,
            "spread_cold": relative_spread(mse_c.mean(axis=0))}


def relative_spread(y) -> float:
    """``(max - min) / min`` of a positive array (a front's relative MSE_bar spread)."""
    y = np.asarray(y, dtype=float)
    return float(np.ptp(y) / np.min(y))


def plot_fronts(results: dict, path, *, title: str) -> None:
    """Left: the paper's axes (MSE_bar vs CRB_L). Right: relative MSE_bar increase over the
    epsilon-constraint optimum vs the exact worst-case CRB, both fronts."""
    fig, (ax, ax2) = subplots(1, 2, figsize=(12, 4.8))
    colors = [f"C{i}" for i in range(10)]
    collapsed = True
    for i, (label, c) in enumerate(results["curves"].items()):
        col = colors[i % len(colors)]
        mse = np.asarray(c["mse"])
        collapsed &= bool(np.ptp(mse) <= 1e-6 * mse.max())
        ax.plot(c["crb_l"], mse, "o-", color=col, label=f"{label}: epsilon-constraint (Alg. 1)")
        base = mse.min()
        ax2.plot(c["crb_worst"], 100 * (mse / base - 1), "o-", color=col, label=f"{label}: epsilon-constraint")
        aw = c["crb_aware"]
        rel = 100 * (np.asarray(aw["mse"]) / base - 1)
        ok = np.asarray(aw["feasible_fraction"]) >= 1.0
        ax2.plot(np.asarray(aw["crb_worst"])[ok], rel[ok], "s--", color=col, label=f"{label}: CRB-aware")
        if np.any(~ok):
            ax2.plot(np.asarray(aw["crb_worst"])[~ok], rel[~ok], "x", color=col, ms=9,
                     label=f"{label}: CRB-aware, target missed on some instances")
    if collapsed:
        # Autoscaled y (a window around the mean of all curves hid fronts at other levels).
        ax.text(0.03, 0.03, "every epsilon gives the same design: the MSE optimum\nalready uses E = K P "
                "(energy constraint inactive; uniform weights)", transform=ax.transAxes, fontsize=8)
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.set_xscale("log")
    ax.set_xlabel("CRB$_L$ (Theorem 2), m$^2$")
    ax.set_ylabel("Aggregation error MSE$_{bar}$ (A.7)")
    ax.set_title(f"{title}: paper's axes")
    ax2.set_xscale("log")
    ax2.set_yscale("symlog", linthresh=1e-3)
    ax2.set_xlabel("Worst-case CRB over the target region (A.21), m$^2$")
    ax2.set_ylabel("MSE$_{bar}$ increase over the epsilon-constraint optimum (%)")
    ax2.set_title("Price of sensing on the exact worst-case CRB")
    ax2.legend(fontsize=6, loc="lower left")
    finish_figure(fig, [ax, ax2], path)


def fronts_experiment(name: str, description: str, title: str, quick: FrontsConfig, paper: FrontsConfig) -> Experiment:
    """The :class:`~isac_jax.experiments.registry.Experiment` record of one fronts experiment."""
    def run(config: FrontsConfig, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
        return run_fronts(config, name=name, seed=seed, work_dir=work_dir, progress=progress)

    def plot(results: dict, path) -> None:
        plot_fronts(results, path, title=title)

    return Experiment(name, "A", description, {"quick": quick, "paper": paper}, run, plot)
