"""Paper A experiments (OTA-FEEL collaborative ISAC): Figs. 2-11 and beyond-the-paper studies,
with the shared design (:mod:`.design`, :mod:`.fronts`) and FEEL (:mod:`.feel`, :mod:`.accuracy`) helpers."""

from . import accuracy as accuracy
from . import design as design
from . import feel as feel
from . import fig10 as fig10
from . import fig11 as fig11
from . import fig2 as fig2
from . import fig3 as fig3
from . import fig4 as fig4
from . import fig5 as fig5
from . import fig6 as fig6
from . import fig7 as fig7
from . import fig8 as fig8
from . import fig9 as fig9
from . import fronts as fronts
from . import ml_vs_crb as ml_vs_crb
from . import pareto_crb as pareto_crb

__all__ = [
    "accuracy",
    "design",
    "feel",
    "fig10",
    "fig11",
    "fig2",
    "fig3",
    "fig4",
    "fig5",
    "fig6",
    "fig7",
    "fig8",
    "fig9",
    "fronts",
    "ml_vs_crb",
    "pareto_crb",
]
