"""Tests run in float64 (bounds and references are compared at tight tolerances)."""

import os
from pathlib import Path

# The tests run tiny sizes, so their time is XLA compilation, most of it LLVM's optimisation of the
# generated CPU code and the MLIR fusion emitters: LLVM -O0 and XLA's elemental fusion emitters
# (both supported XLA CPU code paths) cut the suite's CPU time by more than a third and change no
# result beyond round-off (no fast-math either way). Set before
# JAX starts its CPU backend; the subprocesses the tests start (notebook kernels, forced-device and
# distributed runs) inherit it.
# XLA aborts on a flag it does not know, so the flags are probed once (in a subprocess, by the first
# process that loads this file; pytest-xdist workers inherit the answer) and dropped if this jaxlib
# rejects them: the suite is then slower, never broken.
_FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
if "ISAC_JAX_TEST_XLA_FLAGS" not in os.environ:
    import subprocess
    import sys

    _probe = subprocess.run([sys.executable, "-c", "import jax.numpy as jnp; jnp.zeros(1).block_until_ready()"],
                            env={**os.environ, "XLA_FLAGS": _FAST_COMPILE, "JAX_PLATFORMS": "cpu"},
                            capture_output=True, timeout=300)
    os.environ["ISAC_JAX_TEST_XLA_FLAGS"] = _FAST_COMPILE if _probe.returncode == 0 else ""
if os.environ["ISAC_JAX_TEST_XLA_FLAGS"] not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + os.environ["ISAC_JAX_TEST_XLA_FLAGS"]).strip()

# Many tests build the same XLA programs (experiments, shared kernels): a persistent cache lets the
# second build -- in this process, in the other pytest-xdist worker, or in a subprocess a test starts
# (notebook kernels, forced-device and distributed runs, which read the JAX_* variables) -- load the
# executable instead of compiling it again. Every program is cached, however short its compilation:
# the suite's programs are small, and caching them all (no minimum compile time) lowers its CPU
# time on a fresh clone too. It lives under
# .pytest_cache (removed by `make clean`).
CACHE = str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ["ISAC_JAX_CACHE"] = os.environ["JAX_COMPILATION_CACHE_DIR"]   # the CLI, run in-process, too

# The CPU scheduler workaround the CLI applies (isac_jax.core.xla explains it); the subprocesses the
# tests start inherit it through XLA_FLAGS.
from isac_jax.core.xla import avoid_cpu_scheduler_deadlock  # noqa: E402

avoid_cpu_scheduler_deadlock()

import jax  # noqa: E402
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)
# Implicit rank promotion (broadcasting a [n] against a [n, 1] by accident) is an error in the tests.
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))


def pytest_collection_modifyitems(config, items):
    """The tests marked ``heavy`` (several seconds each: end-to-end experiments, notebooks) run
    first, so that the workers of ``make test`` (``--dist load`` hands out tests in this order, the
    first ones in turn) share them out evenly and the suite ends on short tests instead of one
    worker finishing a long one alone."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def crandn(rng, *shape):
    """Circularly-symmetric complex Gaussian array with unit variance."""
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)


def rel_err(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)
