"""Reproduced figures and tables, one module per experiment under :mod:`.paper_a` and
:mod:`.paper_b`, each exporting ``EXPERIMENT`` (an :class:`~.registry.Experiment`: name, paper,
description, ``quick``/``paper`` presets, ``run(config, *, seed, work_dir, progress) -> results``,
``plot(results, path)``).

:func:`reproduce` resolves a preset, runs, and writes ``results.json``, ``arrays.npz``,
``config.json`` and ``figure.png`` under ``out/<experiment>/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time

import jax
import numpy as np

from ..core.provenance import provenance
from .outputs import check_out_dir, check_reuse, identity, to_jsonable, write_outputs
from .paper_a import (fig2, fig3, fig4, fig5, fig6, fig7, fig8, fig9, fig10, fig11, ml_vs_crb,
                      pareto_crb)
from .paper_b import crlb, design_aps, fig6 as b_fig6, fig10 as b_fig10, fig11 as b_fig11, fig12, \
    learnability, learned_curves, overhead, sweeps, table3, train
from . import paper_a as paper_a
from . import paper_b as paper_b
from .registry import Experiment

__all__ = [
    "EXPERIMENTS",
    "Experiment",
    "get_experiment",
    "list_experiments",
    "paper_a",
    "paper_b",
    "REGISTRY",
    "reproduce",
    "resolve_config",
    "work_digest",
]

#: Every experiment, in the order of the papers (Paper A, then Paper B); the CLI's ``list`` order.
EXPERIMENTS: tuple[Experiment, ...] = (
    fig2.EXPERIMENT, fig3.EXPERIMENT, fig4.EXPERIMENT, fig5.EXPERIMENT, fig6.EXPERIMENT, fig7.EXPERIMENT,
    fig8.EXPERIMENT, fig9.EXPERIMENT, fig10.EXPERIMENT, fig11.EXPERIMENT, ml_vs_crb.EXPERIMENT,
    pareto_crb.EXPERIMENT,
    crlb.EXPERIMENT, b_fig6.EXPERIMENT, sweeps.FIG7, sweeps.FIG8, sweeps.FIG9, b_fig10.EXPERIMENT, sweeps.FIG13,
    sweeps.FIG14, design_aps.EXPERIMENT, overhead.EXPERIMENT, train.EXPERIMENT, b_fig11.EXPERIMENT,
    fig12.EXPERIMENT, table3.EXPERIMENT, learnability.EXPERIMENT, learned_curves.EXPERIMENT,
)
#: The experiments of :data:`EXPERIMENTS` by name.
REGISTRY: dict[str, Experiment] = {e.name: e for e in EXPERIMENTS}
assert len(REGISTRY) == len(EXPERIMENTS), "experiment names must be unique"


def list_experiments() -> dict:
    """``{name: one-line description}`` of every registered experiment (expected times:
    :attr:`~.registry.Experiment.expected_time`)."""
    return {name: e.description for name, e in REGISTRY.items()}


def get_experiment(name: str) -> Experiment:
    """The registered :class:`~.registry.Experiment` called ``name`` (e.g. ``"a-fig11"``)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def resolve_config(name: str, preset: str = "quick", **overrides):
    """The named preset's config of experiment ``name``, with field ``overrides`` applied."""
    exp = get_experiment(name)
    if preset not in exp.presets:
        raise ValueError(f"unknown preset {preset!r} for {name}; known: {', '.join(exp.presets)}")
    return dataclasses.replace(exp.presets[preset], **overrides)


def work_digest(config, seed: int) -> str:
    """12 hex digits of SHA-256 over the config (as written to ``config.json``), the seed and JAX's
    default PRNG implementation (``--prng``: the same seed gives other numbers under another)."""
    text = json.dumps({"config": to_jsonable(config), "seed": seed, "prng": str(jax.config.jax_default_prng_impl)},
                      sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def reproduce(name: str, *, preset: str = "quick", out="results", seed: int = 0, progress: bool = True,
              config=None, force: bool = False) -> dict:
    """Run experiment ``name`` and write its outputs; returns ``{"results": ..., "paths": ...}``.

    ``config`` (a ``Config`` of that experiment) overrides the preset when given. Before any work,
    ``out/<name>`` is created and proved writable (:func:`~.outputs.check_out_dir`), and a
    ``config.json`` there from another run (another config, seed, preset or PRNG) is refused with
    :class:`~.outputs.ExistingResultsError` unless ``force`` (:func:`~.outputs.check_reuse`); the
    same run resumes. Intermediate work (finished sweep chunks, checkpoints) lives in
    ``out/<name>/work/<digest>``, the digest of the config, the seed and the PRNG implementation, so
    an interrupted run resumes and a run with other settings never picks up another's work.
    """
    exp = get_experiment(name)
    cfg = config if config is not None else resolve_config(name, preset)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer with 0 <= seed < 2**32, got {seed!r}")
    seed = int(seed)
    out_dir = check_out_dir(out, name)
    meta = {"experiment": name, "paper": exp.paper, "preset": preset if config is None else "custom", "seed": seed,
            "prng": str(jax.config.jax_default_prng_impl)}
    check_reuse(out_dir, identity(meta, cfg), force=force)
    # The code's provenance when the run starts: a commit made while it runs must not be recorded as its code.
    meta.update(provenance())
    t0 = time.perf_counter()
    results = exp.run(cfg, seed=seed, work_dir=str(out_dir / "work" / work_digest(cfg, seed)), progress=progress)
    meta["wall_time_s"] = time.perf_counter() - t0
    # Under jax.distributed every process returns the merged sweep; one of them writes the outputs.
    paths = write_outputs(out_dir, results, cfg, meta, exp.plot) if jax.process_index() == 0 else {}
    return {"results": results, "paths": paths}
