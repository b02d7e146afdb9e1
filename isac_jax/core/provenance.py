"""Where a result came from: the package version, the git commit it was run from (and whether the
working tree had uncommitted changes), the JAX version and the backend. Written into every
experiment's ``config.json`` and the report, so a results directory can be traced to its code.
"""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version as _dist_version
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[1]          # .../isac_jax


def _git(*args: str) -> str | None:
    """``git -C <package dir> args`` stdout, or None when git is absent, fails or takes > 5 s."""
    try:
        done = subprocess.run(["git", "-C", str(_PACKAGE_DIR), *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state() -> tuple[str, bool | None]:
    """``(commit, dirty)`` of the checkout this package is imported from: the full commit hash and
    whether tracked files differ from it (untracked files do not count); ``("unknown", None)`` when
    the package is not a tracked file of a git checkout (an installed wheel) or git is unavailable."""
    if _git("ls-files", "--error-unmatch", "__init__.py") is None:     # not tracked here (or no git)
        return "unknown", None
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return "unknown", None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return commit, None if status is None else bool(status)


def package_version() -> str:
    """The installed distribution's version of ``isac_jax`` ("unknown" when it is not installed)."""
    try:
        return _dist_version("isac_jax")
    except PackageNotFoundError:
        return "unknown"


def provenance() -> dict:
    """``{"version", "git_commit", "git_dirty", "jax_version", "backend"}`` of this process; never
    raises (fields it cannot determine are "unknown", ``git_dirty`` None). Starts JAX's backend."""
    import jax

    commit, dirty = git_state()
    try:
        backend = jax.default_backend()
    except RuntimeError:
        backend = "unknown"
    return {"version": package_version(), "git_commit": commit, "git_dirty": dirty, "jax_version": jax.__version__,
            "backend": backend}
