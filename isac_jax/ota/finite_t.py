"""Finite-T bound: the CRB of the statistics the devices actually form, cross-device leakage included.

Device k's statistic ``Xi_k = (1/(P T)) sum_t u_k[t] x_k[t]^H`` holds, besides its own echo
``a_k a_k^T R_k`` (``R_k = (1/(P T)) sum_t x_k x_k^H``, its sample correlation, known to it) and the
noise, the *leakage* ``a_k sum_{l != k} a_l^T S_lk / (P T)`` with ``S_lk = sum_t x_l[t] x_k[t]^H``.
(A.11) drops it as ``T -> inf``, but it decays like ``1/sqrt(T)``, the same rate as the noise, so
relative to the noise it stays. Treat it as Gaussian interference with its exact second moments,
for devices sending independent, zero-mean signals of correlation ``P R_l`` and pulses with
``sum_t p_l[t]^2 conj(p_k[t])^2 = 0`` (DFT pulses with ``2 (l - k) != 0 mod T``). For the whitened
statistic ``Y_k = Xi_k Omega_k``, ``Omega_k = sqrt(P T / varsigma_k) (C_k C_k^H / P)^{+1/2}`` (A.12):

* mean ``e_k = a_k r_k^T``, ``r_k = Omega_k^T R_k^T a_k`` (the devices' model);
* covariance within device k:
  ``E[y_kmn conj(y_km'n')] = (varsigma_k/(P T) delta_mm' + beta_k/T a_km conj(a_km')) Q_kn n'``,
  ``Q_k = conj(Omega_k^H R_k Omega_k)``, ``beta_k = sum_{l != k} a_l^T R_l conj(a_l)``;
* no covariance across devices, but a pseudo-covariance: ``S_kl = S_lk^H``, so
  ``E[y_kmn y_lm'n'] = e_kmn e_lm'n' / T`` for ``k != l``.

The leakage-to-noise ratio ``beta_k P / varsigma_k`` does not depend on T: the resulting bound lies a
T-independent factor above CRB(v) (:func:`isac_jax.ota.crb`), which it equals when there is no
leakage (one device, or orthogonal echoes). The FIM is the real Gaussian Slepian-Bangs form
(:func:`~isac_jax.core.fisher.fim_real_gaussian`), both terms by autodiff. Because it only uses
second moments, :func:`least_squares_mse` (the sandwich covariance of the devices' unweighted
least-squares / ML localiser, which treats the leakage as white noise) is the error that localiser
attains asymptotically whatever the leakage's distribution, and it is >= ``finite_t_crb``.
Tested against a NumPy reference built from the random matrices themselves and against Monte
Carlo statistics of simulated echoes (``tests/test_finite_t.py``).

Its independence assumption does not hold for what CollabSenseFed radiates (gradient symbols, model
updates): :func:`frame_conditional_information` is the bound that does, the Fisher information of the
statistics given the realised streams, with the leakage a known term of the mean
(``docs/modelling/paper-a-evidence.md``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..core.fisher import crb_trace, fim_real_gaussian, least_squares_covariance
from ..core.linalg import gram_power, hermitian_sqrt
from ._checks import check_sensing_inputs
from .echo import array_responses


def _whitening(C_w, echo_noise_var, T, P):
    """``Omega_k = sqrt(P T / varsigma_k) (C_w C_w^H / P)^{+1/2}``. Output ``[K, M, M]``."""
    K = C_w.shape[0]
    scale = jnp.sqrt(P * T / jnp.broadcast_to(jnp.asarray(echo_noise_var), (K,)))
    # A sample correlation of rank I < M has round-off eigenvalues (1e-17 relative) in its null space:
    # drop singular values below sqrt(eps) rather than invert them.
    rcond = max(1e-7, 10.0 * float(np.sqrt(np.finfo(jnp.real(C_w).dtype).eps)))
    return scale[:, None, None] * gram_power(C_w, -0.5, scale=P, rcond=rcond)


def whitened_statistics_model(devices, R, C_w, echo_noise_var, T, P, *, alpha0=1.0, gamma=1.0, leakage=True):
    """``(mean_fn, cov_fn)``: the mean ``[2 K M M]`` and covariance ``[2 K M M, 2 K M M]`` of the real
    composite ``[Re vec Y; Im vec Y]`` of all whitened statistics as functions of the target ``v[3]``.

    ``R[K, M, M]`` the devices' correlations, ``C_w[K, M, *]`` the whitening precoders (both validated
    by the public functions). Directions outside the whitened range get unit-scale noise.
    """
    K, M, _ = R.shape
    var = jnp.broadcast_to(jnp.asarray(echo_noise_var), (K,))
    Omega = _whitening(C_w, echo_noise_var, T, P)
    Q = jnp.conj(jnp.einsum("kpm,kpq,kqn->kmn", jnp.conj(Omega), R, Omega))          # [K, M, M]
    Qn = (var / (P * T))[:, None, None] * Q
    # Directions outside the whitened range hold no signal, leakage or noise; unit-scale noise there
    # keeps the covariance invertible and adds no information (they carry nothing that depends on v).
    w, U = jnp.linalg.eigh(Qn)
    top = jnp.max(w, axis=-1, keepdims=True)
    pad = jnp.where(w <= _rank_tol(w.dtype) * top, top, 0.0)
    Qn = Qn + jnp.einsum("kmi,ki,kni->kmn", U, pad.astype(U.dtype), jnp.conj(U))
    eye_m, eye_k = jnp.eye(M, dtype=R.dtype), jnp.eye(K, dtype=jnp.real(R).dtype)
    n = K * M * M

    def parts(v):
        a = array_responses(v, devices, M, alpha0=alpha0, gamma=gamma)                 # [K, M]
        r = jnp.einsum("kpn,kqp,kq->kn", Omega, R, a)                                  # Omega^T R^T a  [K, M]
        e = a[:, :, None] * r[:, None, :]                                              # [K, M, M]
        return a, e

    def mean_fn(v):
        e = parts(v)[1].reshape(-1)
        return jnp.concatenate([jnp.real(e), jnp.imag(e)])

    def cov_fn(v):
        a, e = parts(v)
        block = jnp.einsum("mp,knq->kmnpq", eye_m, Qn)                                 # [K, M, M, M, M]
        if leakage:
            beta = var / P * leakage_gains(v, devices, R, echo_noise_var, P, alpha0=alpha0, gamma=gamma)
            block = block + jnp.einsum("k,km,kp,knq->kmnpq", beta / T, a, jnp.conj(a), Q)
        Cc = jnp.einsum("kl,kmnpq->kmnlpq", eye_k, block).reshape(n, n)
        if leakage:
            ef = e.reshape(K, M * M)
            Pc = (jnp.einsum("ka,lb->kalb", ef, ef) * (1.0 - eye_k)[:, None, :, None]).reshape(n, n) / T
        else:
            Pc = jnp.zeros_like(Cc)
        top_row = jnp.concatenate([jnp.real(Cc + Pc), jnp.imag(Pc - Cc)], axis=1)
        bottom = jnp.concatenate([jnp.imag(Cc + Pc), jnp.real(Cc - Pc)], axis=1)
        S = 0.5 * jnp.concatenate([top_row, bottom], axis=0)
        return 0.5 * (S + S.T)

    return mean_fn, cov_fn


def _prepare(target, devices, R, C_w, echo_noise_var, T, P):
    """Validate; the default whitening is the device's own sample correlation: ``C_w = sqrt(P) R^{1/2}``."""
    K, M, _ = check_sensing_inputs(target, devices, R, echo_noise_var, T, P)
    if R.shape != (K, M, M):
        raise ValueError(f"R must have shape [K, M, M] = {[K, M, M]}, got {list(R.shape)}")
    if C_w is None:
        return R, jnp.sqrt(P) * hermitian_sqrt(R)
    if C_w.ndim != 3 or C_w.shape[:2] != (K, M):
        raise ValueError(f"whitening_precoders must have shape [K={K}, M={M}, *], got {list(C_w.shape)}")
    return R, C_w


def finite_t_fisher_information(target, devices, R, echo_noise_var, T, P, *, whitening_precoders=None,
                                alpha0=1.0, gamma=1.0, leakage=True):
    """3x3 FIM (m^-2) of the target position from the devices' whitened statistics, cross-device
    leakage as Gaussian interference with its exact second moments (module docstring).

    ``R[K, M, M]``: each device's correlation ``(1/(P T)) sum_t x_k x_k^H`` (its sample correlation;
    it also sets the leakage it causes at the others); ``T`` the number of intervals the statistics
    average; ``whitening_precoders[K, M, *]``: the ``C`` whose ``(C C^H/P)^{+1/2}`` whitens (A.12)
    (default: ``sqrt(P) R^{1/2}``, the device's own sample correlation). ``leakage=False`` gives
    CRB(v)'s FIM for the same statistics (orthogonal echoes).
    """
    R, C_w = _prepare(target, devices, jnp.asarray(R), _maybe(whitening_precoders), echo_noise_var, T, P)
    mean_fn, cov_fn = whitened_statistics_model(devices, R, C_w, echo_noise_var, T, P, alpha0=alpha0, gamma=gamma,
                                                 leakage=leakage)
    return fim_real_gaussian(mean_fn, cov_fn, jnp.asarray(target))


def finite_t_crb(target, devices, R, echo_noise_var, T, P, *, whitening_precoders=None, alpha0=1.0, gamma=1.0):
    """``tr J^{-1}`` of :func:`finite_t_fisher_information` (m^2): the finite-T bound."""
    return crb_trace(finite_t_fisher_information(target, devices, R, echo_noise_var, T, P,
                                                 whitening_precoders=whitening_precoders, alpha0=alpha0, gamma=gamma))


def least_squares_mse(target, devices, R, echo_noise_var, T, P, *, whitening_precoders=None, alpha0=1.0, gamma=1.0,
                      leakage=True):
    """Asymptotic total MSE (m^2) of the devices' least-squares / ML localiser (A.17), which treats the
    leakage as white noise: the sandwich covariance under the exact second moments."""
    R, C_w = _prepare(target, devices, jnp.asarray(R), _maybe(whitening_precoders), echo_noise_var, T, P)
    mean_fn, cov_fn = whitened_statistics_model(devices, R, C_w, echo_noise_var, T, P, alpha0=alpha0, gamma=gamma,
                                                 leakage=leakage)
    v = jnp.asarray(target)
    return jnp.trace(least_squares_covariance(mean_fn, cov_fn(v), v))


def _maybe(x):
    return None if x is None else jnp.asarray(x)


def leakage_gains(v, devices, R, echo_noise_var, P, *, alpha0=1.0, gamma=1.0):
    """``gamma_k = (P / varsigma_k) sum_{l != k} a_l^T R_l conj(a_l)``: the leakage variance in device k's
    whitened statistic along ``a_k`` relative to the unit noise (T-independent). Output ``[K]``."""
    K, M, _ = R.shape
    a = array_responses(v, devices, M, alpha0=alpha0, gamma=gamma)
    own = jnp.real(jnp.einsum("km,kmn,kn->k", a, R, jnp.conj(a)))
    return P / jnp.broadcast_to(jnp.asarray(echo_noise_var), (K,)) * (jnp.sum(own) - own)


def block_fisher_information(target, devices, R, echo_noise_var, T, P, *, alpha0=1.0, gamma=1.0):
    """FIM (m^-2) of the per-device leakage model, each device whitening with its own ``R_k``:
    ``Y_k ~ CN(s a_k a_k^T R_k^{1/2}, (I + gamma_k a_k a_k^H) (x) Pi_k)`` independently over k (the
    cross-device pseudo-covariance of :func:`finite_t_fisher_information` dropped, so it is a sum of
    per-device terms and each device can evaluate its own). The curvature of the leakage-aware local
    loss of CollabSenseFed: ``2 Re tr(d_i E^H A^{-1} d_j E) + r_k tr(A^{-1} d_i A A^{-1} d_j A)`` per
    device, ``A = I + gamma_k a_k a_k^H``, ``r_k = rank R_k``. Output ``[3, 3]``.
    """
    R = jnp.asarray(R)
    return block_fisher_from_root(target, devices, hermitian_sqrt(R), numerical_rank(R), echo_noise_var, T, P,
                                  alpha0=alpha0, gamma=gamma)


def block_fisher_from_root(target, devices, root, rank, echo_noise_var, T, P, *, alpha0=1.0, gamma=1.0):
    """:func:`block_fisher_information` from ``root = R^{1/2}`` ``[K, M, M]`` and ``rank`` ``[K]``, without
    any LAPACK call (``A^{-1}`` by Sherman-Morrison), for use inside loops over many estimates."""
    K, M, _ = root.shape
    R = jnp.einsum("kmn,kpn->kmp", root, jnp.conj(root))
    s = jnp.sqrt(P * T / jnp.broadcast_to(jnp.asarray(echo_noise_var), (K,)))

    def parts(v):
        a = array_responses(v, devices, M, alpha0=alpha0, gamma=gamma)
        g = leakage_gains(v, devices, R, echo_noise_var, P, alpha0=alpha0, gamma=gamma)
        E = s[:, None, None] * jnp.einsum("km,kn,knp->kmp", a, a, root)
        A = jnp.eye(M, dtype=a.dtype)[None] + g[:, None, None] * a[:, :, None] * jnp.conj(a)[:, None, :]
        return a, g, E, A

    def split(v):
        _, _, E, A = parts(v)
        return jnp.stack([jnp.real(E), jnp.imag(E)]), jnp.stack([jnp.real(A), jnp.imag(A)])

    v = jnp.asarray(target)
    a, g, _, _ = parts(v)
    dE_ri, dA_ri = jax.jacfwd(split)(v)
    dE, dA = dE_ri[0] + 1j * dE_ri[1], dA_ri[0] + 1j * dA_ri[1]                        # [K, M, M, 3]
    c = g / (1.0 + g * jnp.sum(jnp.abs(a) ** 2, axis=-1))
    inv = jnp.eye(M, dtype=a.dtype)[None] - c[:, None, None] * a[:, :, None] * jnp.conj(a)[:, None, :]
    AdE = jnp.einsum("kmp,kpni->kimn", inv, dE)                                        # A^{-1} d_i E  [K, 3, M, M]
    AdA = jnp.einsum("kmp,kpni->kimn", inv, dA)                                        # A^{-1} d_i A
    mean = 2.0 * jnp.real(jnp.einsum("kmni,kjmn->ij", jnp.conj(dE), AdE))
    cov = jnp.real(jnp.einsum("k,kimn,kjnm->ij", rank, AdA, AdA))
    out = mean + cov
    return 0.5 * (out + out.T)


def numerical_rank(R):
    """Rank of each Hermitian PSD ``R[K, M, M]``: eigenvalues above ``max(1e-6, 1e3 eps)`` of the
    largest (the same cut as the whitening's null space). Output real ``[K]``."""
    w = jnp.linalg.eigvalsh(R)
    return jnp.sum(w > _rank_tol(w.dtype) * jnp.max(w, axis=-1, keepdims=True), axis=-1).astype(w.dtype)


def _rank_tol(dtype) -> float:
    """Relative eigenvalue below which a direction counts as null: ``max(1e-6, 1e3 eps)``."""
    return max(1e-6, 1e3 * float(np.finfo(dtype).eps))


def frame_conditional_information(target, devices, x, echo_noise_var, *, alpha0=1.0, gamma=1.0, orthogonal=False):
    """FIM ``[3, 3]`` (m^-2) of the target position from one frame's statistics *given every device's
    realised transmit signals* ``x[K, T, M]`` (the conditional bound the simulations judge against).

    Device k forms ``Z_k = sum_t u_k[t] x_k[t]^H`` from its echoes (A.8)
    ``u_k[t] = a_k sum_l a_l^T x_l[t] + n_k[t]``, ``n_k ~ CN(0, varsigma_k I)`` (``orthogonal``: only
    ``a_k a_k^T x_k[t]``, Setup I). Given all ``x``, the cross-device leakage is not interference but a
    known function of the target in the mean, ``E Z_k = a_k sum_l a_l^T S_lk``,
    ``S_lk = sum_t x_l[t] x_k[t]^H``, and the noise ``sum_t n_k x_k^H`` has independent rows
    ``CN(0, varsigma_k conj R_kk)``, ``R_kk = sum_t x_k x_k^H``. So

        ``J_ij = (2 / varsigma_k) Re sum_k tr(D_ik R_kk^+ D_jk^H)``,
        ``D_ik = d_i(a_k) s X_k^H + a_k (d_i s) X_k^H``, ``s[t] = sum_l a_l^T x_l[t]``.

    Assumptions: Gaussian echo noise independent over frames, devices and intervals; nothing is
    assumed about the streams' distribution (gradient symbols, model updates, correlated or not).
    With streams fixed in advance (Setup I, or any stream that does not depend on the echoes), the
    per-frame informations of a run add up to the Fisher information of all statistics, and
    ``tr J^{-1}`` bounds estimators that are unbiased and use any function of the per-frame statistics
    (the over-the-air aggregation noise carries no target information).
    Setups II and III are *adaptive*: later streams depend on earlier frames' echo noise (the estimate
    the gradients are computed at), so fixing the realised streams also fixes a function of that noise.
    Then the sum of the per-frame informations is the expected information of the joint (statistics,
    streams) record only on average (chain rule), the valid bound is ``tr (E J)^{-1}``, and the mean
    over keys of ``tr J^{-1}`` is at or above it (Jensen). An estimator *above* the mean of
    ``tr J^{-1}`` is therefore above the valid bound too; one *below* it may not violate a valid bound,
    and is a flag to investigate, not a proof of an error. The devices' estimator also projects onto
    the search region (biased near its edges), which a Cramér-Rao bound does not cover.
    """
    K, T, M = x.shape

    def resp(v):
        a = array_responses(v, devices, M, alpha0=alpha0, gamma=gamma)
        return jnp.stack([jnp.real(a), jnp.imag(a)])

    v = jnp.asarray(target)
    a_ri = resp(v)
    d_ri = jax.jacfwd(resp)(v)                                                          # [2, K, M, 3]
    a, da = a_ri[0] + 1j * a_ri[1], d_ri[0] + 1j * d_ri[1]
    a, da = a.astype(x.dtype), jnp.moveaxis(da, -1, 1).astype(x.dtype)                 # [K, M], [K, 3, M]
    if orthogonal:
        s = jnp.einsum("km,ktm->kt", a, x)                                              # a_k^T x_k[t]
        ds = jnp.einsum("kim,ktm->kit", da, x)
    else:
        s = jnp.broadcast_to(jnp.einsum("lm,ltm->t", a, x), (K, T))
        ds = jnp.broadcast_to(jnp.einsum("lim,ltm->it", da, x), (K, 3, T))
    sx = jnp.einsum("kt,ktn->kn", s, jnp.conj(x))                                       # s X_k^H  [K, M]
    dsx = jnp.einsum("kit,ktn->kin", ds, jnp.conj(x))                                   # [K, 3, M]
    D = da[:, :, :, None] * sx[:, None, None, :] + a[:, None, :, None] * dsx[:, :, None, :]   # [K, 3, M, M]
    R = jnp.einsum("ktm,ktn->kmn", x, jnp.conj(x))
    w, U = jnp.linalg.eigh(R)
    keep = w > _rank_tol(w.dtype) * jnp.maximum(jnp.max(w, axis=-1, keepdims=True), jnp.finfo(w.dtype).tiny)
    inv_w = jnp.where(keep, 1.0 / jnp.where(keep, w, 1.0), 0.0)
    R_pinv = jnp.einsum("kmi,ki,kni->kmn", U, inv_w.astype(U.dtype), jnp.conj(U))
    var = jnp.broadcast_to(jnp.asarray(echo_noise_var), (K,))
    J = 2.0 * jnp.real(jnp.einsum("k,kimn,knp,kjmp->ij", 1.0 / var, D, R_pinv, jnp.conj(D)))
    return 0.5 * (J + J.T)
