"""Paper B learning: can the two targets be *found* from the receive APs' input, given far more
training than b-train's budget allows?

The default D-VQVAE of ``b-train`` misses one of the two targets in part of the test samples, which
dominates its location RMSE. This probe asks whether that is what the input holds or what a
model trained on b-train's budget learns. It computes every receive AP's ``area_maps`` input once
(the same features as the D-VQVAE's, :func:`isac_jax.dvqvae.features.ap_features`), stacks the APs on
the channels (no encoder, no quantiser, no fronthaul limit) and trains a small convolutional detector on
them for many cheap steps: a 2 x 2 space-to-depth to half the map's cells, ``--layers`` 3 x 3
convolutions of ``--width`` channels (ReLU) with the cells' coordinates, then the ``centre`` head of the
D-VQVAE (:class:`isac_jax.dvqvae.heads.CentreHead`, focal loss against bumps of 2 cells, its offsets and
velocities) and its read-out of the two highest local maxima. Adam with cosine decay, batch 32.
Training samples ``0 .. n_train-1`` and b-train's test samples of b-train's quick generator (its
learning system), so the numbers sit beside b-train's. It reports the location and velocity RMSE on
the test set and on the first 1,000 training samples, and the share of test samples with both targets
found (``learning_limits.found_breakdown``), beside the trivial predictor.

Usage: python studies/detection_readout.py [--n-train 16000] [--steps 4000] [--width 64]
       [--layers 3] [--system KEY=VALUE ...] [--tiny] [--json PATH]
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from isac_jax import dvqvae

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import base_setup, finish, override, parser  # noqa: E402
from learning_limits import found_breakdown  # noqa: E402

SIGMA, VELOCITY_WEIGHT, BATCH = 2.0, 30.0, 32


def features(split: dvqvae.GeneratedSplit, system, chunk: int = 200) -> np.ndarray:
    """Every sample's receive APs' ``area_maps`` inputs stacked on the channels, float16:
    ``[n, G, G, G_d * N * M]``."""
    @jax.jit
    def one(Y, X):
        f = [dvqvae.features.ap_features("area_maps", Y[:, m], X, system=system, rx_position=r)
             for m, r in enumerate(system.rx_positions)]                          # M x [B, G, G, Gd, N]
        f = jnp.concatenate(f, axis=-1)
        return f.reshape(*f.shape[:3], -1).astype(jnp.float16)
    out = []
    for a in range(0, len(split), chunk):
        b = split.batch(np.arange(a, min(a + chunk, len(split))))
        out.append(np.asarray(one(jnp.asarray(b["Y"]), jnp.asarray(b["X"]))))
    return np.concatenate(out)


class Detector(nn.Module):
    """A 2 x 2 space-to-depth, ``layers`` 3 x 3 convolutions of ``width`` channels with the cells'
    coordinates, and the ``centre`` head on half the input's cells."""

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
        return dvqvae.heads.CentreHead(self.width, g)(h)


TITLE = "Paper B: can the two targets be found from the receive APs' input"
QUESTION = ("Can both targets be found from the receive APs' area_maps inputs given far more training than b-train's "
            "budget allows, or is the D-VQVAE's detection limited by what the input holds?")
METHOD = ("Stack every receive AP's area_maps input on the channels (no encoder, quantiser or fronthaul limit), train "
          "a small convolutional detector with the D-VQVAE's centre head on them for many cheap steps, and score it "
          "on b-train's test samples and the first 1,000 training samples: RMSEs, and the share of test samples "
          "with both targets found (each within 2 cells of a 16 x 16 grid of the area), beside the trivial predictor.")


def main(argv=None) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--n-train", type=int, default=16000)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--system", type=override, action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    setup = base_setup(args.tiny, tuple(args.system))
    system = setup.system()
    _, test_split = setup.splits(0)
    n_train, steps, width, layers = (test_split.start, 3, 4, 1) if args.tiny else \
        (args.n_train, args.steps, args.width, args.layers)
    if n_train > test_split.start:
        raise SystemExit(f"--n-train must be at most {test_split.start}: the test samples start there, got {n_train}")
    train_split = dvqvae.GeneratedSplit(system, 0, 0, n_train)
    t0 = time.perf_counter()
    f_train, f_test = features(train_split, system), features(test_split, system)
    t_features = time.perf_counter() - t0
    scaler = dvqvae.LabelScaler.fit(dvqvae.labels_of(train_split))
    labels = np.asarray(scaler.normalise(dvqvae.labels_of(train_split)), np.float32)
    grid = f_train.shape[1] // 2
    net = Detector(width, layers)
    params = net.init(jax.random.PRNGKey(0), jnp.asarray(f_train[:2]))
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(optax.cosine_decay_schedule(1e-3, steps)))
    state = opt.init(params)

    @jax.jit
    def step(params, state, f, lab):
        loss, g = jax.value_and_grad(lambda p: dvqvae.heads.head_loss("centre", net.apply(p, f), lab, grid, SIGMA,
                                                                      VELOCITY_WEIGHT))(params)
        upd, state = opt.update(g, state, params)
        return optax.apply_updates(params, upd), state, loss

    estimate = jax.jit(lambda p, f: dvqvae.heads.head_estimates("centre", net.apply(p, f), system.n_targets, grid))
    rng = np.random.default_rng(0)
    batch = min(BATCH, n_train)
    t1 = time.perf_counter()
    for s in range(steps):
        idx = np.sort(rng.choice(n_train, batch, replace=False))
        params, state, loss = step(params, state, jnp.asarray(f_train[idx]), jnp.asarray(labels[idx]))
        if not np.isfinite(float(loss)):
            raise FloatingPointError(f"training loss became {float(loss)} at step {s}")
    t_train = time.perf_counter() - t1

    def predict(f):
        return np.concatenate([np.asarray(estimate(params, jnp.asarray(f[a:a + 200]))) for a in range(0, len(f), 200)])
    seen = dataclasses.replace(train_split, stop=min(1000, n_train))
    pred = predict(f_test)
    trivial = dvqvae.trivial_prediction(train_split, len(test_split), scaler)
    results = {"detector, test": (dvqvae.evaluate(pred, test_split, scaler), found_breakdown(pred, test_split, scaler)),
               "detector, first 1,000 training samples": (dvqvae.evaluate(predict(f_train[:1000]), seen, scaler), {}),
               "trivial, test": (dvqvae.evaluate(trivial, test_split, scaler), {})}
    rows = [[name, r["location_rmse_m"], r["velocity_rmse_mps"], *r["coordinate_rmse"].values(),
             found.get("all_found"), found.get("location_rmse_m_found"), found.get("velocity_rmse_mps_found")]
            for name, (r, found) in results.items()]
    table = {"caption": f"Detector on the stacked area_maps inputs ({'tiny' if args.tiny else 'b-train quick'} system "
                        f"with {list(args.system)}): {n_train} training samples, {steps} steps of {batch}, width "
                        f"{width}, {layers} layers; features {t_features:.0f} s, training {t_train:.0f} s",
             "columns": ["model, samples", "location RMSE (m)", "velocity RMSE (m/s)", "x (m)", "y (m)", "v_x (m/s)",
                         "v_y (m/s)", "both targets found", "location RMSE there (m)", "velocity RMSE there (m/s)"],
             "rows": rows}
    found = rows[0][7]
    answer = (f"The detector finds both targets in {'-' if found is None else f'{100 * found:.1f} %'} of the test "
              f"samples, with location RMSE {rows[0][1]:.2f} m (trivial {rows[2][1]:.2f} m) and velocity RMSE "
              f"{rows[0][2]:.2f} m/s (trivial {rows[2][2]:.2f} m/s).")
    return finish(__file__, sys.argv[1:] if argv is None else argv, args, title=TITLE, question=QUESTION,
                  method=METHOD, answer=answer, tables=[table])


if __name__ == "__main__":
    main()
