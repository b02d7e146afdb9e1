"""The CLI speaks in one line: every expected failure is ``isac-jax: error: ...`` on one stderr line
and exit 2, Ctrl-C exits 130 and the rerun resumes; ``--out`` is vetted before any work; results of
another run are not overwritten without ``--force``; ``report`` writes only its own files; every run
records where its code came from; importing the package leaves ``XLA_FLAGS`` alone.

Most cases run ``cli.main`` in-process on a stand-in experiment (``t-probe``: no compilation), so
each takes milliseconds; a subprocess is used only for a signal or a fresh interpreter.
"""

import dataclasses
import importlib
import json
import logging
import os
import runpy
import signal
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from isac_jax import experiments
from isac_jax.cli import INTERRUPTED, main
from isac_jax.experiments.registry import CPU_TIME, Experiment

ROOT = Path(__file__).resolve().parents[1]
# the module (``isac_jax.core.provenance`` names the function the package exports)
prov = importlib.import_module("isac_jax.core.provenance")


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    n: int = 3
    tol: float = float("nan")                      # NaN != NaN: the same run must still be recognised
    sizes: tuple = (1, 2)                          # a tuple comes back from config.json as a list


@pytest.fixture
def probe(monkeypatch):
    """Register ``t-probe``, an experiment that records its calls and writes a 3-vector; returns the
    list of ``(config, seed)`` it was run with."""
    calls = []

    def run(config, *, seed, work_dir, progress):
        calls.append((config, seed))
        return {"x": np.arange(config.n) + seed}

    def plot(results, path):
        Path(path).write_bytes(b"\x89PNG\r\n\x1a\n")

    exp = Experiment("t-probe", "A", "a stand-in", {"quick": ProbeConfig(), "paper": ProbeConfig(5)}, run, plot)
    monkeypatch.setitem(experiments.REGISTRY, "t-probe", exp)
    return calls


def one_error_line(capsys) -> str:
    """The one stderr line of a failed command (and nothing else on stderr)."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("isac-jax: error: "), err
    return lines[0]


@pytest.mark.parametrize("seed", ["-3", str(2**70), "2**70", "1.5", str(2**32)])
def test_seed_must_be_an_integer_in_0_to_2_pow_32(seed, probe, tmp_path, capsys):
    assert main(["reproduce", "t-probe", "--out", str(tmp_path), "--seed", seed]) == 2
    assert "argument --seed: must be an integer with 0 <= seed < 2**32" in one_error_line(capsys)
    assert probe == []
    assert main(["reproduce", "t-probe", "--out", str(tmp_path), "--seed", str(2**32 - 1)]) == 0
    assert probe == [(ProbeConfig(), 2**32 - 1)]


def test_out_is_checked_before_any_work(probe, tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    cases = {"": "--out must name a directory, got ''",
             str(a_file): f"{str(a_file)!r} is a file, not a directory",
             str(a_file / "sub"): f"{str(a_file)!r} is a file, not a directory"}
    for out, message in cases.items():
        assert main(["reproduce", "t-probe", "--out", out]) == 2
        assert message in one_error_line(capsys)
    unwritable = tmp_path / "ro"
    unwritable.mkdir()
    unwritable.chmod(0o500)
    try:
        if os.access(unwritable, os.W_OK):                  # root ignores permissions: a kernel file system
            unwritable = Path("/proc/isac_jax_probe")
        assert main(["reproduce", "t-probe", "--out", str(unwritable)]) == 2
        assert f"--out {str(unwritable)!r} is not writable" in one_error_line(capsys)
    finally:
        (tmp_path / "ro").chmod(0o700)
    assert probe == [] and a_file.read_text() == "mine"


def test_results_of_another_run_are_refused_unless_force_and_the_same_run_resumes(probe, tmp_path, capsys,
                                                                                    monkeypatch):
    out = ["--out", str(tmp_path)]
    d = tmp_path / "t-probe"
    assert main(["reproduce", "t-probe", *out, "--seed", "1"]) == 0
    first = (d / "results.json").read_bytes()
    for other in (["--seed", "2"], ["--seed", "1", "--preset", "paper"]):
        assert main(["reproduce", "t-probe", *out, *other]) == 2
        line = one_error_line(capsys)
        assert f"{str(d)!r} holds the results of another run" in line and "--force" in line
    assert len(probe) == 1 and (d / "results.json").read_bytes() == first       # nothing ran, nothing written
    assert main(["reproduce", "t-probe", *out, "--seed", "1"]) == 0               # the same run: allowed
    assert main(["reproduce", "t-probe", *out, "--seed", "2", "--force"]) == 0
    assert json.loads((d / "config.json").read_text())["seed"] == 2
    assert json.loads((d / "results.json").read_text())["x"] == [2, 3, 4]
    with pytest.raises(experiments.outputs.ExistingResultsError):                # the Python API refuses too
        experiments.reproduce("t-probe", out=tmp_path, config=ProbeConfig(4), progress=False)
    kept = {f: (d / f).read_bytes() for f in ("results.json", "config.json")}

    def fail(config, **kwargs):
        raise ValueError("this run fails")

    working = experiments.REGISTRY["t-probe"]
    monkeypatch.setitem(experiments.REGISTRY, "t-probe", dataclasses.replace(working, run=fail))
    assert main(["reproduce", "t-probe", *out, "--seed", "7", "--force"]) == 2         # a forced run that fails ...
    assert one_error_line(capsys) == "isac-jax: error: this run fails"
    assert {f: (d / f).read_bytes() for f in kept} == kept                              # ... leaves the outputs
    monkeypatch.setitem(experiments.REGISTRY, "t-probe", working)
    (d / "config.json").write_text("{")                                         # a corrupt config.json: named
    assert main(["reproduce", "t-probe", *out, "--seed", "2"]) == 2
    assert f"{str(d / 'config.json')!r} is corrupted" in one_error_line(capsys)
    assert main(["reproduce", "t-probe", *out, "--seed", "2", "--force"]) == 0


def test_config_json_records_the_code_it_came_from(probe, tmp_path, capsys):
    assert main(["reproduce", "t-probe", "--out", str(tmp_path)]) == 0
    cfg = json.loads((tmp_path / "t-probe" / "config.json").read_text())
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)
    if head.returncode == 0:
        assert cfg["git_commit"] == head.stdout.strip() and cfg["git_dirty"] == bool(dirty.stdout.strip())
    else:
        assert cfg["git_commit"] == "unknown" and cfg["git_dirty"] is None
    assert cfg["version"] == prov.package_version() != ""
    assert cfg["jax_version"] == jax.__version__ and cfg["backend"] == jax.default_backend()
    files = cfg["files"]
    import hashlib
    for name in ("results.json", "arrays.npz", "figure.png"):
        assert files[name] == hashlib.sha256((tmp_path / "t-probe" / name).read_bytes()).hexdigest()


def test_provenance_outside_a_git_checkout_is_unknown_not_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(prov, "_PACKAGE_DIR", tmp_path)
    assert prov.git_state() == ("unknown", None)
    assert prov.provenance()["git_commit"] == "unknown"


def test_machine_summary_is_built_from_provenance(monkeypatch):
    import platform

    from isac_jax.core import machine_summary

    real = prov.provenance()
    assert (real["platform"], real["cpu_count"]) == (f"{platform.system()} {platform.machine()}", os.cpu_count())
    assert machine_summary() == (f"{real['platform']}, {real['cpu_count']} CPU cores, jax {jax.__version__} "
                                 f"{jax.default_backend()}, isac_jax {real['version']} commit "
                                 f"{real['git_commit'][:12]}{' (uncommitted changes)' if real['git_dirty'] else ''}")
    timing = importlib.import_module("isac_jax.core.timing")
    monkeypatch.setattr(timing, "provenance", lambda: {**real, "git_commit": "f" * 40, "git_dirty": False,
                                                       "platform": "Plan9 mips", "cpu_count": None})
    assert machine_summary().startswith("Plan9 mips, unknown CPU cores, ")
    assert machine_summary().endswith(f"commit {'f' * 12}")


def test_report_writes_only_its_own_files(probe, tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no results" in one_error_line(capsys)
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "is not a directory" in one_error_line(capsys)
    assert main(["reproduce", "t-probe", "--out", str(tmp_path)]) == 0
    mine = tmp_path / "report.md"
    mine.write_text("# my own notes\n")
    assert main(["report", str(tmp_path)]) == 2
    assert f"{str(mine)!r} exists and was not written by `isac-jax report`" in one_error_line(capsys)
    assert mine.read_text() == "# my own notes\n" and not (tmp_path / "report.html").exists()
    mine.unlink()
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 0 and main(["report", str(tmp_path)]) == 0   # its own: rewritten
    md = mine.read_text()
    assert "## t-probe" in md and f"commit {prov.git_state()[0][:12]}" in md and f"JAX {jax.__version__}" in md
    from isac_jax.report import collect

    (record,) = collect(tmp_path)
    assert record["provenance"] == {k: v for k, v in prov.provenance().items()}
    (tmp_path / "t-probe" / "results.json").write_text('{"x": [9, 9, 9]}')     # altered after the run
    assert main(["report", str(tmp_path)]) == 2
    assert "results.json' is corrupted" in one_error_line(capsys)


def test_distributed_failures_are_one_line_and_do_not_hang(probe, tmp_path, capsys):
    out = ["reproduce", "t-probe", "--out", str(tmp_path), "--distributed"]
    with socket.socket() as s:                      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cases = {("--num-processes", "2", "--process-id", "5", "--coordinator", f"127.0.0.1:{port}"):
             "--process-id must be in 0..1 (--num-processes 2), got 5",
             ("--num-processes", "2", "--process-id", "-1", "--coordinator", f"127.0.0.1:{port}"):
             "argument --process-id: must be a non-negative integer",
             ("--num-processes", "2"): "--coordinator, --num-processes and --process-id go together",
             ("--num-processes", "2", "--process-id", "0", "--coordinator", "nohost"):
             "--coordinator must be HOST:PORT",
             ("--num-processes", "2", "--process-id", "1", "--coordinator", f"127.0.0.1:{port}",
              "--distributed-timeout", "1"): f"--distributed: no coordinator answers at 127.0.0.1:{port} after 1 s",
             # process 0 whose peer never comes: one line, not JAX's process abort
             ("--num-processes", "2", "--process-id", "0", "--coordinator", f"127.0.0.1:{port}",
              "--distributed-timeout", "1"): f"--distributed: 0 of the 1 other processes joined 127.0.0.1:{port} within 1 s"}
    for extra, message in cases.items():
        assert main([*out, *extra]) == 2
        assert message in one_error_line(capsys)
    assert main(["reproduce", "t-probe", "--out", str(tmp_path), "--process-id", "0"]) == 2
    assert "--process-id need --distributed" in one_error_line(capsys)
    assert main(out) == 2                                       # no cluster manager here, no --coordinator
    assert "--distributed: jax.distributed.initialize failed" in one_error_line(capsys)
    assert probe == []


def test_a_missing_optional_dependency_is_one_line(monkeypatch, tmp_path, capsys):
    def run(config, *, seed, work_dir, progress):
        import importlib

        importlib.import_module("isac_jax_no_such_module")

    exp = Experiment("t-extra", "B", "needs an extra", {"quick": ProbeConfig(), "paper": ProbeConfig()}, run,
                     lambda results, path: None)
    monkeypatch.setitem(experiments.REGISTRY, "t-extra", exp)
    assert main(["reproduce", "t-extra", "--out", str(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert "No module named 'isac_jax_no_such_module'" in line and "pip install" in line


def test_debug_adds_the_traceback(probe, capsys):
    assert main(["reproduce", "t-probe", "--out", "", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1] == "isac-jax: error: --out must name a directory, got ''"


def test_list_and_help_show_each_presets_expected_time(capsys):
    assert set(CPU_TIME) == set(experiments.REGISTRY)             # a new experiment needs an entry
    assert main(["list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    for name, exp in experiments.REGISTRY.items():
        quick, paper = CPU_TIME[name]
        assert rows[name].split()[1:1 + len((quick + " " + paper).split())] == (quick + " " + paper).split()
    assert main(["reproduce", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "CPU, minutes" not in text and "`isac-jax list`" in text
    for name in experiments.REGISTRY:                              # --help says the same
        assert f" {name} {' '.join(CPU_TIME[name])} " in text


def test_importing_the_package_leaves_xla_flags_alone():
    """Unset before the import, unset after it (the import used to add the scheduler flag)."""
    code = ("import os; before = os.environ.get('XLA_FLAGS'); import isac_jax, isac_jax.cli; "
            "print(repr(before), repr(os.environ.get('XLA_FLAGS')))")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    done = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["None", "None"]


def test_the_scheduler_workaround_is_one_call(monkeypatch):
    from isac_jax.core.xla import SCHEDULER_FLAG, avoid_cpu_scheduler_deadlock

    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    assert avoid_cpu_scheduler_deadlock() is True and avoid_cpu_scheduler_deadlock() is True
    assert os.environ["XLA_FLAGS"] == f"--xla_cpu_multi_thread_eigen=false {SCHEDULER_FLAG}"   # added once
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_concurrency_optimized_scheduler=true")
    assert avoid_cpu_scheduler_deadlock() is False                                  # the user's choice stays
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_enable_concurrency_optimized_scheduler=true"


_SLOW_SWEEP = r'''
import dataclasses, logging, os, sys, time
import jax
from isac_jax.core import run_sweep


@dataclasses.dataclass(frozen=True)
class Cfg:
    n: int = 6


def trial(key, scale):
    return {"x": scale * jax.random.normal(key, ())}


def run(cfg, *, seed, work_dir, progress):
    return run_sweep(trial, {"scale": [1.0, 2.0]}, n_trials=cfg.n, key=jax.random.PRNGKey(seed), out_dir=work_dir,
                     chunk_size=1, dynamic=("scale",), progress=progress)


def plot(results, path):
    open(path, "wb").write(b"png")


class Announce(logging.Handler):
    """The test-only hook: announce each finished chunk; with SLOW=1 dawdle after it, so that the
    parent's SIGINT arrives mid-sweep."""

    def emit(self, record):
        if record.getMessage().startswith("computed point"):
            print("CHUNK", flush=True)
            if os.environ.get("SLOW") == "1":
                time.sleep(0.3)


if __name__ == "__main__":             # the sweep of `reproduce t-sweep --seed 4` into WORK_DIR, as the CLI runs it
    from isac_jax.cli import run_guarded

    logging.getLogger("isac_jax.core.sweep").addHandler(Announce())
    logging.getLogger("isac_jax.core.sweep").setLevel(logging.INFO)
    sys.exit(run_guarded(lambda: run(Cfg(), seed=4, work_dir=sys.argv[1], progress=False) and 0))
'''


@pytest.mark.heavy
def test_ctrl_c_during_a_sweep_exits_130_with_one_line_and_the_rerun_resumes(tmp_path, monkeypatch, capsys):
    """The interrupted sweep is a real process (a real SIGINT) that imports only the core and the CLI's
    error handling (:func:`run_guarded`, the one ``main`` uses); the rerun is ``isac-jax reproduce`` in
    this process, which resumes from the chunks the interrupted one left in its work directory."""
    script = tmp_path / "slow_sweep.py"
    script.write_text(_SLOW_SWEEP)
    ns = runpy.run_path(str(script))                         # the definitions, not the __main__ block
    monkeypatch.setitem(experiments.REGISTRY, "t-sweep", Experiment(
        "t-sweep", "A", "a slow sweep", {"quick": ns["Cfg"](), "paper": ns["Cfg"]()}, ns["run"], ns["plot"]))
    out = tmp_path / "out"
    work = out / "t-sweep" / "work" / experiments.work_digest(ns["Cfg"](), 4)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu", "SLOW": "1"}
    p = subprocess.Popen([sys.executable, str(script), str(work)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(3):                                   # three of the 12 chunks are on disk
            assert p.stdout.readline().strip() == "CHUNK"
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130, err[-3000:]
    assert err.strip().splitlines()[-1] == INTERRUPTED and "Traceback" not in err, err[-3000:]
    done_before = len(list((work / "chunks").glob("*.npz.sha256")))
    assert 3 <= done_before < 12

    logger, announce = logging.getLogger("isac_jax.core.sweep"), ns["Announce"]()
    level = logger.level
    logger.addHandler(announce)
    logger.setLevel(logging.INFO)
    capsys.readouterr()
    try:
        assert main(["reproduce", "t-sweep", "--out", str(out), "--seed", "4", "--no-progress"]) == 0, \
            capsys.readouterr().err[-3000:]
    finally:
        logger.removeHandler(announce)
        logger.setLevel(level)
    assert capsys.readouterr().out.count("CHUNK") == 12 - done_before      # the finished chunks were not recomputed
    from isac_jax.core import run_sweep

    fresh = run_sweep(lambda key, scale: {"x": scale * jax.random.normal(key, ())}, {"scale": [1.0, 2.0]},
                      n_trials=6, key=jax.random.PRNGKey(4), chunk_size=1, dynamic=("scale",), progress=False)
    saved = json.loads((out / "t-sweep" / "results.json").read_text())
    np.testing.assert_array_equal(np.asarray(saved["x"]), fresh["x"])
