"""Small linear-algebra helpers: powers of ``C C^H`` through the SVD of ``C``."""

from __future__ import annotations

import jax.numpy as jnp


def gram_power(C, power: float, *, scale=1.0, rcond: float | None = None):
    """``(C C^H / scale)^power`` for ``C`` of shape ``[..., M, I]``, pseudo-inverse for ``power < 0``.

    Uses the thin SVD ``C = U S V^H``: ``(C C^H/scale)^p = U diag((s^2/scale)^p) U^H`` on the
    range of C; directions with ``s <= rcond * s_max`` are dropped (Moore-Penrose), which is the
    SPEC's decision for the rank-deficient whitening of (A.12). Output: complex ``[..., M, M]``.
    """
    u, s, _ = jnp.linalg.svd(C, full_matrices=False)
    if rcond is None:
        rcond = 10.0 * max(C.shape[-2:]) * jnp.finfo(s.dtype).eps
    keep = s > rcond * jnp.max(s, axis=-1, keepdims=True)
    lam = jnp.where(keep, s**2 / scale, 1.0)
    lam_p = jnp.where(keep, lam**power, 0.0)
    return jnp.einsum("...mi,...i,...ni->...mn", u, lam_p.astype(u.dtype), jnp.conj(u))


def hermitian_sqrt(R):
    """Principal square root of Hermitian PSD matrices ``R[..., M, M]`` by ``eigh`` (negative rounding
    eigenvalues clipped to zero). Output ``[..., M, M]``."""
    w, U = jnp.linalg.eigh(R)
    root = jnp.sqrt(jnp.maximum(w, 0.0)).astype(U.dtype)
    return jnp.einsum("...mi,...i,...ni->...mn", U, root, jnp.conj(U))
