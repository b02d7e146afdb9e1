"""Labels of Paper B's learned estimators: ``psi = [g_1x, g_1y, ..., g_Qy, v_1x, ..., v_Qy]`` (4Q),
min-max normalisation (Sec. B.IV), the assignment-aware loss (17) and errors in SI units.

Per target the features are ``[x, y, v_x, v_y]`` (``[..., Q, 4]``). The min-max statistics are per
feature *type* (shared by all targets), so normalisation commutes with re-ordering targets.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..cellfree.assignment import best_permutation, reorder_true


def target_features(targets, velocities):
    """``targets[..., Q, 2]`` (m), ``velocities[..., Q, 2]`` (m/s) -> ``[..., Q, 4]``."""
    return jnp.concatenate([targets, velocities], axis=-1)


def psi_to_features(psi):
    """Network output ``psi[..., 4Q]`` (locations then velocities, as (16)) -> ``[..., Q, 4]``."""
    Q = psi.shape[-1] // 4
    g = psi[..., : 2 * Q].reshape(*psi.shape[:-1], Q, 2)
    v = psi[..., 2 * Q:].reshape(*psi.shape[:-1], Q, 2)
    return jnp.concatenate([g, v], axis=-1)


class LabelScaler(NamedTuple):
    """Min-max statistics ``low[4]``, ``high[4]`` of ``[x, y, v_x, v_y]`` recorded on training labels."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, features) -> "LabelScaler":
        f = np.asarray(features).reshape(-1, 4)
        low, high = f.min(axis=0), f.max(axis=0)
        if np.any(high <= low):
            raise ValueError("labels must vary in every feature to be min-max normalised "
                             f"(low={low.tolist()}, high={high.tolist()})")
        return cls(low=low.astype(np.float32), high=high.astype(np.float32))

    def _stats(self, x):
        """``low`` and ``high - low`` shaped ``[1, ..., 1, 4]`` to match ``x[..., 4]`` (no implicit rank promotion)."""
        shape = (1,) * (np.ndim(x) - 1) + (4,)
        return np.reshape(self.low, shape), np.reshape(self.high - self.low, shape)

    def normalise(self, features):
        low, span = self._stats(features)
        return (features - low) / span

    def rescale(self, normalised):
        low, span = self._stats(normalised)
        return normalised * span + low


def assigned_mse(pred, true):
    """(17) per element with the best target assignment: ``mean_b min_perm ||pred_b - true_b[perm]||^2 / (4Q)``
    for ``pred``, ``true`` of shape ``[B, Q, 4]`` (normalised units)."""
    perm = best_permutation(pred, true)
    return jnp.mean((pred - reorder_true(true, perm)) ** 2)


def assigned_differences(pred_norm, true_norm, scaler: LabelScaler):
    """Estimate minus truth in SI units, ``[B, Q, 4]`` (``x, y`` in m, ``v_x, v_y`` in m/s), after the
    best assignment (chosen in normalised units, as in the loss)."""
    perm = best_permutation(pred_norm, true_norm)
    return scaler.rescale(pred_norm) - scaler.rescale(reorder_true(true_norm, perm))


def assigned_errors(pred_norm, true_norm, scaler: LabelScaler):
    """Per-target errors in SI units after the best assignment:
    ``(location_error_m[B, Q], velocity_error_mps[B, Q])`` (Euclidean norms)."""
    diff = assigned_differences(pred_norm, true_norm, scaler)
    return jnp.linalg.norm(diff[..., :2], axis=-1), jnp.linalg.norm(diff[..., 2:], axis=-1)


def rmse(errors) -> float:
    """Root mean square of per-target Euclidean errors (m or m/s)."""
    return float(np.sqrt(np.mean(np.asarray(errors, dtype=np.float64) ** 2)))
