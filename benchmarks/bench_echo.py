"""Paper B benchmarks: (a) echo generation, JAX (jit + vmap over scenarios) vs a NumPy reference
vectorised over subcarriers and symbols with loops over (n, m, q), and the achieved output
bandwidth against a measured array-copy bandwidth; (b) CRLB, autodiff vs a NumPy finite-difference
reference; (c) peak memory while streaming samples to disk in shards.

Usage: python benchmarks/bench_echo.py [--preset quick|paper] [--stream N]
``--json PATH`` also writes the printed tables as a JSON record (``make bench``: ``docs/data/benchmarks/``).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax.core import machine, run_benchmark, time_call  # noqa: E402

from isac_jax import cellfree as cf  # noqa: E402

C0 = 299_792_458.0
BATCH = {"quick": 64, "paper": 8}


def numpy_echo(tx, rx, g, v, beta, x, cfg, *, dtype=np.complex64):
    """(B.6) noiseless in NumPy (complex64 by default), vectorised over (i, t), loops over n, m, q."""
    N, Nt, Ns, Ts = x.shape
    M, Q, Mr = len(rx), len(g), cfg.n_rx_antennas
    dT = 1 / cfg.scs_hz + cfg.cp_s
    real = np.float32 if dtype == np.complex64 else np.float64
    i = np.arange(Ns, dtype=real)[:, None]
    t = np.arange(1, Ts + 1, dtype=real)[None, :]
    y = np.zeros((M, Mr, Ns, Ts), dtype)
    for n in range(N):
        for m in range(M):
            for q in range(Q):
                dn, dm = np.linalg.norm(g[q] - tx[n]), np.linalg.norm(g[q] - rx[m])
                ct, st = -(g[q, 0] - tx[n, 0]) / dn, (g[q, 1] - tx[n, 1]) / dn
                cr, sr = (g[q, 0] - rx[m, 0]) / dm, (rx[m, 1] - g[q, 1]) / dm
                fd = ((-v[q, 0] * ct + v[q, 1] * st) + (v[q, 0] * cr - v[q, 1] * sr)) / C0 * cfg.carrier_hz
                tau = (dn + dm) / C0
                pl = 10 ** (cfg.pathloss_ref_db / 10) * ((dn + dm) / cfg.ref_distance_m) ** (-cfg.pathloss_exp)
                at = (np.exp(-1j * np.pi * np.arange(Nt) * ct) / np.sqrt(Nt)).astype(dtype)
                ar = (np.exp(-1j * np.pi * np.arange(Mr) * cr) / np.sqrt(Mr)).astype(dtype)
                ph = np.exp(-2j * np.pi * (i * tau * cfg.scs_hz - t * fd * dT)).astype(dtype)
                ax = at.conj() @ x[n].reshape(Nt, -1)
                y[m] += (beta[n, m, q] * np.sqrt(pl)) * ar[:, None, None] * (ph * ax.reshape(Ns, Ts))[None]
    return y


def part_a(cfg, batch):
    key = jax.random.PRNGKey(0)
    draws = jax.vmap(lambda k: cf.draw_transmission(k, cfg))(jax.random.split(key, batch))
    sc, x = draws[0], draws[3]
    tx, rx = cfg.tx_array().astype(jnp.float32), cfg.rx_array().astype(jnp.float32)
    kw = cfg.echo_kwargs
    gen = jax.jit(jax.vmap(lambda g, v, b, xx: cf.noiseless_echo(tx, rx, g, v, b, xx, **kw)))
    args = (sc.targets, sc.velocities, sc.beta, x)
    t_jax, t_jax_med = time_call(gen, *args)
    npargs = [np.asarray(a) for a in args]
    n_np = min(batch, 8)
    t0 = time.perf_counter()
    for s in range(n_np):
        y_np = numpy_echo(np.asarray(tx), np.asarray(rx), npargs[0][s], npargs[1][s], npargs[2][s], npargs[3][s], cfg)
    t_np = (time.perf_counter() - t0) / n_np
    y = gen(*args)
    err = float(np.linalg.norm(np.asarray(y[n_np - 1]) - y_np) / np.linalg.norm(y_np))
    out_bytes = y.size * y.dtype.itemsize
    big = jnp.ones((out_bytes // 8,), jnp.complex64)
    copy = jax.jit(lambda a: a * (1 + 0j))
    t_copy, _ = time_call(copy, big)
    bw_out = out_bytes / t_jax
    bw_copy = 2 * big.size * big.dtype.itemsize / t_copy          # read + write
    print(f"## (a) echo generation (B.6), {cfg.n_rx_antennas}x{cfg.n_subcarriers}x{cfg.n_symbols} per receive AP, "
          f"N_t = {cfg.n_tx_antennas}, Q = {cfg.n_targets}, complex64, batch {batch}")
    print("| implementation | time per sample (ms) | samples/s | speed-up |")
    print("|---|---|---|---|")
    print(f"| NumPy, vectorised over (i, t), loops over (n, m, q) (mean of {n_np}) | {1e3 * t_np:.2f} | "
          f"{1 / t_np:,.0f} | 1.0x |")
    print(f"| JAX jit + vmap (min / median of 5) | {1e3 * t_jax / batch:.3f} / {1e3 * t_jax_med / batch:.3f} | "
          f"{batch / t_jax:,.0f} | {t_np * batch / t_jax:.1f}x |")
    print(f"relative difference JAX vs NumPy: {err:.1e}; output bandwidth {bw_out / 1e9:.2f} GB/s vs array copy "
          f"(read + write) {bw_copy / 1e9:.2f} GB/s = {100 * bw_out / bw_copy:.0f} %\n")


def numpy_crlb(tx, rx, g, v, beta, x, cfg):
    """CRLB_psi (B.24), float64 NumPy: the Jacobian of :func:`numpy_echo` by central differences
    (one column per real parameter), the FIM (B.23) and the Schur complement of the reflection
    coefficients, all by dense NumPy linear algebra."""
    Q, nb = len(g), beta.size
    eta0 = np.concatenate([g.ravel(), v.ravel(), beta.real.ravel(), beta.imag.ravel()])

    def echo_of(eta):
        b = (eta[4 * Q:4 * Q + nb] + 1j * eta[4 * Q + nb:]).reshape(beta.shape)
        return numpy_echo(tx, rx, eta[:2 * Q].reshape(Q, 2), eta[2 * Q:4 * Q].reshape(Q, 2), b, x, cfg,
                          dtype=np.complex128).ravel()

    steps = 1e-6 * np.maximum(1.0, np.abs(eta0))
    jac = np.stack([(echo_of(eta0 + h * e) - echo_of(eta0 - h * e)) / (2 * h)
                    for h, e in zip(steps, np.eye(eta0.size))], axis=1)
    fim = 2.0 / cfg.noise_w * np.real(jac.conj().T @ jac)
    a, b, d = fim[:4 * Q, :4 * Q], fim[:4 * Q, 4 * Q:], fim[4 * Q:, 4 * Q:]
    return np.linalg.solve(a - b @ np.linalg.solve(d, b.T), np.eye(4 * Q))


def part_b(cfg):
    jax.config.update("jax_enable_x64", True)
    small = cf.get_config("quick", n_subcarriers=16, n_symbols=16, n_tx_antennas=4, n_rx_antennas=4)
    sc, _, _, x = cf.draw_transmission(jax.random.PRNGKey(1), small, dtype=jnp.float64)
    tx, rx = small.tx_array(), small.rx_array()
    kw = dict(n_rx=4)
    f = jax.jit(lambda g, v, b, xx: cf.crlb(tx, rx, g, v, b, xx, **kw))
    fh = jax.jit(lambda g, v, b, xx: cf.crlb(tx, rx, g, v, b, xx, method="hessian", **kw))
    a = (sc.targets, sc.velocities, sc.beta, x)
    t_g, _ = time_call(f, *a)
    t_h, _ = time_call(fh, *a)
    g, v, beta, xn = (np.asarray(z) for z in a)
    Q = len(g)
    t0 = time.perf_counter()
    ref = numpy_crlb(np.asarray(tx), np.asarray(rx), g, v, beta, xn, small)
    t_fd = time.perf_counter() - t0
    err = float(np.max(np.abs(np.diag(np.asarray(f(*a))) - np.diag(ref)) / np.diag(ref)))
    print(f"## (b) CRLB (B.24), {4 * Q + 2 * beta.size} real parameters, 4x16x16 per receive AP, float64")
    print("| implementation | time (ms) | speed-up |")
    print("|---|---|---|")
    print(f"| NumPy central finite differences (loops over n, m, q) | {1e3 * t_fd:.1f} | 1.0x |")
    print(f"| JAX Jacobian Gram (jacfwd), min of 5 | {1e3 * t_g:.2f} | {t_fd / t_g:.0f}x |")
    print(f"| JAX jax.hessian of the misfit, min of 5 | {1e3 * t_h:.2f} | {t_fd / t_h:.0f}x |")
    print(f"max relative difference of the diagonal, Gram vs finite differences: {err:.1e}\n")
    jax.config.update("jax_enable_x64", False)


def part_c(n_samples):
    cfg = cf.get_config("quick")
    d = Path(tempfile.mkdtemp(prefix="isac_stream_"))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        cf.materialise(d, 0, n_samples, cfg, shard_size=256, progress=False)
        size = sum(p.stat().st_size for p in d.glob("shard_*.npz"))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    dt = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"## (c) streaming {n_samples:,} quick-preset samples to disk (shards of 256)")
    print(f"wall {dt:.1f} s ({n_samples / dt:,.0f} samples/s incl. compile and writes), {size / 1e9:.2f} GB written; "
          f"peak RSS of this process {rss1 / 1e6:.2f} GB (before: {rss0 / 1e6:.2f} GB)\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=("quick", "paper"), default="quick")
    ap.add_argument("--stream", type=int, default=20_000, help="samples for part (c); 0 skips it")
    args = ap.parse_args(argv)
    print(f"# bench_echo ({args.preset}) on {machine()}\n")
    part_a(cf.get_config(args.preset), BATCH[args.preset])
    part_b(cf.get_config(args.preset))
    if args.stream:
        part_c(args.stream)


TITLE = "Paper B echo generation and CRLB: JAX vs NumPy, streaming memory"

if __name__ == "__main__":
    run_benchmark(main, "bench_echo", TITLE)
