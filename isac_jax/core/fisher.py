"""Fisher information and Cramér-Rao bounds for complex Gaussian observations.

Model: an observation ``y = mu(theta) + z`` with ``z`` circularly-symmetric complex Gaussian,
independent entries of variance ``noise_var`` (scalar, or an array broadcastable to ``mu``'s shape).
The Fisher information of the real parameter vector ``theta`` is

    F(theta) = 2 Re[ (d mu / d theta)^H  diag(1/noise_var)  (d mu / d theta) ]        (Slepian-Bangs)

Two independent routes are exposed and must agree:

* :func:`fim_gram` — the Jacobian Gram form above, with ``jax.jacfwd``;
* :func:`fim_hessian` — ``jax.hessian`` of the noiseless misfit
  ``theta' -> sum |mu(theta) - mu(theta')|^2 / noise_var`` at ``theta' = theta``: the second-order
  term of the Hessian vanishes there, leaving exactly ``F``.

Nuisance parameters are removed with the Schur complement (equivalent to the top-left block of
``F^{-1}``), computed with Cholesky solves — no explicit inverse anywhere.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_factor, cho_solve


def _flat(mu_fn: Callable, theta):
    return jnp.ravel(mu_fn(theta))


def fim_gram(mu_fn: Callable, theta, noise_var=1.0):
    """FIM by the Jacobian Gram form. ``mu_fn``: real ``[P]`` -> complex array; output ``[P, P]``."""
    theta = jnp.asarray(theta)
    jac = jax.jacfwd(lambda th: _flat(mu_fn, th))(theta)  # [n_obs, P] complex
    w = jnp.ravel(jnp.broadcast_to(1.0 / jnp.asarray(noise_var), jnp.shape(mu_fn(theta))))
    return 2.0 * jnp.real(jnp.einsum("op,o,oq->pq", jnp.conj(jac), w, jac))


def fim_hessian(mu_fn: Callable, theta, noise_var=1.0):
    """FIM as ``jax.hessian`` of the noiseless misfit at the true parameter. Output ``[P, P]``."""
    theta = jnp.asarray(theta)
    mu0 = jax.lax.stop_gradient(mu_fn(theta))
    inv_var = 1.0 / jnp.asarray(noise_var)

    def misfit(th):
        d = mu0 - mu_fn(th)
        return jnp.sum(inv_var * (jnp.real(d) ** 2 + jnp.imag(d) ** 2))

    return jax.hessian(misfit)(theta)


def schur_fim(fim, n_interest: int):
    """Equivalent FIM of the first ``n_interest`` parameters with the rest as nuisance (B.24).

    ``F_pp - F_pn F_nn^{-1} F_np``, with ``F_nn^{-1} F_np`` from a Cholesky solve.
    """
    f_pp = fim[:n_interest, :n_interest]
    f_pn = fim[:n_interest, n_interest:]
    f_nn = fim[n_interest:, n_interest:]
    if f_nn.shape[0] == 0:
        return f_pp
    sol = cho_solve(cho_factor(f_nn, lower=True), f_pn.T)
    out = f_pp - f_pn @ sol
    return 0.5 * (out + out.T)


def crb_matrix(fim):
    """CRB matrix ``F^{-1}`` by Cholesky solves against the identity. Output ``[P, P]``.

    The FIM is first scaled to unit diagonal (``F = D R D``, ``F^{-1} = D^{-1} R^{-1} D^{-1}``):
    exact in exact arithmetic, and it keeps the Cholesky factorisation stable in float32 when the
    parameters are observed with very different precision (e.g. altitude vs range).
    """
    sym = 0.5 * (fim + fim.T)
    d = jnp.sqrt(jnp.diagonal(sym))
    scale = d[:, None] * d[None, :]
    eye = jnp.eye(fim.shape[-1], dtype=fim.dtype)
    return cho_solve(cho_factor(sym / scale, lower=True), eye) / scale


def crb_trace(fim):
    """``tr F^{-1}``: the CRB on the total mean-squared error (A.19)."""
    return jnp.trace(crb_matrix(fim))


def fim_real_gaussian(mean_fn: Callable, cov_fn: Callable, theta):
    """FIM of a real Gaussian ``y ~ N(m(theta), S(theta))`` whose covariance depends on ``theta``
    (Slepian-Bangs): ``F_ij = d_i m^T S^{-1} d_j m + tr(S^{-1} d_i S S^{-1} d_j S) / 2``.

    ``mean_fn``: ``[P] -> [n]`` real; ``cov_fn``: ``[P] -> [n, n]`` symmetric positive definite.
    Derivatives by ``jax.jacfwd``, solves by Cholesky. Output ``[P, P]``.
    """
    theta = jnp.asarray(theta)
    dm = jax.jacfwd(mean_fn)(theta)                                    # [n, P]
    S = cov_fn(theta)
    dS = jax.jacfwd(cov_fn)(theta)                                     # [n, n, P]
    # The FIM is invariant under a fixed rescaling of y; unit diagonal keeps the Cholesky stable in
    # float32 when the entries of y have very different variances.
    d = 1.0 / jnp.sqrt(jnp.diagonal(S))
    dm, S, dS = dm * d[:, None], S * d[:, None] * d[None, :], dS * (d[:, None] * d[None, :])[..., None]
    factor = cho_factor(0.5 * (S + S.T), lower=True)
    mean_part = dm.T @ cho_solve(factor, dm)
    A = jax.vmap(lambda d: cho_solve(factor, d), in_axes=-1)(dS)        # A_p = S^{-1} d_p S  [P, n, n]
    cov_part = 0.5 * jnp.einsum("pab,qba->pq", A, A)
    out = mean_part + cov_part
    return 0.5 * (out + out.T)


def least_squares_covariance(mean_fn: Callable, cov, theta):
    """Asymptotic covariance of the unweighted least-squares estimate ``argmin ||y - m(theta)||^2`` when
    ``y`` has covariance ``cov[n, n]`` (the sandwich ``H^{-1} D^T cov D H^{-1}``, ``D = dm/dtheta``,
    ``H = D^T D``; first order in the error). Output ``[P, P]``.
    """
    D = jax.jacfwd(mean_fn)(jnp.asarray(theta))                        # [n, P]
    factor = cho_factor(D.T @ D, lower=True)
    G = cho_solve(factor, D.T)                                         # H^{-1} D^T  [P, n]
    out = G @ cov @ G.T
    return 0.5 * (out + out.T)
