"""Paper A design benchmarks: (a) the C-step of the relaxed problem (A.35) by accelerated projected
gradient (jitted) vs cvxpy on the same instances, time ratio and objective gap; (b) wall time of a
whole epsilon-constraint Pareto front (one vmapped, compiled call) and of a CRB-aware front.

Usage: python benchmarks/bench_design.py [--preset quick|paper]
Sizes: K=15, M=4, N=16, I=2, T=16 (quick and paper); the paper preset uses more instances and
more front points. cvxpy comes from the ``reference`` extra (installed by ``make``).
``--json PATH`` also writes the printed tables as a JSON record (``make bench``: ``docs/data/benchmarks/``).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax.core import machine, run_benchmark, time_call  # noqa: E402

from isac_jax import ota  # noqa: E402
from isac_jax.core import project_precoders  # noqa: E402
from isac_jax.experiments.paper_a.design import DesignSolver, crb_aware_front, draw_instance, eps_front  # noqa: E402

PRESETS = {"quick": dict(instances=5, front_points=20, aware_points=10, pg_iters=(200, 2000)),
           "paper": dict(instances=20, front_points=20, aware_points=20, pg_iters=(200, 2000))}
K, M, N, I, T, P, SIG2 = 15, 4, 16, 2, 16, 1.0, 1e-2


def cvxpy_relaxed_cstep(Mrx, H, W, p, min_energy, P=P):
    """(A.35) in (C, alpha) with cvxpy; objective stacked over t per device (|p_k[t]| = 1)."""
    import cvxpy as cp

    K, T = p.shape
    M, I = H.shape[2], W.shape[-1]
    A = np.einsum("tni,knm->ktim", Mrx.conj(), H).reshape(K, T * I, M)          # [M[t]^H H_k]_t stacked
    target = np.stack([np.concatenate([p[k, t].conj() * W[k] for t in range(T)]) for k in range(K)])
    C = [cp.Variable((M, I), complex=True) for _ in range(K)]
    alpha = cp.Variable(K)
    obj = sum(cp.sum_squares(A[k] @ C[k] - target[k]) for k in range(K)) / T
    cons = [alpha <= P, cp.sum(alpha) >= min_energy] + [cp.sum_squares(C[k]) <= alpha[k] for k in range(K)]
    prob = cp.Problem(cp.Minimize(obj), cons)
    t0 = time.perf_counter()
    with warnings.catch_warnings():      # cvxpy's "too many subexpressions" hint; K terms is as vectorised as (A.35) gets
        warnings.simplefilter("ignore", UserWarning)
        value = prob.solve()
    return value, time.perf_counter() - t0, prob.solver_stats.solver_name


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    args = ap.parse_args(argv)
    cfg = PRESETS[args.preset]
    jax.config.update("jax_enable_x64", True)        # compare objectives with cvxpy at double precision
    print(f"# bench_design ({args.preset}) on {machine()}\n")

    W = np.broadcast_to(np.eye(I) / K, (K, I, I))
    p = np.asarray(ota.dft_pulses(K, T))
    min_energy = 0.5 * K * P

    def make_pg(n_iter):
        @jax.jit
        def pg_cstep(Mrx, H):
            prob = ota.cstep_problem(Mrx, H, jnp.asarray(W), jnp.asarray(p))
            C0 = ota.default_precoders(K, M, I, P, dtype=jnp.real(H).dtype)
            return ota.solve_cstep(prob, C0, lambda C: project_precoders(C, P, 0.0), n_iter=n_iter)[1]
        return pg_cstep

    if importlib.util.find_spec("cvxpy") is None:
        print("## (a) skipped: cvxpy is not installed (pip install '.[reference]')\n")
        cfg = {**cfg, "instances": 0}
    solvers = {n: make_pg(n) for n in cfg["pg_iters"]}
    rows = []
    for i in range(cfg["instances"]):
        key = jax.random.PRNGKey(i)
        H = ota.rayleigh_channels(key, K, N, M, dtype=jnp.float64)
        C_start = ota.random_precoders(jax.random.fold_in(key, 1), K, M, I, P, dtype=jnp.float64)
        Mrx = ota.optimal_receiver(H, C_start, jnp.asarray(W), jnp.asarray(p), SIG2)
        f_cvx, t_cvx, solver = cvxpy_relaxed_cstep(np.asarray(Mrx), np.asarray(H), W, p, min_energy)
        for n, fn in solvers.items():
            t_pg, _ = time_call(fn, Mrx, H, repeats=3)
            f_pg = float(fn(Mrx, H))
            rows.append((i, n, t_cvx, t_pg, f_cvx, f_pg, (f_pg - f_cvx) / abs(f_cvx)))
    if not rows:
        return _fronts(cfg)
    print(f"## (a) C-step of (A.35): K={K}, M={M}, N={N}, I={I}, T={T}, {cfg['instances']} instances, float64")
    print(f"| instance | PG iterations | cvxpy ({solver}) time (s) | projected gradient time (s) | speed-up "
          "| cvxpy objective | PG objective | relative gap (PG - cvxpy)/cvxpy |")
    print("|---|---|---|---|---|---|---|---|")
    for i, n, tc, tp, fc, fp, g in rows:
        print(f"| {i} | {n} | {tc:.3f} | {tp:.4f} | {tc / tp:.0f}x | {fc:.6e} | {fp:.6e} | {g:+.2e} |")
    for n in cfg["pg_iters"]:
        sel = [r for r in rows if r[1] == n]
        ratio = np.median([r[2] for r in sel]) / np.median([r[3] for r in sel])
        print(f"{n} PG iterations: median speed-up {ratio:.0f}x (target >= 100x); max |gap| "
              f"{max(abs(r[6]) for r in sel):.2e} (target <= 1e-3)")
    print()
    _whole_design_vs_cstep()
    _fronts(cfg)


def _whole_design_vs_cstep(K=6, M=4, N=8, I=2, T=8, eps_frac=0.5, noise_var=1e-2, instances=5):
    """(c) One whole compiled design_beamformers call (50 BCD iterations, each C-step up to 200 PG steps
    with the default early stop) against one cvxpy C-step of (A.35) on the same tiny instance, and the
    final MSE_bar against the same BCD with every C-step running all 200 steps."""
    W = jnp.asarray(np.broadcast_to(np.eye(I) / K, (K, I, I)), jnp.complex128)
    p = ota.dft_pulses(K, T)
    eps = 1.0 / (eps_frac * K * P)
    design = jax.jit(lambda H: ota.design_beamformers(H, W, p, noise_var, P, eps, max_iter=50)[2])
    fixed = jax.jit(lambda H: ota.design_beamformers(H, W, p, noise_var, P, eps, max_iter=50, cstep_tol=0.0)[2])
    print(f"## (c) whole design (50 BCD iterations) vs one cvxpy C-step: K={K}, M={M}, N={N}, I={I}, T={T}, "
          f"E_min = {eps_frac} K P, float64")
    print("| instance | cvxpy C-step (s) | whole design, compiled (min / median of 5) (s) | speed-up "
          "| final MSE_bar | same with 200 fixed PG steps | relative difference |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    for i in range(instances):
        key = jax.random.PRNGKey(100 + i)
        H = ota.rayleigh_channels(key, K, N, M, dtype=jnp.float64)
        Mrx = ota.optimal_receiver(H, ota.default_precoders(K, M, I, P, dtype=jnp.float64), W, p, noise_var)
        _, t_cvx, _ = cvxpy_relaxed_cstep(np.asarray(Mrx), np.asarray(H), np.asarray(W), np.asarray(p),
                                          eps_frac * K * P, P)
        t_min, t_med = time_call(design, H, repeats=5)
        mse, mse_fixed = float(design(H)[-1]), float(fixed(H)[-1])
        ratios.append(t_cvx / t_min)
        print(f"| {i} | {t_cvx:.3f} | {t_min:.4f} / {t_med:.4f} | {t_cvx / t_min:.0f}x | {mse:.9e} | "
              f"{mse_fixed:.9e} | {(mse - mse_fixed) / mse_fixed:+.1e} |")
    print(f"median speed-up of the whole design over one cvxpy C-step: {np.median(ratios):.0f}x (target >= 10x)\n")


def _first_and_compiled(fn, *args):
    """Seconds of the first call (compilation included), then min / median of 3 compiled calls."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return (time.perf_counter() - t0, *time_call(fn, *args, repeats=3))


def _fronts(cfg):
    system = ota.PaperASystem(n_devices=K, n_antennas=M, n_ps_antennas=N, n_tasks=I, frame_length=T)
    setup = DesignSolver()
    inst = draw_instance(jax.random.PRNGKey(123), system)
    fractions = tuple(np.linspace(0.05, 1.0, cfg["front_points"]))
    crb_fracs = tuple(np.geomspace(1.0, 0.3, cfg["aware_points"]))
    t_first, t_min, t_med = _first_and_compiled(jax.jit(lambda inst: eps_front(inst, system, setup, fractions)), inst)
    a_first, a_min, a_med = _first_and_compiled(
        jax.jit(lambda inst: crb_aware_front(inst, system, setup, crb_fracs)), inst)
    print(f"## (b) whole fronts, one compiled call each (K={K}, M={M}, N={N}, I={I}, T={T}, float64; epsilon-front: "
          "a scan along epsilon of a warm-started and a cold-started BCD per point; CRB-aware: vmapped over targets)")
    print("| front | points | first call incl. compile (s) | compiled (min / median of 3) (s) |")
    print("|---|---|---|---|")
    print(f"| epsilon-constraint (Alg. 1, 2 x {setup.max_iter} BCD it. x {setup.n_cstep_iter} PG it.) + exact "
          f"worst-case CRB per point | {len(fractions)} | {t_first:.2f} | {t_min:.3f} / {t_med:.3f} |")
    print(f"| CRB-aware (AL-BCD, {setup.al_iter} it. x {setup.al_inner} PG it.) + exact worst-case CRB per point "
          f"| {len(crb_fracs)} | {a_first:.2f} | {a_min:.3f} / {a_med:.3f} |")


TITLE = "Paper A design: C-step by projected gradient vs cvxpy, and Pareto-front wall time"

if __name__ == "__main__":
    run_benchmark(main, "bench_design", TITLE)
