"""Orthogonal unit-modulus pulses of Paper A (A.2): ``|p_k[t]| = 1``, ``sum_t p_k^*[t] p_l[t] = 0``.

Both families are orthogonal over the whole frame of T intervals, so the matched filter in the
sufficient statistic suppresses the other devices' *mean* contribution (Lemma 1).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .validate import check_int, check_memory


def _complex_dtype():
    return jnp.result_type(jnp.complex64, jnp.float64)  # complex128 under x64, else complex64


def dft_pulses(K: int, T: int):
    """DFT pulses ``p_k[t] = exp(j 2 pi k t / T)``, ``k < K``, ``t < T``. Needs ``T >= K``.

    Output: complex ``[K, T]``.
    """
    K = check_int("K", K)
    T = check_int("T", T)
    if T < K:
        raise ValueError(f"T must be >= K for DFT pulses (K orthogonal pulses of length T), got T={T} < K={K}")
    check_memory(3 * 16 * K * T, what=f"dft_pulses(K={K}, T={T})")     # complex128 phases, exp and the result
    k = np.arange(K)[:, None]
    t = np.arange(T)[None, :]
    return jnp.asarray(np.exp(2j * np.pi * k * t / T), dtype=_complex_dtype())


def walsh_hadamard_pulses(K: int, T: int):
    """Rows ``0..K-1`` of the Sylvester-Hadamard matrix of order T (entries +-1).

    Needs ``T`` a power of two with ``T >= K``. Output: complex ``[K, T]``.
    """
    K = check_int("K", K)
    T = check_int("T", T)
    if T & (T - 1):
        raise ValueError(f"T must be a power of two for Walsh-Hadamard pulses, got T={T}")
    if T < K:
        raise ValueError(f"T must be >= K for Walsh-Hadamard pulses, got T={T} < K={K}")
    check_memory(2 * 8 * T * T, what=f"walsh_hadamard_pulses(K={K}, T={T})")   # the order-T matrix, built in float64
    h = np.ones((1, 1))
    while h.shape[0] < T:
        h = np.block([[h, h], [h, -h]])
    return jnp.asarray(h[:K], dtype=_complex_dtype())
