"""Bad input at the public entry points of ``ota`` and ``cellfree`` (issue 42, "Why", minus CLI and
storage), the public configs, and the memory guard.

One table: each case is a call that differs from a valid one in one argument, the exception type it
must raise and substrings of the message (the argument's name first). Every case must raise exactly
``ValueError`` or ``TypeError`` (JAX's own errors subclass them, hence ``type(...) is``), and from
the validation layer: no frame of JAX in the traceback, i.e. before any tracing. A NaN result, a
JAX-internal exception, a hang (the test times out) or an abort (the run dies) all fail it.
"""

from __future__ import annotations

import traceback

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from isac_jax import cellfree as cf
from isac_jax import ota
from isac_jax.core.geometry import RingSector
from isac_jax.core.validate import MEMORY_LIMIT_ENV, memory_limit_bytes
from isac_jax.dvqvae.config import NetConfig, TrainConfig
from isac_jax.ota.system import PaperASystem

NAN, INF = float("nan"), float("inf")
KEY = jax.random.PRNGKey(0)

# Paper A: K = 2 devices, M = 4 antennas, N = 3 PS antennas, I = 2 tasks, T = 4.
K, M, N, I, T = 2, 4, 3, 2, 4
DEVICES = np.array([[60.0, 0.0, 0.0], [0.0, 70.0, 0.0]])
TARGET = np.array([80.0, 40.0, 2.0])
H = np.ones((K, N, M), np.complex64)
C = np.ones((K, M, I), np.complex64) / np.sqrt(M * I)
W = np.broadcast_to(np.eye(I, dtype=np.float32) / K, (K, I, I))
PULSES = np.ones((K, T), np.complex64)
MRX = np.ones((T, N, I), np.complex64)

# Paper B: N = 2 transmit, M = 2 receive APs, Q = 1 target, N_t = M_r = 4, N_s = T_s = 4.
TX, RX = np.array([[25.0, 0.0], [75.0, 0.0]]), np.array([[25.0, 100.0], [75.0, 100.0]])
G, V = np.array([[50.0, 50.0]]), np.array([[3.0, -2.0]])
BETA = np.ones((2, 2, 1), np.complex64)
X = np.ones((2, 4, 4, 4), np.complex64)
Y = np.ones((2, 4, 4, 4), np.complex64)
ECHO_KW = dict(n_rx=4)
QUICK = cf.get_config("quick")
PAPER = cf.get_config("paper")


def _with(arr, index, value):
    out = np.array(arr, dtype=np.result_type(arr, type(value)))
    out[index] = value
    return out


def _crb(**kw):
    args = dict(target=TARGET, devices=DEVICES, C=C, echo_noise_var=1e-3, T=T, P=1.0)
    return ota.crb(**{**args, **kw})


def _echo(fn=None, **kw):
    args = dict(tx=TX, rx=RX, targets=G, velocities=V, beta=BETA, x=X)
    args.update({k: v for k, v in kw.items() if k in args})
    opts = {**ECHO_KW, **{k: v for k, v in kw.items() if k not in args}}
    return (fn or cf.noiseless_echo)(*args.values(), **opts)


def _estimate(scheme="music", **kw):
    args = dict(Y=Y, x=X, tx=TX, rx=RX)
    args.update({k: v for k, v in kw.items() if k in args})
    opts = {"n_targets": 1, **ECHO_KW, **{k: v for k, v in kw.items() if k not in args}}
    return cf.estimate(scheme, *args.values(), **opts)


# (id, call, exception type, substrings of the message; the first names the argument)
CASES = [
    # --- issue 42 "Why": silent NaN/inf
    ("random_precoders power=-1", lambda: ota.random_precoders(KEY, K, M, I, -1.0), ValueError, ["power", "in (0, "]),
    ("random_precoders power=nan", lambda: ota.random_precoders(KEY, K, M, I, NAN), ValueError, ["power", "finite"]),
    ("random_precoders power=inf", lambda: ota.random_precoders(KEY, K, M, I, INF), ValueError, ["power", "finite"]),
    ("crb NaN target", lambda: _crb(target=_with(TARGET, 0, NAN)), ValueError, ["target", "finite"]),
    # --- silently accepted
    ("sample_batch index -1", lambda: cf.sample_batch(KEY, np.array([3, -1]), QUICK), ValueError,
     ["indices", "non-negative"]),
    ("sample_batch float indices", lambda: cf.sample_batch(KEY, np.array([0.0, 1.5]), QUICK), TypeError,
     ["indices", "integer dtype"]),
    ("sample_batch index 2**32", lambda: cf.sample_batch(KEY, np.array([2**32]), QUICK), ValueError,
     ["indices", "< 4294967296"]),
    ("sample_labels index -1", lambda: cf.sample_labels(KEY, [-1], QUICK), ValueError, ["indices", "non-negative"]),
    ("get_config power_dbm=nan", lambda: cf.get_config(power_dbm=NAN), ValueError, ["power_dbm", "finite"]),
    ("get_config n_subcarriers=1e9", lambda: cf.get_config(n_subcarriers=10**9), ValueError,
     ["n_subcarriers=1000000000", "needs about", "TB"]),
    # --- errors from deep inside JAX
    ("rayleigh_channels K=-1", lambda: ota.rayleigh_channels(KEY, -1, N, M), ValueError, ["n_devices", ">= 1"]),
    ("sample_batch dtype=int32", lambda: cf.sample_batch(KEY, np.arange(2), QUICK, dtype=jnp.int32), TypeError,
     ["dtype", "float32, float64"]),
    # --- abort, and a request that fails only when read
    ("rayleigh_channels 1e16 entries", lambda: ota.rayleigh_channels(KEY, 10**6, 10**5, 10**5), ValueError,
     ["n_devices=1000000", "needs about", "PB"]),
    ("sample_batch 137 GB", lambda: cf.sample_batch(KEY, np.arange(4096), PAPER), ValueError,
     ["4096 indices", "needs about", "GB"]),
    # --- the rest of ota's public surface
    ("random_precoders dtype=int32", lambda: ota.random_precoders(KEY, K, M, I, 1.0, dtype=jnp.int32), TypeError,
     ["dtype"]),
    ("random_precoders n_tasks=2.5", lambda: ota.random_precoders(KEY, K, M, 2.5, 1.0), ValueError, ["n_tasks"]),
    ("random_precoders power='1'", lambda: ota.random_precoders(KEY, K, M, I, "1"), TypeError, ["power"]),
    ("rayleigh_channels gain=-1", lambda: ota.rayleigh_channels(KEY, K, N, M, gain=-1.0), ValueError, ["gain", "in (0, "]),
    ("rayleigh_channels n_antennas=None", lambda: ota.rayleigh_channels(KEY, K, N, None), TypeError,
     ["n_antennas"]),
    ("dirichlet_weights alpha=0", lambda: ota.dirichlet_weights(KEY, K, I, alpha=0.0), ValueError, ["alpha"]),
    ("dft_pulses K=-1", lambda: ota.dft_pulses(-1, 4), ValueError, ["K", ">= 1"]),
    ("dft_pulses T=nan", lambda: ota.dft_pulses(2, NAN), ValueError, ["T", "integer"]),
    ("dft_pulses T=1e12", lambda: ota.dft_pulses(2, 10**12), ValueError, ["T=1000000000000", "needs about"]),
    ("walsh_hadamard_pulses T=6", lambda: ota.walsh_hadamard_pulses(2, 6), ValueError, ["T", "power of two"]),
    ("walsh_hadamard_pulses T=2**30", lambda: ota.walsh_hadamard_pulses(2, 2**30), ValueError,
     ["T=1073741824", "needs about"]),
    ("optimal_receiver NaN H", lambda: ota.optimal_receiver(_with(H, (0, 0, 0), NAN), C, W, PULSES, 0.1),
     ValueError, ["H", "finite"]),
    ("optimal_receiver C shape", lambda: ota.optimal_receiver(H, C[:, :2], W, PULSES, 0.1), ValueError,
     ["C", "shape"]),
    ("optimal_receiver noise_var=-1", lambda: ota.optimal_receiver(H, C, W, PULSES, -1.0), ValueError,
     ["noise_var", ">= 0"]),
    ("optimal_receiver noise_var=nan", lambda: ota.optimal_receiver(H, C, W, PULSES, NAN), ValueError,
     ["noise_var", "finite"]),
    ("aggregation_mse inf W", lambda: ota.aggregation_mse(MRX, H, C, _with(W, (1, 0, 0), INF), PULSES, 0.1),
     ValueError, ["W", "finite"]),
    ("aggregation_mse Mrx shape", lambda: ota.aggregation_mse(MRX[:2], H, C, W, PULSES, 0.1), ValueError,
     ["Mrx", "shape"]),
    ("aggregation_mse NaN pulses", lambda: ota.aggregation_mse(MRX, H, C, W, _with(PULSES, (0, 1), NAN), 0.1),
     ValueError, ["pulses", "finite"]),
    ("fisher_information target shape", lambda: ota.fisher_information(TARGET[:2], DEVICES, C, 1e-3, T, 1.0),
     ValueError, ["target", "shape"]),
    ("fisher_information NaN devices", lambda: ota.fisher_information(TARGET, _with(DEVICES, (1, 2), NAN), C,
                                                                      1e-3, T, 1.0), ValueError, ["devices", "finite"]),
    ("crb inf C", lambda: _crb(C=_with(C, (0, 0, 0), INF)), ValueError, ["C", "finite"]),
    ("crb echo_noise_var=-1", lambda: _crb(echo_noise_var=-1.0), ValueError, ["echo_noise_var", "> 0"]),
    ("crb P=nan", lambda: _crb(P=NAN), ValueError, ["P", "finite"]),
    ("crb target on a device", lambda: _crb(target=DEVICES[0]), ValueError, ["target", "coincide"]),
    ("design_beamformers P=-1", lambda: ota.design_beamformers(H, W, PULSES, 0.1, -1.0, 1.0), ValueError,
     ["P", "> 0"]),
    ("design_beamformers eps infeasible", lambda: ota.design_beamformers(H, W, PULSES, 0.1, 1.0, 0.1), ValueError,
     ["eps", "infeasible"]),
    ("design_beamformers noise_var=nan", lambda: ota.design_beamformers(H, W, PULSES, NAN, 1.0, 1.0), ValueError,
     ["noise_var", "finite"]),
    ("design_beamformers max_iter=0", lambda: ota.design_beamformers(H, W, PULSES, 0.1, 1.0, 1.0, max_iter=0),
     ValueError, ["max_iter", ">= 1"]),
    ("design_beamformers W shape", lambda: ota.design_beamformers(H, W[0], PULSES, 0.1, 1.0, 1.0), ValueError,
     ["W", "shape"]),
    ("simulate_echoes echo_noise_var=-1", lambda: ota.simulate_echoes(KEY, TARGET, DEVICES, np.ones((K, T, M)), -1.0),
     ValueError, ["echo_noise_var", ">= 0"]),
    ("simulate_echoes x shape", lambda: ota.simulate_echoes(KEY, TARGET, DEVICES, np.ones((K, T)), 1.0), ValueError,
     ["x", "shape"]),
    ("whitened_mean NaN target", lambda: ota.whitened_mean(_with(TARGET, 2, NAN), DEVICES, C, 1e-3, T, 1.0),
     ValueError, ["target", "finite"]),
    ("large_t_statistics P=0", lambda: ota.large_t_statistics(KEY, TARGET, DEVICES, C, 1e-3, T, 0.0), ValueError,
     ["P", "> 0"]),
    ("receiver_noise n_frames=0", lambda: ota.receiver_noise(KEY, MRX, 0.1, 0), ValueError, ["n_frames", ">= 1"]),
    ("receiver_noise 1e12 frames", lambda: ota.receiver_noise(KEY, MRX, 0.1, 10**12), ValueError,
     ["n_frames=1000000000000", "needs about"]),
    ("receiver_noise noise_var=nan", lambda: ota.receiver_noise(KEY, MRX, NAN, 2), ValueError, ["noise_var", "finite"]),
    ("ml_localize NaN Xi_hat", lambda: ota.ml_localize(_with(np.ones((K, M, M), np.complex64), (0, 0, 0), NAN),
                                                       DEVICES, C, 1e-3, T, 1.0, RingSector(100.0, 110.0)),
     ValueError, ["Xi_hat", "finite"]),
    ("ml_localize region=None", lambda: ota.ml_localize(np.ones((K, M, M)), DEVICES, C, 1e-3, T, 1.0, None),
     TypeError, ["region", "RingSector"]),
    # --- the rest of cellfree's public surface
    ("comm_channels n_subcarriers=0", lambda: cf.comm_channels(KEY, TX, G, 4, 0), ValueError, ["n_subcarriers"]),
    ("comm_channels NaN users", lambda: cf.comm_channels(KEY, TX, _with(G, (0, 1), NAN), 4, 4), ValueError,
     ["users", "finite"]),
    ("noiseless_echo NaN targets", lambda: _echo(targets=_with(G, (0, 0), NAN)), ValueError, ["targets", "finite"]),
    ("noiseless_echo inf x", lambda: _echo(x=_with(X, (0, 0, 0, 0), INF)), ValueError, ["x", "finite"]),
    ("noiseless_echo beta shape", lambda: _echo(beta=BETA[:1]), ValueError, ["beta", "shape"]),
    ("noiseless_echo carrier_hz=0", lambda: _echo(carrier_hz=0.0), ValueError, ["carrier_hz", "> 0"]),
    ("noiseless_echo pathloss_ref_db=nan", lambda: _echo(pathloss_ref_db=NAN), ValueError,
     ["pathloss_ref_db", "finite"]),
    ("noiseless_echo n_rx=0", lambda: _echo(n_rx=0), ValueError, ["n_rx", ">= 1"]),
    ("crlb noise_dbm=nan", lambda: _echo(cf.crlb, noise_dbm=NAN), ValueError, ["noise_dbm", "finite"]),
    ("crlb NaN velocities", lambda: _echo(cf.crlb, velocities=_with(V, (0, 1), NAN)), ValueError,
     ["velocities", "finite"]),
    ("crlb target on an AP", lambda: _echo(cf.crlb, targets=TX[:1]), ValueError, ["targets", "coincide"]),
    ("crlb_closed_form scs_hz=-1", lambda: _echo(cf.crlb_closed_form, scs_hz=-1.0), ValueError, ["scs_hz", "> 0"]),
    ("estimate NaN Y", lambda: _estimate(Y=_with(Y, (0, 0, 0, 0), NAN)), ValueError, ["Y", "finite"]),
    ("estimate unknown scheme", lambda: _estimate("fft"), ValueError, ["scheme", "one of"]),
    ("estimate n_targets=0", lambda: _estimate(n_targets=0), ValueError, ["n_targets", ">= 1"]),
    ("estimate NaN tx", lambda: _estimate(tx=_with(TX, (0, 0), NAN)), ValueError, ["tx", "finite"]),
    ("simulate_sample cfg=None", lambda: cf.simulate_sample(KEY, None), TypeError, ["cfg", "CellFreeConfig"]),
    ("simulate_sample dtype=float16", lambda: cf.simulate_sample(KEY, QUICK, dtype="float16"), TypeError, ["dtype"]),
    ("sample_batch cfg=dict", lambda: cf.sample_batch(KEY, [0], {}), TypeError, ["cfg", "CellFreeConfig"]),
    ("sample_batch 2-D indices", lambda: cf.sample_batch(KEY, np.zeros((2, 2), int), QUICK), ValueError,
     ["indices", "axis"]),
    ("iterate_batches start=-1", lambda: next(cf.iterate_batches(KEY, -1, 4, 2, QUICK)), ValueError, ["start"]),
    # --- public configs
    ("CellFreeConfig noise_dbm=inf", lambda: cf.get_config(noise_dbm=INF), ValueError, ["noise_dbm", "finite"]),
    ("CellFreeConfig n_users='4'", lambda: cf.get_config(n_users="4"), TypeError, ["n_users"]),
    ("CellFreeConfig carrier_hz=-1", lambda: cf.get_config(carrier_hz=-1.0), ValueError, ["carrier_hz", "> 0"]),
    ("CellFreeConfig tx_positions NaN", lambda: cf.get_config(tx_positions=((NAN, 0.0),)), ValueError,
     ["tx_positions", "finite"]),
    ("CellFreeConfig area_m=(100,)", lambda: cf.get_config(area_m=(100.0,)), ValueError, ["area_m", "shape"]),
    ("CellFreeConfig rician_k=nan", lambda: cf.get_config(rician_k=NAN), ValueError, ["rician_k", "finite"]),
    ("CellFreeConfig unknown field", lambda: cf.get_config(n_beams=2), TypeError, ["n_beams"]),
    ("PaperASystem power_w=-1", lambda: PaperASystem(power_w=-1.0), ValueError, ["power_w", "> 0"]),
    ("PaperASystem n_devices=nan", lambda: PaperASystem(n_devices=NAN), ValueError, ["n_devices", "integer"]),
    ("RingSector z_max_m=nan", lambda: RingSector(50.0, 100.0, z_max_m=NAN), ValueError, ["z_max_m", "finite"]),
    ("NetConfig latent_dim=nan", lambda: NetConfig(latent_dim=NAN), ValueError, ["latent_dim", "integer"]),
    ("NetConfig commitment=nan", lambda: NetConfig(commitment=NAN), ValueError, ["commitment", "finite"]),
    ("NetConfig cnn_fc negative", lambda: NetConfig(cnn_fc=(256, -1)), ValueError, ["cnn_fc[1]", ">= 1"]),
    ("TrainConfig learning_rate='1e-3'", lambda: TrainConfig(learning_rate="1e-3"), TypeError, ["learning_rate"]),
    ("TrainConfig grad_clip=nan", lambda: TrainConfig(grad_clip=NAN), ValueError, ["grad_clip", "finite"]),
]


def _raised_by_validation(info, exc_type, substrings):
    err = info.value
    assert type(err) is exc_type, f"{type(err).__name__} is not exactly {exc_type.__name__}: {err}"
    for s in substrings:
        assert s in str(err), f"{s!r} not in {str(err)!r}"
    frames = [f.filename for f in traceback.extract_tb(info.tb)]
    jax_frames = [f for f in frames if "/jax/" in f or "/jaxlib/" in f]
    assert not jax_frames, f"raised from inside JAX (after tracing began): {jax_frames}"


@pytest.mark.parametrize("call, exc_type, substrings", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_named_error(call, exc_type, substrings):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    _raised_by_validation(info, exc_type, substrings)


def test_crb_of_singular_fim_is_inf_not_nan():
    """A singular FIM gives the documented +inf, never NaN; a regular one is untouched.

    All-zero precoders send no echo energy (J = 0); one device with a single active antenna and
    task sees the target through a ULA response that fixes two of its three coordinates (rank 2).
    One compiled program for the three precoder sets (same shapes)."""
    fim_and_crb = jax.jit(lambda C_: (ota.fisher_information(TARGET, DEVICES, C_, 1e-3, T, 1.0),
                                      ota.crb(TARGET, DEVICES, C_, 1e-3, T, 1.0)))
    one = np.zeros_like(C)
    one[0, 0, 0] = 1.0
    for C_ in (np.zeros_like(C), one):
        _, bound = fim_and_crb(C_)
        assert np.isposinf(float(bound))
    J, bound = fim_and_crb(C)
    # tr J^-1 from an independent float64 NumPy solve (float32 FIM: tolerance 1e-3).
    J = np.asarray(J, np.float64)
    np.testing.assert_allclose(float(bound), np.trace(np.linalg.solve(J, np.eye(3))), rtol=1e-3)


def test_memory_limit_is_configurable(monkeypatch):
    """The limit comes from the environment when set: a small draw is refused under a tiny limit,
    with its estimate (2 x 2*4*2 complex64 = 256 bytes), and allowed again without it."""
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "100")
    assert memory_limit_bytes() == 100
    with pytest.raises(ValueError, match=r"random_precoders\(n_devices=2, n_antennas=4, n_tasks=2\) needs about 256 B"):
        ota.random_precoders(KEY, K, M, I, 1.0)
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match=MEMORY_LIMIT_ENV):
        memory_limit_bytes()
    monkeypatch.delenv(MEMORY_LIMIT_ENV)
    C1 = ota.random_precoders(KEY, K, M, I, 2.0)
    np.testing.assert_allclose(np.sum(np.abs(np.asarray(C1)) ** 2, axis=(1, 2)), [2.0, 2.0], rtol=1e-5)
