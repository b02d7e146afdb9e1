"""Uniform linear array (ULA) steering vectors.

For an M-element ULA with spacing ``d`` (in wavelengths) and a plane wave whose direction makes
``u = sin(theta)`` (or ``cos(theta)``, depending on where the angle is measured from) with the
array axis, the phase at element m is ``-2 pi d m u``. Paper A (A.9) uses ``d = 1/2`` and
``u = sin(theta_k)`` with an amplitude ``alpha_k``; Paper B (B.1/B.2) uses ``d = 1/2``,
``u = cos(theta)`` and the normalisation ``N^{-1/2}``.
"""

from __future__ import annotations

import jax.numpy as jnp


def ula_response(direction_cosine, n_elements: int, *, spacing_wavelengths: float = 0.5,
                 normalise: bool = False):
    """Steering vector ``[1, e^{-j2pi d u}, ..., e^{-j2pi d (M-1) u}]`` (optionally / sqrt(M)).

    Input: ``direction_cosine`` real array ``[...]`` (dimensionless, in [-1, 1]).
    Output: complex array ``[..., n_elements]``.
    """
    u = jnp.asarray(direction_cosine)
    m = jnp.arange(n_elements, dtype=u.dtype).reshape((1,) * u.ndim + (n_elements,))   # [1.., M]
    phase = -2.0 * jnp.pi * spacing_wavelengths * u[..., None] * m
    a = jnp.exp(1j * phase)
    if normalise:
        a = a / jnp.sqrt(jnp.asarray(n_elements, dtype=u.dtype))
    return a
