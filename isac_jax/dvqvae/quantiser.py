"""Per-AP vector quantisation (B.14/B.15), straight-through gradients, commitment loss (B.21) and
EMA codebook updates (B.18-B.20) with Laplace smoothing and optional dead-code restart.

The codebooks are not trained by gradient: they live in a :class:`Codebook` state beside the
network parameters and are updated in closed form after each step. Every function works on all
``M`` APs at once (leading AP axis on the state, ``vmap`` inside).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Codebook(NamedTuple):
    """``codewords[M, N_c, D]`` (c_{m,j}), EMA counts ``counts[M, N_c]`` (L_{m,j}, B.18) and EMA sums
    ``sums[M, N_c, D]`` (c~_{m,j}, B.19)."""

    codewords: jax.Array
    counts: jax.Array
    sums: jax.Array


def init_codebook(key, latents, n_codewords: int) -> Codebook:
    """``n_codewords`` codewords per AP drawn from the encoder outputs ``latents[B, M, L, D]`` of a
    first batch (without replacement when there are enough); EMA accumulators zero, as Paper B
    states below (20).

    *Decision*: data-dependent initialisation avoids codewords that no latent ever reaches.
    """
    B, M, L, D = latents.shape
    flat = jnp.moveaxis(latents, 1, 0).reshape(M, B * L, D)
    keys = jax.random.split(key, M)
    codewords = jax.vmap(lambda k, z: z[jax.random.choice(k, z.shape[0], (n_codewords,),
                                                          replace=z.shape[0] < n_codewords)])(keys, flat)
    return Codebook(codewords=codewords, counts=jnp.zeros((M, n_codewords), latents.dtype),
                    sums=jnp.zeros_like(codewords))


def nearest_indices(latents, codewords):
    """(15): ``j*[B, M, L]`` = argmin_j ||z_{m,l} - c_{m,j}||^2 for ``latents[B, M, L, D]``,
    ``codewords[M, N_c, D]`` (expanded distance; the ``||z||^2`` term does not change the argmin)."""
    cross = jnp.einsum("bmld,mjd->bmlj", latents, codewords)
    dist = jnp.sum(codewords ** 2, axis=-1)[None, :, None, :] - 2.0 * cross
    return jnp.argmin(dist, axis=-1).astype(jnp.int32)


def lookup(indices, codewords):
    """(14): ``c_{m, j[b,m,l]}`` as ``[B, M, L, D]`` from ``indices[B, M, L]`` — what the CPU rebuilds."""
    return jax.vmap(lambda cb, j: cb[j], in_axes=(0, 1), out_axes=1)(codewords, indices)


def straight_through(latents, quantised):
    """Forward value ``quantised``; gradient w.r.t. ``latents`` is the identity (Sec. B.IV)."""
    return latents + jax.lax.stop_gradient(quantised - latents)


def commitment_loss(latents, quantised, weight: float):
    """(B.21) with the sum replaced by a mean over batch, APs, latents and dimensions:
    ``omega * mean ||z - sg[c]||^2`` (the gradient reaches only the encoder)."""
    return weight * jnp.mean((latents - jax.lax.stop_gradient(quantised)) ** 2)


def ema_update(book: Codebook, latents, indices, *, decay: float, eps: float) -> Codebook:
    """(B.18)-(B.20) for every AP from one batch, with Laplace-smoothed counts in (B.20):

    ``L_j <- gamma L_j + (1 - gamma) N_j``, ``c~_j <- gamma c~_j + (1 - gamma) sum_{l: j_l = j} z_l``,
    ``c_j = c~_j / L'_j`` with ``L'_j = (L_j + eps) / (sum_i L_i + N_c eps) * sum_i L_i``.
    """
    latents = jax.lax.stop_gradient(latents)
    n_c = book.codewords.shape[1]
    onehot = jax.nn.one_hot(indices, n_c, dtype=latents.dtype)                 # [B, M, L, N_c]
    n_j = jnp.sum(onehot, axis=(0, 2))                                           # [M, N_c]
    s_j = jnp.einsum("bmlj,bmld->mjd", onehot, latents)                          # [M, N_c, D]
    counts = decay * book.counts + (1.0 - decay) * n_j
    sums = decay * book.sums + (1.0 - decay) * s_j
    total = jnp.sum(counts, axis=1, keepdims=True)
    smoothed = (counts + eps) / (total + n_c * eps) * total
    return Codebook(codewords=sums / smoothed[..., None], counts=counts, sums=sums)


def restart_dead_codes(key, book: Codebook, latents, threshold: float) -> Codebook:
    """Re-seed codewords whose EMA count is below ``threshold`` with random encoder outputs of the
    batch (per AP), resetting their accumulators to that single vector (count 1)."""
    latents = jax.lax.stop_gradient(latents)
    B, M, L, D = latents.shape
    flat = jnp.moveaxis(latents, 1, 0).reshape(M, B * L, D)
    n_c = book.codewords.shape[1]
    keys = jax.random.split(key, M)
    fresh = jax.vmap(lambda k, z: z[jax.random.randint(k, (n_c,), 0, z.shape[0])])(keys, flat)
    dead = (book.counts < threshold)[..., None]
    return Codebook(codewords=jnp.where(dead, fresh, book.codewords),
                    counts=jnp.where(dead[..., 0], 1.0, book.counts),
                    sums=jnp.where(dead, fresh, book.sums))


def perplexity(indices, n_codewords: int):
    """Codebook usage per AP: ``exp(-sum_j p_j log p_j)`` of the index histogram, ``[M]``
    (``N_c`` when all codewords are used equally, 1 when one codeword takes everything)."""
    p = jnp.mean(jax.nn.one_hot(indices, n_codewords, dtype=jnp.float32), axis=(0, 2))
    return jnp.exp(-jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0), axis=-1))
