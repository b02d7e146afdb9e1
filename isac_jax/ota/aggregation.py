"""Over-the-air multi-task aggregation (Paper A, Sec. II.A-C).

Shapes: ``H[K,N,M]`` device->PS channels, ``C[K,M,I]`` precoders, ``W[K,I,I]`` diagonal
aggregation weights, ``pulses[K,T]``, ``Mrx[T,N,I]`` receive beamformers, ``g[K,T,I]`` real task
parameters (zero mean, unit variance, independent), noise variance ``sigma^2`` (watts).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_factor, cho_solve

from ..core.random import complex_normal
from ..core.validate import check_int, check_memory, check_positive, nbytes
from ._checks import check_ota_shapes


class OtaFrame(NamedTuple):
    """One simulated frame. ``g[K,T,I]``, ``x[K,T,M]``, ``y[T,N]``, ``r[T,I]``, ``target[T,I]``."""

    g: jax.Array
    x: jax.Array
    y: jax.Array
    r: jax.Array
    target: jax.Array


def transmit_signals(C, g, pulses):
    """(A.1)-(A.2): ``x_k[t] = C_k g_k[t] p_k[t]``. Output complex ``[K, T, M]``."""
    s = jnp.einsum("kmi,kti->ktm", C, g.astype(C.dtype))  # [K, T, M]
    return s * pulses[:, :, None]


def simulate_ota_frame(key, H, C, W, pulses, noise_var, Mrx, g=None) -> OtaFrame:
    """Simulate (A.3)-(A.5) for one frame of T intervals.

    ``y[t] = sum_k H_k x_k[t] + z[t]``, ``z ~ CN(0, noise_var I_N)``, ``r[t] = Mrx[t]^H y[t]``,
    target aggregate ``gbar[t] = sum_k W_k g_k[t]``. When ``g`` is None it is drawn i.i.d. N(0, 1).
    Batch over frames with ``jax.vmap`` over ``key`` (and ``g``).
    """
    K, N, M, I, T = check_ota_shapes(H, C, W, pulses, Mrx)
    check_positive("noise_var", noise_var, allow_zero=True)
    k_g, k_z = jax.random.split(key)
    real = jnp.real(C).dtype
    if g is None:
        g = jax.random.normal(k_g, (K, T, I), dtype=real)
    x = transmit_signals(C, g, pulses)
    z = complex_normal(k_z, (T, N), var=noise_var, dtype=real)
    y = jnp.einsum("knm,ktm->tn", H, x) + z                    # (A.3)   [T, N]
    r = jnp.einsum("tni,tn->ti", jnp.conj(Mrx), y)             # (A.5a)  [T, I]
    target = jnp.einsum("kii,kti->ti", W, g)                   # gbar[t] [T, I]
    return OtaFrame(g=g, x=x, y=y, r=r, target=target)


def aggregation_mse_per_interval(Mrx, H, C, W, pulses, noise_var):
    """(A.6): ``MSE_t = sum_k ||M[t]^H H_k C_k p_k[t] - W_k||_F^2 + sigma^2 ||M[t]||_F^2``. Output ``[T]``."""
    check_ota_shapes(H, C, W, pulses, Mrx)
    check_positive("noise_var", noise_var, allow_zero=True)
    G = jnp.einsum("knm,kmi->kni", H, C)                                    # [K, N, I]
    E = jnp.einsum("tni,knj,kt->tkij", jnp.conj(Mrx), G, pulses) - W[None]  # [T, K, I, I]
    return (jnp.sum(jnp.abs(E) ** 2, axis=(1, 2, 3))
            + noise_var * jnp.sum(jnp.abs(Mrx) ** 2, axis=(1, 2)))


def aggregation_mse(Mrx, H, C, W, pulses, noise_var):
    """(A.7): time-averaged aggregation MSE, ``mean_t MSE_t`` (scalar, same units as ``g^2``)."""
    return jnp.mean(aggregation_mse_per_interval(Mrx, H, C, W, pulses, noise_var))


def optimal_receiver(H, C, W, pulses, noise_var):
    """(A.32): ``M*[t] = (sum_k H_k C_k C_k^H H_k^H + sigma^2 I)^{-1} sum_k p_k[t] H_k C_k W_k^H``.

    All T right-hand sides share one Cholesky factorisation (one solve, no inverse).
    Needs ``noise_var > 0`` unless the Gram matrix is itself nonsingular. Output ``[T, N, I]``.
    """
    K, N, M, I, T = check_ota_shapes(H, C, W, pulses)
    check_positive("noise_var", noise_var, allow_zero=True)
    G = jnp.einsum("knm,kmi->kni", H, C)                                    # [K, N, I]
    A = jnp.einsum("kni,kmi->nm", G, jnp.conj(G)) + noise_var * jnp.eye(N, dtype=G.dtype)
    B = jnp.einsum("kt,kni,kji->tnj", pulses, G, jnp.conj(W).astype(G.dtype))  # [T, N, I]
    rhs = jnp.transpose(B, (1, 0, 2)).reshape(N, T * I)
    sol = cho_solve(cho_factor(A, lower=True), rhs)
    return jnp.transpose(sol.reshape(N, T, I), (1, 0, 2))


def effective_gains(H, C, pulses, Mrx):
    """End-to-end gains ``A_k[t] = M[t]^H H_k C_k p_k[t]``: ``r[t] = sum_k A_k[t] g_k[t] + M[t]^H z[t]``.

    Output complex ``[T, K, I, I]``. With them a long stream of real symbols is aggregated without
    forming the N-antenna signal (same distribution as :func:`simulate_ota_frame`).
    """
    check_ota_shapes(H, C, jnp.zeros((C.shape[0], C.shape[2], C.shape[2]), jnp.real(C).dtype), pulses, Mrx)
    G = jnp.einsum("knm,kmi->kni", H, C)                                   # [K, N, I]
    return jnp.einsum("tnj,kni,kt->tkji", jnp.conj(Mrx), G, pulses)


def receiver_noise(key, Mrx, noise_var, n_frames: int):
    """``M[t]^H z[t]`` for ``n_frames`` frames, ``z ~ CN(0, noise_var I_N)``. Output complex ``[F, T, I]``."""
    if jnp.ndim(Mrx) != 3:
        raise ValueError(f"Mrx must have shape [T, N, I], got {list(jnp.shape(Mrx))}")
    T, N, _ = Mrx.shape
    n_frames = check_int("n_frames", n_frames)
    check_positive("noise_var", noise_var, allow_zero=True)
    real = jnp.real(Mrx).dtype
    check_memory(nbytes((n_frames, T, N), jnp.result_type(real, jnp.complex64)),
                 what=f"receiver_noise(n_frames={n_frames}) of [T={T}, N={N}] frames")
    z = complex_normal(key, (n_frames, T, N), var=noise_var, dtype=real)
    return jnp.einsum("tni,ftn->fti", jnp.conj(Mrx), z)


def aggregate_stream(key, g, gains, Mrx, noise_var):
    """OTA aggregation of ``F`` frames of real symbols ``g[F, T, K, I]``: ``r`` complex ``[F, T, I]``.

    ``r[f, t] = sum_k A_k[t] g_k[f, t] + M[t]^H z[f, t]`` with ``gains = effective_gains(...)``; the
    recovered real parameters are ``Re r`` (A.5). Channels and beamformers are fixed over the frames.
    """
    noise = receiver_noise(key, Mrx, noise_var, g.shape[0])
    return jnp.einsum("tkij,ftkj->fti", gains, g.astype(gains.dtype)) + noise


def debias_receiver(H, C, W, pulses, Mrx, *, floor: float = 1e-3):
    """Rescale each receive beamformer column so the aggregate is unbiased on average over devices.

    The MMSE receiver (A.32) shrinks: for symbols common to all devices the output of task j at
    interval t is ``beta_j[t] = sum_k Re A_k[t]_jj / sum_k W_k,jj`` times the target (about 0.5 with
    K I > N). FEEL then trains with an effectively smaller learning rate and the sensing gradient is
    scaled down; dividing column j of ``M[t]`` by ``beta_j[t]`` (clipped below at ``floor``) removes
    that. Output ``Mrx[T, N, I]``.
    """
    gains = effective_gains(H, C, pulses, Mrx)                                   # [T, K, I, I]
    beta = jnp.sum(jnp.real(jnp.diagonal(gains, axis1=2, axis2=3)), axis=1)      # [T, I]
    beta = beta / jnp.sum(jnp.diagonal(W, axis1=1, axis2=2), axis=0, keepdims=True)   # / sum_k W_k,jj
    return Mrx / jnp.maximum(beta, floor)[:, None, :].astype(Mrx.real.dtype)
