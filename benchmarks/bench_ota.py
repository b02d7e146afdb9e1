"""Paper A benchmarks: (a) batched OTA frame + echoes + sufficient statistics vs a NumPy reference,
(b) CRB(v) for many target positions, vmapped JAX vs a NumPy loop with analytic derivatives.

Usage: python benchmarks/bench_ota.py [--preset quick|paper]
Prints one table per part with the JAX/NumPy speed-up measured in this run.
``--json PATH`` also writes the printed tables as a JSON record (``make bench``: ``docs/data/benchmarks/``).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax.core import machine, run_benchmark, time_call  # noqa: E402

from isac_jax import ota  # noqa: E402
from isac_jax.core import PAPER_A_TARGET_REGION, crb_trace, sample_paper_a_geometry  # noqa: E402
from isac_jax.core import PRNG_IMPLS  # noqa: E402

PRESETS = {"quick": dict(frames=256, T=64, positions=10_000, np_positions=10_000),
           "paper": dict(frames=4096, T=256, positions=100_000, np_positions=10_000)}


def numpy_frame(rng, H, C, W, p, s2, Mrx, target, devices, echo_s2, P):
    """Straightforward NumPy version of one dual-purpose frame (complex64, matmuls per frame)."""
    K, N, M = H.shape
    I, T = C.shape[2], p.shape[1]
    g = rng.standard_normal((K, T, I)).astype(np.float32)
    x = np.einsum("kmi,kti->ktm", C, g) * p[:, :, None]
    z = (rng.standard_normal((T, N)) + 1j * rng.standard_normal((T, N))).astype(np.complex64) * np.sqrt(s2 / 2)
    y = np.einsum("knm,ktm->tn", H, x) + z
    r = np.einsum("tni,tn->ti", Mrx.conj(), y)
    diff = target[None] - devices
    d = np.linalg.norm(diff, axis=1)
    a = (1 / d)[:, None] * np.exp(-1j * np.pi * np.arange(M)[None] * (diff[:, 2] / d)[:, None])
    b = np.einsum("lm,ltm->t", a, x)
    nu = (rng.standard_normal((K, T, M)) + 1j * rng.standard_normal((K, T, M))).astype(np.complex64)
    u = a[:, None, :] * b[None, :, None] + np.sqrt(echo_s2 / 2) * nu
    Xi = np.einsum("ktm,ktn->kmn", u, x.conj()) / (P * T)
    return r, Xi


def numpy_crb(v, devices, C, s2, T):
    """tr J^{-1} with J from analytic derivatives of a a^T (NumPy, one position)."""
    M = C.shape[1]
    diff = v[None] - devices
    d = np.linalg.norm(diff, axis=1)
    s = diff[:, 2] / d
    a = (1 / d)[:, None] * np.exp(-1j * np.pi * np.arange(M)[None] * s[:, None])
    aat = a[:, :, None] * a[:, None, :]
    mn = np.add.outer(np.arange(M), np.arange(M))
    ds = np.stack([-diff[:, 2] * diff[:, 0] / d**3, -diff[:, 2] * diff[:, 1] / d**3, 1 / d - diff[:, 2] ** 2 / d**3], 1)
    D = aat[:, None] * (-2 * diff[:, :, None, None] / d[:, None, None, None] ** 2 - 1j * np.pi * mn * ds[:, :, None, None])
    DC = np.einsum("kimn,knq->kimq", D, C)
    J = 2 * T / s2 * np.real(np.einsum("kimq,kjmq->ij", DC.conj(), DC))
    return np.trace(np.linalg.inv(J))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="quick", choices=sorted(PRESETS))
    cfg = PRESETS[ap.parse_args().preset]
    K, M, N, I, P, s2, echo_s2 = 15, 4, 16, 2, 1.0, 1e-2, 1e-5
    T, B = cfg["T"], cfg["frames"]
    key = jax.random.PRNGKey(0)
    devices, target = sample_paper_a_geometry(key, K)
    C = ota.random_precoders(jax.random.PRNGKey(1), K, M, I, P)
    H = ota.rayleigh_channels(jax.random.PRNGKey(2), K, N, M)
    W = ota.uniform_weights(K, I)
    p = ota.dft_pulses(K, T).astype(jnp.complex64)
    Mrx = ota.optimal_receiver(H, C, W, p, s2)
    print(f"# bench_ota ({ap.parse_args().preset}) on {machine()}")

    # (a) frames: the same simulation driven by keys of each PRNG implementation (the key carries it;
    # see isac_jax.core.random.PRNG_IMPLS for the reproducibility contract of each).
    frame_fn = jax.jit(jax.vmap(lambda k: ota.simulate_isac_frame(k, H, C, W, p, s2, Mrx, target, devices, echo_s2, P)
                                [:3]))
    timings = {f"{impl} keys": time_call(frame_fn, jax.random.split(jax.random.key(0, impl=impl), B))
               for impl in PRNG_IMPLS}
    # The same frames with each device's statistic drawn from its exact law given the symbols
    # (echo_samples=False: K M I instead of K T M complex noise draws; same law of every output).
    stat_fn = jax.jit(jax.vmap(lambda k: ota.simulate_isac_frame(k, H, C, W, p, s2, Mrx, target, devices, echo_s2, P,
                                                                 echo_samples=False)[:3]))
    timings["threefry2x32 keys, statistics drawn from their law"] = time_call(stat_fn, jax.random.split(key, B))

    np_args = [np.asarray(a) for a in (H, C, W, p)]
    rng = np.random.default_rng(0)
    nb = min(B, 256)
    t0 = time.perf_counter()
    for _ in range(nb):
        numpy_frame(rng, *np_args, s2, np.asarray(Mrx), np.asarray(target), np.asarray(devices), echo_s2, P)
    tn = (time.perf_counter() - t0) / nb * B
    print("\n## (a) OTA frame + echoes + sufficient statistics "
          f"(K={K}, M={M}, N={N}, I={I}, T={T}, {B} frames, complex64)")
    print("| implementation | time (s) | frames/s | speed-up |")
    print("|---|---|---|---|")
    print(f"| NumPy reference, loop over frames | {tn:.3f} | {B / tn:,.0f} | 1.0x |")
    for impl, (tj, tj_med) in timings.items():
        print(f"| JAX jit+vmap, {impl} (min / median of 5) | {tj:.4f} / {tj_med:.4f} | {B / tj:,.0f} | "
              f"{tn / tj:.1f}x |")

    # (b) CRB over many positions (float64 on both sides when x64 is on; float32 otherwise)
    npos = cfg["positions"]
    vs = PAPER_A_TARGET_REGION.sample(jax.random.PRNGKey(3), npos)
    crb_fn = jax.jit(jax.vmap(lambda v: ota.crb(v, devices, C, echo_s2, T, P)))
    tc, tc_med = time_call(crb_fn, vs)
    gram_fn = jax.jit(jax.vmap(lambda v: crb_trace(ota.fisher_information_gram(v, devices, C, echo_s2, T, P))))
    tg, tg_med = time_call(gram_fn, vs)
    gram_agree = float(jnp.max(jnp.abs(gram_fn(vs) - crb_fn(vs)) / crb_fn(vs)))
    jax_vals = np.asarray(crb_fn(vs))
    nn = min(npos, cfg["np_positions"])
    vs_np, dev_np, C_np = np.asarray(vs, np.float64), np.asarray(devices, np.float64), np.asarray(C, np.complex128)
    t0 = time.perf_counter()
    ref = np.array([numpy_crb(v, dev_np, C_np, echo_s2, T) for v in vs_np[:nn]])
    tr = (time.perf_counter() - t0) / nn * npos
    agree = np.max(np.abs(jax_vals[:nn] - ref) / ref)
    print(f"\n## (b) CRB(v) = tr J^-1 for {npos:,} target positions (K={K}, M={M}, I={I}, T={T})")
    print("| implementation | time (s) | positions/s | speed-up |")
    print("|---|---|---|---|")
    print(f"| NumPy loop, analytic derivatives{' (extrapolated from %d)' % nn if nn < npos else ''} | {tr:.3f} | "
          f"{npos / tr:,.0f} | 1.0x |")
    print(f"| JAX jit+vmap, jax.hessian FIM (min / median of 5) | {tc:.4f} / {tc_med:.4f} | {npos / tc:,.0f} | "
          f"{tr / tc:.1f}x |")
    print(f"| JAX jit+vmap, Jacobian-Gram FIM (min / median of 5) | {tg:.4f} / {tg_med:.4f} | {npos / tg:,.0f} | "
          f"{tr / tg:.1f}x |")
    print(f"max relative difference: hessian path ({jax_vals.dtype}) vs NumPy float64 {agree:.2e}; "
          f"hessian vs Gram path {gram_agree:.2e}")


TITLE = "Paper A OTA frames and CRB(v): JAX vs NumPy"

if __name__ == "__main__":
    run_benchmark(main, "bench_ota", TITLE)
