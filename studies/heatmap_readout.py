"""Paper B learning: where a trained heat-map head (``NetConfig(head="heatmap")``) loses accuracy, its
map or its read-out. Loads a D-VQVAE checkpoint written by ``benchmarks/learning_limits.py`` with
the same ``--net`` changes (``head="heatmap"`` and the grid and width it was trained with; a
checkpoint written with other settings is refused) and predicts the first ``--n`` test samples of
the ``b-train`` quick setup three ways, each with the evaluation's best target assignment:

- *as estimated*: the read-out queried at the map's own Q strongest peaks (what ``evaluate`` scores);
- *peak centres*: the centres of those peak cells as the positions (the map alone);
- *read-out at the true cells*: the read-out queried where training queried it (a perfect map).

and how often the strongest peak lies within 1 and within 3 cells (Chebyshev) of a true target's
cell, and how often both peaks do, each on its own target (two targets). A head whose "true cells" error is far below its "as estimated" error is limited by its map.

Usage: python benchmarks/heatmap_readout.py CHECKPOINT --net head='"heatmap"' [--net KEY=VALUE ...] [--n 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax.dvqvae import SensingModel
from isac_jax.dvqvae.heads import cell_centres, head_estimates, peak_cells, target_cells, training_queries
from isac_jax.dvqvae.training import evaluate, fit, labels_of
from isac_jax.experiments.paper_b import train as b_train
from learning_limits import _override


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--net", type=_override, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--n", type=int, default=200, help="test samples (the first n)")
    args = ap.parse_args()
    base = b_train.PRESETS["quick"].setup
    setup = dataclasses.replace(base, net_overrides=base.net_overrides + tuple(args.net))
    net, system = setup.net(), setup.system()
    if net.head != "heatmap":
        raise ValueError("--net head='\"heatmap\"' (and the checkpoint's other --net changes) is required")
    # learning_limits.py names its checkpoints "STEPS_NTRAIN_..."; fit() resumes a finished checkpoint
    # only with the same TrainConfig, and the test samples follow the training samples.
    steps, n_train = (int(v) for v in Path(args.checkpoint).name.split("_")[:2])
    setup = dataclasses.replace(setup, steps=steps, n_train=n_train, epochs=-(-steps * 32 // n_train))
    train, test = setup.splits(0)
    test = dataclasses.replace(test, stop=test.start + min(args.n, len(test)))
    model = SensingModel("dvqvae", net, system)
    with tempfile.TemporaryDirectory() as tmp:            # fit() saves at its end: never touch the original
        ckpt = Path(tmp) / "model.ckpt"
        shutil.copy(args.checkpoint, ckpt)
        res = fit(model, setup.train_config(), train, seed=0, checkpoint=ckpt, progress=False)
    G, Q = net.heatmap_grid, system.n_targets
    batch = test.batch(np.arange(len(test)))
    Y, X = jnp.asarray(batch["Y"]), jnp.asarray(batch["X"])
    labels = res.scaler.normalise(labels_of(test))                                   # [n, Q, 4]
    forward = jax.jit(lambda Y, X, q: model.forward(res.state.params, res.state.book, Y, X, queries=q)[0])
    raw = np.asarray(jax.jit(lambda Y, X: model.forward(res.state.params, res.state.book, Y, X)[0])(Y, X))
    peaks = np.asarray(peak_cells(jnp.asarray(raw[:, :G * G]), Q, G))                 # [n, Q, 2]
    estimated = np.asarray(head_estimates("heatmap", jnp.asarray(raw), Q, G))
    centres = estimated.copy()
    centres[..., :2] = np.asarray(cell_centres(jnp.asarray(peaks), G))
    oracle = np.asarray(head_estimates("heatmap", forward(Y, X, training_queries("heatmap", labels, G)), Q, G))
    print(f"# heat-map head {args.checkpoint} ({dict(args.net)}), first {len(test)} test samples")
    print("| read-out | location RMSE (m) | velocity RMSE (m/s) |")
    print("|---|---|---|")
    for name, pred in (("as estimated (own peaks)", estimated), ("peak centres (map alone)", centres),
                       ("read-out at the true cells", oracle)):
        r = evaluate(pred, test, res.scaler)
        print(f"| {name} | {r['location_rmse_m']:.2f} | {r['velocity_rmse_mps']:.2f} |")
    true = np.asarray(target_cells(labels, G))                                        # [n, Q, 2]
    cheb = np.abs(peaks[:, :, None, :] - true[:, None]).max(-1)                       # [n, peak, target]
    strongest = cheb[:, 0].min(-1)
    both = np.minimum(np.maximum(cheb[:, 0, 0], cheb[:, 1, 1]), np.maximum(cheb[:, 0, 1], cheb[:, 1, 0])) \
        if Q == 2 else strongest
    print(f"strongest peak within 1 / 3 cells of a true cell: {np.mean(strongest <= 1):.3f} / "
          f"{np.mean(strongest <= 3):.3f}; both peaks on distinct targets within 1 / 3 cells: "
          f"{np.mean(both <= 1):.3f} / {np.mean(both <= 3):.3f} (a cell is 1/{G} of the normalised span)")
    est_m, true_m = np.asarray(res.scaler.rescale(estimated)), np.asarray(res.scaler.rescale(labels))
    mean_m = labels_of(train).reshape(-1, 4).mean(0)                                   # the trivial predictor

    def nearest(p):                                     # RMSE (m) of points p[n, 2] to their nearest target
        return np.sqrt(np.mean(np.linalg.norm(p[:, None] - true_m[..., :2], axis=-1).min(-1) ** 2))
    print(f"location RMSE of the strongest peak's read-out to its nearest target: {nearest(est_m[:, 0, :2]):.2f} m "
          f"(the trivial predictor's point: {nearest(np.broadcast_to(mean_m[:2], (len(est_m), 2))):.2f} m)")

if __name__ == "__main__":
    main()
