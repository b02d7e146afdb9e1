"""isac_jax: a JAX-accelerated, differentiable simulator for integrated sensing and communications.

Subpackages, in the papers' vocabulary:

* :mod:`isac_jax.core` -- shared primitives (units, arrays, geometry, pulses, Fisher/CRB, projections, sweeps);
* :mod:`isac_jax.ota` -- Paper A physics and design (OTA aggregation, echoes, bounds, Algorithm 1);
* :mod:`isac_jax.fl` -- federated learning (offline data, Dirichlet split, Flax models, client updates);
* :mod:`isac_jax.collabsensefed` -- the CollabSenseFed simulation (Algorithm 2, every FEEL scheme);
* :mod:`isac_jax.cellfree` -- Paper B physics (cell-free multistatic OFDM echoes, precoding, CRLB);
* :mod:`isac_jax.dvqvae` -- Paper B learning (D-VQVAE, D-VAE, centralised CNN);
* :mod:`isac_jax.experiments` -- one module per reproduced figure; :mod:`isac_jax.report` the report page.

Importing the package changes no environment variable; on CPU, :func:`isac_jax.core.avoid_cpu_scheduler_deadlock`
is the one call a script running CollabSenseFed's leakage-aware physics makes first (the CLI and the tests make it).
"""

from . import core as core
from . import ota as ota

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
