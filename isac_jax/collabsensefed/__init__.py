"""The CollabSenseFed simulation (Paper A, Algorithm 2 and Sec. V): federated learning and
distributed target localisation carried together over the air.

:mod:`~isac_jax.collabsensefed.sensing` is Algorithm 2's sensing side (statistics, coordinate
steps, acquisition, pooled CRB); :mod:`~isac_jax.collabsensefed.simulation` runs every scheme of
Figs. 2-6 round by round (:func:`simulate`, checkpoint/resume). Decisions are in
``docs/collabsensefed.md``.
"""

from .sensing import Link as Link
from .sensing import SensingPhysics as SensingPhysics
from .sensing import SensingState as SensingState
from .sensing import acquire as acquire
from .sensing import pilot_frame as pilot_frame
from .sensing import pooled_crb as pooled_crb
from .sensing import sensing_frame as sensing_frame
from .sensing import sensing_frames as sensing_frames
from .sensing import single_shot as single_shot
from .sensing import step_axes as step_axes
from .simulation import SCHEMES as SCHEMES
from .simulation import SimulationResult as SimulationResult
from .simulation import FeelProtocol as FeelProtocol
from .simulation import Scheme as Scheme
from .simulation import Trial as Trial
from .simulation import draw_trials as draw_trials
from .simulation import frame_correlation as frame_correlation
from .simulation import design_link as design_link
from .simulation import get_scheme as get_scheme
from .simulation import simulate as simulate

__all__ = [
    "acquire",
    "design_link",
    "draw_trials",
    "FeelProtocol",
    "frame_correlation",
    "get_scheme",
    "Link",
    "pilot_frame",
    "pooled_crb",
    "Scheme",
    "SCHEMES",
    "sensing_frame",
    "sensing_frames",
    "SensingPhysics",
    "SensingState",
    "simulate",
    "SimulationResult",
    "single_shot",
    "step_axes",
    "Trial",
]
