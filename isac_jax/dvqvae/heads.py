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

- ``centre`` (*beyond the paper*; needs the ``area_maps`` AP input, whose latents lie on a grid of
  the area): a fully convolutional head, CenterNet-style (Zhou et al., "Objects as points", 2019).
  :class:`CentreHead` maps the decoder's spatial features to ``G x G`` cells, each with a logit
  ("a target's cell"), its offset inside the cell and a velocity ``[logit, dx, dy, v_x, v_y]``; all
  cells share the weights (convolutions, with the cell's coordinates as two input channels so the
  geometry may enter), so every sample trains every output. The loss is the penalty-reduced focal
  loss on the logits against Gaussian bumps of ``sigma`` cells around the targets' cells, plus the
  squared error of the offset (in cells) and ``regression_weight`` times that of the normalised
  velocity, read at the true targets' cells. Estimation reads the ``Q`` highest 3 x 3 local maxima.
  Per-cell sigmoids, not one softmax, so two targets do not share one distribution's mass.
  With ``centre_velocity="bistatic"`` (:class:`CentreHead`'s ``geometry``) a cell's velocity is not
  an output but the weighted least-squares fit (B.9)-(B.11) of per-pair Dopplers and weights that
  the cell outputs (:func:`bistatic_velocity`): the network learns to read each pair's Doppler,
  the geometry of every cell is given.

Coordinates are the min-max normalised features of :mod:`isac_jax.dvqvae.targets` (``[0, 1]`` over
the training labels), so the map covers the region the training targets span.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from .targets import assigned_mse, psi_to_features

HEADS = ("fc", "heatmap", "centre")
_CENTRE_CHANNELS = 5   # per cell: logit, offset x, offset y (cells), v_x, v_y (normalised)
_FOURIER = 4          # frequencies of the query's position encoding


def check_head(head: str) -> None:
    if head not in HEADS:
        raise ValueError(f"head must be one of {', '.join(HEADS)}, got {head!r}")


def n_head_outputs(head: str, n_targets: int, grid: int) -> int:
    """Width of the decoder's output: ``4 Q`` (``fc``), ``G^2 + 4 Q`` (``heatmap``: the map's
    logits, then the ``Q`` queries' read-out ``[x, y, v_x, v_y]``) or ``5 G^2`` (``centre``: per
    cell, x-major, ``[logit, dx, dy, v_x, v_y]``)."""
    check_head(head)
    return {"fc": 4 * n_targets, "heatmap": grid * grid + 4 * n_targets, "centre": _CENTRE_CHANNELS * grid * grid}[head]


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


def bistatic_velocity(doppler, log_weight, rows, ridge: float = 3.0):
    """Velocity ``[..., 2]`` from per-pair bistatic Dopplers: the weighted ridge least-squares fit
    ``argmin_v sum_k w_k (d_k - g_k . v)^2 + ridge |v|^2`` of the model (B.9)-(B.11), which is
    linear in the velocity, solved in closed form (a 2 x 2 system per point).

    ``doppler[..., K]``: the ``K`` transmit-receive pairs' Dopplers in units of the largest,
    ``2 sqrt(2) v_max f_c / c``; ``log_weight[..., K]``: ``log w_k`` (clipped to +-10);
    ``rows[..., K, 2]``: ``g_k = (u_tx + u_rx) / (2 sqrt(2))``, the Doppler per ``v_max`` along x and
    y in the same units (``u``: unit vectors from the APs to the point). The velocity is in units of
    ``v_max``. With every ``w_k`` large it is the pairs' least-squares fit; the ridge, by default 3
    (the precision of the uniform velocities' prior, variance ``v_max^2 / 3`` per axis), pulls a
    point with little weight toward zero, their mean."""
    w = jnp.exp(jnp.clip(log_weight, -10.0, 10.0))
    gw = rows * w[..., None]
    a = jnp.sum(gw[..., 0] * rows[..., 0], -1) + ridge
    b = jnp.sum(gw[..., 0] * rows[..., 1], -1)
    c = jnp.sum(gw[..., 1] * rows[..., 1], -1) + ridge
    r = jnp.sum(gw * doppler[..., None], -2)                                        # [..., 2]
    det = a * c - b * b                                                              # > 0: ridge > 0
    return jnp.stack([c * r[..., 0] - b * r[..., 1], a * r[..., 1] - b * r[..., 0]], -1) / det[..., None]


def bistatic_rows(points, tx, rx):
    """``g_k = (u_n + u_m) / (2 sqrt(2))`` of :func:`bistatic_velocity` at ``points[..., 2]`` (m) for
    every pair of ``tx[N, 2]`` and ``rx[M, 2]`` (m), receive AP major: ``[..., M N, 2]``."""
    def unit(aps):
        d = points[..., None, :] - aps.reshape((1,) * (points.ndim - 1) + aps.shape)   # [..., A, 2]
        return d / jnp.maximum(jnp.linalg.norm(d, axis=-1, keepdims=True), 1e-6)
    g = unit(rx)[..., :, None, :] + unit(tx)[..., None, :, :]                      # [..., M, N, 2]
    return g.reshape(*g.shape[:-3], -1, 2) / (2.0 * jnp.sqrt(2.0))


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


def _coordinates(B: int, gx: int, gy: int, dtype):
    """``[B, gx, gy, 2]``: every cell's normalised centre."""
    cx, cy = jnp.meshgrid((jnp.arange(gx) + 0.5) / gx, (jnp.arange(gy) + 0.5) / gy, indexing="ij")
    return jnp.broadcast_to(jnp.stack([cx, cy], axis=-1).astype(dtype), (B, gx, gy, 2))


class CentreHead(nn.Module):
    """Spatial features ``h[B, g, g, ...]`` on the area grid (x, y first; the rest is folded into
    channels) -> ``[B, 5 G^2]`` with ``G = grid``, a multiple of ``g``: two 3 x 3 convolutions of
    ``width`` channels (ReLU) on the features and the cells' coordinates, nearest up-sampling to
    ``G x G``, one more 3 x 3 convolution and a 1 x 1 convolution to the five outputs per cell."""

    width: int
    grid: int
    dtype: object = jnp.float32
    #: ``None``: each cell's velocity is two outputs of the last convolution (``direct``). Else
    #: ``(area_m, tx_positions, rx_positions)`` (m) and the ``bistatic`` read-out: the last convolution
    #: gives each cell one Doppler and one log-weight per transmit-receive pair, and the cell's velocity
    #: is their fit of (B.9)-(B.11) at the cell's position (:func:`bistatic_velocity`), mapped to
    #: the normalised labels by a learned per-axis affine map (initially ``(v / v_max + 1) / 2``, the
    #: min-max normalisation of velocities uniform on ``[-v_max, v_max]``).
    geometry: tuple | None = None

    @nn.compact
    def __call__(self, h):
        B, g = h.shape[0], h.shape[1]
        if self.grid % g or h.shape[2] != g:
            raise ValueError(f"the centre head's grid ({self.grid}) must be a multiple of the square feature grid, "
                             f"got {h.shape[1:3]}")
        h = h.reshape(B, g, g, -1).astype(self.dtype)
        conv = lambda c, k: nn.Conv(c, (k, k), padding="SAME", dtype=self.dtype)   # noqa: E731
        h = nn.relu(conv(self.width, 3)(jnp.concatenate([h, _coordinates(B, g, g, h.dtype)], axis=-1)))
        h = nn.relu(conv(self.width, 3)(h))
        up = self.grid // g
        h = jnp.repeat(jnp.repeat(h, up, axis=1), up, axis=2)
        h = nn.relu(conv(self.width, 3)(jnp.concatenate([h, _coordinates(B, self.grid, self.grid, h.dtype)], axis=-1)))
        if self.geometry is None:
            return conv(_CENTRE_CHANNELS, 1)(h).astype(jnp.float32).reshape(B, -1)
        area, tx, rx = (jnp.asarray(a, jnp.float32) for a in self.geometry)
        K = tx.shape[0] * rx.shape[0]
        out = conv(3 + 2 * K, 1)(h).astype(jnp.float32)                             # [B, G, G, 3 + 2K]
        # The fit's geometry at the cell's centre plus its offset estimate, which the velocity loss
        # should not move.
        position = (_coordinates(B, self.grid, self.grid, jnp.float32)
                    + jax.lax.stop_gradient(out[..., 1:3]) / self.grid) * area.reshape(1, 1, 1, 2)
        # log w + log 100 starts each pair at a Doppler error of a tenth of f_max (the fit, not the
        # ridge, decides at initialisation).
        v = bistatic_velocity(out[..., 3:3 + K], out[..., 3 + K:] + jnp.log(100.0), bistatic_rows(position, tx, rx))
        scale = self.param("velocity_scale", nn.initializers.constant(0.5), (2,))
        bias = self.param("velocity_bias", nn.initializers.constant(0.5), (2,))
        return jnp.concatenate([out[..., :3], bias.reshape(1, 1, 1, 2) + scale.reshape(1, 1, 1, 2) * v],
                               -1).reshape(B, -1)


def _centre_cells(raw, grid: int):
    return raw.reshape(raw.shape[0], grid, grid, _CENTRE_CHANNELS)


def _read_cells(out, cells, grid: int):
    """``[B, Q, 4]`` normalised ``[x, y, v_x, v_y]`` of the cells ``cells[B, Q, 2]`` of ``out[B, G, G, 5]``."""
    b = jnp.arange(out.shape[0])[:, None]
    at = out[b, cells[..., 0], cells[..., 1]]                                    # [B, Q, 5]
    return jnp.concatenate([cell_centres(cells, grid) + at[..., 1:3] / grid, at[..., 3:]], axis=-1)


def centre_target(labels, grid: int, sigma: float):
    """``[B, G, G]``: the max over targets of ``exp(-|c - c_q|^2 / 2 sigma^2)``, ``c_q`` the target's
    cell (so exactly 1 there): CenterNet's penalty-reducing target."""
    cells = target_cells(labels, grid).astype(labels.dtype)                       # [B, Q, 2]
    idx = jnp.arange(grid, dtype=labels.dtype)
    d2 = ((idx[None, None, :, None] - cells[..., 0, None, None]) ** 2
          + (idx[None, None, None, :] - cells[..., 1, None, None]) ** 2)         # [B, Q, G, G]
    return jnp.max(jnp.exp(-d2 / (2 * sigma ** 2)), axis=1)


def centre_loss(raw, labels, grid: int, sigma: float, regression_weight: float):
    """Focal loss (alpha 2, beta 4) of the cells' logits against :func:`centre_target`, summed over
    cells and divided by the number of targets, plus the mean squared offset error (cells) and
    ``regression_weight`` times the mean squared velocity error (normalised) at the true cells."""
    out = _centre_cells(raw, grid)
    logit = out[..., 0]
    heat = centre_target(labels, grid, sigma)
    positive = heat >= 1.0
    p = jax.nn.sigmoid(logit)
    focal = jnp.where(positive, (1 - p) ** 2 * -jax.nn.log_sigmoid(logit),
                      (1 - heat) ** 4 * p ** 2 * -jax.nn.log_sigmoid(-logit))
    focal = jnp.sum(focal) / jnp.maximum(jnp.sum(positive), 1)
    read = _read_cells(out, target_cells(labels, grid), grid)
    offset = jnp.mean(((read[..., :2] - labels[..., :2]) * grid) ** 2)
    return focal + offset + regression_weight * jnp.mean((read[..., 2:] - labels[..., 2:]) ** 2)


def training_queries(head: str, labels, grid: int):
    """What the decoder is queried with in training: the true targets' cell centres (``heatmap``),
    nothing for the other heads."""
    return cell_centres(target_cells(labels, grid), grid) if head == "heatmap" else None


def head_loss(head: str, raw, labels, grid: int, sigma: float, regression_weight: float):
    """Training loss of the head on a batch: ``raw[B, n_outputs]``, ``labels[B, Q, 4]`` normalised."""
    if head == "fc":
        return assigned_mse(psi_to_features(raw), labels)
    if head == "centre":
        return centre_loss(raw, labels, grid, sigma, regression_weight)
    return heatmap_loss(raw, labels, grid, sigma, regression_weight)


def centre_peaks(raw, n_targets: int, grid: int):
    """The ``centre`` head's read-out of ``raw[B, 5 G^2]`` at its ``Q`` highest local maxima: the
    normalised estimates ``[B, Q, 4]`` and the peaks' logits ``[B, Q]`` (their confidence)."""
    out = _centre_cells(raw, grid)
    cells = peak_cells(out[..., 0].reshape(raw.shape[0], -1), n_targets, grid)
    b = jnp.arange(out.shape[0])[:, None]
    return _read_cells(out, cells, grid), out[b, cells[..., 0], cells[..., 1], 0]


def head_estimates(head: str, raw, n_targets: int, grid: int):
    """Normalised estimates ``[B, Q, 4]`` from ``raw[B, n_outputs]`` (for ``heatmap``, a decoder
    queried at its own map's peaks, which it does when given no queries)."""
    if head == "fc":
        return psi_to_features(raw)
    if head == "centre":
        return centre_peaks(raw, n_targets, grid)[0]
    return raw[:, grid * grid:].reshape(raw.shape[0], n_targets, 4)
