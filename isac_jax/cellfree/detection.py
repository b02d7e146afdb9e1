"""Per-AP detection with a stated false-alarm rule: cell-averaging CFAR on a range-Doppler map.

The classical schemes of Paper B (Sec. B.V.A) report a fixed number ``Q`` of paths per receive AP;
this module is the detector that decides how many there are. :func:`ca_cfar` compares every cell of
a square-law power map with ``alpha`` times the mean of its training cells (a square ring around a
guard region, both in cells, the map taken as periodic in both axes as a DFT map is). For noise
cells that are i.i.d. exponential (complex Gaussian noise through a DFT, square law) with ``N``
training cells, ``alpha = N (P_fa^{-1/N} - 1)`` gives the false-alarm probability ``P_fa`` per cell
exactly, whatever the noise level (the classical CA-CFAR result).
"""

from __future__ import annotations

import jax.numpy as jnp

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
