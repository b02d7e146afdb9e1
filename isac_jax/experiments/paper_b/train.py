"""Paper B Secs. V.A-C: train the D-VQVAE, the D-VAE and the centralised CNN on the same streamed
training set, evaluate them and the trivial predictor on the same test set.

Per scheme (``dvqvae``, ``dvae``, ``cnn``, ``dvqvae_paper``, ``trivial``): ``location_rmse_m``,
``velocity_rmse_mps`` (per-target Euclidean errors, best target assignment; of the decoder's own
output, as in the paper; the ``centre`` head's ``calibrated`` read-out, beyond the paper, beside them
with ``readout_calibration_samples``, the extra labelled samples it is fitted on), ``coordinate_rmse``
(x, y, v_x, v_y) and, per receive AP and update, ``fronthaul_bits`` (everything on the AP's link),
``fronthaul_bits_latents`` (what it sends) and ``fronthaul_bits_tx_signals`` (the transmit signals it
receives: :func:`~isac_jax.cellfree.overhead.scheme_fronthaul_bits`), the classical schemes' too;
the D-VQVAEs' ``codebook_perplexity``. ``dvqvae_paper`` is Paper B's D-VQVAE (its network, input, head
and learning rate: :func:`.learning.paper_network`), the reproduction; ``dvqvae`` is the project's
network (beyond the paper). Beside them, on the first ``n_classical`` test samples
(the very same echoes): the ``classical`` schemes of the evaluation harness (default refined ML, the
paper's strongest classical baseline, in float64), the root CRLB over those samples' targets, and
every learned scheme's and the trivial predictor's RMSEs on that subset (``[scheme]["common"]``). Every model trains for the same number of steps; the
receive APs' input is ``LearningSetup.ap_input`` and the output head ``LearningSetup.head`` (default
``area_maps`` with the ``centre`` head; ``paper`` with ``fc`` is the literal Re/Im Y_m network, see
``b-learnability``). The trained models are the checkpoints in ``work/<scheme>.ckpt`` (msgpack, no pickle);
rerunning resumes unfinished training.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ...cellfree.config import SPEED_OF_LIGHT
from ...cellfree.estimators import SCHEMES as CLASSICAL_SCHEMES
from ...cellfree.overhead import centralised_bits, fully_distributed_bits
from ...dvqvae.data import GeneratedSplit
from ...dvqvae.features import doppler_span_cells
from ...dvqvae.model import SensingModel
from ...dvqvae.targets import LabelScaler
from ...dvqvae.training import evaluate, labels_of, trivial_prediction
from ..plotting import finish_figure, subplots
from ..registry import Experiment
from .learnability import fronthaul_of, check_choices, classical_on_test_samples, crlb_entries
from .learning import LearningSetup, paper_network, train_and_evaluate

NAME = "b-train"
DESCRIPTION = "Paper B Secs. V.A-C: train/evaluate D-VQVAE, D-VAE, centralised CNN vs the trivial predictor"


@dataclasses.dataclass(frozen=True)
class Config:
    setup: LearningSetup = LearningSetup()
    schemes: tuple = ("dvqvae", "dvae", "cnn", "dvqvae_paper")
    classical: tuple = ("ml_refined",)      # () for none
    n_classical: int = 200
    chunk: int = 8


PRESETS = {
    # 2,000 steps on 64,000 streamed samples, each seen once, for each of the four learned schemes
    # (Paper B's network included); fresh samples, because a smaller set repeated over several epochs
    # opens a train-test gap.
    "quick": Config(LearningSetup(steps=2000, n_train=64000, epochs=1)),
    "paper": Config(LearningSetup(system_preset="paper", system_overrides=(), net_preset="paper",
                                  n_train=16000, n_test=4000,
                                  batch_size=32, epochs=100, learning_rate=1e-4, steps=None), chunk=4),
}


#: Learned schemes: ``dvqvae_paper`` is the D-VQVAE with Paper B's network (:func:`.learning.paper_network`).
LEARNED = ("dvqvae", "dvae", "cnn", "dvqvae_paper")


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    setup = config.setup
    n_common = config.n_classical if config.classical else None
    if config.classical:
        check_choices("classical", config.classical, CLASSICAL_SCHEMES, config.n_classical, setup.n_test)
    work = Path(work_dir or ".")
    train, test = setup.splits(seed)
    sysc = setup.system()
    out = {}
    unknown = [s for s in config.schemes if s not in LEARNED]
    if unknown:
        raise ValueError(f"schemes must be among {', '.join(LEARNED)}, got {unknown}")
    for scheme in config.schemes:
        run_setup = paper_network(setup) if scheme == "dvqvae_paper" else setup
        model = SensingModel(scheme.removesuffix("_paper"), run_setup.net(), sysc)
        out[scheme] = train_and_evaluate(model, run_setup.train_config(), train, test, seed=seed,
                                         checkpoint=work / f"{scheme}.ckpt", progress=progress,
                                         calibration=setup.calibration(seed), n_common=n_common)
    scaler = LabelScaler.fit(labels_of(train))
    trivial = trivial_prediction(train, len(test), scaler)
    out["trivial"] = {**evaluate(trivial, test, scaler), **fronthaul_of("trivial", sysc)}
    if config.classical:
        common = GeneratedSplit(sysc, seed, setup.n_train, setup.n_train + n_common)
        out["trivial"]["common"] = evaluate(trivial[:n_common], common, scaler)
        summary = classical_on_test_samples(sysc, seed, setup.n_train, n_common, config.classical, config.chunk)
        out["classical"] = {s: {**summary[s], **fronthaul_of(s, sysc)} for s in config.classical}
        out["n_classical"] = n_common
        out.update(crlb_entries(summary))
    out["centralised_bits"] = centralised_bits(sysc.n_rx_antennas, sysc.n_subcarriers, sysc.n_symbols)
    out["fully_distributed_bits"] = fully_distributed_bits(sysc.n_targets)
    out["test_truth"] = np.asarray(labels_of(test)[:100])
    for scheme in config.schemes:
        out[scheme]["network"] = "paper" if scheme == "dvqvae_paper" else setup.network
    out.update(ap_input=setup.ap_input, head=setup.head, steps=setup.steps, power_dbm=sysc.power_dbm,
               range_cell_m=SPEED_OF_LIGHT / (sysc.n_subcarriers * sysc.sensed_scs_hz),
               doppler_span_cells=doppler_span_cells(sysc))
    return out


def plot(results: dict, path) -> None:
    schemes = [s for s in ("dvqvae", "dvae", "cnn", "dvqvae_paper", "trivial") if s in results]
    names = {"dvqvae": "D-VQVAE", "dvae": "D-VAE", "cnn": "CNN (centralised)", "dvqvae_paper": "D-VQVAE (paper net)",
             "trivial": "trivial (mean)"}
    fig, ax = subplots(1, 3, figsize=(15, 4.2))
    x = np.arange(len(schemes))
    ax[0].bar(x - 0.2, [results[s]["location_rmse_m"] for s in schemes], 0.4, label="location (m)")
    ax[0].bar(x + 0.2, [results[s]["velocity_rmse_mps"] for s in schemes], 0.4, label="velocity (m/s)")
    ax[0].set_xticks(x, [names[s] for s in schemes], fontsize=8)
    ax[0].set_ylabel("RMSE on the test set")
    for s in schemes:
        if s != "trivial":
            loss = np.asarray(results[s]["step_loss"])
            w = max(1, min(50, len(loss) // 5))
            ax[1].semilogy(np.arange(w, len(loss) + 1), np.convolve(loss, np.ones(w) / w, "valid"), label=names[s])
    ax[1].set_ylabel("Training loss (normalised labels, running mean)")
    truth = np.asarray(results["test_truth"])
    ax[2].plot(truth[..., 0].ravel(), truth[..., 1].ravel(), "k+", label="true")
    if "dvqvae" in results:
        est = np.asarray(results["dvqvae"]["estimates"])
        ax[2].plot(est[..., 0].ravel(), est[..., 1].ravel(), "r.", ms=4, label="D-VQVAE")
    ax[2].set_ylabel("y (m)")
    ax[1].set_xlabel("Training step")
    ax[2].set_xlabel("x (m)")
    finish_figure(fig, ax, path, legend_size=8)


EXPERIMENT = Experiment(NAME, "B", DESCRIPTION, PRESETS, run, plot)
