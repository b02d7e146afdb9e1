"""Paper B learning: is the default D-VQVAE of ``b-train`` limited by its step budget, by its
training data, or by the model itself?

Trains it on the ``b-train`` quick setup (its learning system and network: AP input ``area_maps``
with the ``centre`` head, batch 32, Adam 1e-3) for each ``STEPS:N_TRAIN[:NET_PRESET]`` given, and
reports the RMSEs on the test set (the 1,000 samples after the training samples) and on the first
1,000 training samples. With ``N_TRAIN = 32 * STEPS`` every step sees fresh samples (no repeats), so
a training error equal to the test error means the model underfits; a training error well below the
test error means it memorises.

``--system KEY=VALUE`` (repeatable) changes the system of every reading, e.g. ``n_rx_antennas=16``
(half the angle cell), ``scs_hz=480e3`` (half the bistatic range cell) or ``n_targets=1``;
``--net KEY=VALUE`` changes the quick network the same way (e.g. ``proj_dim=256 fc_dim=512``, a
wider decoder; ``ap_input='"maps"' head='"fc"'``, the per-AP maps with a fully connected head).
Besides the Euclidean RMSEs it reports the RMSE of each coordinate (x, y, v_x, v_y) on the test set
(``dvqvae.evaluate``), and for two targets the share of test samples in which both targets are found
(each estimate within 2 cells of a 16 x 16 grid of the area of a distinct target, :func:`found_breakdown`)
with the RMSEs over those samples alone: whether a model misses a target or places the ones it finds
poorly. Those columns score the head's own peaks; with the ``centre`` head a last column scores the
confidence-shrunk read-out that the learning experiments report (:mod:`isac_jax.dvqvae.readout`,
fitted on the calibration samples after the test set).

Usage: python studies/learning_limits.py [--out DIR] [--system KEY=VALUE ...] [--net KEY=VALUE ...]
       [--lr-schedule cosine] [--tiny] [--json PATH] 5000:160000 5000:16000
Checkpoints go to ``--out`` (default ``learning_limits_work``), so an interrupted call resumes.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from isac_jax import dvqvae

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import base_setup, finish, override, parser  # noqa: E402

FOUND_GRID, FOUND_CELLS = 16, 2      # cells of 6.25 m over the quick area; "found" = within 2 cells


def found_breakdown(pred, data, scaler) -> dict:
    """Share of samples in which, under one of the two orderings, each target's estimate lies in a
    cell (of a ``FOUND_GRID`` x ``FOUND_GRID`` grid of the normalised area) at most ``FOUND_CELLS``
    from its target's cell along x and y, and the location / velocity RMSEs (best assignment) over
    those samples alone. Two targets only."""
    true = scaler.normalise(dvqvae.labels_of(data))
    if true.shape[1] != 2:
        return {"all_found": None}
    cp, ct = np.floor(np.asarray(pred)[..., :2] * FOUND_GRID), np.floor(true[..., :2] * FOUND_GRID)
    d = np.abs(cp[:, :, None] - ct[:, None]).max(-1)                           # [n, estimate, target]
    found = ((d[:, 0, 0] <= FOUND_CELLS) & (d[:, 1, 1] <= FOUND_CELLS)) | \
            ((d[:, 0, 1] <= FOUND_CELLS) & (d[:, 1, 0] <= FOUND_CELLS))
    loc, vel = (np.asarray(e) for e in dvqvae.assigned_errors(pred, true, scaler))
    return {"all_found": float(found.mean()),
            "location_rmse_m_found": dvqvae.rmse(loc[found]) if found.any() else None,
            "velocity_rmse_mps_found": dvqvae.rmse(vel[found]) if found.any() else None}


def reading(spec: str, work: Path, system: tuple = (), net_changes: tuple = (), lr_schedule: str = "constant",
            tiny: bool = False) -> dict:
    """Train the default D-VQVAE for ``spec`` (``STEPS:N_TRAIN[:NET_PRESET]``) with its checkpoint in
    ``work``; its test, training-sample and trivial-predictor scores (``dvqvae.evaluate``'s dicts)."""
    steps, n_train, net = (spec.split(":") + ["quick"])[:3]
    base = base_setup(tiny, system, net_changes)
    setup = dataclasses.replace(base, steps=int(steps), n_train=int(n_train), net_preset=net,
                                epochs=-(-int(steps) * base.batch_size // int(n_train)), lr_schedule=lr_schedule)
    train, test = setup.splits(0)
    model = dvqvae.SensingModel("dvqvae", setup.net(), setup.system())
    t0 = time.perf_counter()
    name = _name(spec, system + net_changes + _schedule(lr_schedule) + ((("tiny", 1),) if tiny else ()))
    res = dvqvae.fit(model, setup.train_config(), train, seed=0, checkpoint=work / f"{name}.ckpt", progress=False)
    seen = dataclasses.replace(train, stop=train.start + min(1000, len(train)))
    read = dvqvae.calibrated_predict(model, res.state, res.scaler, train, setup.calibration(0), test)
    pred = read["peaks"]
    shrunk = {} if "shrunk" not in read else {
        "test_shrunk": dvqvae.evaluate(read["shrunk"], test, res.scaler), "shrinkage": read["theta"].tolist(),
        "test_shrunk_found": found_breakdown(read["shrunk"], test, res.scaler)}
    trivial = dvqvae.trivial_prediction(train, len(test), dvqvae.LabelScaler.fit(dvqvae.labels_of(train)))
    return {"test": dvqvae.evaluate(pred, test, res.scaler), "test_found": found_breakdown(pred, test, res.scaler),
            **shrunk, "train_first_1000": dvqvae.evaluate(dvqvae.predict(model, res.state, seen), seen, res.scaler),
            "trivial": dvqvae.evaluate(trivial, test, res.scaler), "wall_s": time.perf_counter() - t0}


def _schedule(lr_schedule: str) -> tuple:
    return () if lr_schedule == "constant" else (("lr", lr_schedule),)


def _name(spec: str, system: tuple) -> str:
    return "_".join([spec.replace(":", "_")] + [f"{k}{v}" for k, v in system])


TITLE = "Paper B: what limits the default D-VQVAE: steps, data or model"
QUESTION = ("Is the default D-VQVAE of b-train limited by its step budget, by its training data, or by the model "
            "itself; and does it miss targets or place the ones it finds poorly?")
METHOD = ("Train b-train's default D-VQVAE for each (steps, training samples) given, with N_TRAIN = 32 STEPS meaning "
          "no sample is seen twice; compare the test RMSEs with those on the first 1,000 training samples "
          "(equal: underfitting; training far below test: memorising), and count the test samples in which both "
          "targets lie within 2 cells of a 16 x 16 grid of the area of their estimates, with the RMSEs there.")


def main(argv=None) -> dict:
    ap = parser(__doc__)
    ap.add_argument("specs", nargs="*", help="STEPS:N_TRAIN[:NET_PRESET] (default: b-train's budget; --tiny: 4:32)")
    ap.add_argument("--out", default="learning_limits_work")
    ap.add_argument("--system", type=override, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--net", type=override, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--lr-schedule", default="constant", choices=("constant", "cosine"))
    args = ap.parse_args(argv)
    system, net = tuple(args.system), tuple(args.net)
    default = base_setup(args.tiny)
    specs = args.specs or [f"{default.steps}:{default.n_train}"]
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    columns = ["steps : training samples [: net]", "test location (m)", "test velocity (m/s)", "train location (m)",
               "train velocity (m/s)", "trivial location (m)", "trivial velocity (m/s)", "test x (m)", "test y (m)",
               "test v_x (m/s)", "test v_y (m/s)", "both targets found", "location RMSE there (m)",
               "velocity RMSE there (m/s)", "shrunk read-out location (m)", "shrunk read-out velocity (m/s)",
               "wall (s)"]
    rows = []
    for spec in specs:
        r = reading(spec, work, system, net, args.lr_schedule, tiny=args.tiny)
        (work / f"{_name(spec, system + net + _schedule(args.lr_schedule))}.json").write_text(json.dumps(r, indent=1))
        t, s, z, f = r["test"], r["train_first_1000"], r["trivial"], r["test_found"]
        sh = r.get("test_shrunk") or {}
        rows.append([spec, t["location_rmse_m"], t["velocity_rmse_mps"], s["location_rmse_m"], s["velocity_rmse_mps"],
                     z["location_rmse_m"], z["velocity_rmse_mps"], *t["coordinate_rmse"].values(), f["all_found"],
                     f.get("location_rmse_m_found"), f.get("velocity_rmse_mps_found"), sh.get("location_rmse_m"),
                     sh.get("velocity_rmse_mps"), r["wall_s"]])
    caption = (f"D-VQVAE of b-train's {'tiny' if args.tiny else 'quick'} setup; system changes {list(system)}, "
               f"network changes {list(net)}, learning rate {args.lr_schedule}")
    answer = "; ".join(
        f"{row[0]}: test location {row[1]:.2f} m against {row[3]:.2f} m on training samples "
        f"({'memorises' if row[3] < 0.8 * row[1] else 'no memorising'}), trivial {row[5]:.2f} m" for row in rows) + "."
    return finish(__file__, sys.argv[1:] if argv is None else argv, args, title=TITLE, question=QUESTION,
                  method=METHOD, answer=answer, tables=[{"caption": caption, "columns": columns, "rows": rows}])


if __name__ == "__main__":
    main()
