"""Paper B: cooperative ISAC in cell-free MIMO (multistatic OFDM sensing, CRLB, fronthaul).

Stable reference API (SPEC §13): :func:`noiseless_echo`, :func:`crlb`, :func:`estimate`.
"""

from .comm import ap_powers as ap_powers
from .comm import comm_channels as comm_channels
from .comm import null_space_sensing as null_space_sensing
from .comm import precoders as precoders
from .comm import qam16 as qam16
from .comm import sinr as sinr
from .comm import transmit_tensor as transmit_tensor
from .config import PRESETS as PRESETS
from .config import SPEED_OF_LIGHT as SPEED_OF_LIGHT
from .config import CellFreeConfig as CellFreeConfig
from .config import Scenario as Scenario
from .config import check_in_area as check_in_area
from .config import get_config as get_config
from .config import sample_scenario as sample_scenario
from .crlb import crlb as crlb
from .crlb import crlb_closed_form as crlb_closed_form
from .crlb import root_crlb as root_crlb
from .dataset import iterate_batches as iterate_batches
from .dataset import load_split as load_split
from .dataset import materialise as materialise
from .dataset import sample_batch as sample_batch
from .dataset import sample_labels as sample_labels
from .estimators import EstimatorSettings as EstimatorSettings
from .estimators import estimate as estimate
from .echo import bistatic_geometry as bistatic_geometry
from .echo import clock_offsets as clock_offsets
from .echo import noiseless_echo as noiseless_echo
from .echo import offset_phase as offset_phase
from .echo import PathFactors as PathFactors
from .echo import combine_paths as combine_paths
from .echo import path_factors as path_factors
from .posterior import grid_posterior as grid_posterior
from .posterior import marginal_log_likelihood as marginal_log_likelihood
from .overhead import centralised_bits as centralised_bits
from .overhead import dvqvae_bits as dvqvae_bits
from .overhead import fully_distributed_bits as fully_distributed_bits
from .overhead import latent_count as latent_count
from .sensing import draw_transmission as draw_transmission
from .sensing import received_echo as received_echo
from .sensing import simulate_sample as simulate_sample
from .sensing import transmit_symbols as transmit_symbols
from .spectra import angular_delay_doppler_spectrum as angular_delay_doppler_spectrum
from .spectra import delay_doppler_channel as delay_doppler_channel
from .spectra import sensing_channel as sensing_channel

__all__ = [
    "angular_delay_doppler_spectrum",
    "ap_powers",
    "bistatic_geometry",
    "CellFreeConfig",
    "centralised_bits",
    "check_in_area",
    "clock_offsets",
    "combine_paths",
    "comm_channels",
    "crlb",
    "crlb_closed_form",
    "delay_doppler_channel",
    "draw_transmission",
    "dvqvae_bits",
    "estimate",
    "EstimatorSettings",
    "fully_distributed_bits",
    "get_config",
    "grid_posterior",
    "iterate_batches",
    "latent_count",
    "load_split",
    "marginal_log_likelihood",
    "materialise",
    "noiseless_echo",
    "null_space_sensing",
    "offset_phase",
    "path_factors",
    "PathFactors",
    "precoders",
    "PRESETS",
    "qam16",
    "received_echo",
    "root_crlb",
    "sample_batch",
    "sample_labels",
    "sample_scenario",
    "Scenario",
    "sensing_channel",
    "simulate_sample",
    "sinr",
    "SPEED_OF_LIGHT",
    "transmit_symbols",
    "transmit_tensor",
]
