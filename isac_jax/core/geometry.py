"""Geometry of Paper A (Sec. V.A): devices and target in ring sectors around the PS.

The PS sits at the origin. A :class:`RingSector` is the set of points whose horizontal distance
from the origin lies in ``[r_min_m, r_max_m]``, whose azimuth lies in
``[arc_start_deg, arc_start_deg + arc_width_deg]`` and whose altitude lies in ``[z_min_m, z_max_m]``.
Sampling is uniform in *area* (radius drawn as ``sqrt(U(r_min^2, r_max^2))``) and uniform in
azimuth and altitude. Defaults: devices in the 50-100 m ring at altitude 0, target in the
100-110 m ring at altitude U[0, 3] m, both inside the same 20-degree arc.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .validate import check_finite, check_int


@dataclasses.dataclass(frozen=True)
class RingSector:
    """Annular sector with an altitude slab (all lengths in metres, angles in degrees)."""

    r_min_m: float
    r_max_m: float
    arc_start_deg: float = 0.0
    arc_width_deg: float = 20.0
    z_min_m: float = 0.0
    z_max_m: float = 0.0

    def __post_init__(self):
        for name in ("r_min_m", "r_max_m", "arc_start_deg", "arc_width_deg", "z_min_m", "z_max_m"):
            check_finite(name, getattr(self, name), allow_complex=False)
        if not (0.0 <= self.r_min_m <= self.r_max_m):
            raise ValueError(f"RingSector needs 0 <= r_min_m <= r_max_m, got {self.r_min_m}, {self.r_max_m}")
        if not (0.0 < self.arc_width_deg <= 360.0):
            raise ValueError(f"arc_width_deg must be in (0, 360], got {self.arc_width_deg}")
        if self.z_min_m > self.z_max_m:
            raise ValueError(f"RingSector needs z_min_m <= z_max_m, got {self.z_min_m}, {self.z_max_m}")

    def sample(self, key, n: int):
        """``n`` points uniform in the sector. Output: float ``[n, 3]`` (metres)."""
        n = check_int("n", n)
        k_r, k_phi, k_z = jax.random.split(key, 3)
        r2 = jax.random.uniform(k_r, (n,), minval=self.r_min_m**2, maxval=self.r_max_m**2)
        phi = jnp.deg2rad(self.arc_start_deg + self.arc_width_deg * jax.random.uniform(k_phi, (n,)))
        z = jax.random.uniform(k_z, (n,), minval=self.z_min_m, maxval=self.z_max_m)
        r = jnp.sqrt(r2)
        return jnp.stack([r * jnp.cos(phi), r * jnp.sin(phi), z], axis=-1)

    def to_cylindrical(self, points):
        """``[..., 3]`` Cartesian -> ``[..., 3]`` (r, azimuth in degrees, z)."""
        p = jnp.asarray(points)
        r = jnp.hypot(p[..., 0], p[..., 1])
        phi = jnp.rad2deg(jnp.arctan2(p[..., 1], p[..., 0]))
        # Unwrap the azimuth so that the arc is contiguous.
        phi = self.arc_start_deg + jnp.mod(phi - self.arc_start_deg + 180.0, 360.0) - 180.0
        return jnp.stack([r, phi, p[..., 2]], axis=-1)

    def from_cylindrical(self, cyl):
        """``[..., 3]`` (r, azimuth in degrees, z) -> Cartesian ``[..., 3]``."""
        c = jnp.asarray(cyl)
        phi = jnp.deg2rad(c[..., 1])
        return jnp.stack([c[..., 0] * jnp.cos(phi), c[..., 0] * jnp.sin(phi), c[..., 2]], axis=-1)

    def project(self, points):
        """Nearest-in-cylindrical-coordinates point of the sector (clips r, azimuth, z)."""
        c = self.to_cylindrical(points)
        lo = jnp.array([self.r_min_m, self.arc_start_deg, self.z_min_m], dtype=c.dtype)
        hi = jnp.array([self.r_max_m, self.arc_start_deg + self.arc_width_deg, self.z_max_m], dtype=c.dtype)
        return self.from_cylindrical(jnp.clip(c, jnp.broadcast_to(lo, c.shape), jnp.broadcast_to(hi, c.shape)))

    def contains(self, points, *, tol: float = 1e-6):
        """Boolean ``[...]``: whether each point lies in the sector (up to ``tol``)."""
        c = self.to_cylindrical(points)
        return ((c[..., 0] >= self.r_min_m - tol) & (c[..., 0] <= self.r_max_m + tol)
                & (c[..., 1] >= self.arc_start_deg - tol)
                & (c[..., 1] <= self.arc_start_deg + self.arc_width_deg + tol)
                & (c[..., 2] >= self.z_min_m - tol) & (c[..., 2] <= self.z_max_m + tol))

    def grid(self, n_r: int = 8, n_phi: int = 8, n_z: int = 3):
        """Regular grid over the sector (edges included). Output: float ``[n_r*n_phi*n_z, 3]``."""
        r = np.linspace(self.r_min_m, self.r_max_m, n_r)
        phi = np.linspace(self.arc_start_deg, self.arc_start_deg + self.arc_width_deg, n_phi)
        z = np.linspace(self.z_min_m, self.z_max_m, n_z) if self.z_max_m > self.z_min_m else np.array([self.z_min_m])
        cyl = np.stack(np.meshgrid(r, phi, z, indexing="ij"), axis=-1).reshape(-1, 3)
        return self.from_cylindrical(jnp.asarray(cyl))


#: Paper A, Sec. V.A: devices in the 50-100 m ring, altitude 0, inside a 20-degree arc.
PAPER_A_DEVICE_REGION = RingSector(50.0, 100.0, 0.0, 20.0, 0.0, 0.0)
#: Paper A, Sec. V.A: target in the 100-110 m ring, altitude U[0, 3] m, same arc.
PAPER_A_TARGET_REGION = RingSector(100.0, 110.0, 0.0, 20.0, 0.0, 3.0)


def sample_paper_a_geometry(key, n_devices: int, *, device_region: RingSector = PAPER_A_DEVICE_REGION,
                            target_region: RingSector = PAPER_A_TARGET_REGION):
    """Draw device positions ``[K, 3]`` and one target position ``[3]`` (metres)."""
    k_dev, k_tgt = jax.random.split(key)
    return device_region.sample(k_dev, n_devices), target_region.sample(k_tgt, 1)[0]
