"""Paper B learning: how brightly do the MMSE precoders light the targets?  For random scenarios of
the quick generator (8 receive antennas, 32 x 32 grid) with ``N_t`` transmit antennas per AP at a
given power, each transmit AP n's illumination gain toward target q,
``g_nq = sum_{i,t} |a_t(q)^H x_{n,i}[t]|^2 / (sum_{i,t} ||x_{n,i}[t]||^2 / N_t)`` (1 = an isotropic
radiator of the same power; unit-norm ``a_t``), and the matched-filter SNR of every (n, m, q) path,
``|A_nmq|^2 sum_{i,t} |a_t^H x|^2 / xi^2`` (the path's echo energy in the whole tensor over the noise), beside what the users get: each user's
SINR averaged over the subcarriers (the same precoders).  Halving ``N_t`` and the power together
keeps the sample SNR (``P T_s / N_t``, ``LearningSetup``); what changes is how evenly the beams,
aimed at the users, light targets elsewhere (``docs/dvqvae.md``, "A smaller transmit array").
A third field ``RHO`` puts that share of the power on the null-space sensing stream
(``CellFreeConfig.sensing_power_fraction``, beyond the paper), which no user receives.

Usage: python benchmarks/illumination.py [--n N] [N_T:POWER_DBM[:RHO] ...]   (default 8:35 4:32 2:29)
"""
from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax.cellfree.comm import sinr
from isac_jax.cellfree.config import get_config
from isac_jax.cellfree.echo import path_factors
from isac_jax.cellfree.sensing import draw_transmission
from isac_jax.core.timing import machine


def illumination(cfg, key, n: int):
    def one(d):
        k_tx, _ = jax.random.split(jax.random.fold_in(key, d))
        sc, H, W, x = draw_transmission(k_tx, cfg)
        tx, rx = cfg.tx_array().astype(jnp.float32), cfg.rx_array().astype(jnp.float32)
        f = path_factors(tx, rx, sc.targets, sc.velocities, sc.beta, x, **cfg.echo_kwargs)
        beam = jnp.sum(jnp.abs(f.tx_beam) ** 2, axis=(-2, -1))                       # [N, Q]
        iso = jnp.sum(jnp.abs(x) ** 2, axis=(1, 2, 3)) / cfg.n_tx_antennas           # [N]
        amp2 = jnp.abs(f.delay[..., 0]) ** 2                                           # [N, M, Q]
        snr = amp2 * beam[:, None] / cfg.noise_w
        users_db = 10.0 * jnp.log10(jnp.mean(sinr(H, W, cfg.comm_noise_w), axis=0))        # [K]
        return beam / iso[:, None], snr, users_db
    return jax.jit(jax.vmap(one))(jnp.arange(n))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("specs", nargs="*", default=["8:35", "4:32", "2:29"], help="N_T:POWER_DBM[:RHO]")
    a = p.parse_args()
    key = jax.random.PRNGKey(0)
    print(f"# illumination, {a.n} scenarios of the quick generator (key 0): {machine()}")
    print("| N_t, power, sensing share | gain median / 10 % / 1 % (dB) | gain < -10 dB | path SNR median / 10 % (dB) "
          "| weaker target's best path SNR median / 10 % (dB) | weaker target's 2nd-best path, median / 10 % (dB) "
          "| users' SINR median / 10 % (dB) |")
    print("|---|---|---|---|---|---|---|")
    for spec in a.specs:
        nt, sep, rest = spec.partition(":")
        pw, _, rho = rest.partition(":")
        if not sep or not nt.isdigit():
            raise SystemExit(f"each spec must be N_T:POWER_DBM[:RHO] (e.g. 4:32 or 8:35:0.3), got {spec!r}")
        rho = float(rho or 0.0)
        cfg = get_config("quick", n_tx_antennas=int(nt), power_dbm=float(pw), sensing_power_fraction=rho)
        g, snr, users = (np.asarray(v) for v in illumination(cfg, key, a.n))
        gdb = 10 * np.log10(g).ravel()
        sdb = 10 * np.log10(snr)                                                      # [n, N, M, Q]
        paths = np.sort(sdb.reshape(a.n, -1, sdb.shape[-1]), axis=1)                  # [n, NM, Q] ascending
        best = paths[:, -1]                                                           # [n, Q]
        weak = np.argmin(best, axis=1)
        wb = best[np.arange(a.n), weak]
        w2 = paths[np.arange(a.n), -2, weak]
        q = lambda v, pc: np.percentile(v, pc)
        print(f"| {nt}, {pw} dBm, {rho:g} | {q(gdb, 50):.1f} / {q(gdb, 10):.1f} / {q(gdb, 1):.1f} | {np.mean(gdb < -10):.1%} "
              f"| {q(sdb, 50):.1f} / {q(sdb, 10):.1f} | {q(wb, 50):.1f} / {q(wb, 10):.1f} | {q(w2, 50):.1f} / {q(w2, 10):.1f} "
              f"| {q(users, 50):.1f} / {q(users, 10):.1f} |")


if __name__ == "__main__":
    main()
