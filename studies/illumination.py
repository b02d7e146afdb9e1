"""Paper B learning: how brightly do the MMSE precoders light the targets?  For random scenarios of
the quick generator (8 receive antennas, 32 x 32 grid) with ``N_t`` transmit antennas per AP at a
given power, each transmit AP n's illumination gain toward target q,
``g_nq = sum_{i,t} |a_t(q)^H x_{n,i}[t]|^2 / (sum_{i,t} ||x_{n,i}[t]||^2 / N_t)`` (1 = an isotropic
radiator of the same power; unit-norm ``a_t``), and the matched-filter SNR of every (n, m, q) path,
``|A_nmq|^2 sum_{i,t} |a_t^H x|^2 / xi^2`` (the path's echo energy in the whole tensor over the noise), beside what the users get: each user's
SINR averaged over the subcarriers (the same precoders).  Halving ``N_t`` and the power together
keeps the sample SNR (``P T_s / N_t``, ``LearningSetup``); what changes is how evenly the beams,
aimed at the users, light targets elsewhere.
A third field ``RHO`` puts that share of the power on the null-space sensing stream
(``CellFreeConfig.sensing_power_fraction``, beyond the paper), which no user receives.

Usage: python studies/illumination.py [--n N] [--tiny] [--json PATH] [N_T:POWER_DBM[:RHO] ...]
(default 8:35 4:32 2:29)
"""
from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax.cellfree import draw_transmission, get_config, path_factors, sinr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TINY_SETUP, finish, parser  # noqa: E402


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


TITLE = "Paper B: how brightly the MMSE precoders light the targets"
QUESTION = ("The users' MMSE precoders aim every transmit AP's beams at the users; how brightly do they light "
            "targets elsewhere, how strong is each target's weakest echo path, and what does moving power to a "
            "sensing stream in the users' null space change for the targets and for the users?")
METHOD = ("Over random scenarios of the quick generator (key 0), for each (N_t, power, sensing share): the "
          "illumination gain of every (transmit AP, target) pair against an isotropic radiator of the same "
          "power, the matched-filter SNR of every (transmit AP, receive AP, target) path, the weaker target's best "
          "and second-best path SNR, and the users' SINR averaged over the subcarriers under the same precoders.")


def main(argv=None) -> dict:
    p = parser(__doc__)
    p.add_argument("--n", type=int, default=2000, help="scenarios")
    p.add_argument("specs", nargs="*", default=["8:35", "4:32", "2:29"], help="N_T:POWER_DBM[:RHO]")
    a = p.parse_args(argv)
    key = jax.random.PRNGKey(0)
    # --tiny: the tiny learning system's grid, 4 transmit antennas at most
    tiny = {k: v for k, v in TINY_SETUP.system_overrides if k not in ("n_tx_antennas", "sensing_power_fraction")} \
        if a.tiny else {}
    n = 4 if a.tiny else a.n
    columns = ["N_t", "power (dBm)", "sensing share", "gain median (dB)", "gain 10 % (dB)", "gain 1 % (dB)",
               "share of gains < -10 dB", "path SNR median (dB)", "path SNR 10 % (dB)",
               "weaker target's best path SNR median (dB)", "weaker target's best path SNR 10 % (dB)",
               "weaker target's 2nd-best path SNR median (dB)", "weaker target's 2nd-best path SNR 10 % (dB)",
               "users' SINR median (dB)", "users' SINR 10 % (dB)"]
    rows = []
    for spec in a.specs:
        nt, sep, rest = spec.partition(":")
        pw, _, rho = rest.partition(":")
        if not sep or not nt.isdigit():
            raise SystemExit(f"each spec must be N_T:POWER_DBM[:RHO] (e.g. 4:32 or 8:35:0.3), got {spec!r}")
        rho = float(rho or 0.0)
        cfg = get_config("quick", **tiny, n_tx_antennas=int(nt), power_dbm=float(pw), sensing_power_fraction=rho)
        g, snr, users = (np.asarray(v) for v in illumination(cfg, key, n))
        gdb = 10 * np.log10(g).ravel()
        sdb = 10 * np.log10(snr)                                                      # [n, N, M, Q]
        paths = np.sort(sdb.reshape(n, -1, sdb.shape[-1]), axis=1)                    # [n, NM, Q] ascending
        best = paths[:, -1]                                                           # [n, Q]
        weak = np.argmin(best, axis=1)
        wb = best[np.arange(n), weak]
        w2 = paths[np.arange(n), -2, weak]
        q = np.percentile
        rows.append([int(nt), float(pw), rho, q(gdb, 50), q(gdb, 10), q(gdb, 1), float(np.mean(gdb < -10)),
                     q(sdb, 50), q(sdb, 10), q(wb, 50), q(wb, 10), q(w2, 50), q(w2, 10), q(users, 50), q(users, 10)])
    table = {"caption": f"Illumination over {n} scenarios of the quick generator"
                        f"{' (tiny grid)' if a.tiny else ''}", "columns": columns, "rows": rows}
    worst = min(rows, key=lambda r: r[6])
    answer = (f"Of the settings compared, N_t = {worst[0]} at {worst[1]:g} dBm with sensing share {worst[2]:g} leaves "
              f"the fewest (transmit AP, target) pairs below -10 dB of an isotropic radiator "
              f"({100 * worst[6]:.1f} %), with the users' median SINR at {worst[13]:.1f} dB; "
              + "; ".join(f"N_t = {r[0]}, {r[1]:g} dBm, share {r[2]:g}: {100 * r[6]:.1f} % below -10 dB, "
                          f"users' median {r[13]:.1f} dB" for r in rows if r is not worst) + ".")
    return finish(__file__, sys.argv[1:] if argv is None else argv, a, title=TITLE, question=QUESTION, method=METHOD,
                  answer=answer, tables=[table])


if __name__ == "__main__":
    main()
