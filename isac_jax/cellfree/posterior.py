"""Bayesian posteriors of Paper B's targets with the reflection coefficients integrated out (beyond
the paper): the genie-aided MMSE, a lower bound on what any estimator can reach.

The echo (B.6) at receive AP ``m`` is linear in its reflection coefficients,
``y_m = B_m(psi) beta_m + n_m`` with ``B_m`` the ``M_r N_s T_s x N Q`` matrix of the paths' unit-gain
columns (path loss included) and ``beta_m ~ CN(0, chi^2 I)`` (Sec. B.V: i.i.d. Rayleigh), noise
``CN(0, xi^2 I)``. So, given the targets' positions and velocities ``psi``,
``y_m ~ CN(0, xi^2 I + chi^2 B_m B_m^H)``, and by the matrix determinant lemma and Woodbury

    log p(y_m | psi) = -D log(pi xi^2) - ||y_m||^2 / xi^2 - log det(I + chi^2 G_m / xi^2)
                       + b_m^H (xi^2 / chi^2 I + G_m)^{-1} b_m / xi^2,

``G_m = B_m^H B_m``, ``b_m = B_m^H y_m`` (:func:`~isac_jax.cellfree.estimators.path_gram`, shared with the
concentrated cost of refined ML; ``N Q x N Q`` linear solves only).
Unlike the CRLB, which is local and for unbiased estimators, the posterior sees every ambiguity
(sidelobes, the other target, ghost paths through the other transmit AP).

*The genie.* The posterior of one target's position (or velocity) on a grid, given the echoes and,
from a genie, everything else (the other targets' positions and velocities, this target's velocity,
or its position) is cheap; its mean is the MMSE estimate with that side information, and since more
information never raises the MMSE, its mean squared error lower-bounds the MSE of every estimator of
that target's labelled position (velocity) that lacks the side information.

Grids (:func:`grid_posterior`): the posterior of a high-SNR target is far narrower than the
ambiguities are apart (tens of centimetres against tens of metres at the quick preset), so a coarse
grid is refined around its strongest modes and each mode's mass integrated on the fine grid.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .echo import path_factors
from .estimators import path_gram


def marginal_log_likelihood(Y, x, tx, rx, points, velocities, *, noise_w: float, reflection_var: float = 1.0,
                            **echo_kw):
    """``log p(Y | points, velocities)`` (nats) with the reflection coefficients integrated out.

    ``Y[M, M_r, N_s, T_s]`` echoes, ``x[N, N_t, N_s, T_s]`` transmit signals, ``tx[N, 2]``, ``rx[M, 2]``,
    ``points[Q, 2]`` (m), ``velocities[Q, 2]`` (m/s); ``noise_w`` ``xi^2`` (W), ``reflection_var``
    ``chi^2``; ``echo_kw`` those of :func:`~isac_jax.cellfree.noiseless_echo`. No clutter or clock
    offsets (their echoes are further nuisance paths). Jit-able and vmappable over ``points`` and
    ``velocities``.
    """
    if not noise_w > 0 or not reflection_var > 0:
        raise ValueError(f"noise_w and reflection_var must be > 0, got {noise_w!r}, {reflection_var!r}")
    N, M, Q = tx.shape[0], rx.shape[0], points.shape[0]
    scale = 1.0 / math.sqrt(noise_w)                          # unit-variance noise: entries O(1), float32-safe
    f = path_factors(tx, rx, points, velocities, jnp.ones((N, M, Q), x.dtype), x * scale, **echo_kw)
    Y = Y * scale
    gram, b = path_gram(f, Y)
    A = gram + jnp.eye(N * Q, dtype=gram.dtype)[None] / reflection_var                 # xi^2/chi^2 I + G (xi = 1)
    L = jnp.linalg.cholesky(A)
    w = jax.scipy.linalg.solve_triangular(L, b[..., None], lower=True)[..., 0]
    logdet = 2.0 * jnp.sum(jnp.log(jnp.real(jnp.diagonal(L, axis1=-2, axis2=-1)))) + M * N * Q * math.log(reflection_var)
    D = Y[0].size
    return (-M * D * math.log(math.pi * noise_w) - jnp.sum(jnp.abs(Y) ** 2) - logdet
            + jnp.sum(jnp.abs(w) ** 2))


def grid_posterior(log_density, lo, hi, *, n_cells, refine: int = 10, window: int = 1, n_modes: int = 8,
                   chunk: int = 2048) -> dict:
    """Mean and masses of a 2-D posterior ``exp(log_density(p[K, 2]) -> [K])`` (unnormalised) with a
    uniform prior on the box ``[lo, hi]`` (two corners).

    The density is evaluated at the centres of ``n_cells = (n_x, n_y)`` cells over the box; around its
    ``n_modes`` strongest local maxima (3 x 3) the ``(2 window + 1)^2`` coarse cells are replaced by
    ``refine x refine`` times as many fine cells, so a mode narrower than a coarse cell has its mass
    integrated at the fine step (overlapping windows share their fine cells once). Returns ``mean[2]``,
    ``points[P, 2]`` and ``weights[P]`` (normalised masses of the cells used) and ``modes[n_modes, 2]``.
    """
    if refine < 1 or window < 0 or n_modes < 1:
        raise ValueError(f"need refine >= 1, window >= 0, n_modes >= 1, got {refine!r}, {window!r}, {n_modes!r}")
    lo, hi = jnp.asarray(lo, float), jnp.asarray(hi, float)
    step = (hi - lo) / jnp.asarray(n_cells, float)                                  # coarse cell [2]

    def evaluate(p):
        pad = (-p.shape[0]) % chunk
        pp = jnp.concatenate([p, jnp.broadcast_to(p[:1], (pad, 2))]).reshape(-1, chunk, 2)
        return jax.lax.map(log_density, pp).reshape(-1)[: p.shape[0]]

    cx, cy = jnp.meshgrid(*[lo[a] + (jnp.arange(n_cells[a]) + 0.5) * step[a] for a in (0, 1)], indexing="ij")
    coarse = jnp.stack([cx.ravel(), cy.ravel()], -1)
    lc = evaluate(coarse).reshape(cx.shape)
    padded = jnp.pad(lc, 1, constant_values=-jnp.inf)
    neighbours = jnp.stack([padded[1 + a: padded.shape[0] - 1 + a, 1 + b: padded.shape[1] - 1 + b]
                            for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)])
    peak = jnp.where(lc >= jnp.max(neighbours, axis=0), lc, -jnp.inf).ravel()
    mode_idx = jnp.argsort(-peak)[:n_modes]
    modes = coarse[mode_idx]
    # Fine cells of each window, on one lattice (so overlapping windows' cells coincide exactly).
    k = (jnp.arange((2 * window + 1) * refine) - (2 * window + 1) * refine / 2 + 0.5) / refine
    kx, ky = jnp.meshgrid(k, k, indexing="ij")
    fine = (modes[:, None, :] + jnp.stack([kx.ravel(), ky.ravel()], -1)[None] * step[None, None]).reshape(-1, 2)
    half = (window + 0.5) * step
    inside = jnp.all((fine > lo[None]) & (fine < hi[None]), axis=-1)
    owner = jnp.all(jnp.abs(fine[:, None, :] - modes[None]) < half[None, None], axis=-1)            # [F, n_modes]
    first = jnp.argmax(owner, axis=-1) == jnp.repeat(jnp.arange(modes.shape[0]), k.size ** 2)
    covered = jnp.any(jnp.all(jnp.abs(coarse[:, None, :] - modes[None]) < half[None, None], axis=-1), axis=-1)
    lf = evaluate(fine)
    log_cell = jnp.log(step[0] * step[1])
    log_w = jnp.concatenate([jnp.where(covered, -jnp.inf, lc.ravel() + log_cell),
                             jnp.where(inside & first, lf + log_cell - 2 * math.log(refine), -jnp.inf)])
    points = jnp.concatenate([coarse, fine])
    weights = jnp.exp(log_w - jax.scipy.special.logsumexp(log_w))
    return {"mean": weights @ points, "points": points, "weights": weights, "modes": modes}
