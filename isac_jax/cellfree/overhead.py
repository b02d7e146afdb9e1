"""Fronthaul signalling overhead per receive AP and update (Paper B, Sec. III.D), in bits."""

from __future__ import annotations

import math

from ..core.validate import check_int


def fully_distributed_bits(n_targets: int) -> int:
    """Angle, range and radial velocity per target as float32: ``96 Q``."""
    return 96 * check_int("n_targets", n_targets)


def centralised_bits(n_rx_antennas: int, n_subcarriers: int, n_symbols: int) -> int:
    """Raw ``Y_m`` (complex, 2 x float32 per entry): ``64 M_r N_s T_s``."""
    return 64 * check_int("n_rx_antennas", n_rx_antennas) * check_int("n_subcarriers", n_subcarriers) * check_int(
        "n_symbols", n_symbols)


def dvqvae_bits(n_codewords: int, n_latent: int) -> int:
    """Codeword indices only: ``N_b L`` with ``N_b = ceil(log2 N_c)``."""
    n_codewords = check_int("n_codewords", n_codewords, minimum=2)
    return math.ceil(math.log2(n_codewords)) * check_int("n_latent", n_latent)


def latent_count(n_rx_antennas: int, n_subcarriers: int, n_symbols: int, downsample: int = 4) -> int:
    """``L = M_bar N_bar T_bar`` for an encoder down-sampling every axis by ``downsample``."""
    for name, v in (("n_rx_antennas", n_rx_antennas), ("n_subcarriers", n_subcarriers), ("n_symbols", n_symbols)):
        if v % downsample:
            raise ValueError(f"{name} = {v} must be divisible by the encoder's down-sampling factor {downsample}")
    return (n_rx_antennas // downsample) * (n_subcarriers // downsample) * (n_symbols // downsample)
