"""Paper B learning: is it the second echo or the set of two outputs that costs the D-VQVAE half its
accuracy? Trains the default ``b-train`` D-VQVAE (same network, optimiser, batch, budget, samples
and echoes, two targets in every scene) to predict only the *stronger* target (echo energy summed
over all transmit-receive pairs, ``|beta|^2 / (d_tx d_rx)^2``), one output slot, and prints its RMSEs
on the test samples beside the trivial predictor's for the same label. Compare with the two-target
model's error on its stronger target (``learned_error_breakdown.py``) and with one-target scenes
(``learning_limits.py --system n_targets=1``): if one slot on two-target echoes does about as well
as one-target scenes, the second echo is not what costs the accuracy; the set of two slots is.

Usage: python benchmarks/set_prediction.py [--steps 1200] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np

from isac_jax.cellfree.dataset import sample_batch
from isac_jax.core.timing import machine
from isac_jax.dvqvae import SensingModel
from isac_jax.dvqvae.data import GeneratedSplit
from isac_jax.dvqvae.targets import LabelScaler
from isac_jax.dvqvae.training import evaluate, fit, labels_of, predict, trivial_prediction
from isac_jax.experiments.paper_b import train as b_train


def _stronger(out: dict, system) -> dict:
    """Keep the stronger target's ``targets`` and ``velocities`` (``[B, 1, 2]``)."""
    tg, beta = np.asarray(out["targets"], np.float64), np.asarray(out["beta"])
    tx, rx = np.asarray(system.tx_array()), np.asarray(system.rx_array())
    d_tx = np.linalg.norm(tg[:, None] - tx[None, :, None], axis=-1)                # [B, N, Q]
    d_rx = np.linalg.norm(tg[:, None] - rx[None, :, None], axis=-1)                # [B, M, Q]
    q = np.argmax((np.abs(beta) ** 2 / (d_tx[:, :, None] * d_rx[:, None]) ** 2).sum((1, 2)), axis=1)
    pick = lambda a: np.take_along_axis(np.asarray(a), q[:, None, None], axis=1)   # noqa: E731
    return {"Y": np.asarray(out["Y"]), "X": np.asarray(out["X"]), "targets": pick(out["targets"]),
            "velocities": pick(out["velocities"])}


@dataclasses.dataclass(frozen=True)
class StrongerTargetSplit(GeneratedSplit):
    """:class:`GeneratedSplit`'s samples (two targets in every echo), labelled with the stronger one."""

    def batch(self, positions) -> dict:
        return _stronger(sample_batch(jax.random.PRNGKey(self.seed), self.start + np.asarray(positions),
                                      self.system), self.system)

    def labels(self, chunk: int = 512) -> dict:
        parts = [self.batch(np.arange(a, min(a + chunk, len(self)))) for a in range(0, len(self), chunk)]
        return {k: np.concatenate([p[k] for p in parts]) for k in ("targets", "velocities")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--out", default="set_prediction_work")
    args = ap.parse_args()
    setup = dataclasses.replace(b_train.PRESETS["quick"].setup, steps=args.steps)
    system = setup.system()
    train, test = (StrongerTargetSplit(system, s.seed, s.start, s.stop) for s in setup.splits(0))
    # One output slot (4 outputs); the encoder input does not depend on the number of targets.
    model = SensingModel("dvqvae", setup.net(), dataclasses.replace(system, n_targets=1))
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = fit(model, setup.train_config(), train, seed=0, checkpoint=work / f"stronger_{args.steps}.ckpt",
              progress=False)
    r = {"dvqvae_stronger_only": evaluate(predict(model, res.state, test), test, res.scaler),
         "trivial": evaluate(trivial_prediction(train, len(test), LabelScaler.fit(labels_of(train))), test,
                             res.scaler),
         "wall_s": time.perf_counter() - t0}
    (work / f"stronger_{args.steps}.json").write_text(json.dumps(r, indent=1))
    print(f"# set_prediction (b-train quick setup, two targets per echo, stronger one predicted): {machine()}")
    for name in ("dvqvae_stronger_only", "trivial"):
        c = r[name]["coordinate_rmse"]
        print(f"{name}, {args.steps} steps: location {r[name]['location_rmse_m']:.2f} m, velocity "
              f"{r[name]['velocity_rmse_mps']:.2f} m/s (x / y / v_x / v_y {' / '.join(f'{e:.1f}' for e in c.values())})",
              flush=True)


if __name__ == "__main__":
    main()
