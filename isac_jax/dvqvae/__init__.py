"""Paper B learning: the D-VQVAE (vmapped per-AP encoders, per-AP EMA vector quantisers, CPU decoder),
the D-VAE and centralised-CNN baselines, training with exact resume, and evaluation.
"""

from .config import NET_PRESETS as NET_PRESETS
from .config import NetConfig as NetConfig
from .config import TrainConfig as TrainConfig
from .config import get_net_config as get_net_config
from .model import SCHEMES as SCHEMES
from .model import SensingModel as SensingModel
from .model import index_fronthaul_bits as index_fronthaul_bits
from .model import parameter_count as parameter_count
from .quantiser import Codebook as Codebook
from .targets import LabelScaler as LabelScaler
from .training import FitResult as FitResult
from .training import TrainState as TrainState
from .training import evaluate as evaluate
from .training import fit as fit
from .training import predict as predict
from .training import trivial_prediction as trivial_prediction
from .data import GeneratedSplit as GeneratedSplit
from .readout import calibrated_predict as calibrated_predict
from .targets import assigned_errors as assigned_errors
from .targets import rmse as rmse
from .training import labels_of as labels_of
from . import features as features
from . import heads as heads
from .quantiser import lookup as lookup
from . import data as data
from .training import data_parallel_shardings as data_parallel_shardings
from .training import init_state as init_state
from .training import make_train_step as make_train_step

__all__ = [
    "assigned_errors",
    "calibrated_predict",
    "Codebook",
    "data",
    "data_parallel_shardings",
    "evaluate",
    "features",
    "fit",
    "FitResult",
    "GeneratedSplit",
    "get_net_config",
    "heads",
    "index_fronthaul_bits",
    "init_state",
    "labels_of",
    "LabelScaler",
    "lookup",
    "make_train_step",
    "NET_PRESETS",
    "NetConfig",
    "parameter_count",
    "predict",
    "rmse",
    "SCHEMES",
    "SensingModel",
    "TrainConfig",
    "TrainState",
    "trivial_prediction",
]
