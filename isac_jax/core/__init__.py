"""Shared primitives: units, ULA responses, geometry, pulses, Fisher information, projections, sweeps,
and the utilities every subpackage uses (float64 context, complex Gaussian draws, atomic writes)."""

from .arrays import ula_response as ula_response
from .fisher import crb_matrix as crb_matrix
from .fisher import crb_trace as crb_trace
from .fisher import fim_gram as fim_gram
from .fisher import fim_hessian as fim_hessian
from .fisher import schur_fim as schur_fim
from .geometry import PAPER_A_DEVICE_REGION as PAPER_A_DEVICE_REGION
from .geometry import PAPER_A_TARGET_REGION as PAPER_A_TARGET_REGION
from .geometry import RingSector as RingSector
from .geometry import sample_paper_a_geometry as sample_paper_a_geometry
from .io import write_bytes_atomic as write_bytes_atomic
from .io import write_json_atomic as write_json_atomic
from .io import write_npz_atomic as write_npz_atomic
from .linalg import gram_power as gram_power
from .precision import float64 as float64
from .pulses import dft_pulses as dft_pulses
from .pulses import walsh_hadamard_pulses as walsh_hadamard_pulses
from .random import complex_normal as complex_normal
from .units import db_to_linear as db_to_linear
from .units import dbm_to_watt as dbm_to_watt
from .units import linear_to_db as linear_to_db
from .units import watt_to_dbm as watt_to_dbm
from .sweep import run_sweep as run_sweep
from .projections import project_norms_energy as project_norms_energy
from .projections import project_precoders as project_precoders
