"""Random draws shared by both papers' models."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def complex_normal(key, shape, *, var=1.0, dtype=jnp.float32):
    """Circularly symmetric complex Gaussian ``CN(0, var)`` samples of ``shape``.

    ``dtype`` is the *real* dtype of each part (float32 -> complex64, float64 -> complex128);
    ``var`` (scalar or broadcastable to ``shape``) is the total variance ``E|z|^2``, split equally
    between the real and imaginary parts, which come from the two halves of ``jax.random.split(key)``.
    """
    k_re, k_im = jax.random.split(key)
    std = jnp.sqrt(jnp.asarray(var, dtype) / 2.0)
    return std * (jax.random.normal(k_re, shape, dtype) + 1j * jax.random.normal(k_im, shape, dtype))
