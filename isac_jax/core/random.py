"""Random draws shared by both papers' models, and the PRNG implementations they accept.

Every random function of the package takes an explicit key and works with keys of any of JAX's PRNG
implementations; the key carries its implementation (``jax.random.key(seed, impl=...)``), and the
CLI's ``--prng`` sets JAX's default (``jax_default_prng_impl``) for every key an experiment makes.
The reproducibility contract of each (:data:`PRNG_IMPLS`):

* ``threefry2x32`` (default): counter-based Threefry; the same seed gives the same numbers on every
  backend (CPU, GPU, TPU) and device count. Costly on a CPU (about 60 % of a Paper A frame).
* ``rbg``: XLA's RngBitGenerator for the bits, Threefry for ``split``/``fold_in``; reproducible for
  a given seed, backend and XLA version, but the streams differ between backends and may change
  with XLA releases. Statistically sound.
* ``unsafe_rbg``: as ``rbg`` with ``split``/``fold_in`` also by RngBitGenerator, cheapest; JAX
  documents no independence guarantee for derived keys, so use it for throughput studies only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: The PRNG implementations every random function accepts (see the module docstring).
PRNG_IMPLS = ("threefry2x32", "rbg", "unsafe_rbg")


def complex_normal(key, shape, *, var=1.0, dtype=jnp.float32):
    """Circularly symmetric complex Gaussian ``CN(0, var)`` samples of ``shape``.

    ``dtype`` is the *real* dtype of each part (float32 -> complex64, float64 -> complex128);
    ``var`` (scalar or broadcastable to ``shape``) is the total variance ``E|z|^2``, split equally
    between the real and imaginary parts, which come from the two halves of ``jax.random.split(key)``.
    """
    k_re, k_im = jax.random.split(key)
    std = jnp.sqrt(jnp.asarray(var, dtype) / 2.0)
    return std * (jax.random.normal(k_re, shape, dtype) + 1j * jax.random.normal(k_im, shape, dtype))
