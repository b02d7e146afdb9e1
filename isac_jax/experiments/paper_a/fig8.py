"""Paper A, Fig. 8: Pareto fronts (aggregation error vs sensing bound) for several frame lengths T.

Both the paper's epsilon-constraint front (MSE_bar vs CRB_L) and, beyond the paper, the CRB-aware
front against the exact worst-case CRB; see :mod:`isac_jax.experiments.paper_a.fronts`.
"""

from .design import DesignSolver
from .fronts import CONVERGED_SOLVER, PAPER_ENERGY_FRACTIONS, FrontsConfig, fronts_experiment

EXPERIMENT = fronts_experiment(
    "a-fig8", "Paper A Fig. 8: Pareto fronts MSE vs CRB_L (and vs exact worst-case CRB) for several T",
    "Fig. 8: Pareto fronts for several T",
    quick=FrontsConfig(vary="T", values=(16, 32, 64), solver=CONVERGED_SOLVER),
    paper=FrontsConfig(vary="T", values=(16, 32, 64, 128), solver=DesignSolver(max_iter=3000, tol=CONVERGED_SOLVER.tol, al_iter=60),
                       energy_fractions=PAPER_ENERGY_FRACTIONS,
                       crb_fractions=(1.0, 0.85, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25), n_instances=50,
                       chunk_size=50))
