"""Paper B learning: where a trained heat-map head (``NetConfig(head="heatmap")``) loses accuracy, its
map or its read-out.

Loads a D-VQVAE checkpoint written by ``studies/learning_limits.py`` with the same ``--net`` changes
(``head="heatmap"`` and the grid and width it was trained with; a checkpoint written with other
settings is refused), or without ``--checkpoint`` trains one with b-train's settings into ``--out``,
and predicts the first ``--n`` test samples of the ``b-train`` quick setup three ways, each with the
evaluation's best target assignment:

- *as estimated*: the read-out queried at the map's own Q strongest peaks (what ``evaluate`` scores);
- *peak centres*: the centres of those peak cells as the positions (the map alone);
- *read-out at the true cells*: the read-out queried where training queried it (a perfect map).

and how often the strongest peak lies within 1 and within 3 cells (Chebyshev) of a true target's
cell, and how often both peaks do, each on its own target (two targets). A head whose "true cells"
error is far below its "as estimated" error is limited by its map.

Usage: python studies/heatmap_readout.py [--checkpoint CHECKPOINT] [--net KEY=VALUE ...] [--n 200] [--out DIR]
       [--tiny] [--json PATH]
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax import dvqvae

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import base_setup, finish, override, parser  # noqa: E402

H = dvqvae.heads


TITLE = "Paper B: a heat-map head's map against its read-out"
QUESTION = "Where does a trained heat-map head lose accuracy: in its map of the targets or in its read-out?"
METHOD = ("Predict the test samples three ways: the read-out at the map's own strongest peaks, the peak cells' "
          "centres alone, and the read-out at the true cells (a perfect map); count how often the strongest peak, "
          "and both peaks, lie within 1 and 3 cells of a true target's cell.")


def main(argv=None) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--checkpoint", help="learning_limits.py's STEPS_NTRAIN_... checkpoint (default: train one)")
    ap.add_argument("--net", type=override, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--n", type=int, default=200, help="test samples (the first n)")
    ap.add_argument("--out", default="heatmap_readout_work")
    args = ap.parse_args(argv)
    net_changes = tuple(args.net) if args.net or not args.tiny else (("head", "heatmap"), ("heatmap_grid", 8))
    setup = base_setup(args.tiny, net=net_changes)
    net, system = setup.net(), setup.system()
    if net.head != "heatmap":
        raise ValueError("--net head='\"heatmap\"' (and the checkpoint's other --net changes) is required")
    model = dvqvae.SensingModel("dvqvae", net, system)
    if args.checkpoint:
        # learning_limits.py names its checkpoints "STEPS_NTRAIN_..."; fit() resumes a finished checkpoint
        # only with the same TrainConfig, and the test samples follow the training samples.
        steps, n_train = (int(v) for v in Path(args.checkpoint).name.split("_")[:2])
        setup = dataclasses.replace(setup, steps=steps, n_train=n_train,
                                    epochs=-(-steps * setup.batch_size // n_train))
    train, test = setup.splits(0)
    test = dataclasses.replace(test, stop=test.start + min(args.n, len(test)))
    with tempfile.TemporaryDirectory() as tmp:            # fit() saves at its end: never touch the original
        ckpt = Path(args.out) / f"heatmap{'_tiny' if args.tiny else ''}.ckpt"
        if args.checkpoint:
            ckpt = Path(tmp) / "model.ckpt"
            shutil.copy(args.checkpoint, ckpt)
        res = dvqvae.fit(model, setup.train_config(), train, seed=0, checkpoint=ckpt, progress=False)
    G, Q = net.heatmap_grid, system.n_targets
    batch = test.batch(np.arange(len(test)))
    Y, X = jnp.asarray(batch["Y"]), jnp.asarray(batch["X"])
    labels = res.scaler.normalise(dvqvae.labels_of(test))                            # [n, Q, 4]
    forward = jax.jit(lambda Y, X, q: model.forward(res.state.params, res.state.book, Y, X, queries=q)[0])
    raw = np.asarray(jax.jit(lambda Y, X: model.forward(res.state.params, res.state.book, Y, X)[0])(Y, X))
    peaks = np.asarray(H.peak_cells(jnp.asarray(raw[:, :G * G]), Q, G))               # [n, Q, 2]
    estimated = np.asarray(H.head_estimates("heatmap", jnp.asarray(raw), Q, G))
    centres = estimated.copy()
    centres[..., :2] = np.asarray(H.cell_centres(jnp.asarray(peaks), G))
    oracle = np.asarray(H.head_estimates("heatmap", forward(Y, X, H.training_queries("heatmap", labels, G)), Q, G))
    rows = []
    for name, pred in (("as estimated (own peaks)", estimated), ("peak centres (map alone)", centres),
                       ("read-out at the true cells", oracle)):
        r = dvqvae.evaluate(pred, test, res.scaler)
        rows.append([name, r["location_rmse_m"], r["velocity_rmse_mps"]])
    true = np.asarray(H.target_cells(labels, G))                                      # [n, Q, 2]
    cheb = np.abs(peaks[:, :, None, :] - true[:, None]).max(-1)                       # [n, peak, target]
    strongest = cheb[:, 0].min(-1)
    both = np.minimum(np.maximum(cheb[:, 0, 0], cheb[:, 1, 1]), np.maximum(cheb[:, 0, 1], cheb[:, 1, 0])) \
        if Q == 2 else strongest
    est_m, true_m = np.asarray(res.scaler.rescale(estimated)), np.asarray(res.scaler.rescale(labels))
    mean_m = dvqvae.labels_of(train).reshape(-1, 4).mean(0)                           # the trivial predictor

    def nearest(p):                                     # RMSE (m) of points p[n, 2] to their nearest target
        return np.sqrt(np.mean(np.linalg.norm(p[:, None] - true_m[..., :2], axis=-1).min(-1) ** 2))
    tables = [{"caption": f"Heat-map head ({args.checkpoint or 'trained with b-train settings'}, {dict(net_changes)}), "
                          f"first {len(test)} test samples", "columns": ["read-out", "location RMSE (m)",
                                                                         "velocity RMSE (m/s)"], "rows": rows},
              {"caption": f"Peaks against the true cells (a cell is 1/{G} of the normalised span)",
               "columns": ["peaks", "within 1 cell", "within 3 cells"],
               "rows": [["strongest peak, of a true cell", float(np.mean(strongest <= 1)),
                         float(np.mean(strongest <= 3))],
                        ["both peaks, on distinct targets", float(np.mean(both <= 1)), float(np.mean(both <= 3))]]},
              {"caption": "Location RMSE to the nearest target", "columns": ["point", "RMSE (m)"],
               "rows": [["strongest peak's read-out", nearest(est_m[:, 0, :2])],
                        ["trivial predictor's point", nearest(np.broadcast_to(mean_m[:2], (len(est_m), 2)))]]}]
    limited = "its map" if rows[2][1] < 0.7 * rows[0][1] else "not its map alone"
    answer = (f"Read at its own peaks the head places the targets to {rows[0][1]:.2f} m, read at the true cells to "
              f"{rows[2][1]:.2f} m: it is limited by {limited}.")
    return finish(__file__, sys.argv[1:] if argv is None else argv, args, title=TITLE, question=QUESTION,
                  method=METHOD, answer=answer, tables=tables)


if __name__ == "__main__":
    main()
