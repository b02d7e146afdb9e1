"""Timing helpers shared by the benchmarks and the runtime experiments (b-table3): warm-up,
``block_until_ready``, min / median of repeats; and the JSON run record the benchmarks and studies
write (``--json PATH``) for the documentation's generated pages."""

from __future__ import annotations

import datetime
import io
import json
import math
import platform
import re
import statistics
import sys
import time

from collections.abc import Callable, Sequence

import jax

from .io import write_bytes_atomic
from .provenance import provenance


def time_call(fn, *args, repeats: int = 5, warmup: int = 1):
    """Return (min_s, median_s) of ``fn(*args)`` after ``warmup`` calls (compilation excluded)."""
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def machine() -> str:
    """``"host | processor | jax VERSION on PLATFORM:DEVICE_KIND"`` of the first JAX device (printed by the
    benchmarks above their tables)."""
    dev = jax.devices()[0]
    return f"{platform.node()} | {platform.processor() or platform.machine()} | jax {jax.__version__} on {dev.platform}:{dev.device_kind}"


def machine_summary() -> str:
    """One line naming the machine and code a measurement ran on, built from
    :func:`~isac_jax.core.provenance.provenance` (the one source of these facts), e.g.
    ``"Linux x86_64, 2 CPU cores, jax 0.10.2 cpu, isac_jax 0.1.0 commit 1a2b3c4d5e6f (uncommitted changes)"``:
    operating system and architecture, logical CPU count, JAX version, default backend, package version
    and the first 12 digits of the git commit ("unknown" outside a git checkout)."""
    p = provenance()
    dirty = " (uncommitted changes)" if p["git_dirty"] else ""
    return (f"{p['platform']}, {p['cpu_count'] or 'unknown'} CPU cores, jax {p['jax_version']} {p['backend']}, "
            f"isac_jax {p['version']} commit {p['git_commit'][:12]}{dirty}")


def _plain(value):
    """``value`` with NumPy/JAX scalars and arrays as Python numbers and lists, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, bool)) or value is None:
        return value
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    raise TypeError(f"cannot write {type(value).__name__} to a run record")


def run_record(name: str, kind: str, title: str, argv: Sequence[str], tables: list[dict], *,
               question: str | None = None, method: str | None = None, answer: str | None = None) -> dict:
    """The JSON record a benchmark or study writes (``--json PATH``), read by the documentation generator.

    Args:
        name: the script's stem, e.g. ``"bench_echo"``.
        kind: ``"benchmark"`` or ``"study"``.
        title: one line saying what is measured.
        argv: the script's arguments (without the script path); the record's ``command`` is the
            ``python <script> ARGS`` that reproduces it.
        tables: ``[{"caption": str, "columns": [str, ...], "rows": [[label or number, ...], ...]}]``;
            every row has one entry per column.
        question: studies only: the question, one paragraph.
        method: studies only: how it is answered, one paragraph.
        answer: studies only: a sentence built from the measured numbers.

    Returns:
        A dict of plain JSON values (``name``, ``kind``, ``title``, ``command``, ``machine``, ``date``
        (UTC, of the run), ``tables``, and for a study ``question``, ``method``, ``answer``); NaN and
        infinities become ``None``.
    """
    if kind not in ("benchmark", "study"):
        raise ValueError(f"kind must be 'benchmark' or 'study', got {kind!r}")
    for t in tables:
        if set(t) != {"caption", "columns", "rows"}:
            raise ValueError(f"each table needs exactly caption, columns and rows, got {sorted(t)}")
        bad = [r for r in t["rows"] if len(r) != len(t["columns"])]
        if bad:
            raise ValueError(f"table {t['caption']!r}: rows need {len(t['columns'])} entries, got {bad[0]}")
    folder = "benchmarks" if kind == "benchmark" else "studies"
    record = {"name": name, "kind": kind, "title": title,
              "command": " ".join(["python", f"{folder}/{name}.py", *map(str, argv)]),
              "machine": machine_summary(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")}
    if kind == "study":
        if not (question and method and answer):
            raise ValueError("a study's record needs question, method and answer")
        record.update(question=question, method=method, answer=answer)
    record["tables"] = tables
    return _plain(record)


def write_run_record(path, record: dict) -> None:
    """Write :func:`run_record`'s ``record`` as UTF-8 JSON to ``path`` (atomically; no NaN)."""
    write_bytes_atomic(path, (json.dumps(record, indent=1, allow_nan=False, ensure_ascii=False) + "\n").encode())


def _cell(text: str):
    """A Markdown table cell as a number where it is one (``"1,234"``, ``"3.5x"``, ``"12 %"``), else the text."""
    t = text.strip().replace(",", "")
    for suffix in ("x", " %"):
        if t.endswith(suffix):
            t = t[: -len(suffix)]
    try:
        value = float(t)
    except ValueError:
        return text.strip()
    return int(value) if re.fullmatch(r"[+-]?\d+", t) else value


def tables_from_markdown(text: str) -> list:
    """The Markdown tables in ``text`` as :func:`run_record` tables. A table's caption is the last ``#``
    heading above it (else the last text line); text lines right after a table (notes such as an
    agreement check) are appended to its caption. Cells are numbers where they parse as one (a
    thousands separator, a trailing ``x`` or `` %`` is dropped) and text otherwise."""
    tables, caption, current, last = [], "", None, None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("|") and s.endswith("|"):
            cells = [c.strip() for c in s[1:-1].split("|")]
            if current is None:
                current = {"caption": caption, "columns": cells, "rows": []}
                tables.append(current)
                caption = ""
            elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
                current["rows"].append([_cell(c) for c in cells])
            continue
        if current is not None:
            last, current = current, None
        if not s:
            continue
        if s.startswith("#"):
            caption, last = s.lstrip("#").strip(), None
        elif last is not None:
            last["caption"] = f"{last['caption']}; {s}" if last["caption"] else s
        elif not caption:
            caption = s
    return tables


class _Tee(io.TextIOBase):
    """Writes to ``stream`` and keeps a copy."""

    def __init__(self, stream):
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text):
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


def run_benchmark(main: Callable[[], object], name: str, title: str,
                  argv: Sequence[str] | None = None) -> dict | None:
    """Run a benchmark script's ``main()`` (which parses ``sys.argv`` itself and prints Markdown tables)
    and, given ``--json PATH`` among the arguments, write the printed tables as a :func:`run_record`
    (``kind="benchmark"``) to ``PATH``. ``--json PATH`` is removed from the arguments ``main`` sees.

    Args:
        main: the script's argument-less entry point.
        name: the script's stem, e.g. ``"bench_echo"``.
        title: one line saying what it measures.
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        The record written, or None without ``--json``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    path = None
    if "--json" in argv:
        i = argv.index("--json")
        if i + 1 >= len(argv):
            raise SystemExit("--json needs a PATH")
        path = argv[i + 1]
        del argv[i:i + 2]
    saved_argv, saved_out = sys.argv, sys.stdout
    tee = _Tee(saved_out)
    sys.argv, sys.stdout = [f"{name}.py", *argv], tee
    try:
        main()
    finally:
        sys.argv, sys.stdout = saved_argv, saved_out
    if path is None:
        return None
    record = run_record(name, "benchmark", title, argv, tables_from_markdown(tee.copy.getvalue()))
    write_run_record(path, record)
    return record
