"""Paper B learning: ghost paths in the receive APs' angle-delay-Doppler maps, and what the default
D-VQVAE reaches without them.

In the cell-free downlink every transmit AP precodes the *same* users' symbols (B.3), so the echo of
a path through transmit AP n' correlates with transmit AP n's signal: the ``maps`` input of AP m for
reference AP n shows the paths through n' too, at bistatic ranges shifted by the phase ramps of the
two APs' precoders (for line-of-sight users, differences of user distances). Part 1 counts, on
noiseless echoes of ``--n`` test samples of the ``b-train`` quick setup, how often the strongest peak of
a map (AP m, reference n) lies within 5 m / 10 m of the bistatic range of a target through n:
(a) as simulated, (b) with only transmit AP n's echo (the other AP's signal zeroed), (c) with each
transmit AP sending its own independent 16-QAM symbols through the same precoders (same scenario,
channels and noise key; a sensing-only counterfactual: the users no longer receive coherent data).
Part 2 (``--steps S``) trains the default D-VQVAE of ``b-train`` (same network, optimiser, batch,
samples and budget) on (c) and prints its RMSEs beside the trivial predictor's on the same test
samples.

Usage: python studies/ghost_paths.py [--n 200] [--steps 1200] [--out DIR] [--tiny] [--json PATH]
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax import cellfree, dvqvae

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import base_setup, finish, parser  # noqa: E402


def independent_data_sample(key, cfg):
    """``simulate_sample(key, cfg)``'s scenario, channels, precoders and noise, but every transmit AP
    sends its own 16-QAM symbols (``X[N, N_t, N_s, T_s]``, ``Y[M, M_r, N_s, T_s]``)."""
    k_tx, k_y = jax.random.split(key)
    sc, _, W, _ = cellfree.draw_transmission(k_tx, cfg)
    N = len(cfg.tx_positions)
    x = jnp.stack([cellfree.transmit_tensor(W, cellfree.transmit_symbols(jax.random.fold_in(k_tx, 1 + n), cfg), N)[n]
                   for n in range(N)])
    return {"Y": cellfree.received_echo(k_y, cfg, sc, x), "X": x, "targets": sc.targets, "velocities": sc.velocities,
            "beta": sc.beta}


_independent = {}


@dataclasses.dataclass(frozen=True)
class IndependentDataSplit(dvqvae.GeneratedSplit):
    """Samples ``start .. stop-1`` as :class:`~isac_jax.dvqvae.GeneratedSplit`'s (same labels), with independent data
    per transmit AP."""

    def batch(self, positions) -> dict:
        if self.system not in _independent:
            _independent[self.system] = jax.jit(jax.vmap(
                lambda k, d: independent_data_sample(jax.random.fold_in(k, d), self.system), in_axes=(None, 0)))
        out = _independent[self.system](jax.random.PRNGKey(self.seed),
                                        jnp.asarray(self.start + np.asarray(positions), jnp.uint32))
        return {k: np.asarray(out[k]) for k in ("Y", "X", "targets", "velocities")}


def peak_statistics(setup, n: int = 200) -> dict:
    """Fraction of maps (sample, receive AP m, reference AP n) whose strongest peak lies within 5 m /
    10 m of a target's bistatic range through n, noiseless, for the three transmissions, over the first
    ``n`` test samples of ``setup`` (a ``LearningSetup``)."""
    system = setup.system()
    _, test = setup.splits(0)
    idx = np.arange(test.start, test.start + n)
    shared = cellfree.sample_batch(jax.random.PRNGKey(0), idx, system)
    indep = IndependentDataSplit(system, 0, test.start, test.start + n).batch(np.arange(n))
    tx, rx = system.tx_array(), system.rx_array()
    echo = jax.jit(jax.vmap(lambda g, v, b, x: cellfree.noiseless_echo(tx, rx, g, v, b, x, **system.echo_kwargs)))
    maps = jax.jit(lambda y, x: jax.vmap(lambda ym: dvqvae.features.ap_features("maps", ym, x, system=system),
                                         in_axes=1, out_axes=1)(y))               # [B, M, Mr, Ns, Ts, N]
    grid = np.asarray(dvqvae.features.map_grids(system)["delay_s"]) * cellfree.SPEED_OF_LIGHT
    true = np.asarray(jax.vmap(lambda g, v: cellfree.bistatic_geometry(tx, rx, g, v)["range_m"])(
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


TITLE = "Paper B: ghost paths in the receive APs' maps"
QUESTION = ("Every transmit AP precodes the same users' symbols, so a receive AP's map for one reference AP also "
            "shows the paths through the others (ghost paths). How often does a map's strongest peak sit on a true "
            "target range, and what does the default D-VQVAE reach without ghost paths?")
METHOD = ("On noiseless echoes of b-train's test samples, the share of maps (sample, receive AP, reference AP) whose "
          "strongest peak lies within 5 m and 10 m of a target's bistatic range through the reference AP: as "
          "simulated, with only the reference AP's echo, and with every transmit AP sending its own symbols "
          "(a sensing-only counterfactual). With --steps, the default D-VQVAE trained on the counterfactual data.")


def main(argv=None) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--n", type=int, default=200, help="test samples for the peak statistics")
    ap.add_argument("--steps", type=int, default=0, help="train the default D-VQVAE on independent data")
    ap.add_argument("--out", default="ghost_paths_work")
    args = ap.parse_args(argv)
    setup = base_setup(args.tiny)
    system = setup.system()
    n = min(args.n, 8) if args.tiny else args.n
    stats = peak_statistics(setup, n)
    tables = [{"caption": f"Strongest map peak against the true bistatic ranges, {n} noiseless test samples "
                          f"({'tiny' if args.tiny else 'b-train quick'} setup)",
               "columns": ["transmission", "strongest peak within 5 m of a true range", "within 10 m"],
               "rows": [[name, r["within_5m"], r["within_10m"]] for name, r in stats.items()]}]
    shared, indep = stats["shared data (as simulated)"], stats["independent data per transmit AP"]
    answer = (f"The strongest peak lies within 10 m of a true bistatic range in {100 * shared['within_10m']:.0f} % of "
              f"the maps as simulated and in {100 * indep['within_10m']:.0f} % with independent data per transmit AP")
    if args.steps:
        work = Path(args.out)
        work.mkdir(parents=True, exist_ok=True)
        setup = dataclasses.replace(setup, steps=args.steps)
        train, test = (IndependentDataSplit(**dataclasses.asdict(s) | {"system": system}) for s in setup.splits(0))
        model = dvqvae.SensingModel("dvqvae", setup.net(), system)
        t0 = time.perf_counter()
        res = dvqvae.fit(model, setup.train_config(), train, seed=0,
                         checkpoint=work / f"independent_{args.steps}{'_tiny' if args.tiny else ''}.ckpt",
                         progress=False)
        trivial = dvqvae.trivial_prediction(train, len(test), dvqvae.LabelScaler.fit(dvqvae.labels_of(train)))
        r = {"dvqvae": dvqvae.evaluate(dvqvae.predict(model, res.state, test), test, res.scaler),
             "trivial": dvqvae.evaluate(trivial, test, res.scaler), "wall_s": time.perf_counter() - t0}
        (work / f"independent_{args.steps}.json").write_text(json.dumps(r, indent=1))
        tables.append({"caption": f"Default D-VQVAE trained {args.steps} steps on independent data per transmit AP",
                       "columns": ["model", "location RMSE (m)", "velocity RMSE (m/s)", "x (m)", "y (m)",
                                   "v_x (m/s)", "v_y (m/s)"],
                       "rows": [[name, r[name]["location_rmse_m"], r[name]["velocity_rmse_mps"],
                                 *r[name]["coordinate_rmse"].values()] for name in ("dvqvae", "trivial")]})
        answer += (f"; trained on that data for {args.steps} steps the D-VQVAE reaches "
                   f"{r['dvqvae']['location_rmse_m']:.2f} m and {r['dvqvae']['velocity_rmse_mps']:.2f} m/s "
                   f"(trivial {r['trivial']['location_rmse_m']:.2f} m, {r['trivial']['velocity_rmse_mps']:.2f} m/s)")
    return finish(__file__, sys.argv[1:] if argv is None else argv, args, title=TITLE, question=QUESTION,
                  method=METHOD, answer=answer + ".", tables=tables)


if __name__ == "__main__":
    main()
