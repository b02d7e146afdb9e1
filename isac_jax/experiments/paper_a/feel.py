"""Shared set-up of the Paper A FEEL / CollabSenseFed experiments (Figs. 2-6).

A :class:`FeelTask` names the data source, the model and the local training; :func:`prepare` loads
the data offline (:mod:`isac_jax.fl.datasets`), splits it over the clients with Dirichlet(0.4) and
binds the model. :func:`run_schemes` runs several schemes of :func:`isac_jax.collabsensefed.simulate` with the same
key (common random numbers: same geometry, channels, initialisation) and per-scheme checkpoints in
``work_dir`` so an interrupted run resumes.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ...collabsensefed import FeelProtocol, simulate
from ...core.precision import float64
from ...fl import LocalTraining, dirichlet_partition, load_dataset, make_federated, make_fl_data
from ...fl.models import build_model
from ...ota.system import PaperASystem

#: The Paper A system of the FEEL experiments (Figs. 2-6): Sec. V.A with echo noise 1e-4 W.
FEEL_SYSTEM = PaperASystem(echo_noise_var_w=1e-4)


@dataclasses.dataclass(frozen=True)
class FeelTask:
    """Learning task: ``source`` (:data:`isac_jax.fl.SOURCES`), ``data_dir`` for the IDX /
    CIFAR-10 directories, ``model`` ``"mlp"`` or ``"cnn"`` with its widths, local SGD settings, the
    Dirichlet concentration ``alpha`` and per-channel input standardisation (``standardise_inputs``)."""

    source: str = "mnist-5k"
    data_dir: str | None = None
    model: str = "mlp"
    hidden: int = 32
    conv_filters: tuple = ((8, 8), (16, 16), (32, 32))
    fc: tuple = (64, 32)
    local_steps: int = 5
    batch_size: int = 32
    learning_rate: float = 0.1
    alpha: float = 0.4
    standardise_inputs: bool = False


def prepare(task: FeelTask, n_clients: int, seed: int):
    """``(federated, data, dataset)`` for ``task`` split over ``n_clients`` clients. ``federated`` is
    compared by value, so experiments sharing a task share the compiled simulation functions. Call it
    under :func:`~isac_jax.core.float64` as :func:`run_schemes` does."""
    key = jax.random.PRNGKey(seed)
    ds = load_dataset(task.source, jax.random.fold_in(key, 1), data_dir=task.data_dir)
    split = dirichlet_partition(jax.random.fold_in(key, 2), ds.y_train, n_clients, task.alpha)
    data = make_fl_data(ds, split, standardise_inputs=task.standardise_inputs)
    model = build_model(task.model, hidden=task.hidden, conv_filters=task.conv_filters, fc=task.fc)
    fed = make_federated(model, data.x_train[:1], LocalTraining(task.local_steps, task.batch_size, task.learning_rate))
    return fed, data, ds


def run_schemes(schemes, system: PaperASystem, protocol: FeelProtocol, task: FeelTask | None, n_rounds: int,
                n_trials: int, *, seed: int, work_dir=None, progress: bool = True,
                intervals_per_round: int | None = None, geometry=None) -> dict:
    """Run every scheme (float64) with the same key. Returns ``{scheme: SimulationResult}`` (:func:`~isac_jax.collabsensefed.simulate`) plus
    ``"_dataset"`` (name, synthetic flag) and ``"_n_params"``. ``geometry``: one ``(devices, target)`` for
    every trial (:func:`~isac_jax.collabsensefed.simulate`)."""
    out = {}
    with float64():
        fed = data = ds = None
        if task is not None:
            fed, data, ds = prepare(task, system.n_devices, seed)
            intervals_per_round = fed.n_params
        for name in schemes:
            ckpt = None if work_dir is None else f"{work_dir}/{name}_K{system.n_devices}_T{system.frame_length}.ckpt"
            out[name] = simulate(name, system, n_rounds, jax.random.PRNGKey(seed), protocol=protocol, n_trials=n_trials,
                                      federated=fed, data=data, intervals_per_round=intervals_per_round,
                                      checkpoint=ckpt, progress=progress, desc=name, geometry=geometry)
    out["_dataset"] = {"name": None if ds is None else ds.name, "synthetic": bool(ds is not None and ds.synthetic)}
    out["_n_params"] = intervals_per_round
    return out


def curve_results(runs: dict, schemes, key: str) -> dict:
    """``{scheme: {key: mean over trials per round, key_trials: [R+1, S]}}``."""
    res = {}
    for name in schemes:
        vals = np.asarray(getattr(runs[name], key))
        res[name] = {key: vals.mean(axis=1), f"{key}_trials": vals}
        if key == "location_se":
            res[name]["location_mse"] = res[name].pop("location_se")
            res[name]["crb_v"] = np.asarray(runs[name].crb).mean(axis=1)
            for bound in ("crb_finite_t", "ls_mse_finite_t", "crb_conditional"):
                res[name][bound] = np.asarray(getattr(runs[name], bound)).mean(axis=1)
    return res
