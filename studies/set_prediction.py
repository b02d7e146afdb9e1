"""Paper B learning: is it the second echo or the set of two outputs that costs the D-VQVAE half its
accuracy? Trains the default ``b-train`` D-VQVAE (same network, optimiser, batch, budget, samples
and echoes, two targets in every scene) to predict only the *stronger* target (echo energy summed
over all transmit-receive pairs, ``|beta|^2 / (d_tx d_rx)^2``), one output slot, and prints its RMSEs
on the test samples beside the trivial predictor's for the same label. Compare with the two-target
model's error on its stronger target (``learned_error_breakdown.py``) and with one-target scenes
(``learning_limits.py --system n_targets=1``): if one slot on two-target echoes does about as well
as one-target scenes, the second echo is not what costs the accuracy; the set of two slots is.

Usage: python studies/set_prediction.py [--steps 1200] [--out DIR] [--tiny] [--json PATH]
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

from isac_jax import cellfree, dvqvae

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import base_setup, finish, parser  # noqa: E402


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
class StrongerTargetSplit(dvqvae.GeneratedSplit):
    """:class:`~isac_jax.dvqvae.GeneratedSplit`'s samples (two targets in every echo), labelled with the stronger one."""

    def batch(self, positions) -> dict:
        return _stronger(cellfree.sample_batch(jax.random.PRNGKey(self.seed), self.start + np.asarray(positions),
                                      self.system), self.system)

    def labels(self, chunk: int = 512) -> dict:
        parts = [self.batch(np.arange(a, min(a + chunk, len(self)))) for a in range(0, len(self), chunk)]
        return {k: np.concatenate([p[k] for p in parts]) for k in ("targets", "velocities")}


TITLE = "Paper B: the second echo or the set of two outputs"
QUESTION = ("Is it the second target's echo or the set of two outputs that costs the D-VQVAE half its accuracy "
            "on two-target scenes?")
METHOD = ("Train b-train's default D-VQVAE (same network, optimiser, batch, budget, samples and two-target echoes) "
          "to predict only the stronger target (echo energy summed over all transmit-receive pairs), one output "
          "slot, and score it on the test samples against the trivial predictor of the same label. Compare with "
          "the two-target model on its stronger target (learned_error_breakdown) and with one-target scenes "
          "(learning_limits --system n_targets=1).")


def main(argv=None) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--steps", type=int, default=None, help="optimiser steps (default: b-train's budget)")
    ap.add_argument("--out", default="set_prediction_work")
    args = ap.parse_args(argv)
    setup = base_setup(args.tiny)
    steps = args.steps or setup.steps
    setup = dataclasses.replace(setup, steps=steps)
    system = setup.system()
    train, test = (StrongerTargetSplit(system, s.seed, s.start, s.stop) for s in setup.splits(0))
    # One output slot (4 outputs); the encoder input does not depend on the number of targets.
    model = dvqvae.SensingModel("dvqvae", setup.net(), dataclasses.replace(system, n_targets=1))
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = dvqvae.fit(model, setup.train_config(), train, seed=0,
                     checkpoint=work / f"stronger_{steps}{'_tiny' if args.tiny else ''}.ckpt", progress=False)
    trivial = dvqvae.trivial_prediction(train, len(test), dvqvae.LabelScaler.fit(dvqvae.labels_of(train)))
    r = {"D-VQVAE, stronger target only": dvqvae.evaluate(dvqvae.predict(model, res.state, test), test, res.scaler),
         "trivial": dvqvae.evaluate(trivial, test, res.scaler), "wall_s": time.perf_counter() - t0}
    (work / f"stronger_{steps}.json").write_text(json.dumps(r, indent=1))
    rows = [[name, r[name]["location_rmse_m"], r[name]["velocity_rmse_mps"], *r[name]["coordinate_rmse"].values()]
            for name in ("D-VQVAE, stronger target only", "trivial")]
    table = {"caption": f"Stronger target of two-target echoes, {steps} steps "
                        f"({'tiny' if args.tiny else 'b-train quick'} setup), {len(test)} test samples",
             "columns": ["model", "location RMSE (m)", "velocity RMSE (m/s)", "x (m)", "y (m)", "v_x (m/s)",
                         "v_y (m/s)"], "rows": rows}
    answer = (f"Predicting only the stronger target, the D-VQVAE reaches {rows[0][1]:.2f} m and {rows[0][2]:.2f} m/s "
              f"against the trivial predictor's {rows[1][1]:.2f} m and {rows[1][2]:.2f} m/s.")
    return finish(__file__, sys.argv[1:] if argv is None else argv, args, title=TITLE, question=QUESTION,
                  method=METHOD, answer=answer, tables=[table])


if __name__ == "__main__":
    main()
