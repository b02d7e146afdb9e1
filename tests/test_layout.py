"""The package's layout rules, checked on the source: the import graph points downwards only, no
package reaches into another's private modules or names, tests, benchmarks and studies use public names only,
nothing is unused or undefined (pyflakes), and no binary archive is committed."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "isac_jax"
#: A subpackage may import only from layers strictly below its own (and from itself).
LAYERS = {"core": 0, "ota": 1, "fl": 1, "cellfree": 1, "collabsensefed": 2, "dvqvae": 2, "experiments": 3,
          "report": 4, "cli": 5, "docs_pages": 5}


def _imports(path: Path):
    """``(line, absolute module, names)`` of every ``from ... import`` in ``path`` (relative ones resolved)."""
    tree = ast.parse(path.read_text())
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield node.lineno, module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name, []


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "isac_jax" else None


def test_import_graph_points_downwards_and_respects_privacy():
    problems = []
    for path in PACKAGE.rglob("*.py"):
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if own == "__init__":
            continue
        for line, module, names in _imports(path):
            other = _top(module)
            if other is None or other == own:
                continue
            where = f"{path.relative_to(ROOT)}:{line}"
            if LAYERS[other] >= LAYERS[own]:
                problems.append(f"{where}: {own} (layer {LAYERS[own]}) imports {module} (layer {LAYERS[other]})")
            private = [p for p in module.split(".") if p.startswith("_")] + [n for n in names if n.startswith("_")]
            if private:
                problems.append(f"{where}: private {private} of {module} used outside its package")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("folder", ["tests", "benchmarks", "studies"])
def test_tests_benchmarks_and_studies_use_public_names_only(folder):
    problems = []
    for path in (ROOT / folder).glob("*.py"):
        for line, module, names in _imports(path):
            if not module.startswith("isac_jax"):
                continue
            private = [p for p in module.split(".") if p.startswith("_")] + [n for n in names if n.startswith("_")]
            if private:
                problems.append(f"{path.relative_to(ROOT)}:{line}: {module} {private}")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                if isinstance(node.value, ast.Name) and node.value.id in {"ota", "cf", "cs", "feel", "dv", "fl",
                                                                         "experiments", "core"}:
                    problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not problems, "\n".join(problems)


def test_pyflakes_reports_nothing():
    """No unused import or variable, no undefined name (``__init__`` re-exports excepted)."""
    from pyflakes import api, reporter

    class Collect(reporter.Reporter):
        def __init__(self):
            self.messages = []

        def flake(self, message):
            if not (message.filename.endswith("__init__.py") and "imported but unused" in str(message)):
                self.messages.append(str(message))

        def syntaxError(self, filename, msg, lineno, offset, text):      # noqa: N802 (pyflakes' API)
            self.messages.append(f"{filename}:{lineno}: {msg}")

        def unexpectedError(self, filename, msg):                        # noqa: N802
            self.messages.append(f"{filename}: {msg}")

    rep = Collect()
    for folder in ("isac_jax", "tests", "benchmarks", "studies"):
        api.checkRecursive([str(ROOT / folder)], rep)
    assert not rep.messages, "\n".join(rep.messages)


def test_no_binary_archives_are_committed():
    """Tracked files (``git ls-files``; outside a git checkout, every file but the venv and caches)."""
    try:
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", ".git", ".pytest_cache", "results", "__pycache__"}
        files = [str(f.relative_to(ROOT)) for f in ROOT.rglob("*")
                 if f.is_file() and not skip & set(f.relative_to(ROOT).parts)]
    assert files, "no files found"
    bad = [f for f in files
           if f.endswith((".whl", ".zip", ".tar", ".gz", ".tgz", ".npz", ".npy", ".pkl", ".pickle", ".ckpt", ".h5"))]
    assert not bad, bad
