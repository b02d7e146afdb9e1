"""Beyond Paper A: CRB-aware design vs the epsilon-constraint design at the default setting.

The paper's design constrains only the energy through Theorem 2's CRB_L, a lower bound blind to
where the precoders point. The CRB-aware design (:mod:`isac_jax.ota.crb_design`) constrains the
exact worst-case CRB (A.21) over the target region, by autodiff through the Fisher information.
Both fronts are drawn on the same axes (MSE_bar vs exact worst-case CRB), so the price of the loose
bound is visible; see :mod:`isac_jax.experiments.paper_a.fronts` for the quantities reported.
"""

from .design import DesignSolver
from .fronts import PAPER_ENERGY_FRACTIONS, FrontsConfig, fronts_experiment

EXPERIMENT = fronts_experiment(
    "a-pareto-crb", "Beyond Paper A: CRB-aware (exact worst-case CRB) vs epsilon-constraint (CRB_L) Pareto fronts",
    "CRB-aware vs epsilon-constraint design",
    quick=FrontsConfig(vary="T", values=(32,), energy_fractions=(0.05, 0.25, 0.5, 0.75, 0.9, 1.0),
                       crb_fractions=(1.0, 0.8, 0.6, 0.5, 0.4, 0.35, 0.3, 0.25), n_instances=4),
    paper=FrontsConfig(vary="T", values=(32,), solver=DesignSolver(max_iter=50, al_iter=60),
                       energy_fractions=PAPER_ENERGY_FRACTIONS,
                       crb_fractions=tuple(0.2 ** (i / 19) for i in range(20)), n_instances=100, chunk_size=50))
