"""Paper B evaluation experiments end to end on a tiny system: b-fig6 (all schemes) and the
classical sweeps b-fig7/8/9/10/13/14 (one scheme, one compiled trial per shape)."""

import dataclasses

import numpy as np
import pytest

from isac_jax import cellfree as cf
from isac_jax import experiments

TINY = cf.get_config("quick", n_subcarriers=8, n_symbols=8, n_tx_antennas=2, n_rx_antennas=4, n_users=2,
                     n_targets=1)
SMALL = dict(system=TINY, schemes=("music",), n_samples=2, chunk_size=2)


@pytest.mark.heavy
@pytest.mark.slow
def test_b_fig6_tiny_end_to_end(tmp_path):
    # ml_refined on the first 2 of 3 samples (its own sweep), the other schemes on all 3.
    cfg = experiments.resolve_config("b-fig6", powers_dbm=(30.0, 50.0), n_samples=3, ml_refined_samples=2,
                                     chunk_size=2, system=dataclasses.replace(TINY, precoder="mrt"))
    res = experiments.reproduce("b-fig6", out=tmp_path, config=cfg, progress=False)["results"]
    assert res["n_samples"] == 3 and res["ml_refined_samples"] == 2
    # Same samples at both powers, MRT: the bound falls exactly 10x for 20 dB (as b-crlb).
    np.testing.assert_allclose(res["root_crlb_location_m"][0] / res["root_crlb_location_m"][1], 10.0, rtol=1e-6)
    # ml_refined carries the bound of its own 2 samples, the same 10x ratio.
    ml_bound = res["ml_refined"]["root_crlb_location_m"]
    np.testing.assert_allclose(ml_bound[0] / ml_bound[1], 10.0, rtol=1e-6)
    for scheme in ("monostatic", "music", "cs", "ml_refined"):
        assert res[scheme]["location_rmse_m"].shape == (2,) and np.all(np.isfinite(res[scheme]["location_rmse_m"]))
    assert "velocity_rmse_mps" not in res["monostatic"] and res["music"]["fronthaul_bits"] == 96
    assert res["ml_refined"]["fronthaul_bits"] == 64 * 4 * 8 * 8


def _check_sweep(res, n_points):
    assert res["music"]["location_rmse_m"].shape == (n_points,)
    assert np.isfinite(res["root_crlb_location_m"]).all()


@pytest.mark.heavy
@pytest.mark.slow
def test_b_sweeps_tiny_end_to_end(tmp_path):
    # Q is swept: per-target outputs of different lengths must still stack.
    res = experiments.reproduce("b-fig7", out=tmp_path, progress=False,
                                config=experiments.resolve_config("b-fig7", values=(1, 2), **SMALL))["results"]
    _check_sweep(res, 2)
    res = experiments.reproduce("b-fig8", out=tmp_path, progress=False,
                                config=experiments.resolve_config("b-fig8", values=(8,), **SMALL))["results"]
    _check_sweep(res, 1)
    res = experiments.reproduce("b-fig9", out=tmp_path, progress=False,
                                config=experiments.resolve_config("b-fig9", values=(4,), **SMALL))["results"]
    _check_sweep(res, 1)


@pytest.mark.heavy
@pytest.mark.slow
def test_b_clutter_offset_and_scatter_experiments_tiny_end_to_end(tmp_path):
    res = experiments.reproduce("b-fig13", out=tmp_path, progress=False, config=experiments.resolve_config(
        "b-fig13", values=(3,), clutter_vars=(1.0, 1e-4), **SMALL))["results"]
    # Same samples: the clutter-free bound is the same for both variances, the estimates are not.
    np.testing.assert_allclose(res["root_crlb_location_m"][0, 0], res["root_crlb_location_m"][0, 1], rtol=1e-12)
    assert res["music"]["location_rmse_m"][0, 0] != res["music"]["location_rmse_m"][0, 1]
    res = experiments.reproduce("b-fig14", out=tmp_path, progress=False, config=experiments.resolve_config(
        "b-fig14", values=(0.0, 0.5), **SMALL))["results"]
    np.testing.assert_allclose(res["root_crlb_location_m"][0], res["root_crlb_location_m"][1], rtol=1e-12)
    assert res["music"]["location_rmse_m"][0] != res["music"]["location_rmse_m"][1]
    res = experiments.reproduce("b-fig10", out=tmp_path, progress=False, config=experiments.resolve_config(
        "b-fig10", system=dataclasses.replace(TINY, power_dbm=40.0), schemes=("music",), n_samples=2,
        chunk_size=2, learned=None))["results"]
    r = res["music"]
    err = np.sum((np.asarray(r["locations"]) - np.asarray(r["true_locations"])) ** 2, axis=-1)
    np.testing.assert_allclose(r["location_rmse_m"], np.sqrt(err.mean()), rtol=1e-12)
