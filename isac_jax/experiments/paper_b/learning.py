"""Shared set-up of the Paper B learning experiments (b-train, b-fig11, b-fig12): the data splits,
training one scheme with a checkpoint in the work directory (so an interrupted run resumes), and
its evaluation on the common test set."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ...cellfree.config import get_config
from ...dvqvae.config import TrainConfig, get_net_config
from ...dvqvae.data import GeneratedSplit
from ...dvqvae.features import area_grid
from ...dvqvae.model import SensingModel, index_fronthaul_bits, parameter_count
from ...dvqvae.quantiser import perplexity
from ...dvqvae.readout import calibrated_predict
from ...dvqvae.training import evaluate, fit


@dataclasses.dataclass(frozen=True)
class LearningSetup:
    """System (``cellfree`` preset plus overrides), network preset, data sizes and training settings.

    Samples ``0 .. n_train-1`` of the generator (key ``seed``) train, the next ``n_test`` test, the
    next ``n_calibration`` fit the calibrated read-out, a variant beyond the paper (:meth:`calibration`;
    the headline is the decoder's own output); all are streamed (the generator
    is deterministic, so every scheme sees the same samples).
    ``steps`` is every model's training budget in optimiser steps (``None``: all ``epochs``), the
    same for every scheme, so results do not depend on the machine or its load.

    *Decision (quick preset)*: the quick system has ``M_r N_s T_s`` = 8·32·32 echo samples per AP
    instead of Table B.I's 16·256·256. What sets the achievable accuracy is the echo energy of a
    sample over the noise, ``sum |rho|^2 / xi^2`` over one AP's tensor. Per element the echo power
    scales as ``P / (N_s N_t M_r)`` (the power is spread over the subcarriers, the arrays are
    unit-norm) and the sum runs over ``M_r N_s T_s`` elements, so the sample SNR scales as
    ``P T_s / N_t``: the quick system is ``10 log10((256/16) / (32/8)) = 6.0 dB`` short of Table B.I
    at equal power, so the quick learning system with 8 transmit antennas per AP transmits 35 dBm to
    come close to Table B.I's sample SNR at 30 dBm
    (``docs/modelling/paper-b-learning.md``, "The sample SNR of a smaller system").

    *Decision (learning system)*: ``N_t = 8`` transmit antennas per AP at 35 dBm (the sample SNR of
    Table B.I, above), of which ``sensing_power_fraction = 0.3`` goes to a sensing stream in the null
    space of the users' channels (``cellfree.comm.null_space_sensing``), and the echo observed on every
    8th subcarrier and every 8th symbol (``subcarrier_step = symbol_step = 8``: the quick tensor with
    Table B.I's bandwidth and bistatic range cell, and its duration, so its Doppler resolution and
    Doppler span of 15 resolution cells). All three are beyond the paper. Without the symbol comb, 32
    consecutive symbols span all Dopplers within 1.9 resolution cells and the root median velocity CRLB
    is about eight times larger (``studies/table_b1_departures.py`` computes the CRLB after every departure
    from Table B.I). The MMSE precoders alone aim each transmit AP's beams at
    the users, so a target elsewhere is lit by sidelobes; the sensing stream lights the directions
    outside the users' span evenly without reaching any user, and the range comb separates targets
    that one range cell of the plain quick grid merges (``docs/modelling/paper-b-learning.md``, "The
    learning system"). Other systems: ``system_overrides=(("n_tx_antennas", 4), ("power_dbm", 32.0))``
    (four antennas, the same sample SNR) and ``(("power_dbm", 35.0),)`` (no stream, no combs).

    *Decision (default network input and head)*: the receive APs encode their angle-delay-Doppler
    maps read out on a grid of the area (``area_maps``) and the CPU reads the targets with the
    fully convolutional ``centre`` head (16 x 16 cells, bumps of 2 cells); both are beyond the
    paper, which encodes ``Re/Im Y_m`` and regresses ``4Q`` numbers (``ap_input="paper"``,
    ``head="fc"``; ``b-learnability`` shows every step between them, ``docs/modelling/paper-b-learning.md``).

    ``network``: ``"project"`` (the default network above, *beyond the paper*) or ``"paper"``, Paper B's
    D-VQVAE, the reproduction: build it with :func:`paper_network`, which sets its input, head, widths
    and learning rate.
    """

    network: str = "project"                             # or "paper": see paper_network()
    system_preset: str = "quick"
    system_overrides: tuple = (("power_dbm", 35.0), ("sensing_power_fraction", 0.3),
                               ("subcarrier_step", 8), ("symbol_step", 8))   # applied to the preset (N_t = 8)
    net_preset: str = "quick"
    net_overrides: tuple = (("heatmap_sigma", 2.0),)    # the centre head's bumps (cells)
    ap_input: str = "area_maps"                          # what the receive APs encode (dvqvae.features)
    head: str = "centre"                                 # how the decoder reads the targets (dvqvae.heads)
    n_train: int = 16000
    n_test: int = 1000
    n_calibration: int = 2000                            # after the test samples: fits the read-out (dvqvae.readout)
    batch_size: int = 32
    epochs: int = 10
    learning_rate: float = 1e-3
    steps: int | None = 1200
    lr_schedule: str = "constant"                        # or "cosine" over the budget (TrainConfig)

    def __post_init__(self):
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {', '.join(NETWORKS)}, got {self.network!r}")
        if self.network == "paper" and (self.ap_input, self.head) != ("paper", "fc"):
            raise ValueError("network 'paper' is Re/Im Y_m (ap_input 'paper') with the 4Q regression head (head "
                             f"'fc'), got ap_input {self.ap_input!r}, head {self.head!r}; build it with paper_network()")

    def system(self):
        return get_config(self.system_preset, **dict(self.system_overrides))

    def net(self, **extra):
        """The network preset with this setup's input, head and overrides; the ``centre`` head's grid,
        unless given, has twice the latent grid's cells along x and y (the quick learning system's 16 x 16 area
        cells, :func:`~isac_jax.dvqvae.features.area_grid`, give 4 x 4 latent cells and 8 x 8 head cells of 12.5 m)."""
        kw = {"ap_input": self.ap_input, "head": self.head, **dict(self.net_overrides), **extra}
        if kw["head"] == "centre" and "heatmap_grid" not in kw:
            latent_cells = area_grid(self.system())[0] // get_net_config(self.net_preset, **kw).downsample
            kw["heatmap_grid"] = 2 * latent_cells
        return get_net_config(self.net_preset, **kw)

    def splits(self, seed: int):
        sysc = self.system()
        return (GeneratedSplit(sysc, seed, 0, self.n_train),
                GeneratedSplit(sysc, seed, self.n_train, self.n_train + self.n_test))

    def calibration(self, seed: int, system=None):
        """Samples after the test set (of ``system``, default :meth:`system`) on which the ``centre``
        head's confidence-shrunk read-out is fitted (:mod:`isac_jax.dvqvae.readout`): neither trained
        on nor scored."""
        start = self.n_train + self.n_test
        return GeneratedSplit(system or self.system(), seed, start, start + self.n_calibration)

    def train_config(self, **extra):
        return TrainConfig(**{"learning_rate": self.learning_rate, "batch_size": self.batch_size,
                              "epochs": self.epochs, "max_steps": self.steps,
                              "lr_schedule": self.lr_schedule, **extra})


NETWORKS = ("project", "paper")


def paper_network(setup: LearningSetup) -> LearningSetup:
    """``setup`` with Paper B's network (``network="paper"``): Re/Im ``Y_m`` at the APs (Sec. B.III.A),
    Table B.II's layers (``net_preset`` ``"paper"`` on the paper system, else ``"paper_quick"``: its
    widths scaled to the quick system), the ``4Q`` regression head with the MSE loss (16)-(17)
    (``fc``, under the best target assignment), Adam at ``1e-4`` (Sec. B.V); system, data, budget and
    ``net_overrides`` unchanged (the default's only override, the centre head's bump width, is unused
    by the ``fc`` head)."""
    return dataclasses.replace(setup, network="paper", ap_input="paper", head="fc",
                               net_preset="paper" if setup.system_preset == "paper" else "paper_quick",
                               learning_rate=1e-4)


#: Test samples whose indices measure the D-VQVAE's codebook usage (``codebook_perplexity``).
PERPLEXITY_SAMPLES = 128


def fronthaul_entries(model: SensingModel) -> dict:
    """``fronthaul_bits`` (everything on one receive AP's link per update), ``fronthaul_bits_latents``
    (what the AP sends) and ``fronthaul_bits_tx_signals`` (the transmit signals it receives), from
    :meth:`SensingModel.fronthaul`."""
    f = model.fronthaul()
    return {"fronthaul_bits": f["total"], "fronthaul_bits_latents": f["latents"],
            "fronthaul_bits_tx_signals": f["tx_signals"]}


def train_and_evaluate(model: SensingModel, tc: TrainConfig, train, test, *, seed: int, checkpoint: Path,
                       progress: bool, calibration=None, n_common: int | None = None) -> dict:
    """Fit (resuming from ``checkpoint``), then evaluate on ``test``; D-VQVAE errors come from the
    index-only path and its fronthaul bits from the index tensor it produced. The headline errors
    are the decoder's own output (the ``centre`` head's peaks, the ``fc`` head's ``4Q`` numbers), as in
    the paper. With the ``centre`` head and a ``calibration`` split, ``out["calibrated"]`` scores a
    variant beyond the paper: the confidence-shrunk read-out (``dvqvae.readout``) fitted on those
    labelled samples, with ``readout_calibration_samples`` (their count, labelled data the
    headline does not use), its ``shrinkage`` ``theta`` and, with ``n_common``, its ``common`` RMSEs.
    Fronthaul: :func:`fronthaul_entries` (the D-VQVAE's ``N_b L`` checked on its
    index tensors); the D-VQVAE's ``codebook_perplexity`` is the mean over APs of the perplexity of its
    indices on the first :data:`PERPLEXITY_SAMPLES` test samples (``N_c`` for uniform use, 1 for one
    codeword). ``n_common``: also the RMSEs on the first ``n_common`` test samples
    (``out["common"]``), those the classical schemes are scored on."""
    res = fit(model, tc, train, seed=seed, checkpoint=checkpoint, progress=progress)
    read = calibrated_predict(model, res.state, res.scaler, train, calibration, test)
    pred = read["peaks"]
    out = evaluate(pred, test, res.scaler)
    common = dataclasses.replace(test, stop=test.start + n_common) if n_common is not None else None
    if common is not None:
        out["common"] = evaluate(pred[:n_common], common, res.scaler)
    if "shrunk" in read:
        cal = {**evaluate(read["shrunk"], test, res.scaler), "readout_calibration_samples": len(calibration),
               "shrinkage": read["theta"]}
        if common is not None:
            cal["common"] = evaluate(read["shrunk"][:n_common], common, res.scaler)
        out["calibrated"] = cal
    out.update(fronthaul_entries(model))
    if model.scheme == "dvqvae":
        n_usage = min(len(test), PERPLEXITY_SAMPLES)
        batches = (test.batch(np.arange(a, min(a + 32, n_usage))) for a in range(0, n_usage, 32))
        idx = np.concatenate([np.asarray(model.ap_indices(res.state.params, res.state.book, b["Y"], b["X"]))
                              for b in batches])
        if index_fronthaul_bits(idx, model.net.n_codewords) != out["fronthaul_bits_latents"]:
            raise RuntimeError("the index tensor's bits differ from N_b L")      # a latent grid changed shape
        out["codebook_perplexity"] = float(np.mean(np.asarray(perplexity(idx, model.net.n_codewords))))
    loss = np.asarray(res.state.loss)
    out.update(epoch_loss=res.epoch_loss(), step_loss=loss[~np.isnan(loss)], epochs_completed=len(res.epoch_loss()),
               training_completed=res.completed, train_time_s=res.train_time_s,
               n_parameters=parameter_count(res.state.params), checkpoint=str(checkpoint),
               estimates=np.asarray(res.scaler.rescale(pred[:100])))
    return out
