"""Paper B learning quality on a tiny one-target system: tests that fail when learning breaks.

A D-VQVAE (the default network of the learning experiments: ``area_maps`` input, ``centre`` head, at
tiny widths) trains for 72 steps on 384 samples of a tiny system at 35 dBm and is scored on 128
held-out samples, trained once per session (:func:`_trained`). Each test
states the component whose failure it catches; the report of the change that added them gives the
numbers of each test with that component broken (a straight-through estimator that passes no gradient
to the encoders, a codebook that the EMA update never moves).
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

from isac_jax.cellfree import get_config, sample_batch
from isac_jax.dvqvae import SensingModel, TrainConfig, evaluate, fit, get_net_config, predict, trivial_prediction
from isac_jax.dvqvae.data import ArraySplit
from isac_jax.dvqvae.quantiser import perplexity

SYSTEM = get_config("quick", n_rx_antennas=4, n_tx_antennas=4, n_subcarriers=16, n_symbols=16, n_targets=1,
                    power_dbm=35.0)
# The default kernels (``auto``: im2col on the CPU): these tests are run-bound (72 steps), and XLA's native CPU
# convolution took 3x as long for the same parameters.
NET = get_net_config("quick", hidden=8, latent_dim=8, fc_dim=16, ap_input="area_maps", head="centre", heatmap_grid=8,
                     heatmap_sigma=1.5)
N_TRAIN, N_TEST = 384, 128


@functools.lru_cache(maxsize=None)
def _data():
    data = {k: np.asarray(v) for k, v in sample_batch(jax.random.PRNGKey(11), np.arange(N_TRAIN + N_TEST),
                                                      SYSTEM).items()}
    return (ArraySplit({k: v[:N_TRAIN] for k, v in data.items()}),
            ArraySplit({k: v[N_TRAIN:] for k, v in data.items()}))


@functools.lru_cache(maxsize=None)
def _trained(scheme: str) -> dict:
    """``scheme`` trained for 6 epochs of 12 steps; its held-out RMSEs, the trivial predictor's, and (D-VQVAE)
    the perplexity of its indices on the held-out samples per AP.

    Not tested here: the D-VQVAE against the D-VAE. On this budget the D-VAE does not learn (measured
    45.4 m, 1.10x the trivial error, against the D-VQVAE's 18.5 m), so "within 1.3x the D-VAE" would
    pass with a frozen codebook (46.9 m) and says nothing about quantisation."""
    train, test = _data()
    model = SensingModel(scheme, NET, SYSTEM)
    res = fit(model, TrainConfig(batch_size=32, epochs=6, learning_rate=3e-3), train, progress=False)
    out = {"learned": evaluate(predict(model, res.state, test), test, res.scaler),
           "trivial": evaluate(trivial_prediction(train, len(test), res.scaler), test, res.scaler)}
    if scheme == "dvqvae":
        idx = model.ap_indices(res.state.params, res.state.book, test.data["Y"], test.data["X"])
        out["perplexity"] = np.asarray(perplexity(idx, NET.n_codewords))
    return out


@pytest.mark.heavy
@pytest.mark.slow
def test_a_learned_sensor_beats_the_trivial_predictor_on_held_out_samples():
    """The D-VQVAE, evaluated on the index-only path, locates held-out targets with less than 0.7x the
    error of the trivial predictor (the training-label mean, 41.2 m here; measured 0.45x). A training
    loop that does not learn (a broken gradient, a straight-through estimator that blocks the task's
    gradient to the encoders: measured 1.85x, a frozen codebook: 1.14x, label scaling, input map, latents
    misaligned with the area, wrong cells, offsets or peak picking in the head) stays near or above the
    trivial error."""
    r = _trained("dvqvae")
    assert r["learned"]["location_rmse_m"] < 0.7 * r["trivial"]["location_rmse_m"], r


@pytest.mark.heavy
@pytest.mark.slow
def test_the_codebook_perplexity_stays_above_a_floor():
    """After 72 steps every AP uses more than 4 of its 32 codewords' worth on held-out samples
    (perplexity; measured 17.6). Encoders that get no task gradient through the straight-through
    estimator collapse onto one codeword (measured 1.00). A frozen codebook (no EMA update) is not
    caught here: its codewords, drawn from the first batch's encoder outputs, stay in use (measured
    10.0); the location test catches it (measured 1.14x the trivial error, 46.9 m)."""
    r = _trained("dvqvae")
    assert r["perplexity"].min() > 4.0, r["perplexity"]

