"""Paper B system configuration (Table B.I) and the random scenario of Sec. B.V.

All quantities in SI units (m, s, Hz, W) unless a field name says otherwise (``*_dbm``, ``*_db``).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.random import complex_normal
from ..core.units import dbm_to_watt
from ..core.validate import (check_choice, check_finite, check_int, check_memory, check_positive, check_range,
                             check_shape, is_concrete, nbytes)


#: Speed of light in vacuum (m/s).
SPEED_OF_LIGHT = 299_792_458.0


@dataclasses.dataclass(frozen=True)
class CellFreeConfig:
    """Table B.I defaults (the ``paper`` preset). Positions ``(x, y)`` in metres."""

    carrier_hz: float = 30e9
    scs_hz: float = 240e3
    n_subcarriers: int = 256
    n_symbols: int = 256
    cp_s: float = 1.04e-6
    ref_distance_m: float = 1.0
    pathloss_ref_db: float = -60.0
    pathloss_exp: float = 2.0
    reflection_var: float = 1.0                 # chi^2
    noise_dbm: float = -90.0                    # xi_z^2 (sensing receiver noise)
    comm_noise_dbm: float = -90.0               # sigma_c^2 (users; not given by Paper B)
    power_dbm: float = 30.0                     # P, per transmit AP
    n_tx_antennas: int = 16                     # N_t
    n_rx_antennas: int = 16                     # M_r
    n_users: int = 4                            # K
    n_targets: int = 2                          # Q
    area_m: tuple = (100.0, 100.0)
    tx_positions: tuple = ((25.0, 0.0), (75.0, 0.0))
    rx_positions: tuple = ((25.0, 100.0), (75.0, 100.0))
    max_speed_mps: float = 20.0                 # velocities U[-v, v] per axis
    min_ap_distance_m: float = 1.0              # targets/users closer than this to an AP are rejected
    rician_k: float | None = None               # None: pure LoS communication channels
    n_clutter: int = 0                          # S static scatterers (B.29)
    clutter_var: float = 0.1                    # chi~^2
    timing_offset_std_s: float = 0.0            # sigma_tau (B.30), real Gaussian per (n, m, t)
    cfo_std_hz: float = 0.0                     # sigma_f (B.30)
    precoder: str = "mmse"                      # mmse | zf | mrt
    # A sensing stream (beyond the paper, which precodes the users' data only): this share of every
    # transmit AP's power P goes to random symbols in the null space of the users' channels from that
    # AP (``comm.null_space_sensing``), which no user receives; the data precoders get the rest.
    sensing_power_fraction: float = 0.0
    # A sensing comb (beyond the paper): the echo is observed on every ``subcarrier_step``-th
    # subcarrier and every ``symbol_step``-th symbol of the OFDM grid, ``n_subcarriers x n_symbols``
    # of them, so a small tensor keeps the bandwidth and duration (the resolution) of a large grid.
    subcarrier_step: int = 1
    symbol_step: int = 1

    def __post_init__(self):
        """Validate every field at construction (``TypeError``/``ValueError`` naming the field), and
        refuse a grid whose one sample cannot fit in memory (:meth:`sample_nbytes`, with the estimate)."""
        for name in ("carrier_hz", "scs_hz", "cp_s", "ref_distance_m", "pathloss_exp", "reflection_var",
                     "max_speed_mps", "clutter_var"):
            check_positive(name, getattr(self, name))
        for name in ("pathloss_ref_db", "noise_dbm", "comm_noise_dbm", "power_dbm"):
            check_finite(name, getattr(self, name), allow_complex=False)
        for name in ("n_subcarriers", "n_symbols", "n_tx_antennas", "n_rx_antennas", "n_users", "n_targets",
                     "subcarrier_step", "symbol_step"):
            check_int(name, getattr(self, name))
        check_int("n_clutter", self.n_clutter, minimum=0)
        check_positive("timing_offset_std_s", self.timing_offset_std_s, allow_zero=True)
        check_positive("cfo_std_hz", self.cfo_std_hz, allow_zero=True)
        check_positive("min_ap_distance_m", self.min_ap_distance_m, allow_zero=True)
        check_choice("precoder", self.precoder, ("mmse", "zf", "mrt"))
        check_range("sensing_power_fraction", self.sensing_power_fraction, 0.0, 1.0, high_open=True)
        if self.sensing_power_fraction > 0 and self.n_tx_antennas <= self.n_users:
            raise ValueError("sensing_power_fraction > 0 needs n_tx_antennas > n_users (a null space of the users' "
                             f"channels at each transmit AP), got n_tx_antennas={self.n_tx_antennas}, "
                             f"n_users={self.n_users}")
        if self.rician_k is not None:
            check_positive("rician_k", self.rician_k, allow_zero=True)
        check_shape("area_m", self.area_m, (2,))
        check_positive("area_m", self.area_m)
        for name in ("tx_positions", "rx_positions"):
            pos = getattr(self, name)
            if np.ndim(pos) != 2 or np.shape(pos)[1] != 2 or np.shape(pos)[0] < 1:
                raise ValueError(f"{name} must be a non-empty [n, 2] sequence of (x, y) in metres, got {pos!r}")
            check_finite(name, pos, allow_complex=False)
        check_memory(self.sample_nbytes(), what=(
            f"CellFreeConfig: one sample (n_subcarriers={self.n_subcarriers} x n_symbols={self.n_symbols}, "
            f"{len(self.tx_positions)} x n_tx_antennas={self.n_tx_antennas} transmit and "
            f"{len(self.rx_positions)} x n_rx_antennas={self.n_rx_antennas} receive antennas)"))

    def sample_nbytes(self, dtype="float32") -> int:
        """Bytes of one sample's signal tensors ``Y[M,M_r,N_s,T_s]``, ``X[N,N_t,N_s,T_s]`` and
        ``S[K,N_s,T_s]`` (complex of the real ``dtype``): a lower bound on what simulating it holds."""
        grid = int(self.n_subcarriers) * int(self.n_symbols)
        antennas = (len(self.rx_positions) * int(self.n_rx_antennas) + len(self.tx_positions) * int(self.n_tx_antennas)
                    + int(self.n_users))
        return nbytes((antennas, grid), np.result_type(np.dtype(dtype), np.complex64))

    # Python floats (not JAX arrays): they are static constants inside jitted code.
    @property
    def noise_w(self) -> float:
        return dbm_to_watt(self.noise_dbm)

    @property
    def comm_noise_w(self) -> float:
        return dbm_to_watt(self.comm_noise_dbm)

    @property
    def power_w(self) -> float:
        return dbm_to_watt(self.power_dbm)

    @property
    def sensed_scs_hz(self) -> float:
        """Frequency step (Hz) between the sensed subcarriers: ``subcarrier_step * scs_hz``."""
        return self.subcarrier_step * self.scs_hz

    @property
    def sensed_symbol_s(self) -> float:
        """Time step (s) between the sensed symbols: ``symbol_step * (1 / scs_hz + cp_s)``."""
        return self.symbol_step * (1.0 / self.scs_hz + self.cp_s)

    @property
    def sensed_cp_s(self) -> float:
        """The ``cp_s`` under which the kernels, which take a grid as ``(scs_hz, cp_s)`` with symbol
        period ``1 / scs_hz + cp_s``, see the sensed grid: ``sensed_symbol_s - 1 / sensed_scs_hz``
        (``cp_s`` itself without a comb)."""
        if self.subcarrier_step == self.symbol_step == 1:
            return self.cp_s
        return self.sensed_symbol_s - 1.0 / self.sensed_scs_hz

    @property
    def echo_kwargs(self) -> dict:
        """The keyword arguments of :func:`~isac_jax.cellfree.noiseless_echo` for this system (its
        sensed grid: :attr:`sensed_scs_hz`, :attr:`sensed_cp_s`)."""
        return dict(n_rx=self.n_rx_antennas, carrier_hz=self.carrier_hz, scs_hz=self.sensed_scs_hz,
                    cp_s=self.sensed_cp_s,
                    pathloss_ref_db=self.pathloss_ref_db, pathloss_exp=self.pathloss_exp,
                    ref_distance_m=self.ref_distance_m)

    @property
    def crlb_kwargs(self) -> dict:
        """The keyword arguments of :func:`~isac_jax.cellfree.crlb` for this system (echo + noise)."""
        return {**self.echo_kwargs, "noise_dbm": self.noise_dbm}

    def tx_array(self):
        return jnp.asarray(self.tx_positions, dtype=float)

    def rx_array(self):
        return jnp.asarray(self.rx_positions, dtype=float)


#: Table B.I at full size, and a CPU-sized preset (8 antennas, 32 subcarriers and symbols).
PRESETS = {
    "paper": CellFreeConfig(),
    "quick": CellFreeConfig(n_subcarriers=32, n_symbols=32, n_tx_antennas=8, n_rx_antennas=8),
}


def get_config(preset: str = "quick", **overrides) -> CellFreeConfig:
    """The :data:`PRESETS` entry ``preset`` (``"paper"``: Table B.I; ``"quick"``: CPU-sized) with the
    :class:`CellFreeConfig` fields ``overrides`` replaced (validated at construction)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[preset], **overrides)


def check_in_area(name: str, points, cfg: CellFreeConfig) -> None:
    """Raise unless every point of ``points[n, 2]`` lies in ``[0, area_x] x [0, area_y]`` (concrete values only)."""
    if not is_concrete(points):
        return
    p = np.asarray(points)
    ax, ay = cfg.area_m
    if p.size and (np.any(p < 0) or np.any(p[..., 0] > ax) or np.any(p[..., 1] > ay)):
        raise ValueError(f"{name} must lie inside the area [0, {ax:g}] x [0, {ay:g}] m, got {p.tolist()}")


class Scenario(NamedTuple):
    """One random draw: ``users[K,2]``, ``targets[Q,2]``, ``velocities[Q,2]`` (m/s),
    ``beta[N,M,Q]`` (complex reflection coefficients), ``clutter[S,2]`` and ``clutter_beta[N,M,S]``."""

    users: jax.Array
    targets: jax.Array
    velocities: jax.Array
    beta: jax.Array
    clutter: jax.Array
    clutter_beta: jax.Array


def _uniform_in_area(key, n, cfg: CellFreeConfig, dtype):
    """Uniform points in the area, rejecting those within ``min_ap_distance_m`` of an AP
    (resampled by a fixed number of vectorised rounds, so the draw stays a pure function of the key)."""
    aps = jnp.concatenate([cfg.tx_array(), cfg.rx_array()]).astype(dtype)
    size = jnp.asarray(cfg.area_m, dtype)[None, :]                               # [1, 2] (m)

    def draw(k):
        return jax.random.uniform(k, (n, 2), dtype) * size

    def too_close(p):
        return jnp.any(jnp.linalg.norm(p[:, None, :] - aps[None], axis=-1) < cfg.min_ap_distance_m, axis=1)

    keys = jax.random.split(key, 8)
    pts = draw(keys[0])
    for k in keys[1:]:
        pts = jnp.where(too_close(pts)[:, None], draw(k), pts)
    return pts


def sample_scenario(key, cfg: CellFreeConfig, *, dtype=jnp.float32) -> Scenario:
    """Users and targets uniform in the area, velocities ``U[-v_max, v_max]`` per axis,
    ``beta ~ CN(0, chi^2)``, clutter scatterers uniform in the area with ``CN(0, chi~^2)``."""
    k_u, k_g, k_v, k_b, k_c, k_cb = jax.random.split(key, 6)
    N, M = len(cfg.tx_positions), len(cfg.rx_positions)
    Q, S = cfg.n_targets, cfg.n_clutter
    return Scenario(
        users=_uniform_in_area(k_u, cfg.n_users, cfg, dtype),
        targets=_uniform_in_area(k_g, Q, cfg, dtype),
        velocities=jax.random.uniform(k_v, (Q, 2), dtype, -cfg.max_speed_mps, cfg.max_speed_mps),
        beta=complex_normal(k_b, (N, M, Q), var=cfg.reflection_var, dtype=dtype),
        clutter=_uniform_in_area(k_c, S, cfg, dtype) if S else jnp.zeros((0, 2), dtype),
        clutter_beta=complex_normal(k_cb, (N, M, S), var=cfg.clutter_var, dtype=dtype),
    )
