"""Peer cross-check against Sionna PHY 2.2: the same multistatic Paper B channel tensor through
Sionna's ``ofdm_to_delay_doppler_channel`` + ``angular_delay_doppler_spectrum`` (PyTorch, CPU) and
through :mod:`isac_jax.cellfree.spectra` (JAX, jit); the spectra must agree to float tolerance and
the script prints both throughputs and their ratio, measured in one run.

Needs the optional ``peers`` extra (about 5.7 GB with PyTorch's CUDA wheels; never installed by
``make test``): ``pip install 'isac_jax[peers]'`` (or ``pip install sionna-no-rt``).

Usage: python benchmarks/bench_peers.py [--batch B] [--directions D] [--repeats R]
``--json PATH`` also writes the printed tables as a JSON record (``make bench``: ``docs/data/benchmarks/``).
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax.cellfree import sample_scenario
from isac_jax.cellfree import angular_delay_doppler_spectrum, delay_doppler_channel, sensing_channel
from isac_jax.core import ula_response
from isac_jax.core import machine, run_benchmark, time_call
from isac_jax.experiments.paper_b.fig6 import QUICK_SYSTEM


def _torch_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--directions", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    try:
        import torch
        from sionna.phy.channel import ofdm_to_delay_doppler_channel
        from sionna.phy.isac import angular_delay_doppler_spectrum as sionna_spectrum
    except ImportError as err:  # pragma: no cover - depends on the optional extra
        sys.exit(f"bench_peers needs Sionna PHY 2.2 ({err}). Install the peers extra: "
                 "pip install 'isac_jax[peers]'   (or: pip install sionna-no-rt; about 5.7 GB with PyTorch)")

    cfg = QUICK_SYSTEM
    B, D = args.batch, args.directions
    keys = jax.random.split(jax.random.PRNGKey(0), B)
    tx, rx = cfg.tx_array(), cfg.rx_array()
    shape = dict(n_tx_antennas=cfg.n_tx_antennas, n_rx_antennas=cfg.n_rx_antennas, n_subcarriers=cfg.n_subcarriers,
                 n_symbols=cfg.n_symbols)

    def channel(k):
        sc = sample_scenario(k, cfg)
        return sensing_channel(tx, rx, sc.targets, sc.velocities, sc.beta, **shape)

    H = jax.jit(jax.vmap(channel))(keys).astype(jnp.complex64)          # [B, M, Mr, N, Nt, Ts, Ns]
    H = H / jnp.sqrt(jnp.mean(jnp.abs(H) ** 2))                          # unit scale for float32 comparisons
    cos = jnp.linspace(-0.95, 0.95, D, dtype=jnp.float32)
    rx_bank = ula_response(cos, cfg.n_rx_antennas, normalise=True).astype(jnp.complex64)            # [D, Mr]
    tx_bank = jnp.conj(ula_response(cos, cfg.n_tx_antennas, normalise=True)).astype(jnp.complex64)  # (B.6) has a_t^H
    print(f"# bench_peers: tensor {list(H.shape)} complex64, {D} directions, on {machine()}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    h_np = np.asarray(H)
    h_sionna = torch.from_numpy(np.fft.fftshift(h_np, axes=-1).copy())  # Sionna wants centred subcarriers
    rx_t, tx_t = torch.from_numpy(np.array(rx_bank)), torch.from_numpy(np.array(tx_bank))
    for mode in ("paired", "cartesian"):
        ours = jax.jit(lambda h, mode=mode: angular_delay_doppler_spectrum(delay_doppler_channel(h), rx_bank,
                                                                           tx_bank, mode=mode))

        def theirs(mode=mode):
            with torch.no_grad():
                return sionna_spectrum(ofdm_to_delay_doppler_channel(h_sionna), rx_t, tx_t, mode=mode)

        p_ours, p_theirs = np.asarray(ours(H)), theirs().numpy()
        err = np.max(np.abs(p_ours - p_theirs)) / np.max(np.abs(p_theirs))
        t_ours, _ = time_call(ours, H, repeats=args.repeats)
        t_theirs = _torch_time(theirs, args.repeats)
        print(f"## {mode}: output {list(p_ours.shape)}; max |ours - Sionna| / max |Sionna| = {err:.1e}")
        print("| implementation | tensors/s | speed-up |\n|---|---|---|")
        print(f"| Sionna (torch) | {B / t_theirs:.1f} | 1.0x |")
        print(f"| isac_jax (jit) | {B / t_ours:.1f} | {t_theirs / t_ours:.1f}x |\n")
        assert err < 1e-4, f"spectra disagree ({mode}): {err}"


TITLE = "Peer cross-check: Paper B spectra, JAX vs Sionna PHY"

if __name__ == "__main__":
    run_benchmark(main, "bench_peers", TITLE)
