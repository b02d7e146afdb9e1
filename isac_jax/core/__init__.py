"""Shared primitives: units, ULA responses, geometry, pulses, Fisher information, projections, sweeps,
and the utilities every subpackage uses (float64 context, complex Gaussian draws, atomic and verified
writes, provenance, the XLA CPU-scheduler workaround)."""

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
from .io import CorruptFileError as CorruptFileError
from .io import write_bytes_atomic as write_bytes_atomic
from .io import write_json_atomic as write_json_atomic
from .io import write_npz_atomic as write_npz_atomic
from .linalg import gram_power as gram_power
from .precision import float64 as float64
from .provenance import git_state as git_state
from .provenance import provenance as provenance
from .pulses import dft_pulses as dft_pulses
from .pulses import walsh_hadamard_pulses as walsh_hadamard_pulses
from .random import PRNG_IMPLS as PRNG_IMPLS
from .random import complex_normal as complex_normal
from .timing import machine as machine
from .timing import machine_summary as machine_summary
from .timing import run_benchmark as run_benchmark
from .timing import run_record as run_record
from .timing import tables_from_markdown as tables_from_markdown
from .timing import time_call as time_call
from .timing import write_run_record as write_run_record
from .units import db_to_linear as db_to_linear
from .units import dbm_to_watt as dbm_to_watt
from .units import linear_to_db as linear_to_db
from .units import watt_to_dbm as watt_to_dbm
from .sweep import run_sweep as run_sweep
from .projections import project_norms_energy as project_norms_energy
from .projections import project_precoders as project_precoders
from .xla import avoid_cpu_scheduler_deadlock as avoid_cpu_scheduler_deadlock

__all__ = [
    "avoid_cpu_scheduler_deadlock",
    "CorruptFileError",
    "git_state",
    "provenance",
    "machine",
    "machine_summary",
    "PRNG_IMPLS",
    "run_benchmark",
    "run_record",
    "tables_from_markdown",
    "time_call",
    "write_run_record",
    "complex_normal",
    "crb_matrix",
    "crb_trace",
    "db_to_linear",
    "dbm_to_watt",
    "dft_pulses",
    "fim_gram",
    "fim_hessian",
    "float64",
    "gram_power",
    "linear_to_db",
    "PAPER_A_DEVICE_REGION",
    "PAPER_A_TARGET_REGION",
    "project_norms_energy",
    "project_precoders",
    "RingSector",
    "run_sweep",
    "sample_paper_a_geometry",
    "schur_fim",
    "ula_response",
    "walsh_hadamard_pulses",
    "watt_to_dbm",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_npz_atomic",
]
