"""Random draws for Paper A scenarios: Rayleigh channels, power-feasible precoders, aggregation weights
(uniform, or the data shares of a Dirichlet split)."""

from __future__ import annotations

import jax
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


def dirichlet_weights(key, n_devices: int, n_tasks: int, *, alpha: float = 0.4, n_classes: int = 10, dtype=jnp.float32):
    """FedAvg aggregation weights of a Dirichlet(alpha) label-skew data split: ``W_k = w_k I`` with
    ``w_k = n_k / n`` (``[K, I, I]``, the weights sum to one over devices).

    The rule of :func:`isac_jax.fl.dirichlet_partition` for ``n_classes`` equally large classes: each
    class is shared over the devices with proportions ``s_c ~ Dirichlet(alpha 1_K)``, so the data share
    of device k is ``w_k = (1/C) sum_c s_ck`` (mean ``1/K``, variance
    ``(1/K)(1 - 1/K) / ((K alpha + 1) C)``). Jit-able, a pure function of ``key``."""
    shares = jax.random.dirichlet(key, jnp.full((n_devices,), alpha, dtype), (n_classes,))     # [C, K]
    w = jnp.mean(shares, axis=0)                                                             # [K]
    return w[:, None, None] * jnp.eye(n_tasks, dtype=dtype)[None]
