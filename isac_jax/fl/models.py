"""Paper A's learning models in Flax (Sec. V.B): a two-layer MLP and the CIFAR CNN.

*Decision (CNN widths):* the paper lists "three convolutional blocks, each with two 3x3 convolutional
layers (using 32, 64, 128 and 256 filters), ReLU, 2x2 max-pooling, then FC 1024 and 512 and a
10-output softmax". Six layers but four widths: we use (32, 32) | (64, 64) | (128, 256), i.e. the
widths in the order listed, doubling per block and widening the last layer to 256. Padding "SAME".
Both models return logits; the softmax lives in the loss.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


class Mlp(nn.Module):
    """Two-layer perceptron: flatten -> Dense(hidden) -> ReLU -> Dense(n_classes). Input ``[B, H, W, C]``."""

    hidden: int = 200
    n_classes: int = 10

    @nn.compact
    def __call__(self, x):
        x = jnp.reshape(x, (x.shape[0], -1))
        x = nn.relu(nn.Dense(self.hidden)(x))
        return nn.Dense(self.n_classes)(x)


class CifarCnn(nn.Module):
    """Paper A's CNN: ``len(conv_filters)`` blocks of 3x3 convs + ReLU then 2x2 max-pool, then FCs."""

    conv_filters: tuple = ((32, 32), (64, 64), (128, 256))
    fc: tuple = (1024, 512)
    n_classes: int = 10

    @nn.compact
    def __call__(self, x):
        for block in self.conv_filters:
            for width in block:
                x = nn.relu(nn.Conv(width, (3, 3), padding="SAME")(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = jnp.reshape(x, (x.shape[0], -1))
        for width in self.fc:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.n_classes)(x)


def build_model(kind: str, *, hidden: int = 200, conv_filters=((32, 32), (64, 64), (128, 256)), fc=(1024, 512)):
    """``"mlp"`` or ``"cnn"`` with the given widths."""
    if kind == "mlp":
        return Mlp(hidden=hidden)
    if kind == "cnn":
        return CifarCnn(conv_filters=tuple(tuple(b) for b in conv_filters), fc=tuple(fc))
    raise ValueError(f"model kind must be 'mlp' or 'cnn', got {kind!r}")
