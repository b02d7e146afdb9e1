"""Paper B classical estimators: throughput (samples/s) of the per-AP MUSIC + 2D-DFT pipeline of
:mod:`isac_jax.cellfree.estimators` (jit + vmap over samples and APs) against a straightforward
NumPy implementation of the same pipeline (spatial covariance, MUSIC spectrum, peak picking, the
along-ray matched filter and the zero-padded Doppler DFT; loops over samples, APs and rays), with a
check that both give the same ray profiles; then the compile time and throughput of every scheme's whole
estimator (fusion included; monostatic on the BS's one-AP echo) and of the root CRLB (B.24), the
evaluation's most expensive step per sample; with ``--fig6`` also the wall time of
``reproduce b-fig6 --preset quick``.

Usage: python benchmarks/bench_estimators.py [--preset quick|paper] [--batch B] [--fig6]
``--json PATH`` also writes the printed tables as a JSON record (``make bench``: ``docs/data/benchmarks/``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax import cellfree as cf
from isac_jax.cellfree import estimators as est
from isac_jax.core import machine, run_benchmark, time_call
from isac_jax.experiments.paper_b.fig6 import QUICK_SYSTEM

C0 = 299_792_458.0


def numpy_scan_ap(y_m, x, tx, ap, Q, cfg, st: est.EstimatorSettings):
    """One AP in NumPy: MUSIC angles, then per ray the matched filter and Doppler periodogram;
    returns the normalised ray profiles ``[Q, D]`` (complex128/float64)."""
    Mr, Ns, Ts = y_m.shape
    Nt = x.shape[1]
    flat = y_m.reshape(Mr, -1)
    R = flat @ flat.conj().T / flat.shape[1]
    grid = np.linspace(-1.0, 1.0, st.n_angles)
    a = np.exp(-1j * np.pi * np.arange(Mr)[None, :] * grid[:, None]) / np.sqrt(Mr)
    _, vecs = np.linalg.eigh(R)
    spec = 1.0 / np.sum(np.abs(a.conj() @ vecs[:, : Mr - Q]) ** 2, axis=-1)
    logp = np.log(np.maximum(spec, np.finfo(float).tiny))
    local = np.zeros_like(logp, bool)
    local[1:-1] = (logp[1:-1] > logp[:-2]) & (logp[1:-1] >= logp[2:])
    order = np.argsort(np.where(local, logp, -np.inf))[::-1][:Q]
    order = np.where(np.isfinite(logp[order]) & local[order], order, order[0])
    idx = order
    # parabolic refinement as in the JAX code
    cos = []
    for k in idx:
        off = 0.0
        if 0 < k < len(grid) - 1:
            l, c, r = logp[k - 1], logp[k], logp[k + 1]
            den = l - 2 * c + r
            off = float(np.clip(0.5 * (l - r) / den, -0.5, 0.5)) if den < 0 else 0.0
        cos.append(np.clip(grid[k] + off * (grid[1] - grid[0]), -1, 1))
    cos = np.array(cos)
    step = st.range_step_cells * C0 / (Ns * cfg.scs_hz)
    n_d = int(math.ceil(math.hypot(*st.area_m) / step)) + 1
    dists = (np.arange(n_d) + 0.5) * step
    steer = (np.exp(-1j * np.pi * np.arange(Mr)[:, None] * cos[None, :]) / np.sqrt(Mr))
    gram = steer.conj().T @ steer
    comb = steer @ np.linalg.solve(gram + 1e-2 * np.eye(Q), np.eye(Q))
    profiles = []
    for q in range(Q):
        side = 1.0 if st.area_m[1] / 2 >= ap[1] else -1.0
        u = np.array([cos[q], side * np.sqrt(max(1 - cos[q] ** 2, 0.0))])
        r = np.einsum("a,ait->it", comb[:, q].conj(), y_m)
        pts = ap[None] + dists[:, None] * u[None]
        power = np.zeros(n_d)
        for n in range(tx.shape[0]):
            to_tx = pts - tx[n]
            d_tx = np.linalg.norm(to_tx, axis=-1)
            at = np.exp(-1j * np.pi * np.arange(Nt)[None, :] * (-to_tx[:, 0] / d_tx)[:, None]) / np.sqrt(Nt)
            undelay = np.exp(2j * np.pi * cfg.scs_hz * ((d_tx + dists) / C0)[:, None] * np.arange(Ns)[None, :])
            z = np.einsum("da,di,ait->dt", at, undelay, r[None] * x[n].conj())
            power += np.max(np.abs(np.fft.fft(z, n=st.doppler_oversample * Ts, axis=-1)) ** 2, axis=-1)
        inside = np.all((pts >= 0) & (pts <= np.asarray(st.area_m)), axis=-1)
        power = np.where(inside, power, 0.0)
        profiles.append(power / max(power.max(), np.finfo(float).tiny))
    return np.stack(profiles)


def main(argv=None):
    ap_ = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap_.add_argument("--preset", choices=("quick", "paper"), default="quick")
    ap_.add_argument("--batch", type=int, default=None)
    ap_.add_argument("--fig6", action="store_true", help="also time `reproduce b-fig6 --preset quick` (minutes)")
    args = ap_.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    cfg = QUICK_SYSTEM if args.preset == "quick" else cf.PRESETS["paper"]
    cfg = dataclasses.replace(cfg, power_dbm=40.0)
    B = args.batch or (16 if args.preset == "quick" else 4)
    st = est.EstimatorSettings()
    print(f"# bench_estimators ({args.preset}: N_t={cfg.n_tx_antennas}, M_r={cfg.n_rx_antennas}, "
          f"N_s={cfg.n_subcarriers}, T_s={cfg.n_symbols}, Q={cfg.n_targets}, batch {B}) on {machine()}\n")
    batch = cf.sample_batch(jax.random.PRNGKey(0), np.arange(B), cfg, dtype=jnp.float64)
    Y, X = batch["Y"], batch["X"]
    tx, rx = cfg.tx_array(), cfg.rx_array()
    kw = cfg.echo_kwargs
    Q = cfg.n_targets
    scan = jax.jit(jax.vmap(lambda y, x: jax.vmap(lambda y_m, a: est._scan_ap(y_m, x, tx, a, Q, "music", kw, st).profile)(
        y, rx)))
    t_jax, _ = time_call(scan, Y, X, repeats=3)
    prof_jax = np.asarray(scan(Y, X))
    Yn, Xn, txn, rxn = np.asarray(Y), np.asarray(X), np.asarray(tx), np.asarray(rx)
    n_np = min(B, 4)
    t0 = time.perf_counter()
    prof_np = np.stack([np.stack([numpy_scan_ap(Yn[b, m], Xn[b], txn, rxn[m], Q, cfg, st) for m in range(len(rxn))])
                        for b in range(n_np)])
    t_np = (time.perf_counter() - t0) / n_np
    err = np.max(np.abs(prof_np - prof_jax[:n_np]))
    print(f"## per-AP MUSIC + along-ray 2D-DFT, all receive APs (max |profile difference| = {err:.2e})")
    print("| implementation | samples/s | speed-up |\n|---|---|---|")
    print(f"| NumPy (loops over samples, APs, rays) | {1 / t_np:.1f} | 1.0x |")
    print(f"| JAX (jit, vmap over samples and APs) | {B / t_jax:.1f} | {t_np * B / t_jax:.1f}x |\n")
    print("## whole estimators (fusion, refinement) and the root CRLB, JAX, float64, jit + vmap over the batch")
    print("| step | compile s | samples/s |\n|---|---|---|")
    bs = jnp.asarray([[50.0, 0.0]])
    steps = {
        # the monostatic BS: its own echo is one AP's, radiated by one transmitter (shapes as in evaluate_trial)
        "monostatic": (lambda y, x, g, v, b: cf.estimate("monostatic", y[:1], x[:1], bs, bs, n_targets=Q, **kw), 3),
        "music": (lambda y, x, g, v, b: cf.estimate("music", y, x, tx, rx, n_targets=Q, **kw), 3),
        "cs": (lambda y, x, g, v, b: cf.estimate("cs", y, x, tx, rx, n_targets=Q, **kw), 3),
        "ml_refined": (lambda y, x, g, v, b: cf.estimate("ml_refined", y, x, tx, rx, n_targets=Q, **kw), 1),
        "root CRLB (B.24), autodiff": (lambda y, x, g, v, b: cf.crlb(tx, rx, g, v, b, x, **cfg.crlb_kwargs), 3),
    }
    args5 = (Y, X, batch["targets"], batch["velocities"], batch["beta"])
    for name, (one, repeats) in steps.items():
        fn = jax.jit(jax.vmap(one))
        t0 = time.perf_counter()
        compiled = fn.lower(*args5).compile()
        t_compile = time.perf_counter() - t0
        t, _ = time_call(compiled, *args5, repeats=repeats)
        print(f"| {name} | {t_compile:.1f} | {B / t:.2f} |", flush=True)
    if args.fig6:
        from isac_jax import experiments

        t0 = time.perf_counter()
        res = experiments.reproduce("b-fig6", preset="quick", progress=False)["results"]
        wall = time.perf_counter() - t0
        print(f"\n## b-fig6 --preset quick, wall time (compilation included; {res['n_samples']} samples per power, "
              f"ml_refined on {res['ml_refined_samples']})")
        print(f"| experiment | wall s |\n|---|---|\n| b-fig6 quick | {wall:.0f} |")


TITLE = "Paper B classical estimators: JAX vs NumPy throughput"

if __name__ == "__main__":
    run_benchmark(main, "bench_estimators", TITLE)
