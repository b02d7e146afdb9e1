"""Paper B learning: every departure of the learning system from Table B.I, and what each does to the CRLB.

The learning experiments (``b-train``, ``b-learnability``, ``b-learned-curves``) train on a CPU-sized
system, ``LearningSetup().system()``, not on Table B.I. This study lists every field in which that
system differs from Table B.I (found by comparing the two configurations, so none can be left out),
with the paper's value, ours and the reason, and walks from Table B.I to the learning system one
departure at a time: after each step it computes the CRLB (B.24) of every target of the same samples
(keys ``fold_in(PRNGKey(0), j)``, ``j = --start ..``: the learning experiments' test samples) and
reports the root of its median over targets (location, m; velocity, m/s) and the Doppler span of
the sensed grid in Doppler resolution cells. A last row takes the symbol comb away again: the quick
learning system with ``T_s`` consecutive symbols, on which velocity cannot be learned.

Rows whose grid is more than four times the learning system's (``N_s T_s (N_t + M_r)``) use the
first ``--n-large`` of the samples (Table B.I's Jacobian is 128 times the learning system's).

Usage: python studies/table_b1_departures.py [--n 200] [--n-large 24] [--tiny] [--json PATH]
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)       # the Fisher matrices' Schur complements, as b-train's CRLB

import numpy as np  # noqa: E402

from isac_jax.cellfree.config import get_config  # noqa: E402
from isac_jax.cellfree.evaluation import evaluate_trial  # noqa: E402
from isac_jax.dvqvae.features import doppler_span_cells  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import base_setup, finish, parser  # noqa: E402

#: Departures in the order the walk applies them (the grid shrinks first, so later rows are cheap):
#: (label, fields changed together, reason).
DEPARTURES = (
    ("subcarriers N_s (sensed on every k-th)", ("n_subcarriers", "subcarrier_step"),
     "fewer subcarriers keep the input CPU-sized; observed on every k-th (k N_s = Table B.I's N_s) they keep Table "
     "B.I's bandwidth, so its bistatic range cell"),
    ("OFDM symbols T_s (sensed on every k-th)", ("n_symbols", "symbol_step"),
     "fewer symbols keep the input CPU-sized; observed on every k-th (k T_s = Table B.I's T_s) they keep Table "
     "B.I's duration, so its Doppler resolution (with consecutive symbols velocity cannot be learned, last row)"),
    ("transmit antennas N_t", ("n_tx_antennas",), "half the antennas: a CPU-sized transmit branch of the decoder"),
    ("receive antennas M_r", ("n_rx_antennas",), "half the antennas: a CPU-sized AP input"),
    ("users K", ("n_users",), "a null space of the users' channels at each transmit AP for the sensing stream"),
    ("transmit power P (dBm)", ("power_dbm",),
     "the sample SNR of Table B.I at 30 dBm on the smaller grid (it scales as P T_s / N_t)"),
    ("sensing stream (share of P)", ("sensing_power_fraction",),
     "beyond the paper: lights the area outside the users' beams without reaching any user"),
)


def departures(paper, ours) -> list:
    """The :data:`DEPARTURES` entries in which ``ours`` differs from ``paper`` (CellFreeConfig), each with
    its fields' values in both; raises if a differing field has no entry (a departure without a reason)."""
    differ = {f.name for f in dataclasses.fields(paper) if getattr(paper, f.name) != getattr(ours, f.name)}
    known = {name for _, fields, _ in DEPARTURES for name in fields}
    if differ - known:
        raise ValueError(f"the learning system departs from Table B.I in {sorted(differ - known)}, which "
                         "DEPARTURES does not list (add each with its reason)")
    return [(label, fields, reason) for label, fields, reason in DEPARTURES if differ & set(fields)]


def value(cfg, fields) -> str:
    """``N`` or ``N (every k-th)`` for a grid axis, else the field's value."""
    v = getattr(cfg, fields[0])
    if len(fields) == 2:
        step = getattr(cfg, fields[1])
        return f"{v} (every {step}{'nd' if step == 2 else 'th'})" if step > 1 else str(v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def grid_size(cfg) -> int:
    return cfg.n_subcarriers * cfg.n_symbols * (cfg.n_tx_antennas + cfg.n_rx_antennas)


def root_median_crlb(cfg, start: int, n: int) -> tuple:
    """Root of the median CRLB over the targets of samples ``start .. start+n-1`` (location m, velocity m/s),
    one sample at a time (Table B.I's Jacobian is too large to vmap)."""
    fn = jax.jit(lambda k: evaluate_trial(k, cfg, schemes=()))
    base = jax.random.PRNGKey(0)
    loc, vel = [], []
    for j in range(start, start + n):
        out = fn(jax.random.fold_in(base, j))
        loc.append(np.asarray(out["crlb_loc"]))
        vel.append(np.asarray(out["crlb_vel"]))
    return float(np.sqrt(np.median(loc))), float(np.sqrt(np.median(vel)))


TITLE = "Paper B learning: the learning system's departures from Table B.I and their effect on the CRLB"
QUESTION = ("In which parameters does the quick learning system depart from Paper B's Table B.I, why, and what does "
            "each departure do to the root median CRLB of location and velocity?")
METHOD = ("Starting from Table B.I, the departures are applied one at a time; after each, the CRLB (B.24) of every "
          "target of the same samples (the learning experiments' test samples) gives the root median location and "
          "velocity bound, beside the Doppler span in resolution cells. The last row removes the symbol comb from "
          "the learning system.")


def main(argv=None) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--n", type=int, default=200, help="samples per row")
    ap.add_argument("--n-large", type=int, default=24, help="samples of the rows with a large grid")
    args = ap.parse_args(argv)
    setup = base_setup(args.tiny)
    ours = setup.system()
    if args.tiny:
        # A small stand-in for Table B.I: the tiny learning system without its range comb and sensing stream.
        paper = dataclasses.replace(ours, subcarrier_step=1, sensing_power_fraction=0.0)
        n, n_large = 2, 1
    else:
        paper = get_config("paper")
        n, n_large = args.n, args.n_large
    if min(n, n_large) < 1:
        raise SystemExit(f"--n and --n-large must be >= 1, got {n}, {n_large}")
    start = setup.n_train
    steps = departures(paper, ours)
    rows, cfg = [], paper
    walk = [("Table B.I", None, None, cfg)]
    for label, fields, reason in steps:
        cfg = dataclasses.replace(cfg, **{f: getattr(ours, f) for f in fields})
        walk.append((label, fields, reason, cfg))
    if ours.symbol_step > 1:
        walk.append(("learning system without the symbol comb", ("n_symbols", "symbol_step"),
                     "(not a departure: what the comb buys)", dataclasses.replace(ours, symbol_step=1)))
    for label, fields, reason, c in walk:
        m = n_large if grid_size(c) > 4 * grid_size(ours) else n
        t0 = time.perf_counter()
        loc, vel = root_median_crlb(c, start, m)
        print(f"# {label}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        rows.append([label, value(paper, fields) if fields else "-", value(c, fields) if fields else "-",
                     reason or "-", m, loc, vel, doppler_span_cells(c)])
    table = {"caption": f"From Table B.I to the {'tiny' if args.tiny else 'quick'} learning system, one departure "
                        "per row (cumulative); root median CRLB over the targets of the first samples of the test "
                        "set",
             "columns": ["departure", "Table B.I", "learning system", "reason", "samples",
                         "root median CRLB, location (m)", "root median CRLB, velocity (m/s)",
                         "Doppler span (resolution cells)"],
             "rows": rows}
    first, final = rows[0], rows[len(steps)]
    answer = (f"{len(steps)} departures; the root median CRLB goes from {first[5]:.3g} m / {first[6]:.3g} m/s on "
              f"Table B.I to {final[5]:.3g} m / {final[6]:.3g} m/s on the learning system (Doppler span "
              f"{final[7]:.3g} resolution cells, Table B.I {first[7]:.3g})")
    if len(rows) > len(steps) + 1:
        answer += (f"; without the symbol comb the velocity bound is {rows[-1][6]:.3g} m/s and the Doppler span "
                   f"{rows[-1][7]:.3g} cells")
    return finish(__file__, sys.argv[1:] if argv is None else argv, args, title=TITLE, question=QUESTION,
                  method=METHOD, answer=answer + ".", tables=[table])


if __name__ == "__main__":
    main()
