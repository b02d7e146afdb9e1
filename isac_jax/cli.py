"""Command-line interface ``isac-jax``: ``list`` and ``reproduce`` dispatch to :mod:`isac_jax.experiments`,
``report`` to :mod:`isac_jax.report`.

Every expected failure (a bad argument, an unwritable ``--out``, a missing optional dependency, a
corrupt file, a refused overwrite, a cluster that cannot be joined) prints one line,
``isac-jax: error: ...``, to stderr and exits 2; Ctrl-C exits 130 with "isac-jax: interrupted; rerun
the same command to resume" (finished sweep chunks and checkpoints are on disk); ``--debug`` prints
the traceback as well.
"""

from __future__ import annotations

import argparse
import sys
import time

from .core.random import PRNG_IMPLS

SEED_LIMIT = 2**32
INTERRUPTED = "isac-jax: interrupted; rerun the same command to resume"


class CliError(ValueError):
    """A bad command line (one line, exit 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors raised (one line in :func:`main`) instead of usage text and an exit."""

    def error(self, message):
        raise CliError(f"{message} (see `{self.prog} --help`)")


def seed_arg(text: str) -> int:
    """``--seed``: a decimal integer with ``0 <= seed < 2**32`` (a negative seed would alias
    ``seed + 2**32``, a larger one overflow the PRNG key)."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer with 0 <= seed < 2**32, got {text!r}") from None
    if not 0 <= seed < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be an integer with 0 <= seed < 2**32, got {text}")
    return seed


def _int_at_least(minimum: int, rule: str):
    """An argparse ``type``: a decimal integer ``>= minimum`` (``rule`` names it in the error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a {rule} integer, got {text!r}")
        return value
    return parse


_positive_int, _non_negative_int = _int_at_least(1, "positive"), _int_at_least(0, "non-negative")


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


def _rendezvous(address: str, n_processes: int, process_id: int, timeout_s: float) -> None:
    """Meet every process on ``address`` before JAX does, so that a missing process is one line.

    JAX's coordination client ends the whole process (a C++ check failure) when a peer never comes;
    this plain-TCP handshake on the coordinator's port runs first. Process 0 listens until the
    ``n_processes - 1`` others have connected and named distinct process ids (any other connection is
    dropped), answers each ``go`` and waits for them to close (so that the port is free again for
    JAX's service); the others retry connecting until then. Either side raises :class:`CliError`
    after ``timeout_s`` seconds, naming what is missing. A process that dies after the handshake and
    before JAX's own rendezvous still ends the others through JAX's abort."""
    import socket

    host, _, port = address.rpartition(":")
    host, port = host.strip("[]"), int(port)
    deadline = time.monotonic() + timeout_s

    def left() -> float:
        return max(deadline - time.monotonic(), 0.0)

    if process_id == 0:
        dual = socket.has_dualstack_ipv6()
        with socket.create_server(("", port), family=socket.AF_INET6 if dual else socket.AF_INET,
                                  dualstack_ipv6=dual) as server:
            peers = []
            try:
                while len(peers) < n_processes - 1:
                    server.settimeout(left() or 1e-3)
                    try:
                        conn, _ = server.accept()
                    except TimeoutError:
                        raise CliError(f"--distributed: {len(peers)} of the {n_processes - 1} other processes "
                                       f"joined {address} within {timeout_s:g} s; start each with the same "
                                       f"--coordinator and --num-processes (or raise --distributed-timeout)") from None
                    # only a process of this run counts: it names a process id not seen yet
                    conn.settimeout(min(left(), 5.0) or 1e-3)
                    try:
                        hello = conn.recv(64).decode("ascii", "replace").split()
                    except OSError:
                        hello = []
                    seen = {pid for _, pid in peers}
                    if (len(hello) == 2 and hello[0] == "isac-jax" and hello[1].isdigit()
                            and 0 < int(hello[1]) < n_processes and int(hello[1]) not in seen):
                        peers.append((conn, int(hello[1])))
                    else:
                        conn.close()
                for conn, _ in peers:
                    conn.sendall(b"go\n")
                for conn, _ in peers:                    # the peers close first: no TIME_WAIT on our port
                    conn.settimeout(left() or 1e-3)
                    try:
                        conn.recv(1)
                    except OSError:
                        pass
            finally:
                for conn, _ in peers:
                    conn.close()
        return
    met = False                                          # whether process 0 ever answered
    while True:
        try:
            with socket.create_connection((host, port), timeout=max(left(), 1e-3)) as conn:
                met = True
                conn.sendall(f"isac-jax {process_id}\n".encode())
                if conn.recv(3) == b"go\n":
                    return
        except OSError as err:
            if not left() and not met:
                raise CliError(f"--distributed: no coordinator answers at {address} after {timeout_s:g} s "
                               f"({getattr(err, 'strerror', None) or err}); start process 0 first or check "
                               f"--coordinator") from None
        if not left():
            raise CliError(f"--distributed: the coordinator at {address} did not see every process within "
                           f"{timeout_s:g} s; start each with the same --num-processes")
        time.sleep(0.25)


def join_cluster(args) -> None:
    """``jax.distributed.initialize`` from the ``--distributed`` options, with the arguments checked
    first and every failure JAX reports turned into one line. With ``--coordinator`` the other
    processes meet process 0 in :func:`_rendezvous` first, each waiting at most ``--distributed-timeout``
    s, so that a missing process is a one-line error instead of JAX's process abort."""
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if any(v is not None for v in explicit):
        if any(v is None for v in explicit):
            raise CliError("--coordinator, --num-processes and --process-id go together (or give none of them and "
                           "let a cluster manager such as SLURM or Open MPI say them)")
        host, sep, port = args.coordinator.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise CliError(f"--coordinator must be HOST:PORT with a port in 1..65535, got {args.coordinator!r}")
        if args.process_id >= args.num_processes:
            raise CliError(f"--process-id must be in 0..{args.num_processes - 1} (--num-processes "
                           f"{args.num_processes}), got {args.process_id}")
        if args.process_id == 0:
            # a status line, not an error: stdout, so that a failure stays one line on stderr
            print(f"isac-jax: waiting up to {args.distributed_timeout} s for {args.num_processes} processes at "
                  f"{args.coordinator}", flush=True)
        _rendezvous(args.coordinator, args.num_processes, args.process_id, args.distributed_timeout)
    import jax

    try:
        jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id, initialization_timeout=args.distributed_timeout)
    except (ValueError, TypeError, RuntimeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(".")
        hint = "" if args.coordinator else ("; outside a cluster manager (SLURM, Open MPI, ...) give --coordinator "
                                            "HOST:PORT, --num-processes N and --process-id I")
        raise CliError(f"--distributed: jax.distributed.initialize failed: {first}{hint}") from err


def _one_line(err: BaseException) -> str:
    """The message of ``err`` on one line; exceptions of unexpected types are named."""
    from .core.io import CorruptFileError

    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()] or [type(err).__name__]
    text = lines[0] + (" ..." if len(lines) > 1 else "")
    if isinstance(err, ImportError):
        return (f"a dependency is missing ({text}); install the package with its extras, e.g. "
                "pip install 'isac_jax[data]'")
    if isinstance(err, (ValueError, TypeError, OSError, CorruptFileError)):
        return text
    return f"{type(err).__name__}: {text} (rerun with --debug for the traceback)"


def time_table() -> str:
    """Each experiment's expected quick / paper time on a 2-core CPU, as ``isac-jax list`` and
    ``isac-jax reproduce --help`` show it (from :data:`isac_jax.experiments.registry.CPU_TIME`)."""
    from .experiments import REGISTRY

    rows = [f"  {name:18s} {exp.expected_time['quick']:>10s} {exp.expected_time['paper']:>11s}"
            for name, exp in REGISTRY.items()]
    return "\n".join(["expected wall time on a 2-core CPU:", f"  {'':18s} {'quick':>10s} {'paper':>11s}", *rows,
                      "  (+: measured while other jobs shared the CPU, an upper bound)"])


def build_parser() -> argparse.ArgumentParser:
    """The ``isac-jax`` argument parser (errors raise :class:`CliError`)."""
    from .experiments import REGISTRY

    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on failure, print the traceback as well as the one-line error")
    parser = _Parser(prog="isac-jax", description="Reproduce Paper A / Paper B experiments.", parents=[common])
    parser.set_defaults(debug=False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", parents=[common],
                   help="list every experiment with its expected quick / paper time on a 2-core CPU")
    rep = sub.add_parser("reproduce", parents=[common], epilog=time_table(),
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         help="run one experiment and write results.json, arrays.npz, figure.png, config.json")
    rep.add_argument("experiment", help=f"one of: {', '.join(REGISTRY)}")
    rep.add_argument("--preset", default="quick",
                     help="quick (reduced sizes) or paper (the papers' sizes); each preset's expected time on a "
                          "2-core CPU is shown by `isac-jax list`")
    rep.add_argument("--out", default="results",
                     help="output directory (default: results); checked for writability before any work")
    rep.add_argument("--seed", type=seed_arg, default=0, help="integer, 0 <= seed < 2**32 (default 0)")
    rep.add_argument("--force", action="store_true",
                     help="replace results in --out/<experiment> written by another config, seed, preset or PRNG "
                          "(without it such a directory is refused; the same run always resumes)")
    rep.add_argument("--no-progress", action="store_true")
    rep.add_argument("--prng", choices=PRNG_IMPLS, default=None,
                     help="JAX PRNG implementation for every key the experiment makes (default threefry2x32; "
                          "see isac_jax.core.random for what each guarantees)")
    rep.add_argument("--distributed", action="store_true",
                     help="join a jax.distributed run (one process per GPU or host; the sweep's chunks are dealt "
                          "to the processes through --out, which every process must see); without --coordinator "
                          "the cluster is detected (SLURM, Open MPI, ...)")
    rep.add_argument("--coordinator", help="host:port of process 0 (with --num-processes and --process-id)")
    rep.add_argument("--num-processes", type=_positive_int)
    rep.add_argument("--process-id", type=_non_negative_int)
    rep.add_argument("--distributed-timeout", type=_positive_int, default=60, metavar="SECONDS",
                     help="how long the processes wait for each other to connect (default 60); a process "
                          "other than 0 that finds no coordinator stops with a one-line error, process 0 "
                          "missing a peer is stopped by JAX with its own message")
    rpt = sub.add_parser("report", parents=[common],
                         help="write report.md and report.html (figures, key numbers, the papers' claims)")
    rpt.add_argument("results_dir", nargs="?", default="results")
    return parser


def _run(args) -> int:
    if args.command == "list":
        from .experiments import REGISTRY

        print(f"{'experiment':18s} {'quick':>10s} {'paper':>11s}  (expected time on a 2-core CPU; +: measured "
              "beside other jobs)")
        for name, exp in REGISTRY.items():
            t = exp.expected_time
            print(f"{name:18s} {t['quick']:>10s} {t['paper']:>11s}  {exp.description}")
        return 0

    if args.command == "report":
        from .report import write_report

        out = write_report(args.results_dir)
        counts = {}
        for r in out["records"]:
            counts[r["claim"]["status"]] = counts.get(r["claim"]["status"], 0) + 1
        print(f"{len(out['records'])} experiments: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        print(f"markdown {out['markdown']}\nhtml     {out['html']}")
        return 0

    from . import experiments
    from .experiments.outputs import check_out_dir

    experiments.resolve_config(args.experiment, args.preset)     # unknown experiment or preset: one line
    distributed_opts = [o for o, v in (("--coordinator", args.coordinator), ("--num-processes", args.num_processes),
                                       ("--process-id", args.process_id)) if v is not None]
    if distributed_opts and not args.distributed:
        raise CliError(f"{', '.join(distributed_opts)} need --distributed")
    check_out_dir(args.out, args.experiment)                     # before any work
    enable_compilation_cache()
    if args.prng is not None:
        import jax

        jax.config.update("jax_default_prng_impl", args.prng)
    if args.distributed:
        join_cluster(args)
    out = experiments.reproduce(args.experiment, preset=args.preset, out=args.out, seed=args.seed,
                                progress=not args.no_progress, force=args.force)
    for kind, path in out["paths"].items():
        print(f"{kind:8s} {path}")
    return 0


def run_guarded(work, debug=lambda: False) -> int:
    """``work()``'s exit status, with the CLI's handling of what it raises: an expected error is one
    ``isac-jax: error: ...`` line on stderr and 2, Ctrl-C is :data:`INTERRUPTED` and 130, a reader
    that left a pipe is 0; ``debug()`` true adds the traceback.

    Args:
        work: the command, ``() -> int`` (its exit status).
        debug: ``() -> bool``, read when ``work`` raises (``--debug``).

    Returns:
        The exit status.
    """
    try:
        return work()
    except BrokenPipeError:                                      # `isac-jax list | head`: the reader left
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        if debug():
            import traceback

            traceback.print_exc()
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except Exception as err:
        if debug():
            import traceback

            traceback.print_exc()
        print(f"isac-jax: error: {_one_line(err)}", file=sys.stderr)
        return 2


def main(argv=None) -> int:
    """Run ``isac-jax`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status (0, 2 on an
    error, 130 on Ctrl-C; :func:`run_guarded`)."""
    from .core.xla import avoid_cpu_scheduler_deadlock

    avoid_cpu_scheduler_deadlock()                               # before JAX starts its CPU backend
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = ["--debug" in argv]

    def work() -> int:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as done:                               # --help
            return int(done.code or 0)
        debug[0] = args.debug
        return _run(args)

    return run_guarded(work, lambda: debug[0])


if __name__ == "__main__":
    sys.exit(main())
