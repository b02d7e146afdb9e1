"""Projection, C-step projected gradient (vs cvxpy on (A.35)), BCD (Algorithm 1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import crandn, rel_err
from isac_jax import ota
from isac_jax.core import project_norms_energy, project_precoders


def _feasible(C, P, e_min, tol=1e-9):
    n2 = np.sum(np.abs(np.asarray(C)) ** 2, axis=tuple(range(1, np.ndim(C))))
    return np.all(n2 <= P * (1 + tol)) and n2.sum() >= e_min * (1 - tol)


def test_projection_feasible_idempotent_and_nearest(rng):
    P = 1.0
    for trial in range(30):
        K = int(rng.integers(2, 5))
        e_min = rng.uniform(0.2, 0.95) * K * P
        C = crandn(rng, K, 3, 2) * rng.uniform(0.0, 1.5, (K, 1, 1))
        if trial % 5 == 0:
            C[0] = 0.0                                     # a zero precoder takes the default direction
        proj = np.asarray(project_precoders(jnp.asarray(C), P, e_min))
        assert _feasible(proj, P, e_min, tol=1e-7)
        again = np.asarray(project_precoders(jnp.asarray(proj), P, e_min))
        np.testing.assert_allclose(again, proj, atol=1e-8)
        d = np.linalg.norm(proj - C)
        # No farther than any of many random feasible points.
        for _ in range(200):
            Z = crandn(rng, K, 3, 2)
            Z *= np.sqrt(rng.uniform(0, P, (K, 1, 1))) / np.linalg.norm(Z, axis=(1, 2), keepdims=True)
            if _feasible(Z, P, e_min):
                assert np.linalg.norm(Z - C) >= d - 1e-9


def test_norm_projection_matches_bruteforce_on_grid():
    """K = 2: brute force over a fine polar grid of the feasible norm set."""
    P, e_min = 1.0, 1.2
    rr = np.linspace(0, 1, 801)
    A, B = np.meshgrid(rr, rr, indexing="ij")
    feas = A**2 + B**2 >= e_min
    for r in ([0.3, 0.2], [0.9, 0.1], [1.4, 0.0], [0.5, 0.5]):
        rho = np.asarray(project_norms_energy(jnp.asarray(r), P, e_min))
        d_best = np.min(np.hypot(A - r[0], B - r[1])[feas])
        assert np.hypot(*(rho - np.array(r))) <= d_best + 2e-3
        assert rho[0] ** 2 + rho[1] ** 2 >= e_min - 1e-9 and np.all(rho <= 1 + 1e-12)


def _bisection_projection(r, P, e_min, n=200):
    """NumPy reference: KKT form rho = min(sqrt P, c r) with c found by bisection (float64)."""
    p_max = np.sqrt(P)
    box = np.clip(r, 0.0, p_max)
    if np.sum(box**2) >= e_min:
        return box
    lo, hi = 1.0, p_max / np.min(np.where(box > 0, box, p_max))
    for _ in range(n):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if np.sum(np.minimum(p_max, mid * box) ** 2) >= e_min else (mid, hi)
    scaled = np.minimum(p_max, hi * box)
    zero = box <= 0
    if np.all(scaled[~zero] >= p_max):                       # every non-zero entry saturated: fill the zeros
        scaled[zero] = min(p_max, np.sqrt(max(e_min - np.sum(scaled**2), 0.0) / max(zero.sum(), 1)))
    return scaled


def test_norm_projection_closed_form_matches_bisection(rng):
    """The sorted closed form equals a bisection on the KKT multiplier, with zeros, ties and
    all-saturating inputs among the random cases."""
    project = jax.jit(project_norms_energy)        # one program per K instead of its eager ops
    for trial in range(400):
        K = int(rng.integers(1, 9))
        P = rng.uniform(0.5, 2.0)
        e_min = rng.uniform(0.0, 1.0) * K * P
        r = rng.uniform(0.0, 1.5, K) * np.sqrt(P)
        if trial % 4 == 0:
            r[rng.integers(0, K)] = 0.0
        if trial % 7 == 0:
            r[:] = r[0]
        if trial % 11 == 0:
            r[:] = 0.0
        rho = np.asarray(project(jnp.asarray(r), P, e_min))
        np.testing.assert_allclose(rho, _bisection_projection(r, P, e_min), rtol=0, atol=1e-12)


def test_lambda_max_bound_brackets_the_largest_eigenvalue(rng):
    """Upper bound (a valid Lipschitz constant) and within M^(1/16) of numpy's largest eigenvalue."""
    for M in (2, 4, 7):
        A = crandn(rng, 5, M, M + 2) * rng.uniform(1e-3, 1e3, (5, 1, 1))
        Q = A @ A.conj().transpose(0, 2, 1)
        lam = np.linalg.eigvalsh(Q)[:, -1]
        bound = np.asarray(ota.design.lambda_max_bound(jnp.asarray(Q)))
        assert np.all(bound >= lam * (1 - 1e-12)) and np.all(bound <= lam * M ** (1 / 16) * (1 + 1e-12))


def test_quadratic_pg_takes_the_generic_pg_iterates(rng):
    """The one-application-of-Q FISTA equals core.optim.projected_gradient on the same quadratic,
    step for step (fixed step, monotone restart), and its early stop ends at a stationary point."""
    from isac_jax.core.optim import projected_gradient, quadratic_projected_gradient

    H, W, p = _instance(rng)
    prob = ota.cstep_problem(jnp.asarray(crandn(rng, 8, 6, 2)), H, W, p)
    C0 = project_precoders(jnp.asarray(crandn(rng, 4, 3, 2)), 1.0, 2.5)
    lam = float(np.linalg.eigvalsh(np.asarray(prob.Q))[:, -1].max())

    def proj(C):
        return project_precoders(C, 1.0, 2.5)

    for n in (1, 7, 60):
        gen = projected_gradient(lambda C: ota.cstep_objective(prob, C), C0, proj, n_iter=n, step0=0.5 / lam,
                                 backtracking=False)
        quad = quadratic_projected_gradient(lambda C: jnp.einsum("kmn,kni->kmi", prob.Q, C), prob.B, prob.const, C0,
                                            proj, step=0.5 / lam, n_iter=n)
        assert rel_err(quad.x, gen.x) < 1e-10 and abs(float(quad.value - gen.value)) < 1e-10 * abs(float(gen.value))
    full = quadratic_projected_gradient(lambda C: jnp.einsum("kmn,kni->kmi", prob.Q, C), prob.B, prob.const, C0,
                                        proj, step=0.5 / lam, n_iter=3000)
    early = quadratic_projected_gradient(lambda C: jnp.einsum("kmn,kni->kmi", prob.Q, C), prob.B, prob.const, C0,
                                         proj, step=0.5 / lam, n_iter=3000, tol=1e-9)
    assert float(early.value) - float(full.value) < 1e-6 * abs(float(full.value))


def test_infeasible_eps_raises(rng):
    H = crandn(rng, 3, 4, 2)
    W = np.broadcast_to(np.eye(2) / 3, (3, 2, 2))
    with pytest.raises(ValueError, match=r"eps is infeasible: the energy constraint needs K\*P >= 1/eps"):
        ota.design_beamformers(H, W, ota.dft_pulses(3, 4), 0.1, 1.0, 0.2)


def _instance(rng, K=4, N=6, M=3, I=2, T=8):
    H = crandn(rng, K, N, M)
    W = np.stack([np.diag(rng.uniform(0.2, 1.0, I)) for _ in range(K)])
    return jnp.asarray(H), jnp.asarray(W), ota.dft_pulses(K, T)


def test_cstep_quadratic_form_matches_definition(rng):
    H, W, p = _instance(rng)
    C = crandn(rng, 4, 3, 2)
    Mrx = crandn(rng, 8, 6, 2)
    prob = ota.cstep_problem(jnp.asarray(Mrx), H, W, p)
    Hn, Wn, pn = map(np.asarray, (H, W, p))
    ref = np.mean([sum(np.linalg.norm(Mrx[t].conj().T @ Hn[k] @ C[k] * pn[k, t] - Wn[k]) ** 2 for k in range(4))
                   for t in range(8)])
    assert rel_err(ota.cstep_objective(prob, jnp.asarray(C)), ref) < 1e-10


def test_projected_gradient_matches_cvxpy_on_relaxed_problem(rng):
    cp = pytest.importorskip("cvxpy", reason="the 'reference' extra (cvxpy) is installed by `make test`")
    P = 1.0
    for _ in range(3):
        H, W, p = _instance(rng)
        C0 = ota.default_precoders(4, 3, 2, P, dtype=jnp.float64)
        Mrx = ota.optimal_receiver(H, C0, W, p, 0.1)
        prob = ota.cstep_problem(Mrx, H, W, p)
        C_pg, f_pg = ota.solve_cstep(prob, C0, lambda C: project_precoders(C, P, 0.0), n_iter=3000)
        # (A.35) in (C, alpha) with cvxpy, objective written from its definition.
        Hn, Wn, pn, Mn = map(np.asarray, (H, W, p, Mrx))
        Cv = [cp.Variable((3, 2), complex=True) for _ in range(4)]
        alpha = cp.Variable(4)
        obj = sum(cp.sum_squares(Mn[t].conj().T @ Hn[k] @ Cv[k] * pn[k, t] - Wn[k]) for t in range(8)
                  for k in range(4)) / 8
        cons = [alpha <= P, cp.sum(alpha) >= 2.0] + [cp.sum_squares(Cv[k]) <= alpha[k] for k in range(4)]
        f_cvx = cp.Problem(cp.Minimize(obj), cons).solve()
        assert abs(float(f_pg) - f_cvx) / abs(f_cvx) < 1e-3


def test_bcd_steps_decrease_mse_without_the_guard_and_stay_feasible(rng):
    """The monotonicity guard of :func:`bcd_trace` clamps the *reported* history, so monotonicity is
    checked on ``step_mse``, MSE_bar right after each C-step + M-step before the guard: a C-step
    that minimised anything but (A.33a) at fixed M (wrong Q_k, B_k or sign) raises it and trips the
    guard. On these instances the guard never fires; the C-step's own objective also decreases."""
    P, eps = 1.0, 1.0 / 3.0
    for seed in range(3):
        H, W, p = _instance(rng)
        tr = ota.bcd_trace(H, W, p, 0.1, P, eps, max_iter=15, tol=0.0, key=jax.random.PRNGKey(seed))
        raw = np.asarray(tr.step_mse)
        assert np.all(np.diff(raw) <= 1e-12 * raw[0]), np.diff(raw)
        assert int(tr.guard_count) == 0
        np.testing.assert_allclose(tr.mse, raw, rtol=1e-12)
        Mrx, C, hist = ota.design_beamformers(H, W, p, 0.1, P, eps, max_iter=15, key=jax.random.PRNGKey(seed))
        hist = np.asarray(hist)
        assert _feasible(C, P, 1.0 / eps, tol=1e-7)
        # One C-step from the BCD start at its optimal receiver: f (A.33a) decreases from the start.
        C0 = project_precoders(ota.initial_precoders(4, 3, 2, P, dtype=jnp.float64, key=jax.random.PRNGKey(seed)),
                               P, 1.0 / eps)
        prob = ota.cstep_problem(ota.optimal_receiver(H, C0, W, p, 0.1), H, W, p)
        C1, f1 = ota.solve_cstep(prob, C0, lambda c: project_precoders(c, P, 1.0 / eps), n_iter=50)
        assert float(f1) < float(ota.cstep_objective(prob, C0))
        np.testing.assert_allclose(f1, ota.cstep_objective(prob, C1), rtol=1e-12)
        np.testing.assert_allclose(hist[-1], ota.aggregation_mse(Mrx, H, C, W, p, 0.1), rtol=1e-9)
        np.testing.assert_allclose(Mrx, ota.optimal_receiver(H, C, W, p, 0.1), rtol=1e-9, atol=1e-12)


def test_exact_projection_no_worse_than_relaxed_route(rng):
    """Average over 20 instances: the exact-projection BCD reaches an MSE no worse than (A.35)."""
    P, eps = 1.0, 1.0 / 3.5
    exact, relaxed = [], []
    run = jax.jit(lambda H, W, k: ota.design_beamformers(H, W, ota.dft_pulses(4, 8), 0.1, P, eps, max_iter=10,
                                                          key=k)[2][-1])
    run_rel = jax.jit(lambda H, W, k: ota.design_beamformers(H, W, ota.dft_pulses(4, 8), 0.1, P, eps, max_iter=10,
                                                              key=k, relaxed=True)[2][-1])
    for i in range(20):
        H, W, _ = _instance(rng)
        exact.append(float(run(H, W, jax.random.PRNGKey(i))))
        relaxed.append(float(run_rel(H, W, jax.random.PRNGKey(i))))
    assert np.mean(exact) <= np.mean(relaxed) * (1 + 1e-9)


def test_pareto_front_is_monotone_and_matches_single_runs(rng):
    """Demanding more energy (smaller eps, lower CRB_L) never lowers the aggregation MSE."""
    H, W, p = _instance(rng)
    P = 1.0
    eps = 1.0 / np.linspace(1.0, 3.9, 6)
    mse, energy, _ = ota.pareto_front(H, W, p, 0.1, P, eps, max_iter=20)
    mse, energy = np.asarray(mse), np.asarray(energy)
    assert np.all(energy >= 1.0 / eps * (1 - 1e-7))
    assert np.all(np.diff(mse) >= -1e-6 * mse.max())
    single = ota.design_beamformers(H, W, p, 0.1, P, float(eps[-1]), max_iter=20)[2][-1]
    np.testing.assert_allclose(mse[-1], single, rtol=1e-6)
    with pytest.raises(ValueError, match="eps is infeasible"):
        ota.pareto_front(H, W, p, 0.1, P, [0.5, 0.2])


def test_uniform_weight_identity_and_why_the_front_collapses(rng):
    """With W_k = w I and orthogonal pulses, the MSE at the optimal receiver is
    ``sum_k ||W_k||^2 - w^2 N + w^2 sigma^2 tr Sigma^-1`` with ``Sigma = sum_k H_k C_k C_k^H H_k^H +
    sigma^2 I`` (independent float64 NumPy reference), which falls whenever any device adds power:
    so under uniform weights Algorithm 1 spends ``E = K P`` at every epsilon and the front collapses."""
    K, N, M, I, T, P, sig2 = 5, 6, 3, 2, 8, 1.0, 0.05
    H = crandn(rng, K, N, M)
    C = crandn(rng, K, M, I)
    C *= np.sqrt(rng.uniform(0.2, 1.0, (K, 1, 1)) * P / np.sum(np.abs(C) ** 2, axis=(1, 2), keepdims=True))
    W = np.broadcast_to(np.eye(I) / K, (K, I, I))
    pulses = ota.dft_pulses(K, T)
    mse_at_optimum = jax.jit(lambda H, C, W: ota.aggregation_mse(ota.optimal_receiver(H, C, W, pulses, sig2), H, C, W,
                                                                 pulses, sig2))   # one program, not eager ops
    got = float(mse_at_optimum(jnp.asarray(H), jnp.asarray(C), jnp.asarray(W)))
    sigma = sum(H[k] @ C[k] @ C[k].conj().T @ H[k].conj().T for k in range(K)) + sig2 * np.eye(N)
    w = 1.0 / K
    ref = np.sum(W ** 2) - w ** 2 * N + w ** 2 * sig2 * np.trace(np.linalg.inv(sigma)).real
    assert abs(got - ref) < 1e-10 * ref
    Hj = jnp.asarray(H)
    mse, energy, _ = ota.pareto_front(Hj, jnp.asarray(W), pulses, sig2, P, 1.0 / (np.array([0.1, 0.6, 1.0]) * K * P),
                                      max_iter=20)
    np.testing.assert_allclose(energy, K * P, rtol=1e-6)                      # every epsilon: full power
    np.testing.assert_allclose(mse, mse[0], rtol=1e-9)                        # one design: the front collapses


def test_dirichlet_weights_make_the_energy_constraint_bind():
    """With the data-share weights of a Dirichlet(0.4) split the MSE-optimal design spends less than
    K P (devices with a small weight mostly add interference), so tightening epsilon costs MSE."""
    K, N, M, I, T, P, sig2 = 8, 8, 4, 2, 8, 1.0, 1e-2
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    H = ota.rayleigh_channels(k1, K, N, M, dtype=jnp.float64)
    W = ota.dirichlet_weights(k2, K, I, dtype=jnp.float64)
    etas = np.array([0.05, 0.8, 1.0])
    mse, energy, _ = ota.pareto_front(H, W, ota.dft_pulses(K, T), sig2, P, 1.0 / (etas * K * P), max_iter=30)
    mse, energy = np.asarray(mse), np.asarray(energy)
    assert energy[0] < 0.9 * K * P                      # loosest epsilon: the optimum is below full power
    assert np.all(energy >= etas * K * P * (1 - 1e-6))   # (30b) holds
    assert np.all(np.diff(mse) > 0) and mse[-1] > 1.05 * mse[0]


def test_dirichlet_weights_statistics():
    """Weights sum to one; each device's mean is 1/K and the variance (1/K)(1-1/K)/((K alpha + 1) C)
    (Monte Carlo over 4000 draws, 4 standard errors)."""
    K, I, alpha, C, n = 5, 2, 0.4, 10, 4000
    W = np.asarray(jax.vmap(lambda k: ota.dirichlet_weights(k, K, I, alpha=alpha, n_classes=C, dtype=jnp.float64))(
        jax.random.split(jax.random.PRNGKey(3), n)))
    w = W[:, :, 0, 0]
    np.testing.assert_allclose(W[:, :, 1, 1], w)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-12)
    var = (1 / K) * (1 - 1 / K) / ((K * alpha + 1) * C)
    assert np.all(np.abs(w.mean(axis=0) - 1 / K) < 4 * np.sqrt(var / n))
    assert np.all(np.abs(w.var(axis=0) / var - 1) < 4 * np.sqrt(2 / n) + 0.05)


def test_aggregation_mse_and_the_whole_bcd_do_not_depend_on_the_frame_length(rng):
    """With orthogonal pulses every T-dependent term of (A.6)-(A.7) and of the C-step data averages
    out: ``(1/T) sum_t p_k[t]^* p_l[t] = delta_kl``. So MSE_bar at the optimal receiver, and every
    BCD iterate, are the same for T = 8 and T = 16 (Fig. 8's 'aggregation error falls with T' cannot
    appear in this model; only CRB_L = rho varsigma^2 / (T E) moves, as 1/T)."""
    K, N, M, I, P, sig2 = 4, 6, 3, 2, 1.0, 0.05
    H = jnp.asarray(crandn(rng, K, N, M))
    W = jnp.asarray(np.stack([np.diag(rng.uniform(0.2, 1.0, I)) for _ in range(K)]))
    C = jnp.asarray(crandn(rng, K, M, I)) * 0.5
    mses, traces = [], []
    for T in (8, 16):
        p = ota.dft_pulses(K, T)
        mses.append(float(ota.aggregation_mse(ota.optimal_receiver(H, C, W, p, sig2), H, C, W, p, sig2)))
        traces.append(np.asarray(ota.bcd_trace(H, W, p, sig2, P, 1.0 / (0.5 * K * P), max_iter=8, tol=0.0).mse))
    np.testing.assert_allclose(mses[1], mses[0], rtol=1e-10)
    np.testing.assert_allclose(traces[1], traces[0], rtol=1e-6)       # FISTA restarts: round-off level
    assert traces[0][-1] < traces[0][0]                     # the BCD did move: the equality is not trivial


def _tiny_design(rng, K=3, N=4, M=2, I=2, T=4):
    H = jnp.asarray(crandn(rng, K, N, M))
    W = jnp.asarray(np.stack([np.diag(rng.uniform(0.2, 1.0, I)) for _ in range(K)]))
    return H, W, ota.dft_pulses(K, T), 1.0 / (0.5 * K * 1.0)


def test_bcd_stopping_rule_and_tighter_tolerance(rng):
    """Algorithm 1's stopping rule: BCD stops at the first iteration that lowers MSE_bar by at most
    ``tol`` relative (checked on the history in NumPy), flags it ``converged`` and repeats the value;
    at the cap it is not converged; a tighter ``tol`` never ends at a larger MSE_bar."""
    H, W, p, eps = _tiny_design(rng)
    finals, iters = [], []
    run = jax.jit(lambda tol: ota.bcd_trace(H, W, p, 0.05, 1.0, eps, max_iter=1000, tol=tol, n_cstep_iter=50))
    for tol in (1e-3, 1e-5, 1e-7):
        tr = run(tol)
        mse, n = np.asarray(tr.mse, dtype=np.float64), int(tr.n_iter)
        assert bool(tr.converged) and 0 < n < 1000
        dec = (mse[:-1] - mse[1:]) / mse[:-1]                 # relative decrease of iteration i + 1
        assert dec[n - 1] <= tol                              # the iteration that stopped BCD
        assert np.all(dec[: n - 1] > tol)                     # no earlier iteration met the rule
        assert np.all(mse[n:] == mse[n])                      # the rest repeats the converged value
        finals.append(mse[-1])
        iters.append(n)
    assert finals[0] >= finals[1] >= finals[2] and iters[0] <= iters[1] <= iters[2]
    assert iters[2] > iters[0]                                # the tolerance changed where BCD stopped
    capped = ota.bcd_trace(H, W, p, 0.05, 1.0, eps, max_iter=3, tol=1e-12, n_cstep_iter=50)
    assert not bool(capped.converged) and int(capped.n_iter) == 3
