"""Algorithm B.1 (collaborative training) with exact resume, and evaluation in SI units.

One jitted step does lines 5-17 of Algorithm B.1 for all APs at once: encode (vmapped per-AP
encoders), quantise, decode, loss (17)+(21) with the best target assignment, Adam on encoders and
decoder (the straight-through gradient reaches the encoders), then the EMA codebook update
(18)-(20) with the indices chosen against the previous codebook.

The batch order of epoch ``e`` is ``permutation(fold_in(data_key, e))``, so a run resumed from a
checkpoint (saved every ``checkpoint_every`` steps, at every epoch end and when the time budget is
spent) replays exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..cellfree.config import CellFreeConfig
from .config import NetConfig, TrainConfig
from .data import as_split
from .model import SensingModel
from .quantiser import ema_update, perplexity, restart_dead_codes
from .heads import head_estimates, head_loss, training_queries
from .targets import LabelScaler, assigned_differences, rmse, target_features


class TrainState(NamedTuple):
    """Everything a resumed run needs: parameters, Adam state, codebooks (``None`` unless D-VQVAE),
    the global step and the per-step training loss and codebook perplexity so far."""

    params: dict
    opt_state: tuple
    book: object
    step: jax.Array
    loss: jax.Array          # [total_steps], NaN where not yet run
    perplexity: jax.Array    # [total_steps], mean over APs (NaN for schemes without codebooks)


def labels_of(data):
    """``[n, Q, 4]`` features ``[x, y, v_x, v_y]`` of a split or a dict with ``targets`` and ``velocities``."""
    lab = as_split(data).labels()
    return np.asarray(target_features(jnp.asarray(lab["targets"]), jnp.asarray(lab["velocities"])))


def make_optimizer(grad_clip: float | None, learning_rate: float):
    """Adam (optionally after global-norm clipping) with the learning rate held in the optimiser
    *state* (``optax.inject_hyperparams``): runs at different learning rates share one compiled step."""
    clip = [optax.clip_by_global_norm(grad_clip)] if grad_clip else []
    return optax.chain(*clip, optax.inject_hyperparams(optax.adam, hyperparam_dtype=jnp.float32)(learning_rate=learning_rate))


def learning_rate_at(tc: TrainConfig, step: int, budget: int) -> float:
    """The learning rate of global step ``step`` (0-based) of a run of ``budget`` steps."""
    if tc.lr_schedule == "cosine":
        return tc.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(step, budget) / budget))
    return tc.learning_rate


def _with_learning_rate(opt_state, rate: float):
    """``opt_state`` of :func:`make_optimizer` with its injected learning rate set to ``rate``."""
    inner = opt_state[-1]
    hyper = {**inner.hyperparams, "learning_rate": jnp.asarray(rate, jnp.float32)}
    return (*opt_state[:-1], inner._replace(hyperparams=hyper))


def make_train_step(model: SensingModel, tc: TrainConfig):
    """``step(state, Y, X, labels_norm, key) -> (state, loss, perplexity)``, jitted; one compilation
    per (model, gradient clipping) through JAX's cache, shared by every ``fit`` call and learning rate."""
    return functools.partial(_train_step, model, tc.grad_clip)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _train_step(model: SensingModel, grad_clip, state: TrainState, Y, X, labels, key):
    opt = make_optimizer(grad_clip, 0.0)          # the learning rate itself comes from state.opt_state
    net = model.net
    k_latent, k_restart = jax.random.split(key)

    def loss_fn(params):
        pred, aux = model.forward(params, state.book, Y, X, key=k_latent,
                                  queries=training_queries(net.head, labels, net.heatmap_grid))
        est = head_loss(net.head, pred, labels, net.heatmap_grid, net.heatmap_sigma, net.heatmap_regression_weight)
        if net.encoder_doppler_weight > 0 and model.scheme != "cnn":
            est = est + net.encoder_doppler_weight * model.latent_doppler_loss(params, aux["latents"], labels)
        return est + aux["regulariser"], aux

    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = opt.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    book, ppl = state.book, jnp.full((), jnp.nan, loss.dtype)
    if model.scheme == "dvqvae":
        ppl = jnp.mean(perplexity(aux["indices"], net.n_codewords))
        book = ema_update(book, aux["latents"], aux["indices"], decay=net.ema_decay, eps=net.laplace_eps)
        if net.dead_code_restart:
            book = restart_dead_codes(k_restart, book, aux["latents"], net.dead_code_threshold)
    s = state.step
    return TrainState(params, opt_state, book, s + 1, state.loss.at[s].set(loss.astype(jnp.float32)),
                      state.perplexity.at[s].set(ppl.astype(jnp.float32))), loss, ppl


def init_state(model: SensingModel, tc: TrainConfig, key, first_batch: dict, total_steps: int) -> TrainState:
    """A fresh :class:`TrainState`: the model initialised from ``key`` on ``first_batch`` (``Y``, ``X``), the
    optimiser of ``tc``, and loss and perplexity histories of ``total_steps`` NaNs."""
    params, book = model.init(key, jnp.asarray(first_batch["Y"]), jnp.asarray(first_batch["X"]))
    nan = jnp.full((total_steps,), jnp.nan, jnp.float32)
    return TrainState(params, make_optimizer(tc.grad_clip, tc.learning_rate).init(params), book, jnp.zeros((), jnp.int32), nan, nan)


# Fields of TrainConfig that do not change what a step computes: a checkpoint resumes across them.
_NOT_SETTINGS = ("time_budget_s", "max_steps", "data_parallel", "checkpoint_every")


def data_parallel_shardings(batch_size: int):
    """``(replicated, batch)`` shardings over all local devices (mesh axis ``"data"``): parameters
    and optimiser state replicated, arrays split along their first (batch) axis."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = jax.local_devices()
    if batch_size % len(devices):
        raise ValueError(f"batch_size = {batch_size} must be a multiple of the {len(devices)} local devices "
                         "for data-parallel training")
    mesh = Mesh(np.asarray(devices), ("data",))
    return NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec("data"))


def _run_signature(model: SensingModel, tc: TrainConfig, train, seed: int) -> str:
    source = dataclasses.asdict(train) if dataclasses.is_dataclass(train) else {"arrays": len(train)}
    return json.dumps({"scheme": model.scheme, "net": dataclasses.asdict(model.net),
                       "system": dataclasses.asdict(model.system), "train_data": source, "seed": seed,
                       "train": {k: v for k, v in dataclasses.asdict(tc).items() if k not in _NOT_SETTINGS}},
                      sort_keys=True, default=str)


def _same_settings(saved: str, current: str) -> bool:
    """Whether a checkpoint's signature describes the current run. A setting the checkpoint does not
    name (a field added to the package after it was written) counts as its default value, so
    adding a field with a default keeps old checkpoints resumable."""
    old, new = json.loads(saved), json.loads(current)
    defaults = {"net": NetConfig(), "system": CellFreeConfig(), "train": TrainConfig()}
    for part, cls_default in defaults.items():
        if isinstance(old.get(part), dict):
            filled = json.loads(json.dumps(dataclasses.asdict(cls_default), default=str))
            if part == "train":
                filled = {k: v for k, v in filled.items() if k not in _NOT_SETTINGS}
            old[part] = {**{k: v for k, v in filled.items() if k not in old[part]}, **old[part]}
    return old == new


class FitResult(NamedTuple):
    """What :func:`fit` returns: the trained state, the label scaler fitted on the training labels, the
    steps per epoch, whether the budget was completed, and the wall time (s) of this call's steps."""

    state: TrainState
    scaler: LabelScaler
    steps_per_epoch: int
    completed: bool                      # False when stopped by max_steps / time budget
    train_time_s: float                  # wall time of the steps run by this call

    def epoch_loss(self) -> np.ndarray:
        """Mean training loss of each finished epoch."""
        loss = np.asarray(self.state.loss).reshape(-1, self.steps_per_epoch)
        done = ~np.isnan(loss).any(axis=1)
        return loss[done].mean(axis=1)


def fit(model: SensingModel, tc: TrainConfig, train, *, seed: int = 0, checkpoint=None,
        progress: bool = True, max_steps: int | None = None) -> FitResult:
    """Train ``model`` on ``train``: a dict of arrays ``Y``, ``X``, ``targets``, ``velocities``, or a
    split of :mod:`isac_jax.dvqvae.data` (e.g. a streamed :class:`GeneratedSplit`).

    ``checkpoint``: file path; if it exists (and was written with the same settings) training
    resumes from it. ``max_steps`` stops after that many global steps (used to test resumption);
    the budget itself is ``tc.max_steps``. With ``tc.data_parallel`` every batch is split over all
    local devices and the parameters are replicated: the same updates as on one device, up to the
    order of floating-point sums.
    """
    train = as_split(train)
    n = len(train)
    B = tc.batch_size
    if n < B:
        raise ValueError(f"the training set ({n} samples) must hold at least batch_size = {B} samples")
    R = n // B
    total = R * tc.epochs
    features = labels_of(train)
    scaler = LabelScaler.fit(features)
    labels = np.asarray(scaler.normalise(features), np.float32)
    k_init, k_data, k_step = jax.random.split(jax.random.PRNGKey(seed), 3)
    state = init_state(model, tc, k_init, train.batch(np.arange(B)), total)
    signature = _run_signature(model, tc, train, seed)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        saved = load_checkpoint(ckpt, {"signature": "", "state": state})
        if not _same_settings(saved["signature"], signature):
            raise ValueError(f"checkpoint {str(ckpt)!r} was written for other settings; use another path")
        state = saved["state"]

    def save():
        if ckpt is not None:
            save_checkpoint(ckpt, {"signature": signature, "state": state})

    step_fn = make_train_step(model, tc)
    budget = total if tc.max_steps is None else min(total, tc.max_steps)
    stop = budget if max_steps is None else min(budget, max_steps)
    start = int(state.step)
    place_batch = lambda *arrays: arrays                                        # noqa: E731
    if tc.data_parallel:
        replicated, split = data_parallel_shardings(B)
        state = jax.device_put(state, replicated)
        place_batch = lambda *arrays: tuple(jax.device_put(np.asarray(a), split) for a in arrays)   # noqa: E731
    t0 = time.perf_counter()
    bar = tqdm(total=budget, initial=start, desc=f"train {model.scheme}", disable=not progress, leave=False)
    order, order_epoch = None, -1
    completed = True
    for s in range(start, stop):
        epoch, r = divmod(s, R)
        if epoch != order_epoch:
            order, order_epoch = np.asarray(jax.random.permutation(jax.random.fold_in(k_data, epoch), n)), epoch
        idx = np.sort(order[r * B:(r + 1) * B])
        batch = train.batch(idx)
        previous = state
        inputs = place_batch(batch["Y"], batch["X"], labels[idx])
        if tc.lr_schedule != "constant":
            state = state._replace(opt_state=_with_learning_rate(state.opt_state, learning_rate_at(tc, s, budget)))
        state, loss, ppl = step_fn(state, *inputs, jax.random.fold_in(k_step, s))
        bar.update(1)
        if s % 10 == 0:
            bar.set_postfix(epoch=epoch, loss=f"{float(loss):.4f}",
                            **({"perplexity": f"{float(ppl):.1f}"} if model.scheme == "dvqvae" else {}))
        if not np.isfinite(float(loss)):
            state = previous          # keep the last finite state on disk, not the NaN update
            save()
            raise FloatingPointError(f"training loss became {float(loss)} at step {s}; the state before "
                                     "that step is saved")
        budget_spent = tc.time_budget_s is not None and time.perf_counter() - t0 > tc.time_budget_s
        if (s + 1) % tc.checkpoint_every == 0 or (s + 1) % R == 0 or budget_spent:
            save()
        if budget_spent and s + 1 < budget:
            completed = False
            break
    bar.close()
    if stop < budget:
        completed = int(state.step) >= budget
    save()
    return FitResult(state, scaler, R, completed, time.perf_counter() - t0)


def decoder_outputs(model: SensingModel, state: TrainState, data, *, batch_size: int = 64):
    """The decoder's raw outputs ``[n, n_outputs]`` (what :func:`isac_jax.dvqvae.heads.head_estimates`
    reads). The D-VQVAE runs the online path of Algorithm B.2 (indices at the APs, decoding from
    indices at the CPU), so what is evaluated is what the fronthaul carries."""
    fn = functools.partial(_decoder_outputs, model)
    data = as_split(data)
    out = []
    for b0 in range(0, len(data), batch_size):
        batch = data.batch(np.arange(b0, min(b0 + batch_size, len(data))))
        out.append(np.asarray(fn(state.params, state.book, jnp.asarray(batch["Y"]), jnp.asarray(batch["X"]))))
    return np.concatenate(out)


@functools.partial(jax.jit, static_argnums=0)
def _decoder_outputs(model: SensingModel, params, book, Y, X):
    if model.scheme == "dvqvae":
        return model.estimate_from_indices(params, book, model.ap_indices(params, book, Y, X), X)
    return model.forward(params, book, Y, X)[0]


def predict(model: SensingModel, state: TrainState, data, *, batch_size: int = 64):
    """Normalised estimates ``[n, Q, 4]`` read from :func:`decoder_outputs` by the model's head
    (for ``centre``, its ``Q`` strongest peaks)."""
    raw = decoder_outputs(model, state, data, batch_size=batch_size)
    return np.asarray(head_estimates(model.net.head, jnp.asarray(raw), model.system.n_targets, model.net.heatmap_grid))


def evaluate(pred_norm, data, scaler: LabelScaler) -> dict:
    """Location RMSE (m) and velocity RMSE (m/s) per target, with the best assignment, and the RMSE
    of each coordinate (``coordinate_rmse``: x, y in m, v_x, v_y in m/s; the squares of x and y add
    up to the location RMSE's): which coordinates a model resolves (the geometry of Table B.I informs
    x better than y and v_x far better than v_y, ``docs/modelling/paper-b-learning.md``)."""
    true = scaler.normalise(labels_of(data))
    diff = np.asarray(assigned_differences(jnp.asarray(pred_norm), jnp.asarray(true), scaler), np.float64)
    per_coordinate = np.sqrt(np.mean(diff.reshape(-1, 4) ** 2, axis=0))
    return {"location_rmse_m": rmse(np.linalg.norm(diff[..., :2], axis=-1)),
            "velocity_rmse_mps": rmse(np.linalg.norm(diff[..., 2:], axis=-1)),
            "coordinate_rmse": dict(zip(("x_m", "y_m", "vx_mps", "vy_mps"), per_coordinate.tolist()))}


def trivial_prediction(train, n: int, scaler: LabelScaler) -> np.ndarray:
    """The trivial estimator: every target at the training-label mean of each feature, ``[n, Q, 4]``."""
    f = labels_of(train)
    mean = f.reshape(-1, 4).mean(axis=0)
    return np.asarray(scaler.normalise(np.broadcast_to(mean, (n, f.shape[1], 4))), np.float32)
