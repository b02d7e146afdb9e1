"""Shared pieces of the Paper A design experiments (Figs. 7-10, ``a-pareto-crb``).

An *instance* is one draw of the Sec. V.A geometry (devices, Theorem 2's constant rho over the
target region) and i.i.d. Rayleigh uplink channels of a :class:`~isac_jax.ota.PaperASystem`, with
uniform aggregation weights and DFT pulses. The design experiments run in float64
(:func:`~isac_jax.core.float64`): the FIM of a badly placed target is nearly singular (e.g. the
range/azimuth block at zero altitude), and its CRB overflows the Cholesky factorisation in float32.
The epsilon-constraint parameter is given as the *energy fraction* ``eta = 1 / (eps K P)`` in
``(0, 1]``: (A.30b) then asks for ``sum_k ||C_k||^2 >= eta K P``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from ...core.geometry import PAPER_A_TARGET_REGION, sample_paper_a_geometry
from ...core.pulses import dft_pulses
from ...ota.bounds import crb_lower_bound, universal_constant, worst_case_crb
from ...ota.crb_design import design_crb_aware, smooth_worst_crb
from ...ota.design import bcd_trace
from ...ota.scenario import rayleigh_channels, uniform_weights
from ...ota.system import PaperASystem


@dataclasses.dataclass(frozen=True)
class DesignSolver:
    """Solver settings of the design experiments: BCD iterations ``max_iter`` with ``n_cstep_iter``
    projected-gradient steps per C-step (Algorithm 1), the target grids of the CRB-aware constraint
    (``region_grid``) and of the exact worst-case CRB search (``worst_grid``), and the BCD / inner
    iterations of the CRB-aware design (``al_iter`` / ``al_inner``)."""

    max_iter: int = 30
    n_cstep_iter: int = 200
    region_grid: tuple = (4, 4, 3)      # target samples of the CRB-aware constraint
    worst_grid: tuple = (8, 8, 3)       # grid of the exact worst-case CRB search (then gradient ascent)
    al_iter: int = 20                   # BCD iterations of the CRB-aware design
    al_inner: int = 25                  # projected-gradient steps per CRB-aware C-step


def draw_instance(key, system: PaperASystem):
    """One instance of ``system``: ``dict(H, W, pulses, devices, rho)``."""
    K, N, M, I, T = (system.n_devices, system.n_ps_antennas, system.n_antennas, system.n_tasks,
                     system.frame_length)
    k_geo, k_h = jax.random.split(key)
    devices, _ = sample_paper_a_geometry(k_geo, K)
    H = rayleigh_channels(k_h, K, N, M, dtype=devices.dtype)
    return {"H": H, "W": uniform_weights(K, I, dtype=devices.dtype), "pulses": dft_pulses(K, T).astype(H.dtype),
            "devices": devices, "rho": universal_constant(devices, M, PAPER_A_TARGET_REGION, **system.path_loss)}


def exact_worst_crb(inst, C, system: PaperASystem, solver: DesignSolver):
    """(A.21) of precoders ``C`` by grid search + projected gradient ascent (m^2)."""
    T = inst["pulses"].shape[1]
    value, _ = worst_case_crb(inst["devices"], C, system.echo_noise_var_w, T, system.power_w, PAPER_A_TARGET_REGION,
                              grid_shape=solver.worst_grid, **system.path_loss)
    return value


def eps_design(inst, system: PaperASystem, solver: DesignSolver, energy_fraction, *, key=None):
    """Algorithm 1 at ``eps = 1/(eta K P)``; returns the BCD trace plus ``crb_l`` of the result."""
    K = inst["H"].shape[0]
    eps = 1.0 / (energy_fraction * K * system.power_w)
    tr = bcd_trace(inst["H"], inst["W"], inst["pulses"], system.noise_var_w, system.power_w, eps,
                   max_iter=solver.max_iter, tol=0.0, key=key, n_cstep_iter=solver.n_cstep_iter)
    T = inst["pulses"].shape[1]
    return tr, crb_lower_bound(tr.C, system.echo_noise_var_w, T, inst["rho"])


def eps_front(inst, system: PaperASystem, solver: DesignSolver, energy_fractions):
    """epsilon-constraint front: ``dict(mse, energy, crb_l, crb_worst)``, each ``[E]``."""
    def one(eta):
        tr, crb_l = eps_design(inst, system, solver, eta)
        return {"mse": tr.mse[-1], "energy": tr.energy[-1], "crb_l": crb_l,
                "crb_worst": exact_worst_crb(inst, tr.C, system, solver)}

    return jax.vmap(one)(jnp.asarray(energy_fractions))


def crb_aware_front(inst, system: PaperASystem, solver: DesignSolver, crb_fractions):
    """CRB-aware front for targets ``beta = c * CRB_ref``, ``CRB_ref`` the smooth worst-case CRB of the
    MSE-optimal design (eta -> 0). Returns ``dict(mse, crb_worst, crb_l, crb_target, feasible)`` ``[C]``."""
    T = inst["pulses"].shape[1]
    samples = PAPER_A_TARGET_REGION.grid(*solver.region_grid)
    tr_ref, _ = eps_design(inst, system, solver, 1e-6)
    ref = smooth_worst_crb(tr_ref.C, inst["devices"], samples, system.echo_noise_var_w, T, **system.path_loss)

    def one(c):
        out = design_crb_aware(inst["H"], inst["W"], inst["pulses"], system.noise_var_w, system.power_w, c * ref,
                               inst["devices"], system.echo_noise_var_w, samples, max_iter=solver.al_iter,
                               n_inner=solver.al_inner, **system.path_loss)
        return {"mse": out.mse[-1], "crb_worst": exact_worst_crb(inst, out.C, system, solver),
                "crb_l": crb_lower_bound(out.C, system.echo_noise_var_w, T, inst["rho"]),
                "crb_target": c * ref, "feasible": out.feasible.astype(out.mse.dtype)}

    return jax.vmap(one)(jnp.asarray(crb_fractions))

