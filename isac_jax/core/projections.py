"""Euclidean projections used by the projected-gradient solvers.

:func:`project_norms_energy` projects a vector of non-negative norms ``r[K]`` onto the
(non-convex) set ``{0 <= rho_k <= sqrt(P), sum_k rho_k^2 >= E_min}`` exactly:

* clip to the box; if the energy is then sufficient, the box projection is the answer (it is the
  nearest point of a superset);
* otherwise the energy constraint is active and the KKT conditions give
  ``rho_k = min(sqrt(P), c r_k)`` with ``c = 1 + mu >= 1`` such that the energy equals ``E_min``.
  The energy is increasing in ``c``, so the saturated entries are the largest ones: assuming the
  entries larger than ``r_i`` saturate and the others scale, ``c_i = sqrt((E_min - n_i P) / sum_{r_j
  <= r_i} r_j^2)``; this is computed for every ``i`` at once (no iteration) and the answer is the
  ``c_i`` that saturates exactly those entries. Entries with ``r_k = 0`` cannot grow by scaling and receive the
  energy still missing once every non-zero entry is at ``sqrt(P)`` (split equally).

:func:`project_precoders` lifts it to precoders ``C[K, ...]``: each block keeps its direction
(a zero block takes the fixed default direction ``e_1 e_1^T / 1``) and gets the projected norm.
"""

from __future__ import annotations

import jax.numpy as jnp


def project_norms_energy(r, power, min_energy):
    """Exact projection of ``r[K] >= 0`` onto ``{rho <= sqrt(power), sum rho^2 >= min_energy}``."""
    p_max = jnp.sqrt(power)
    box = jnp.clip(r, 0.0, p_max)
    short = jnp.sum(box**2) < min_energy
    # Energy-active case: the entries larger than r_i saturate and the rest scale by c_i; trying every
    # i at once with a [K, K] comparison (no sort: cheaper than a sort for the K of a design).
    larger = box[None, :] > box[:, None]                                     # [i, j]: r_j > r_i
    n_sat = jnp.sum(larger, axis=1)
    tail = jnp.sum(jnp.where(larger, 0.0, box[None, :] ** 2), axis=1)        # sum of r_j^2 over r_j <= r_i
    c = jnp.sqrt(jnp.maximum(min_energy - n_sat * power, 0.0) / jnp.where(tail > 0, tail, 1.0))
    smallest_sat = jnp.min(jnp.where(larger, box[None, :], jnp.inf), axis=1)
    valid = (tail > 0) & (c * box <= p_max) & (c * smallest_sat >= p_max)
    scalable = jnp.any(valid)
    scaled = jnp.where(scalable, jnp.minimum(p_max, c[jnp.argmax(valid)] * box), jnp.where(box > 0, p_max, 0.0))
    # Otherwise the energy still missing once every non-zero entry saturates goes to the zero entries.
    zero = box <= 0
    missing = jnp.where(scalable, 0.0, jnp.maximum(min_energy - jnp.sum(scaled**2), 0.0))
    fill = jnp.minimum(p_max, jnp.sqrt(missing / jnp.maximum(jnp.sum(zero), 1)))
    return jnp.where(short, jnp.where(zero, fill, scaled), box)


def project_precoders(C, power, min_energy):
    """Project ``C[K, ...]`` onto ``{||C_k||_F^2 <= power, sum_k ||C_k||_F^2 >= min_energy}``."""
    K = C.shape[0]
    flat = C.reshape(K, -1)
    r = jnp.linalg.norm(flat, axis=1)
    default = jnp.zeros_like(flat[0]).at[0].set(1.0)
    direction = jnp.where((r > 0)[:, None], flat / jnp.where(r > 0, r, 1.0)[:, None], default[None])
    rho = project_norms_energy(r, power, min_energy)
    return (direction * rho[:, None].astype(flat.dtype)).reshape(C.shape)
