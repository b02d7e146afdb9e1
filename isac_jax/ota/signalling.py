"""Sensing signalling load (Paper A, Sec. IV.D), in real scalars sent to the PS.

Centralised sensing forwards raw samples: ``T_CS = 2 K M s`` (real and imaginary part of ``s``
samples per antenna, M antennas, K devices). Distributed sensing over the air sends ``d`` gradient
entries per round for ``R`` rounds with ``tau`` local steps: ``T_DS = d R / tau``, independent of K
and M because OTA computation superposes the devices' transmissions.
"""

from __future__ import annotations

from ..core.validate import check_int


def ssl_centralised(n_devices: int, n_antennas: int, n_samples: int) -> int:
    """``T_CS = 2 K M s`` real scalars."""
    return 2 * check_int("n_devices", n_devices) * check_int("n_antennas", n_antennas) * check_int("n_samples", n_samples)


def ssl_distributed(dim: int, n_rounds: int, local_steps: int) -> float:
    """``T_DS = d R / tau`` real scalars."""
    return check_int("dim", dim) * check_int("n_rounds", n_rounds) / check_int("local_steps", local_steps)
