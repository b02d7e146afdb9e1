"""XLA settings the package needs on some machines, applied by the caller (the CLI, the tests, a
notebook's first cell), never by importing the package.
"""

from __future__ import annotations

import os
from importlib.metadata import version as _dist_version

SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def avoid_cpu_scheduler_deadlock() -> bool:
    """Turn off XLA's concurrency-optimised CPU scheduler by adding :data:`SCHEDULER_FLAG` to ``XLA_FLAGS``.

    Why: that scheduler deadlocked on CollabSenseFed's leakage-aware acquisition program (jaxlib 0.10,
    2-core CPU, 50 trials: every XLA thread idle, the result never ready); with the flag the program
    runs. ``isac-jax`` (the CLI) and the test suite call this before JAX starts; a script or notebook
    that runs CollabSenseFed with ``leakage_aware`` physics on CPU calls it first thing.

    The flag is read when JAX starts its CPU backend, so call this before the first computation.
    XLA aborts on flags it does not know, so it is only added for jaxlib >= 0.10, where it exists, and
    never twice (nor over a setting of the same flag the user made).

    Returns:
        Whether ``XLA_FLAGS`` now holds the flag.
    """
    current = os.environ.get("XLA_FLAGS", "")
    if "concurrency_optimized_scheduler" in current:
        return SCHEDULER_FLAG in current
    try:
        major, minor = (int(p) for p in _dist_version("jaxlib").split(".")[:2])
    except Exception:                                  # no metadata or an odd version: leave XLA alone
        return False
    if (major, minor) < (0, 10):
        return False
    os.environ["XLA_FLAGS"] = f"{current} {SCHEDULER_FLAG}".strip()
    return True
