"""Paper B learning: what can *any* estimator reach on b-train's test samples? The genie-aided MMSE.

For each target of the first ``--n-test`` test samples of ``b-train``'s quick generator (its learning
system), the posterior of that target's **velocity** given the echoes, both targets' true positions and
the other target's velocity, and the posterior of its **position** given the echoes, both true
velocities and the other target's position, each on a grid refined around its modes, with the
reflection coefficients integrated out (:mod:`isac_jax.cellfree.posterior`: the exact Gaussian
likelihood of the simulator, uniform priors over the velocity box and the area). Each posterior's mean
is the MMSE estimate with that side information, so its RMSE over the targets is a lower bound (up to
Monte Carlo error) on the labelled RMSE of any estimator of that quantity, learned or classical, that
is not told the side information; the reported standard error is that of the mean squared error.

Per reading it reports both genie RMSEs beside the prior mean's (the trivial predictor), the share of
targets whose position posterior holds at least half its mass within 3 m of the truth, and the
velocity posterior's mass within 2 m/s. ``--system KEY=VALUE`` changes the system as in
``learning_limits.py`` (e.g. ``subcarrier_step=8 symbol_step=8``: Table B.I's range and Doppler cells
on the quick tensor).

Usage: python studies/genie_bound.py [--n-test 100] [--system KEY=VALUE ...] [--skip-location] [--tiny]
       [--json PATH]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)       # likelihood differences of a few nats on values of ~1e4

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from isac_jax import cellfree  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import base_setup, finish, override, parser  # noqa: E402


def posteriors(system, *, location: bool, refine: int):
    """A jitted ``(Y, X, targets, velocities, q) -> (velocity mean, velocity mass near truth, position
    mean, position mass near truth)`` for target ``q`` of one sample: velocity cells of 1 m/s and
    position cells of 2 m, each refined ``refine`` times around the modes."""
    tx, rx = system.tx_array(), system.rx_array()
    kw = dict(noise_w=system.noise_w, reflection_var=system.reflection_var, **system.echo_kwargs)
    vmax, (ax, ay) = system.max_speed_mps, system.area_m

    def one(Y, X, g, v, q):
        def log_v(vs):
            return jax.vmap(lambda u: cellfree.marginal_log_likelihood(Y, X, tx, rx, g, v.at[q].set(u), **kw))(vs)

        def log_g(ps):
            return jax.vmap(lambda p: cellfree.marginal_log_likelihood(Y, X, tx, rx, g.at[q].set(p), v, **kw))(ps)

        pv = cellfree.grid_posterior(log_v, (-vmax, -vmax), (vmax, vmax), n_cells=(40, 40), refine=refine, window=1,
                            n_modes=4, chunk=512)
        v_mass = jnp.sum(jnp.where(jnp.linalg.norm(pv["points"] - v[q][None], axis=-1) < 2.0, pv["weights"], 0.0))
        if not location:
            return pv["mean"], v_mass, jnp.full(2, jnp.nan), jnp.nan
        pg = cellfree.grid_posterior(log_g, (0.0, 0.0), (ax, ay), n_cells=(50, 50), refine=refine, window=1, n_modes=8,
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


TITLE = "Paper B: the genie-aided MMSE bound on b-train's test samples"
QUESTION = ("What location and velocity RMSE can any estimator reach on b-train's test samples, learned or "
            "classical?")
METHOD = ("For each target, the exact posterior of its velocity (given the echoes, both true positions and the "
          "other velocity) and of its position (given the echoes, both true velocities and the other position), "
          "with the reflection coefficients integrated out, on grids refined around the modes; each posterior "
          "mean is the MMSE estimate with that side information, so its RMSE bounds that of any estimator not "
          "told it.")


def main(argv=None) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--system", type=override, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--n-test", type=int, default=100)
    ap.add_argument("--refine", type=int, default=5, help="fine cells per coarse cell and axis")
    ap.add_argument("--skip-location", action="store_true", help="the velocity posterior only")
    args = ap.parse_args(argv)
    setup = base_setup(args.tiny, tuple(args.system))
    system = setup.system()
    n_test, refine = (1, 2) if args.tiny else (args.n_test, args.refine)
    if system.n_clutter or system.timing_offset_std_s or system.cfo_std_hz:
        raise SystemExit("the genie posterior models targets and noise only (no clutter, no clock offsets)")
    _, test = setup.splits(0)
    batch = test.batch(np.arange(n_test))
    fn = posteriors(system, location=not args.skip_location, refine=refine)
    t0 = time.perf_counter()
    out = {k: [] for k in ("v", "v_mass", "g", "g_mass", "v_true", "g_true")}
    Y, X = (jnp.asarray(batch[k]).astype(jnp.complex128) for k in ("Y", "X"))
    for s in range(n_test):
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
    trivial_g, trivial_v = rmse_and_se(o["g_true"] - centre), rmse_and_se(o["v_true"])
    genie_v = rmse_and_se(o["v"] - o["v_true"])
    genie_g = (None, None) if args.skip_location else rmse_and_se(o["g"] - o["g_true"])
    verr = o["v"] - o["v_true"]
    rows = [["trivial (prior mean)", *trivial_g, *trivial_v, None, None, None, None],
            ["genie-aided MMSE", *genie_g, *genie_v,
             None if args.skip_location else float(np.mean(o["g_mass"] >= 0.5)), float(np.mean(o["v_mass"] >= 0.5)),
             float(np.sqrt(np.mean(verr[:, 0] ** 2))), float(np.sqrt(np.mean(verr[:, 1] ** 2)))]]
    table = {"caption": f"Genie-aided MMSE on the first {n_test} test samples ({len(o['v'])} targets), "
                        f"{'tiny' if args.tiny else 'b-train quick'} system with {list(args.system)}",
             "columns": ["estimator", "location RMSE (m)", "± (m)", "velocity RMSE (m/s)", "± (m/s)",
                         "share of positions with >= 50 % posterior mass within 3 m",
                         "share of velocities with >= 50 % within 2 m/s", "v_x RMSE (m/s)", "v_y RMSE (m/s)"],
             "rows": rows}
    loc = "" if args.skip_location else f"{genie_g[0]:.2f} m (trivial {trivial_g[0]:.2f} m) and "
    answer = (f"With the other parameters told, the MMSE estimate reaches {loc}{genie_v[0]:.2f} m/s "
              f"(trivial {trivial_v[0]:.2f} m/s) over {len(o['v'])} targets: no estimator without that side "
              "information does better, up to the stated Monte Carlo error.")
    return finish(__file__, sys.argv[1:] if argv is None else argv, args, title=TITLE, question=QUESTION,
                  method=METHOD, answer=answer, tables=[table])


if __name__ == "__main__":
    main()
