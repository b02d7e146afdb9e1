"""Shape and range checks shared by the Paper A entry points.

Shapes are checked always (they are static under ``jit``); finiteness and ranges only on concrete
values, i.e. at the Python boundary (``core.validate``'s tracer rule).
"""

from __future__ import annotations

import numpy as np

from ..core.validate import check_finite, check_positive, check_shape, is_concrete


def check_ota_shapes(H, C, W, pulses, Mrx=None):
    """Validate ``H[K,N,M]``, ``C[K,M,I]``, ``W[K,I,I]``, ``pulses[K,T]`` and optional ``Mrx[T,N,I]``.

    Returns ``(K, N, M, I, T)``.
    """
    if np.ndim(H) != 3:
        raise ValueError(f"H must have shape [K, N, M], got {list(np.shape(H))}")
    K, N, M = np.shape(H)
    if np.ndim(C) != 3:
        raise ValueError(f"C must have shape [K, M, I], got {list(np.shape(C))}")
    I = np.shape(C)[2]
    check_shape("C", C, (K, M, I))
    check_shape("W", W, (K, I, I))
    if np.ndim(pulses) != 2 or np.shape(pulses)[0] != K:
        raise ValueError(f"pulses must have shape [K={K}, T], got {list(np.shape(pulses))}")
    T = np.shape(pulses)[1]
    if Mrx is not None:
        check_shape("Mrx", Mrx, (T, N, I))
    for name, arr in (("H", H), ("C", C), ("W", W), ("pulses", pulses), ("Mrx", Mrx)):
        if arr is not None:
            check_finite(name, arr)
    return K, N, M, I, T


def check_sensing_inputs(target, devices, C, echo_noise_var, T, P):
    """Validate the arguments of the Paper A sensing functions; returns ``(K, M, I)``."""
    check_shape("target", target, (3,))
    if np.ndim(devices) != 2 or np.shape(devices)[1] != 3:
        raise ValueError(f"devices must have shape [K, 3], got {list(np.shape(devices))}")
    K = np.shape(devices)[0]
    if np.ndim(C) != 3 or np.shape(C)[0] != K:
        raise ValueError(f"C must have shape [K={K}, M, I], got {list(np.shape(C))}")
    _, M, I = np.shape(C)
    if np.ndim(echo_noise_var) not in (0, 1) or (np.ndim(echo_noise_var) == 1 and np.shape(echo_noise_var)[0] != K):
        raise ValueError(f"echo_noise_var must be a scalar or have shape [K={K}], got {list(np.shape(echo_noise_var))}")
    check_finite("target", target, allow_complex=False)
    check_finite("devices", devices, allow_complex=False)
    check_finite("C", C)
    check_positive("echo_noise_var", echo_noise_var)
    check_positive("T", T)
    check_positive("P", P)
    if is_concrete((target, devices)):
        d = np.linalg.norm(np.asarray(devices) - np.asarray(target)[None, :], axis=-1)
        if np.any(d < 1e-3):
            raise ValueError("target must not coincide with a device (distance to every device must be >= 1 mm)")
    return K, M, I
