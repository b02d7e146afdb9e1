"""Paper A, Fig. 11: sensing signalling load (SSL) of centralised vs distributed sensing.

``T_CS = 2 K M s`` real scalars (raw samples forwarded) vs ``T_DS = d R / tau`` (OTA gradients),
for ``M in {8, 16, 32, 64}`` and ``s = 200``. The paper does not state K, R or tau for this figure:
K = 10 reproduces its "32,000 for M = 8"; d = 3, R = 50, tau = 5 reproduce its constant DS load of
30. The paper's "244,000 for M = 64" disagrees with its own formula (2*10*64*200 = 256,000); both
numbers are kept in the results so the difference is visible.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...ota.signalling import ssl_centralised, ssl_distributed
from ..plotting import finish_figure, subplots
from ..registry import Experiment

NAME = "a-fig11"
DESCRIPTION = "Paper A Fig. 11: sensing signalling load, centralised vs distributed (M = 8..64, s = 200)"


@dataclasses.dataclass(frozen=True)
class Config:
    antennas: tuple = (8, 16, 32, 64)
    n_devices: int = 10
    n_samples: int = 200
    dim: int = 3
    n_rounds: int = 50
    local_steps: int = 5


PRESETS = {"quick": Config(), "paper": Config()}

#: Numbers stated in the text of Sec. V.C.6 (M -> real scalars); DS load is 30 for every M.
PAPER_REPORTED_CS = {8: 32_000, 64: 244_000}
PAPER_REPORTED_DS = 30


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    cs = np.array([ssl_centralised(config.n_devices, m, config.n_samples) for m in config.antennas])
    ds = np.full(len(config.antennas), ssl_distributed(config.dim, config.n_rounds, config.local_steps))
    return {"antennas": np.array(config.antennas), "ssl_centralised": cs, "ssl_distributed": ds,
            "paper_reported_centralised": {str(k): v for k, v in PAPER_REPORTED_CS.items()},
            "paper_reported_distributed": PAPER_REPORTED_DS,
            "reduction_factor": cs / ds}


def plot(results: dict, path) -> None:
    m = np.asarray(results["antennas"])
    x = np.arange(len(m))
    fig, ax1 = subplots(figsize=(6, 4))
    ax1.bar(x - 0.2, results["ssl_centralised"], width=0.4, color="tab:blue", label="Centralised sensing (CS)")
    ax1.set_ylabel("CS signalling load (real scalars)")
    ax1.set_ylim(0, max(2.5e5, 1.1 * float(np.max(results["ssl_centralised"]))))
    ax2 = ax1.twinx()
    ax2.bar(x + 0.2, results["ssl_distributed"], width=0.4, color="tab:orange", label="Distributed sensing (DS, OTA)")
    ax2.set_ylabel("DS signalling load (real scalars)")
    ax2.set_ylim(0, 2000)
    ax2.set_yticks(np.arange(0, 2001, 200))
    ax1.set_xticks(x, [str(v) for v in m])
    ax1.set_xlabel("Antennas per device M")
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax1.legend(h1 + h2, l1 + l2, loc="upper left")
    ax1.set_title("Sensing signalling load (s = 200)")
    finish_figure(fig, [ax1], path)


EXPERIMENT = Experiment(NAME, "A", DESCRIPTION, PRESETS, run, plot)
