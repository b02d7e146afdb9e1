"""Paper A, Fig. 7: sensing bound and aggregation error of Algorithm 1 against K for several I.

Per (K, I) and instance: Algorithm 1 (exact projection) at the energy fraction
``eta = 1/(eps K P)`` of the config; reported are MSE_bar (A.7), CRB_L (Theorem 2) and, beyond the
paper, the exact worst-case CRB (A.21) of the designed precoders, averaged over instances. The
frame length is ``max(T, K)`` so DFT pulses exist for every K.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ...core.sweep import run_sweep
from ..plotting import finish_figure, subplots
from ..registry import Experiment
from ...core.precision import float64
from ...ota.system import PaperASystem
from .design import DesignSolver, check_weights, draw_instance, eps_design, exact_worst_crb

NAME = "a-fig7"
DESCRIPTION = "Paper A Fig. 7: CRB_L and aggregation error vs K for I = 1..4 (Algorithm 1)"


@dataclasses.dataclass(frozen=True)
class Config:
    devices: tuple = (5, 10, 15, 20)
    tasks: tuple = (1, 2, 3, 4)
    energy_fraction: float = 0.5
    system: PaperASystem = PaperASystem()
    solver: DesignSolver = DesignSolver()
    weights: str = "dirichlet"
    n_instances: int = 3
    chunk_size: int = 8


PRESETS = {
    "quick": Config(),
    "paper": Config(devices=(5, 10, 15, 20, 25, 30), solver=DesignSolver(max_iter=50), n_instances=100,
                    chunk_size=50),
}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    base, solver, weights = config.system, config.solver, check_weights(config.weights)
    if max(config.tasks) > base.n_antennas:
        raise ValueError(f"tasks must not exceed n_antennas = {base.n_antennas} (C_k is M x I), got {config.tasks}")

    def trial(key, K, I):
        system = base.replace(n_devices=K, n_tasks=I, frame_length=max(base.frame_length, K))
        inst = draw_instance(key, system, weights=weights)
        tr, crb_l = eps_design(inst, system, solver, config.energy_fraction)
        return {"mse": tr.mse[-1], "crb_l": crb_l, "energy": tr.energy[-1],
                "crb_worst": exact_worst_crb(inst, tr.C, system, solver)}

    with float64():
        out = run_sweep(trial, {"K": list(config.devices), "I": list(config.tasks)},
                        n_trials=config.n_instances,
                        key=jax.random.PRNGKey(seed), out_dir=None if work_dir is None else f"{work_dir}/sweep",
                        chunk_size=config.chunk_size, progress=progress, desc=NAME)
    nK, nI = len(config.devices), len(config.tasks)
    curves = {}
    for j, I in enumerate(config.tasks):
        curves[f"I={I}"] = {name: np.asarray(out[name]).reshape(nK, nI, -1)[:, j].mean(axis=-1)
                            for name in ("mse", "crb_l", "energy", "crb_worst")}
    return {"devices": np.array(config.devices), "tasks": np.array(config.tasks),
            "energy_fraction": config.energy_fraction, "n_instances": config.n_instances, "curves": curves}


def plot(results: dict, path) -> None:
    K = np.asarray(results["devices"])
    fig, (ax, ax2) = subplots(1, 2, figsize=(12, 4.8))
    for label, c in results["curves"].items():
        line, = ax.semilogy(K, c["crb_l"], "o-", label=f"CRB$_L$, {label}")
        ax.semilogy(K, c["crb_worst"], "s:", color=line.get_color(), label=f"worst-case CRB (A.21), {label}")
        ax2.plot(K, c["mse"], "o-", color=line.get_color(), label=label)
    ax.set_ylabel("Sensing error bound (m$^2$)")
    ax.set_title(f"Sensing (energy fraction eta = {results['energy_fraction']})")
    ax2.set_ylabel("Aggregation error MSE$_{bar}$ (A.7)")
    ax2.set_title("Aggregation")
    finish_figure(fig, (ax, ax2), path, xlabel="Number of devices K", legend_size=7)


EXPERIMENT = Experiment(NAME, "A", DESCRIPTION, PRESETS, run, plot)
