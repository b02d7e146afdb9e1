"""Target echoes and sufficient statistics at the devices (Paper A, Sec. II.D and III.A).

Array response (A.9) with half-wavelength spacing,
``a_k(v) = alpha_k [1, e^{-j pi sin th_k}, ..., e^{-j pi (M-1) sin th_k}]``,
``sin th_k = (l_z - l_z^k)/||v - v_k||`` and, per the SPEC decision,
``alpha_k = alpha0 / ||v - v_k||^gamma`` with ``gamma = 1`` by default (radar equation: the round
trip ``a_k a_l^T`` then decays as d^-2 in amplitude, d^-4 in power); ``gamma = 2`` is (A.9) literally.

Echo (A.8): ``u_k[t] = sum_l a_k(v) a_l(v)^T x_l[t] + nu_k[t]``, ``nu_k ~ CN(0, varsigma_k^2 I_M)``.
Sufficient statistic: ``Xi_k = (1/(P T)) sum_t u_k[t] x_k[t]^H`` computed from the simulated
signals, so the finite-T residual interference of the other devices is included. The large-T model
(A.11) is exposed separately as :func:`large_t_statistics`.

Whitening (A.12), SPEC decision: ``C_k C_k^H`` has rank <= I < M, so the Moore-Penrose inverse
square root is used: ``Xi_hat_k = (sqrt(PT)/varsigma_k) Xi_k (C_k C_k^H / P)^{+1/2}``. Its mean is
``A_hat_k(v) = (sqrt(PT)/varsigma_k) a_k a_k^T R_k (C_k C_k^H/P)^{+1/2}`` where ``R_k`` is the
correlation the device assumes for its own signal: the model value ``C_k C_k^H / P`` (giving the
SPEC's ``(C_k C_k^H/P)^{1/2}``) or, since a device knows what it sent, the sample correlation
``(1/PT) sum_t x_k x_k^H`` (removes the finite-T self term, leaving only cross-device interference).
The whitened noise is unit-variance complex Gaussian on the range of ``C_k``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..core.linalg import gram_power
from ..core.random import complex_normal
from ..core.validate import check_finite, check_positive
from ._checks import check_sensing_inputs
from .aggregation import transmit_signals


def array_response(target, device, n_antennas: int, *, alpha0=1.0, gamma=1.0):
    """(A.9) for one device. ``target[3]``, ``device[3]`` in metres. Output complex ``[M]``."""
    diff = jnp.asarray(target) - jnp.asarray(device)
    dist = jnp.sqrt(jnp.sum(diff**2))
    sin_theta = diff[2] / dist
    m = jnp.arange(n_antennas, dtype=dist.dtype)
    return (alpha0 / dist**gamma) * jnp.exp(-1j * jnp.pi * m * sin_theta)


def array_responses(target, devices, n_antennas: int, *, alpha0=1.0, gamma=1.0):
    """(A.9) for every device. ``devices[K,3]``. Output complex ``[K, M]``."""
    return jax.vmap(lambda d: array_response(target, d, n_antennas, alpha0=alpha0, gamma=gamma))(devices)


def round_trip(target, devices, n_antennas: int, *, alpha0=1.0, gamma=1.0):
    """``a_k(v) a_k(v)^T`` for every device. Output complex ``[K, M, M]``."""
    a = array_responses(target, devices, n_antennas, alpha0=alpha0, gamma=gamma)
    return a[:, :, None] * a[:, None, :]


def simulate_echoes(key, target, devices, x, echo_noise_var, *, alpha0=1.0, gamma=1.0, orthogonal=False):
    """(A.8) echoes at every device for a whole frame.

    ``x[K,T,M]`` transmit signals, ``echo_noise_var`` scalar or ``[K]`` (watts).
    ``orthogonal=True`` keeps only each device's own reflection ``a_k a_k^T x_k[t]`` (ideal orthogonal
    transmissions, e.g. CollabSenseFed's Setup I). Output ``u[K,T,M]``.
    """
    if jnp.ndim(x) != 3 or jnp.ndim(devices) != 2 or jnp.shape(x)[0] != jnp.shape(devices)[0]:
        raise ValueError(f"x must have shape [K, T, M] with K = len(devices), got x {list(jnp.shape(x))} and "
                         f"devices {list(jnp.shape(devices))}")
    K, T, M = x.shape
    check_finite("target", target, allow_complex=False)
    check_finite("devices", devices, allow_complex=False)
    check_finite("x", x)
    check_positive("echo_noise_var", echo_noise_var, allow_zero=True)
    a = array_responses(target, devices, M, alpha0=alpha0, gamma=gamma)  # [K, M]
    if orthogonal:
        b = jnp.einsum("km,ktm->kt", a, x)                               # a_k^T x_k[t]  [K, T]
    else:
        b = jnp.broadcast_to(jnp.einsum("lm,ltm->t", a, x), (K, T))      # sum_l a_l^T x_l[t]
    var = jnp.broadcast_to(jnp.asarray(echo_noise_var), (K,))[:, None, None]
    noise = complex_normal(key, (K, T, M), var=var, dtype=jnp.real(x).dtype)
    return a[:, None, :] * b[:, :, None] + noise


def simulate_statistics(key, target, devices, C, g, pulses, echo_noise_var, P, *, alpha0=1.0, gamma=1.0):
    """``Xi[K,M,M]`` drawn from its exact law given the symbols, without the T echo samples.

    For ``x = transmit_signals(C, g, pulses)`` with unimodular pulses (DFT, Walsh-Hadamard) this has
    the law of ``sufficient_statistics(simulate_echoes(key, ...), x, P)``: the signal part is
    ``a_k sum_t b[t] x_k[t]^H / (P T)`` and the noise ``sum_t nu_k[t] x_k[t]^H = (sum_t nu'_k[t] g_k[t]^T) C_k^H``
    with ``nu' = nu conj(p)`` (same law), whose rows are ``CN(0, varsigma_k G_k)``, ``G_k = sum_t g_k[t]
    g_k[t]^T``: ``K M I`` complex draws instead of ``K T M``. ``g[K,T,I]`` real.
    """
    if jnp.ndim(g) != 3:
        raise ValueError(f"g must have shape [K, T, I], got {list(jnp.shape(g))}")
    K, T, I = g.shape
    _, M, _ = check_sensing_inputs(target, devices, C, echo_noise_var, T, P)
    x = transmit_signals(C, g, pulses)
    a = array_responses(target, devices, M, alpha0=alpha0, gamma=gamma)            # [K, M]
    b = jnp.einsum("lm,ltm->t", a, x)                                              # sum_l a_l^T x_l[t]
    signal = a[:, :, None] * jnp.einsum("t,ktn->kn", b, jnp.conj(x))[:, None, :]
    G = jnp.einsum("kti,ktj->kij", g, g)                                            # [K, I, I] real
    var = jnp.broadcast_to(jnp.asarray(echo_noise_var), (K,))[:, None, None]
    zeta = complex_normal(key, (K, M, I), var=var, dtype=jnp.real(C).dtype)
    noise = jnp.einsum("kmi,kji,knj->kmn", zeta, jnp.linalg.cholesky(G).astype(C.dtype), jnp.conj(C))
    return (signal + noise) / (P * T)


def sufficient_statistics(u, x, P):
    """``Xi_k = (1/(P T)) sum_t u_k[t] x_k[t]^H``. ``u, x: [K,T,M]``. Output ``[K, M, M]``."""
    T = x.shape[1]
    return jnp.einsum("ktm,ktn->kmn", u, jnp.conj(x)) / (P * T)


def sample_correlation(x, P):
    """``R_kk = (1/(P T)) sum_t x_k[t] x_k[t]^H``. Output ``[K, M, M]``."""
    return sufficient_statistics(x, x, P)


def _whitening_scale(echo_noise_var, T, P, K):
    return jnp.sqrt(P * T / jnp.broadcast_to(jnp.asarray(echo_noise_var), (K,)))


def whiten_statistics(Xi, C, echo_noise_var, T, P):
    """(A.12) with the Moore-Penrose inverse square root. ``Xi[K,M,M]``, ``C[K,M,I]``. Output ``[K,M,M]``."""
    scale = _whitening_scale(echo_noise_var, T, P, C.shape[0])
    return scale[:, None, None] * jnp.einsum("kmn,knp->kmp", Xi, gram_power(C, -0.5, scale=P))


def whitened_mean(target, devices, C, echo_noise_var, T, P, *, alpha0=1.0, gamma=1.0, correlation=None):
    """Mean model ``A_hat_k(v)`` of the whitened statistic. Output complex ``[K, M, M]``.

    ``correlation[K,M,M]``: the device-side correlation ``R_k`` (default ``C_k C_k^H / P``).
    """
    K, M, _ = check_sensing_inputs(target, devices, C, echo_noise_var, T, P)
    aat = round_trip(target, devices, M, alpha0=alpha0, gamma=gamma)
    if correlation is None:
        right = gram_power(C, 0.5, scale=P)                     # R R^{+1/2} = R^{1/2}
    else:
        right = jnp.einsum("kmn,knp->kmp", correlation, gram_power(C, -0.5, scale=P))
    scale = _whitening_scale(echo_noise_var, T, P, K)
    return scale[:, None, None] * jnp.einsum("kmn,knp->kmp", aat, right)


def large_t_statistics(key, target, devices, C, echo_noise_var, T, P, *, alpha0=1.0, gamma=1.0):
    """Draw ``Xi_k`` from the large-T approximation (A.11) (an explicitly named approximation):

    ``Xi_k ~ a_k a_k^T C_k C_k^H / P + (varsigma_k / sqrt(P T)) Z_k (C_k C_k^H / P)^{1/2}``,
    ``Z_k`` i.i.d. CN(0, 1) entries. Output ``[K, M, M]``.
    """
    K, M, _ = check_sensing_inputs(target, devices, C, echo_noise_var, T, P)
    aat = round_trip(target, devices, M, alpha0=alpha0, gamma=gamma)
    R = jnp.einsum("kmi,kni->kmn", C, jnp.conj(C)) / P
    Z = complex_normal(key, (K, M, M), dtype=jnp.real(C).dtype)
    std = 1.0 / _whitening_scale(echo_noise_var, T, P, K)
    return (jnp.einsum("kmn,knp->kmp", aat, R)
            + std[:, None, None] * jnp.einsum("kmn,knp->kmp", Z, gram_power(C, 0.5, scale=P)))
