"""Paper B, Figs. 7, 8, 9, 13 and 14: RMSE of the classical schemes and the root CRLB as one system
parameter varies, on test samples common to every grid point (see :mod:`.fig6` for the schemes,
the quick system and its resolution).

* ``b-fig7`` — number of targets Q (P = 30 dBm);
* ``b-fig8`` — number of OFDM symbols T_s;
* ``b-fig9`` — receive antennas per AP M_r;
* ``b-fig13`` — number of clutter scatterers S for clutter variances chi~^2 in {1, 0.1, 0.01} (the
  CRLB is the clutter-free bound, as the paper draws it: clutter is unmodelled interference for
  every estimator);
* ``b-fig14`` — residual clock offsets (B.30). The paper gives no sigma values; the axis is the
  offset level ``s`` in resolution cells, ``sigma_tau = s / (N_s Delta f)`` and
  ``sigma_f = s / (T_s DeltaT)``, drawn independently per (n, m, t) (SPEC decision: real
  Gaussian). The CRLB is the synchronised bound.

Each grid point whose value changes an array shape (Q, T_s, M_r, S) or a config check is compiled
once; the clutter variance is a traced scale, so the three variances share one compilation per S.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import numpy as np

from ...cellfree.config import CellFreeConfig, PRESETS as CF_PRESETS
from ...cellfree.estimators import SCHEMES, EstimatorSettings, resolution
from ...cellfree.evaluation import evaluate_trial, summarise
from ...core.precision import float64
from ...core.sweep import run_sweep
from ..plotting import finish_figure, subplots
from ..registry import Experiment
from .fig6 import QUICK_SYSTEM, SCHEME_COLORS


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """``values``: the swept parameter's grid; ``clutter_vars``: chi~^2 grid (``b-fig13`` only)."""

    values: tuple
    system: CellFreeConfig = QUICK_SYSTEM
    schemes: tuple = SCHEMES
    settings: EstimatorSettings = EstimatorSettings()
    n_samples: int = 12
    chunk_size: int = 12
    clutter_vars: tuple = ()


def _apply_targets(cfg, q):
    return dataclasses.replace(cfg, n_targets=int(q))


def _apply_symbols(cfg, t):
    return dataclasses.replace(cfg, n_symbols=int(t))


def _apply_rx_antennas(cfg, m):
    return dataclasses.replace(cfg, n_rx_antennas=int(m))


def _apply_scatterers(cfg, s):
    # chi~^2 = 1 (b-fig13 scales it per column); no scatterers leave the system as it is.
    return dataclasses.replace(cfg, n_clutter=int(s), clutter_var=1.0) if s else dataclasses.replace(cfg, n_clutter=0)


def _apply_offsets(cfg, level):
    return dataclasses.replace(cfg, timing_offset_std_s=float(level) / (cfg.n_subcarriers * cfg.sensed_scs_hz),
                               cfo_std_hz=float(level) / (cfg.n_symbols * cfg.sensed_symbol_s))


def _apply_power(cfg, p):
    return dataclasses.replace(cfg, power_dbm=float(p))


#: How each Paper B figure's axis changes a system: ``AXES[axis](config, value) -> config``
#: (shared with the learned curves of :mod:`.learned_curves`).
AXES = {"power_dbm": _apply_power, "n_targets": _apply_targets, "n_symbols": _apply_symbols,
        "n_rx_antennas": _apply_rx_antennas, "n_clutter": _apply_scatterers, "offset_level": _apply_offsets}


def _define(name: str, fig: str, what: str, axis: str, apply: Callable, xlabel: str, quick: SweepConfig,
            paper: SweepConfig, *, log_x: bool = False):
    """An :class:`Experiment` sweeping ``axis`` through ``apply(system, value)``."""

    def run(config: SweepConfig, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
        base = config.system
        clutter = bool(config.clutter_vars)
        grid = {axis: list(config.values)}
        if clutter:
            grid["clutter_var"] = list(config.clutter_vars)

        def trial(key, clutter_var=1.0, **kw):
            cfg = apply(base, kw[axis])
            out = evaluate_trial(key, cfg, config.schemes, config.settings, clutter_scale=jax.numpy.sqrt(clutter_var))
            # Mean over the targets (their number may be the swept axis): the RMSE over samples
            # and targets and the per-sample standard error are unchanged.
            return {k: jax.numpy.mean(v, axis=-1, keepdims=True) for k, v in out.items()}

        with float64():
            out = run_sweep(trial, grid, n_trials=config.n_samples, key=jax.random.PRNGKey(seed),
                            out_dir=None if work_dir is None else f"{work_dir}/sweep", chunk_size=config.chunk_size,
                            dynamic=("clutter_var",) if clutter else (), progress=progress, desc=name)
        shape = (len(config.values), len(config.clutter_vars)) if clutter else (len(config.values),)
        res = {axis: np.asarray(config.values), "n_samples": config.n_samples}
        if clutter:
            res["clutter_vars"] = np.asarray(config.clutter_vars)
        # Stack per point (targets may differ across points: Q is swept), then summarise each.
        points = [{k: v[p] for k, v in out.items() if k != "grid"} for p in range(len(out["grid"]))]
        sums = [summarise(pt, apply(base, g[axis]), config.schemes) for pt, g in zip(points, out["grid"])]
        res["root_crlb_location_m"] = np.reshape([s["root_crlb_location_m"] for s in sums], shape)
        res["root_crlb_velocity_mps"] = np.reshape([s["root_crlb_velocity_mps"] for s in sums], shape)
        for scheme in config.schemes:
            res[scheme] = {k: np.reshape([s[scheme][k] for s in sums], shape) for k in sums[0][scheme]}
        res["resolution"] = [resolution(c.n_subcarriers, c.n_symbols, carrier_hz=c.carrier_hz,
                                        scs_hz=c.sensed_scs_hz, cp_s=c.sensed_cp_s) for c in (apply(base, v) for v in config.values)]
        return res

    def plot(results: dict, path) -> None:
        x = np.asarray(results[axis], dtype=float)
        fig_, axes = subplots(1, 2, figsize=(11, 4.5))
        variances = results.get("clutter_vars")
        columns = range(len(variances)) if variances is not None else [None]
        styles = ["-", "--", ":"]
        for a, metric, unit in ((axes[0], "location", "m"), (axes[1], "velocity", "mps")):
            for j in columns:
                sel = (lambda arr: np.asarray(arr)[:, j]) if j is not None else np.asarray
                tag = f", $\\tilde\\chi^2$={variances[j]:g}" if j is not None else ""
                ls = styles[j % 3] if j is not None else "-"
                for scheme in SCHEMES:
                    r = results.get(scheme)
                    if r is None or f"{metric}_rmse_{unit}" not in r:
                        continue
                    a.plot(x, sel(r[f"{metric}_rmse_{unit}"]), marker="o", linestyle=ls, color=SCHEME_COLORS[scheme],
                           label=f"{scheme}{tag}" if j in (None, 0) or scheme == "ml_refined" else None)
            bound = np.asarray(results[f"root_crlb_{metric}_{unit}"])
            a.plot(x, bound[:, 0] if bound.ndim == 2 else bound, "k--", label="root CRLB")
            a.set_yscale("log")
            if log_x:
                a.set_xscale("log", base=2)
            a.set_ylabel(f"{metric.capitalize()} RMSE ({'m' if unit == 'm' else 'm/s'})")
            a.set_title(f"({'a' if metric == 'location' else 'b'}) {metric}")
        finish_figure(fig_, axes, path, xlabel=xlabel)

    description = f"Paper B Fig. {fig}: RMSE of the classical schemes and the root CRLB vs {what}"
    return Experiment(name, "B", description, {"quick": quick, "paper": paper}, run, plot)


PAPER = CF_PRESETS["paper"]

FIG7 = _define("b-fig7", "7", "the number of targets Q", "n_targets", _apply_targets, "Number of targets Q",
               SweepConfig(values=(1, 2, 3)), SweepConfig(values=(1, 2, 3, 4), system=PAPER, n_samples=200,
                                                           chunk_size=4))
FIG8 = _define("b-fig8", "8", "the number of OFDM symbols T_s", "n_symbols", _apply_symbols,
               "Number of OFDM symbols $T_s$", SweepConfig(values=(16, 32, 64)),
               SweepConfig(values=(32, 64, 128, 256), system=PAPER, n_samples=200, chunk_size=4), log_x=True)
FIG9 = _define("b-fig9", "9", "the receive antennas per AP M_r", "n_rx_antennas", _apply_rx_antennas,
               "Receive antennas per AP $M_r$", SweepConfig(values=(4, 8, 16)),
               SweepConfig(values=(4, 8, 16, 32), system=PAPER, n_samples=200, chunk_size=4), log_x=True)
FIG13 = _define("b-fig13", "13", "the number of clutter scatterers S", "n_clutter", _apply_scatterers,
                "Number of scatterers S", SweepConfig(values=(3, 9, 18), clutter_vars=(1.0, 0.1, 0.01), n_samples=8,
                                                      chunk_size=8),
                SweepConfig(values=(3, 6, 9, 12, 15, 18), clutter_vars=(1.0, 0.1, 0.01), system=PAPER,
                            n_samples=200, chunk_size=4))
FIG14 = _define("b-fig14", "14", "the residual clock-offset level", "offset_level", _apply_offsets,
                "Clock-offset level s (resolution cells): $\\sigma_\\tau = s/(N_s\\Delta f)$, "
                "$\\sigma_f = s/(T_s\\Delta T)$", SweepConfig(values=(0.0, 0.05, 0.2)),
                SweepConfig(values=(0.0, 0.02, 0.05, 0.1, 0.2, 0.5), system=PAPER, n_samples=200, chunk_size=4))
