"""Paper B experiments (cell-free cooperative ISAC): bounds, fronthaul, the D-VQVAE and its baselines,
with the shared learning set-up (:mod:`.learning`)."""

from . import crlb as crlb
from . import design_aps as design_aps
from . import fig10 as fig10
from . import fig11 as fig11
from . import fig12 as fig12
from . import fig6 as fig6
from . import learnability as learnability
from . import learned_curves as learned_curves
from . import learning as learning
from . import overhead as overhead
from . import sweeps as sweeps
from . import table3 as table3
from . import train as train

__all__ = [
    "crlb",
    "design_aps",
    "fig10",
    "fig11",
    "fig12",
    "fig6",
    "learnability",
    "learned_curves",
    "learning",
    "overhead",
    "sweeps",
    "table3",
    "train",
]
