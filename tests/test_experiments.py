"""Experiments end to end at tiny sizes, through the Python API and the CLI (the FEEL ones are in
``test_feel.py``; ``test_registry_covers_every_experiment`` checks that none is left out)."""

import dataclasses
import json

import numpy as np
import pytest

from isac_jax import experiments
from isac_jax.cli import main
from isac_jax.experiments.paper_a.design import DesignSolver
from isac_jax.ota import PaperASystem


def test_cli_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in experiments.REGISTRY:
        assert name in out


def test_cli_reproduce_fig11(tmp_path, capsys):
    assert main(["reproduce", "a-fig11", "--preset", "quick", "--out", str(tmp_path), "--seed", "3",
                 "--no-progress"]) == 0
    d = tmp_path / "a-fig11"
    for f in ("results.json", "arrays.npz", "config.json", "figure.png"):
        assert (d / f).stat().st_size > 0
    res = json.loads((d / "results.json").read_text())
    assert res["ssl_centralised"] == [32000, 64000, 128000, 256000]      # T_CS = 2 K M s, K = 10, s = 200
    assert res["ssl_distributed"] == [30, 30, 30, 30]                    # T_DS = d R / tau = 3 * 50 / 5
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["seed"] == 3 and cfg["preset"] == "quick" and cfg["config"]["n_samples"] == 200


def test_cli_rejects_unknown_experiment_and_preset(capsys):
    assert main(["reproduce", "nope", "--no-progress"]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err
    assert main(["reproduce", "a-fig11", "--preset", "huge"]) == 2
    assert "unknown preset 'huge'" in capsys.readouterr().err


@pytest.mark.heavy
@pytest.mark.slow
def test_ml_vs_crb_tiny_end_to_end(tmp_path):
    cfg = experiments.resolve_config("a-ml-vs-crb", "quick", devices=(3,), frame_lengths=(4, 8), n_trials=3,
                                     grid_shape=(3, 3, 2), n_iter=4, chunk_size=3)
    out = experiments.reproduce("a-ml-vs-crb", out=tmp_path, config=cfg, progress=False)
    res = out["results"]
    assert res["mse_ml_simulated"].shape == (1, 2)
    assert np.all(np.isfinite(res["mse_ml_simulated"]))
    assert np.all(res["crb_l"] <= res["crb"])          # Theorem 2 holds on every trial's average
    assert res["crb"][0, 1] < res["crb"][0, 0]          # more samples, lower bound
    assert (tmp_path / "a-ml-vs-crb" / "figure.png").stat().st_size > 0
    # Rerunning resumes from the finished sweep points and gives identical numbers.
    again = experiments.reproduce("a-ml-vs-crb", out=tmp_path, config=cfg, progress=False)["results"]
    np.testing.assert_array_equal(again["mse_ml_simulated"], res["mse_ml_simulated"])


def test_preset_override_validation():
    with pytest.raises(TypeError):
        experiments.resolve_config("a-fig11", "quick", not_a_field=1)


TINY_SYSTEM = PaperASystem(n_devices=3, n_antennas=2, n_ps_antennas=4, n_tasks=2, frame_length=4)
TINY_SOLVER = DesignSolver(max_iter=4, n_cstep_iter=30, region_grid=(2, 2, 2), worst_grid=(2, 2, 2), al_iter=4,
                           al_inner=8)


@pytest.mark.heavy
@pytest.mark.slow
def test_fronts_tiny_end_to_end(tmp_path):
    """a-fig8 (a-fig9 and a-pareto-crb run the same code with another varied parameter)."""
    solver = dataclasses.replace(TINY_SOLVER, max_iter=300, tol=1e-4)          # points solved to a tolerance
    cfg = experiments.resolve_config("a-fig8", "quick", values=(4, 8), system=TINY_SYSTEM, solver=solver,
                                     energy_fractions=(0.2, 0.6, 1.0), crb_fractions=(1.0, 0.7), n_instances=2)
    res = experiments.reproduce("a-fig8", out=tmp_path, config=cfg, progress=False)["results"]
    assert list(res["curves"]) == ["T=4", "T=8"]
    for c in res["curves"].values():
        assert np.all(c["energy"] >= res["energy_fraction"] * 3 * 1.0 * (1 - 1e-6))   # (30b): E >= eta K P
        assert np.all(np.diff(c["mse"]) >= -1e-9 * c["mse"].max())   # more energy demanded, never a lower MSE
        assert np.all(c["crb_l"] <= c["crb_worst"])               # Theorem 2 below the exact worst case
        assert set(c["crb_aware"]) >= {"mse", "crb_worst", "crb_l", "feasible_fraction"}
        # Both starts per point: the kept one is the better (per instance, so its mean is at most
        # the smaller mean); the spreads are recomputed from the reported points.
        assert np.all(c["mse"] <= np.minimum(c["mse_cold"], c["mse_warm"]) * (1 + 1e-12))
        assert np.all(c["iterations_cold"] <= solver.max_iter) and np.all(c["start_gap"] >= 0)
        assert c["spread_cold"] == pytest.approx(np.ptp(c["mse_cold"]) / np.min(c["mse_cold"]), rel=1e-12)
        conv = np.asarray(c["converged"])
        assert np.all(conv == ((c["converged_cold"] == 1.0) & (c["converged_warm"] == 1.0)))
        assert conv.sum() >= 2                        # the tiny instances converge within the cap
        assert c["spread_converged"] == pytest.approx(np.ptp(c["mse"][conv]) / np.min(c["mse"][conv]))
    # Twice the frame, half the bound (CRB_L and the exact CRB both scale as 1/T).
    np.testing.assert_allclose(res["curves"]["T=8"]["crb_l"], res["curves"]["T=4"]["crb_l"] / 2, rtol=1e-9)
    saved = json.loads((tmp_path / "a-fig8" / "results.json").read_text())
    assert len(saved["curves"]["T=4"]["mse"]) == 3 and len(saved["curves"]["T=4"]["crb_aware"]["mse"]) == 2


@pytest.mark.heavy
def test_pareto_crb_tiny_end_to_end(tmp_path):
    """a-pareto-crb: the CRB-aware front meets its worst-case-CRB targets (flagged otherwise) and
    tighter targets never give a lower aggregation MSE."""
    cfg = experiments.resolve_config("a-pareto-crb", "quick", values=(4,), system=TINY_SYSTEM, solver=TINY_SOLVER,
                                     energy_fractions=(0.5, 1.0), crb_fractions=(1.0, 0.8), n_instances=2)
    res = experiments.reproduce("a-pareto-crb", out=tmp_path, config=cfg, progress=False)["results"]
    aw = res["curves"]["T=4"]["crb_aware"]
    met = np.asarray(aw["feasible_fraction"]) >= 1.0
    assert np.all(np.asarray(aw["crb_worst"])[met] <= 1.02 * np.asarray(aw["crb_target"])[met])
    assert (tmp_path / "a-pareto-crb" / "figure.png").stat().st_size > 0


@pytest.mark.heavy
@pytest.mark.slow
def test_fig7_and_fig10_tiny_end_to_end(tmp_path):
    cfg7 = experiments.resolve_config("a-fig7", "quick", devices=(2, 3), tasks=(1, 2), system=TINY_SYSTEM,
                                      solver=TINY_SOLVER, n_instances=2)
    res7 = experiments.reproduce("a-fig7", out=tmp_path, config=cfg7, progress=False)["results"]
    assert list(res7["curves"]) == ["I=1", "I=2"]
    for c in res7["curves"].values():
        assert c["mse"].shape == (2,) and np.all(c["crb_l"] <= c["crb_worst"])
    with pytest.raises(ValueError, match="tasks must not exceed n_antennas"):
        experiments.reproduce("a-fig7", out=tmp_path, config=experiments.resolve_config(
            "a-fig7", tasks=(3,), system=TINY_SYSTEM, solver=TINY_SOLVER), progress=False, force=True)
    cfg10 = experiments.resolve_config("a-fig10", "quick", ps_antennas=(4,), system=TINY_SYSTEM, solver=TINY_SOLVER,
                                       n_instances=2, rate_window=(0, 4))
    res10 = experiments.reproduce("a-fig10", out=tmp_path, config=cfg10, progress=False)["results"]
    c = res10["curves"]["N=4"]
    # BCD's steps decrease MSE_bar before its monotonicity guard (which never had to fire).
    assert c["mse"].shape == (5,) and np.all(np.diff(c["step_mse"]) <= 1e-12 * c["step_mse"][0])
    assert c["guard_count_total"] == 0
    np.testing.assert_allclose(c["overall"], 0.5 * (c["mse"] + c["crb_l"]))
    # Other settings in the same output directory are refused, and with force start afresh (the work
    # directory is keyed by the config and seed): the finished sweep of 4 iterations is not reused for 3.
    with pytest.raises(ValueError, match="rate_window"):
        experiments.reproduce("a-fig10", out=tmp_path, config=dataclasses.replace(cfg10, rate_window=(0, 9)),
                              progress=False, force=True)
    cfg10 = dataclasses.replace(cfg10, solver=dataclasses.replace(TINY_SOLVER, max_iter=3))
    with pytest.raises(experiments.outputs.ExistingResultsError, match="another run"):
        experiments.reproduce("a-fig10", out=tmp_path, config=cfg10, progress=False)
    res10 = experiments.reproduce("a-fig10", out=tmp_path, config=cfg10, progress=False, force=True)["results"]
    assert res10["curves"]["N=4"]["mse"].shape == (4,)


def _tiny_cellfree():
    from isac_jax import cellfree as cf
    return cf.get_config("quick", n_subcarriers=4, n_symbols=4, n_tx_antennas=2, n_rx_antennas=2, n_users=2,
                         n_targets=1)


@pytest.mark.heavy
@pytest.mark.slow
def test_paper_b_experiments_tiny_end_to_end(tmp_path):
    res = experiments.reproduce("b-overhead", out=tmp_path, progress=False)["results"]
    assert res["centralised_bits"] == 67_108_864 and res["dvqvae_bits_paper_codebook"] == 81_920
    assert res["reduction_vs_centralised"] > 0.99
    import dataclasses
    cfg = experiments.resolve_config("b-crlb", powers_dbm=(10.0, 30.0), n_scenarios=3, chunk_size=3,
                                     system=dataclasses.replace(_tiny_cellfree(), precoder="mrt"))
    res = experiments.reproduce("b-crlb", out=tmp_path, config=cfg, progress=False)["results"]
    # MRT directions do not depend on P and scenarios are common across P: 20 dB more power gives
    # exactly a 10x lower root CRLB.
    for name in ("root_crlb_location_m", "root_crlb_velocity_mps"):
        np.testing.assert_allclose(res[name][0] / res[name][1], 10.0, rtol=1e-6)
    cfg = experiments.resolve_config("b-design-aps", system=_tiny_cellfree(), n_scenarios=2, n_test_scenarios=2,
                                     n_steps=4)
    res = experiments.reproduce("b-design-aps", out=tmp_path, config=cfg, progress=False)["results"]
    h = res["objective_history"]
    assert len(h) == 5 and h[-1] < h[0]                                      # descent lowers the bound
    assert np.all(res["rx_final"] >= 0) and np.all(res["rx_final"] <= 100)   # APs stay inside the area
    assert res["design_location_bound_m_final"] < res["design_location_bound_m_start"]


def _tiny_learning_setup(**kw):
    from isac_jax.experiments.paper_b.learning import LearningSetup
    # The learning system's sensing stream and range comb, on a tiny grid (2 users leave a null space).
    return LearningSetup(system_overrides=(("n_rx_antennas", 4), ("n_tx_antennas", 4), ("n_subcarriers", 8),
                                           ("n_symbols", 8), ("n_users", 2), ("sensing_power_fraction", 0.3),
                                           ("subcarrier_step", 2)),
                         net_overrides=(("hidden", 4), ("latent_dim", 4), ("n_codewords", 8), ("tx_hidden", 4),
                                        ("proj_dim", 8), ("fc_dim", 8), ("cnn_channels", (2, 2)),
                                        ("cnn_fc", (8, 8, 8)), ("conv_impl", "native")),
                         n_train=32, n_test=16, n_calibration=16, batch_size=8, epochs=2, learning_rate=3e-3, **kw)


@pytest.mark.heavy
@pytest.mark.slow
def test_paper_b_learning_experiments_tiny_end_to_end(tmp_path):
    cfg = experiments.resolve_config("b-train", "quick", setup=_tiny_learning_setup(), classical=("music",),
                                     n_classical=4, chunk=4, schemes=("dvqvae", "dvae", "cnn"))
    res = experiments.reproduce("b-train", out=tmp_path, config=cfg, progress=False)["results"]
    for scheme in ("dvqvae", "dvae", "cnn", "trivial"):
        assert np.isfinite(res[scheme]["location_rmse_m"]) and np.isfinite(res[scheme]["velocity_rmse_mps"])
        assert np.isfinite(res[scheme]["common"]["location_rmse_m"])       # on the classical schemes' samples
    assert res["n_classical"] == 4 and np.isfinite(res["classical"]["music"]["location_rmse_m"])
    with pytest.raises(ValueError, match="classical must be among"):
        experiments.reproduce("b-train", out=tmp_path, progress=False, force=True,
                              config=dataclasses.replace(cfg, classical=("fft",)))
    # Everything on an AP's link: the area_maps input needs the transmit signals X at the receive APs.
    from isac_jax.cellfree.overhead import tx_signal_bits
    x_bits = tx_signal_bits(_tiny_learning_setup().system())
    assert x_bits == 4 * 2 * 8 * 8 + 64 * 2 * 4 * 4 * 8      # 16-QAM symbols, precoders and null-space basis
    assert res["dvqvae"]["fronthaul_bits_latents"] == 3 * 4              # log2(8) bits x L = 1*2*2 latents
    assert res["dvae"]["fronthaul_bits_latents"] == 32 * 4 * 4
    for s in ("dvqvae", "dvae"):
        assert res[s]["fronthaul_bits_tx_signals"] == x_bits
        assert res[s]["fronthaul_bits"] == res[s]["fronthaul_bits_latents"] + x_bits
    assert res["cnn"]["fronthaul_bits"] == res["centralised_bits"] == 64 * 4 * 8 * 8
    assert res["cnn"]["fronthaul_bits_tx_signals"] == 0 and res["trivial"]["fronthaul_bits"] == 0
    assert res["classical"]["music"]["fronthaul_bits"] == 96 * 2 + x_bits
    assert 1.0 <= res["dvqvae"]["codebook_perplexity"] <= 8.0
    assert res["dvqvae"]["epochs_completed"] == 2 and res["dvqvae"]["training_completed"]
    # The headline is the centre head's own peaks; the read-out fitted on the calibration samples is a named
    # variant that states how many labelled samples it used.
    cal = res["dvqvae"]["calibrated"]
    assert len(cal["shrinkage"]) == 6 and cal["readout_calibration_samples"] == 16 and "peaks" not in res["dvqvae"]
    assert np.isfinite(cal["location_rmse_m"]) and np.isfinite(cal["common"]["location_rmse_m"])
    assert [p.stat().st_size > 0 for p in (tmp_path / "b-train" / "work").glob("*/dvqvae.ckpt")] == [True]
    saved = json.loads((tmp_path / "b-train" / "results.json").read_text())
    assert set(saved) >= {"dvqvae", "dvae", "cnn", "trivial", "classical"}
    from isac_jax.experiments.claims import read_claim
    claim = read_claim("b-train", saved)
    numbers = claim["numbers"]
    assert "on the first 4 test samples music reaches" in claim["why"], claim
    cal_key = ("D-VQVAE, the project's network (beyond the paper), calibrated read-out (beyond the paper, fitted on "
               "16 extra labelled samples): location / velocity RMSE")
    assert numbers[cal_key] == (f"{saved['dvqvae']['calibrated']['location_rmse_m']:.3g} m / "
                                f"{saved['dvqvae']['calibrated']['velocity_rmse_mps']:.3g} m/s"), numbers
    assert "the decoder's own output" in claim["why"], claim
    assert numbers["music (first 4 test samples; D-VQVAE on them)"].endswith(
        f"(D-VQVAE {saved['dvqvae']['common']['location_rmse_m']:.3g} m / "
        f"{saved['dvqvae']['common']['velocity_rmse_mps']:.3g} m/s)"), numbers
    # A rerun finds the finished checkpoints and evaluates the same models.
    again = experiments.reproduce("b-train", out=tmp_path, config=cfg, progress=False)["results"]
    assert again["dvqvae"]["location_rmse_m"] == res["dvqvae"]["location_rmse_m"]

    # b-fig10's learned panel: b-train's D-VQVAE (its finished checkpoint) on all its test samples,
    # matched pairs whose errors give the RMSE b-train reports.
    from isac_jax.dvqvae.training import labels_of
    from isac_jax.experiments.paper_b.fig10 import learned_estimates
    ckpt = next((tmp_path / "b-train" / "work").glob("*/dvqvae.ckpt"))
    setup = _tiny_learning_setup()
    panel = learned_estimates(setup, setup.n_test, seed=0, checkpoint=ckpt, progress=False)
    err = np.sum((panel["locations"] - panel["true_locations"]) ** 2, axis=-1)
    np.testing.assert_allclose(panel["location_rmse_m"], np.sqrt(err.mean()), rtol=1e-5)
    np.testing.assert_allclose(panel["location_rmse_m"], res["dvqvae"]["location_rmse_m"], rtol=1e-6)
    truth = np.asarray(labels_of(setup.splits(0)[1]))                              # [n, Q, 4], unmatched
    np.testing.assert_allclose(np.sort(panel["true_velocities"].reshape(len(truth), -1), axis=-1),
                               np.sort(truth[..., 2:].reshape(len(truth), -1), axis=-1), rtol=1e-5)

    cfg = experiments.resolve_config("b-fig11", "quick", setup=_tiny_learning_setup(), learning_rates=(1e-2, 1e-3))
    res = experiments.reproduce("b-fig11", out=tmp_path, config=cfg, progress=False)["results"]
    assert [len(c["epoch_loss"]) for c in res["curves"].values()] == [2, 2]

    # N_c = 8 is b-train's D-VQVAE: its compiled functions are reused.
    cfg = experiments.resolve_config("b-fig12", "quick", setup=_tiny_learning_setup(), codebook_sizes=(2, 8))
    res = experiments.reproduce("b-fig12", out=tmp_path, config=cfg, progress=False)["results"]
    np.testing.assert_array_equal(res["fronthaul_bits_latents"], [1 * 4, 3 * 4])
    np.testing.assert_array_equal(res["fronthaul_bits"], [1 * 4 + x_bits, 3 * 4 + x_bits])

    # The information ladder: the "area_centre" rung is b-train's default D-VQVAE (same training, same
    # result). Two rungs (the other inputs are checked against NumPy in test_dvqvae.py; one more model to
    # compile here would only repeat the paper rung's path).
    cfg = experiments.resolve_config("b-learnability", "quick", setup=_tiny_learning_setup(), classical=("music",),
                                     n_classical=4, chunk=4, rungs=("paper_network", "area_centre"))
    res = experiments.reproduce("b-learnability", out=tmp_path, config=cfg, progress=False)["results"]
    assert "data_aware" not in res
    for rung in ("paper_network", "area_centre"):
        assert res[rung]["fronthaul_bits_latents"] == 3 * 4              # same latent grid for every input
        assert np.isfinite(res[rung]["common"]["location_rmse_m"])
    assert res["paper_network"]["fronthaul_bits"] == 3 * 4              # Re/Im Y_m: no X at the AP
    assert res["area_centre"]["location_rmse_m"] == again["dvqvae"]["location_rmse_m"]
    assert np.isfinite(res["classical"]["music"]["location_rmse_m"]) and res["root_crlb_location_m"] > 0
    for q in ("location_m", "velocity_mps"):       # a median of non-negative values is at most twice their mean
        assert 0 < res[f"median_root_crlb_{q}"] <= np.sqrt(2) * res[f"root_crlb_{q}"]

    # Learned curves: one model per distinct system; both axes pass through the nominal system (the
    # tiny setup's 30 dBm, no clutter), which trains once and is b-train's D-VQVAE.
    cfg = experiments.resolve_config("b-learned-curves", "quick", setup=_tiny_learning_setup(), classical=("music",),
                                     n_classical=4, chunk=4, axes=(("power_dbm", (30.0, 40.0)), ("n_clutter", (0,))))
    res = experiments.reproduce("b-learned-curves", out=tmp_path, config=cfg, progress=False)["results"]
    assert res["n_models"] == 2
    power, clutter = res["power_dbm"], res["n_clutter"]
    assert power["dvqvae"]["location_rmse_m"][0] == clutter["dvqvae"]["location_rmse_m"][0] \
        == again["dvqvae"]["location_rmse_m"]
    # The power changes the echoes, not the scenarios: the trivial predictor scores the same.
    np.testing.assert_allclose(power["trivial"]["location_rmse_m"][1], power["trivial"]["location_rmse_m"][0])
    assert power["dvqvae"]["location_rmse_m"][1] != power["dvqvae"]["location_rmse_m"][0]
    assert np.all(np.isfinite(power["music"]["location_rmse_m"])) and np.all(power["root_crlb_location_m"] > 0)


def test_b_table3_tiny_end_to_end(tmp_path):
    cfg = experiments.resolve_config("b-table3", "quick", settings=((4, 8),), repeats=2, batch=4)
    res = experiments.reproduce("b-table3", out=tmp_path, config=cfg, progress=False)["results"]
    assert set(next(iter(res["settings"].values()))) >= {"encoder_ms", "quantisation_ms", "decoder_ms"}
    assert (tmp_path / "b-table3" / "figure.png").stat().st_size > 0


def test_registry_covers_every_experiment():
    """Every registered experiment runs end to end somewhere in the suite: its name appears in a
    ``reproduce(...)`` call of a test file (or in the list below, with the reason)."""
    import re
    from pathlib import Path

    covered_elsewhere = {"a-fig9": "the a-fig8 code path (fronts.py) with vary='N'; see test_fronts_tiny_end_to_end"}
    text = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    run = set(re.findall(r'reproduce\(\s*"([a-z0-9-]+)"', text)) | set(re.findall(r'"reproduce", "([a-z0-9-]+)"', text))
    missing = set(experiments.REGISTRY) - run - set(covered_elsewhere)
    assert not missing, f"experiments never run end to end in the tests: {sorted(missing)}"
    assert experiments.resolve_config("a-fig9").vary == "N"


def test_paper_network_preset_is_papers_network_and_refuses_a_mixed_setup(tmp_path):
    """``paper_network`` gives Paper B's network: Re/Im Y_m, the 4Q head, lr 1e-4, Table B.II's layers
    at a quarter of its widths on the quick system (Table B.II itself on the paper system); a setup
    that calls itself the paper network with another input is refused, as is an unknown b-train scheme."""
    from isac_jax.dvqvae.config import NET_PRESETS
    from isac_jax.experiments.paper_b.learning import LearningSetup, paper_network

    quick = paper_network(LearningSetup())
    net = quick.net()
    assert (quick.network, net.ap_input, net.head, quick.train_config().learning_rate) == ("paper", "paper", "fc", 1e-4)
    table = NET_PRESETS["paper"]
    assert (net.n_cnn, net.n_res, net.n_cnn_tx, net.n_res_tx, net.n_res_cpu, net.n_codewords, net.proj_dim) == \
        (table.n_cnn, table.n_res, table.n_cnn_tx, table.n_res_tx, table.n_res_cpu, table.n_codewords, table.proj_dim)
    assert (4 * net.hidden, 4 * net.latent_dim, 4 * net.hidden_first) == (table.hidden, table.latent_dim,
                                                                          table.hidden_first)
    paper = paper_network(LearningSetup(system_preset="paper", system_overrides=(), net_preset="paper"))
    assert dataclasses.replace(paper.net(), ap_input="paper", head="fc", heatmap_sigma=1.0) == \
        dataclasses.replace(table, ap_input="paper", head="fc")
    with pytest.raises(ValueError, match="network 'paper' is Re/Im Y_m"):
        dataclasses.replace(quick, ap_input="area_maps", head="centre")
    with pytest.raises(ValueError, match="network must be one of"):
        LearningSetup(network="mine")
    cfg = experiments.resolve_config("b-train", "quick", setup=_tiny_learning_setup(), schemes=("dvqvae", "vae"),
                                     n_classical=4)
    with pytest.raises(ValueError, match="schemes must be among"):
        experiments.reproduce("b-train", out=tmp_path, config=cfg, progress=False)
