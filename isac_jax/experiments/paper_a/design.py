"""Shared pieces of the Paper A design experiments (Figs. 7-10, ``a-pareto-crb``).

An *instance* is one draw of the Sec. V.A geometry (devices, Theorem 2's constant rho over the
target region) and i.i.d. Rayleigh uplink channels of a :class:`~isac_jax.ota.PaperASystem`, with DFT
pulses and aggregation weights ``W_k = w_k I`` taken by default from a Dirichlet(0.4) data split
(``w_k = n_k / n``, the FedAvg rule of the FEEL experiments; :func:`~isac_jax.ota.dirichlet_weights`).
``weights="uniform"`` gives ``W_k = I/K``, under which the MSE-optimal design already spends
``E = K P`` and the epsilon-constraint front collapses to one point (an identity, see
``tests/test_design.py::test_uniform_weight_identity_and_why_the_front_collapses``). The design experiments run in float64
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
from ...ota.design import bcd_trace, default_precoders
from ...ota.scenario import dirichlet_weights, rayleigh_channels, uniform_weights
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


WEIGHTS = ("dirichlet", "uniform")


def check_weights(weights: str) -> str:
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
    return weights


def draw_instance(key, system: PaperASystem, *, weights: str = "dirichlet", alpha: float = 0.4):
    """One instance of ``system``: ``dict(H, W, pulses, devices, rho)``; ``W`` from a Dirichlet(alpha)
    data split (default) or uniform."""
    K, N, M, I, T = (system.n_devices, system.n_ps_antennas, system.n_antennas, system.n_tasks,
                     system.frame_length)
    k_geo, k_h = jax.random.split(key)
    devices, _ = sample_paper_a_geometry(k_geo, K)
    H = rayleigh_channels(k_h, K, N, M, dtype=devices.dtype)
    if check_weights(weights) == "dirichlet":
        W = dirichlet_weights(jax.random.fold_in(key, 7), K, I, alpha=alpha, dtype=devices.dtype)
    else:
        W = uniform_weights(K, I, dtype=devices.dtype)
    return {"H": H, "W": W, "pulses": dft_pulses(K, T).astype(H.dtype),
            "devices": devices, "rho": universal_constant(devices, M, PAPER_A_TARGET_REGION, **system.path_loss)}


def exact_worst_crb(inst, C, system: PaperASystem, solver: DesignSolver):
    """(A.21) of precoders ``C`` by grid search + projected gradient ascent (m^2)."""
    T = inst["pulses"].shape[1]
    value, _ = worst_case_crb(inst["devices"], C, system.echo_noise_var_w, T, system.power_w, PAPER_A_TARGET_REGION,
                              grid_shape=solver.worst_grid, **system.path_loss)
    return value


def eps_design(inst, system: PaperASystem, solver: DesignSolver, energy_fraction, *, key=None, C0=None):
    """Algorithm 1 at ``eps = 1/(eta K P)`` (from ``C0`` when given); returns the BCD trace plus
    ``crb_l`` of the result."""
    K = inst["H"].shape[0]
    eps = 1.0 / (energy_fraction * K * system.power_w)
    tr = bcd_trace(inst["H"], inst["W"], inst["pulses"], system.noise_var_w, system.power_w, eps,
                   max_iter=solver.max_iter, tol=0.0, key=key, n_cstep_iter=solver.n_cstep_iter, C0=C0)
    T = inst["pulses"].shape[1]
    return tr, crb_lower_bound(tr.C, system.echo_noise_var_w, T, inst["rho"])


def _last_change(mse):
    """Relative change of MSE_bar over the last BCD iteration of a history ``mse[n]``."""
    return jnp.abs(mse[-1] - mse[-2]) / jnp.abs(mse[-1])


def eps_front(inst, system: PaperASystem, solver: DesignSolver, energy_fractions):
    """epsilon-constraint front by continuation: ``dict(mse, energy, crb_l, crb_worst, restart_won)``,
    each ``[E]`` in the order of ``energy_fractions`` (which must increase).

    BCD is a local method, so designs started independently at each epsilon can cross (a looser
    epsilon ending at a higher MSE than a tighter one). But the feasible sets are nested: a design
    that spends ``eta_2 K P`` is feasible for every ``eta_1 <= eta_2``. The points are therefore solved
    from the tightest to the loosest (a ``lax.scan``), each BCD warm-started from its tighter
    neighbour's design (feasible as it is, and BCD never increases MSE_bar from its start), and a cold
    start from the default precoders is run as well; the lower-MSE design is kept. The front is thus
    non-decreasing in ``eta`` by construction; ``restart_won`` flags the points the cold start won.
    Both starts are reported: ``mse_cold`` / ``mse_warm`` and the relative MSE_bar change of their last
    BCD iteration, ``last_change_cold`` / ``last_change_warm`` (below a tolerance such as 1e-6: converged;
    a front's spread is a trade-off only where converged points differ)."""
    etas = jnp.asarray(energy_fractions)

    def step(C_prev, eta):
        warm, crb_warm = eps_design(inst, system, solver, eta, C0=C_prev)
        cold, crb_cold = eps_design(inst, system, solver, eta)
        won = cold.mse[-1] < warm.mse[-1]
        tr = jax.tree_util.tree_map(lambda a, b: jnp.where(won, a, b), cold, warm)
        out = {"mse": tr.mse[-1], "energy": tr.energy[-1], "crb_l": jnp.where(won, crb_cold, crb_warm),
               "crb_worst": exact_worst_crb(inst, tr.C, system, solver), "restart_won": won.astype(tr.mse.dtype),
               "mse_cold": cold.mse[-1], "mse_warm": warm.mse[-1],
               "last_change_cold": _last_change(cold.mse), "last_change_warm": _last_change(warm.mse)}
        return tr.C, out

    K, _, M = inst["H"].shape
    start = default_precoders(K, M, inst["W"].shape[-1], system.power_w, dtype=jnp.real(inst["H"]).dtype)
    out = jax.lax.scan(step, start, etas[::-1])[1]            # tightest first
    return jax.tree_util.tree_map(lambda a: a[::-1], out)


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

