"""Output heads: how the decoder's last features are read as the ``Q`` targets, and their loss.

- ``fc`` (Paper B (16)-(17)): ``4Q`` numbers, the targets' ``[x, y, v_x, v_y]`` in ``Q`` fixed slots;
  the loss is the mean squared error under the best slot-to-target assignment.
- ``heatmap`` (*beyond the paper*): a map of ``G x G`` logits over the normalised area, read as a
  probability distribution (softmax) and trained by cross-entropy against the targets' Gaussian
  bumps (``sigma`` cells, one per target, normalised to sum to one); then a *query readout*, one
  small MLP shared by all positions, that takes the decoder features and a query cell and returns
  the target's position inside the cell and its velocity. Training queries the cells of the true
  targets; estimation queries the ``Q`` highest 3 x 3 local maxima of the map. The loss is the
  cross-entropy plus ``regression_weight`` times the mean squared error of the read-out
  ``[x, y, v_x, v_y]`` (normalised units, as ``fc``'s loss). Neither the loss nor the estimate
  depends on the order of the targets, and every output unit gets a gradient from every sample (a
  per-cell velocity output would learn only from the samples with a target in its cell).

Coordinates are the min-max normalised features of :mod:`isac_jax.dvqvae.targets` (``[0, 1]`` over
the training labels), so the map covers the region the training targets span.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from .targets import assigned_mse, psi_to_features

HEADS = ("fc", "heatmap")
_FOURIER = 4          # frequencies of the query's position encoding


def check_head(head: str) -> None:
    if head not in HEADS:
        raise ValueError(f"head must be one of {', '.join(HEADS)}, got {head!r}")


def n_head_outputs(head: str, n_targets: int, grid: int) -> int:
    """Width of the decoder's output: ``4 Q`` (``fc``) or ``G^2 + 4 Q`` (``heatmap``: the map's
    logits, then the ``Q`` queries' read-out ``[x, y, v_x, v_y]``)."""
    check_head(head)
    return 4 * n_targets if head == "fc" else grid * grid + 4 * n_targets


def target_cells(labels, grid: int):
    """The cell ``int32[B, Q, 2]`` (x index, y index) holding each target of ``labels[B, Q, 4]``
    (clipped to the grid for labels outside the training range)."""
    return jnp.clip(jnp.floor(labels[..., :2] * grid), 0, grid - 1).astype(jnp.int32)


def cell_centres(cells, grid: int):
    """Normalised ``[x, y]`` of the centres of ``cells[..., 2]``."""
    return (cells.astype(jnp.float32) + 0.5) / grid


def heatmap_target(labels, grid: int, sigma: float):
    """``[B, G, G]``: the sum over targets of a Gaussian bump of ``sigma`` cells centred on the target
    (at its exact position), each normalised to sum to one over the grid, divided by ``Q``."""
    centre = labels[..., :2] * grid - 0.5                                        # [B, Q, 2] in cell indices
    idx = jnp.arange(grid, dtype=labels.dtype)
    bump = (jnp.exp(-(idx[None, None, :, None] - centre[..., 0, None, None]) ** 2 / (2 * sigma ** 2))
            * jnp.exp(-(idx[None, None, None, :] - centre[..., 1, None, None]) ** 2 / (2 * sigma ** 2)))
    bump = bump / jnp.sum(bump, axis=(-2, -1), keepdims=True)
    return jnp.mean(bump, axis=1)


def peak_cells(map_logits, n_targets: int, grid: int):
    """The ``Q`` highest 3 x 3 local maxima of ``map_logits[B, G^2]`` -> ``int32[B, Q, 2]``, highest
    first. With fewer than ``Q`` local maxima the rest are the highest other cells (next to the
    strongest peaks: two targets in neighbouring cells)."""
    logit = map_logits.reshape(-1, grid, grid)
    pooled = jax.lax.reduce_window(logit, -jnp.inf, jax.lax.max, (1, 3, 3), (1, 1, 1), "SAME")
    peak = logit >= pooled
    # Rank the local maxima above every other cell, each group by its logit.
    rank = jnp.where(peak, 1.0, 0.0) + jax.nn.sigmoid(logit)
    _, flat = jax.lax.top_k(rank.reshape(rank.shape[0], -1), n_targets)
    return jnp.stack([flat // grid, flat % grid], axis=-1).astype(jnp.int32)


class QueryReadout(nn.Module):
    """One MLP for every query: decoder features ``h[B, F]`` and query centres ``queries[B, Q, 2]``
    (normalised) -> ``[B, Q, 4]``: ``[x, y, v_x, v_y]`` (normalised), the position as the query plus
    a learned offset."""

    width: int

    @nn.compact
    def __call__(self, h, queries):
        k = (2.0 ** jnp.arange(_FOURIER) * jnp.pi).reshape((1,) * queries.ndim + (_FOURIER,))
        angle = queries[..., None] * k                                           # [B, Q, 2, F]
        code = jnp.concatenate([queries, jnp.sin(angle).reshape(*queries.shape[:-1], -1),
                                jnp.cos(angle).reshape(*queries.shape[:-1], -1)], axis=-1)
        hq = jnp.broadcast_to(h[:, None, :], (*queries.shape[:-1], h.shape[-1]))
        z = nn.relu(nn.Dense(self.width, name="hidden")(jnp.concatenate([hq, code.astype(h.dtype)], axis=-1)))
        out = nn.Dense(4, name="out")(z).astype(jnp.float32)
        return jnp.concatenate([queries + out[..., :2], out[..., 2:]], axis=-1)


def heatmap_loss(raw, labels, grid: int, sigma: float, regression_weight: float):
    """Cross-entropy of the map against :func:`heatmap_target` plus ``regression_weight`` times the
    mean squared error of the read-out at the true targets' cells. ``raw[B, G^2 + 4Q]`` from a
    decoder queried at ``cell_centres(target_cells(labels))``, ``labels[B, Q, 4]`` normalised."""
    G2 = grid * grid
    target = heatmap_target(labels, grid, sigma).reshape(-1, G2)
    cross_entropy = -jnp.mean(jnp.sum(target * jax.nn.log_softmax(raw[:, :G2], axis=-1), axis=-1))
    readout = raw[:, G2:].reshape(labels.shape)
    return cross_entropy + regression_weight * jnp.mean((readout - labels) ** 2)


def training_queries(head: str, labels, grid: int):
    """What the decoder is queried with in training: the true targets' cell centres (``heatmap``),
    nothing for ``fc``."""
    return None if head == "fc" else cell_centres(target_cells(labels, grid), grid)


def head_loss(head: str, raw, labels, grid: int, sigma: float, regression_weight: float):
    """Training loss of the head on a batch: ``raw[B, n_outputs]``, ``labels[B, Q, 4]`` normalised."""
    if head == "fc":
        return assigned_mse(psi_to_features(raw), labels)
    return heatmap_loss(raw, labels, grid, sigma, regression_weight)


def head_estimates(head: str, raw, n_targets: int, grid: int):
    """Normalised estimates ``[B, Q, 4]`` from ``raw[B, n_outputs]`` (for ``heatmap``, a decoder
    queried at its own map's peaks, which it does when given no queries)."""
    if head == "fc":
        return psi_to_features(raw)
    return raw[:, grid * grid:].reshape(raw.shape[0], n_targets, 4)
