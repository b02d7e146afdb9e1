"""Reproduced figures and tables: one module per experiment, each with ``Config``, ``PRESETS``,
``run(config, *, seed, work_dir, progress) -> results`` and ``plot(results, path)``.

:func:`reproduce` resolves a preset, runs, and writes ``results.json``, ``arrays.npz``,
``config.json`` and ``figure.png`` under ``out/<experiment>/``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from . import (a_fig2, a_fig3, a_fig4, a_fig5, a_fig6, a_fig7, a_fig8, a_fig9, a_fig10, a_fig11, a_ml_vs_crb, a_pareto_crb, b_crlb, b_design_aps, b_fig11,
               b_fig12, b_overhead, b_table3, b_train)
from ._io import write_outputs

REGISTRY = {m.NAME: m for m in (a_fig2, a_fig3, a_fig4, a_fig5, a_fig6, a_fig7, a_fig8, a_fig9, a_fig10, a_fig11, a_ml_vs_crb, a_pareto_crb,
                                          b_crlb, b_design_aps, b_overhead, b_train, b_fig11, b_fig12, b_table3)}


def list_experiments() -> dict:
    """``{name: one-line description}`` of every registered experiment."""
    return {name: m.DESCRIPTION for name, m in REGISTRY.items()}


def get_experiment(name: str):
    if name not in REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def resolve_config(name: str, preset: str = "quick", **overrides):
    """The named preset's config of experiment ``name``, with field ``overrides`` applied."""
    exp = get_experiment(name)
    if preset not in exp.PRESETS:
        raise ValueError(f"unknown preset {preset!r} for {name}; known: {', '.join(exp.PRESETS)}")
    return dataclasses.replace(exp.PRESETS[preset], **overrides)


def reproduce(name: str, *, preset: str = "quick", out="results", seed: int = 0, progress: bool = True,
              config=None) -> dict:
    """Run experiment ``name`` and write its outputs; returns ``{"results": ..., "paths": ...}``.

    ``config`` (a ``Config`` of that experiment) overrides the preset when given. Intermediate
    work (finished sweep points) lives in ``out/<name>/work`` so an interrupted run resumes.
    """
    exp = get_experiment(name)
    cfg = config if config is not None else resolve_config(name, preset)
    out_dir = Path(out) / name
    t0 = time.perf_counter()
    results = exp.run(cfg, seed=seed, work_dir=str(out_dir / "work"), progress=progress)
    meta = {"experiment": name, "preset": preset if config is None else "custom", "seed": seed,
            "wall_time_s": time.perf_counter() - t0}
    paths = write_outputs(out_dir, results, cfg, meta, exp.plot)
    return {"results": results, "paths": paths}
