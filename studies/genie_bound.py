"""Paper B learning: what can *any* estimator reach on b-train's test samples? The genie-aided MMSE.

For each target of the first ``--n-test`` test samples of ``b-train``'s quick generator (its learning
system, since the night of 2026-12-03 8 transmit antennas per AP at 35 dBm with the null-space sensing stream
and the range comb; the readings recorded on 2026-12-03 used 4 at 32 dBm, ``--system sensing_power_fraction=0.0 --system subcarrier_step=1 --system n_tx_antennas=4 --system power_dbm=32.0``, and
those before 8 at 35 dBm, ``--system sensing_power_fraction=0.0 --system subcarrier_step=1``; b-train's test samples, 64,000 ..; 16,000 .. before that date), the posterior of that target's **velocity** given the echoes, both targets' true
positions and the other target's velocity, and the posterior of its **position** given the echoes,
both true velocities and the other target's position, each on a grid refined around its modes, with
the reflection coefficients integrated out (:mod:`isac_jax.cellfree.posterior`: the exact Gaussian
likelihood of the simulator, uniform priors over the velocity box and the area). Each posterior's mean
is the MMSE estimate with that side information, so its RMSE over the targets is a lower bound (up to
Monte Carlo error) on the labelled RMSE of any estimator of that quantity, learned or classical, that
is not told the side information; the printed standard error is that of the mean squared error.

Per reading it prints both genie RMSEs beside the prior mean's (the trivial predictor), the share of
targets whose position posterior holds at least half its mass within 3 m of the truth, and the
velocity posterior's mass within 2 m/s. ``--system KEY=VALUE`` changes the system as in
``learning_limits.py`` (e.g. ``subcarrier_step=8 symbol_step=8``: Table B.I's range and Doppler cells
on the quick tensor).

Usage: python benchmarks/genie_bound.py [--n-test 100] [--system KEY=VALUE ...] [--skip-location]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)       # likelihood differences of a few nats on values of ~1e4

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from isac_jax.cellfree import grid_posterior, marginal_log_likelihood  # noqa: E402
from isac_jax.core.timing import machine  # noqa: E402
from isac_jax.experiments.paper_b import train as b_train  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from learning_limits import _override  # noqa: E402


def posteriors(system, *, location: bool, refine: int):
    """A jitted ``(Y, X, targets, velocities, q) -> (velocity mean, velocity mass near truth, position
    mean, position mass near truth)`` for target ``q`` of one sample: velocity cells of 1 m/s and
    position cells of 2 m, each refined ``refine`` times around the modes."""
    tx, rx = system.tx_array(), system.rx_array()
    kw = dict(noise_w=system.noise_w, reflection_var=system.reflection_var, **system.echo_kwargs)
    vmax, (ax, ay) = system.max_speed_mps, system.area_m

    def one(Y, X, g, v, q):
        def log_v(vs):
            return jax.vmap(lambda u: marginal_log_likelihood(Y, X, tx, rx, g, v.at[q].set(u), **kw))(vs)

        def log_g(ps):
            return jax.vmap(lambda p: marginal_log_likelihood(Y, X, tx, rx, g.at[q].set(p), v, **kw))(ps)

        pv = grid_posterior(log_v, (-vmax, -vmax), (vmax, vmax), n_cells=(40, 40), refine=refine, window=1,
                            n_modes=4, chunk=512)
        v_mass = jnp.sum(jnp.where(jnp.linalg.norm(pv["points"] - v[q][None], axis=-1) < 2.0, pv["weights"], 0.0))
        if not location:
            return pv["mean"], v_mass, jnp.full(2, jnp.nan), jnp.nan
        pg = grid_posterior(log_g, (0.0, 0.0), (ax, ay), n_cells=(50, 50), refine=refine, window=1, n_modes=8,
                            chunk=512)
        g_mass = jnp.sum(jnp.where(jnp.linalg.norm(pg["points"] - g[q][None], axis=-1) < 3.0, pg["weights"], 0.0))
        return pv["mean"], v_mass, pg["mean"], g_mass

    return jax.jit(one, static_argnums=4)


def rmse_and_se(err):
    """RMSE of Euclidean errors ``[P, 2]`` and the standard error of the mean squared error (as an RMSE
    interval half-width, delta method)."""
    sq = np.sum(err ** 2, axis=-1)
    r = float(np.sqrt(sq.mean()))
    return r, float(sq.std(ddof=1) / np.sqrt(len(sq)) / (2 * r))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", type=_override, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--n-test", type=int, default=100)
    ap.add_argument("--refine", type=int, default=5, help="fine cells per coarse cell and axis")
    ap.add_argument("--skip-location", action="store_true", help="the velocity posterior only")
    args = ap.parse_args()
    base = b_train.PRESETS["quick"].setup
    setup = dataclasses.replace(base, system_overrides=base.system_overrides + tuple(args.system))
    system = setup.system()
    if system.n_clutter or system.timing_offset_std_s or system.cfo_std_hz:
        raise SystemExit("the genie posterior models targets and noise only (no clutter, no clock offsets)")
    _, test = setup.splits(0)
    batch = test.batch(np.arange(args.n_test))
    fn = posteriors(system, location=not args.skip_location, refine=args.refine)
    t0 = time.perf_counter()
    out = {k: [] for k in ("v", "v_mass", "g", "g_mass", "v_true", "g_true")}
    Y, X = (jnp.asarray(batch[k]).astype(jnp.complex128) for k in ("Y", "X"))
    for s in range(args.n_test):
        g, v = (jnp.asarray(batch[k][s], jnp.float64) for k in ("targets", "velocities"))
        for q in range(system.n_targets):
            vm, vmass, gm, gmass = fn(Y[s], X[s], g, v, q)
            out["v"].append(np.asarray(vm))
            out["v_mass"].append(float(vmass))
            out["g"].append(np.asarray(gm))
            out["g_mass"].append(float(gmass))
            out["v_true"].append(np.asarray(v[q]))
            out["g_true"].append(np.asarray(g[q]))
        if s == 0 or (s + 1) % 20 == 0:
            print(f"# {s + 1} samples, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    o = {k: np.asarray(a) for k, a in out.items()}
    centre = np.asarray(system.area_m) / 2
    rows = [("trivial (prior mean)", rmse_and_se(o["g_true"] - centre), rmse_and_se(o["v_true"]), None, None)]
    rows.append(("genie-aided MMSE", rmse_and_se(o["g"] - o["g_true"]) if not args.skip_location else None,
                 rmse_and_se(o["v"] - o["v_true"]), np.mean(o["g_mass"] >= 0.5), np.mean(o["v_mass"] >= 0.5)))
    verr = o["v"] - o["v_true"]
    print(f"# genie-aided MMSE on the first {args.n_test} b-train test samples ({len(o['v'])} targets), quick "
          f"system with {list(args.system)}; {time.perf_counter() - t0:.0f} s; {machine()}")
    print("| estimator | location RMSE (m) | velocity RMSE (m/s) | positions with >= 50 % posterior mass "
          "within 3 m | velocities with >= 50 % within 2 m/s |\n|---|---|---|---|---|")
    for name, g_r, v_r, g_share, v_share in rows:
        g_txt = "" if g_r is None else f"{g_r[0]:.2f} ± {g_r[1]:.2f}"
        shares = ("", "") if g_share is None else ("" if args.skip_location else f"{100 * g_share:.1f} %",
                                                   f"{100 * v_share:.1f} %")
        print(f"| {name} | {g_txt} | {v_r[0]:.2f} ± {v_r[1]:.2f} | {shares[0]} | {shares[1]} |")
    print(f"# genie velocity RMSE per axis: v_x {np.sqrt(np.mean(verr[:, 0] ** 2)):.2f}, "
          f"v_y {np.sqrt(np.mean(verr[:, 1] ** 2)):.2f} m/s; median error {np.median(np.linalg.norm(verr, axis=-1)):.2f}")


if __name__ == "__main__":
    main()
