"""The public API is defined by ``__all__``: every package lists its public names, each exists and is
documented, and the code users read (the notebooks, the README's and the docs' Python blocks) imports
only names reachable through ``__all__``."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["isac_jax", "isac_jax.core", "isac_jax.ota", "isac_jax.fl", "isac_jax.collabsensefed",
            "isac_jax.cellfree", "isac_jax.dvqvae", "isac_jax.experiments", "isac_jax.experiments.paper_a",
            "isac_jax.experiments.paper_b"]


def test_every_package_is_listed():
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "isac_jax").rglob("__init__.py")}
    assert found == set(PACKAGES), found ^ set(PACKAGES)


def _documented_constants(package: str) -> set:
    """Names assigned at module level with a ``#:`` comment on the line above, in ``package``'s modules."""
    names = set()
    folder = ROOT / Path(*package.split("."))
    for path in folder.glob("*.py"):
        lines = path.read_text().splitlines()
        for node in ast.parse("\n".join(lines)).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            if targets and node.lineno >= 2 and lines[node.lineno - 2].lstrip().startswith("#:"):
                names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _own_doc(obj) -> str:
    doc = (obj.__doc__ or "").strip() if not isinstance(obj, (str, int, float, tuple, dict)) else ""
    if inspect.isclass(obj) and re.fullmatch(rf"{obj.__name__}\(.*\)", doc, re.S):
        return ""                                           # NamedTuple's generated "Name(a, b)"
    return doc


@pytest.mark.parametrize("package", PACKAGES)
def test_all_lists_existing_documented_names_and_every_reexport(package):
    module = importlib.import_module(package)
    names = module.__all__
    assert len(names) == len(set(names)), "duplicates in __all__"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, missing
    constants = _documented_constants(package)
    for sub in {getattr(module, n).__module__ for n in names if hasattr(getattr(module, n), "__module__")
                and str(getattr(module, n).__module__).startswith("isac_jax")}:
        constants |= _documented_constants(sub.rsplit(".", 1)[0])
    undocumented = [n for n in names if n != "__version__" and not _own_doc(getattr(module, n))
                    and n not in constants]
    assert not undocumented, f"{package}: no docstring (or '#:' comment for a constant): {undocumented}"
    # every name the __init__ re-exports ("from .x import y as y") is listed
    tree = ast.parse(inspect.getsource(module))
    reexported = {a.asname for node in tree.body if isinstance(node, ast.ImportFrom) and node.level
                  for a in node.names if a.asname == a.name}
    assert reexported <= set(names), reexported - set(names)


def _exported(path: str, name: str | None = None) -> bool:
    """Whether ``path`` (``isac_jax.a.b``) is reachable from ``isac_jax`` through ``__all__`` (each step
    listed by its parent package) and, given ``name``, whether ``path`` exports it (its ``__all__``
    when a package, a public name when an exported module)."""
    parts = path.split(".")
    if parts[0] != "isac_jax":
        return True
    module = importlib.import_module("isac_jax")
    for part in parts[1:]:
        if part not in getattr(module, "__all__", ()):
            return False
        module = getattr(module, part)
    if name is None:
        return True
    if hasattr(module, "__all__"):
        return name in module.__all__
    return not name.startswith("_") and hasattr(module, name)


def _code_blocks():
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        yield nb.name, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        blocks = re.findall(r"```python\n(.*?)```", md.read_text(), re.S)
        if blocks:
            yield str(md.relative_to(ROOT)), "\n".join(blocks)


def _unexported_uses(code: str) -> list:
    """The ``isac_jax`` names ``code`` imports or reads (``alias.name`` of an imported subpackage) that
    are not exported."""
    tree = ast.parse("\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))))
    aliases, bad = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("isac_jax"):
                    if not _exported(a.name):
                        bad.append(a.name)
                    aliases[a.asname or a.name.split(".")[0]] = a.asname and a.name or "isac_jax"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("isac_jax"):
            for a in node.names:
                if not _exported(node.module, a.name):
                    bad.append(f"{node.module}.{a.name}")
                elif inspect.ismodule(getattr(importlib.import_module(node.module), a.name, None)):
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            path = aliases[node.value.id]
            if not _exported(path, node.attr):
                bad.append(f"{path}.{node.attr}")
    return bad


def test_the_static_check_finds_unexported_uses():
    code = ("from isac_jax import dvqvae as dv, ota\nfrom isac_jax.dvqvae.training import make_train_step\n"
            "import isac_jax.cellfree.echo\nx = dv.SensingModel, dv.make_optimizer, ota.crb, ota.aggregation\n")
    assert _unexported_uses(code) == ["isac_jax.dvqvae.training.make_train_step", "isac_jax.cellfree.echo",
                                      "isac_jax.dvqvae.make_optimizer", "isac_jax.ota.aggregation"]


@pytest.mark.parametrize("name,code", list(_code_blocks()), ids=[n for n, _ in _code_blocks()])
def test_user_facing_code_uses_exported_names_only(name, code):
    assert not _unexported_uses(code), f"{name}: {_unexported_uses(code)}"
