"""Command-line interface ``isac-jax``: ``list`` and ``reproduce`` dispatch to :mod:`isac_jax.experiments`,
``report`` to :mod:`isac_jax.report`."""

from __future__ import annotations

import argparse
import sys

from .core.random import PRNG_IMPLS


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache for CLI runs: compiled programs are kept on disk, so
    a second run of an experiment (or another experiment building the same program) loads them
    instead of compiling again. Location: ``$ISAC_JAX_CACHE`` or ``~/.cache/isac_jax/jax``; safe to
    delete at any time; ``ISAC_JAX_CACHE=off`` disables it. Returns the directory used (or None)."""
    import os
    from pathlib import Path

    where = os.environ.get("ISAC_JAX_CACHE", str(Path.home() / ".cache" / "isac_jax" / "jax"))
    if where.lower() in ("off", "0", "none", ""):
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", where)
    # Programs that compile in under 0.5 s are not worth a file, unless the caller says otherwise
    # (the tests cache every program: tests/conftest.py).
    jax.config.update("jax_persistent_cache_min_compile_time_secs",
                      float(os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", 0.5)))
    return where


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="isac-jax", description="Reproduce Paper A / Paper B experiments.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list every experiment with a one-line description")
    rep = sub.add_parser("reproduce", help="run one experiment and write results.json, arrays.npz, figure.png")
    rep.add_argument("experiment")
    rep.add_argument("--preset", default="quick", help="quick (CPU, minutes) or paper (the papers' sizes)")
    rep.add_argument("--out", default="results", help="output directory (default: results)")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--no-progress", action="store_true")
    rep.add_argument("--prng", choices=PRNG_IMPLS, default=None,
                     help="JAX PRNG implementation for every key the experiment makes (default threefry2x32; "
                          "see isac_jax.core.random for what each guarantees)")
    rep.add_argument("--distributed", action="store_true",
                     help="join a jax.distributed run (one process per GPU or host; the sweep's chunks are dealt "
                          "to the processes through --out, which every process must see); without --coordinator "
                          "the cluster is detected (SLURM, Open MPI, ...)")
    rep.add_argument("--coordinator", help="host:port of process 0 (with --num-processes and --process-id)")
    rep.add_argument("--num-processes", type=int)
    rep.add_argument("--process-id", type=int)
    rpt = sub.add_parser("report", help="write report.md and report.html (figures, key numbers, the papers' claims)")
    rpt.add_argument("results_dir", nargs="?", default="results")
    args = parser.parse_args(argv)

    if args.command == "report":
        from .report import write_report
        try:
            out = write_report(args.results_dir)
        except (FileNotFoundError, ValueError) as err:
            print(f"isac-jax: error: {err}", file=sys.stderr)
            return 2
        counts = {}
        for r in out["records"]:
            counts[r["claim"]["status"]] = counts.get(r["claim"]["status"], 0) + 1
        print(f"{len(out['records'])} experiments: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        print(f"markdown {out['markdown']}\nhtml     {out['html']}")
        return 0

    from . import experiments

    if args.command == "reproduce":
        enable_compilation_cache()
        if args.prng is not None:
            import jax

            jax.config.update("jax_default_prng_impl", args.prng)
        if args.distributed:
            import jax

            jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                                       process_id=args.process_id)
    if args.command == "list":
        for name, desc in experiments.list_experiments().items():
            print(f"{name:16s} {desc}")
        return 0
    try:
        experiments.resolve_config(args.experiment, args.preset)
    except ValueError as err:
        print(f"isac-jax: error: {err}", file=sys.stderr)
        return 2
    out = experiments.reproduce(args.experiment, preset=args.preset, out=args.out, seed=args.seed,
                                progress=not args.no_progress)
    for kind, path in out["paths"].items():
        print(f"{kind:8s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
