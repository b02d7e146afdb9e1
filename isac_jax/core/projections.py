"""Euclidean projections used by the projected-gradient solvers.

:func:`project_norms_energy` projects a vector of non-negative norms ``r[K]`` onto the
(non-convex) set ``{0 <= rho_k <= sqrt(P), sum_k rho_k^2 >= E_min}`` exactly:

* clip to the box; if the energy is then sufficient, the box projection is the answer (it is the
  nearest point of a superset);
* otherwise the energy constraint is active and the KKT conditions give
  ``rho_k = min(sqrt(P), (1 + mu) r_k)`` with ``mu >= 0`` found by bisection so that the energy
  equals ``E_min``; entries with ``r_k = 0`` cannot grow by scaling and receive the energy still
  missing once every non-zero entry is at ``sqrt(P)`` (split equally).

:func:`project_precoders` lifts it to precoders ``C[K, ...]``: each block keeps its direction
(a zero block takes the fixed default direction ``e_1 e_1^T / 1``) and gets the projected norm.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _energy(r, p_max, mu):
    return jnp.sum(jnp.minimum(p_max, (1.0 + mu) * r) ** 2)


def project_norms_energy(r, power, min_energy, *, n_bisect: int = 60):
    """Exact projection of ``r[K] >= 0`` onto ``{rho <= sqrt(power), sum rho^2 >= min_energy}``."""
    p_max = jnp.sqrt(power)
    box = jnp.clip(r, 0.0, p_max)
    short = jnp.sum(box**2) < min_energy
    # Bracket mu: at mu_hi every non-zero entry saturates at sqrt(P) (mu_hi = 0 if all are zero).
    r_pos_min = jnp.min(jnp.where(box > 0, box, p_max))
    mu_hi = p_max / r_pos_min

    def bisect(_, lohi):
        lo, hi = lohi
        mid = 0.5 * (lo + hi)
        ok = _energy(box, p_max, mid) >= min_energy
        return jnp.where(ok, lo, mid), jnp.where(ok, mid, hi)

    _, mu = jax.lax.fori_loop(0, n_bisect, bisect, (jnp.zeros_like(mu_hi), mu_hi))
    scaled = jnp.minimum(p_max, (1.0 + mu) * box)
    # Energy still missing after every non-zero entry saturates goes to the zero entries.
    zero = box <= 0
    missing = jnp.maximum(min_energy - jnp.sum(scaled**2), 0.0)
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
