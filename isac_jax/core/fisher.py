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
