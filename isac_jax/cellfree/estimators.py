"""Classical multistatic estimators of Paper B (Sec. B.V.A) and the gradient-refined ML estimator.

Every estimator knows the transmitted tensor ``x[N, N_t, N_s, T_s]`` (as the paper's baselines
do) and works on one sample's echoes ``Y[M, M_r, N_s, T_s]``; batch them with ``jax.vmap``.

Per receive AP ``m`` (the distributed schemes):

1. **Angle detection.** At most ``Q`` paths from the spatial covariance
   ``R_m = (N_s T_s)^{-1} sum_{i,t} y y^H`` (:func:`_detect_angles`): MUSIC peaks (``music``) or
   simultaneous OMP over the angle dictionary (``cs``, ``monostatic``; :func:`_omp_angles`), each
   kept or not by a stated rule (``settings.detector``: the MDL model order, or a beam-space
   CA-CFAR with an exact false-alarm probability per beam,
   :func:`~isac_jax.cellfree.detection.beam_cfar`). The ULA cannot tell
   the two sides of its axis apart; the ray is taken into the surveillance area.
2. **Range and Doppler along the ray.** The echo is beamformed, ``r[i, t] = a_r(cos)^H y_{i,m}[t]``.
   A target on the ray at distance ``d`` from the AP has, for every transmit AP ``n``, a known
   bistatic range ``R_n(d)``, a known departure angle ``theta_n(d)`` and so a known effective
   transmit symbol ``s_n(d)[i, t] = a_t(theta_n(d))^H x_{i,n}[t]``. The matched filter
   ``z_n(d, t) = sum_i r[i, t] conj(s_n(d)[i, t]) exp(+j 2 pi i Delta f R_n(d)/c)`` removes the data
   and the delay; it is evaluated for all ``d`` as one matrix product without forming ``s``.
   * ``music`` (2D-DFT): zero-padded DFT over ``t`` and the coherent range-Doppler periodogram
     ``P(d) = sum_n max_nu |Z_n(d, nu)|^2``;
   * ``cs`` (delay-dictionary matching pursuit): the atoms are the delay templates of the ray,
     matched non-coherently over the symbols, ``P(d) = sum_n sum_t |z_n(d, t)|^2`` (no Doppler
     hypothesis), i.e. one simultaneous-OMP step per ray; its Doppler then comes from the DFT of
     the selected atom's per-symbol amplitudes.
   Peaks are refined by parabolic interpolation; ``f_D`` of every pair ``(n, m)`` follows.
3. **Fusion at the CPU by bistatic consistency** (:func:`_fuse_detected`): candidates seeded by
   the valid detections (ray intersections and range peaks) are associated with each AP's best
   explaining detection, refined by least squares (ray intersection; velocity from the bistatic
   Dopplers, ``lambda f_D,nm = v . (u_tn + u_rm)`` (B.9)-(B.11)), scored by their support minus
   the Doppler misfit, and picked with non-maximum suppression; each pick carries a declared flag
   (:func:`estimate_detections`).

``monostatic``: the same pipeline for a full-duplex BS (``tx = rx = [[50, 0]]``, one pair): the
location from angle and range; one Doppler gives only the radial velocity, so velocities are NaN.

``ml_refined`` (beyond the paper): starts from the best (lowest concentrated cost) of the fused
``music`` and ``cs`` estimates and a greedy pick from a pool of candidates — the classical rays'
positions and the peaks of a coarse global back-projection of the echo over the area
(:func:`grid_score`), each with its best velocities from a coherent multi-pair Doppler search —
improved by RELAX passes (one target at a time re-searched with the others cancelled) when they
lower the cost, joined for ``Q > 1`` by split starts (:func:`_split_starts`: a target split into a
pair within one range and velocity cell, the failure of every single-target search); then damped
Newton (:func:`refine_ml`) from every start on the exact (B.6) negative log-likelihood with the
reflection coefficients concentrated out (per receive AP, ``beta_m = (B^H B)^{-1} B^H y_m``, by a
linear solve), the lowest final cost kept (:func:`_refine_starts`).

**Missed and merged targets** (never a silent drop): every scheme returns ``Q`` estimates; one
that the scheme does not declare a target is still placed (the best remaining candidate), so the
evaluation scores a missed target with its full error, and reports detection probability and false
alarms from the declared flags. An AP whose spectrum has fewer local maxima than valid paths (two
targets in one beam) repeats the strongest, and the repeated ray takes the next range peak.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.arrays import ula_response
from ..core.validate import check_finite, check_int
from .config import SPEED_OF_LIGHT
from .detection import beam_cfar, mdl_order
from .echo import check_echo_kwargs, combine_paths, path_factors

SCHEMES = ("monostatic", "music", "cs", "ml_refined")


#: The integer fields of :class:`EstimatorSettings` and their smallest allowed values.
_INTEGER_MINIMA = {"n_angles": 8, "doppler_oversample": 1, "ml_iterations": 0, "ml_grid_peaks": 0,
                   "ml_grid_symbol_stride": 1, "ml_relax_passes": 0, "ml_split_starts": 0,
                   "ml_polish_iterations": 0, "omp_passes": 0, "cfar_guard_beams": 0}


@dataclasses.dataclass(frozen=True)
class EstimatorSettings:
    """Grids and iteration counts of the estimators (static under ``jit``).

    ``n_angles``: points of the ``cos`` grid in ``[-1, 1]``; ``range_step_cells``: step of the
    along-ray distance grid in bistatic range cells ``c / (N_s Delta f)``; ``doppler_oversample``:
    zero-padding factor of the Doppler DFT; ``area_m``: the surveillance area (rays and range grids
    stay inside it); ``ml_iterations``: damped-Newton iterations of ``ml_refined``; ``max_speed_mps``:
    the per-axis velocity bound of ``ml_refined``'s initial velocity search; ``ml_grid_step_m``,
    ``ml_grid_peaks``, ``ml_grid_symbol_stride``: the step of ``ml_refined``'s global position grid
    over the area, how many of its peaks join the start's candidate pool (0: no global search) and
    the symbol decimation of that search (:func:`grid_peaks`); ``ml_relax_passes``: RELAX passes of
    the start; ``ml_split_starts``, ``ml_split_fraction``: how many split starts join it (``Q > 1``;
    0: none) and their step as a fraction of a range and a velocity cell (:func:`_split_starts`);
    ``ml_polish_iterations``: further damped-Newton iterations of the best refined start.
    ``detector``: the per-AP detection rule of ``music``, ``cs`` and ``monostatic`` (``"mdl"``: model
    order; ``"cfar"``: beam-space CA-CFAR at ``detection_pfa`` per beam with ``cfar_guard_beams``
    guard beams; :func:`_detect_angles`); ``omp_passes``: orthogonal-matching-pursuit passes of the
    angle step of ``cs`` and ``monostatic``.
    """

    n_angles: int = 512
    range_step_cells: float = 0.125
    doppler_oversample: int = 4
    area_m: tuple = (100.0, 100.0)
    ml_iterations: int = 10
    max_speed_mps: float = 20.0
    ml_grid_step_m: float = 4.0
    ml_grid_peaks: int = 4
    ml_grid_symbol_stride: int = 4
    ml_relax_passes: int = 2
    ml_split_starts: int = 1
    ml_polish_iterations: int = 10
    ml_split_fraction: float = 0.25
    detector: str = "mdl"
    omp_passes: int = 4
    detection_pfa: float = 1e-3
    cfar_guard_beams: int = 1

    def __post_init__(self):
        for name, low in _INTEGER_MINIMA.items():
            value = getattr(self, name)
            if int(value) != value or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.detector not in ("mdl", "cfar"):
            raise ValueError(f"detector must be 'mdl' or 'cfar', got {self.detector!r}")
        if not 0.0 < self.detection_pfa < 1.0:
            raise ValueError(f"detection_pfa must be in (0, 1), got {self.detection_pfa!r}")
        if not 0 < self.range_step_cells <= 1:
            raise ValueError(f"range_step_cells must be in (0, 1], got {self.range_step_cells!r}")
        if len(self.area_m) != 2 or not all(a > 0 for a in self.area_m):
            raise ValueError(f"area_m must be two positive lengths (m), got {self.area_m!r}")
        if not self.max_speed_mps > 0:
            raise ValueError(f"max_speed_mps must be > 0, got {self.max_speed_mps!r}")
        if not self.ml_grid_step_m > 0:
            raise ValueError(f"ml_grid_step_m must be > 0 (m), got {self.ml_grid_step_m!r}")
        if not 0 < self.ml_split_fraction <= 1:
            raise ValueError(f"ml_split_fraction must be in (0, 1] (of a resolution cell), got {self.ml_split_fraction!r}")


def resolution(n_subcarriers, n_symbols, *, carrier_hz=30e9, scs_hz=240e3, cp_s=1.04e-6) -> dict:
    """Bistatic range cell ``c / (N_s Delta f)`` (m) and velocity cell ``lambda / (2 T_s Delta T)`` (m/s)."""
    symbol_s = 1.0 / scs_hz + cp_s
    return {"range_m": SPEED_OF_LIGHT / (n_subcarriers * scs_hz),
            "velocity_mps": SPEED_OF_LIGHT / carrier_hz / (2.0 * n_symbols * symbol_s)}


# ----------------------------------------------------------------------------------------- angles
def _spatial_covariance(y_m):
    """``R = (N_s T_s)^{-1} sum_{i,t} y y^H`` of one AP's ``y_m[M_r, N_s, T_s]`` -> ``[M_r, M_r]``."""
    flat = y_m.reshape(y_m.shape[0], -1)
    return flat @ jnp.conj(flat.T) / flat.shape[1]


def _pick_peaks(spectrum, n_peaks):
    """Indices ``[n_peaks]`` of the largest interior local maxima and their sub-grid offsets in
    ``[-0.5, 0.5]`` (parabola through the log spectrum). When fewer than ``n_peaks`` local maxima
    exist (targets merged in one beam), the strongest peak is repeated: a merged detection."""
    logp = jnp.log(jnp.maximum(spectrum, jnp.finfo(spectrum.dtype).tiny))
    left = jnp.concatenate([logp[:1], logp[:-1]])
    right = jnp.concatenate([logp[1:], logp[-1:]])
    interior = (jnp.arange(logp.shape[0]) > 0) & (jnp.arange(logp.shape[0]) < logp.shape[0] - 1)
    local = (logp > left) & (logp >= right) & interior
    vals, idx = jax.lax.top_k(jnp.where(local, logp, -jnp.inf), n_peaks)
    strongest = jnp.where(jnp.isfinite(vals[0]), idx[0], jnp.argmax(logp))
    idx = jnp.where(jnp.isfinite(vals), idx, strongest)
    return idx, _parabolic(logp, idx)


def _parabolic(values, idx):
    """Vertex offset of the parabola through ``values[idx-1:idx+2]`` (0 at the grid edges)."""
    n = values.shape[0]
    lo, hi = jnp.clip(idx - 1, 0, n - 1), jnp.clip(idx + 1, 0, n - 1)
    l, c, r = values[lo], values[idx], values[hi]
    den = l - 2.0 * c + r
    off = jnp.where(den < 0, 0.5 * (l - r) / jnp.where(den < 0, den, -1.0), 0.0)
    return jnp.where((idx > 0) & (idx < n - 1), jnp.clip(off, -0.5, 0.5), 0.0)


# -------------------------------------------------------------------------------- along the ray
def _ray_direction(ap, cos, area_m):
    """Unit vector ``[..., 2]`` from ``ap`` with direction cosine ``cos`` to the array axis (+x),
    on the side of the AP that faces the centre of the area."""
    side = jnp.where(area_m[1] / 2.0 >= ap[1], 1.0, -1.0)
    return jnp.stack([cos, side * jnp.sqrt(jnp.clip(1.0 - cos ** 2, 0.0, 1.0))], axis=-1)


def _ray_scan(r, x, tx, ap, u, dists, kw, settings):
    """Matched filter along one ray. ``r[N_s, T_s]`` beamformed echo, ``u[2]`` ray direction,
    ``dists[D]`` (m). Returns ``z[N, D, T_s]`` (data and delay removed) and ``inside[D]``."""
    Ns = r.shape[0]
    Nt = x.shape[1]
    pts = ap[None, :] + dists[:, None] * u[None, :]                          # [D, 2]
    to_tx = pts[None, :, :] - tx[:, None, :]                                 # [N, D, 2]
    d_tx = jnp.linalg.norm(to_tx, axis=-1)                                   # [N, D]
    bistatic = d_tx + dists[None, :]                                         # [N, D] (m)
    cos_tx = -to_tx[..., 0] / d_tx                                           # SPEC §5 transmit axis (-x)
    a_t = ula_response(cos_tx, Nt, normalise=True)                           # [N, D, Nt]
    i = jnp.arange(Ns, dtype=r.real.dtype)
    undelay = jnp.exp(2j * jnp.pi * kw["scs_hz"] * (bistatic / SPEED_OF_LIGHT)[..., None] * i[None, None, :])   # [N, D, Ns]
    u_data = r[None, None] * jnp.conj(x)                                     # [N, Nt, Ns, Ts]: r conj(x)
    # z[n, d, t] = sum_a a_t[n,d,a] sum_i undelay[n,d,i] r[i,t] conj(x[n,a,i,t])
    w = jnp.einsum("ndi,nait->ndat", undelay, u_data)
    z = jnp.einsum("nda,ndat->ndt", a_t, w)
    area = jnp.asarray(settings.area_m, r.real.dtype)
    inside = jnp.all((pts >= 0.0) & (pts <= area[None, :]), axis=-1)
    return z, inside


def _doppler_spectrum(z, oversample):
    """``|DFT_t z|^2`` with ``oversample`` x zero padding, ``[..., L]``; bin ``k`` is ``f_D DeltaT = k/L``."""
    L = oversample * z.shape[-1]
    return jnp.abs(jnp.fft.fft(z, n=L, axis=-1)) ** 2


def _bin_to_doppler(k, L, symbol_s):
    f = k / L
    return (jnp.mod(f + 0.5, 1.0) - 0.5) / symbol_s


class _Rays(NamedTuple):
    """One AP's detections: ``origin[2]``, ``direction[Q, 2]``, along-ray distance grid ``dists[D]``,
    normalised ray profiles ``profile[Q, D]`` (0 outside the area), Doppler spectra
    ``doppler[Q, N, D, L]``, the detection rule's verdict ``valid[Q]`` (bool) and the bistatic
    range cell ``range_cell_m`` ``c / (N_s Delta f)``."""

    origin: jax.Array
    direction: jax.Array
    dists: jax.Array
    profile: jax.Array
    doppler: jax.Array
    valid: jax.Array
    range_cell_m: jax.Array


def _omp_angles(R, a, n_paths, n_passes):
    """Angles of ``n_paths`` paths by simultaneous orthogonal matching pursuit over the angle
    dictionary ``a[G, M_r]`` (unit-norm steering vectors) on the covariance ``R[M_r, M_r]``: path
    ``q`` maximises ``a^H P R P a / a^H P a`` with ``P`` the projector orthogonal to the paths
    already chosen (the first is the Bartlett peak; for ``R = p a_q a_q^H`` plus the chosen paths
    the maximum is at ``a_q`` by Cauchy–Schwarz); then ``n_passes`` cyclic passes re-choose each
    path with all the others projected out, which removes the bias a neighbour's sidelobe leaves on
    the beam scan. Returns grid indices ``[n_paths]`` and sub-grid offsets ``[n_paths]`` (parabola
    through the log residual spectrum of each path)."""
    Mr = R.shape[0]
    eye = jnp.eye(Mr, dtype=R.dtype)

    def residual_spectrum(idx, mask):
        B = a[idx].T * mask[None, :].astype(R.dtype)                                       # [Mr, Q]
        gram = jnp.conj(B.T) @ B + jnp.diag(1.0 - mask.astype(R.real.dtype)).astype(R.dtype)
        P = eye - B @ jnp.linalg.solve(gram + 1e-9 * jnp.eye(n_paths, dtype=R.dtype), jnp.conj(B.T))
        Rp = P @ R @ jnp.conj(P.T)
        num = jnp.real(jnp.einsum("ga,ab,gb->g", jnp.conj(a), Rp, a))
        den = jnp.real(jnp.einsum("ga,ab,gb->g", jnp.conj(a), P, a))
        return num / jnp.maximum(den, 1e-6)

    idx = jnp.zeros(n_paths, jnp.int32)
    for q in range(n_paths):
        mask = jnp.arange(n_paths) < q
        idx = idx.at[q].set(jnp.argmax(residual_spectrum(idx, mask)).astype(jnp.int32))
    for _ in range(n_passes):
        for q in range(n_paths):
            idx = idx.at[q].set(jnp.argmax(residual_spectrum(idx, jnp.arange(n_paths) != q)).astype(jnp.int32))
    spectra = jax.vmap(lambda q: residual_spectrum(idx, jnp.arange(n_paths) != q))(jnp.arange(n_paths))
    off = jax.vmap(lambda sp, i: _parabolic(jnp.log(jnp.maximum(sp, jnp.finfo(sp.dtype).tiny)), i))(spectra, idx)
    return idx, off


def _detect_angles(y_m, n_targets, method, settings):
    """Per-AP angle detection of one AP's echo ``y_m[M_r, N_s, T_s]``, at most ``Q = n_targets`` paths.

    The candidate paths are the ``Q`` largest local maxima of the MUSIC spectrum for ``music`` (a
    noise subspace of ``M_r - max(k_hat, 1)`` eigenvectors, ``k_hat`` the MDL order below) and the
    ``Q`` atoms of simultaneous OMP over the angle dictionary (:func:`_omp_angles`) otherwise
    (``cs`` and ``monostatic``); which of them are detections (``valid``)
    is decided by the rule ``settings.detector``:

    * ``"mdl"`` (default): the MDL model order ``k_hat`` of the spatial covariance
      (:func:`~isac_jax.cellfree.detection.mdl_order`, capped at ``Q``); the ``k_hat`` strongest
      paths are valid. When the MUSIC spectrum has fewer local maxima than ``k_hat`` the strongest
      is repeated (a merged detection, whose ray takes the next range peak);
    * ``"cfar"``: a path is valid when one of the two orthogonal beams that bracket it passes the
      beam-space CA-CFAR (:func:`~isac_jax.cellfree.detection.beam_cfar`: ``settings.detection_pfa``
      per beam, ``settings.cfar_guard_beams`` guard beams), each grid point once.

    Returns ``(cos[Q], grid indices[Q], valid[Q] bool)``; invalid entries are still the next peaks
    (fixed size), ranked after the valid ones.
    """
    real = y_m.real.dtype
    Mr = y_m.shape[0]
    K = y_m.shape[1] * y_m.shape[2]
    cos_grid = jnp.linspace(-1.0, 1.0, settings.n_angles, dtype=real)
    R = _spatial_covariance(y_m)
    a = ula_response(cos_grid, Mr, normalise=True)                                          # [G, Mr]
    order = mdl_order(R, K, n_targets)
    if method == "music":
        _, vecs = jnp.linalg.eigh(R)                                                        # ascending
        keep = (jnp.arange(Mr) < Mr - jnp.maximum(order, 1)).astype(real)                   # noise subspace
        spec = 1.0 / jnp.sum(jnp.abs(jnp.conj(a) @ vecs) ** 2 * keep[None, :], axis=-1)
        idx, off = _pick_peaks(spec, n_targets)
    else:
        idx, off = _omp_angles(R, a, n_targets, settings.omp_passes)
    if settings.detector == "mdl":
        valid = jnp.arange(n_targets) < order
    else:
        det, _ = beam_cfar(R, K, guard=settings.cfar_guard_beams, pfa=settings.detection_pfa)
        lo = jnp.floor((cos_grid[idx] + 1.0) * Mr / 2.0).astype(jnp.int32)
        valid = det[jnp.mod(lo, Mr)] | det[jnp.mod(lo + 1, Mr)]
        first = jnp.array([True] + [False] * (n_targets - 1))
        for q in range(1, n_targets):
            first = first.at[q].set(~jnp.any(idx[:q] == idx[q]))
        valid = valid & first
        rank = jnp.argsort(~valid, stable=True)                                             # valid first
        idx, off, valid = idx[rank], off[rank], valid[rank]
    cos = jnp.clip(cos_grid[idx] + off * (cos_grid[1] - cos_grid[0]), -1.0, 1.0)
    return cos, idx, valid


def detected_angles(scheme, Y, *, n_targets, settings: EstimatorSettings = EstimatorSettings()):
    """The direction cosines ``[M, Q]`` that ``scheme``'s first stage detects at every receive AP
    (MUSIC for ``music``, the Bartlett scan otherwise): the per-AP parameters whose misses and
    merges set the distributed schemes' error floors."""
    return jax.vmap(lambda y_m: _detect_angles(y_m, n_targets, scheme, settings)[0])(Y)


def detected_paths(scheme, Y, *, n_targets, settings: EstimatorSettings = EstimatorSettings()):
    """The validity ``[M, Q]`` (bool) of the paths :func:`detected_angles` returns: the per-AP
    detection rule of :func:`_detect_angles`."""
    return jax.vmap(lambda y_m: _detect_angles(y_m, n_targets, scheme, settings)[2])(Y)


def _scan_ap(y_m, x, tx, ap, n_targets, method, kw, settings) -> _Rays:
    """Angles of one AP, then the matched filter along each of its ``Q`` rays."""
    Mr = y_m.shape[0]
    real = y_m.real.dtype
    cos, idx, valid = _detect_angles(y_m, n_targets, method, settings)                     # [Q]
    area = jnp.asarray(settings.area_m, real)
    step = settings.range_step_cells * SPEED_OF_LIGHT / (y_m.shape[1] * kw["scs_hz"])
    n_d = int(math.ceil(math.hypot(*settings.area_m) / step)) + 1
    dists = (jnp.arange(n_d, dtype=real) + 0.5) * step

    # Receive combining that nulls the AP's other detected directions (regularised zero forcing):
    # w_q^H a_r(cos_p) ~ delta_qp, so a strong target's sidelobe leakage cannot raise a false range
    # peak on another target's ray.
    steer = ula_response(cos, Mr, normalise=True).T                                        # [Mr, Q]
    gram = jnp.conj(steer.T) @ steer
    combiners = steer @ jnp.linalg.solve(gram + 1e-2 * jnp.eye(n_targets, dtype=gram.dtype), jnp.eye(
        n_targets, dtype=gram.dtype))                                                       # [Mr, Q]

    def one_ray(c, w):
        u = _ray_direction(ap, c, area)
        r = jnp.einsum("a,ait->it", jnp.conj(w), y_m)
        z, inside = _ray_scan(r, x, tx, ap, u, dists, kw, settings)
        spec_d = _doppler_spectrum(z, settings.doppler_oversample)                         # [N, D, L]
        if method == "music":
            power = jnp.sum(jnp.max(spec_d, axis=-1), axis=0)                              # coherent 2D-DFT
        else:
            power = jnp.sum(jnp.abs(z) ** 2, axis=(0, 2))                                  # non-coherent atoms
        power = jnp.where(inside, power, 0.0)
        return u, power / jnp.maximum(jnp.max(power), jnp.finfo(real).tiny), spec_d

    u, profile, doppler = jax.vmap(one_ray)(cos, combiners.T)
    # A merged detection (a repeated angle) takes the next range peak of the same ray: the earlier
    # copies' peaks are masked within one range cell.
    cell = step / settings.range_step_cells
    for q in range(1, n_targets):
        for p in range(q):
            peak = dists[jnp.argmax(profile[p])]
            near = (idx[p] == idx[q]) & (jnp.abs(dists - peak) < cell)
            profile = profile.at[q].set(jnp.where(near, 0.0, profile[q]))
    profile = profile / jnp.maximum(jnp.max(profile, axis=1, keepdims=True), jnp.finfo(real).tiny)
    return _Rays(ap, u, dists, profile, doppler, valid, jnp.asarray(cell, real))


def _range_positions(rays: _Rays):
    """Each ray's own position: the profile's peak (parabolic refinement), ``[Q, 2]``."""
    step = rays.dists[1] - rays.dists[0]

    def one(u, prof):
        j = jnp.argmax(prof)
        d = rays.dists[j] + _parabolic(jnp.log(jnp.maximum(prof, 1e-300)), j) * step
        return rays.origin + d * u

    return jax.vmap(one)(rays.direction, rays.profile)


def _profile_at(rays: _Rays, q, g):
    """Index of the along-ray grid point nearest to the projection of ``g`` on ray ``q`` and the
    profile there."""
    d = jnp.dot(g - rays.origin, rays.direction[q])
    step = rays.dists[1] - rays.dists[0]
    j = jnp.clip(jnp.round((d - rays.dists[0]) / step).astype(jnp.int32), 0, rays.dists.shape[0] - 1)
    return j, rays.profile[q, j]


def _intersect(origins, directions, prior, weight=1e-3, ray_weights=None):
    """Least-squares point of lines ``origins[M, 2] + d directions[M, 2]`` (each weighted by
    ``ray_weights[M]``, default 1), pulled weakly towards ``prior[2]`` so that (nearly) parallel
    lines stay well posed."""
    proj = jnp.eye(2)[None] - directions[:, :, None] * directions[:, None, :]               # [M, 2, 2]
    if ray_weights is not None:
        proj = proj * ray_weights[:, None, None]
    lhs = jnp.sum(proj, axis=0) + weight * jnp.eye(2)
    rhs = jnp.einsum("mab,mb->a", proj, origins) + weight * prior
    return jnp.linalg.solve(lhs, rhs)


#: Support of one receive AP for a position at which its best valid ray's profile reaches this level
#: (the profile is normalised to 1 at the ray's peak): the AP "sees" a target there.
SUPPORT_LEVEL = 0.25


def _support(scans: _Rays, g, n_rx):
    """How well each receive AP's valid detections explain a position ``g[2]``: per AP ``m`` and ray
    ``q``, ``valid * exp(-(Delta cos)^2 / (2 sigma^2)) * profile(g)``, with ``Delta cos`` the
    difference between ``g``'s direction cosine at AP ``m`` and the ray's (``sigma = 1 / (2 M_r)``,
    about half the beam's half-power width) and ``profile(g)`` the ray's normalised matched-filter
    power at ``g``'s projection on it. Returns the best ray ``[M]`` (int) and its support ``[M]``."""
    M, Q = scans.direction.shape[:2]

    def per_ap(m):
        scan = jax.tree_util.tree_map(lambda t: t[m], scans)
        rel = g - scan.origin
        cos_g = rel[0] / jnp.maximum(jnp.linalg.norm(rel), 1e-9)
        w = jnp.exp(-0.5 * ((cos_g - scan.direction[:, 0]) * 2.0 * n_rx) ** 2)            # [Q]
        prof = jax.vmap(lambda q: _profile_at(scan, q, g)[1])(jnp.arange(Q))
        s = jnp.where(scan.valid, w * prof, 0.0)
        return jnp.argmax(s), jnp.max(s)

    return jax.vmap(per_ap)(jnp.arange(M))


def _associations(scans: _Rays):
    """Candidate target positions ``[C, 2]`` seeded by the per-AP detections and their validity
    ``[C]``: the least-squares intersection of every tuple of rays (one per receive AP, ``Q^M``;
    pulled weakly towards the rays' own range peaks, so nearly parallel rays stay well posed; valid
    when every ray of the tuple is) and every ray's own range peak (``M Q``; valid when the ray is).
    Two targets merged in one AP's beam but resolved by another thus both appear."""
    M, Q = scans.direction.shape[0], scans.direction.shape[1]
    tuples = jnp.asarray(np.array(list(itertools.product(range(Q), repeat=M)), dtype=np.int32))   # [Q^M, M]
    ranged = jax.vmap(_range_positions)(scans)                                             # [M, Q, 2]
    ap_idx = jnp.arange(M)

    def point(rays):
        prior = jnp.mean(ranged[ap_idx, rays], axis=0)
        return _intersect(scans.origin, scans.direction[ap_idx, rays], prior), jnp.all(scans.valid[ap_idx, rays])

    g_t, ok_t = jax.vmap(point)(tuples)
    return jnp.concatenate([g_t, ranged.reshape(-1, 2)]), jnp.concatenate([ok_t, scans.valid.reshape(-1)])


def _fuse_detected(scans: _Rays, tx, rx, kw, n_symbols: int, n_targets: int, max_speed_mps=None):
    """CPU fusion of ``M`` APs' detections by bistatic consistency (stacked ``_Rays``).

    1. Association and least squares per candidate (:func:`_associations`: ray intersections and
       range peaks seeded by the per-AP detections): each receive AP's detection that best explains
       the candidate (:func:`_support`) is associated with it when its support reaches
       :data:`SUPPORT_LEVEL`; the position becomes the intersection of the associated rays weighted
       by their support, the velocity the least squares of the associated pairs' bistatic Dopplers
       (read from each ray's Doppler spectrum there; :func:`_velocity_ls`, (B.9)-(B.11)), clipped
       to ``[-max_speed_mps, max_speed_mps]`` per axis when given (the scenario's velocity prior).
    2. Score: the summed support at that position minus the Doppler misfit in squared Doppler
       cells ``1/(T_s DeltaT)``. In the forward-scatter geometry of Fig. B.2 the bistatic range
       changes little along a receive ray, so range alone associates poorly, while a wrong
       association leaves Dopplers that no single velocity explains.
    3. Peak picking with non-maximum suppression: ``Q`` times, the best remaining valid candidate
       is taken, preferring in turn candidates supported by at least ``min(2, M)`` APs and
       candidates that use no detection already associated with a picked target (while that AP
       has an unused valid detection left: one detection explains one target unless its AP sees
       fewer paths than targets); every candidate within half a bistatic range cell
       ``c / (2 N_s Delta f)`` of the pick, or associated with the same detections at every AP, is
       removed. A pick is **declared** a target when it is valid (seeded by valid detections) and
       at least ``min(2, M)`` receive APs support it. When no valid candidate remains, the slot
       takes the best remaining candidate of any kind, undeclared (a miss is reported, and its
       estimate still placed).

    Returns positions ``[Q, 2]``, velocities ``[Q, 2]`` and ``declared[Q]`` (bool)."""
    M = scans.direction.shape[0]
    nms_radius_m = 0.5 * scans.range_cell_m[0]
    cand, ok = _associations(scans)
    symbol_s = 1.0 / kw["scs_hz"] + kw["cp_s"]
    L = scans.doppler.shape[-1]
    lam = SPEED_OF_LIGHT / kw["carrier_hz"]
    n_rx = kw["n_rx"]
    ap_idx = jnp.arange(M)

    def dopplers(rays, g):                                                                  # [M, N]
        def one(m):
            scan = jax.tree_util.tree_map(lambda t: t[m], scans)
            j, _ = _profile_at(scan, rays[m], g)
            spec = scan.doppler[rays[m], :, j, :]                                           # [N, L]
            k = jnp.argmax(spec, axis=-1)
            k_off = jax.vmap(lambda row, kk: _parabolic(jnp.log(jnp.maximum(row, 1e-300)), kk))(spec, k)
            return _bin_to_doppler(k + k_off, L, symbol_s)
        return jax.vmap(one)(ap_idx)

    def fit(g, rays, weights):
        dop = dopplers(rays, g)                                                             # [M, N]
        v = _velocity_ls(g[None], dop[:, None, :], tx, rx, kw["carrier_hz"], weights=weights[:, None, None])[0]
        if max_speed_mps is not None:
            v = jnp.clip(v, -max_speed_mps, max_speed_mps)
        pred = jnp.einsum("nmc,c->mn", _pair_directions(g[None], tx, rx)[:, :, 0], v) / lam
        return v, jnp.sum(weights[:, None] * ((dop - pred) * symbol_s * n_symbols) ** 2)

    def refine(g0):
        """Least squares on the parameters associated with a candidate, then its score there."""
        rays, sup = _support(scans, g0, n_rx)
        w = jnp.where(sup >= SUPPORT_LEVEL, sup, 0.0)
        g = jnp.where(jnp.sum(w > 0) >= 2,
                      _intersect(scans.origin, scans.direction[ap_idx, rays], g0, ray_weights=w), g0)
        rays, sup = _support(scans, g, n_rx)
        used = sup >= SUPPORT_LEVEL
        v, misfit = fit(g, rays, used.astype(g.dtype))
        return g, v, jnp.sum(sup) - misfit, jnp.sum(used) >= min(2, M), jnp.where(used, rays, -1)

    g_all, v_all, scores, confirmed, rays_all = jax.vmap(refine)(cand)
    scores = jnp.where(jnp.isfinite(scores), scores, -jnp.inf)
    free = jnp.ones(cand.shape[0], bool)
    alive = ok
    used = jnp.zeros(scans.valid.shape, bool)                                               # [M, Q]
    r_safe = jnp.maximum(rays_all, 0)                                                       # [C, M]
    picks, declared = [], []
    for _ in range(n_targets):
        # A detection already associated with a picked target explains no second one while its AP
        # has a valid detection left unused (with none left, two targets share it: a merged beam).
        spare = jnp.any(scans.valid & ~used, axis=1)                                        # [M]
        taken = used[ap_idx[None, :], r_safe] & (rays_all >= 0)                             # [C, M]
        fresh = ~jnp.any(taken & spare[None, :], axis=1)                                    # [C]
        strong, any_alive = alive & confirmed, jnp.any(alive)
        pool = free
        for tier in (alive, alive & fresh, strong, strong & fresh):                          # last non-empty wins
            pool = jnp.where(jnp.any(tier), tier, pool)
        best = jnp.argmax(jnp.where(pool, scores, -jnp.inf))
        picks.append(best)
        declared.append(any_alive & confirmed[best])
        near = jnp.linalg.norm(g_all - g_all[best][None], axis=-1) < nms_radius_m
        same = jnp.all(rays_all == rays_all[best][None], axis=-1)                         # the same detections
        alive = alive & ~near & ~same
        free = free.at[best].set(False)
        used = used.at[ap_idx, r_safe[best]].set(used[ap_idx, r_safe[best]] | (rays_all[best] >= 0))
    picks = jnp.stack(picks)
    return g_all[picks], v_all[picks], jnp.stack(declared)


def _fuse(scans: _Rays, tx, rx, kw, n_symbols: int):
    """:func:`_fuse_detected` with ``Q`` = rays per AP: positions ``[Q, 2]`` and velocities ``[Q, 2]``."""
    Q = scans.direction.shape[1]
    g, v, _ = _fuse_detected(scans, tx, rx, kw, n_symbols, Q)
    return g, v


def _pair_directions(g, tx, rx):
    """``u_tn + u_rm`` for every pair and target, ``[N, M, Q, 2]`` (unit vectors from the APs)."""
    def unit(aps):
        d = g[None] - aps[:, None, :]                                        # [A, Q, 2]
        return d / jnp.linalg.norm(d, axis=-1, keepdims=True)

    return unit(tx)[:, None] + unit(rx)[None, :]


def _velocity_ls(g, dopplers, tx, rx, carrier_hz, weights=None):
    """Velocities ``[Q, 2]`` from ``dopplers[M, Q, N]`` (Hz) at positions ``g[Q, 2]``: least squares
    of ``lambda f_D,nm = v . (u_tn + u_rm)`` over all pairs, each weighted by ``weights`` (broadcast
    to ``[M, Q, N]``; default 1)."""
    lam = SPEED_OF_LIGHT / carrier_hz
    A = jnp.moveaxis(_pair_directions(g, tx, rx), 2, 0).reshape(g.shape[0], -1, 2)   # [Q, N*M, 2]
    b = lam * jnp.transpose(dopplers, (1, 2, 0)).reshape(g.shape[0], -1)             # [Q, N*M] in (n, m) order
    w = jnp.ones_like(b) if weights is None else jnp.transpose(
        jnp.broadcast_to(weights, dopplers.shape), (1, 2, 0)).reshape(g.shape[0], -1)
    gram = jnp.einsum("qp,qpa,qpb->qab", w, A, A) + 1e-9 * jnp.eye(2)[None]
    rhs = jnp.einsum("qp,qpa,qp->qa", w, A, b)
    return jnp.linalg.solve(gram, rhs[..., None])[..., 0]


def _distributed(Y, x, tx, rx, n_targets, method, kw, settings):
    """Per-AP detection (:func:`_scan_ap`), then fusion (:func:`_fuse_detected`). Positions clipped
    to the area and velocities to ``[-v_max, v_max]`` per axis (the prior the scenario states), so
    one failed detection costs a bounded error. Returns ``(g[Q, 2], v[Q, 2], declared[Q])``."""
    scans = jax.vmap(lambda y_m, ap: _scan_ap(y_m, x, tx, ap, n_targets, method, kw, settings))(Y, rx)
    g, v, declared = _fuse_detected(scans, tx, rx, kw, Y.shape[-1], n_targets, settings.max_speed_mps)
    area = jnp.asarray(settings.area_m, g.dtype)
    return (jnp.clip(g, 0.0, area[None, :]), jnp.clip(v, -settings.max_speed_mps, settings.max_speed_mps),
            declared)


def _velocity_search(Y, x, tx, rx, g, kw, settings, n_peaks: int = 1):
    """Velocity of every target at known positions ``g[Q, 2]`` by a coherent multi-pair Doppler match
    (the start of ``ml_refined``): for each pair ``(n, m)`` the matched filter ``z_nm[t]`` at the
    target (receive beam, data and delay removed) is Fourier-summed at the Doppler ``f_nm(v)`` that a
    velocity hypothesis predicts, and ``sum_nm |.|^2`` is maximised over a grid of
    ``[-v_max, v_max]^2`` (step a quarter velocity cell). Returns ``[P, 2]``, or with ``n_peaks > 1``
    the ``n_peaks`` largest local maxima of that match per position, ``[P, n_peaks, 2]`` (two targets
    in one position cell are told apart by velocity alone)."""
    real = Y.real.dtype
    Ts = Y.shape[-1]
    Mr, Nt = Y.shape[1], x.shape[1]
    symbol_s = 1.0 / kw["scs_hz"] + kw["cp_s"]
    lam = SPEED_OF_LIGHT / kw["carrier_hz"]
    vmax = settings.max_speed_mps
    cell = lam / (2.0 * Ts * symbol_s)
    n_v = int(math.ceil(2.0 * vmax / (cell / 4.0))) + 1
    grid = jnp.linspace(-vmax, vmax, n_v, dtype=real)
    vv = jnp.stack(jnp.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)              # [V, 2]
    i = jnp.arange(Y.shape[2], dtype=real)
    t = jnp.arange(1, Ts + 1, dtype=real)

    def one(gq):
        to_tx, to_rx = gq[None] - tx, gq[None] - rx                                         # [N,2], [M,2]
        d_tx, d_rx = jnp.linalg.norm(to_tx, axis=-1), jnp.linalg.norm(to_rx, axis=-1)
        a_t = ula_response(-to_tx[:, 0] / d_tx, Nt, normalise=True)                         # [N, Nt]
        a_r = ula_response(to_rx[:, 0] / d_rx, Mr, normalise=True)                          # [M, Mr]
        r = jnp.einsum("ma,mait->mit", jnp.conj(a_r), Y)                                    # [M, Ns, Ts]
        sym = jnp.einsum("na,nait->nit", jnp.conj(a_t), x)                                  # [N, Ns, Ts]
        tau = (d_tx[:, None] + d_rx[None, :]) / SPEED_OF_LIGHT                              # [N, M]
        undelay = jnp.exp(2j * jnp.pi * kw["scs_hz"] * tau[..., None] * i[None, None, :])                  # [N, M, Ns]
        z = jnp.einsum("nmi,mit,nit->nmt", undelay, r, jnp.conj(sym))                       # [N, M, Ts]
        geom = (to_tx / d_tx[:, None])[:, None] + (to_rx / d_rx[:, None])[None]              # [N, M, 2]
        f = jnp.einsum("nmc,vc->vnm", geom, vv) / lam                                       # [V, N, M]
        phase = jnp.exp(-2j * jnp.pi * symbol_s * f[..., None] * t[None, None, None, :])                         # [V, N, M, Ts]
        score = jnp.sum(jnp.abs(jnp.einsum("vnmt,nmt->vnm", phase, z)) ** 2, axis=(1, 2))
        if n_peaks == 1:
            return vv[jnp.argmax(score)]
        sq = score.reshape(n_v, n_v)
        padded = jnp.pad(sq, 1, constant_values=-jnp.inf)
        neighbours = jnp.stack([padded[1 + a: 1 + a + n_v, 1 + b: 1 + b + n_v]
                                for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)])
        local = jnp.all(sq[None] >= neighbours, axis=0).reshape(-1)
        _, idx = jax.lax.top_k(jnp.where(local, score + jnp.max(score) + 1.0, score), n_peaks)
        return vv[idx]

    return jax.lax.map(one, g)


# --------------------------------------------------------------------------------- refined ML
def path_gram(f, Y):
    """``G_m = B_m^H B_m`` ``[M, NQ, NQ]`` and ``b_m = B_m^H y_m`` ``[M, NQ]`` of the unit-gain path columns
    ``B_m`` (order ``(n, q)``) of the factors ``f`` (:func:`path_factors`, beta = 1), formed from the separable
    factors (the receive array factor separates), never from ``B_m`` itself."""
    N, M, Q = f.delay.shape[:3]
    s = f.delay[..., :, None] * f.doppler[..., None, :] * f.tx_beam[:, None]          # [N,M,Q,Ns,Ts]
    s = jnp.moveaxis(s, 1, 0).reshape(M, N * Q, -1)                                   # [M, NQ, Ns Ts]
    spatial = jnp.tile(jnp.einsum("mqa,mpa->mqp", jnp.conj(f.a_r), f.a_r), (1, N, N))  # [M, NQ, NQ]
    gram = spatial * jnp.einsum("mkp,mlp->mkl", jnp.conj(s), s)
    beamformed = jnp.einsum("mqa,mait->mqit", jnp.conj(f.a_r), Y).reshape(M, 1, Q, -1)
    beamformed = jnp.broadcast_to(beamformed, (M, N, Q, beamformed.shape[-1])).reshape(M, N * Q, -1)
    return gram, jnp.sum(jnp.conj(s) * beamformed, axis=-1)


def concentrated_cost(psi, Y, x, tx, rx, n_targets, kw):
    """``min_beta ||Y - rho(psi, beta)||^2`` of (B.6) at ``psi[4Q]`` (beta per receive AP in closed form).

    Per AP ``m`` the echo is linear in ``beta_m[N Q]``: ``y_m = B_m beta_m``, so the minimum is
    ``||y_m||^2 - b_m^H G_m^{-1} b_m`` with ``G_m = B_m^H B_m``, ``b_m = B_m^H y_m`` (a linear solve).
    ``G_m`` and ``b_m`` are formed from the separable factors of :func:`path_factors` (the receive
    array factor separates), never from ``B_m`` itself.
    """
    Q = n_targets
    N, M = tx.shape[0], rx.shape[0]
    f = path_factors(tx, rx, psi[: 2 * Q].reshape(Q, 2), psi[2 * Q:].reshape(Q, 2),
                     jnp.ones((N, M, Q), x.dtype), x, **kw)
    gram, b = path_gram(f, Y)
    eye = jnp.eye(N * Q, dtype=gram.dtype)[None]
    ridge = 1e-12 * jnp.real(jnp.trace(gram, axis1=-2, axis2=-1))[:, None, None] / (N * Q)
    fit = jnp.real(jnp.sum(jnp.conj(b) * jnp.linalg.solve(gram + ridge * eye, b[..., None])[..., 0]))
    return jnp.sum(jnp.abs(Y) ** 2) - fit


def _candidate_pool(scans: _Rays):
    """Candidate target positions from one scheme's rays: the intersection of every tuple of rays
    (one per AP, ``Q^M`` of them, so two targets merged in one AP's beam but resolved by another
    both appear) and every ray's own range peak (``M Q``). ``[Q^M + M Q, 2]``."""
    M, Q = scans.direction.shape[0], scans.direction.shape[1]
    tuples = jnp.asarray(np.array(list(itertools.product(range(Q), repeat=M)), dtype=np.int32))   # [Q^M, M]
    ranged = jax.vmap(_range_positions)(scans)                                             # [M, Q, 2]
    ap_idx = jnp.arange(M)

    def point(rays):
        prior = jnp.mean(ranged[ap_idx, rays], axis=0)
        return _intersect(scans.origin, scans.direction[ap_idx, rays], prior)

    return jnp.concatenate([jax.vmap(point)(tuples), ranged.reshape(-1, 2)])


def grid_score(Y, x, tx, rx, kw, settings: EstimatorSettings):
    """Single-target back-projection of the echo over a position grid of the area: the coarse global
    search that starts ``ml_refined``.

    For a grid position ``g`` and pair ``(n, m)`` the matched filter on every ``s``-th symbol
    (``s = settings.ml_grid_symbol_stride``) is
    ``z_nm(g)[t] = sum_i exp(+j 2 pi i Delta f tau_nm(g)) (a_r^H y_{i,m}[t]) conj(a_t^H x_{i,n}[t])``,
    with the steering vectors at the grid's receive and departure direction cosines (taken from
    beams precomputed on a grid of ``8 M_r`` and ``8 N_t`` cosines). With one target and a free
    reflection coefficient per pair, the concentrated likelihood (B.6) is, up to constants and the
    cross terms between transmit APs, ``sum_nm |z_nm(g) . e^{-j 2 pi f t DeltaT}|^2 / E_n(g)``
    maximised over the Doppler ``f`` of each pair (a zero-padded DFT over the kept symbols; the
    stride keeps ``|f_D| s DeltaT < 1/2`` for the scenario's speeds), where ``E_n(g) = sum_{i,t}
    |a_t^H x_{i,n}[t]|^2`` is the energy of the unit-gain path column. Decimating the symbols costs
    ``10 log10 s`` dB of the score's SNR, not its peak position.

    Args:
        Y: echoes ``[M, M_r, N_s, T_s]``.
        x: transmitted tensor ``[N, N_t, N_s, T_s]``.
        tx, rx: AP positions ``[N, 2]``, ``[M, 2]`` (m).
        kw: the echo keywords (``carrier_hz``, ``scs_hz``, ``cp_s``).
        settings: grid step ``ml_grid_step_m`` (m), ``ml_grid_symbol_stride``, ``area_m``.

    Returns:
        ``(score[G_x, G_y], points[G_x, G_y, 2])``: the score (energy units of ``Y``) at the cell
        centres of a ``G_x x G_y`` grid of step at most ``ml_grid_step_m``.
    """
    real = Y.real.dtype
    sizes = [int(math.ceil(a / settings.ml_grid_step_m)) for a in settings.area_m]
    axes = [(jnp.arange(n, dtype=real) + 0.5) * (a / n) for n, a in zip(sizes, settings.area_m)]
    points = jnp.stack(jnp.meshgrid(*axes, indexing="ij"), axis=-1)                        # [Gx, Gy, 2]
    flat = _backprojection(Y, x, tx, rx, points.reshape(-1, 2), kw, settings.ml_grid_symbol_stride)
    return flat.reshape(points.shape[:2]), points


def _backprojection(Y, x, tx, rx, points, kw, stride):
    """The score of :func:`grid_score` at ``points[P, 2]`` (m) -> ``[P]``."""
    real = Y.real.dtype
    M, Mr, Ns, Ts = Y.shape
    Nt = x.shape[1]
    y, xs = Y[..., ::stride], x[..., ::stride]                                             # [.., Ns, T']
    cos_r = jnp.linspace(-1.0, 1.0, 8 * Mr, dtype=real)
    cos_t = jnp.linspace(-1.0, 1.0, 8 * Nt, dtype=real)
    rb = jnp.einsum("ga,mait->mgit", jnp.conj(ula_response(cos_r, Mr, normalise=True)), y)   # [M, Gr, Ns, T']
    tb = jnp.einsum("ga,nait->ngit", jnp.conj(ula_response(cos_t, Nt, normalise=True)), xs)  # [N, Gt, Ns, T']
    energy = jnp.sum(jnp.abs(tb) ** 2, axis=(-2, -1)) * stride                             # [N, Gt]
    i = jnp.arange(Ns, dtype=real)
    n_fft = 4 * y.shape[-1]

    def nearest(c, grid):
        return jnp.clip(jnp.round((c + 1.0) / (grid[1] - grid[0])).astype(jnp.int32), 0, grid.shape[0] - 1)

    def score(g):
        to_tx, to_rx = g[None] - tx, g[None] - rx                                          # [N,2], [M,2]
        d_tx, d_rx = jnp.linalg.norm(to_tx, axis=-1), jnp.linalg.norm(to_rx, axis=-1)
        jt = nearest(-to_tx[:, 0] / d_tx, cos_t)                                           # SPEC §5 axes
        jr = nearest(to_rx[:, 0] / d_rx, cos_r)
        r = rb[jnp.arange(M), jr]                                                          # [M, Ns, T']
        s = tb[jnp.arange(tx.shape[0]), jt]                                                # [N, Ns, T']
        tau = (d_tx[:, None] + d_rx[None, :]) / SPEED_OF_LIGHT                             # [N, M]
        undelay = jnp.exp(2j * jnp.pi * kw["scs_hz"] * tau[..., None] * i[None, None, :])   # [N, M, Ns]
        z = jnp.einsum("nmi,mit,nit->nmt", undelay, r, jnp.conj(s))                        # [N, M, T']
        peak = jnp.max(jnp.abs(jnp.fft.fft(z, n=n_fft, axis=-1)) ** 2, axis=-1)            # [N, M]
        return jnp.sum(peak / energy[jnp.arange(tx.shape[0]), jt][:, None])

    return jax.lax.map(score, points, batch_size=64)


def grid_peaks(Y, x, tx, rx, n_peaks, kw, settings: EstimatorSettings):
    """The ``n_peaks`` largest local maxima (3 x 3 neighbourhood) of :func:`grid_score`, ``[n_peaks, 2]``
    (m); when fewer exist, the largest remaining grid points fill up."""
    score, points = grid_score(Y, x, tx, rx, kw, settings)
    padded = jnp.pad(score, 1, constant_values=-jnp.inf)
    gx, gy = score.shape
    neighbours = jnp.stack([padded[1 + a: 1 + a + gx, 1 + b: 1 + b + gy]
                            for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)])
    local = jnp.all(score[None] >= neighbours, axis=0)
    # Local maxima rank above every other point (the score is >= 0).
    _, idx = jax.lax.top_k(jnp.where(local, score + jnp.max(score) + 1.0, score).reshape(-1), n_peaks)
    return points.reshape(-1, 2)[idx]


def _relax(psi, Y, x, tx, rx, n_targets, kw, settings, half_width_m=12.0, step_m=2.0):
    """One RELAX pass (cyclic single-target re-estimation with the others cancelled) on ``psi[4Q]``:
    for each target in turn the reflection coefficients of the current ``psi`` are fitted per
    receive AP (:func:`path_gram`, a linear solve), the other targets' fitted paths are subtracted
    from ``Y``, and the target is searched again on the residual — position on a window of
    ``+-half_width_m`` around its estimate (step ``step_m``, score of :func:`grid_score`), then
    velocity (:func:`_velocity_search`). Two targets within one resolution cell otherwise share one
    peak of the single-target searches, which sits at neither. Returns ``psi[4Q]``."""
    Q = n_targets
    N, M = tx.shape[0], rx.shape[0]
    real = Y.real.dtype
    area = jnp.asarray(settings.area_m, real)
    offs = jnp.arange(-half_width_m, half_width_m + 0.5 * step_m, step_m, dtype=real)
    window = jnp.stack(jnp.meshgrid(offs, offs, indexing="ij"), -1).reshape(-1, 2)         # [W, 2]
    g, v = psi[: 2 * Q].reshape(Q, 2), psi[2 * Q:].reshape(Q, 2)
    for q in range(Q):
        f = path_factors(tx, rx, g, v, jnp.ones((N, M, Q), x.dtype), x, **kw)
        gram, b = path_gram(f, Y)
        ridge = 1e-12 * jnp.real(jnp.trace(gram, axis1=-2, axis2=-1))[:, None, None] / (N * Q)
        coef = jnp.linalg.solve(gram + ridge * jnp.eye(N * Q, dtype=gram.dtype)[None], b[..., None])[..., 0]
        coef = jnp.transpose(coef.reshape(M, N, Q), (1, 0, 2))                             # [N, M, Q]
        keep = (jnp.arange(Q) != q).astype(f.delay.dtype)
        resid = Y - combine_paths(f._replace(delay=f.delay * (coef * keep[None, None, :])[..., None]))
        pts = jnp.clip(g[q][None] + window, 0.0, area[None, :])
        score = _backprojection(resid, x, tx, rx, pts, kw, settings.ml_grid_symbol_stride)
        g = g.at[q].set(pts[jnp.argmax(score)])
        v = v.at[q].set(_velocity_search(resid, x, tx, rx, g[q][None], kw, settings)[0])
    return _pack(g, v)


def _ml_start(Y, x, tx, rx, n_targets, kw, settings):
    """Start of ``ml_refined``: the lowest :func:`concentrated_cost` among the fused ``music`` and
    ``cs`` estimates and a greedy pick from a candidate pool, then RELAX passes (:func:`_relax`)
    kept only if they lower the cost.

    The pool: the positions from the ``music`` and ``cs`` rays (:func:`_candidate_pool`) and the
    ``ml_grid_peaks`` peaks of the global grid search (:func:`grid_peaks`), all clipped to the area,
    each with the best (``Q = 1``) or two best (``Q > 1``) velocities of the coherent multi-pair
    Doppler search. The greedy pick chooses targets one at a time, each the candidate that most
    lowers the joint concentrated cost given those already chosen (a duplicate of a chosen target
    explains no new energy, so it is not chosen twice). With ``Q > 1`` the best start is joined by
    its best split starts (:func:`_with_split_starts`). Returns ``starts[S, 4Q]``, best first."""
    real = Y.real.dtype
    area = jnp.asarray(settings.area_m, real)
    pool, fused = [], []
    for method in ("music", "cs"):
        scans = jax.vmap(lambda y_m, ap: _scan_ap(y_m, x, tx, ap, n_targets, method, kw, settings))(Y, rx)
        pool.append(_candidate_pool(scans))
        g, v = _fuse(scans, tx, rx, kw, Y.shape[-1])
        fused.append(_pack(jnp.clip(g, 0.0, area[None, :]),
                           jnp.clip(v, -settings.max_speed_mps, settings.max_speed_mps)))
    if settings.ml_grid_peaks > 0:
        pool.append(grid_peaks(Y, x, tx, rx, settings.ml_grid_peaks, kw, settings))
    g_pool = jnp.clip(jnp.concatenate(pool), 0.0, area[None, :])                          # [P, 2]
    k = 2 if n_targets > 1 else 1
    v_pool = _velocity_search(Y, x, tx, rx, g_pool, kw, settings, n_peaks=k).reshape(-1, 2)   # [P k, 2]
    g_pool = jnp.repeat(g_pool, k, axis=0)
    g_sel = jnp.zeros((0, 2), real)
    v_sel = jnp.zeros((0, 2), real)
    for q in range(n_targets):
        def cost(g, v):
            gg, vv = jnp.concatenate([g_sel, g[None]]), jnp.concatenate([v_sel, v[None]])
            return concentrated_cost(_pack(gg, vv), Y, x, tx, rx, q + 1, kw)
        best = jnp.argmin(jax.vmap(cost)(g_pool, v_pool))
        g_sel = jnp.concatenate([g_sel, g_pool[best][None]])
        v_sel = jnp.concatenate([v_sel, v_pool[best][None]])
    starts = jnp.stack([_pack(g_sel, v_sel)] + fused)                                      # [3, 4Q]
    cost = jax.vmap(lambda p: concentrated_cost(p, Y, x, tx, rx, n_targets, kw))
    best = starts[jnp.argmin(cost(starts))]
    relaxed = best
    for _ in range(settings.ml_relax_passes):
        relaxed = _relax(relaxed, Y, x, tx, rx, n_targets, kw, settings)
    both = jnp.stack([best, relaxed])
    return _with_split_starts(both[jnp.argmin(cost(both))], Y, x, tx, rx, n_targets, kw, settings)


def _with_split_starts(psi, Y, x, tx, rx, n_targets, kw, settings):
    """``psi[4Q]`` and the ``ml_split_starts`` split candidates of :func:`_split_starts` with the lowest
    :func:`concentrated_cost` (steps ``ml_split_fraction`` of a range cell ``c / (N_s Delta f)`` in
    position and of a velocity cell in velocity; positions clipped to the area), ``[S, 4Q]``."""
    if n_targets < 2 or settings.ml_split_starts == 0:
        return psi[None]
    res = resolution(Y.shape[2], Y.shape[3], carrier_hz=kw["carrier_hz"], scs_hz=kw["scs_hz"], cp_s=kw["cp_s"])
    splits = _split_starts(psi, n_targets, settings.ml_split_fraction * res["range_m"],
                           settings.ml_split_fraction * res["velocity_mps"])
    area = jnp.asarray(settings.area_m, psi.dtype)
    pos = jnp.clip(splits[:, : 2 * n_targets].reshape(-1, n_targets, 2), 0.0, area[None, None, :])
    splits = splits.at[:, : 2 * n_targets].set(pos.reshape(splits.shape[0], -1))
    cost = jax.vmap(lambda p: concentrated_cost(p, Y, x, tx, rx, n_targets, kw))(splits)
    _, top = jax.lax.top_k(-jnp.where(jnp.isfinite(cost), cost, jnp.inf), min(settings.ml_split_starts,
                                                                                 splits.shape[0]))
    return jnp.concatenate([psi[None], splits[top]])


def _refine_starts(starts, Y, x, tx, rx, n_targets, kw, settings):
    """Multi-start refinement: ``ml_iterations`` damped-Newton steps (:func:`refine_ml`) from each of
    ``starts[S, 4Q]``, the lowest final :func:`concentrated_cost` kept and refined for
    ``ml_polish_iterations`` more steps (a target near an AP, where the likelihood is far from
    quadratic, converges slowly). Returns ``psi[4Q]``."""
    finals = jax.vmap(lambda p: refine_ml(p, Y, x, tx, rx, n_targets, kw, settings.ml_iterations))(starts)
    costs = jax.vmap(lambda p: concentrated_cost(p, Y, x, tx, rx, n_targets, kw))(finals)
    psi = finals[jnp.argmin(jnp.where(jnp.isfinite(costs), costs, jnp.inf))]
    if settings.ml_polish_iterations > 0:
        psi = refine_ml(psi, Y, x, tx, rx, n_targets, kw, settings.ml_polish_iterations)
    return psi


def _split_starts(psi, n_targets, step_m, step_mps):
    """Candidates that split target ``q`` of ``psi[4Q]`` into a pair placed apart within one
    resolution cell: for every ordered pair ``(q, p)``, ``p != q``, target ``q`` moves to
    ``(g_q + a, v_q + b)`` and target ``p`` to ``(g_q - a, v_q - b)``, with ``a`` in
    ``{0} + step_m {4 directions over 180 deg}`` and ``b`` in ``{0} + step_mps {8 directions}``
    (``(a, b) != 0``). Two targets within one range and one velocity cell give one peak of every
    single-target search, which the starts place both targets on (or one there and one elsewhere);
    a split start lies near the pair on both sides. Returns ``[Q (Q - 1) 44, 4Q]``."""
    Q = n_targets
    real = psi.dtype
    ang4 = jnp.arange(4, dtype=real) * jnp.pi / 4
    ang8 = jnp.arange(8, dtype=real) * jnp.pi / 4
    a = jnp.concatenate([jnp.zeros((1, 2), real), step_m * jnp.stack([jnp.cos(ang4), jnp.sin(ang4)], -1)])   # [5, 2]
    b = jnp.concatenate([jnp.zeros((1, 2), real), step_mps * jnp.stack([jnp.cos(ang8), jnp.sin(ang8)], -1)])  # [9, 2]
    ab = jnp.stack(jnp.meshgrid(jnp.arange(5), jnp.arange(9), indexing="ij"), -1).reshape(-1, 2)[1:]       # [44, 2]
    da, db = a[ab[:, 0]], b[ab[:, 1]]                                                                      # [44, 2]
    g, v = psi[: 2 * Q].reshape(Q, 2), psi[2 * Q:].reshape(Q, 2)
    out = []
    for q, p in itertools.permutations(range(Q), 2):
        gs = jnp.broadcast_to(g, (da.shape[0], Q, 2)).at[:, q].set(g[q][None] + da).at[:, p].set(g[q][None] - da)
        vs = jnp.broadcast_to(v, (db.shape[0], Q, 2)).at[:, q].set(v[q][None] + db).at[:, p].set(v[q][None] - db)
        out.append(jnp.concatenate([gs.reshape(-1, 2 * Q), vs.reshape(-1, 2 * Q)], axis=-1))
    return jnp.concatenate(out)


def refine_ml(psi0, Y, x, tx, rx, n_targets, kw, n_iter: int):
    """Damped Newton from ``psi0[4Q]`` on :func:`concentrated_cost` (exact Hessian by forward-over-reverse autodiff; curvature
    made positive by taking eigenvalue magnitudes in Marquardt-scaled variables, a step accepted only
    when it lowers the cost, the damping adapted as in Levenberg–Marquardt). Returns ``psi[4Q]``."""
    def cost(p):
        return concentrated_cost(p, Y, x, tx, rx, n_targets, kw)

    grad = jax.grad(cost)
    basis = jnp.eye(psi0.shape[0], dtype=psi0.dtype)

    def step(carry, _):
        psi, mu, c = carry
        g = grad(psi)
        # Hessian columns as Hessian-vector products, one at a time (4x faster on a CPU than the
        # batched jax.hessian, and exact).
        h = jax.lax.map(lambda e: jax.jvp(grad, (psi,), (e,))[1], basis)
        h = 0.5 * (h + h.T)
        scale = 1.0 / jnp.sqrt(jnp.abs(jnp.diagonal(h)) + 1e-300)
        lam, vec = jnp.linalg.eigh(h * scale[:, None] * scale[None, :])
        lam = jnp.abs(lam) + mu * jnp.max(jnp.abs(lam))
        delta = -scale * (vec @ ((vec.T @ (scale * g)) / lam))
        cand = psi + delta
        c_new = cost(cand)
        ok = jnp.isfinite(c_new) & (c_new < c)
        return (jnp.where(ok, cand, psi), jnp.where(ok, mu / 3.0, mu * 4.0), jnp.where(ok, c_new, c)), None

    (psi, _, _), _ = jax.lax.scan(step, (psi0, jnp.asarray(1e-3, psi0.dtype), cost(psi0)), None, length=n_iter)
    return psi


def _pack(g, v):
    return jnp.concatenate([g.reshape(-1), v.reshape(-1)])


# ------------------------------------------------------------------------------- entry point
def _check(scheme, Y, x, tx, rx, n_targets, n_rx):
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if jnp.ndim(Y) != 4:
        raise ValueError(f"Y must have shape [M, M_r, N_s, T_s], got {list(jnp.shape(Y))}")
    if jnp.ndim(x) != 4:
        raise ValueError(f"x must have shape [N, N_t, N_s, T_s], got {list(jnp.shape(x))}")
    M, Mr, Ns, Ts = Y.shape
    if Y.shape[1] != n_rx:
        raise ValueError(f"Y has {Mr} receive antennas per AP but n_rx={n_rx}")
    if x.shape[2:] != (Ns, Ts):
        raise ValueError(f"x has N_s x T_s = {tuple(x.shape[2:])} but Y has {(Ns, Ts)}: the grids must match")
    if jnp.shape(tx) != (x.shape[0], 2) or jnp.shape(rx) != (M, 2):
        raise ValueError(f"tx must be [N={x.shape[0]}, 2] and rx [M={M}, 2], got {list(jnp.shape(tx))} "
                         f"and {list(jnp.shape(rx))}")
    n_targets = check_int("n_targets", n_targets)
    for name, arr in (("Y", Y), ("x", x), ("tx", tx), ("rx", rx)):
        check_finite(name, arr)    # concrete values only (the tracer rule of core.validate)
    if n_targets >= Mr:
        raise ValueError(f"n_targets={n_targets} must be < n_rx={Mr}: an {Mr}-element array resolves at "
                         f"most {Mr - 1} angles (MUSIC needs a noise subspace)")


def estimate_detections(scheme, Y, x, tx, rx, *, n_targets, n_rx=16, carrier_hz=30e9, scs_hz=240e3, cp_s=1.04e-6,
                        pathloss_ref_db=-60.0, pathloss_exp=2.0, ref_distance_m=1.0,
                        settings: EstimatorSettings = EstimatorSettings()):
    """:func:`estimate` with the detection verdict: ``(locations[Q, 2], velocities[Q, 2], declared[Q])``.

    ``declared[q]`` is True when the scheme declares estimate ``q`` a detected target: for ``music``
    and ``cs`` the fusion's rule (:func:`_fuse_detected`: a candidate seeded by valid per-AP
    detections and supported by at least two receive APs); for ``monostatic`` the BS's own
    detection rule (:func:`_detect_angles`, beam-space CA-CFAR); ``ml_refined`` estimates a known
    number of targets and declares all of them. An undeclared estimate is still placed (the best
    remaining candidate), so a missed target costs its distance to it in the RMSE.
    """
    _check(scheme, Y, x, tx, rx, n_targets, n_rx)
    check_echo_kwargs(carrier_hz=carrier_hz, scs_hz=scs_hz, cp_s=cp_s, pathloss_ref_db=pathloss_ref_db,
                      pathloss_exp=pathloss_exp, ref_distance_m=ref_distance_m)
    kw = dict(n_rx=n_rx, carrier_hz=carrier_hz, scs_hz=scs_hz, cp_s=cp_s, pathloss_ref_db=pathloss_ref_db,
              pathloss_exp=pathloss_exp, ref_distance_m=ref_distance_m)
    real = jnp.real(Y).dtype
    tx, rx = jnp.asarray(tx, real), jnp.asarray(rx, real)
    if scheme == "monostatic":
        rays = _scan_ap(Y[0], x, tx, rx[0], n_targets, "bartlett", kw, settings)
        pos = _range_positions(rays)
        return pos, jnp.full_like(pos, jnp.nan), rays.valid
    if scheme in ("music", "cs"):
        return _distributed(Y, x, tx, rx, n_targets, scheme, kw, settings)
    psi = _refine_starts(_ml_start(Y, x, tx, rx, n_targets, kw, settings), Y, x, tx, rx, n_targets, kw, settings)
    Q = n_targets
    return psi[: 2 * Q].reshape(Q, 2), psi[2 * Q:].reshape(Q, 2), jnp.ones(Q, bool)


def estimate(scheme, Y, x, tx, rx, *, n_targets, n_rx=16, carrier_hz=30e9, scs_hz=240e3, cp_s=1.04e-6,
             pathloss_ref_db=-60.0, pathloss_exp=2.0, ref_distance_m=1.0,
             settings: EstimatorSettings = EstimatorSettings()):
    """Estimate ``(locations[Q, 2] (m), velocities[Q, 2] (m/s))`` of one sample (stable API, SPEC §13).

    ``Y[M, M_r, N_s, T_s]`` echoes at the receive APs ``rx[M, 2]`` of the transmit tensor
    ``x[N, N_t, N_s, T_s]`` from ``tx[N, 2]``; for ``monostatic`` pass the BS's own echo with
    ``tx = rx = [[50, 0]]``. ``scheme`` in :data:`SCHEMES`; ``monostatic`` velocities are NaN.
    Targets come in any order; every one of the ``Q`` estimates is placed, whether or not the scheme
    declares it detected (:func:`estimate_detections`). Jit-able with ``scheme``, ``n_targets`` and
    the keywords static.
    """
    g, v, _ = estimate_detections(scheme, Y, x, tx, rx, n_targets=n_targets, n_rx=n_rx, carrier_hz=carrier_hz,
                                  scs_hz=scs_hz, cp_s=cp_s, pathloss_ref_db=pathloss_ref_db,
                                  pathloss_exp=pathloss_exp, ref_distance_m=ref_distance_m, settings=settings)
    return g, v
