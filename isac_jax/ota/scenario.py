"""Random draws for Paper A scenarios: Rayleigh channels, power-feasible precoders, aggregation weights
(uniform, or the data shares of a Dirichlet split)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..core.random import complex_normal
from ..core.validate import check_dtype, check_int, check_memory, check_range, nbytes


def _check_sizes(fn: str, dtype, **sizes) -> tuple:
    """Validate the sizes (positive integers) and real ``dtype`` of a random draw of a complex array
    of shape ``sizes.values()``, and refuse one that cannot fit in memory (the draw holds two real
    normal arrays and the complex result: about twice the result's bytes)."""
    dtype = check_dtype("dtype", dtype)
    shape = tuple(check_int(name, v) for name, v in sizes.items())
    args = ", ".join(f"{k}={v}" for k, v in sizes.items())
    check_memory(2 * nbytes(shape, jnp.result_type(dtype, jnp.complex64)), what=f"{fn}({args})")
    return shape


def rayleigh_channels(key, n_devices: int, n_ps_antennas: int, n_antennas: int, *, gain=1.0, dtype=jnp.float32):
    """i.i.d. Rayleigh ``H_k`` with ``CN(0, gain)`` entries (``gain`` scalar or ``[K]`` path loss). ``[K, N, M]``.

    Sizes must be positive integers and ``gain`` finite, > 0 and representable in ``dtype`` (checked at
    the Python boundary, before tracing; a traced ``gain`` is not checked); a draw that cannot fit in
    memory is refused with its estimate (``core.validate.check_memory``).
    """
    shape = _check_sizes("rayleigh_channels", dtype, n_devices=n_devices, n_ps_antennas=n_ps_antennas,
                         n_antennas=n_antennas)
    if jnp.ndim(gain) not in (0, 1) or (jnp.ndim(gain) == 1 and jnp.shape(gain)[0] != shape[0]):
        raise ValueError(f"gain must be a scalar or have shape [n_devices={shape[0]}], got {list(jnp.shape(gain))}")
    check_range("gain", gain, 0.0, float(np.finfo(dtype).max), low_open=True)
    H = complex_normal(key, shape, dtype=dtype)
    g = jnp.broadcast_to(jnp.asarray(gain, dtype), (n_devices,))
    return jnp.sqrt(g)[:, None, None] * H


def random_precoders(key, n_devices: int, n_antennas: int, n_tasks: int, power, *, dtype=jnp.float32):
    """Isotropic random precoders at full power: ``||C_k||_F^2 = P`` for every k. ``[K, M, I]``.

    ``power`` (W, scalar or ``[K]``) must be finite, > 0 and representable in ``dtype``, the sizes
    positive integers (checked at the Python boundary, before tracing; a traced ``power`` is not
    checked); a draw that cannot fit in memory is refused with its estimate.
    """
    shape = _check_sizes("random_precoders", dtype, n_devices=n_devices, n_antennas=n_antennas, n_tasks=n_tasks)
    if jnp.ndim(power) not in (0, 1) or (jnp.ndim(power) == 1 and jnp.shape(power)[0] != shape[0]):
        raise ValueError(f"power must be a scalar or have shape [n_devices={shape[0]}], got {list(jnp.shape(power))}")
    check_range("power", power, 0.0, float(np.finfo(dtype).max), low_open=True)
    if jnp.ndim(power) == 1:
        power = jnp.asarray(power)[:, None, None]
    C = complex_normal(key, shape, dtype=dtype)
    return C * jnp.sqrt(power) / jnp.linalg.norm(C, axis=(1, 2), keepdims=True)


def uniform_weights(n_devices: int, n_tasks: int, *, dtype=jnp.float32):
    """``W_k = I / K`` for every device (plain averaging of every task). ``[K, I, I]``."""
    n_devices, n_tasks = check_int("n_devices", n_devices), check_int("n_tasks", n_tasks)
    return jnp.broadcast_to(jnp.eye(n_tasks, dtype=dtype) / n_devices, (n_devices, n_tasks, n_tasks))


def dirichlet_weights(key, n_devices: int, n_tasks: int, *, alpha: float = 0.4, n_classes: int = 10, dtype=jnp.float32):
    """FedAvg aggregation weights of a Dirichlet(alpha) label-skew data split: ``W_k = w_k I`` with
    ``w_k = n_k / n`` (``[K, I, I]``, the weights sum to one over devices).

    The rule of :func:`isac_jax.fl.dirichlet_partition` for ``n_classes`` equally large classes: each
    class is shared over the devices with proportions ``s_c ~ Dirichlet(alpha 1_K)``, so the data share
    of device k is ``w_k = (1/C) sum_c s_ck`` (mean ``1/K``, variance
    ``(1/K)(1 - 1/K) / ((K alpha + 1) C)``). Jit-able, a pure function of ``key``."""
    n_devices, n_tasks = check_int("n_devices", n_devices), check_int("n_tasks", n_tasks)
    n_classes = check_int("n_classes", n_classes)
    check_range("alpha", alpha, 0.0, None, low_open=True)
    shares = jax.random.dirichlet(key, jnp.full((n_devices,), alpha, dtype), (n_classes,))     # [C, K]
    w = jnp.mean(shares, axis=0)                                                             # [K]
    return w[:, None, None] * jnp.eye(n_tasks, dtype=dtype)[None]
