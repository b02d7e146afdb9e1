"""Paper B learning: where a trained ``b-train`` model's errors come from.

Loads the model from its checkpoint (``<out>/b-train/work/<key>/<scheme>.ckpt`` of ``isac-jax reproduce
b-train --preset quick``; a checkpoint written with other settings is refused; without ``--checkpoint``
the model is trained with b-train's settings into ``--out``), predicts the test samples and reports the
location RMSE of the stronger and the weaker target (echo energy summed over all transmit-receive
pairs, ``|beta|^2 / (d_tx d_rx)^2``), and the RMSEs binned by the targets' separation and by their
energy ratio, each beside the trivial predictor's on the same samples. A model limited by resolving
two targets would do much better on well-separated or unequal pairs than on close or equal ones.
Last, the root median and root mean CRLB of each coordinate (x, y, v_x, v_y) on the first 64 test
samples (float64), i.e. what the geometry informs.

Usage: python studies/learned_error_breakdown.py [--checkpoint CHECKPOINT] [--scheme dvqvae] [--out DIR]
       [--tiny] [--json PATH]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np

from isac_jax import cellfree, dvqvae
from isac_jax.core import float64

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import base_setup, finish, parser  # noqa: E402


def _rmse(e) -> float | None:
    """Root mean square of ``e`` (None when empty)."""
    e = np.asarray(e, np.float64)
    return float(np.sqrt(np.mean(e ** 2))) if e.size else None


def _assigned_location_errors(pred, tg, vel, scaler: dvqvae.LabelScaler):
    """Per-target location errors ``[n, 2]`` with the evaluation's assignment (normalised units, all
    four features; two targets)."""
    tn = scaler.normalise(np.concatenate([tg, vel], -1))
    pn = scaler.normalise(pred)
    swap = ((pn[:, ::-1] - tn) ** 2).sum((1, 2)) < ((pn - tn) ** 2).sum((1, 2))
    p = np.where(swap[:, None, None], pred[:, ::-1], pred)
    return np.linalg.norm(p[..., :2] - tg, axis=-1)


TITLE = "Paper B: where a trained D-VQVAE's location errors come from"
QUESTION = ("Is a trained b-train model limited by resolving two targets: does it do much better on well-separated "
            "or unequal pairs than on close or equal ones, and how far is it from what the geometry informs?")
METHOD = ("Predict the test samples with the trained model; split the location errors (best assignment) into the "
          "stronger and the weaker target by echo energy summed over all pairs, bin them by the targets' "
          "separation and energy ratio beside the trivial predictor on the same samples, and compute the root "
          "median and root mean CRLB of each coordinate on the first test samples.")


def trained(args, setup, model, train):
    """``fit``'s result for the model of ``--checkpoint`` (a copy is resumed, the original is never written),
    or, without one, of the model trained with ``setup`` into ``--out``."""
    if args.checkpoint is None:
        return dvqvae.fit(model, setup.train_config(), train, seed=0,
                          checkpoint=Path(args.out) / f"{args.scheme}{'_tiny' if args.tiny else ''}.ckpt",
                          progress=False)
    with tempfile.TemporaryDirectory() as tmp:            # fit() saves at its end: never touch the original
        ckpt = Path(tmp) / "model.ckpt"
        shutil.copy(args.checkpoint, ckpt)
        return dvqvae.fit(model, setup.train_config(), train, seed=0, checkpoint=ckpt, progress=False)


def main(argv=None) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--checkpoint", help="b-train's checkpoint of the model (default: train one into --out)")
    ap.add_argument("--scheme", default="dvqvae")
    ap.add_argument("--out", default="learned_error_breakdown_work")
    args = ap.parse_args(argv)
    setup = base_setup(args.tiny)
    system = setup.system()
    if system.n_targets != 2:
        raise ValueError("the breakdown compares two targets")
    train, test = setup.splits(0)
    model = dvqvae.SensingModel(args.scheme, setup.net(), system)
    res = trained(args, setup, model, train)
    pred_norm = dvqvae.predict(model, res.state, test)
    pred = np.asarray(res.scaler.rescale(pred_norm))
    s = cellfree.sample_batch(jax.random.PRNGKey(0), np.arange(test.start, test.stop), system)
    tg, vel = (np.asarray(s[k], np.float64) for k in ("targets", "velocities"))
    beta = np.asarray(s["beta"], np.complex128)                                   # [n, N, M, Q]
    triv = np.asarray(res.scaler.rescale(dvqvae.trivial_prediction(
        train, len(test), dvqvae.LabelScaler.fit(dvqvae.labels_of(train)))))
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
    c = dvqvae.evaluate(pred_norm, test, res.scaler)["coordinate_rmse"]
    summary = {"caption": f"{args.scheme} ({args.checkpoint or 'trained with b-train settings'}), {len(tg)} test "
                          "samples: location RMSE (best assignment)",
               "columns": ["targets", "location RMSE (m)", "trivial (m)"],
               "rows": [["both", _rmse(err), _rmse(err0)], ["stronger", _rmse(err[rows, strong]), None],
                        ["weaker", _rmse(err[rows, 1 - strong]), None]]}
    coords = {"caption": "RMSE per coordinate (dvqvae.evaluate)", "columns": ["coordinate", "RMSE"],
              "rows": [[k, v] for k, v in c.items()]}
    bins = [(f"separation {a}-{b} m", (sep >= a) & (sep < b)) for a, b in ((0, 20), (20, 40), (40, 60), (60, 150))]
    bins += [(f"weaker/stronger {a} to {b} dB", (ratio_db >= a) & (ratio_db < b))
             for a, b in ((-99, -10), (-10, -5), (-5, 0.01))]
    binned = []
    for name, sel in bins:
        r, r0 = _rmse(err[sel]), _rmse(err0[sel])
        binned.append([name, int(sel.sum()), r, r0, None if r is None else r / r0])
    by_bin = {"caption": "Location RMSE by separation and energy ratio", "columns": ["bin", "samples",
              "location RMSE (m)", "trivial (m)", "ratio"], "rows": binned}
    bound = coordinate_crlb(system, test.start, n=min(64, len(test)))
    crlb_table = {"caption": f"Root median / root mean CRLB, first {min(64, len(test))} test samples",
                  "columns": ["coordinate", "root median CRLB", "root mean CRLB"],
                  "rows": [[k, a, b] for k, (a, b) in bound.items()]}
    answer = (f"Location RMSE {summary['rows'][0][1]:.1f} m (trivial {summary['rows'][0][2]:.1f} m): the stronger "
              f"target {summary['rows'][1][1]:.1f} m, the weaker {summary['rows'][2][1]:.1f} m; the root median CRLB "
              f"of x is {bound['x_m'][0]:.2f} m.")
    return finish(__file__, sys.argv[1:] if argv is None else argv, args, title=TITLE, question=QUESTION,
                  method=METHOD, answer=answer, tables=[summary, coords, by_bin, crlb_table])


def coordinate_crlb(system, start: int, n: int = 64) -> dict:
    """Root median and root mean CRLB of x, y (m), v_x, v_y (m/s) over ``n`` samples from ``start``."""
    with float64():
        s = cellfree.sample_batch(jax.random.PRNGKey(0), np.arange(start, start + n), system, dtype=jax.numpy.float64)
        diag = jax.jit(jax.vmap(lambda g, v, b, x: jax.numpy.diagonal(
            cellfree.crlb(system.tx_array(), system.rx_array(), g, v, b, x, **system.crlb_kwargs))))
        d = np.asarray(diag(s["targets"], s["velocities"], s["beta"], s["X"]))   # [n, 4Q]
    Q = system.n_targets
    per = np.concatenate([d[:, :2 * Q].reshape(-1, Q, 2), d[:, 2 * Q:].reshape(-1, Q, 2)], -1).reshape(-1, 4)
    return {name: (float(np.sqrt(np.median(per[:, i]))), float(np.sqrt(np.mean(per[:, i]))))
            for i, name in enumerate(("x_m", "y_m", "vx_mps", "vy_mps"))}


if __name__ == "__main__":
    main()
