"""Paper B learning: is the default D-VQVAE of ``b-train`` limited by its step budget, by its
training data, or by the model itself? Trains it on the ``b-train`` quick setup (8 transmit antennas
per AP at 35 dBm with the null-space sensing stream and the range comb, since the night of 2026-12-03; on 2026-12-03 4 at
32 dBm, which ``--system sensing_power_fraction=0.0 --system subcarrier_step=1 --system n_tx_antennas=4 --system power_dbm=32.0`` restores, before that 8 at 35 dBm, ``--system sensing_power_fraction=0.0 --system subcarrier_step=1``; AP input
``area_maps`` with the ``centre`` head, batch 32, Adam 1e-3; ``--net ap_input='"maps"' --net head='"fc"'``
gives the previous default) for each ``STEPS:N_TRAIN[:NET_PRESET]`` given, and prints the RMSEs
on the test set (the 1,000 samples after the training samples) and on the first 1,000 training
samples. With ``N_TRAIN = 32 * STEPS`` every step sees fresh samples (no repeats), so a training
error equal to the test error means the model underfits; a training error well below the test
error means it memorises.

``--system KEY=VALUE`` (repeatable) changes the system of every reading, e.g. ``n_rx_antennas=16``
(half the angle cell), ``scs_hz=480e3`` (half the bistatic range cell) or ``n_targets=1``: the
resolution readings of ``docs/dvqvae.md``; ``--net KEY=VALUE`` changes the quick network the
same way (e.g. ``proj_dim=256 fc_dim=512``, a wider decoder). Besides the Euclidean RMSEs it prints the RMSE of each
coordinate (x, y, v_x, v_y) on the test set (``training.evaluate``), and for two or more targets
(two targets) the share of test samples in which both targets are found (each estimate within 2
cells of 6.25 m of a distinct target, :func:`found_breakdown`) with the RMSEs over those samples
alone: whether a model misses a target or places the ones it finds poorly. Those columns score the
head's own peaks; with the ``centre`` head the last column scores the confidence-shrunk read-out that
the learning experiments report (:mod:`isac_jax.dvqvae.readout`, fitted on the 2,000 samples after the
test set).

Usage: python benchmarks/learning_limits.py [--out DIR] [--system KEY=VALUE ...] [--net KEY=VALUE ...]
       [--lr-schedule cosine]
       5000:160000 5000:16000
(a GPU reading; one 5000-step run of the earlier ``maps`` default took about 2.5 min on an H100 and
about 40 min on a 2-core CPU; the default's 600 steps take about 6 min on that CPU).
Checkpoints go to ``--out`` (default ``learning_limits_work``), so an interrupted call resumes.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from isac_jax.core.timing import machine
from isac_jax.dvqvae import SensingModel
from isac_jax.dvqvae.readout import calibrated_predict
from isac_jax.dvqvae.training import evaluate, fit, labels_of, predict, trivial_prediction
from isac_jax.dvqvae.targets import LabelScaler, assigned_errors, rmse
from isac_jax.experiments.paper_b import train as b_train

FOUND_GRID, FOUND_CELLS = 16, 2      # cells of 6.25 m over the quick area; "found" = within 2 cells


def found_breakdown(pred, data, scaler) -> dict:
    """Share of samples in which, under one of the two orderings, each target's estimate lies in a
    cell (of a ``FOUND_GRID`` x ``FOUND_GRID`` grid of the normalised area) at most ``FOUND_CELLS``
    from its target's cell along x and y, and the location / velocity RMSEs (best assignment) over
    those samples alone. Two targets only."""
    true = scaler.normalise(labels_of(data))
    if true.shape[1] != 2:
        return {"all_found": None}
    cp, ct = np.floor(np.asarray(pred)[..., :2] * FOUND_GRID), np.floor(true[..., :2] * FOUND_GRID)
    d = np.abs(cp[:, :, None] - ct[:, None]).max(-1)                           # [n, estimate, target]
    found = ((d[:, 0, 0] <= FOUND_CELLS) & (d[:, 1, 1] <= FOUND_CELLS)) | \
            ((d[:, 0, 1] <= FOUND_CELLS) & (d[:, 1, 0] <= FOUND_CELLS))
    loc, vel = (np.asarray(e) for e in assigned_errors(pred, true, scaler))
    return {"all_found": float(found.mean()), "location_rmse_m_found": rmse(loc[found]) if found.any() else None,
            "velocity_rmse_mps_found": rmse(vel[found]) if found.any() else None}


def reading(spec: str, work: Path, system: tuple = (), net_changes: tuple = (), lr_schedule: str = "constant") -> dict:
    steps, n_train, net = (spec.split(":") + ["quick"])[:3]
    base = b_train.PRESETS["quick"].setup
    setup = dataclasses.replace(base, steps=int(steps), n_train=int(n_train), net_preset=net,
                                epochs=-(-int(steps) * 32 // int(n_train)),
                                system_overrides=base.system_overrides + system,
                                net_overrides=base.net_overrides + net_changes, lr_schedule=lr_schedule)
    train, test = setup.splits(0)
    model = SensingModel("dvqvae", setup.net(), setup.system())
    t0 = time.perf_counter()
    res = fit(model, setup.train_config(), train, seed=0, checkpoint=work / f"{_name(spec, system + net_changes + _schedule(lr_schedule))}.ckpt",
              progress=False)
    seen = dataclasses.replace(train, stop=train.start + min(1000, len(train)))
    read = calibrated_predict(model, res.state, res.scaler, train, setup.calibration(0), test)
    pred = read["peaks"]
    shrunk = {} if "shrunk" not in read else {
        "test_shrunk": evaluate(read["shrunk"], test, res.scaler), "shrinkage": read["theta"].tolist(),
        "test_shrunk_found": found_breakdown(read["shrunk"], test, res.scaler)}
    return {"test": evaluate(pred, test, res.scaler), "test_found": found_breakdown(pred, test, res.scaler), **shrunk,
            "train_first_1000": evaluate(predict(model, res.state, seen), seen, res.scaler),
            "trivial": evaluate(trivial_prediction(train, len(test), LabelScaler.fit(labels_of(train))), test,
                                res.scaler),
            "wall_s": time.perf_counter() - t0}


def _schedule(lr_schedule: str) -> tuple:
    return () if lr_schedule == "constant" else (("lr", lr_schedule),)


def _name(spec: str, system: tuple) -> str:
    return "_".join([spec.replace(":", "_")] + [f"{k}{v}" for k, v in system])


def _override(text: str) -> tuple:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--system takes KEY=VALUE, got {text!r}")
    return key, ast.literal_eval(value)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("specs", nargs="+", help="STEPS:N_TRAIN[:NET_PRESET]")
    ap.add_argument("--out", default="learning_limits_work")
    ap.add_argument("--system", type=_override, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--net", type=_override, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--lr-schedule", default="constant", choices=("constant", "cosine"))
    args = ap.parse_args()
    system, net = tuple(args.system), tuple(args.net)
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    print(f"# learning_limits (b-train quick setup, default D-VQVAE; system changes {list(system)}, network changes "
          f"{list(net)}, learning rate {args.lr_schedule}): {machine()}")
    print("| steps : training samples [: net] | test location (m) | test velocity (m/s) "
          "| train location (m) | train velocity (m/s) | trivial location / velocity | test x / y / v_x / v_y "
          "| both targets found | location / velocity RMSE there | shrunk read-out location / velocity | wall (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for spec in args.specs:
        r = reading(spec, work, system, net, args.lr_schedule)
        (work / f"{_name(spec, system + net + _schedule(args.lr_schedule))}.json").write_text(json.dumps(r, indent=1))
        t, s, z, f = r["test"], r["train_first_1000"], r["trivial"], r["test_found"]
        there = (f"{f['location_rmse_m_found']:.2f} / {f['velocity_rmse_mps_found']:.2f}"
                 if f.get("location_rmse_m_found") is not None else "-")
        share = "-" if f["all_found"] is None else f"{100 * f['all_found']:.1f} %"
        sh = r.get("test_shrunk")
        shrunk = "-" if sh is None else f"{sh['location_rmse_m']:.2f} / {sh['velocity_rmse_mps']:.2f}"
        print(f"| {spec} | {t['location_rmse_m']:.2f} | {t['velocity_rmse_mps']:.2f} | {s['location_rmse_m']:.2f} "
              f"| {s['velocity_rmse_mps']:.2f} | {z['location_rmse_m']:.2f} / {z['velocity_rmse_mps']:.2f} "
              f"| {' / '.join(f'{e:.1f}' for e in t['coordinate_rmse'].values())} | {share} | {there} "
              f"| {shrunk} | {r['wall_s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
