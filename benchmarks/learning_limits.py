"""Paper B learning: is the default D-VQVAE of ``b-train`` limited by its step budget, by its
training data, or by the model itself? Trains it on the ``b-train`` quick setup (35 dBm, AP input
``maps``, batch 32, Adam 1e-3) for each ``STEPS:N_TRAIN[:NET_PRESET]`` given, and prints the RMSEs
on the test set (the 1,000 samples after the training samples) and on the first 1,000 training
samples. With ``N_TRAIN = 32 * STEPS`` every step sees fresh samples (no repeats), so a training
error equal to the test error means the model underfits; a training error well below the test
error means it memorises.

``--system KEY=VALUE`` (repeatable) changes the system of every reading, e.g. ``n_rx_antennas=16``
(half the angle cell), ``scs_hz=480e3`` (half the bistatic range cell) or ``n_targets=1``: the
resolution readings of ``docs/dvqvae.md``; ``--net KEY=VALUE`` changes the quick network the
same way (e.g. ``proj_dim=256 fc_dim=512``, a wider decoder). Besides the Euclidean RMSEs it prints the RMSE of each
coordinate (x, y, v_x, v_y) on the test set (``training.evaluate``).

Usage: python benchmarks/learning_limits.py [--out DIR] [--system KEY=VALUE ...] [--net KEY=VALUE ...]
       5000:160000 5000:16000
(a GPU reading; one 5000-step run takes about 2.5 min on an H100, about 40 min on a 2-core CPU).
Checkpoints go to ``--out`` (default ``learning_limits_work``), so an interrupted call resumes.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import time
from pathlib import Path

from isac_jax.core.timing import machine
from isac_jax.dvqvae import SensingModel
from isac_jax.dvqvae.training import evaluate, fit, labels_of, predict, trivial_prediction
from isac_jax.dvqvae.targets import LabelScaler
from isac_jax.experiments.paper_b import train as b_train


def reading(spec: str, work: Path, system: tuple = (), net_changes: tuple = ()) -> dict:
    steps, n_train, net = (spec.split(":") + ["quick"])[:3]
    base = b_train.PRESETS["quick"].setup
    setup = dataclasses.replace(base, steps=int(steps), n_train=int(n_train), net_preset=net,
                                epochs=-(-int(steps) * 32 // int(n_train)),
                                system_overrides=base.system_overrides + system,
                                net_overrides=base.net_overrides + net_changes)
    train, test = setup.splits(0)
    model = SensingModel("dvqvae", setup.net(), setup.system())
    t0 = time.perf_counter()
    res = fit(model, setup.train_config(), train, seed=0, checkpoint=work / f"{_name(spec, system + net_changes)}.ckpt",
              progress=False)
    seen = dataclasses.replace(train, stop=train.start + min(1000, len(train)))
    return {"test": evaluate(predict(model, res.state, test), test, res.scaler),
            "train_first_1000": evaluate(predict(model, res.state, seen), seen, res.scaler),
            "trivial": evaluate(trivial_prediction(train, len(test), LabelScaler.fit(labels_of(train))), test,
                                res.scaler),
            "wall_s": time.perf_counter() - t0}


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
    args = ap.parse_args()
    system, net = tuple(args.system), tuple(args.net)
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    print(f"# learning_limits (b-train quick setup, D-VQVAE on maps; system changes {list(system)}, network changes {list(net)}): {machine()}")
    print("| steps : training samples [: net] | test location (m) | test velocity (m/s) "
          "| train location (m) | train velocity (m/s) | trivial location / velocity | test x / y / v_x / v_y | wall (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for spec in args.specs:
        r = reading(spec, work, system, net)
        (work / f"{_name(spec, system + net)}.json").write_text(json.dumps(r, indent=1))
        t, s, z = r["test"], r["train_first_1000"], r["trivial"]
        print(f"| {spec} | {t['location_rmse_m']:.2f} | {t['velocity_rmse_mps']:.2f} | {s['location_rmse_m']:.2f} "
              f"| {s['velocity_rmse_mps']:.2f} | {z['location_rmse_m']:.2f} / {z['velocity_rmse_mps']:.2f} "
              f"| {' / '.join(f'{e:.1f}' for e in t['coordinate_rmse'].values())} | {r['wall_s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
