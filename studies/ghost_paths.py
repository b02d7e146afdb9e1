"""Paper B learning: ghost paths in the receive APs' angle-delay-Doppler maps, and what the default
D-VQVAE reaches without them.

In the cell-free downlink every transmit AP precodes the *same* users' symbols (B.3), so the echo of
a path through transmit AP n' correlates with transmit AP n's signal: the ``maps`` input of AP m for
reference AP n shows the paths through n' too, at bistatic ranges shifted by the phase ramps of the
two APs' precoders (for line-of-sight users, differences of user distances). Part 1 counts, on
noiseless echoes of 200 test samples of the ``b-train`` quick setup, how often the strongest peak of
a map (AP m, reference n) lies within 5 m / 10 m of the bistatic range of a target through n:
(a) as simulated, (b) with only transmit AP n's echo (the other AP's signal zeroed), (c) with each
transmit AP sending its own independent 16-QAM symbols through the same precoders (same scenario,
channels and noise key; a sensing-only counterfactual: the users no longer receive coherent data).
Part 2 (``--steps S``) trains the default D-VQVAE of ``b-train`` (same network, optimiser, batch,
samples and budget) on (c) and prints its RMSEs beside the trivial predictor's on the same test
samples.

Usage: python benchmarks/ghost_paths.py [--steps 1200] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax.cellfree.comm import transmit_tensor
from isac_jax.cellfree.config import SPEED_OF_LIGHT
from isac_jax.cellfree.dataset import sample_batch
from isac_jax.cellfree.echo import bistatic_geometry, noiseless_echo
from isac_jax.cellfree.sensing import draw_transmission, received_echo, transmit_symbols
from isac_jax.core.timing import machine
from isac_jax.dvqvae import SensingModel
from isac_jax.dvqvae.data import GeneratedSplit
from isac_jax.dvqvae.features import ap_features, map_grids
from isac_jax.dvqvae.targets import LabelScaler
from isac_jax.dvqvae.training import evaluate, fit, labels_of, predict, trivial_prediction
from isac_jax.experiments.paper_b import train as b_train


def independent_data_sample(key, cfg):
    """``simulate_sample(key, cfg)``'s scenario, channels, precoders and noise, but every transmit AP
    sends its own 16-QAM symbols (``X[N, N_t, N_s, T_s]``, ``Y[M, M_r, N_s, T_s]``)."""
    k_tx, k_y = jax.random.split(key)
    sc, _, W, _ = draw_transmission(k_tx, cfg)
    N = len(cfg.tx_positions)
    x = jnp.stack([transmit_tensor(W, transmit_symbols(jax.random.fold_in(k_tx, 1 + n), cfg), N)[n]
                   for n in range(N)])
    return {"Y": received_echo(k_y, cfg, sc, x), "X": x, "targets": sc.targets, "velocities": sc.velocities,
            "beta": sc.beta}


_independent = {}


@dataclasses.dataclass(frozen=True)
class IndependentDataSplit(GeneratedSplit):
    """Samples ``start .. stop-1`` as :class:`GeneratedSplit`'s (same labels), with independent data
    per transmit AP."""

    def batch(self, positions) -> dict:
        if self.system not in _independent:
            _independent[self.system] = jax.jit(jax.vmap(
                lambda k, d: independent_data_sample(jax.random.fold_in(k, d), self.system), in_axes=(None, 0)))
        out = _independent[self.system](jax.random.PRNGKey(self.seed),
                                        jnp.asarray(self.start + np.asarray(positions), jnp.uint32))
        return {k: np.asarray(out[k]) for k in ("Y", "X", "targets", "velocities")}


def peak_statistics(system, n: int = 200) -> dict:
    """Fraction of maps (sample, receive AP m, reference AP n) whose strongest peak lies within 5 m /
    10 m of a target's bistatic range through n, noiseless, for the three transmissions."""
    _, test = b_train.PRESETS["quick"].setup.splits(0)
    idx = np.arange(test.start, test.start + n)
    shared = sample_batch(jax.random.PRNGKey(0), idx, system)
    indep = IndependentDataSplit(system, 0, test.start, test.start + n).batch(np.arange(n))
    tx, rx = system.tx_array(), system.rx_array()
    echo = jax.jit(jax.vmap(lambda g, v, b, x: noiseless_echo(tx, rx, g, v, b, x, **system.echo_kwargs)))
    maps = jax.jit(lambda y, x: jax.vmap(lambda ym: ap_features("maps", ym, x, system=system),
                                         in_axes=1, out_axes=1)(y))               # [B, M, Mr, Ns, Ts, N]
    grid = np.asarray(map_grids(system)["delay_s"]) * SPEED_OF_LIGHT
    true = np.asarray(jax.vmap(lambda g, v: bistatic_geometry(tx, rx, g, v)["range_m"])(
        shared["targets"], shared["velocities"]))                               # [B, N, M, Q]
    g, v, beta, X = shared["targets"], shared["velocities"], shared["beta"], shared["X"]
    N = X.shape[1]
    own = np.stack([np.asarray(maps(echo(g, v, beta, X * (jnp.arange(N) == k)[None, :, None, None, None]), X))[..., k]
                    for k in range(N)], axis=-1)
    kinds = {"shared data (as simulated)": np.asarray(maps(echo(g, v, beta, X), X)),
             "reference AP's echo only": own,
             "independent data per transmit AP": np.asarray(maps(echo(g, v, beta, jnp.asarray(indep["X"])),
                                                                 jnp.asarray(indep["X"])))}
    out = {}
    for name, f in kinds.items():
        peak = np.argmax(f.max(axis=(2, 4)), axis=2)                            # delay bin of the peak [B, M, N]
        err = np.min(np.abs(grid[peak][..., None] - np.moveaxis(true, 1, 2)), axis=-1)   # [B, M, N]
        out[name] = {"within_5m": float(np.mean(err < 5.0)), "within_10m": float(np.mean(err < 10.0))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=0, help="train the default D-VQVAE on independent data")
    ap.add_argument("--out", default="ghost_paths_work")
    args = ap.parse_args()
    setup = b_train.PRESETS["quick"].setup
    system = setup.system()
    print(f"# ghost paths in the maps (b-train quick setup): {machine()}")
    print("| transmission | strongest peak within 5 m of a true range | within 10 m |")
    print("|---|---|---|")
    for name, r in peak_statistics(system).items():
        print(f"| {name} | {r['within_5m']:.2f} | {r['within_10m']:.2f} |", flush=True)
    if not args.steps:
        return
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    setup = dataclasses.replace(setup, steps=args.steps)
    train, test = (IndependentDataSplit(**dataclasses.asdict(s) | {"system": system}) for s in setup.splits(0))
    model = SensingModel("dvqvae", setup.net(), system)
    t0 = time.perf_counter()
    res = fit(model, setup.train_config(), train, seed=0, checkpoint=work / f"independent_{args.steps}.ckpt",
              progress=False)
    r = {"dvqvae": evaluate(predict(model, res.state, test), test, res.scaler),
         "trivial": evaluate(trivial_prediction(train, len(test), LabelScaler.fit(labels_of(train))), test,
                             res.scaler),
         "wall_s": time.perf_counter() - t0}
    (work / f"independent_{args.steps}.json").write_text(json.dumps(r, indent=1))
    for name in ("dvqvae", "trivial"):
        c = r[name]["coordinate_rmse"]
        print(f"independent data, {args.steps} steps, {name}: location {r[name]['location_rmse_m']:.2f} m, "
              f"velocity {r[name]['velocity_rmse_mps']:.2f} m/s (x / y / v_x / v_y "
              f"{' / '.join(f'{e:.1f}' for e in c.values())})", flush=True)


if __name__ == "__main__":
    main()
