"""Property tests of the validation layer (issue 42, item 6): random out-of-range, non-finite,
wrong-shape and wrong-dtype inputs to the validators, the public configs and the kernels always give
exactly a ``ValueError``/``TypeError`` whose message names the argument, raised before any JAX
tracing (no JAX frame in the traceback), never NaN and never a JAX-internal exception; valid inputs
pass and give finite results.

Fast by construction: the invalid examples fail in Python before JAX sees them, and the valid kernel
examples keep one shape, so each kernel compiles its operations once.
"""

from __future__ import annotations

import math
import traceback

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from isac_jax import cellfree as cf
from isac_jax import ota
from isac_jax.core import validate as V
from isac_jax.core.geometry import RingSector
from isac_jax.dvqvae.config import NetConfig, TrainConfig
from isac_jax.fl.clients import LocalTraining
from isac_jax.ota.system import PaperASystem

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = jax.random.PRNGKey(0)

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
non_numbers = st.one_of(st.text(max_size=4), st.none(), st.booleans().map(lambda b: np.array([b, b])))


def assert_named(fn, name: str):
    """``fn()`` raises exactly ValueError or TypeError naming ``name``, with no JAX frame in the traceback."""
    with pytest.raises((ValueError, TypeError)) as info:
        fn()
    assert type(info.value) in (ValueError, TypeError), f"{type(info.value).__name__}: {info.value}"
    assert name in str(info.value), f"{name!r} not in {str(info.value)!r}"
    jax_frames = [f.filename for f in traceback.extract_tb(info.tb) if "/jax/" in f.filename or "/jaxlib/" in f.filename]
    assert not jax_frames, f"raised from inside JAX: {jax_frames}"
    return info.value


# ----------------------------------------------------------------------------------- the validators
@SETTINGS
@given(x=floats, allow_zero=st.booleans())
def test_check_positive_accepts_exactly_the_finite_positive_reals(x, allow_zero):
    ok = math.isfinite(x) and (x >= 0 if allow_zero else x > 0)
    if ok:
        V.check_positive("power", x, allow_zero=allow_zero)
    else:
        err = assert_named(lambda: V.check_positive("power", x, allow_zero=allow_zero), "power")
        assert isinstance(err, ValueError)


@SETTINGS
@given(x=non_numbers)
def test_validators_refuse_non_numbers_with_type_error(x):
    for check in (V.check_positive, V.check_finite, V.check_int):
        err = assert_named(lambda: check("arg_x", x), "arg_x")
        assert isinstance(err, TypeError)
    # A size is one number: a sequence of integers is refused by name too.
    assert isinstance(assert_named(lambda: V.check_int("arg_n", (3, 4)), "arg_n"), TypeError)


@SETTINGS
@given(x=st.one_of(floats, st.integers(-10**20, 10**20)), lo=st.integers(-3, 3), span=st.integers(0, 5))
def test_check_int_accepts_exactly_the_integers_in_range(x, lo, span):
    hi = lo + span
    ok = math.isfinite(x) and float(x) == int(x) and lo <= x <= hi if not isinstance(x, int) else lo <= x <= hi
    if ok:
        assert V.check_int("n_size", x, minimum=lo, maximum=hi) == int(x)
    else:
        err = assert_named(lambda: V.check_int("n_size", x, minimum=lo, maximum=hi), "n_size")
        assert isinstance(err, ValueError)                     # a number: out of range or not integral


@SETTINGS
@given(idx=hnp.arrays(st.sampled_from([np.int8, np.int32, np.int64, np.uint32, np.float32, np.float64]),
                      st.integers(1, 6), elements={"allow_nan": True, "allow_infinity": True}),
       upper=st.integers(1, 200))
def test_check_index_array_accepts_exactly_nonnegative_integers_below_upper(idx, upper):
    integral = idx.dtype.kind in "iu"
    if integral and np.all(idx >= 0) and np.all(idx < upper):
        out = V.check_index_array("indices", idx, upper=upper)
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out, idx)
    else:
        err = assert_named(lambda: V.check_index_array("indices", idx, upper=upper), "indices")
        assert isinstance(err, TypeError) == (not integral)


@SETTINGS
@given(dtype=st.sampled_from(["float16", "float32", "float64", "int32", "int64", "complex64", "bool", "uint8",
                              "bfloat16", "not-a-dtype", None]))
def test_check_dtype_accepts_exactly_float32_and_float64(dtype):
    if dtype in ("float32", "float64"):
        assert V.check_dtype("dtype", dtype) == np.dtype(dtype)
    else:
        assert isinstance(assert_named(lambda: V.check_dtype("dtype", dtype), "dtype"), TypeError)


@SETTINGS
@given(estimate=st.integers(0, 10**18), limit=st.integers(1, 10**18))
def test_check_memory_refuses_exactly_what_exceeds_the_limit_and_gives_the_estimate(estimate, limit):
    if estimate <= limit:
        V.check_memory(estimate, what="draw(n=3)", limit_bytes=limit)
    else:
        err = assert_named(lambda: V.check_memory(estimate, what="draw(n=3)", limit_bytes=limit), "draw(n=3)")
        assert V.format_bytes(estimate) in str(err) and V.format_bytes(limit) in str(err)


# ---------------------------------------------------------------------------------- the public configs
def _bad_values(kind):
    """Values every field of ``kind`` must refuse."""
    nonfinite = st.sampled_from([math.nan, math.inf, -math.inf])
    if kind == "finite":
        return st.one_of(nonfinite, non_numbers)
    if kind == "positive":
        return st.one_of(nonfinite, non_numbers, st.floats(max_value=0.0, allow_nan=False))
    if kind == "nonnegative":
        return st.one_of(nonfinite, non_numbers, st.floats(max_value=-1e-300, allow_nan=False))
    if kind == "int1":
        return st.one_of(nonfinite, non_numbers, st.integers(max_value=0), st.floats(0.01, 1e6).filter(
            lambda v: v != int(v)))
    if kind == "int0":
        return st.one_of(nonfinite, non_numbers, st.integers(max_value=-1), st.floats(0.01, 1e6).filter(
            lambda v: v != int(v)))
    raise AssertionError(kind)


# (config factory, field, kind of the field)
CONFIG_FIELDS = (
    [(cf.get_config, f, "positive") for f in ("carrier_hz", "scs_hz", "cp_s", "ref_distance_m", "pathloss_exp",
                                              "reflection_var", "max_speed_mps", "clutter_var")]
    + [(cf.get_config, f, "finite") for f in ("pathloss_ref_db", "noise_dbm", "comm_noise_dbm", "power_dbm")]
    + [(cf.get_config, f, "int1") for f in ("n_subcarriers", "n_symbols", "n_tx_antennas", "n_rx_antennas", "n_users",
                                            "n_targets", "subcarrier_step", "symbol_step")]
    + [(cf.get_config, f, "nonnegative") for f in ("timing_offset_std_s", "cfo_std_hz", "min_ap_distance_m",
                                                   "rician_k")]
    + [(cf.get_config, "n_clutter", "int0")]
    + [(PaperASystem, f, "int1") for f in ("n_devices", "n_antennas", "n_ps_antennas", "n_tasks", "frame_length")]
    + [(PaperASystem, f, "positive") for f in ("power_w", "noise_var_w", "echo_noise_var_w", "alpha0", "gamma")]
    + [(NetConfig, f, "int1") for f in ("n_cnn", "hidden", "latent_dim", "proj_dim", "fc_dim", "heatmap_grid")]
    + [(NetConfig, f, "int0") for f in ("n_res", "n_res_tx", "n_res_cpu")]
    + [(NetConfig, f, "positive") for f in ("laplace_eps", "heatmap_sigma", "heatmap_regression_weight")]
    + [(NetConfig, f, "nonnegative") for f in ("commitment", "kl_weight", "dead_code_threshold")]
    + [(TrainConfig, f, "int1") for f in ("batch_size", "epochs", "checkpoint_every", "max_steps")]
    + [(TrainConfig, f, "positive") for f in ("learning_rate", "time_budget_s")]
    + [(LocalTraining, f, "int1") for f in ("local_steps", "batch_size")]
    + [(LocalTraining, "learning_rate", "positive")]
    + [(lambda **kw: RingSector(**{"r_min_m": 50.0, "r_max_m": 100.0, **kw}), f, "finite")
       for f in ("arc_start_deg", "z_min_m", "z_max_m")]
)


#: Fields for which None is valid (rician_k=None: pure LoS; no step or time budget).
OPTIONAL = {"rician_k", "max_steps", "time_budget_s"}


@SETTINGS
@given(data=st.data())
def test_configs_refuse_bad_fields_by_name(data):
    make, field, kind = data.draw(st.sampled_from(CONFIG_FIELDS), label="field")
    value = data.draw(_bad_values(kind).filter(lambda v: not (v is None and field in OPTIONAL)), label="value")
    assert_named(lambda: make(**{field: value}), field)


@SETTINGS
@given(data=st.data())
def test_configs_accept_good_fields(data):
    make, field, kind = data.draw(st.sampled_from(CONFIG_FIELDS), label="field")
    if kind in ("int1", "int0"):
        value = data.draw(st.integers(1 if kind == "int1" else 0, 4))
        if field == "n_users":
            value = min(value, 3)          # the quick preset's sensing null space needs n_tx_antennas > n_users
    elif kind == "finite":
        value = data.draw(st.floats(-1e3, 1e3))
    else:
        value = data.draw(st.floats(1e-9 if kind == "positive" else 0.0, 1e3))
    if make is RingSector or (callable(make) and getattr(make, "__name__", "") == "<lambda>"):
        assume(not (field == "z_min_m" and value > 0.0))      # z_min_m <= z_max_m = 0
        assume(not (field == "z_max_m" and value < 0.0))
    cfg = make(**{field: value})
    assert getattr(cfg, field) == value


# ------------------------------------------------------------------------------------------- kernels
@SETTINGS
@given(power=st.one_of(floats, hnp.arrays(np.float64, 2, elements=floats)))
def test_random_precoders_full_power_or_named_error_never_nan(power):
    p = np.asarray(power, np.float64)
    if np.all(np.isfinite(p)) and np.all(p > 0) and np.all(p <= np.finfo(np.float32).max):
        C = np.asarray(ota.random_precoders(KEY, 2, 3, 2, power))        # one shape: compiled once
        assert np.all(np.isfinite(C))
        energy = np.sum(np.abs(C.astype(np.complex128)) ** 2, axis=(1, 2))
        big = p >= 1e-30                                                  # below, float32 rounds to 0
        np.testing.assert_allclose(np.broadcast_to(energy, (2,))[np.broadcast_to(big, (2,))],
                                   np.broadcast_to(p, (2,))[np.broadcast_to(big, (2,))], rtol=1e-5)
    else:
        assert_named(lambda: ota.random_precoders(KEY, 2, 3, 2, power), "power")


@SETTINGS
@given(sizes=st.tuples(*[st.one_of(st.integers(-3, 10**7), st.floats(-2.0, 8.0), st.none())] * 3))
def test_rayleigh_channels_sizes_named_or_refused_by_memory(sizes):
    names = ("n_devices", "n_ps_antennas", "n_antennas")
    bad = [n for n, s in zip(names, sizes) if s is None or not float(s).is_integer() or s < 1]
    fits = not bad and 2 * 8 * math.prod(int(s) for s in sizes) <= V.memory_limit_bytes()
    if fits:
        assume(math.prod(int(s) for s in sizes) <= 64)           # run only small valid draws
        H = np.asarray(ota.rayleigh_channels(KEY, *sizes))
        assert H.shape == tuple(int(s) for s in sizes) and np.all(np.isfinite(H))
    else:
        err = assert_named(lambda: ota.rayleigh_channels(KEY, *sizes), bad[0] if bad else "n_devices=")
        if not bad:
            assert "needs about" in str(err)


_K, _N, _M, _I, _T = 2, 3, 4, 2, 4
_OTA = dict(H=np.ones((_K, _N, _M), np.complex64), C=np.ones((_K, _M, _I), np.complex64),
            W=np.ones((_K, _I, _I), np.float32), pulses=np.ones((_K, _T), np.complex64))
# Axes of each argument whose size is fixed by the others (C's last axis and pulses' last are free).
_FIXED_AXES = {"C": (0, 1), "W": (0, 1, 2), "pulses": (0,)}


@SETTINGS
@given(data=st.data())
def test_ota_kernels_name_the_argument_of_wrong_shape_dtype_or_value(data):
    arg = data.draw(st.sampled_from(sorted(_FIXED_AXES) + ["H"]), label="arg")
    how = data.draw(st.sampled_from(["axis", "ndim", "nonfinite", "dtype"]), label="how")
    if arg == "H":
        how = data.draw(st.sampled_from(["ndim", "nonfinite", "dtype"]), label="how_H")  # H's sizes set the others
    a = _OTA[arg]
    if how == "axis":
        ax = data.draw(st.sampled_from(_FIXED_AXES[arg]), label="axis")
        shape = list(a.shape)
        shape[ax] = data.draw(st.integers(0, 6).filter(lambda n: n != a.shape[ax]), label="size")
        bad = np.ones(shape, a.dtype)
    elif how == "ndim":
        ndim = data.draw(st.integers(0, 5).filter(lambda n: n != a.ndim), label="ndim")
        bad = np.ones((2,) * ndim, a.dtype)
    elif how == "nonfinite":
        bad = a.copy()
        idx = tuple(data.draw(st.integers(0, s - 1)) for s in a.shape)
        extra = [complex(0, np.nan), complex(1, np.inf)] if a.dtype.kind == "c" else []
        bad[idx] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf] + extra))
    else:
        bad = np.ones(a.shape, data.draw(st.sampled_from([bool, np.str_, object])))
    fn = data.draw(st.sampled_from(["optimal_receiver", "aggregation_mse"]), label="fn")
    args = {**_OTA, arg: bad}
    if fn == "optimal_receiver":
        call = lambda: ota.optimal_receiver(args["H"], args["C"], args["W"], args["pulses"], 0.1)  # noqa: E731
    else:
        Mrx = np.ones((_T, _N, _I), np.complex64)
        call = lambda: ota.aggregation_mse(Mrx, args["H"], args["C"], args["W"], args["pulses"], 0.1)  # noqa: E731
    assert_named(call, arg)


@SETTINGS
@given(target=hnp.arrays(np.float64, st.integers(1, 4), elements=floats),
       noise=st.one_of(floats, non_numbers))
def test_crb_names_a_bad_target_or_noise(target, noise):
    devices = np.array([[60.0, 0.0, 0.0], [0.0, 70.0, 0.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        good_target = target.shape == (3,) and np.all(np.isfinite(target)) and np.all(
            np.linalg.norm(devices - target, axis=-1) >= 1e-3)
    good_noise = isinstance(noise, float) and math.isfinite(noise) and noise > 0
    assume(not (good_target and good_noise))                  # valid calls: see test_bad_inputs
    C = np.ones((2, 4, 2), np.complex64)
    names = ["target"] if not good_target else ["echo_noise_var"]
    assert_named(lambda: ota.crb(target, devices, C, noise, 8, 1.0), names[0])


@SETTINGS
@given(idx=st.one_of(hnp.arrays(np.int64, st.integers(1, 5), elements=st.integers(-2**33, 2**33)),
                    hnp.arrays(st.sampled_from([np.float32, np.float64]), st.integers(1, 5),
                               elements={"allow_nan": True, "allow_infinity": True})))
def test_sample_batch_refuses_bad_indices_before_tracing(idx):
    ok = idx.dtype.kind == "i" and np.all(idx >= 0) and np.all(idx < 2**32)
    assume(not ok)                                             # valid indices compile the generator: elsewhere
    assert_named(lambda: cf.sample_batch(KEY, idx, cf.get_config("quick")), "indices")
