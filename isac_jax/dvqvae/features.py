"""What a receive AP's encoder sees: the AP input of the D-VQVAE and the D-VAE.

Every kind maps one AP's echoes ``Y_m[B, M_r, N_s, T_s]`` (and, where it needs them, the transmit
signals ``X[B, N, N_t, N_s, T_s]``) to a real channels-last tensor ``[B, M_r, N_s, T_s, C]`` on the
same grid, so the encoder, the latent grid and the fronthaul bits are the same for all of them:

* ``paper`` (Sec. B.III.A): ``Re Y_m``, ``Im Y_m`` as two channels (``C = 2``).
* ``covariance`` (*beyond the paper*, ``Y_m`` alone): the spatial outer product ``Y_m Y_m^H`` of every
  subcarrier and symbol, row ``a`` on the antenna axis, ``y_a conj(y_b)`` for ``b = 1..M_r`` as
  ``2 M_r`` channels (``C = 2 M_r``). The 16-QAM data's random phase multiplies every antenna's
  element alike and cancels; what remains in expectation is the spatial covariance of the paths (their
  angles) and, between two paths lit by the same transmit signal, their delay and Doppler
  differences. Averaging over neighbouring elements, which the encoder's convolutions can learn,
  gives the sample covariance. Like ``paper``, it needs no transmit signals at the AP.
* ``data_aware``: ``Y_m * conj(x_{n,a})`` for every antenna ``a`` of every transmit AP ``n``
  (``C = 2 N N_t``). The 16-QAM data make the phase of every ``(i, t)`` element of ``Y_m`` random,
  so no linear filter of ``Y_m`` can integrate the delay and Doppler phase ramps; multiplying by the
  transmitted signals, which the CPU has (Sec. B.III.C) and can send to the receive APs as it sends
  them to the transmit APs, leaves the ramps of every path through transmit AP ``n`` times
  ``|x_{n,a}|^2``, plus the other antennas' and APs' signals as interference.
  *Why not the users' symbols*: the MMSE precoder of a line-of-sight user carries the phase ramp of
  that user's delay across the subcarriers, so ``Y_m conj(s_k)`` shows each target at its bistatic
  range **plus** user ``k``'s distance to the transmit AP (``tests/test_dvqvae.py::
  test_symbol_reference_shifts_the_range_by_the_users_distance``); within one transmit AP the
  antennas' signals share that ramp, so the antenna reference has no such shift.
* ``maps``: the classical per-AP angle-delay-Doppler map of the data-aware tensor, one channel per
  transmit AP (``C = N``): the matched filter of each antenna product on ``M_r`` directions
  (uniform in the direction cosine), ``N_s`` delays and ``T_s`` Doppler shifts, its power summed over
  the transmit AP's antennas (which equals the sum over a full grid of transmit directions), then
  ``log(1 + P / mean P)``. *Decision*: the delay and Doppler grids span only what the scenario can
  produce (:func:`map_grids`: bistatic ranges of points in the area, Doppler of speeds up to
  ``sqrt(2) v_max`` per leg), so a DFT's ``N_s`` and ``T_s`` bins, most of which hold nothing at
  these sizes, become finely spaced samples of the feasible region (a zoom DFT); the log tames the
  targets' 20-30 dB spread in path loss and reflectivity.
* ``area_maps`` (*beyond the paper*): the same matched filter, read out where the targets are: for
  every cell ``(x, y)`` of a grid over the area (:func:`area_grid`) and every transmit AP ``n``, the
  map's power at that cell's direction cosine ``(x - r_x)/d_m`` (B.10/B.11's ``cos vartheta``) and
  bistatic delay ``(d_n + d_m)/c`` (B.7/B.8), bilinearly interpolated, on ``M_r T_s / N_s`` Doppler shifts
  (``C = N``, grid ``[G_x, G_y, G_d]``). A receive AP knows its own and the transmit APs' positions,
  so this is a fixed linear warp of its own map, computed at the AP: the fronthaul carries the same
  ``L`` indices as ``maps`` (the grid has as many cells as ``M_r N_s T_s``). What it buys: every AP's
  latents lie on one common grid of the area, so the CPU fuses the APs cell by cell and a target is
  where the APs' evidence coincides, instead of having to learn the bistatic geometry and the
  association of peaks across APs in dense layers (``docs/modelling/paper-b-learning.md``, "Area maps").

*Decision*: each AP scales its own tensor to unit RMS per sample (no statistics cross the
fronthaul; the unknown reflection gain scale disappears); the maps are scaled by their mean power.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp

from ..cellfree.config import SPEED_OF_LIGHT, CellFreeConfig
from ..core.arrays import ula_response

AP_INPUTS = ("paper", "covariance", "data_aware", "maps", "area_maps")
#: Oversampling of the direction-cosine axis of the maps the ``area_maps`` input interpolates.
AREA_ANGLE_OVERSAMPLING = 4


def _unit_rms(z, axes):
    rms = jnp.sqrt(jnp.mean(jnp.abs(z) ** 2, axis=axes, keepdims=True))
    return z / jnp.maximum(rms, jnp.finfo(rms.dtype).tiny)


def complex_to_channels(z, axes=(-3, -2, -1)):
    """``[..., A, F, T]`` complex -> ``[..., A, F, T, 2]`` real (real and imaginary parts), scaled
    to unit RMS over ``axes``."""
    z = _unit_rms(z, axes)
    return jnp.stack([jnp.real(z), jnp.imag(z)], axis=-1)


def spatial_outer_product(y):
    """The ``covariance`` input: ``y[B, M_r, N_s, T_s]`` -> ``[B, M_r, N_s, T_s, 2 M_r]`` real, element
    ``[b, a, i, t, c]`` the real (``c < M_r``) or imaginary (``c >= M_r``) part of
    ``y_a[i, t] conj(y_{c mod M_r}[i, t])``, with ``y`` scaled to unit RMS per sample first (so the
    product has unit mean power on the diagonal)."""
    y = _unit_rms(y, (-3, -2, -1))
    r = jnp.einsum("bait,bcit->baitc", y, jnp.conj(y))
    return jnp.concatenate([jnp.real(r), jnp.imag(r)], axis=-1)


def strip_data(y, x):
    """``y[B, M_r, N_s, T_s] * conj(x[B, N, N_t, N_s, T_s])`` for every transmit antenna:
    ``[B, N, N_t, M_r, N_s, T_s]``."""
    return y[:, None, None] * jnp.conj(x)[:, :, :, None]


def max_doppler_hz(system: CellFreeConfig) -> float:
    """Largest bistatic Doppler (Hz) of a target in the area: ``2 sqrt(2) v_max f_c / c`` (both
    unit vectors of (B.9) aligned with a velocity of ``v_max`` per axis)."""
    return 2.0 * math.sqrt(2.0) * system.max_speed_mps * system.carrier_hz / SPEED_OF_LIGHT


def doppler_span_cells(system: CellFreeConfig) -> float:
    """The Doppler span ``2 f_max`` in Doppler resolution cells ``1 / (T_s DT)`` of the sensed grid
    (quick: 1.9; Table B.I, or quick with a symbol comb of 8: 15.1)."""
    return 2.0 * max_doppler_hz(system) * system.n_symbols * system.sensed_symbol_s


def map_grids(system: CellFreeConfig, *, n_cos: int | None = None, n_doppler: int | None = None) -> dict:
    """The grids of the ``maps`` input: ``cos[n_cos]`` (receive direction cosines, bin centres of
    ``[-1, 1]``; default ``M_r``), ``delay_s[N_s]`` from the shortest transmit-receive AP distance to the longest
    bistatic path through a corner of the area (a sum of distances is convex, so its maximum over
    the area is at a corner), ``doppler_hz[n_doppler]`` (default ``T_s``) over ``+-2 sqrt(2) v_max f_c / c``."""
    tx, rx = system.tx_positions, system.rx_positions
    ax, ay = system.area_m
    corners = ((0.0, 0.0), (ax, 0.0), (0.0, ay), (ax, ay))
    shortest = min(math.dist(t, r) for t, r in itertools.product(tx, rx))
    longest = max(math.dist(t, c) + math.dist(c, r) for t, r, c in itertools.product(tx, rx, corners))
    f_max = max_doppler_hz(system)
    Mr = n_cos or system.n_rx_antennas
    return {"cos": jnp.asarray([-1.0 + (2 * j + 1) / Mr for j in range(Mr)]),
            "delay_s": jnp.linspace(shortest, longest, system.n_subcarriers) / SPEED_OF_LIGHT,
            "doppler_hz": jnp.linspace(-f_max, f_max, n_doppler or system.n_symbols)}


def angle_delay_doppler_map(z, system: CellFreeConfig, grids: dict | None = None):
    """Matched-filter power ``sum_a |a_r(cos)^H z_a e^{+j2pi i Df tau} e^{-j2pi t f_D DT}|^2`` of
    ``z[B, N, N_t, M_r, N_s, T_s]`` (phases of (B.6)) on ``grids`` (default :func:`map_grids`),
    summed over each transmit AP's antennas -> ``[B, N, n_cos, n_delay, n_doppler]``."""
    g = map_grids(system) if grids is None else grids
    real = jnp.real(z).dtype
    i = jnp.arange(system.n_subcarriers, dtype=real)
    t = jnp.arange(1, system.n_symbols + 1, dtype=real)
    symbol_s = system.sensed_symbol_s
    a = jnp.conj(ula_response(g["cos"].astype(real), system.n_rx_antennas))                # [Dr, Mr]
    d = jnp.exp(2j * jnp.pi * system.sensed_scs_hz * i[:, None] * g["delay_s"].astype(real)[None, :])   # [Ns, Dd]
    f = jnp.exp(-2j * jnp.pi * symbol_s * t[:, None] * g["doppler_hz"].astype(real)[None, :])   # [Ts, Df]
    m = jnp.einsum("ra,bnkait,id,tf->bnkrdf", a.astype(z.dtype), z, d.astype(z.dtype), f.astype(z.dtype))
    return jnp.sum(jnp.real(m) ** 2 + jnp.imag(m) ** 2, axis=2)


def area_grid(system: CellFreeConfig) -> tuple:
    """``(G, G, G_d)`` of the ``area_maps`` input, ``G^2 G_d = M_r N_s T_s`` elements so that the
    latent grid, ``L`` and the fronthaul bits are those of the other inputs: ``G = N_s`` cells along
    x and along y and ``G_d = M_r T_s / N_s`` Doppler shifts, unless that samples the Doppler span
    (:func:`doppler_span_cells`) less than once per resolution cell, where a target between two
    shifts would vanish from the map: then ``G`` is halved and ``G_d`` quadrupled until it does
    (quick: 32 x 32 cells of 3.1 m, 8 shifts for 1.9 cells; quick with a symbol comb of 8:
    16 x 16 cells of 6.25 m, 32 shifts for 15.1 cells; Table B.I: 256 x 256 cells, 16 shifts for 15.1)."""
    Mr, Ns, Ts = system.n_rx_antennas, system.n_subcarriers, system.n_symbols
    if (Mr * Ts) % Ns:
        raise ValueError(f"ap_input 'area_maps' needs n_rx_antennas * n_symbols ({Mr} * {Ts}) to be a multiple of "
                         f"n_subcarriers ({Ns}): its grid has N_s x N_s cells and M_r T_s / N_s Doppler shifts")
    g, g_d = Ns, Mr * Ts // Ns
    while g_d < doppler_span_cells(system) and g % 2 == 0 and g > 2:
        g, g_d = g // 2, 4 * g_d
    return (g, g, g_d)


def feature_grid(kind: str, system: CellFreeConfig) -> tuple:
    """The three spatial axes of an AP input's tensor: ``(M_r, N_s, T_s)``, or :func:`area_grid`."""
    check_ap_input(kind)
    return area_grid(system) if kind == "area_maps" else (system.n_rx_antennas, system.n_subcarriers, system.n_symbols)


def area_cells(system: CellFreeConfig):
    """Centres ``x[G_x]``, ``y[G_y]`` (m) of the ``area_maps`` grid's cells over ``[0, a_x] x [0, a_y]``."""
    gx, gy, _ = area_grid(system)
    ax, ay = system.area_m
    return (jnp.arange(gx) + 0.5) * (ax / gx), (jnp.arange(gy) + 0.5) * (ay / gy)


def _interpolate(position, n: int):
    """Lower index and weight of linear interpolation at fractional ``position`` on ``n`` samples
    (clamped to the ends)."""
    low = jnp.clip(jnp.floor(position), 0, n - 2).astype(jnp.int32)
    return low, jnp.clip(position - low, 0.0, 1.0).astype(position.dtype)


def map_at(p, system: CellFreeConfig, rx_position, grids: dict, px, py):
    """Read one sample's maps ``p[N, n_cos, N_s, G_d]`` of the receive AP at ``rx_position[2]`` (m)
    out at the points ``px[...]``, ``py[...]`` (m): bilinear in the direction cosine ``(x - r_x)/d_m``
    (B.10) and the bistatic delay ``(d_n + d_m)/c`` (B.7)-(B.8) of transmit AP ``n`` -> ``[N, ..., G_d]``."""
    real = p.dtype
    px, py = jnp.asarray(px, real), jnp.asarray(py, real)
    rx = jnp.asarray(rx_position, real)
    tx = system.tx_array().astype(real)                                             # [N, 2]
    d_rx = jnp.hypot(px - rx[0], py - rx[1])
    expand = (slice(None),) + (None,) * px.ndim
    d_tx = jnp.hypot(px[None] - tx[expand + (0,)], py[None] - tx[expand + (1,)])   # [N, ...]
    cos = (px - rx[0]) / jnp.maximum(d_rx, 1e-9)
    delay = (d_tx + d_rx[None]) / SPEED_OF_LIGHT
    c, d = grids["cos"].astype(real), grids["delay_s"].astype(real)
    ic, wc = _interpolate(jnp.broadcast_to((cos - c[0]) / (c[1] - c[0]), delay.shape), c.shape[0])
    idl, wd = _interpolate((delay - d[0]) / (d[1] - d[0]), d.shape[0])
    n = jnp.broadcast_to(jnp.arange(tx.shape[0])[expand], delay.shape)
    out = 0.0
    for dc, w_c in ((0, 1.0 - wc), (1, wc)):
        for dd, w_d in ((0, 1.0 - wd), (1, wd)):
            out = out + (w_c * w_d)[..., None] * p[n, ic + dc, idl + dd, :]
    return out


def area_map(p, system: CellFreeConfig, rx_position, grids: dict):
    """:func:`map_at` of the maps ``p[B, N, n_cos, N_s, G_d]`` at every cell of :func:`area_cells`
    -> ``[B, N, G_x, G_y, G_d]``."""
    xs, ys = area_cells(system)
    px, py = jnp.meshgrid(xs.astype(p.dtype), ys.astype(p.dtype), indexing="ij")     # [Gx, Gy]
    return jax.vmap(lambda q: map_at(q, system, rx_position, grids, px, py))(p)


def check_ap_input(kind: str) -> None:
    if kind not in AP_INPUTS:
        raise ValueError(f"ap_input must be one of {', '.join(AP_INPUTS)}, got {kind!r}")


def ap_features(kind: str, y, x=None, *, system: CellFreeConfig | None = None, rx_position=None):
    """One AP's encoder input ``[B, M_r, N_s, T_s, C]`` (``area_maps``: ``[B, G_x, G_y, G_d, C]``; see
    the module docstring) from its echoes ``y[B, M_r, N_s, T_s]`` and, for ``data_aware`` and the
    maps, the transmit signals ``x[B, N, N_t, N_s, T_s]``; the maps also need the ``system`` (their
    grids) and ``area_maps`` the AP's position ``rx_position[2]`` (m)."""
    check_ap_input(kind)
    if kind == "paper":
        return complex_to_channels(y)
    if kind == "covariance":
        return spatial_outer_product(y)
    if x is None:
        raise ValueError(f"ap_input {kind!r} needs the transmit signals X[B, N, N_t, N_s, T_s]; got none")
    if x.ndim != 5 or x.shape[0] != y.shape[0] or x.shape[3:] != y.shape[2:]:
        raise ValueError(f"X must have shape [B={y.shape[0]}, N, N_t, N_s={y.shape[2]}, T_s={y.shape[3]}], "
                         f"got {list(x.shape)}")
    z = strip_data(y, x)                                                        # [B, N, Nt, Mr, Ns, Ts]
    if kind in ("maps", "area_maps"):
        if system is None:
            raise ValueError(f"ap_input {kind!r} needs the system configuration (its delay and Doppler grids)")
        if kind == "maps":
            p = angle_delay_doppler_map(z, system)                              # [B, N, Mr, Ns, Ts]
            scale = jnp.mean(p, axis=(-4, -3, -2, -1), keepdims=True)
        else:
            if rx_position is None:
                raise ValueError("ap_input 'area_maps' needs the receive AP's position rx_position[2] (m)")
            grids = map_grids(system, n_cos=AREA_ANGLE_OVERSAMPLING * system.n_rx_antennas,
                              n_doppler=area_grid(system)[2])
            p = angle_delay_doppler_map(z, system, grids)                       # [B, N, 4 Mr, Ns, Gd]
            scale = jnp.mean(p, axis=(-4, -3, -2, -1), keepdims=True)          # the AP's whole map
            p = area_map(p, system, rx_position, grids)                         # [B, N, Gx, Gy, Gd]
        p = p / jnp.maximum(scale, jnp.finfo(p.dtype).tiny)
        return jnp.moveaxis(jnp.log1p(p), 1, -1)
    z = _unit_rms(z, (-5, -4, -3, -2, -1)).reshape(z.shape[0], -1, *z.shape[3:])   # [B, N Nt, Mr, Ns, Ts]
    return jnp.concatenate([jnp.moveaxis(jnp.real(z), 1, -1), jnp.moveaxis(jnp.imag(z), 1, -1)], axis=-1)
