"""Random draws for Paper A scenarios: Rayleigh channels, power-feasible precoders, weights."""

from __future__ import annotations

import jax.numpy as jnp

from ..core.random import complex_normal


def rayleigh_channels(key, n_devices: int, n_ps_antennas: int, n_antennas: int, *, gain=1.0, dtype=jnp.float32):
    """i.i.d. Rayleigh ``H_k`` with ``CN(0, gain)`` entries (``gain`` scalar or ``[K]`` path loss). ``[K, N, M]``."""
    H = complex_normal(key, (n_devices, n_ps_antennas, n_antennas), dtype=dtype)
    g = jnp.broadcast_to(jnp.asarray(gain, dtype), (n_devices,))
    return jnp.sqrt(g)[:, None, None] * H


def random_precoders(key, n_devices: int, n_antennas: int, n_tasks: int, power, *, dtype=jnp.float32):
    """Isotropic random precoders at full power: ``||C_k||_F^2 = P`` for every k. ``[K, M, I]``."""
    C = complex_normal(key, (n_devices, n_antennas, n_tasks), dtype=dtype)
    return C * jnp.sqrt(power) / jnp.linalg.norm(C, axis=(1, 2), keepdims=True)


def uniform_weights(n_devices: int, n_tasks: int, *, dtype=jnp.float32):
    """``W_k = I / K`` for every device (plain averaging of every task). ``[K, I, I]``."""
    return jnp.broadcast_to(jnp.eye(n_tasks, dtype=dtype) / n_devices, (n_devices, n_tasks, n_tasks))
