"""What the studies share: the ``b-train`` learning setup (quick or ``--tiny``), ``KEY=VALUE`` overrides,
the ``--tiny`` / ``--json`` flags, Markdown tables and the JSON record
(:func:`isac_jax.core.timing.run_record`)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import numbers
from pathlib import Path

from isac_jax.core import run_record, write_run_record
from isac_jax.experiments.paper_b import train as b_train
from isac_jax.experiments.paper_b.learning import LearningSetup

#: A learning setup small enough for a smoke test (seconds): the learning system's sensing stream and
#: range comb on a tiny grid (2 users leave a null space), a tiny network, a few samples.
TINY_SETUP = LearningSetup(
    system_overrides=(("n_rx_antennas", 4), ("n_tx_antennas", 4), ("n_subcarriers", 8), ("n_symbols", 8),
                      ("n_users", 2), ("sensing_power_fraction", 0.3), ("subcarrier_step", 2)),
    net_overrides=(("hidden", 4), ("latent_dim", 4), ("n_codewords", 8), ("tx_hidden", 4), ("proj_dim", 8),
                   ("fc_dim", 8), ("cnn_channels", (2, 2)), ("cnn_fc", (8, 8, 8)), ("conv_impl", "native")),
    n_train=32, n_test=16, n_calibration=16, batch_size=8, epochs=1, steps=4, learning_rate=3e-3)


def override(text: str) -> tuple:
    """``"KEY=VALUE"`` -> ``(KEY, literal VALUE)`` (the ``--system`` / ``--net`` arguments)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError) as err:
        raise argparse.ArgumentTypeError(f"{key}: VALUE must be a Python literal, got {value!r}") from err


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser with the flags every study takes: ``--tiny`` and ``--json PATH``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="a tiny system and budget (the smoke test's size)")
    ap.add_argument("--json", metavar="PATH", help="also write the record (question, method, answer, tables)")
    return ap


def base_setup(tiny: bool, system: tuple = (), net: tuple = ()) -> LearningSetup:
    """``b-train``'s quick learning setup (``tiny``: :data:`TINY_SETUP`) with ``system`` and ``net``
    overrides (``(key, value)`` pairs) appended to its own."""
    base = TINY_SETUP if tiny else b_train.PRESETS["quick"].setup
    return dataclasses.replace(base, system_overrides=base.system_overrides + tuple(system),
                               net_overrides=base.net_overrides + tuple(net))


def print_table(table: dict) -> None:
    """``table`` (caption, columns, rows) as a Markdown table with its caption above."""
    def cell(v):
        if v is None:
            return "-"
        if isinstance(v, numbers.Integral) or isinstance(v, str):
            return str(v)
        return f"{float(v):.4g}"
    print(f"\n{table['caption']}\n")
    print("| " + " | ".join(table["columns"]) + " |\n|" + "---|" * len(table["columns"]))
    for row in table["rows"]:
        print("| " + " | ".join(cell(v) for v in row) + " |", flush=True)


def finish(module: str, argv, args, *, title: str, question: str, method: str, answer: str, tables: list) -> dict:
    """Print ``tables`` and the answer; write the record to ``args.json`` when given. Returns the record."""
    for t in tables:
        print_table(t)
    print(f"\n{answer}")
    record = run_record(Path(module).stem, "study", title, list(argv), tables, question=question, method=method,
                        answer=answer)
    if args.json:
        write_run_record(args.json, record)
    return record
