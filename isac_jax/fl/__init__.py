"""Federated learning, independent of the radio: offline data sets, the Dirichlet label-skew split,
Flax models and vmapped client updates with FedAvg (Paper A, Sec. V.B; SPEC §3 "FEEL").

Nothing here knows about over-the-air aggregation; :mod:`isac_jax.collabsensefed` carries these
updates over the air.
"""

from .clients import Federated as Federated
from .clients import FlData as FlData
from .clients import LocalTraining as LocalTraining
from .clients import destandardise as destandardise
from .clients import fedavg as fedavg
from .clients import make_federated as make_federated
from .clients import make_fl_data as make_fl_data
from .clients import standardise as standardise
from .datasets import SOURCES as SOURCES
from .datasets import ImageDataset as ImageDataset
from .datasets import load_dataset as load_dataset
from .models import build_model as build_model
from .partition import ClientSplit as ClientSplit
from .partition import dirichlet_partition as dirichlet_partition
from .partition import label_histograms as label_histograms

__all__ = [
    "build_model",
    "ClientSplit",
    "destandardise",
    "dirichlet_partition",
    "fedavg",
    "Federated",
    "FlData",
    "ImageDataset",
    "label_histograms",
    "load_dataset",
    "LocalTraining",
    "make_federated",
    "make_fl_data",
    "SOURCES",
    "standardise",
]
