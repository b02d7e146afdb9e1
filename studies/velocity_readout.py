"""Paper B learning: how much velocity do the receive APs' maps hold *where the targets are*?

This probe removes detection and the fronthaul from the question of the D-VQVAE's velocity error: at every target's **true** position it reads each receive AP's
``area_maps`` input (the same matched filter, direction-cosine oversampling, Doppler shifts,
per-AP scaling and ``log1p``; :func:`isac_jax.dvqvae.features.map_at`) out as ``M x N`` Doppler
profiles of ``G_d`` shifts, and estimates the velocity from them and the position three ways:

* ``classical``: per transmit-receive pair the profile's peak (parabolic interpolation on the log
  profile), then the bistatic Doppler model (B.9)-(B.11), which is linear in the velocity, solved
  by weighted least squares (weights: each profile's peak-to-mean ratio) with the prior of the
  uniform velocities (variance ``v_max^2 / 3`` per axis; a quarter Doppler cell as the per-pair
  error), clipped to ``[-v_max, v_max]``;
* ``classical, robust``: the same, fitted to every subset of ``M N - 1`` pairs, keeping the fit of
  least squared residual (one pair may be an outlier: a faded path whose profile peaks on noise, a
  ghost or the other target);
* ``learned``: an MLP (two hidden layers of 256, ReLU) from the ``M N G_d`` profile values and the
  normalised position to the normalised velocity, trained by Adam on the targets of the training
  samples (the same generator and indices as ``b-train``: training its samples ``0 .. n_train-1``,
  at most its ``n_train``; test its test samples, which follow them), a read-out with everything
  a decoder could know at a found target;
* ``learned, bistatic LS``: the same MLP, but its outputs are one Doppler and one log-weight per
  pair, and the velocity is their weighted ridge fit of (B.9)-(B.11) at the position
  (:func:`isac_jax.dvqvae.heads.bistatic_velocity`, the ``centre`` head's ``bistatic`` read-out):
  the MLP learns to read each pair's Doppler, the geometry is given. A ``--n-train`` above b-train's
  number of training samples would read on into its test samples and is refused.

Per reading it reports both RMSEs (Euclidean over the two axes, and per axis) and the median
Euclidean error beside the trivial
predictor's on the same test targets. ``--system KEY=VALUE`` changes the system as in
``learning_limits.py`` (e.g. ``subcarrier_step=8 symbol_step=8``: the paper's range and Doppler
cells on the quick tensor); ``--independent`` makes every transmit AP send its own symbols
(``ghost_paths.py``: no ghost paths in the maps, a sensing-only counterfactual).

``--geometry`` reports only how the layout informs each velocity axis (:func:`axis_information`).

Usage: python studies/velocity_readout.py [--system KEY=VALUE ...] [--independent]
       [--n-train 8000] [--steps 3000 [STEPS ...]] [--geometry] [--tiny] [--json PATH]

Several ``--steps`` values train one MLP each on the same collected targets (batches of 256 targets):
how the read-out improves with the number of target visits.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from isac_jax import cellfree, dvqvae
from isac_jax.cellfree import CellFreeConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import base_setup, finish, override, parser  # noqa: E402
from ghost_paths import IndependentDataSplit  # noqa: E402

F = dvqvae.features

BATCH = 100


def profile_reader(system: CellFreeConfig):
    """``(Y[B, M, M_r, N_s, T_s], X[B, N, N_t, N_s, T_s], targets[B, Q, 2]) -> [B, Q, M, N, G_d]``: the
    ``area_maps`` input's Doppler profiles of every pair at every target's true position."""
    grids = F.map_grids(system, n_cos=F.AREA_ANGLE_OVERSAMPLING * system.n_rx_antennas,
                        n_doppler=F.area_grid(system)[2])

    def one_ap(y, x, targets, rx_position):
        p = F.angle_delay_doppler_map(F.strip_data(y, x), system, grids)           # [B, N, C, D, Gd]
        p = p / jnp.maximum(jnp.mean(p, axis=(-4, -3, -2, -1), keepdims=True), jnp.finfo(p.dtype).tiny)
        read = jax.vmap(lambda q, g: F.map_at(q, system, rx_position, grids, g[:, 0], g[:, 1]))
        return jnp.log1p(read(p, targets))                                         # [B, N, Q, Gd]

    @jax.jit
    def profiles(Y, X, targets):
        out = jnp.stack([one_ap(Y[:, m], X, targets, r) for m, r in enumerate(system.rx_positions)], 1)
        return jnp.transpose(out, (0, 3, 1, 2, 4))                                 # [B, Q, M, N, Gd]
    return profiles, np.asarray(grids["doppler_hz"])


def doppler_matrix(system: CellFreeConfig, points):
    """Bistatic Doppler (Hz) per m/s of velocity along x and y at ``points[P, 2]``: ``[P, M N, 2]``
    (rows in the order of the profiles' ``M, N`` axes)."""
    tx, rx = system.tx_array(), system.rx_array()

    def one(g):
        cols = [cellfree.bistatic_geometry(tx, rx, g[None], jnp.asarray(e, g.dtype)[None], carrier_hz=system.carrier_hz)
                ["doppler_hz"][:, :, 0].T.reshape(-1) for e in ((1.0, 0.0), (0.0, 1.0))]
        return jnp.stack(cols, -1)
    return np.asarray(jax.vmap(one)(jnp.asarray(points, jnp.float32)))


def collect(split, system: CellFreeConfig, n: int, profiles=None) -> dict:
    """Profiles ``[n Q, M, N, G_d]``, positions and velocities ``[n Q, 2]`` of the split's first ``n``
    samples; ``profiles``: another per-target reader ``(Y, X, targets) -> [B, Q, ...]`` than
    :func:`profile_reader`'s."""
    profiles = profiles or profile_reader(system)[0]
    parts = []
    for a in range(0, n, BATCH):
        b = split.batch(np.arange(a, min(a + BATCH, n)))
        parts.append((np.asarray(profiles(jnp.asarray(b["Y"]), jnp.asarray(b["X"]), jnp.asarray(b["targets"]))),
                      b["targets"], b["velocities"]))
    prof, pos, vel = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return {"profiles": prof.reshape(-1, *prof.shape[2:]), "positions": pos.reshape(-1, 2),
            "velocities": vel.reshape(-1, 2)}


def classical(data: dict, system: CellFreeConfig, doppler_hz, *, robust: bool = False) -> np.ndarray:
    """Velocity estimates ``[P, 2]`` from the profiles' peaks (see the module docstring); ``robust``:
    the best fit over the subsets that leave one pair out."""
    prof = data["profiles"].reshape(len(data["profiles"]), -1, len(doppler_hz))     # [P, MN, Gd]
    k = prof.argmax(-1)
    f = doppler_hz[k].astype(float)
    logp = np.log(np.maximum(prof, 1e-30))
    inner = (k > 0) & (k < len(doppler_hz) - 1)
    kk = np.clip(k, 1, len(doppler_hz) - 2)
    y0, y1, y2 = (np.take_along_axis(logp, (kk + d)[..., None], -1)[..., 0] for d in (-1, 0, 1))
    den = y0 - 2 * y1 + y2
    shift = np.where(inner & (den < 0), 0.5 * (y0 - y2) / np.where(den < 0, den, -1.0), 0.0)
    f = f + shift * (doppler_hz[1] - doppler_hz[0])
    A = doppler_matrix(system, data["positions"])                                  # [P, MN, 2]
    w = prof.max(-1) / prof.mean(-1)
    w = w / w.mean(-1, keepdims=True)
    noise = (1.0 / (system.n_symbols * system.sensed_symbol_s) / 4) ** 2           # a quarter Doppler cell
    prior = system.max_speed_mps ** 2 / 3
    vmax = system.max_speed_mps

    def fit(keep):                                                                 # keep[MN] in {0, 1}
        wk = w * keep
        lhs = np.einsum("pki,pk,pkj->pij", A, wk, A) / noise + np.eye(2) / prior
        rhs = np.einsum("pki,pk,pk->pi", A, wk, f) / noise
        v = np.clip(np.linalg.solve(lhs, rhs[..., None])[..., 0], -vmax, vmax)
        return v, np.sum(keep * (np.einsum("pki,pi->pk", A, v) - f) ** 2, -1)
    if not robust:
        return fit(np.ones(A.shape[1]))[0]
    fits = [fit(1.0 - np.eye(A.shape[1])[j]) for j in range(A.shape[1])]
    best = np.argmin(np.stack([r for _, r in fits], -1), -1)
    return np.stack([v for v, _ in fits], 1)[np.arange(len(best)), best]


class ReadOut(nn.Module):
    """Two hidden layers of 256 (ReLU) -> ``outputs``."""

    outputs: int = 2

    @nn.compact
    def __call__(self, z):
        for _ in range(2):
            z = nn.relu(nn.Dense(256)(z))
        return nn.Dense(self.outputs)(z)


def learned(train: dict, test: dict, system: CellFreeConfig, steps: int, seed: int = 0,
            bistatic: bool = False) -> np.ndarray:
    """The MLP read-out trained on ``train``'s targets; velocity estimates ``[P, 2]`` on ``test``. Its
    input is each target's ``profiles[P, ...]`` (any per-target features, flattened) and position.
    ``bistatic``: the MLP returns one Doppler and one log-weight per pair and the velocity is their
    weighted least-squares fit of the model (B.9)-(B.11) at the position
    (:func:`isac_jax.dvqvae.heads.bistatic_velocity`), as the ``centre`` head's ``bistatic`` read-out."""
    area = np.asarray(system.area_m, np.float32)
    vmax = system.max_speed_mps
    n_pairs = len(system.tx_positions) * len(system.rx_positions)
    # Doppler per v_max along x and y, in units of the largest Doppler 2 sqrt(2) v_max f_c / c.
    rows = {k: jnp.asarray(doppler_matrix(system, d["positions"]) * vmax / F.max_doppler_hz(system), jnp.float32)
            for k, d in (("train", train), ("test", test))}

    def inputs(d):
        return jnp.asarray(np.concatenate([d["profiles"].reshape(len(d["profiles"]), -1),
                                           d["positions"] / area - 0.5], -1), jnp.float32)
    xs, ys, xt = inputs(train), jnp.asarray(train["velocities"] / vmax, jnp.float32), inputs(test)
    mu, sd = xs.mean(0, keepdims=True), xs.std(0, keepdims=True) + 1e-6
    net = ReadOut(2 * n_pairs if bistatic else 2)

    def velocity(p, x, g):
        out = net.apply(p, x)
        return dvqvae.heads.bistatic_velocity(out[:, :n_pairs], out[:, n_pairs:], g) if bistatic else out
    params = net.init(jax.random.PRNGKey(seed), xs[:1])
    opt = optax.adam(optax.cosine_decay_schedule(1e-3, steps))
    state = opt.init(params)

    @jax.jit
    def step(params, state, key):
        idx = jax.random.randint(key, (256,), 0, xs.shape[0])
        loss, g = jax.value_and_grad(lambda p: jnp.mean((velocity(p, (xs[idx] - mu) / sd, rows["train"][idx])
                                                         - ys[idx]) ** 2))(params)
        upd, state = opt.update(g, state)
        return optax.apply_updates(params, upd), state, loss

    key = jax.random.PRNGKey(seed + 1)
    for i in range(steps):
        params, state, _ = step(params, state, jax.random.fold_in(key, i))
    return np.clip(np.asarray(velocity(params, (xt - mu) / sd, rows["test"])) * vmax, -vmax, vmax)


def errors(est, truth) -> dict:
    e = est - truth
    return {"rmse": float(np.sqrt(np.mean(np.sum(e ** 2, -1)))),
            "median": float(np.median(np.linalg.norm(e, axis=-1))), "v_x": float(np.sqrt(np.mean(e[:, 0] ** 2))),
            "v_y": float(np.sqrt(np.mean(e[:, 1] ** 2)))}


def axis_information(system: CellFreeConfig, n: int = 20000, seed: int = 0) -> dict:
    """How the layout informs ``v_x`` against ``v_y``: over ``n`` points uniform in the area, the mean of
    ``sum_k g_{k,x}^2`` and ``sum_k g_{k,y}^2`` (the bistatic Doppler's Fisher information per axis at
    equal per-pair Doppler precision, ``heads.bistatic_rows``) and the median per-axis standard deviation of
    the unweighted least-squares fit, ``sqrt(diag((G^T G)^-1))``, in units of the per-pair Doppler error."""
    points = np.random.default_rng(seed).uniform(0, 1, (n, 2)) * np.asarray(system.area_m)
    g = np.asarray(dvqvae.heads.bistatic_rows(jnp.asarray(points, jnp.float32), system.tx_array(), system.rx_array()), np.float64)
    info = np.einsum("pki,pkj->pij", g, g)
    sd = np.sqrt(np.diagonal(np.linalg.inv(info), axis1=1, axis2=2))
    return {"information_x": float(info[:, 0, 0].mean()), "information_y": float(info[:, 1, 1].mean()),
            "median_sd_x": float(np.median(sd[:, 0])), "median_sd_y": float(np.median(sd[:, 1]))}


COLUMNS = ["read-out", "velocity RMSE (m/s)", "v_x RMSE (m/s)", "v_y RMSE (m/s)", "median error (m/s)"]


def table_rows(rows: dict) -> list:
    """:func:`errors` per row name as table rows (``COLUMNS``)."""
    return [[name, r["rmse"], r["v_x"], r["v_y"], r["median"]] for name, r in rows.items()]


TITLE = "Paper B: how much velocity the receive APs' maps hold at the true target positions"
QUESTION = ("How much velocity information do the receive APs' area_maps inputs hold where the targets are, "
            "with detection and the fronthaul taken out of the question?")
METHOD = ("At every target's true position, read each receive AP's area_maps input out as Doppler profiles of every "
          "transmit-receive pair, and estimate the velocity from them and the position: by the profiles' peaks and "
          "the bistatic Doppler model fitted by weighted least squares with the prior (classical; robust: the best "
          "fit leaving one pair out), by an MLP trained on b-train's training targets, and by the MLP's per-pair "
          "Dopplers and weights fitted with the bistatic model; beside the training mean.")


def main(argv=None) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--system", type=override, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--independent", action="store_true", help="every transmit AP sends its own symbols")
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--steps", type=int, nargs="+", default=[3000])
    ap.add_argument("--geometry", action="store_true", help="report only how the layout informs v_x and v_y")
    args = ap.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    setup = base_setup(args.tiny, tuple(args.system))
    system = setup.system()
    kw = dict(title=TITLE, question=QUESTION, method=METHOD)
    if args.geometry:
        a = axis_information(system, n=500 if args.tiny else 20000)
        table = {"caption": f"Bistatic Doppler information per velocity axis over the area (tx {system.tx_positions}, "
                            f"rx {system.rx_positions})",
                 "columns": ["axis", "mean sum_k g_k^2", "median least-squares sd per unit Doppler error"],
                 "rows": [["v_x", a["information_x"], a["median_sd_x"]], ["v_y", a["information_y"], a["median_sd_y"]]]}
        answer = (f"The layout informs v_x {a['information_x'] / a['information_y']:.1f} times as much as v_y; the "
                  f"median least-squares standard deviation of v_y is {a['median_sd_y'] / a['median_sd_x']:.1f} times "
                  "that of v_x.")
        return finish(__file__, argv, args, answer=answer, tables=[table], **kw)
    train_split, test_split = setup.splits(0)
    n_train, n_test, steps = (len(train_split), len(test_split), [5]) if args.tiny else \
        (args.n_train, args.n_test, args.steps)
    if n_train > len(train_split):
        # More would read past the training split into the test samples that follow it.
        raise SystemExit(f"--n-train must be at most {len(train_split)} (b-train's training samples; its test "
                         f"samples {test_split.start} .. follow them), got {n_train}")
    if args.independent:
        train_split, test_split = (IndependentDataSplit(system, s.seed, s.start, s.stop)
                                   for s in (train_split, test_split))
    t0 = time.perf_counter()
    tr, te = collect(train_split, system, n_train), collect(test_split, system, n_test)
    _, doppler_hz = profile_reader(system)
    trivial = np.broadcast_to(tr["velocities"].mean(0), te["velocities"].shape)
    rows = {"trivial (training mean)": errors(trivial, te["velocities"]),
            "classical (peaks + weighted LS with the prior)": errors(classical(te, system, doppler_hz), te["velocities"]),
            "classical, robust (best fit leaving one pair out)":
                errors(classical(te, system, doppler_hz, robust=True), te["velocities"]),
            **{f"learned (MLP, {s} steps of 256 on {len(tr['velocities'])} targets)":
               errors(learned(tr, te, system, s), te["velocities"]) for s in steps},
            **{f"learned, bistatic LS (MLP to per-pair Dopplers and weights, {s} steps)":
               errors(learned(tr, te, system, s, bistatic=True), te["velocities"]) for s in steps}}
    table = {"caption": f"Velocity read-out at the true positions, {'tiny' if args.tiny else 'b-train quick'} system "
                        f"with {list(args.system)}{', independent data per transmit AP' if args.independent else ''}: "
                        f"Doppler span {F.doppler_span_cells(system):.1f} cells, {len(doppler_hz)} shifts; "
                        f"{len(te['velocities'])} test targets; {time.perf_counter() - t0:.0f} s",
             "columns": COLUMNS, "rows": table_rows(rows)}
    best = min((r for r in table["rows"][1:]), key=lambda r: r[1])
    answer = (f"At the true positions the best read-out, {best[0]}, reaches {best[1]:.2f} m/s against the training "
              f"mean's {table['rows'][0][1]:.2f} m/s.")
    return finish(__file__, argv, args, answer=answer, tables=[table], **kw)


if __name__ == "__main__":
    main()
