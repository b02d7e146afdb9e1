"""Paper B learning: where a trained ``b-train`` model's errors come from. Loads the model from its
checkpoint (``<out>/b-train/work/<key>/<scheme>.ckpt`` of ``isac-jax reproduce b-train --preset quick``;
a checkpoint written with other settings is refused), predicts the 1,000 test samples and prints the
location RMSE of the stronger and the weaker target (echo energy summed over all transmit-receive
pairs, ``|beta|^2 / (d_tx d_rx)^2``), and the RMSEs binned by the targets' separation and by their
energy ratio, each beside the trivial predictor's on the same samples. A model limited by resolving
two targets would do much better on well-separated or unequal pairs than on close or equal ones.
Last, the root median and root mean CRLB of each coordinate (x, y, v_x, v_y) on the first 64 test
samples (float64), i.e. what the geometry informs.

Usage: python benchmarks/learned_error_breakdown.py CHECKPOINT [--scheme dvqvae]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import jax
import numpy as np

from isac_jax.cellfree import crlb
from isac_jax.cellfree.dataset import sample_batch
from isac_jax.core import float64
from isac_jax.dvqvae import SensingModel
from isac_jax.dvqvae.targets import LabelScaler
from isac_jax.dvqvae.training import evaluate, fit, labels_of, predict, trivial_prediction
from isac_jax.experiments.paper_b import train as b_train


def _rmse(e) -> float:
    return float(np.sqrt(np.mean(np.asarray(e, np.float64) ** 2)))


def _assigned_location_errors(pred, tg, vel, scaler: LabelScaler):
    """Per-target location errors ``[n, 2]`` with the evaluation's assignment (normalised units, all
    four features; two targets)."""
    tn = scaler.normalise(np.concatenate([tg, vel], -1))
    pn = scaler.normalise(pred)
    swap = ((pn[:, ::-1] - tn) ** 2).sum((1, 2)) < ((pn - tn) ** 2).sum((1, 2))
    p = np.where(swap[:, None, None], pred[:, ::-1], pred)
    return np.linalg.norm(p[..., :2] - tg, axis=-1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--scheme", default="dvqvae")
    args = ap.parse_args()
    setup = b_train.PRESETS["quick"].setup
    system = setup.system()
    if system.n_targets != 2:
        raise ValueError("the breakdown compares two targets")
    train, test = setup.splits(0)
    model = SensingModel(args.scheme, setup.net(), system)
    with tempfile.TemporaryDirectory() as tmp:            # fit() saves at its end: never touch the original
        ckpt = Path(tmp) / "model.ckpt"
        shutil.copy(args.checkpoint, ckpt)
        res = fit(model, setup.train_config(), train, seed=0, checkpoint=ckpt, progress=False)
    pred_norm = predict(model, res.state, test)
    pred = np.asarray(res.scaler.rescale(pred_norm))
    s = sample_batch(jax.random.PRNGKey(0), np.arange(test.start, test.stop), system)
    tg, vel = (np.asarray(s[k], np.float64) for k in ("targets", "velocities"))
    beta = np.asarray(s["beta"], np.complex128)                                   # [n, N, M, Q]
    triv = np.asarray(res.scaler.rescale(trivial_prediction(train, len(test), LabelScaler.fit(labels_of(train)))))
    err = _assigned_location_errors(pred, tg, vel, res.scaler)
    err0 = _assigned_location_errors(triv, tg, vel, res.scaler)
    tx, rx = np.asarray(system.tx_array()), np.asarray(system.rx_array())
    d_tx = np.linalg.norm(tg[:, None] - tx[None, :, None], axis=-1)                # [n, N, Q]
    d_rx = np.linalg.norm(tg[:, None] - rx[None, :, None], axis=-1)                # [n, M, Q]
    energy = (np.abs(beta) ** 2 / (d_tx[:, :, None] * d_rx[:, None]) ** 2).sum((1, 2))   # [n, Q]
    strong = np.argmax(energy, axis=1)
    rows = np.arange(len(tg))
    ratio_db = 10 * np.log10(energy.min(1) / energy.max(1))
    sep = np.linalg.norm(tg[:, 0] - tg[:, 1], axis=-1)
    print(f"# {args.scheme} ({args.checkpoint}), {len(tg)} test samples: location RMSE {_rmse(err):.1f} m "
          f"(trivial {_rmse(err0):.1f} m); stronger target {_rmse(err[rows, strong]):.1f} m, "
          f"weaker {_rmse(err[rows, 1 - strong]):.1f} m")
    c = evaluate(pred_norm, test, res.scaler)["coordinate_rmse"]
    print("per coordinate (training.evaluate): " + ", ".join(f"{k} {v:.1f}" for k, v in c.items()))
    print("| bin | samples | location RMSE (m) | trivial (m) | ratio |")
    print("|---|---|---|---|---|")
    bins = [(f"separation {a}-{b} m", (sep >= a) & (sep < b)) for a, b in ((0, 20), (20, 40), (40, 60), (60, 150))]
    bins += [(f"weaker/stronger {a} to {b} dB", (ratio_db >= a) & (ratio_db < b))
             for a, b in ((-99, -10), (-10, -5), (-5, 0.01))]
    for name, sel in bins:
        print(f"| {name} | {sel.sum()} | {_rmse(err[sel]):.1f} | {_rmse(err0[sel]):.1f} "
              f"| {_rmse(err[sel]) / _rmse(err0[sel]):.2f} |")
    bound = coordinate_crlb(system, test.start)
    print("root median / root mean CRLB, first 64 test samples: "
          + ", ".join(f"{k} {a:.2f} / {b:.2f}" for k, (a, b) in bound.items()))


def coordinate_crlb(system, start: int, n: int = 64) -> dict:
    """Root median and root mean CRLB of x, y (m), v_x, v_y (m/s) over ``n`` samples from ``start``."""
    with float64():
        s = sample_batch(jax.random.PRNGKey(0), np.arange(start, start + n), system, dtype=jax.numpy.float64)
        diag = jax.jit(jax.vmap(lambda g, v, b, x: jax.numpy.diagonal(
            crlb(system.tx_array(), system.rx_array(), g, v, b, x, **system.crlb_kwargs))))
        d = np.asarray(diag(s["targets"], s["velocities"], s["beta"], s["X"]))   # [n, 4Q]
    Q = system.n_targets
    per = np.concatenate([d[:, :2 * Q].reshape(-1, Q, 2), d[:, 2 * Q:].reshape(-1, Q, 2)], -1).reshape(-1, 4)
    return {name: (float(np.sqrt(np.median(per[:, i]))), float(np.sqrt(np.mean(per[:, i]))))
            for i, name in enumerate(("x_m", "y_m", "vx_mps", "vy_mps"))}


if __name__ == "__main__":
    main()
