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
    iterations of the CRB-aware design (``al_iter`` / ``al_inner``).

    ``tol`` is Algorithm 1's stopping rule: BCD stops once one iteration lowers MSE_bar (A.7) by at
    most ``tol`` relative, and ``max_iter`` is then the cap (a point that reaches it is reported as not
    converged). ``tol = 0`` runs exactly ``max_iter`` iterations."""

    max_iter: int = 30
    tol: float = 0.0
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
                   max_iter=solver.max_iter, tol=solver.tol, key=key, n_cstep_iter=solver.n_cstep_iter, C0=C0)
    T = inst["pulses"].shape[1]
    return tr, crb_lower_bound(tr.C, system.echo_noise_var_w, T, inst["rho"])


def eps_front(inst, system: PaperASystem, solver: DesignSolver, energy_fractions):
    """epsilon-constraint front from two starts per point; every output is ``[E]`` in the order of
    ``energy_fractions`` (which must increase).

    * **cold**: BCD from the default precoders at every ``eta`` independently (one ``vmap``);
    * **continuation** (warm): the points solved from the tightest to the loosest (a ``lax.scan``),
      each BCD started from the kept design of its tighter neighbour. The feasible sets are nested (a
      design that spends ``eta_2 K P`` is feasible for every ``eta_1 <= eta_2``) and BCD never
      increases MSE_bar from its start, so the kept front is non-decreasing in ``eta`` by construction.

    Each BCD runs until one iteration lowers MSE_bar by at most ``solver.tol`` relative, or
    ``solver.max_iter`` iterations (the cap). The kept point (``mse``, ``energy``, ``crb_l``,
    ``crb_worst``) is the lower-MSE of the two (``restart_won``: the cold start won). Both starts are
    reported: ``mse_cold`` / ``mse_warm``, ``energy_cold`` / ``energy_warm``, ``iterations_cold`` /
    ``iterations_warm`` and ``converged_cold`` / ``converged_warm`` (1.0 when the stopping rule ended the
    run, 0.0 at the cap). Two converged starts that end at different MSE_bar are two local optima;
    a front's spread is a trade-off only where its points converged."""
    etas = jnp.asarray(energy_fractions)
    dtype = jnp.real(inst["H"]).dtype

    def summary(tr, crb_l, prefix):
        return {f"mse_{prefix}": tr.mse[-1], f"energy_{prefix}": tr.energy[-1], f"crb_l_{prefix}": crb_l,
                f"iterations_{prefix}": tr.n_iter.astype(dtype), f"converged_{prefix}": tr.converged.astype(dtype)}

    def cold_one(eta):
        tr, crb = eps_design(inst, system, solver, eta)
        return summary(tr, crb, "cold"), tr.C

    cold, C_cold = jax.vmap(cold_one)(etas)

    def step(C_prev, point):
        eta, C_c, mse_c = point
        tr, crb = eps_design(inst, system, solver, eta, C0=C_prev)
        kept = jnp.where(mse_c < tr.mse[-1], C_c, tr.C)
        return kept, (summary(tr, crb, "warm"), tr.C)

    K, _, M = inst["H"].shape
    start = default_precoders(K, M, inst["W"].shape[-1], system.power_w, dtype=dtype)
    rev = (etas[::-1], C_cold[::-1], cold["mse_cold"][::-1])               # tightest first
    warm, C_warm = jax.tree_util.tree_map(lambda a: a[::-1], jax.lax.scan(step, start, rev)[1])
    won = cold["mse_cold"] < warm["mse_warm"]
    C = jnp.where(won[:, None, None, None], C_cold, C_warm)
    pick = {k: jnp.where(won, cold[f"{k}_cold"], warm[f"{k}_warm"]) for k in ("mse", "energy", "crb_l")}
    crb_worst = jax.vmap(lambda c: exact_worst_crb(inst, c, system, solver))(C)
    return {**pick, "crb_worst": crb_worst, "restart_won": won.astype(dtype), **cold, **warm}


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

