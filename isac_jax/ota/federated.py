"""Federated edge learning with vmapped clients (Paper A, Sec. V.B; SPEC §3 "FEEL").

A round: every client starts from the global parameters ``theta`` (a flat vector ``[d]``, see
:func:`make_federated`), runs ``local_steps`` minibatch SGD steps on its own data and returns its
update ``delta_k = theta_k - theta``; the clients are one ``vmap`` (no Python loop). FedAvg combines
them with ``w_k = n_k / n``. For over-the-air transmission the updates are standardised with a
common mean and standard deviation (sent as side information) so that the transmitted symbols have
zero mean and unit variance across the network, and de-standardised after aggregation:
``sum_k w_k delta_k = std * sum_k w_k z_k + mean`` (the weights sum to one).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from ..core.validate import check_int, check_positive


class FlData(NamedTuple):
    """Device-resident data: ``x_train[n, ...]``, ``y_train[n]``, ``x_test``, ``y_test``, the client split
    ``indices[K, n_max]`` / ``counts[K]`` (:class:`~isac_jax.ota.partition.ClientSplit`) and FedAvg
    ``weights[K]``."""

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    indices: jax.Array
    counts: jax.Array
    weights: jax.Array


@dataclasses.dataclass(frozen=True)
class LocalTraining:
    """``local_steps`` SGD steps per round (paper: 5) on minibatches of ``batch_size`` with step ``learning_rate``."""

    local_steps: int = 5
    batch_size: int = 32
    learning_rate: float = 0.05

    def __post_init__(self):
        check_int("local_steps", self.local_steps)
        check_int("batch_size", self.batch_size)
        check_positive("learning_rate", self.learning_rate)


class Federated(NamedTuple):
    """Pure functions of one model on flat parameters (see :func:`make_federated`)."""

    n_params: int
    init: Callable          # key -> theta [d]
    local_update: Callable  # (theta, key, index_row, count, data) -> delta [d]
    client_updates: Callable  # (theta, key, data) -> deltas [K, d]  (vmapped)
    loss: Callable          # (theta, x, y) -> mean cross-entropy
    accuracy: Callable      # (theta, x, y) -> fraction correct


def make_federated(model, example_x, training: LocalTraining = LocalTraining()) -> Federated:
    """Bind a Flax ``model`` (logits out) to flat-parameter FL functions. ``example_x[1, ...]`` fixes shapes."""
    params0 = model.init(jax.random.PRNGKey(0), example_x)
    flat0, unravel = ravel_pytree(params0)

    def init(key):
        return ravel_pytree(model.init(key, example_x))[0]

    def loss(theta, x, y):
        logits = model.apply(unravel(theta), x)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))

    def accuracy(theta, x, y):
        return jnp.mean(jnp.argmax(model.apply(unravel(theta), x), axis=-1) == y)

    grad = jax.grad(loss)

    def local_update(theta, key, index_row, count, data: FlData):
        def step(th, k):
            idx = index_row[jax.random.randint(k, (training.batch_size,), 0, count)]
            return th - training.learning_rate * grad(th, data.x_train[idx], data.y_train[idx]), None

        th, _ = jax.lax.scan(step, theta, jax.random.split(key, training.local_steps))
        return th - theta

    def client_updates(theta, key, data: FlData):
        keys = jax.random.split(key, data.indices.shape[0])
        return jax.vmap(local_update, (None, 0, 0, 0, None))(theta, keys, data.indices, data.counts, data)

    return Federated(int(flat0.size), init, local_update, client_updates, loss, accuracy)


def fedavg(deltas, weights):
    """FedAvg aggregate ``sum_k w_k delta_k``. ``deltas[K, d]``, ``weights[K]`` (sum to one). Output ``[d]``."""
    return jnp.einsum("k,kd->d", weights.astype(deltas.dtype), deltas)


def standardise(deltas, weights):
    """Common standardisation ``z_k = (delta_k - mean) / std``. Returns ``(z[K, d], mean, std)``.

    ``mean = sum_k w_k mean(delta_k)`` and ``std`` the pooled (w-weighted) standard deviation of all
    entries about it, so the transmitted symbols have zero mean and unit variance on average.
    """
    w = weights.astype(deltas.dtype)
    mean = jnp.sum(w * jnp.mean(deltas, axis=1))
    std = jnp.sqrt(jnp.sum(w * jnp.mean((deltas - mean) ** 2, axis=1)))
    std = jnp.where(std > 0, std, 1.0)
    return (deltas - mean) / std, mean, std


def destandardise(aggregate, mean, std, weights):
    """Invert :func:`standardise` on an aggregate ``sum_k w_k z_k``: ``std * aggregate + mean * sum_k w_k``."""
    return std * aggregate + mean * jnp.sum(weights)


def make_fl_data(dataset, split, *, standardise_inputs: bool = False) -> FlData:
    """Device arrays of an :class:`~isac_jax.ota.datasets.ImageDataset` and a
    :class:`~isac_jax.ota.partition.ClientSplit`.

    ``standardise_inputs``: subtract the per-channel mean and divide by the per-channel std of the
    training images (both sets), the usual CIFAR preprocessing; the statistics are those of the
    pooled training set, a common preprocessing constant the clients are given.
    """
    x_train, x_test = jnp.asarray(dataset.x_train), jnp.asarray(dataset.x_test)
    if standardise_inputs:
        axes = tuple(range(x_train.ndim - 1))
        mean, std = jnp.mean(x_train, axis=axes), jnp.std(x_train, axis=axes)
        std = jnp.where(std > 0, std, 1.0)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return FlData(x_train, jnp.asarray(dataset.y_train), x_test, jnp.asarray(dataset.y_test),
                  jnp.asarray(split.indices), jnp.asarray(split.counts), jnp.asarray(split.weights, jnp.float32))
