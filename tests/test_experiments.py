"""Every experiment end to end at a tiny size, through the Python API and the CLI."""

import json

import numpy as np
import pytest

from isac_jax import experiments
from isac_jax.cli import main


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
    assert res["ssl_centralised"] == [32000, 64000, 128000, 256000]
    assert res["ssl_distributed"] == [30, 30, 30, 30]
    assert res["paper_reported_centralised"] == {"8": 32000, "64": 244000}
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["seed"] == 3 and cfg["preset"] == "quick" and cfg["config"]["n_samples"] == 200


def test_cli_rejects_unknown_experiment_and_preset(capsys):
    assert main(["reproduce", "nope", "--no-progress"]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err
    assert main(["reproduce", "a-fig11", "--preset", "huge"]) == 2
    assert "unknown preset 'huge'" in capsys.readouterr().err


def test_ml_vs_crb_tiny_end_to_end(tmp_path):
    cfg = experiments.resolve_config("a-ml-vs-crb", "quick", devices=(3,), frame_lengths=(4, 8), n_trials=3,
                                     grid_shape=(3, 3, 2), n_iter=4, chunk_size=3)
    out = experiments.reproduce("a-ml-vs-crb", out=tmp_path, config=cfg, progress=False)
    res = out["results"]
    assert res["mse_ml_simulated"].shape == (1, 2)
    assert np.all(np.isfinite(res["mse_ml_simulated"])) and np.all(res["crb"] > 0)
    assert np.all(res["crb_l"] <= res["crb"])          # Theorem 2 holds on every trial's average
    assert res["crb"][0, 1] < res["crb"][0, 0]          # more samples, lower bound
    assert (tmp_path / "a-ml-vs-crb" / "figure.png").stat().st_size > 0
    # Rerunning resumes from the finished sweep points and gives identical numbers.
    again = experiments.reproduce("a-ml-vs-crb", out=tmp_path, config=cfg, progress=False)["results"]
    np.testing.assert_array_equal(again["mse_ml_simulated"], res["mse_ml_simulated"])


def test_preset_override_validation():
    with pytest.raises(TypeError):
        experiments.resolve_config("a-fig11", "quick", not_a_field=1)
