"""Paper B, Sec. V.C: fronthaul signalling overhead per receive AP and update.

Fully distributed (96 Q bits), centralised (64 M_r N_s T_s bits) and D-VQVAE (N_b L bits,
``N_b = log2 N_c``, ``L`` latent vectors after down-sampling every axis by 4) for the codebook
sizes of Fig. 12, and the reduction of the D-VQVAE against centralised sensing (the paper's
"67 Mbit vs 82 kbit, 99 %").
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...cellfree.overhead import centralised_bits, dvqvae_bits, fully_distributed_bits, latent_count
from ..plotting import finish_figure, subplots
from ..registry import Experiment

NAME = "b-overhead"
DESCRIPTION = "Paper B Sec. V.C: fronthaul bits per AP (fully distributed, centralised, D-VQVAE vs N_c)"


@dataclasses.dataclass(frozen=True)
class Config:
    n_targets: int = 2
    n_rx_antennas: int = 16
    n_subcarriers: int = 256
    n_symbols: int = 256
    downsample: int = 4
    codebook_sizes: tuple = (4, 8, 16, 32, 64, 128, 256)
    paper_codebook: int = 32


PRESETS = {"quick": Config(), "paper": Config()}

#: Numbers stated in Sec. B.V.C.
PAPER_REPORTED = {"fully_distributed_bits": 192, "centralised_mbit": 67, "dvqvae_kbit": 82, "reduction_percent": 99}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    L = latent_count(config.n_rx_antennas, config.n_subcarriers, config.n_symbols, config.downsample)
    central = centralised_bits(config.n_rx_antennas, config.n_subcarriers, config.n_symbols)
    dv = np.array([dvqvae_bits(n, L) for n in config.codebook_sizes])
    paper_dv = dvqvae_bits(config.paper_codebook, L)
    return {"n_latent": L, "fully_distributed_bits": fully_distributed_bits(config.n_targets),
            "centralised_bits": central, "codebook_sizes": np.array(config.codebook_sizes), "dvqvae_bits": dv,
            "dvqvae_bits_paper_codebook": paper_dv, "reduction_vs_centralised": 1.0 - paper_dv / central,
            "paper_reported": PAPER_REPORTED}


def plot(results: dict, path) -> None:
    nc = np.asarray(results["codebook_sizes"])
    fig, ax = subplots(figsize=(7, 4.5))
    ax.semilogy(nc, results["dvqvae_bits"], "o-", label="D-VQVAE ($N_b L$)")
    ax.axhline(results["centralised_bits"], color="r", ls="--", label="centralised ($64 M_r N_s T_s$)")
    ax.axhline(results["fully_distributed_bits"], color="g", ls=":", label="fully distributed ($96 Q$)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("Codebook size $N_c$")
    ax.set_ylabel("Fronthaul bits per receive AP and update")
    ax.set_title(f"D-VQVAE at $N_c$ = 32: {100 * results['reduction_vs_centralised']:.2f} % below centralised")
    finish_figure(fig, [ax], path, legend_size=8)


EXPERIMENT = Experiment(NAME, "B", DESCRIPTION, PRESETS, run, plot)
