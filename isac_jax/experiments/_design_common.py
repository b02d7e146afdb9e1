"""Shared pieces of the Paper A design experiments (Figs. 7-10, ``a-pareto-crb``).

An *instance* is one draw of the Sec. V.A geometry (devices, Theorem 2's constant rho over the
target region) and i.i.d. Rayleigh uplink channels, with uniform aggregation weights and DFT
pulses. The design experiments run in float64 (:func:`float64`): the FIM of a badly placed
target is nearly singular (e.g. the range/azimuth block at zero altitude), and its CRB overflows the
Cholesky factorisation in float32. The epsilon-constraint parameter is given as the *energy fraction*
``eta = 1 / (eps K P)`` in ``(0, 1]``: (A.30b) then asks for ``sum_k ||C_k||^2 >= eta K P``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..core.geometry import PAPER_A_TARGET_REGION, sample_paper_a_geometry
from ..core.pulses import dft_pulses
from ..ota.bounds import crb_lower_bound, universal_constant, worst_case_crb
from ..ota.crb_design import design_crb_aware, smooth_worst_crb
from ..ota.design import bcd_trace
from ..ota.scenario import rayleigh_channels, uniform_weights


def float64():
    """Context manager enabling float64 in JAX (``jax.enable_x64`` or, on older JAX, the experimental one)."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64
    return enable_x64()


@dataclasses.dataclass(frozen=True)
class DesignSetup:
    """Physical and solver settings shared by the design experiments (powers in W, lengths in m)."""

    n_devices: int = 15
    n_antennas: int = 4
    n_ps_antennas: int = 16
    n_tasks: int = 2
    frame_length: int = 32
    power_w: float = 1.0
    noise_var_w: float = 1e-2
    echo_noise_var_w: float = 1e-5
    max_iter: int = 30
    n_cstep_iter: int = 200
    region_grid: tuple = (4, 4, 3)      # target samples of the CRB-aware constraint
    worst_grid: tuple = (8, 8, 3)       # grid of the exact worst-case CRB search (then gradient ascent)
    al_iter: int = 20                   # BCD iterations of the CRB-aware design
    al_inner: int = 25                  # projected-gradient steps per CRB-aware C-step


def draw_instance(key, setup: DesignSetup, *, K=None, N=None, I=None, T=None):
    """One instance: ``dict(H, W, pulses, devices, rho)`` (sizes from ``setup`` unless overridden)."""
    K = setup.n_devices if K is None else K
    N = setup.n_ps_antennas if N is None else N
    I = setup.n_tasks if I is None else I
    T = setup.frame_length if T is None else T
    k_geo, k_h = jax.random.split(key)
    devices, _ = sample_paper_a_geometry(k_geo, K)
    H = rayleigh_channels(k_h, K, N, setup.n_antennas, dtype=devices.dtype)
    return {"H": H, "W": uniform_weights(K, I, dtype=devices.dtype), "pulses": dft_pulses(K, T).astype(H.dtype),
            "devices": devices, "rho": universal_constant(devices, setup.n_antennas, PAPER_A_TARGET_REGION)}


def exact_worst_crb(inst, C, setup: DesignSetup):
    """(A.21) of precoders ``C`` by grid search + projected gradient ascent (m^2)."""
    T = inst["pulses"].shape[1]
    value, _ = worst_case_crb(inst["devices"], C, setup.echo_noise_var_w, T, setup.power_w, PAPER_A_TARGET_REGION,
                              grid_shape=setup.worst_grid)
    return value


def eps_design(inst, setup: DesignSetup, energy_fraction, *, key=None):
    """Algorithm 1 at ``eps = 1/(eta K P)``; returns the BCD trace plus ``crb_l`` of the result."""
    K = inst["H"].shape[0]
    eps = 1.0 / (energy_fraction * K * setup.power_w)
    tr = bcd_trace(inst["H"], inst["W"], inst["pulses"], setup.noise_var_w, setup.power_w, eps,
                   max_iter=setup.max_iter, tol=0.0, key=key, n_cstep_iter=setup.n_cstep_iter)
    T = inst["pulses"].shape[1]
    return tr, crb_lower_bound(tr.C, setup.echo_noise_var_w, T, inst["rho"])


def eps_front(inst, setup: DesignSetup, energy_fractions):
    """epsilon-constraint front: ``dict(mse, energy, crb_l, crb_worst)``, each ``[E]``."""
    def one(eta):
        tr, crb_l = eps_design(inst, setup, eta)
        return {"mse": tr.mse[-1], "energy": tr.energy[-1], "crb_l": crb_l,
                "crb_worst": exact_worst_crb(inst, tr.C, setup)}

    return jax.vmap(one)(jnp.asarray(energy_fractions))


def crb_aware_front(inst, setup: DesignSetup, crb_fractions):
    """CRB-aware front for targets ``beta = c * CRB_ref``, ``CRB_ref`` the smooth worst-case CRB of the
    MSE-optimal design (eta -> 0). Returns ``dict(mse, crb_worst, crb_l, crb_target, feasible)`` ``[C]``."""
    T = inst["pulses"].shape[1]
    samples = PAPER_A_TARGET_REGION.grid(*setup.region_grid)
    tr_ref, _ = eps_design(inst, setup, 1e-6)
    ref = smooth_worst_crb(tr_ref.C, inst["devices"], samples, setup.echo_noise_var_w, T)

    def one(c):
        out = design_crb_aware(inst["H"], inst["W"], inst["pulses"], setup.noise_var_w, setup.power_w, c * ref,
                               inst["devices"], setup.echo_noise_var_w, samples, max_iter=setup.al_iter,
                               n_inner=setup.al_inner)
        return {"mse": out.mse[-1], "crb_worst": exact_worst_crb(inst, out.C, setup),
                "crb_l": crb_lower_bound(out.C, setup.echo_noise_var_w, T, inst["rho"]),
                "crb_target": c * ref, "feasible": out.feasible.astype(out.mse.dtype)}

    return jax.vmap(one)(jnp.asarray(crb_fractions))


def mean_over_trials(out: dict, names) -> dict:
    """``{name: mean over the trial axis (axis 1)}`` of :func:`run_sweep` outputs."""
    return {n: np.asarray(out[n]).mean(axis=1) for n in names}
