"""The documentation: the strict site build passes and fails on a broken reference, the generated pages
equal a fresh generation from the committed data, the generator renders what the claims read, and the
README stays short, free of dated journals, and its example valid."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from isac_jax import docs_pages
from isac_jax.experiments import REGISTRY
from isac_jax.experiments.claims import read_claim

ROOT = Path(__file__).resolve().parents[1]
GENERATED_DIRS = ("docs/studies/",)
GENERATED_FILES = ("docs/benchmarks.md",)


def _mkdocs(config: Path, site: Path, cwd: Path = ROOT):
    """``mkdocs build --strict`` (mkdocs-jupyter keeps its cache in ``cwd/.cache``)."""
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          capture_output=True, text=True, cwd=cwd, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


@pytest.mark.heavy
def test_strict_build_of_the_site_passes(tmp_path):
    out = _mkdocs(ROOT / "mkdocs.yml", tmp_path / "site")
    assert out.returncode == 0, out.stdout + out.stderr
    for page in ("index.html", "api/ota/index.html", "reproduction/paper-b/index.html",
                 "examples/paper_a_tour/index.html"):
        assert (tmp_path / "site" / page).exists(), page


@pytest.mark.heavy
def test_a_broken_reference_fails_the_strict_build(tmp_path):
    """The project's own mkdocs.yml (strict, same plugins and link validation) on a two-page site: an API
    page and a cross-reference that resolve, and one broken cross-reference and one broken link."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Broken\n\nThe units: [the core][isac_jax.core]. "
                                   "See [x][isac_jax.nope] and [the missing page](missing.md).\n")
    (docs / "api.md").write_text("# API\n\n::: isac_jax.core\n")
    config.update(docs_dir=str(docs), nav=["index.md", "api.md"])
    for plugin in config["plugins"]:
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            plugin["mkdocstrings"]["handlers"]["python"]["paths"] = [str(ROOT)]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    out = _mkdocs(tmp_path / "mkdocs.yml", tmp_path / "site", cwd=tmp_path)
    log = out.stdout + out.stderr
    assert out.returncode != 0
    assert "isac_jax.nope" in log and "missing.md" in log
    assert "'isac_jax.core'" not in log


def test_generated_pages_equal_a_fresh_generation():
    assert docs_pages.stale(ROOT) == [], "run `python -m isac_jax.docs_pages` (make pages) and commit the pages"


def _repo(tmp_path):
    """A repository root with the two marked pages and an empty data folder."""
    (tmp_path / "docs").mkdir(parents=True)
    for page in ("README.md", "docs/index.md"):
        (tmp_path / page).write_text(f"# Title\n\nbefore\n\n{docs_pages.START}\nold\n{docs_pages.END}\n\nafter\n")
    return tmp_path


def _table(rows):
    return {"caption": "times", "columns": ["scheme", "time ms"], "rows": rows}


def test_generator_renders_results_benchmarks_and_studies(tmp_path):
    root = _repo(tmp_path / "repo")
    results = tmp_path / "results" / "b-overhead"
    results.mkdir(parents=True)
    run = {"fully_distributed_bits": 192, "centralised_bits": 67_108_864, "dvqvae_bits_paper_codebook": 81_920,
           "reduction_vs_centralised": 0.9988}
    (results / "results.json").write_text(json.dumps(run))
    (results / "config.json").write_text(json.dumps({"preset": "quick", "seed": 3, "wall_time_s": 12.5,
                                                     "version": "9.9", "git_commit": "abcdef1234567890",
                                                     "git_dirty": True}))
    (results / "arrays.npz").write_bytes(b"PK")
    (results / "figure.png").write_bytes(b"\x89PNG")
    assert docs_pages.import_results(tmp_path / "results", root) == ["b-overhead"]
    copied = root / "docs/data/results/b-overhead"
    assert sorted(p.name for p in copied.iterdir()) == ["config.json", "results.json"]
    bench = {"name": "bench_x", "kind": "benchmark", "title": "X timing", "command": "python benchmarks/bench_x.py",
             "machine": "cpu box", "date": "D", "tables": [_table([["jax", 1.23456], ["numpy", None]])]}
    study = {**bench, "name": "probe", "kind": "study", "title": "A probe", "question": "Q?", "method": "M.",
             "answer": "A from numbers."}
    for kind, obj in (("benchmarks", bench), ("studies", study)):
        (root / "docs/data" / kind).mkdir(parents=True)
        (root / "docs/data" / kind / f"{obj['name']}.json").write_text(json.dumps(obj))

    assert docs_pages.main(["--root", str(root)]) == 0
    claim = read_claim("b-overhead", run)
    page_b = (root / "docs/reproduction/paper-b.md").read_text()
    assert f"**Verdict: {claim['status']}.**" in page_b
    assert claim["paper_says"] in page_b
    for key, value in claim["numbers"].items():
        assert f"| {key} | {value} |" in page_b
    assert "isac-jax reproduce b-overhead --preset quick --seed 3" in page_b
    assert "wall time 12.5 s" in page_b and "`abcdef123456 (uncommitted changes)`" in page_b and "9.9" in page_b
    assert page_b.count("*Not run in this snapshot.*") == sum(e.paper == "B" for e in REGISTRY.values()) - 1
    assert "*Not run in this snapshot.*" in (root / "docs/reproduction/paper-a.md").read_text()
    readme = (root / "README.md").read_text()
    assert readme.startswith("# Title\n\nbefore\n\n") and readme.endswith("\n\nafter\n") and "old" not in readme
    assert f"| [b-overhead](docs/reproduction/paper-b.md#b-overhead) | {claim['status'].split()[0]} | quick |" in readme
    assert "](reproduction/paper-b.md#b-overhead)" in (root / "docs/index.md").read_text()
    assert "| jax | 1.235 |" in (root / "docs/benchmarks.md").read_text()
    assert "| numpy | - |" in (root / "docs/benchmarks.md").read_text()
    assert "**Answer.** A from numbers." in (root / "docs/studies/probe.md").read_text()
    assert "[A probe](probe.md)" in (root / "docs/studies/index.md").read_text()
    assert docs_pages.stale(root) == []

    # A hand edit, a stale page and a study whose data is gone are all caught, and rewritten.
    (root / "docs/benchmarks.md").write_text("edited by hand\n")
    (root / "docs/data/studies/probe.json").unlink()
    assert docs_pages.main(["--root", str(root), "--check"]) == 1
    assert docs_pages.stale(root) == ["docs/benchmarks.md", "docs/studies/index.md", "docs/studies/probe.md"]
    docs_pages.write(root)
    assert docs_pages.stale(root) == [] and not (root / "docs/studies/probe.md").exists()


def test_generator_rejects_bad_data(tmp_path):
    root = _repo(tmp_path)
    (root / "docs/data/studies").mkdir(parents=True)
    (root / "docs/data/studies/s.json").write_text(json.dumps({"name": "s", "kind": "study", "title": "t"}))
    with pytest.raises(ValueError, match="missing .*'command'"):
        docs_pages.generate(root)
    bad_row = {"name": "s", "kind": "study", "title": "t", "command": "c", "machine": "m", "date": "d",
               "question": "q", "method": "m", "answer": "a", "tables": [_table([["jax"]])]}
    (root / "docs/data/studies/s.json").write_text(json.dumps(bad_row))
    with pytest.raises(ValueError, match="needs 2 cells"):
        docs_pages.generate(root)
    (root / "docs/data/studies/s.json").unlink()
    (root / "README.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="README.md must hold the markers"):
        docs_pages.generate(root)
    with pytest.raises(FileNotFoundError, match="results_dir"):
        docs_pages.import_results(tmp_path / "nowhere", root)


def test_readme_is_short():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 180
    assert len(text.encode()) <= 15_000


def test_no_markdown_page_holds_a_dated_journal():
    """Pages say what is; only the generated benchmark and study pages carry the date of a measurement."""
    tracked = subprocess.run(["git", "ls-files", "*.md"], capture_output=True, text=True, cwd=ROOT).stdout.split()
    date = re.compile(r"\b20\d\d-\d\d-\d\d\b")
    dated = [p for p in tracked if not p.startswith(GENERATED_DIRS) and p not in GENERATED_FILES
             and date.search((ROOT / p).read_text())]
    assert dated == []


def test_readme_example_is_valid_and_uses_existing_names():
    """The README's example compiles and every ``ota.NAME`` it calls exists (it was run when written; running
    it here would compile the bounds, about 20 s)."""
    from isac_jax import core, ota

    text = (ROOT / "README.md").read_text()
    example = re.search(r"## Example\n.*?```python\n(.*?)```", text, re.S).group(1)
    assert len(example.splitlines()) <= 14
    compile(example, "README example", "exec")
    used = set(re.findall(r"\bota\.(\w+)", example))
    assert {"PaperASystem", "optimal_receiver", "crb"} <= used
    assert [n for n in sorted(used) if not hasattr(ota, n)] == []
    assert all(hasattr(core, n) for n in re.findall(r"from isac_jax.core import (\w+)", example))
