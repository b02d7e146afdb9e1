"""Paper B Table III: online execution time of the D-VQVAE at batch 20, split into encoder (one
receive AP), codebook quantisation (one AP) and decoder (CPU), for the three settings of the table.

Timings use the network's initial weights (run time does not depend on their values); each part is
jitted separately, warmed up, and the median of ``repeats`` runs is reported in milliseconds. The
``paper`` preset uses Table B.I/B.II sizes and is meant for a GPU; the ``quick`` preset scales the
settings down so that a CPU finishes in seconds. The device is recorded in ``results.json``, with
the parameter counts and XLA's FLOP counts per sample (from the lowered programs), which say what
latency a device can reach at all.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ...cellfree.config import get_config
from ...core.timing import time_call
from ...dvqvae.config import get_net_config
from ...dvqvae.model import SensingModel, parameter_count
from ...dvqvae.features import ap_features
from ...dvqvae.networks import ApEncoder
from ...core.random import complex_normal
from ...dvqvae.quantiser import nearest_indices
from ..plotting import finish_figure, subplots
from ..registry import Experiment

NAME = "b-table3"
DESCRIPTION = "Paper B Table III: encoder / quantisation / decoder latency (ms) at batch 20"

#: Table B.III as printed (RTX 3070): ms for encoder, quantisation, decoder.
PAPER_REPORTED = {"Nt=Nr=16, Ns=Ts=256": (6.75, 2.51, 23.89), "Nt=Nr=8, Ns=Ts=256": (2.25, 1.34, 5.03),
                  "Nt=Nr=8, Ns=Ts=128": (1.59, 1.15, 2.42)}


@dataclasses.dataclass(frozen=True)
class Config:
    system_preset: str = "quick"
    net_preset: str = "quick"
    settings: tuple = ((16, 32), (8, 32), (8, 16))      # (N_t = M_r, N_s = T_s)
    batch: int = 20
    repeats: int = 10


PRESETS = {
    "quick": Config(),
    "paper": Config(system_preset="paper", net_preset="paper", settings=((16, 256), (8, 256), (8, 128))),
}


def _median_ms(fn, *args, repeats: int) -> float:
    return 1e3 * time_call(fn, *args, repeats=repeats)[1]


def gflop(fn, *args) -> float | None:
    """XLA's count of floating-point operations (GFLOP) of ``jax.jit(fn)(*args)``, from the program
    lowered for the CPU whatever the device (nothing is compiled or run): the GPU backend gives no
    count before compilation, and its compiled count leaves out the cuDNN convolutions, which are
    most of the work. ``None`` where XLA gives no count (seen on an H100 machine with jax 0.11.2,
    whose CPU lowering returned none either; the count is the same on any machine, so take it on a
    CPU one)."""
    cost = jax.jit(fn).trace(*args).lower(lowering_platforms=("cpu",)).cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) and cost else cost
    return float(cost["flops"]) / 1e9 if cost and "flops" in cost else None


def time_setting(system, net, batch: int, repeats: int, key) -> dict:
    """Median milliseconds of the three stages of Algorithm B.2 for one system size, the parameter
    counts (encoder per AP, decoder) and the GFLOP per sample of the encoder (one AP) and decoder."""
    model = SensingModel("dvqvae", net, system)
    N, M = len(system.tx_positions), len(system.rx_positions)
    k_y, k_x, k_init = jax.random.split(key, 3)
    shape_y = (batch, M, system.n_rx_antennas, system.n_subcarriers, system.n_symbols)
    shape_x = (batch, N, system.n_tx_antennas, system.n_subcarriers, system.n_symbols)
    Y = complex_normal(k_y, shape_y, dtype=jnp.float32)
    X = complex_normal(k_x, shape_x, dtype=jnp.float32)
    params, book = model.init(k_init, Y[:2], X[:2])
    enc_params = jax.tree_util.tree_map(lambda a: a[0], params["encoder"])
    # One AP's whole local work: its input features (from Y, and X where net.ap_input needs it) and encoder.
    encode = jax.jit(lambda p, y, x: ApEncoder(net).apply({"params": p}, ap_features(net.ap_input, y, x, system=system,
                                                                                 rx_position=system.rx_positions[0])))
    z = encode(enc_params, Y[:, 0], X)
    quantise = jax.jit(lambda z, cb: nearest_indices(z[:, None], cb[None])[:, 0])
    idx = jnp.stack([quantise(z, book.codewords[0])] * M, axis=1)
    decode = jax.jit(lambda p, i, b, x: model.estimate_from_indices(p, b, i, x))
    return {"encoder_ms": _median_ms(encode, enc_params, Y[:, 0], X, repeats=repeats),
            "quantisation_ms": _median_ms(quantise, z, book.codewords[0], repeats=repeats),
            "decoder_ms": _median_ms(decode, params, idx, book, X, repeats=repeats),
            "encoder_parameters": parameter_count(enc_params), "decoder_parameters": parameter_count(params["decoder"]),
            "encoder_gflop_per_sample": _per_sample(gflop(encode, enc_params, Y[:, 0], X), batch),
            "decoder_gflop_per_sample": _per_sample(gflop(decode, params, idx, book, X), batch)}


def _per_sample(total, batch: int):
    return None if total is None else total / batch


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    net = get_net_config(config.net_preset)
    rows = {}
    for n_ant, n_sc in config.settings:
        system = get_config(config.system_preset, n_tx_antennas=n_ant, n_rx_antennas=n_ant,
                            n_subcarriers=n_sc, n_symbols=n_sc)
        rows[f"Nt=Nr={n_ant}, Ns=Ts={n_sc}"] = time_setting(system, net, config.batch, config.repeats,
                                                            jax.random.PRNGKey(seed))
    return {"device": str(jax.devices()[0].device_kind), "batch": config.batch, "settings": rows,
            "paper_reported_ms": PAPER_REPORTED}


def plot(results: dict, path) -> None:
    names = list(results["settings"])
    parts = ("encoder_ms", "quantisation_ms", "decoder_ms")
    fig, ax = subplots(figsize=(8, 4.5))
    x = np.arange(len(names))
    for i, p in enumerate(parts):
        ax.bar(x + (i - 1) * 0.27, [results["settings"][n][p] for n in names], 0.27, label=p.replace("_ms", ""))
    ax.set_xticks(x, names, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel(f"Time per batch of {results['batch']} (ms)")
    ax.set_title(f"Online execution time on {results['device']}")
    finish_figure(fig, [ax], path, legend_size=8)


EXPERIMENT = Experiment(NAME, "B", DESCRIPTION, PRESETS, run, plot)
