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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from ..core.validate import check_int, check_positive


class FlData(NamedTuple):
    """Device-resident data: ``x_train[n, ...]``, ``y_train[n]``, ``x_test``, ``y_test``, the client split
    ``indices[K, n_max]`` / ``counts[K]`` (:class:`~isac_jax.fl.partition.ClientSplit`) and FedAvg
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


@dataclasses.dataclass(frozen=True)
class Federated:
    """Pure functions of one Flax ``model`` (logits out) on flat parameters ``theta[d]``.

    A frozen dataclass compared and hashed *by value* (the Flax module, the example input's shape
    and dtype, the local training): it is a static argument of the jitted simulation, so two runs
    with the same task share one compilation through JAX's own cache (no cache of ours).
    Build it with :func:`make_federated`.
    """

    model: Any
    example_shape: tuple
    example_dtype: str
    training: LocalTraining = LocalTraining()

    def _unravel(self):
        shapes = jax.eval_shape(self.model.init, jax.random.PRNGKey(0),
                                jax.ShapeDtypeStruct(self.example_shape, self.example_dtype))
        return ravel_pytree(jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes))

    @property
    def n_params(self) -> int:
        """``d``, the number of model parameters (one channel use each per round)."""
        return int(self._unravel()[0].size)

    def init(self, key):
        """Fresh flat parameters ``theta[d]`` drawn with ``key``."""
        return ravel_pytree(self.model.init(key, jnp.zeros(self.example_shape, self.example_dtype)))[0]

    def loss(self, theta, x, y):
        """Mean cross-entropy of the model at ``theta`` on ``x[n, ...]``, ``y[n]``."""
        logits = self.model.apply(self._unravel()[1](theta), x)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))

    def accuracy(self, theta, x, y):
        """Fraction of ``x`` classified as ``y``."""
        return jnp.mean(jnp.argmax(self.model.apply(self._unravel()[1](theta), x), axis=-1) == y)

    def local_update(self, theta, key, index_row, count, data: FlData):
        """``local_steps`` minibatch SGD steps from ``theta`` on one client's rows; returns ``delta[d]``."""
        tr = self.training
        grad = jax.grad(self.loss)

        def step(th, k):
            idx = index_row[jax.random.randint(k, (tr.batch_size,), 0, count)]
            return th - tr.learning_rate * grad(th, data.x_train[idx], data.y_train[idx]), None

        th, _ = jax.lax.scan(step, theta, jax.random.split(key, tr.local_steps))
        return th - theta

    def client_updates(self, theta, key, data: FlData):
        """Every client's update at once (``vmap`` over clients): ``deltas[K, d]``."""
        keys = jax.random.split(key, data.indices.shape[0])
        return jax.vmap(self.local_update, (None, 0, 0, 0, None))(theta, keys, data.indices, data.counts, data)


def make_federated(model, example_x, training: LocalTraining = LocalTraining()) -> Federated:
    """Bind a Flax ``model`` (logits out) to flat-parameter FL functions. ``example_x[1, ...]`` fixes shapes."""
    return Federated(model, tuple(example_x.shape), jnp.asarray(example_x).dtype.name, training)


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
    """Device arrays of an :class:`~isac_jax.fl.datasets.ImageDataset` and a
    :class:`~isac_jax.fl.partition.ClientSplit`.

    ``standardise_inputs``: subtract the per-channel mean and divide by the per-channel std of the
    training images (both sets), the usual CIFAR preprocessing; the statistics are those of the
    pooled training set, a common preprocessing constant the clients are given.
    """
    x_train, x_test = jnp.asarray(dataset.x_train), jnp.asarray(dataset.x_test)
    if standardise_inputs:
        axes = tuple(range(x_train.ndim - 1))
        mean, std = jnp.mean(x_train, axis=axes, keepdims=True), jnp.std(x_train, axis=axes, keepdims=True)
        std = jnp.where(std > 0, std, 1.0)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return FlData(x_train, jnp.asarray(dataset.y_train), x_test, jnp.asarray(dataset.y_test),
                  jnp.asarray(split.indices), jnp.asarray(split.counts), jnp.asarray(split.weights, jnp.float32))
