"""isac_jax: a JAX-accelerated, differentiable simulator for integrated sensing and communications.

Subpackages: :mod:`isac_jax.core` (shared primitives), :mod:`isac_jax.ota` (Paper A, OTA-FEEL
collaborative ISAC), :mod:`isac_jax.experiments` (reproduced figures; CLI ``isac-jax``).
"""

from . import core as core
from . import ota as ota

__version__ = "0.1.0"
