"""Every study in ``studies/`` runs at its ``--tiny`` size and writes the JSON record the docs read
(``name``, ``kind``, ``title``, ``command``, ``machine``, ``date``, ``question``, ``method``, ``answer``,
``tables``), with finite numbers and the rows its table should have."""

from __future__ import annotations

import importlib
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

STUDIES = Path(__file__).resolve().parents[1] / "studies"

#: study -> (extra arguments, first-column labels of each table: a label ending in "*" is a prefix)
CASES = {
    "illumination": (["8:35", "4:32:0.3"], [["8", "4"]]),
    "ghost_paths": ([], [["shared data (as simulated)", "reference AP's echo only",
                          "independent data per transmit AP"]]),
    "genie_bound": (["--skip-location"], [["trivial (prior mean)", "genie-aided MMSE"]]),
    "ml_refined_vs_crlb": ([], [["P = 40 dBm"]]),
    "table_b1_departures": ([], [["Table B.I", "subcarriers N_s (sensed on every k-th)", "sensing stream (share of P)"]]),
    "cooperative_vs_monostatic": ([], [["P = 40 dBm, monostatic", "P = 40 dBm, music", "P = 40 dBm, cs"],
                                       ["P = 40 dBm, separation 0-0.5 beams", "P = 40 dBm, separation 0.5-1 beams",
                                        "P = 40 dBm, separation 1-inf beams"]]),
    "velocity_readout": ([], [["trivial (training mean)", "classical (peaks*", "classical, robust*", "learned (MLP*",
                               "learned, bistatic LS*"]]),
    "detection_readout": ([], [["detector, test", "detector, first 1,000 training samples", "trivial, test"]]),
    "learning_limits": ([], [["4:32"]]),
    "set_prediction": ([], [["D-VQVAE, stronger target only", "trivial"]]),
    "learned_error_breakdown": ([], [["both", "stronger", "weaker"], ["x_m", "y_m", "vx_mps", "vy_mps"],
                                     ["separation*"] * 4 + ["weaker/stronger*"] * 3,
                                     ["x_m", "y_m", "vx_mps", "vy_mps"]]),
    "heatmap_readout": ([], [["as estimated (own peaks)", "peak centres (map alone)", "read-out at the true cells"],
                             ["strongest peak, of a true cell", "both peaks, on distinct targets"],
                             ["strongest peak's read-out", "trivial predictor's point"]]),
    "latent_velocity_probe": ([], [[f"{source}: {kind}" for source in (
        "AP input (Doppler profiles of every pair)", "quantised latents (3 x 3 cells, every Doppler latent, both APs)")
        for kind in ("trivial", "MLP, 5 steps", "bistatic LS, 5 steps")]]),
}


def test_every_study_has_a_smoke_case():
    found = {p.stem for p in STUDIES.glob("*.py") if not p.stem.startswith("_")}
    assert found == set(CASES), found ^ set(CASES)


def _numbers(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


@pytest.mark.heavy
@pytest.mark.slow
@pytest.mark.parametrize("study", sorted(CASES))
def test_study_runs_tiny_and_writes_its_record(study, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(STUDIES))
    monkeypatch.chdir(tmp_path)                              # work folders (checkpoints) go to tmp_path
    module = importlib.import_module(study)
    extra, labels = CASES[study]
    argv = ["--tiny", *extra, "--json", str(tmp_path / "record.json")]
    returned = module.main(argv)
    record = json.loads((tmp_path / "record.json").read_text(encoding="utf-8"))
    assert record == returned
    assert list(record) == ["name", "kind", "title", "command", "machine", "date", "question", "method", "answer",
                            "tables"]
    assert record["name"] == study and record["kind"] == "study"
    assert record["command"] == f"python studies/{study}.py " + " ".join(argv)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", record["date"]) and "jax" in record["machine"]
    for key in ("title", "question", "method", "answer"):
        assert isinstance(record[key], str) and len(record[key]) > 20, key
    assert re.search(r"\d", record["answer"]), "the answer is built from measured numbers"
    assert len(record["tables"]) == len(labels)
    for table, want in zip(record["tables"], labels):
        assert all(len(row) == len(table["columns"]) for row in table["rows"]), table["caption"]
        got = [str(row[0]) for row in table["rows"]]
        assert len(got) == len(want), (table["caption"], got)
        for g, w in zip(got, want):
            assert g.startswith(w[:-1]) if w.endswith("*") else g == w, (g, w)
    assert all(math.isfinite(x) for x in _numbers(record["tables"]))
    # the measured columns hold numbers (not all None): a study that measured nothing fails
    assert any(isinstance(v, (int, float)) for t in record["tables"] for row in t["rows"] for v in row[1:])
    sys.modules.pop(study, None)


def test_table_b1_departures_cover_every_field_the_learning_system_changes(monkeypatch):
    """The departures table is built from the configurations' difference, so it lists every field in
    which the learning system leaves Table B.I (the symbol comb among them), and a new difference
    without a stated reason is refused."""
    import dataclasses

    from isac_jax.cellfree.config import get_config
    from isac_jax.experiments.paper_b.learning import LearningSetup

    monkeypatch.syspath_prepend(str(STUDIES))
    module = importlib.import_module("table_b1_departures")
    paper, ours = get_config("paper"), LearningSetup().system()
    differ = {f.name for f in dataclasses.fields(paper) if getattr(paper, f.name) != getattr(ours, f.name)}
    steps = module.departures(paper, ours)
    assert {f for _, fields, _ in steps for f in fields} >= differ >= {"symbol_step", "subcarrier_step"}
    assert all(differ & set(fields) for _, fields, _ in steps)          # no row for a field left at B.I
    assert module.value(ours, ("n_symbols", "symbol_step")) == "32 (every 8th)"
    with pytest.raises(ValueError, match=r"\['n_clutter'\]"):
        module.departures(paper, dataclasses.replace(ours, n_clutter=2))
    sys.modules.pop("table_b1_departures", None)


def test_run_record_parses_printed_tables_and_refuses_bad_ones(tmp_path, monkeypatch, capsys):
    from isac_jax.core.timing import run_benchmark, run_record, tables_from_markdown

    text = ("# bench_x on a machine\n\n## (a) frames (K=15)\n| implementation | time (s) | frames/s | speed-up |\n"
            "|---|---|---|---|\n| NumPy | 0.500 | 1,024 | 1.0x |\n| JAX (min / median) | 0.0100 / 0.0120 | 51,200 "
            "| 50.0x |\nagreement 1e-7\n\n## (b) found\nsome text\n| share | value |\n|---|---|\n| found | 83.5 % |\n")
    tables = tables_from_markdown(text)
    assert tables == [
        {"caption": "(a) frames (K=15); agreement 1e-7", "columns": ["implementation", "time (s)", "frames/s",
                                                                     "speed-up"],
         "rows": [["NumPy", 0.5, 1024, 1.0], ["JAX (min / median)", "0.0100 / 0.0120", 51200, 50.0]]},
        {"caption": "(b) found", "columns": ["share", "value"], "rows": [["found", 83.5]]}]
    rec = run_record("bench_x", "benchmark", "t", ["--preset", "quick"],
                     [{"caption": "c", "columns": ["a", "b"], "rows": [["x", float("nan")], ["y", np.float32(2)]]}])
    assert rec["tables"][0]["rows"] == [["x", None], ["y", 2.0]] and "question" not in rec
    assert rec["command"] == "python benchmarks/bench_x.py --preset quick"
    with pytest.raises(ValueError, match="rows need 2 entries"):
        run_record("s", "study", "t", [], [{"caption": "c", "columns": ["a", "b"], "rows": [[1]]}],
                   question="q", method="m", answer="a")
    with pytest.raises(ValueError, match="question, method and answer"):
        run_record("s", "study", "t", [], [])
    with pytest.raises(ValueError, match="kind"):
        run_record("s", "probe", "t", [], [])

    seen = []

    def main():                                   # a benchmark's main parses sys.argv itself
        seen.append(list(sys.argv[1:]))
        print(text)
    out = tmp_path / "b.json"
    written = run_benchmark(main, "bench_x", "t", ["--preset", "quick", "--json", str(out)])
    assert written["tables"] == tables and json.loads(out.read_text()) == written
    assert written["command"] == "python benchmarks/bench_x.py --preset quick"
    assert seen == [["--preset", "quick"]] and "| NumPy |" in capsys.readouterr().out
    assert run_benchmark(lambda: None, "bench_x", "t", []) is None
