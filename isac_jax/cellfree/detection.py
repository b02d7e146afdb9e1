"""Per-AP detection rules: how many paths a receive AP reports, with a stated false-alarm rule.

The classical schemes of Paper B (Sec. B.V.A) report at most ``Q`` paths per receive AP; the rules
that decide which of them are detections live here: :func:`mdl_order` (the MDL model order of the
spatial covariance, the schemes' default) and :func:`beam_cfar` (a cell-averaging CFAR over the
orthogonal receive beams, with an exact false-alarm probability per beam); see
:func:`isac_jax.cellfree.estimators._detect_angles`.

:func:`ca_cfar`, on a range-Doppler map, is not used by the schemes (along a receive ray the
along-ray cells are not independent). It compares every cell of
a square-law power map with ``alpha`` times the mean of its training cells (a square ring around a
guard region, both in cells, the map taken as periodic in both axes as a DFT map is). For noise
cells that are i.i.d. exponential (complex Gaussian noise through a DFT, square law) with ``N``
training cells, ``alpha = N (P_fa^{-1/N} - 1)`` gives the false-alarm probability ``P_fa`` per cell
exactly, whatever the noise level (the classical CA-CFAR result).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import scipy.stats

from ..core.arrays import ula_response
from ..core.validate import is_concrete


def ca_cfar_factor(n_training: int, pfa: float) -> float:
    """``alpha = N (P_fa^{-1/N} - 1)``: the CA-CFAR threshold factor for ``N`` exponential training cells."""
    if int(n_training) != n_training or n_training < 1:
        raise ValueError(f"n_training must be a positive integer, got {n_training!r}")
    if not 0.0 < pfa < 1.0:
        raise ValueError(f"pfa must be in (0, 1), got {pfa!r}")
    return float(n_training * (pfa ** (-1.0 / n_training) - 1.0))


def ca_cfar(power, *, guard: int = 1, train: int = 2, pfa: float = 1e-4):
    """Cell-averaging CFAR over the last two axes of a power map.

    Args:
        power: square-law map ``[..., R, D]`` (range x Doppler cells, >= 0).
        guard: guard cells on each side of the cell under test (both axes).
        train: training cells beyond the guard on each side (both axes); the training ring holds
            ``N = (2 (guard + train) + 1)^2 - (2 guard + 1)^2`` cells.
        pfa: design false-alarm probability per cell, in (0, 1).

    Returns:
        ``(detections, threshold)``: a boolean map ``[..., R, D]`` (``power > threshold``) and the
        threshold ``alpha * mean(training cells)`` in the units of ``power``.
    """
    if int(guard) != guard or guard < 0 or int(train) != train or train < 1:
        raise ValueError(f"guard must be an integer >= 0 and train an integer >= 1, got {guard!r}, {train!r}")
    power = jnp.asarray(power)
    if power.ndim < 2:
        raise ValueError(f"power must have shape [..., R, D], got {list(power.shape)}")
    outer = guard + train
    R, D = power.shape[-2:]
    if 2 * outer + 1 > min(R, D):
        raise ValueError(f"the CFAR window (2 (guard + train) + 1 = {2 * outer + 1} cells) must fit the map "
                         f"{R} x {D}")
    if is_concrete(power) and bool(jnp.any(power < 0)):
        raise ValueError("power must be a square-law map (>= 0)")
    n_training = (2 * outer + 1) ** 2 - (2 * guard + 1) ** 2
    # Ring kernel on the periodic grid, applied by circular convolution (FFT).
    off = jnp.arange(-outer, outer + 1)
    ring = jnp.maximum(jnp.abs(off)[:, None], jnp.abs(off)[None, :]) > guard                    # [W, W]
    kernel = jnp.zeros((R, D), power.dtype).at[off[:, None] % R, off[None, :] % D].set(ring.astype(power.dtype))
    spectrum = jnp.conj(jnp.fft.fft2(kernel)).reshape((1,) * (power.ndim - 2) + (R, D))
    sums = jnp.real(jnp.fft.ifft2(jnp.fft.fft2(power) * spectrum))
    threshold = ca_cfar_factor(n_training, pfa) * sums / n_training
    return power > threshold, threshold


def mdl_order(R, n_snapshots, max_order):
    """Model order of the spatial covariance ``R[M_r, M_r]`` by MDL (Wax & Kailath 1985), capped at
    ``max_order``: ``k_hat = argmin_k -K (M_r - k) log(g_k / a_k) + k (2 M_r - k) log(K) / 2`` over
    ``k = 0 .. max_order``, with ``g_k``, ``a_k`` the geometric and arithmetic means of the ``M_r - k``
    smallest eigenvalues and ``K = n_snapshots``. Returns an int32 scalar."""
    Mr = R.shape[0]
    lam = jnp.maximum(jnp.linalg.eigvalsh(R), jnp.finfo(R.real.dtype).tiny)               # ascending
    n_noise = Mr - jnp.arange(max_order + 1)                                               # [k+1]
    csum = jnp.concatenate([jnp.zeros(1, lam.dtype), jnp.cumsum(lam)])
    clog = jnp.concatenate([jnp.zeros(1, lam.dtype), jnp.cumsum(jnp.log(lam))])
    log_ratio = clog[n_noise] / n_noise - jnp.log(csum[n_noise] / n_noise)                  # log(g/a) <= 0
    k = jnp.arange(max_order + 1, dtype=lam.dtype)
    mdl = -n_snapshots * n_noise * log_ratio + 0.5 * k * (2 * Mr - k) * math.log(n_snapshots)
    return jnp.argmin(mdl).astype(jnp.int32)


def beam_cfar_factor(n_snapshots: int, n_training: int, pfa: float) -> float:
    """Threshold factor of :func:`beam_cfar`: the upper ``pfa`` quantile of ``F(2K, 2NK)``, the law
    of one orthogonal beam's power over the mean of ``N`` others (each ``Gamma(K)`` in white noise)."""
    if not 0.0 < pfa < 1.0:
        raise ValueError(f"pfa must be in (0, 1), got {pfa!r}")
    return float(scipy.stats.f.isf(pfa, 2 * n_snapshots, 2 * n_training * n_snapshots))


def beam_cfar(R, n_snapshots: int, *, guard: int = 1, pfa: float = 1e-3):
    """Cell-averaging CFAR over the ``M_r`` orthogonal receive beams of a spatial covariance.

    The beams point at ``cos_k = -1 + 2 k / M_r`` (``k = 0 .. M_r - 1``; the half-wavelength ULA's
    response is periodic in ``cos`` with period 2, so the beams form a ring). In white noise of any
    level the beam powers ``P_k = a_k^H R a_k`` (unit-norm ``a_k``, ``K`` snapshots) are i.i.d.
    ``sigma^2 Gamma(K, 1) / K``, so ``P_k / mean(training)`` with the ``N = M_r - 1 - 2 guard`` beams
    outside ``guard`` beams of ``k`` as training follows ``F(2K, 2NK)`` exactly: the threshold
    ``alpha`` = its upper ``pfa`` quantile (:func:`beam_cfar_factor`) gives the false-alarm
    probability ``pfa`` per beam.

    Args:
        R: spatial covariance ``[M_r, M_r]`` (``(1/K) sum y y^H``).
        n_snapshots: ``K``, the snapshots averaged in ``R`` (static).
        guard: beams on each side of the beam under test left out of its training set.
        pfa: design false-alarm probability per beam, in (0, 1).

    Returns:
        ``(detections[M_r] bool, beam_cos[M_r])``.
    """
    Mr = R.shape[0]
    n_train = Mr - 1 - 2 * guard
    if int(guard) != guard or guard < 0 or n_train < 1:
        raise ValueError(f"guard must be an integer in [0, (M_r - 2) / 2] for M_r = {Mr}, got {guard!r}")
    alpha = beam_cfar_factor(n_snapshots, n_train, pfa)
    cos = -1.0 + 2.0 * jnp.arange(Mr, dtype=R.real.dtype) / Mr
    a = ula_response(cos, Mr, normalise=True)                                               # [Mr, Mr]
    power = jnp.real(jnp.einsum("ga,ab,gb->g", jnp.conj(a), R, a))
    dist = jnp.abs(jnp.arange(Mr)[:, None] - jnp.arange(Mr)[None, :])
    train = jnp.minimum(dist, Mr - dist) > guard                                            # [Mr, Mr] ring
    noise = (train.astype(power.dtype) @ power) / n_train
    return power > alpha * noise, cos
