"""The CPU's read-out of the ``centre`` head for an RMSE score: each peak's estimate shrunk by its
confidence (*beyond the paper*, which regresses ``4Q`` numbers and has no peaks).

Why: a target the head misses is reported at the strongest sidelobe or ghost peak, about 50 m from
it and farther than the trivial point (the training mean), so one missed target costs more than
predicting nothing. The Bayes estimate under squared error is the posterior mean, and a peak's
logit says how likely it is to be a target; so every estimate is pulled toward a fallback by a
weight that its logit sets,

    estimate_q = w_q read_q + (1 - w_q) fallback_q,      w_q = sigmoid(a logit_q + b)

(one ``(a, b)`` for the position, one for the velocity). The strongest peak falls back to the
prior mean; a weaker peak's position falls back to ``c read_0 + (1 - c) mean``,
``c = sigmoid(a_c logit_q + b_c)``, because a second target that is not resolved is most likely
inside the strongest peak's range cell (two targets within 20 m are found in under a fifth of the
quick test samples, ``docs/modelling/paper-b-learning.md``). The six numbers ``theta = (a, b, a_v, b_v, a_c, b_c)`` are
fitted to the assigned squared error on calibration samples held out of training and test
(:func:`fit_shrinkage`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .heads import centre_peaks, head_estimates
from .targets import LabelScaler, assigned_differences
from .training import decoder_outputs, labels_of, trivial_prediction

N_SHRINKAGE_PARAMETERS = 6
_INITIAL_THETA = (1.0, 3.0, 1.0, 3.0, 0.0, 0.0)


def shrink_peaks(theta, reads, logits, prior_mean):
    """Shrunk estimates ``[B, Q, 4]`` (normalised ``x, y, v_x, v_y``) from the peaks' reads
    ``reads[B, Q, 4]`` (strongest first) and logits ``logits[B, Q]``; ``theta[6]`` as in the module
    docstring, ``prior_mean[4]`` the normalised training-label mean."""
    w_pos = jax.nn.sigmoid(theta[0] * logits + theta[1])[..., None]              # [B, Q, 1]
    w_vel = jax.nn.sigmoid(theta[2] * logits + theta[3])[..., None]
    c = jax.nn.sigmoid(theta[4] * logits + theta[5])[..., None]
    c = c * (jnp.arange(reads.shape[1]) > 0)[None, :, None]                       # the strongest: mean only
    fallback_pos = c * reads[:, :1, :2] + (1 - c) * prior_mean[None, None, :2]
    pos = w_pos * reads[..., :2] + (1 - w_pos) * fallback_pos
    vel = w_vel * reads[..., 2:] + (1 - w_vel) * prior_mean[None, None, 2:]
    return jnp.concatenate([pos, vel], axis=-1)


def shrinkage_loss(theta, reads, logits, true_norm, prior_mean, scaler: LabelScaler):
    """Mean assigned squared location error over the trivial predictor's, plus the same for the
    velocity: each part counts by its ratio to predicting the prior mean."""
    def parts(est):
        d = assigned_differences(est, true_norm, scaler)
        return jnp.mean(jnp.sum(d[..., :2] ** 2, -1)), jnp.mean(jnp.sum(d[..., 2:] ** 2, -1))

    loc0, vel0 = parts(jnp.broadcast_to(prior_mean, reads.shape))
    loc, vel = parts(shrink_peaks(theta, reads, logits, prior_mean))
    return loc / loc0 + vel / vel0


def fit_shrinkage(reads, logits, true_norm, prior_mean, scaler: LabelScaler, *, steps: int = 600,
                  learning_rate: float = 0.03) -> np.ndarray:
    """``theta[6]`` minimising :func:`shrinkage_loss` on calibration samples (``reads[n, Q, 4]``,
    ``logits[n, Q]``, their true normalised labels ``true_norm[n, Q, 4]``) by Adam from a fixed start
    (deterministic)."""
    reads, logits, true_norm = (jnp.asarray(a, jnp.float32) for a in (reads, logits, true_norm))
    if reads.ndim != 3 or reads.shape[-1] != 4 or logits.shape != reads.shape[:2] or true_norm.shape != reads.shape:
        raise ValueError("fit_shrinkage needs reads[n, Q, 4], logits[n, Q] and true_norm[n, Q, 4], got "
                         f"{reads.shape}, {logits.shape}, {true_norm.shape}")
    scaler = LabelScaler(*(jnp.asarray(a, jnp.float32) for a in scaler))
    return np.asarray(_fit_shrinkage(reads, logits, true_norm, jnp.asarray(prior_mean, jnp.float32), scaler,
                                     steps, learning_rate))


@functools.partial(jax.jit, static_argnums=(5, 6))
def _fit_shrinkage(reads, logits, true_norm, prior_mean, scaler, steps, learning_rate):
    # compiled once per calibration shape: every scheme and experiment of a run reuses it
    opt = optax.adam(learning_rate)
    grad = jax.grad(shrinkage_loss)

    def step(carry, _):
        theta, st = carry
        up, st = opt.update(grad(theta, reads, logits, true_norm, prior_mean, scaler), st)
        return (optax.apply_updates(theta, up), st), None

    theta = jnp.asarray(_INITIAL_THETA, jnp.float32)
    (theta, _), _ = jax.lax.scan(step, (theta, opt.init(theta)), None, length=steps)
    return theta


def calibrated_predict(model, state, scaler: LabelScaler, train, calibration, data) -> dict:
    """Estimates of ``model`` on ``data``: ``peaks`` (the head's own read-out, normalised ``[n, Q, 4]``)
    and, for the ``centre`` head with a ``calibration`` split, ``shrunk`` (:func:`shrink_peaks` with
    ``theta`` fitted on ``calibration``) and ``theta``; ``estimates`` is ``shrunk`` where there is one,
    else ``peaks``. ``train`` gives the prior mean (the trivial predictor's point)."""
    Q, G = model.system.n_targets, model.net.heatmap_grid
    raw = jnp.asarray(decoder_outputs(model, state, data))
    out = {"peaks": np.asarray(head_estimates(model.net.head, raw, Q, G))}
    if model.net.head != "centre" or calibration is None:
        return {**out, "estimates": out["peaks"]}
    prior = jnp.asarray(trivial_prediction(train, 1, scaler)[0, 0])
    reads_c, logits_c = centre_peaks(jnp.asarray(decoder_outputs(model, state, calibration)), Q, G)
    theta = fit_shrinkage(reads_c, logits_c, scaler.normalise(labels_of(calibration)), prior, scaler)
    shrunk = np.asarray(shrink_peaks(jnp.asarray(theta), *centre_peaks(raw, Q, G), prior))
    return {**out, "shrunk": shrunk, "theta": theta, "estimates": shrunk}
