"""One Paper B sample: scenario, precoded 16-QAM transmit tensor, received echoes (B.6) with
clutter (B.29), clock offsets (B.30) and receiver noise — a pure function of a key."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..core.random import complex_normal
from ..core.validate import check_dtype
from .comm import comm_channels, null_space_sensing, precoders, qam16, sinr, transmit_tensor
from .config import CellFreeConfig, check_in_area, sample_scenario
from .echo import clock_offsets, combine_paths, offset_phase, path_factors


def received_echo(key, cfg: CellFreeConfig, scenario, x):
    """Noisy echoes ``Y[M, M_r, N_s, T_s]``: targets + clutter, times the TO/CFO factor, plus noise.

    ``scenario`` may be user-made: its targets and clutter must lie inside the area.
    """
    check_in_area("targets", scenario.targets, cfg)
    check_in_area("clutter", scenario.clutter, cfg)
    tx, rx = cfg.tx_array().astype(jnp.real(x).dtype), cfg.rx_array().astype(jnp.real(x).dtype)
    kw = cfg.echo_kwargs
    k_off, k_noise = jax.random.split(key)
    N, M = tx.shape[0], rx.shape[0]
    Ns, Ts = x.shape[2], x.shape[3]
    offsets = None
    if cfg.timing_offset_std_s > 0 or cfg.cfo_std_hz > 0:
        tau_o, f_o = clock_offsets(k_off, N, M, Ts, timing_offset_std_s=cfg.timing_offset_std_s,
                                   cfo_std_hz=cfg.cfo_std_hz, dtype=jnp.real(x).dtype)
        offsets = offset_phase(tau_o, f_o, Ns, scs_hz=cfg.sensed_scs_hz, cp_s=cfg.sensed_cp_s)
    y = combine_paths(path_factors(tx, rx, scenario.targets, scenario.velocities, scenario.beta, x, **kw), offsets)
    if cfg.n_clutter:
        # (B.29): static scatterers (zero Doppler); (B.30) multiplies LoS and clutter alike.
        y = y + combine_paths(path_factors(tx, rx, scenario.clutter, jnp.zeros_like(scenario.clutter),
                                           scenario.clutter_beta, x, **kw), offsets)
    return y + complex_normal(k_noise, y.shape, var=cfg.noise_w, dtype=jnp.real(y).dtype)


def draw_transmission(key, cfg: CellFreeConfig, *, dtype=jnp.float32):
    """Scenario, channels ``H[N_s,K,N N_t]``, precoders ``W[N_s,N N_t,K]`` and transmit tensor
    ``X[N,N_t,N_s,T_s]`` (16-QAM through the configured precoder) of one draw. With
    ``cfg.sensing_power_fraction = rho > 0`` the precoders spend ``(1 - rho) P`` and ``X`` also holds a
    null-space sensing stream of power ``rho P`` per AP (:func:`~.comm.null_space_sensing`, from
    ``fold_in(key, 3)``: the other draws do not change)."""
    k_sc, k_h, _ = jax.random.split(key, 3)
    sc = sample_scenario(k_sc, cfg, dtype=dtype)
    tx = cfg.tx_array().astype(dtype)
    N = tx.shape[0]
    H = comm_channels(k_h, tx, sc.users, cfg.n_tx_antennas, cfg.n_subcarriers, scs_hz=cfg.sensed_scs_hz,
                      pathloss_ref_db=cfg.pathloss_ref_db, pathloss_exp=cfg.pathloss_exp,
                      ref_distance_m=cfg.ref_distance_m, rician_k=cfg.rician_k)
    rho = cfg.sensing_power_fraction
    W = precoders(H, N, (1.0 - rho) * cfg.power_w, cfg.comm_noise_w, kind=cfg.precoder)
    x = transmit_tensor(W, transmit_symbols(key, cfg, dtype=dtype), N)
    if rho > 0:
        x = x + null_space_sensing(jax.random.fold_in(key, 3), H, N, rho * cfg.power_w, cfg.n_symbols,
                                   dtype=jnp.real(x).dtype)
    return sc, H, W, x


def transmit_symbols(key, cfg: CellFreeConfig, *, dtype=jnp.float32):
    """The users' 16-QAM symbols ``s[N_s, K, T_s]`` that :func:`draw_transmission` precodes with the
    same ``key``. The cell-free CPU distributes them to every AP (Sec. B.II), so a receive AP may
    use them to strip the data modulation off its echoes."""
    return qam16(jax.random.split(key, 3)[2], (cfg.n_subcarriers, cfg.n_users, cfg.n_symbols), dtype=dtype)


def sample_scenario_of(key, cfg: CellFreeConfig, *, dtype=jnp.float32):
    """The scenario (targets, velocities, ...) of ``simulate_sample(key, cfg)`` without simulating
    the signals: labels of a streamed dataset at a fraction of the cost."""
    k_tx, _ = jax.random.split(key)
    return sample_scenario(jax.random.split(k_tx, 3)[0], cfg, dtype=dtype)


def simulate_sample(key, cfg: CellFreeConfig, *, dtype=jnp.float32) -> dict:
    """One sample: ``Y[M,M_r,N_s,T_s]``, ``X[N,N_t,N_s,T_s]``, the users' symbols ``S[K,N_s,T_s]``,
    ``targets[Q,2]``, ``velocities[Q,2]``, ``beta[N,M,Q]``, ``users[K,2]`` and the mean per-user SINR in dB."""
    if not isinstance(cfg, CellFreeConfig):
        raise TypeError(f"cfg must be a CellFreeConfig, got {type(cfg).__name__}")
    check_dtype("dtype", dtype)
    k_tx, k_y = jax.random.split(key)
    sc, H, W, x = draw_transmission(k_tx, cfg, dtype=dtype)
    y = received_echo(k_y, cfg, sc, x)
    S = jnp.swapaxes(transmit_symbols(k_tx, cfg, dtype=dtype), 0, 1)
    return {"Y": y, "X": x, "S": S, "targets": sc.targets, "velocities": sc.velocities, "beta": sc.beta,
            "users": sc.users, "sinr_db": 10.0 * jnp.log10(jnp.mean(sinr(H, W, cfg.comm_noise_w), axis=0))}
