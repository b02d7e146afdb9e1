"""What the D-VQVAE can learn from what each receive AP sees (not in Paper B; it settles why the
paper-literal network does not learn here, and what the least change is that makes it learn).

One training budget, one training set, one test set; the same encoder, decoder, codebook and
latent bits (``paper_network`` aside); only the AP input changes, and with it the transmit signals the
AP must receive (``fronthaul_bits_tx_signals``) (:mod:`isac_jax.dvqvae.features`):

* ``paper_network``: Paper B's D-VQVAE (:func:`.learning.paper_network`: ``Re/Im Y_m``, Table B.II's
  layers at a quarter of its widths, the ``4Q`` head, learning rate ``1e-4``), the reproduction;
* ``paper``: ``Re/Im Y_m`` (Sec. B.III.A, literal) in the project's network and learning rate;
* ``covariance``: the spatial outer products ``Y_m Y_m^H`` (``Y_m`` alone, no transmit signals at the AP);
* ``data_aware``: ``Y_m conj(x_{n,a})``, the data modulation removed with the transmit signals the
  CPU holds;
* ``maps``: the classical per-AP angle-delay-Doppler maps of that product;
* ``area_maps``: the same maps read out on a grid of the area at each cell's direction and bistatic
  delay (a fixed warp at the AP), with the paper's dense decoder head (``fc``): what aligning the
  APs' latents alone buys;
* ``area_centre``: ``area_maps`` with the fully convolutional ``centre`` head, which reads the
  targets cell by cell on that grid (the default of the learning experiments).

The paper-literal rungs use the paper's head (``fc``, (16)-(17)); only the last changes the head.

Next to them, on the first ``n_classical`` test samples (the very same echoes): the classical
schemes of the evaluation harness (:mod:`isac_jax.cellfree.evaluation`), the root of the mean and of
the median CRLB over those samples' targets, the trivial predictor, and each rung's RMSE on that subset.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

from ...cellfree.evaluation import evaluate_trial, summarise
from ...cellfree.overhead import scheme_fronthaul_bits
from ...core.precision import float64
from ...dvqvae.data import GeneratedSplit
from ...dvqvae.model import SensingModel
from ...dvqvae.targets import LabelScaler
from ...dvqvae.training import evaluate, labels_of, trivial_prediction
from ..plotting import finish_figure, subplots
from ..registry import Experiment
from .learning import LearningSetup, paper_network, train_and_evaluate

NAME = "b-learnability"
DESCRIPTION = ("(Not in Paper B) The information ladder: the D-VQVAE on Re/Im Y (paper), on Y times the "
               "conjugate transmit signals, on classical angle-delay-Doppler maps, on those maps on a grid of the "
               "area (dense head, then the convolutional centre head), beside the classical schemes, the trivial "
               "predictor and the root CRLB on the same samples")

#: rung -> (AP input, output head)
RUNG_NETWORKS = {"paper_network": ("paper", "fc"), "paper": ("paper", "fc"), "covariance": ("covariance", "fc"),
                 "data_aware": ("data_aware", "fc"), "maps": ("maps", "fc"),
                 "area_maps": ("area_maps", "fc"), "area_centre": ("area_maps", "centre")}
RUNGS = tuple(RUNG_NETWORKS)


@dataclasses.dataclass(frozen=True)
class Config:
    setup: LearningSetup = LearningSetup()
    rungs: tuple = RUNGS
    scheme: str = "dvqvae"
    classical: tuple = ("music", "cs", "ml_refined")
    n_classical: int = 64
    chunk: int = 16


PRESETS = {
    # 600 steps per rung (half of b-train's budget: three rungs fit in ~25 min on a 2-core CPU).
    "quick": Config(LearningSetup(steps=600)),
    "paper": Config(LearningSetup(system_preset="paper", system_overrides=(), net_preset="paper", n_train=16000,
                                  n_test=4000, batch_size=32, epochs=100, learning_rate=1e-4, steps=None),
                    n_classical=200, chunk=4),
}


#: (system, schemes) -> the jitted, vmapped :func:`evaluate_trial`; kept so that a second call on the
#: same system (b-learned-curves' nominal point after b-learnability, a rerun) neither traces nor
#: lowers it again (seconds, against milliseconds to run a chunk).
_classical_trials = {}


def classical_on_test_samples(system, seed: int, start: int, n: int, schemes, chunk: int) -> dict:
    """:func:`evaluate_trial` (float64) on the dataset's samples ``start .. start+n-1`` of ``seed``
    (keys ``fold_in(PRNGKey(seed), j)``, exactly the learned schemes' test echoes), summarised."""
    with float64():
        fn_key = (system, tuple(schemes))
        if fn_key not in _classical_trials:
            _classical_trials[fn_key] = jax.jit(jax.vmap(lambda k: evaluate_trial(k, system, tuple(schemes))))
        fn = _classical_trials[fn_key]
        base = jax.random.PRNGKey(seed)
        parts = []
        for a in range(start, start + n, chunk):
            idx = np.minimum(np.arange(a, a + chunk), start + n - 1)       # pad the last chunk, trim below
            keys = jax.vmap(lambda j: jax.random.fold_in(base, j))(np.asarray(idx, np.uint32))
            out = fn(keys)
            parts.append({k: np.asarray(v)[: min(chunk, start + n - a)] for k, v in out.items()})
    trials = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    summary = summarise(trials, system, schemes)
    # The mean CRLB is set by the few worst-observed targets; the median says what a typical one allows.
    for name, key in (("location_m", "crlb_loc"), ("velocity_mps", "crlb_vel")):
        summary[f"median_root_crlb_{name}"] = float(np.sqrt(np.median(trials[key])))
    return summary


def crlb_entries(summary: dict) -> dict:
    """The root of the mean and of the median CRLB (location, velocity) of a
    :func:`classical_on_test_samples` summary, under the keys the results files use."""
    return {f"{which}_{name}": summary[f"{which}_{name}"]
            for name in ("location_m", "velocity_mps") for which in ("root_crlb", "median_root_crlb")}


def check_choices(name: str, given, known, n_classical: int, n_test: int) -> None:
    """Raise unless every entry of ``given`` is in ``known`` and ``1 <= n_classical <= n_test``."""
    unknown = [g for g in given if g not in known]
    if unknown:
        raise ValueError(f"{name} must be among {', '.join(known)}, got {unknown}")
    if not 0 < n_classical <= n_test:
        raise ValueError(f"n_classical must be in [1, n_test={n_test}], got {n_classical}")


def fronthaul_of(scheme: str, system) -> dict:
    """A non-learned scheme's ``fronthaul_bits`` and its parts (:func:`~isac_jax.cellfree.overhead.scheme_fronthaul_bits`)."""
    f = scheme_fronthaul_bits(scheme, system)
    return {"fronthaul_bits": f["total"], "fronthaul_bits_latents": f["latents"],
            "fronthaul_bits_tx_signals": f["tx_signals"]}


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    setup = config.setup
    check_choices("rungs", config.rungs, RUNGS, config.n_classical, setup.n_test)
    work = Path(work_dir or ".")
    train, test = setup.splits(seed)
    sysc = setup.system()
    common = GeneratedSplit(sysc, seed, setup.n_train, setup.n_train + config.n_classical)
    scaler = LabelScaler.fit(labels_of(train))
    out = {"rungs": list(config.rungs), "scheme": config.scheme, "n_test": setup.n_test,
           "n_classical": config.n_classical, "steps": setup.steps}
    for rung in config.rungs:
        ap_input, head = RUNG_NETWORKS[rung]
        rs = paper_network(setup) if rung == "paper_network" else dataclasses.replace(setup, ap_input=ap_input,
                                                                                        head=head)
        model = SensingModel(config.scheme, rs.net(), sysc)
        out[rung] = train_and_evaluate(model, rs.train_config(), train, test, seed=seed,
                                       checkpoint=work / f"{config.scheme}_{rung}.ckpt", progress=progress,
                                       calibration=setup.calibration(seed), n_common=config.n_classical)
    trivial = trivial_prediction(train, len(test), scaler)
    out["trivial"] = {**evaluate(trivial, test, scaler), "common": evaluate(trivial[:config.n_classical], common, scaler)}
    summary = classical_on_test_samples(sysc, seed, setup.n_train, config.n_classical, config.classical, config.chunk)
    out["classical"] = {s: {**summary[s], **fronthaul_of(s, sysc)} for s in config.classical}
    out.update(crlb_entries(summary))
    return out


def plot(results: dict, path) -> None:
    rungs = results["rungs"]
    classical = list(results["classical"])
    names = [f"D-VQVAE: {r}" for r in rungs] + classical + ["trivial"]
    rows = [results[r]["common"] for r in rungs] + [results["classical"][s] for s in classical] + \
        [results["trivial"]["common"]]
    fig, axes = subplots(2, 2, figsize=(13, 9))
    ax, low = axes[0], axes[1]
    x = np.arange(len(names))
    # Bottom row: RMSE against everything on a receive AP's fronthaul link (transmit signals X included).
    for a, key, unit in ((low[0], "location_rmse_m", "m"), (low[1], "velocity_rmse_mps", "m/s")):
        for name, row, entry, colour in zip(names, rows, [results[r] for r in rungs] +
                                            [results["classical"][s] for s in classical] + [None],
                                            ["C0"] * len(rungs) + ["C1"] * len(classical) + [None]):
            if entry is None or not entry.get("fronthaul_bits"):
                continue
            a.plot(entry["fronthaul_bits"], float(row[key]), "o", color=colour)
            a.annotate(name.replace("D-VQVAE: ", ""), (entry["fronthaul_bits"], float(row[key])), fontsize=7,
                       textcoords="offset points", xytext=(3, 3))
        a.axhline(float(results["trivial"]["common"][key]), color="C7", ls="--", label="trivial")
        a.set_xscale("log")
        a.set_xlabel("fronthaul bits per receive AP and update (X to the AP included)")
        a.set_ylabel(f"{key.split('_')[0]} RMSE ({unit})")
    for a, key, bound, unit in ((ax[0], "location_rmse_m", "root_crlb_location_m", "m"),
                                (ax[1], "velocity_rmse_mps", "root_crlb_velocity_mps", "m/s")):
        a.bar(x, [float(r[key]) for r in rows], color=["C0"] * len(rungs) + ["C1"] * len(classical) + ["C7"])
        a.axhline(float(results[bound]), color="k", ls="--", label="root of the mean CRLB")
        if f"median_{bound}" in results:
            a.axhline(float(results[f"median_{bound}"]), color="k", ls=":", label="root of the median CRLB")
        a.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        a.set_yscale("log")
        a.set_ylabel(f"{key.split('_')[0]} RMSE ({unit}), first {results['n_classical']} test samples")
    finish_figure(fig, list(ax) + list(low), path, legend_size=8)


EXPERIMENT = Experiment(NAME, "B", DESCRIPTION, PRESETS, run, plot)
