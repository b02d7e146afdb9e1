"""Target association (SPEC §6 decision): targets are exchangeable, so every loss and every error
uses the best assignment of predicted to true targets.

The assignment minimises the summed squared error over all of a target's features (location and
velocity, in whatever units the caller passes: normalised labels for the training loss and for
picking the assignment in evaluation). For ``Q <= 4`` all ``Q!`` orderings are tried; beyond, a
greedy minimum-cost matching is used.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

EXHAUSTIVE_MAX_TARGETS = 4


def permutation_table(n_targets: int) -> np.ndarray:
    """All orderings of ``range(n_targets)`` as ``int[Q!, Q]``."""
    return np.array(list(itertools.permutations(range(n_targets))), dtype=np.int32)


def _greedy(cost):
    """Greedy matching on ``cost[Q, Q]`` (pred x true): ``perm[q]`` = true index for prediction q."""
    Q = cost.shape[0]

    def step(carry, _):
        c, perm = carry
        flat = jnp.argmin(c)
        p, t = flat // Q, flat % Q
        c = c.at[p, :].set(jnp.inf).at[:, t].set(jnp.inf)
        return (c, perm.at[p].set(t.astype(jnp.int32))), None

    (_, perm), _ = jax.lax.scan(step, (cost, jnp.zeros(Q, jnp.int32)), None, length=Q)
    return perm


def best_permutation(pred, true):
    """``perm[..., Q]`` with ``true[..., perm[q], :]`` the target matched to prediction ``q``.

    ``pred``, ``true``: ``[..., Q, F]`` (F features per target, e.g. ``[x, y, v_x, v_y]``).
    """
    if pred.shape != true.shape:
        raise ValueError(f"pred and true must have the same shape, got {pred.shape} and {true.shape}")
    Q = pred.shape[-2]
    cost = jnp.sum((pred[..., :, None, :] - true[..., None, :, :]) ** 2, axis=-1)   # [..., Q_pred, Q_true]
    if Q <= EXHAUSTIVE_MAX_TARGETS:
        perms = jnp.asarray(permutation_table(Q))                                    # [P, Q]
        total = jnp.sum(cost[..., jnp.arange(Q)[None, :], perms], axis=-1)           # [..., P]
        return perms[jnp.argmin(total, axis=-1)]
    flat = cost.reshape((-1, Q, Q))
    return jax.vmap(_greedy)(flat).reshape(cost.shape[:-1])


def reorder_true(true, perm):
    """``true[..., perm[q], :]`` for every prediction ``q``."""
    return jnp.take_along_axis(true, perm[..., None], axis=-2)
