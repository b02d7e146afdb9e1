"""Label-skew split of a training set over FEEL clients (Paper A, Sec. V.B; Dirichlet(alpha = 0.4)).

For every class c, the class's samples are put in a random order and cut among the K clients in proportions
``q_c ~ Dirichlet(alpha 1_K)`` (the usual construction of non-i.i.d. FL benchmarks): small ``alpha``
gives each client few classes, large ``alpha`` approaches an i.i.d. split. All draws come from the key.

The result is padded to a rectangle so that clients can be ``vmap``-ed: ``indices[K, n_max]`` holds
each client's sample indices (rows padded by repeating the client's own indices) and
``counts[K]`` the true sizes; a minibatch of client k draws positions in ``[0, counts[k])``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.validate import check_int, check_positive


class ClientSplit(NamedTuple):
    """``indices int32 [K, n_max]`` (padded), ``counts int32 [K]``, FedAvg ``weights float [K]`` (n_k / n)."""

    indices: np.ndarray
    counts: np.ndarray
    weights: np.ndarray


def dirichlet_partition(key, labels, n_clients: int, alpha: float = 0.4, *, min_size: int = 1,
                        max_tries: int = 100) -> ClientSplit:
    """Split the samples with ``labels[n]`` over ``n_clients`` clients, class shares ~ Dirichlet(alpha).

    Draws are repeated (new subkeys) until every client has at least ``min_size`` samples;
    ``ValueError`` if that fails ``max_tries`` times (too few samples for so many clients).
    """
    K = check_int("n_clients", n_clients)
    check_positive("alpha", alpha)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size < K * min_size:
        raise ValueError(f"labels must be 1-D with at least n_clients * min_size = {K * min_size} entries, "
                         f"got shape {labels.shape}")
    classes = np.unique(labels)
    for attempt in range(max_tries):
        k_try = jax.random.fold_in(key, attempt)
        shares = np.asarray(jax.random.dirichlet(k_try, jnp.full((K,), float(alpha)), (len(classes),)),
                            dtype=np.float64)                                         # [n_classes, K]
        members = [[] for _ in range(K)]
        # One uniform draw per sample orders every class at random (one compiled draw, whatever the class sizes).
        order = np.asarray(jax.random.uniform(jax.random.fold_in(k_try, 1000), labels.shape))
        for j, c in enumerate(classes):
            idx = np.flatnonzero(labels == c)
            idx = idx[np.argsort(order[idx], kind="stable")]
            cuts = np.round(np.cumsum(shares[j])[:-1] * len(idx)).astype(int)
            for k, part in enumerate(np.split(idx, cuts)):
                members[k].append(part)
        members = [np.concatenate(m) for m in members]
        counts = np.array([len(m) for m in members])
        if counts.min() >= min_size:
            break
    else:
        raise ValueError(f"dirichlet_partition: could not give every one of {K} clients >= {min_size} samples "
                         f"in {max_tries} draws (alpha={alpha}, n={labels.size})")
    n_max = int(counts.max())
    indices = np.stack([np.resize(m, n_max) for m in members]).astype(np.int32)
    return ClientSplit(indices, counts.astype(np.int32), counts / counts.sum())


def label_histograms(split: ClientSplit, labels, n_classes: int = 10) -> np.ndarray:
    """Per-client label counts ``[K, n_classes]`` (padding excluded)."""
    labels = np.asarray(labels)
    return np.stack([np.bincount(labels[row[:n]], minlength=n_classes)
                     for row, n in zip(split.indices, split.counts)])
