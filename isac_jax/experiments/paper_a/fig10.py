"""Paper A, Fig. 10: convergence of Algorithm 1 (BCD) for several PS antenna counts N.

Per N and instance, BCD starts from a random feasible precoder (drawn from the instance key) at
the energy fraction of the config and runs ``max_iter`` iterations (1000 in the presets; no early
stop). Reported per
iteration, averaged over instances: MSE_bar (A.7), CRB_L (Theorem 2) and the paper's "overall
error" ``(MSE_bar + CRB_L) / 2`` (the paper averages the two although their units differ; both
parts are kept so either can be read alone). Per N, ``iterations_to_1pct`` / ``iterations_to_0p1pct``
is the first iteration from which the overall error stays within 1 % / 0.1 % of its value at the last
iteration (``reference_iteration``), beside the paper's "after less than 10 iterations".

Why BCD is slow once ``N >= K I`` (the PS can separate every device's every stream): BCD converges
linearly, ``MSE_bar[i] - MSE_bar[inf] ~ rho^i``, so successive decreases shrink by the contraction
factor ``rho`` of the receiver-precoder alternation. ``contraction_factor`` (per N, median over
instances) is estimated from the iterates by :func:`contraction_factor` over the iterations
``rate_window``, and ``iterations_per_decade = -1 / log10(rho)`` is how many iterations one tenfold
error reduction takes; ``streams`` is ``K I``, the N from which the alternation slows.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ...core.sweep import run_sweep
from ..plotting import finish_figure, subplots
from ..registry import Experiment
from ...core.precision import float64
from ...ota.design import bcd_trace
from ...ota.system import PaperASystem
from .design import DesignSolver, check_weights, draw_instance, eps_design

NAME = "a-fig10"
DESCRIPTION = "Paper A Fig. 10: BCD convergence (MSE, CRB_L, overall error vs iteration) for several N"


@dataclasses.dataclass(frozen=True)
class Config:
    ps_antennas: tuple = (8, 16, 32)
    energy_fraction: float = 0.5
    system: PaperASystem = PaperASystem()
    # 1000 iterations: the reference of the settling iterations (at N = 32 BCD still moves after hundreds).
    solver: DesignSolver = DesignSolver(max_iter=1000)
    rate_window: tuple = (50, 500)      # iterations whose MSE_bar decreases estimate the contraction factor
    weights: str = "dirichlet"
    n_instances: int = 3
    chunk_size: int = 8


PRESETS = {
    "quick": Config(),
    "paper": Config(ps_antennas=(8, 16, 32, 64), solver=DesignSolver(max_iter=1000), n_instances=100, chunk_size=50),
}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    solver, weights = config.solver, check_weights(config.weights)
    lo, hi = config.rate_window
    if not 0 <= lo < hi - 1 <= solver.max_iter:
        raise ValueError(f"rate_window must satisfy 0 <= start < stop - 1 <= solver.max_iter = {solver.max_iter}, "
                         f"got {config.rate_window}")

    def trial(key, N):
        k_inst, k_start = jax.random.split(key)
        system = config.system.replace(n_ps_antennas=N)
        inst = draw_instance(k_inst, system, weights=weights)
        tr, crb_l = eps_design(inst, system, solver, config.energy_fraction, key=k_start)
        # CRB_L = rho varsigma_bar^2 / (T E) is proportional to 1/E (Theorem 2).
        return {"mse": tr.mse, "crb_l": crb_l * tr.energy[-1] / tr.energy, "step_mse": tr.step_mse,
                "guard_count": tr.guard_count}

    with float64():
        out = run_sweep(trial, {"N": list(config.ps_antennas)}, n_trials=config.n_instances,
                        key=jax.random.PRNGKey(seed), out_dir=None if work_dir is None else f"{work_dir}/sweep",
                        chunk_size=config.chunk_size, progress=progress, desc=NAME)
        # Is a slow curve the C-step or the alternation? Rerun instance 0 at the largest N with C-steps
        # of 10x the steps and no early stop for the first (at most 100) iterations: identical MSE
        # histories mean every C-step was solved.
        N_max = max(config.ps_antennas)
        exact = dataclasses.replace(solver, n_cstep_iter=10 * solver.n_cstep_iter, max_iter=min(100, solver.max_iter))
        k_inst, k_start = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 0))
        system = config.system.replace(n_ps_antennas=N_max)
        inst = draw_instance(k_inst, system, weights=weights)
        eps = 1.0 / (config.energy_fraction * system.n_devices * system.power_w)
        ref = bcd_trace(inst["H"], inst["W"], inst["pulses"], system.noise_var_w, system.power_w, eps,
                        max_iter=exact.max_iter, tol=0.0, key=k_start, n_cstep_iter=exact.n_cstep_iter, cstep_tol=0.0)
        ours = np.asarray(out["mse"][config.ps_antennas.index(N_max)][0])[:exact.max_iter + 1]   # instance 0
        cstep_gap = float(np.max(np.abs(np.asarray(ref.mse) - ours) / np.asarray(ref.mse)))
    curves = {}
    for i, N in enumerate(config.ps_antennas):
        mse = np.asarray(out["mse"][i]).mean(axis=0)
        crb_l = np.asarray(out["crb_l"][i]).mean(axis=0)
        curves[f"N={N}"] = {"mse": mse, "crb_l": crb_l, "overall": 0.5 * (mse + crb_l),
                            "step_mse": np.asarray(out["step_mse"][i]).mean(axis=0),
                            # iterations whose unguarded MSE_bar rose (rejected by BCD's monotonicity guard)
                            "guard_count_total": int(np.sum(out["guard_count"][i]))}
        curves[f"N={N}"].update(settling_iterations(curves[f"N={N}"]["overall"]))
        rates = [contraction_factor(h, lo, hi) for h in np.asarray(out["mse"][i])]
        known = [r for r in rates if r is not None]
        rho = float(np.median(known)) if known else None
        curves[f"N={N}"].update({"contraction_factor": rho, "contraction_factor_per_instance": rates,
                                 "iterations_per_decade": (None if rho is None or rho >= 1.0
                                                           else float(-1.0 / np.log10(rho)))})
    return {"ps_antennas": np.array(config.ps_antennas), "iterations": np.arange(solver.max_iter + 1),
            # max relative difference of instance 0's MSE_bar history at the largest N against C-steps of
            # 10x the steps without early stop (tiny: the C-step is solved; the slowness is BCD's own)
            "cstep_exactness_gap": cstep_gap,
            "energy_fraction": config.energy_fraction, "n_instances": config.n_instances,
            "rate_window": np.array(config.rate_window), "streams": config.system.n_devices * config.system.n_tasks,
            "curves": curves}


def contraction_factor(mse, start: int, stop: int):
    """Linear rate ``rho`` of a converging history ``mse[n]`` over iterations ``start..stop``.

    The decreases ``d_i = mse[i] - mse[i + 1]`` of a linearly converging sequence fall as
    ``d_i ~ c rho^i``; ``rho`` is ``exp`` of the least-squares slope of ``log d_i`` against ``i`` over
    ``start <= i < stop - 1``; decreases ``d_i <= 1e-10 mse[i]`` are left out (their round-off error
    would exceed 1e-6 relative).
    ``rho`` near 1 is a slow alternation (``-1 / log10(rho)`` iterations per tenfold error reduction).
    Returns ``None`` when fewer than two decreases remain (converged to round-off before ``stop``).
    """
    y = np.asarray(mse, dtype=float)
    if not 0 <= start < stop - 1 < y.size:
        raise ValueError(f"need 0 <= start < stop - 1 < len(mse) = {y.size}, got start={start}, stop={stop}")
    i = np.arange(start, stop - 1)
    d = y[i] - y[i + 1]
    keep = d > 1e-10 * np.abs(y[i])
    if keep.sum() < 2:
        return None
    x, z = i[keep].astype(float), np.log(d[keep])
    slope = np.sum((x - x.mean()) * (z - z.mean())) / np.sum((x - x.mean()) ** 2)
    return float(np.exp(slope))


def settling_iterations(curve) -> dict:
    """First iteration from which ``curve[1:]`` stays within 1 % and 0.1 % (relative) of its last value."""
    y = np.asarray(curve, dtype=float)
    rel = np.abs(y - y[-1]) / np.abs(y[-1])
    out = {"reference_iteration": int(y.size - 1)}
    for name, tol in (("iterations_to_1pct", 1e-2), ("iterations_to_0p1pct", 1e-3)):
        outside = np.nonzero(rel > tol)[0]
        out[name] = int(outside[-1] + 1) if outside.size else 0
    return out


def plot(results: dict, path) -> None:
    it = np.asarray(results["iterations"])
    fig, (ax, ax2, ax3) = subplots(1, 3, figsize=(17, 4.8))
    style = dict(marker="o", ms=3) if len(it) <= 40 else {}
    for label, c in results["curves"].items():
        line, = ax.plot(it, c["overall"], "-", label=label, **style)
        ax2.plot(it, c["mse"], "-", color=line.get_color(), label=f"MSE$_{{bar}}$, {label}", **style)
        ax2.plot(it, c["crb_l"], ":", color=line.get_color(), label=f"CRB$_L$, {label}")
    ax.set_yscale("log")          # the N = 32 curve is two orders below the others and still falling
    ax.set_ylabel("Overall error (MSE$_{bar}$ + CRB$_L$)/2")
    ax.set_title("Fig. 10: convergence of Algorithm 1")
    ax.axvline(10, color="0.5", lw=0.8, ls="--")
    ax2.set_yscale("log")
    ax2.set_ylabel("MSE$_{bar}$ and CRB$_L$")
    ax2.set_title("The two parts")
    # Why N >= K I is slow: the contraction factor of the alternation against N.
    Ns = [int(k.split("=")[1]) for k in results["curves"]]
    rho = [c.get("contraction_factor") for c in results["curves"].values()]
    shown = [(n, r) for n, r in zip(Ns, rho) if r is not None]
    if shown:
        ax3.plot([n for n, _ in shown], [1.0 - r for _, r in shown], "o-")
    if "streams" in results:
        ax3.axvline(results["streams"], color="0.5", lw=0.8, ls="--", label="N = K I")
        ax3.legend(fontsize=7)
    ax3.set_xscale("log", base=2)
    ax3.set_yscale("log")
    ax3.set_xlabel("PS antennas N")
    lo, hi = np.asarray(results.get("rate_window", (0, len(it)))).tolist()
    ax3.set_ylabel(f"1 - contraction factor (iterations {lo}-{hi})")
    ax3.set_title("Rate of the receiver-precoder alternation")
    ax3.grid(True, which="both", alpha=0.3)
    finish_figure(fig, (ax, ax2), path, xlabel="BCD iteration", legend_size=7)


EXPERIMENT = Experiment(NAME, "A", DESCRIPTION, PRESETS, run, plot)
