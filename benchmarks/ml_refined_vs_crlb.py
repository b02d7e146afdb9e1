"""Refined ML against the root CRLB on b-fig6's quick system, sample by sample.

For ``n`` samples ``fold_in``-free keys ``split(PRNGKey(0), n)`` at each power: the location and
velocity RMSE of ``ml_refined`` (best assignment), the root CRLB (B.24) on the same samples, their
ratio, and the outliers (a target placed more than 5 of its own root-CRLB deviations away) with
``cost(estimate) - cost(truth)`` of the concentrated likelihood: a positive difference means the
refinement ended in a local minimum (an initialisation failure), a negative one that the
likelihood's own optimum lies there (noise).

    PYTHONPATH=$PWD python benchmarks/ml_refined_vs_crlb.py --n 48 --powers 30,40,50
"""

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from isac_jax.cellfree import estimators as E  # noqa: E402
from isac_jax.cellfree.crlb import crlb  # noqa: E402
from isac_jax.cellfree.evaluation import matched_truth  # noqa: E402
from isac_jax.cellfree.sensing import draw_transmission, received_echo  # noqa: E402
from isac_jax.experiments.paper_b.fig6 import QUICK_SYSTEM  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--powers", default="30,40,50")
    args = ap.parse_args()
    base = QUICK_SYSTEM
    Q = base.n_targets
    st = dataclasses.replace(E.EstimatorSettings(), area_m=tuple(base.area_m), max_speed_mps=base.max_speed_mps)
    tx, rx = base.tx_array(), base.rx_array()

    def one(key, p):
        cfg = dataclasses.replace(base, power_dbm=p)
        k_tx, k_y = jax.random.split(key)
        sc, _, _, x = draw_transmission(k_tx, cfg, dtype=jnp.float64)
        y = received_echo(k_y, cfg, sc, x)
        kw = cfg.echo_kwargs
        g, v = E.estimate("ml_refined", y, x, tx, rx, n_targets=Q, settings=st, **kw)
        gt, vt = matched_truth(g, v, sc.targets, sc.velocities, cfg)
        dc = (E.concentrated_cost(E._pack(g, v), y, x, tx, rx, Q, kw)
              - E.concentrated_cost(E._pack(gt, vt), y, x, tx, rx, Q, kw))
        d = jnp.diagonal(crlb(tx, rx, sc.targets, sc.velocities, sc.beta, x, **cfg.crlb_kwargs))
        return jnp.sum((g - gt) ** 2, -1), jnp.sum((v - vt) ** 2, -1), dc, d[:2 * Q].reshape(Q, 2).sum(-1)

    f = jax.jit(jax.vmap(one, in_axes=(0, None)))
    keys = jax.random.split(jax.random.PRNGKey(0), args.n)
    for p in (float(s) for s in args.powers.split(",")):
        t = time.time()
        lsq, vsq, dc, cr = map(np.asarray, f(keys, p))
        rm, rc = np.sqrt(lsq.mean()), np.sqrt(cr.mean())
        per = lsq.mean(-1)
        se = per.std(ddof=1) / np.sqrt(args.n) / (2 * rm)
        out = lsq > 25 * cr
        bad = np.where(out.any(-1))[0]
        print(f"P={p:g} dBm: location RMSE {rm:.3f} +- {se:.3f} m, root CRLB {rc:.3f} m, ratio {rm / rc:.2f}; "
              f"velocity RMSE {np.sqrt(vsq.mean()):.3f} m/s; outlier rate {out.mean():.3f} (samples {bad.tolist()}, "
              f"cost(est) - cost(truth) {dc[bad].tolist()}); {time.time() - t:.0f} s", flush=True)


if __name__ == "__main__":
    main()
