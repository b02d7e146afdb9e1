"""Paper A physics and design: over-the-air multi-task aggregation, dual-purpose frames, echoes and
sufficient statistics, ML localisation, Fisher information and bounds, beamformer design (Algorithm 1).

Federated learning lives in :mod:`isac_jax.fl`, the CollabSenseFed simulation (Algorithm 2 and every
FEEL scheme) in :mod:`isac_jax.collabsensefed`.

Stable reference API (SPEC §13): :func:`dft_pulses`, :func:`walsh_hadamard_pulses`,
:func:`optimal_receiver`, :func:`aggregation_mse`, :func:`fisher_information`, :func:`crb`.
"""

from ..core.pulses import dft_pulses as dft_pulses
from ..core.pulses import walsh_hadamard_pulses as walsh_hadamard_pulses
from .aggregation import OtaFrame as OtaFrame
from .aggregation import receiver_noise as receiver_noise
from .aggregation import effective_gains as effective_gains
from .aggregation import debias_receiver as debias_receiver
from .aggregation import aggregate_stream as aggregate_stream
from .system import PaperASystem as PaperASystem
from .aggregation import aggregation_mse as aggregation_mse
from .aggregation import aggregation_mse_per_interval as aggregation_mse_per_interval
from .aggregation import optimal_receiver as optimal_receiver
from .aggregation import simulate_ota_frame as simulate_ota_frame
from .aggregation import transmit_signals as transmit_signals
from .bounds import crb as crb
from .bounds import fisher_information_batch as fisher_information_batch
from .bounds import round_trip_jacobians as round_trip_jacobians
from .bounds import crb_lower_bound as crb_lower_bound
from .bounds import echo_sensitivity as echo_sensitivity
from .bounds import fisher_information as fisher_information
from .bounds import fisher_information_gram as fisher_information_gram
from .bounds import maximise_over_region as maximise_over_region
from .bounds import universal_constant as universal_constant
from .bounds import worst_case_crb as worst_case_crb
from . import finite_t as finite_t
from .finite_t import block_fisher_information as block_fisher_information
from .finite_t import finite_t_crb as finite_t_crb
from .finite_t import finite_t_fisher_information as finite_t_fisher_information
from .finite_t import leakage_gains as leakage_gains
from .finite_t import least_squares_mse as least_squares_mse
from .echo import array_response as array_response
from .echo import array_responses as array_responses
from .echo import large_t_statistics as large_t_statistics
from .echo import round_trip as round_trip
from .echo import sample_correlation as sample_correlation
from .echo import simulate_echoes as simulate_echoes
from .echo import simulate_statistics as simulate_statistics
from .echo import sufficient_statistics as sufficient_statistics
from .echo import whiten_statistics as whiten_statistics
from .echo import whitened_mean as whitened_mean
from .frame import IsacFrame as IsacFrame
from .frame import simulate_isac_frame as simulate_isac_frame
from .localization import local_gradients as local_gradients
from .localization import local_losses as local_losses
from .localization import ml_localize as ml_localize
from .signalling import ssl_centralised as ssl_centralised
from .signalling import ssl_distributed as ssl_distributed
from .scenario import random_precoders as random_precoders
from .scenario import rayleigh_channels as rayleigh_channels
from .scenario import uniform_weights as uniform_weights
from .scenario import dirichlet_weights as dirichlet_weights
from .design import cstep_objective as cstep_objective
from .design import cstep_problem as cstep_problem
from .design import default_precoders as default_precoders
from .design import design_beamformers as design_beamformers
from .design import normalise_relaxed as normalise_relaxed
from .design import pareto_front as pareto_front
from .design import solve_cstep as solve_cstep
from .design import BcdTrace as BcdTrace
from .design import bcd_trace as bcd_trace
from .design import initial_precoders as initial_precoders
from .crb_design import CrbAwareTrace as CrbAwareTrace
from .crb_design import design_crb_aware as design_crb_aware
from .crb_design import smooth_max_crb as smooth_max_crb
from .crb_design import smooth_worst_crb as smooth_worst_crb

__all__ = [
    "aggregate_stream",
    "aggregation_mse",
    "aggregation_mse_per_interval",
    "array_response",
    "array_responses",
    "bcd_trace",
    "BcdTrace",
    "block_fisher_information",
    "crb",
    "crb_lower_bound",
    "CrbAwareTrace",
    "cstep_objective",
    "cstep_problem",
    "debias_receiver",
    "default_precoders",
    "design_beamformers",
    "design_crb_aware",
    "dft_pulses",
    "dirichlet_weights",
    "echo_sensitivity",
    "effective_gains",
    "finite_t",
    "finite_t_crb",
    "finite_t_fisher_information",
    "fisher_information",
    "fisher_information_batch",
    "fisher_information_gram",
    "initial_precoders",
    "IsacFrame",
    "large_t_statistics",
    "leakage_gains",
    "least_squares_mse",
    "local_gradients",
    "local_losses",
    "maximise_over_region",
    "ml_localize",
    "normalise_relaxed",
    "optimal_receiver",
    "OtaFrame",
    "PaperASystem",
    "pareto_front",
    "random_precoders",
    "rayleigh_channels",
    "receiver_noise",
    "round_trip",
    "round_trip_jacobians",
    "sample_correlation",
    "simulate_echoes",
    "simulate_isac_frame",
    "simulate_ota_frame",
    "simulate_statistics",
    "smooth_max_crb",
    "smooth_worst_crb",
    "solve_cstep",
    "ssl_centralised",
    "ssl_distributed",
    "sufficient_statistics",
    "transmit_signals",
    "uniform_weights",
    "universal_constant",
    "walsh_hadamard_pulses",
    "whiten_statistics",
    "whitened_mean",
    "worst_case_crb",
]
