"""Numerical precision: a context manager that runs JAX in float64 / complex128.

Bounds (Fisher information, CRBs, the Schur complement) and the design experiments need float64:
the FIM of a badly placed target is nearly singular and overflows a float32 Cholesky factorisation.
"""

from __future__ import annotations

import jax


def float64():
    """Context manager enabling float64 in JAX (``jax.enable_x64`` or, on older JAX, the experimental one)."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64
    return enable_x64()
