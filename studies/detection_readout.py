"""Paper B learning: can the two targets be *found* from the receive APs' input, given far more
training than b-train's budget allows?

The default D-VQVAE of ``b-train`` places the targets it finds to about 7 m but finds both in only
about 70 % of the test samples, which sets its 21 m RMSE. This probe asks whether that is what the
input holds or what a 1,200-step model learns. It computes every receive AP's ``area_maps`` input once
(the same features as the D-VQVAE's, :func:`isac_jax.dvqvae.features.ap_features`), stacks the APs on
the channels (no encoder, no quantiser, no fronthaul limit) and trains a small convolutional detector on
them for many cheap steps: a 2 x 2 space-to-depth to 16 x 16 cells, ``--layers`` 3 x 3 convolutions of
``--width`` channels (ReLU) with the cells' coordinates, then the ``centre`` head of the D-VQVAE
(:class:`isac_jax.dvqvae.heads.CentreHead`, 16 x 16 cells, focal loss against bumps of 2 cells, its
offsets and velocities) and its read-out of the two highest local maxima. Adam with cosine decay, batch
32. Training samples ``0 .. n_train-1`` and b-train's 1,000 test samples (``64,000 .. 64,999``; before
2026-12-03 ``16,000 .. 16,999``, inside the training samples of an ``--n-train`` above 16,000) of b-train's
quick generator (its learning system, since the night of 2026-12-03 8 transmit antennas per AP at 35 dBm with
the null-space sensing stream and the range comb; the readings recorded on 2026-12-03 used 4 at 32 dBm,
``--system sensing_power_fraction=0.0 --system subcarrier_step=1 --system n_tx_antennas=4 --system power_dbm=32.0``, and those before 8 at 35 dBm, ``--system sensing_power_fraction=0.0 --system subcarrier_step=1``), so the numbers sit beside b-train's. It prints the location and velocity RMSE
on the test set and on the first 1,000 training samples, and the share of test samples with both
targets found (``learning_limits.found_breakdown``), beside the trivial predictor.

Usage: python benchmarks/detection_readout.py [--n-train 16000] [--steps 4000] [--width 64]
       [--layers 3] [--system KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from isac_jax.core.timing import machine
from isac_jax.dvqvae.data import GeneratedSplit
from isac_jax.dvqvae.features import ap_features
from isac_jax.dvqvae.heads import CentreHead, head_estimates, head_loss
from isac_jax.dvqvae.targets import LabelScaler
from isac_jax.dvqvae.training import evaluate, labels_of, trivial_prediction
from isac_jax.experiments.paper_b import train as b_train

sys.path.insert(0, str(Path(__file__).parent))
from learning_limits import _override, found_breakdown  # noqa: E402

GRID, SIGMA, VELOCITY_WEIGHT, BATCH = 16, 2.0, 30.0, 32


def features(split: GeneratedSplit, system, chunk: int = 200) -> np.ndarray:
    """Every sample's receive APs' ``area_maps`` inputs stacked on the channels, float16:
    ``[n, G, G, G_d * N * M]``."""
    @jax.jit
    def one(Y, X):
        f = [ap_features("area_maps", Y[:, m], X, system=system, rx_position=r)
             for m, r in enumerate(system.rx_positions)]                          # M x [B, G, G, Gd, N]
        f = jnp.concatenate(f, axis=-1)
        return f.reshape(*f.shape[:3], -1).astype(jnp.float16)
    out = []
    for a in range(0, len(split), chunk):
        b = split.batch(np.arange(a, min(a + chunk, len(split))))
        out.append(np.asarray(one(jnp.asarray(b["Y"]), jnp.asarray(b["X"]))))
    return np.concatenate(out)


class Detector(nn.Module):
    width: int
    layers: int

    @nn.compact
    def __call__(self, f):
        B, G = f.shape[0], f.shape[1]
        h = f.astype(jnp.float32).reshape(B, G // 2, 2, G // 2, 2, -1).transpose(0, 1, 3, 2, 4, 5)
        h = h.reshape(B, G // 2, G // 2, -1)                                       # space-to-depth
        g = G // 2
        cx, cy = jnp.meshgrid((jnp.arange(g) + 0.5) / g, (jnp.arange(g) + 0.5) / g, indexing="ij")
        coords = jnp.broadcast_to(jnp.stack([cx, cy], -1), (B, g, g, 2))
        for _ in range(self.layers):
            h = nn.relu(nn.Conv(self.width, (3, 3), padding="SAME")(jnp.concatenate([h, coords], -1)))
        return CentreHead(self.width, GRID)(h)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-train", type=int, default=16000)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--system", type=_override, action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    base = b_train.PRESETS["quick"].setup
    setup = dataclasses.replace(base, system_overrides=base.system_overrides + tuple(args.system))
    system = setup.system()
    _, test_split = setup.splits(0)
    if args.n_train > test_split.start:
        raise SystemExit(f"--n-train must be at most {test_split.start}: the test samples start there, got {args.n_train}")
    train_split = GeneratedSplit(system, 0, 0, args.n_train)
    t0 = time.perf_counter()
    f_train, f_test = features(train_split, system), features(test_split, system)
    t_features = time.perf_counter() - t0
    scaler = LabelScaler.fit(labels_of(train_split))
    labels = np.asarray(scaler.normalise(labels_of(train_split)), np.float32)
    net = Detector(args.width, args.layers)
    params = net.init(jax.random.PRNGKey(0), jnp.asarray(f_train[:2]))
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(optax.cosine_decay_schedule(1e-3, args.steps)))
    state = opt.init(params)

    @jax.jit
    def step(params, state, f, lab):
        loss, g = jax.value_and_grad(lambda p: head_loss("centre", net.apply(p, f), lab, GRID, SIGMA,
                                                         VELOCITY_WEIGHT))(params)
        upd, state = opt.update(g, state, params)
        return optax.apply_updates(params, upd), state, loss

    estimate = jax.jit(lambda p, f: head_estimates("centre", net.apply(p, f), system.n_targets, GRID))
    rng = np.random.default_rng(0)
    t1 = time.perf_counter()
    for s in range(args.steps):
        idx = np.sort(rng.choice(args.n_train, BATCH, replace=False))
        params, state, loss = step(params, state, jnp.asarray(f_train[idx]), jnp.asarray(labels[idx]))
        if not np.isfinite(float(loss)):
            raise FloatingPointError(f"training loss became {float(loss)} at step {s}")
    t_train = time.perf_counter() - t1

    def predict(f):
        return np.concatenate([np.asarray(estimate(params, jnp.asarray(f[a:a + 200]))) for a in range(0, len(f), 200)])
    seen = dataclasses.replace(train_split, stop=min(1000, args.n_train))
    pred = predict(f_test)
    rows = {"detector, test": (evaluate(pred, test_split, scaler), found_breakdown(pred, test_split, scaler)),
            "detector, first 1,000 training samples": (evaluate(predict(f_train[:1000]), seen, scaler), None),
            "trivial, test": (evaluate(trivial_prediction(train_split, len(test_split), scaler), test_split, scaler),
                              None)}
    print(f"# detector on the stacked area_maps inputs (b-train quick system with {list(args.system)}): "
          f"{args.n_train} training samples, {args.steps} steps of {BATCH}, width {args.width}, {args.layers} layers; "
          f"features {t_features:.0f} s, training {t_train:.0f} s; {machine()}")
    print("| | location RMSE (m) | velocity RMSE (m/s) | x / y / v_x / v_y | both found | location / velocity where found |")
    print("|---|---|---|---|---|---|")
    for name, (r, found) in rows.items():
        there = "- | -"
        if found is not None and found["location_rmse_m_found"] is not None:
            there = (f"{100 * found['all_found']:.1f} % | {found['location_rmse_m_found']:.2f} / "
                     f"{found['velocity_rmse_mps_found']:.2f}")
        print(f"| {name} | {r['location_rmse_m']:.2f} | {r['velocity_rmse_mps']:.2f} | "
              f"{' / '.join(f'{e:.1f}' for e in r['coordinate_rmse'].values())} | {there} |", flush=True)


if __name__ == "__main__":
    main()
