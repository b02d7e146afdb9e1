"""isac_jax: a JAX-accelerated, differentiable simulator for integrated sensing and communications.

Subpackages, in the papers' vocabulary:

* :mod:`isac_jax.core` -- shared primitives (units, arrays, geometry, pulses, Fisher/CRB, projections, sweeps);
* :mod:`isac_jax.ota` -- Paper A physics and design (OTA aggregation, echoes, bounds, Algorithm 1);
* :mod:`isac_jax.fl` -- federated learning (offline data, Dirichlet split, Flax models, client updates);
* :mod:`isac_jax.collabsensefed` -- the CollabSenseFed simulation (Algorithm 2, every FEEL scheme);
* :mod:`isac_jax.cellfree` -- Paper B physics (cell-free multistatic OFDM echoes, precoding, CRLB);
* :mod:`isac_jax.dvqvae` -- Paper B learning (D-VQVAE, D-VAE, centralised CNN);
* :mod:`isac_jax.experiments` -- one module per reproduced figure; :mod:`isac_jax.report` the report page.
"""

import os as _os
from importlib.metadata import version as _version


def _avoid_cpu_scheduler_deadlock() -> None:
    """XLA's concurrency-optimised CPU scheduler deadlocked on CollabSenseFed's leakage-aware acquisition
    program (jaxlib 0.10.2, 2-core VM, 50 trials: every XLA thread idle, the result never ready;
    ``--xla_cpu_enable_concurrency_optimized_scheduler=false`` runs it). The flag must be in
    ``XLA_FLAGS`` before JAX starts its CPU backend (import isac_jax first); XLA aborts on flags it
    does not know, so it is only added for jaxlib >= 0.10, where it exists."""
    flag = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
    try:
        major, minor = (int(p) for p in _version("jaxlib").split(".")[:2])
    except Exception:                                  # no metadata: leave XLA alone
        return
    current = _os.environ.get("XLA_FLAGS", "")
    if (major, minor) >= (0, 10) and "concurrency_optimized_scheduler" not in current:
        _os.environ["XLA_FLAGS"] = f"{current} {flag}".strip()


_avoid_cpu_scheduler_deadlock()

from . import core as core  # noqa: E402
from . import ota as ota  # noqa: E402

__version__ = "0.1.0"

#: The subpackages; those not imported above load on first access (``isac_jax.dvqvae``), so importing
#: the package does not import Flax, Optax or the experiments.
_LAZY = ("cellfree", "collabsensefed", "dvqvae", "experiments", "fl", "report")

__all__ = ["cellfree", "collabsensefed", "core", "dvqvae", "experiments", "fl", "ota", "report", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
