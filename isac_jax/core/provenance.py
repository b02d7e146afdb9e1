"""Where a result came from: the package version, the git commit it was run from (and whether the
working tree had uncommitted changes), the JAX version, the backend, the operating system and
architecture and the CPU count. Written into every experiment's ``config.json`` and the report, and
summarised in the ``machine`` line of benchmark and study records
(:func:`~isac_jax.core.timing.machine_summary`), so a result can be traced to its code and machine.
"""

from __future__ import annotations

import os
import platform
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
    """Where this process's results come from.

    Never raises: a field it cannot determine is "unknown" (``git_dirty`` and ``cpu_count`` None).
    Starts JAX's backend.

    Returns:
        ``{"version", "git_commit", "git_dirty", "jax_version", "backend", "platform", "cpu_count"}``:
        the package version, the full commit hash, whether tracked files differ from it, the JAX
        version, JAX's default backend (``"cpu"``, ``"gpu"``, ...), ``"<system> <machine>"`` (e.g.
        ``"Linux x86_64"``) and the logical CPU count.
    """
    import jax

    commit, dirty = git_state()
    try:
        backend = jax.default_backend()
    except RuntimeError:
        backend = "unknown"
    return {"version": package_version(), "git_commit": commit, "git_dirty": dirty, "jax_version": jax.__version__,
            "backend": backend, "platform": f"{platform.system() or 'unknown'} {platform.machine() or 'unknown'}",
            "cpu_count": os.cpu_count()}
