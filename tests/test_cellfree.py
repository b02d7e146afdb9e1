"""Paper B physics: echoes (B.6) vs NumPy loops, CRLB (B.23-B.24) vs finite differences, precoding,
clock offsets, clutter, fronthaul bits, dataset determinism and resumption."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import crandn, rel_err
from isac_jax import cellfree as cf

C0 = 299_792_458.0
KW = dict(n_rx=4, carrier_hz=30e9, scs_hz=240e3, cp_s=1.04e-6, pathloss_ref_db=-60.0, pathloss_exp=2.0,
          ref_distance_m=1.0)
TX = np.array([[25.0, 0.0], [75.0, 0.0]])
RX = np.array([[25.0, 100.0], [75.0, 100.0]])


def np_echo(tx, rx, g, v, beta, x, n_rx=4, fc=30e9, df=240e3, tp=1.04e-6, pl0_db=-60.0, zeta=2.0, d0=1.0):
    """(B.6) without noise, explicit loops over n, m, q (float64)."""
    N, Nt, Ns, Ts = x.shape
    M, Q = len(rx), len(g)
    dT = 1 / df + tp
    y = np.zeros((M, n_rx, Ns, Ts), complex)
    i = np.arange(Ns)[:, None]
    t = np.arange(1, Ts + 1)[None, :]
    for n in range(N):
        for m in range(M):
            for q in range(Q):
                dn = np.linalg.norm(g[q] - tx[n])
                dm = np.linalg.norm(g[q] - rx[m])
                cos_t, sin_t = -(g[q, 0] - tx[n, 0]) / dn, (g[q, 1] - tx[n, 1]) / dn
                cos_r, sin_r = (g[q, 0] - rx[m, 0]) / dm, (rx[m, 1] - g[q, 1]) / dm
                vn = -v[q, 0] * cos_t + v[q, 1] * sin_t
                vm = v[q, 0] * cos_r - v[q, 1] * sin_r
                tau = (dn + dm) / C0
                fd = (vn + vm) / C0 * fc
                pl = 10 ** (pl0_db / 10) * ((dn + dm) / d0) ** (-zeta)
                at = np.exp(-1j * np.pi * np.arange(Nt) * cos_t) / np.sqrt(Nt)
                ar = np.exp(-1j * np.pi * np.arange(n_rx) * cos_r) / np.sqrt(n_rx)
                phase = np.exp(-2j * np.pi * (i * tau * df - t * fd * dT))          # [Ns, Ts]
                ax = np.einsum("a,ait->it", at.conj(), x[n])
                y[m] += beta[n, m, q] * np.sqrt(pl) * ar[:, None, None] * (phase * ax)[None]
    return y


def np_crlb_finite_differences(tx, rx, g, v, beta, x, noise_w, n_rx=4):
    """CRLB_psi (B.24) with the FIM (B.23) from central finite differences of :func:`np_echo`."""
    Q = len(g)
    eta = np.concatenate([g.ravel(), v.ravel(), beta.real.ravel(), beta.imag.ravel()])

    def rho(e):
        b = (e[4 * Q:4 * Q + beta.size] + 1j * e[4 * Q + beta.size:]).reshape(beta.shape)
        return np_echo(tx, rx, e[:2 * Q].reshape(Q, 2), e[2 * Q:4 * Q].reshape(Q, 2), b, x, n_rx=n_rx).ravel()

    J = []
    for a in range(eta.size):
        h = 1e-6 * max(1.0, abs(eta[a]))
        ep, em = eta.copy(), eta.copy()
        ep[a] += h
        em[a] -= h
        J.append((rho(ep) - rho(em)) / (2 * h))
    J = np.stack(J, axis=1)
    F = 2.0 / noise_w * np.real(J.conj().T @ J)
    n = 4 * Q
    schur = F[:n, :n] - F[:n, n:] @ np.linalg.solve(F[n:, n:], F[n:, :n])
    return np.linalg.solve(schur, np.eye(n))


def _inputs(rng, Q=2, Nt=4, Ns=8, Ts=8):
    g = rng.uniform(5, 95, (Q, 2))
    v = rng.uniform(-20, 20, (Q, 2))
    beta = crandn(rng, 2, 2, Q)
    x = crandn(rng, 2, Nt, Ns, Ts) * 0.1
    return g, v, beta, x


def test_noiseless_echo_matches_numpy_loops(rng):
    for _ in range(3):
        g, v, beta, x = _inputs(rng)
        y = cf.noiseless_echo(jnp.asarray(TX), jnp.asarray(RX), jnp.asarray(g), jnp.asarray(v), jnp.asarray(beta),
                              jnp.asarray(x), **KW)
        assert rel_err(y, np_echo(TX, RX, g, v, beta, x)) < 1e-10


@pytest.mark.heavy
def test_crlb_gram_hessian_and_finite_difference_reference(rng):
    g, v, beta, x = _inputs(rng, Ns=6, Ts=6)
    args = tuple(map(jnp.asarray, (TX, RX, g, v, beta, x)))
    crlb = jax.jit(lambda *a: cf.crlb(*a, **KW))              # one program each, not hundreds of eager ops
    gram = np.asarray(crlb(*args))
    hess = np.asarray(jax.jit(lambda *a: cf.crlb(*a, **KW, method="hessian"))(*args))
    assert rel_err(hess, gram) < 1e-8
    # Independent reference: FIM (B.23) from central finite differences of the NumPy echo, then (B.24).
    ref = np_crlb_finite_differences(TX, RX, g, v, beta, x, 1e-12)
    assert rel_err(np.diag(gram), np.diag(ref)) < 1e-4
    # CRLB scales as 1/P: doubling the transmit power halves it.
    doubled = np.asarray(crlb(*args[:5], args[5] * np.sqrt(2.0)))
    np.testing.assert_allclose(doubled, gram / 2, rtol=1e-8, atol=1e-12 * np.abs(gram).max())
    Q = len(g)
    loc, vel = cf.root_crlb(jnp.asarray(gram), Q)
    np.testing.assert_allclose(loc ** 2, gram.diagonal()[:2 * Q].reshape(Q, 2).sum(1), rtol=1e-12)
    np.testing.assert_allclose(vel ** 2, gram.diagonal()[2 * Q:].reshape(Q, 2).sum(1), rtol=1e-12)


def test_precoders_budget_and_closed_forms(rng):
    K, N, Nt, Ns = 3, 2, 4, 5
    users = jnp.asarray(rng.uniform(5, 95, (K, 2)))
    H = cf.comm_channels(jax.random.PRNGKey(0), jnp.asarray(TX), users, Nt, Ns, rician_k=3.0)
    P, s2 = 1.0, 1e-12
    for kind in ("mmse", "zf", "mrt"):
        W = cf.precoders(H, N, P, s2, kind=kind)
        pw = np.asarray(cf.ap_powers(W, N))
        assert np.all(pw <= P * (1 + 1e-10)) and abs(pw.max() - P) <= 1e-10
    Hn = np.asarray(H)
    W = np.asarray(cf.precoders(H, N, P, s2, kind="mmse"))
    lam = K * s2 / (N * P / Ns)
    for i in range(Ns):
        ref = Hn[i].conj().T @ np.linalg.inv(Hn[i] @ Hn[i].conj().T + lam * np.eye(K))
        c = np.vdot(ref, W[i]) / np.vdot(ref, ref)                       # common positive scale
        assert abs(c.imag) < 1e-8 * abs(c) and rel_err(W[i], c.real * ref) < 1e-8
    Wz = np.asarray(cf.precoders(H, N, P, s2, kind="zf"))
    G = np.einsum("ika,ial->ikl", Hn, Wz)
    off = G - np.einsum("ikk->ik", G)[:, :, None] * np.eye(K)
    assert np.abs(off).max() < 1e-8 * np.abs(G).max()                   # ZF: no inter-user interference
    sinr = np.asarray(cf.sinr(H, jnp.asarray(Wz), s2))
    np.testing.assert_allclose(sinr, np.abs(np.einsum("ikk->ik", G)) ** 2 / s2, rtol=1e-8)
    s = cf.qam16(jax.random.PRNGKey(1), (200_000,))
    assert abs(float(jnp.mean(jnp.abs(s) ** 2)) - 1.0) < 4 * 0.8 / np.sqrt(200_000) * 1.5
    X = np.asarray(cf.transmit_tensor(jnp.asarray(W), s[:Ns * K * 3].reshape(Ns, K, 3), N))
    ref = np.einsum("iak,ikt->ait", W, np.asarray(s[:Ns * K * 3]).reshape(Ns, K, 3)).reshape(N, Nt, Ns, 3)
    assert rel_err(X, ref) < 1e-12


def test_clock_offsets_and_clutter_statistics(rng):
    n = 200_000
    tau, fo = cf.clock_offsets(jax.random.PRNGKey(2), 2, 2, n // 4, timing_offset_std_s=3e-9, cfo_std_hz=50.0,
                               dtype=jnp.float64)
    for arr, std in ((tau, 3e-9), (fo, 50.0)):
        a = np.asarray(arr).ravel()
        assert abs(a.mean()) < 4 * std / np.sqrt(a.size)
        assert abs(a.std() / std - 1) < 4 / np.sqrt(2 * a.size)
    tau, fo = np.asarray(tau[:, :, :5]), np.asarray(fo[:, :, :5])
    phase = np.asarray(cf.offset_phase(jnp.asarray(tau), jnp.asarray(fo), 6))
    dT = 1 / 240e3 + 1.04e-6
    i, t = np.arange(6)[:, None], np.arange(1, 6)[None, :]
    ref = np.exp(-2j * np.pi * i * tau[:, :, None, :] * 240e3) * np.exp(2j * np.pi * fo[:, :, None, :] * t * dT)
    assert rel_err(phase, ref) < 1e-12
    cfg = cf.get_config("quick", n_clutter=4000, clutter_var=0.1)
    sc = cf.sample_scenario(jax.random.PRNGKey(3), cfg, dtype=jnp.float64)
    cb = np.asarray(sc.clutter_beta).ravel()
    assert abs(np.mean(np.abs(cb) ** 2) / 0.1 - 1) < 4 / np.sqrt(cb.size)
    c = np.asarray(sc.clutter)
    assert c.min() >= 0 and c[:, 0].max() <= 100 and c[:, 1].max() <= 100
    assert abs(c.mean(0) - 50).max() < 4 * 100 / np.sqrt(12 * len(c))


def test_fronthaul_bits_of_the_paper():
    assert cf.fully_distributed_bits(2) == 192
    assert cf.centralised_bits(16, 256, 256) == 67_108_864                 # "67 Mbit"
    L = cf.latent_count(16, 256, 256)
    assert L == 16_384 and cf.dvqvae_bits(32, L) == 81_920                 # "82 kbit"
    reduction = 1 - cf.dvqvae_bits(32, L) / cf.centralised_bits(16, 256, 256)
    assert reduction == pytest.approx(1 - 5 / 4096, abs=1e-15) and reduction > 0.99   # "99 % reduction"
    with pytest.raises(ValueError, match="divisible by the encoder's down-sampling factor 4"):
        cf.latent_count(16, 30, 256)


def test_dataset_deterministic_and_resumable(tmp_path):
    cfg = cf.get_config("quick", n_subcarriers=8, n_symbols=8, n_tx_antennas=4, n_rx_antennas=4, n_clutter=2,
                        timing_offset_std_s=1e-9, cfo_std_hz=10.0)
    key = jax.random.PRNGKey(7)
    # Requests of up to 8 samples run padded to 8: one compilation serves the whole test.
    a = cf.sample_batch(key, np.array([0, 1]), cfg)
    b = cf.sample_batch(key, np.array([1, 0]), cfg)
    np.testing.assert_array_equal(np.asarray(a["Y"])[::-1], np.asarray(b["Y"]))
    c = cf.sample_batch(key, np.array([4, 0, 1]), cfg)                   # the padding is trimmed off
    assert {k: v.shape[0] for k, v in c.items()} == {k: 3 for k in c}
    np.testing.assert_array_equal(np.asarray(c["Y"])[1:], np.asarray(a["Y"]))
    np.testing.assert_array_equal(np.asarray(cf.sample_labels(key, np.array([1, 4]), cfg)["targets"]),
                                  np.asarray(c["targets"])[[2, 0]])
    streamed = list(cf.iterate_batches(key, 0, 5, 2, cfg))
    assert [len(s["Y"]) for s in streamed] == [2, 2, 1]
    np.testing.assert_array_equal(streamed[0]["Y"], np.asarray(a["Y"]))
    full = np.concatenate([s["Y"] for s in streamed])
    d = tmp_path / "ds"
    cf.materialise(d, 7, 5, cfg, shard_size=2, n_train=3, progress=False)
    (d / "shard_00001.npz").unlink()                                      # an interrupted run ...
    cf.materialise(d, 7, 5, cfg, shard_size=2, n_train=3, progress=False)  # ... resumes
    train, test = cf.load_split(d, "train"), cf.load_split(d, "test")
    assert len(train["Y"]) == 3 and len(test["Y"]) == 2
    np.testing.assert_array_equal(np.concatenate([train["Y"], test["Y"]]), full)
    with pytest.raises(ValueError, match="other settings"):
        cf.materialise(d, 8, 5, cfg, shard_size=2, n_train=3, progress=False)
    with pytest.raises(ValueError, match="other settings"):    # another dtype must not mix with the shards written
        cf.materialise(d, 7, 5, cfg, shard_size=2, n_train=3, progress=False, dtype=jnp.float64)


def test_null_space_sensing_stream_reaches_no_user_and_lights_the_null_space_evenly(rng):
    """The sensing stream: zero at every user, covariance ``P_s / (N_s (N_t - K))`` times the projector
    onto the null space of the AP's users' channels (from NumPy's SVD), ``P_s`` per symbol per AP."""
    Ns, K, N, Nt, Ts, Ps = 3, 2, 2, 5, 4000, 0.7
    H = crandn(rng, Ns, K, N * Nt)
    xs = np.asarray(cf.null_space_sensing(jax.random.PRNGKey(int(rng.integers(2**31))), jnp.asarray(H), N, Ps, Ts,
                                          dtype=jnp.float64))
    assert xs.shape == (N, Nt, Ns, Ts)
    s2 = Ps / (Ns * (Nt - K))
    for i in range(Ns):
        for n in range(N):
            Hn, x = H[i, :, n * Nt:(n + 1) * Nt], xs[n, :, i, :]                     # [K, Nt], [Nt, Ts]
            assert np.abs(Hn @ x).max() < 1e-12 * np.linalg.norm(Hn) * np.abs(x).max()
            V0 = np.linalg.svd(Hn)[2][K:].conj().T                                  # null-space basis [Nt, Nt-K]
            # Each entry of a sample covariance of Ts draws has std <= s2 / sqrt(Ts) (|Pi_ab| <= 1).
            assert np.abs(x @ x.conj().T / Ts - s2 * V0 @ V0.conj().T).max() < 6 * s2 / np.sqrt(Ts)
    # Per AP and symbol ||x||^2 / s2 is a sum of Ns (Nt - K) unit exponentials: relative std 1 / sqrt(Ns (Nt-K) Ts).
    np.testing.assert_allclose(np.sum(np.abs(xs) ** 2, axis=(1, 2)).mean(axis=-1), Ps,
                               rtol=5 / np.sqrt(Ns * (Nt - K) * Ts))


def test_a_sensing_power_share_leaves_the_users_signal_and_the_other_draws_unchanged():
    """``sensing_power_fraction = rho``: the data precoders spend ``(1 - rho) P``, the users receive
    exactly ``H W s`` (the stream is in the null space), the scenario and channels are those of
    ``rho = 0``, and the stream carries ``rho P`` on average."""
    base = cf.get_config("quick", n_subcarriers=8, n_symbols=128, n_tx_antennas=6, n_rx_antennas=2)
    key = jax.random.PRNGKey(3)
    sc0, H0, W0, x0 = cf.draw_transmission(key, base, dtype=jnp.float64)
    sym = cf.transmit_symbols(key, base, dtype=jnp.float64)
    np.testing.assert_array_equal(np.asarray(x0), np.asarray(cf.transmit_tensor(W0, sym, 2)))
    rho = 0.25
    sc, H, W, x = cf.draw_transmission(key, dataclasses.replace(base, sensing_power_fraction=rho), dtype=jnp.float64)
    np.testing.assert_array_equal(np.asarray(sc.targets), np.asarray(sc0.targets))
    np.testing.assert_array_equal(np.asarray(H), np.asarray(H0))
    assert abs(float(cf.ap_powers(W, 2).max()) - (1 - rho) * base.power_w) < 1e-9 * base.power_w
    Hn, Wn, xn, sn = (np.asarray(a) for a in (H, W, x, sym))
    received = np.einsum("ika,ait->ikt", Hn, xn.reshape(-1, *xn.shape[2:]))         # what user k gets
    data = np.einsum("ika,ial,ilt->ikt", Hn, Wn, sn)
    assert rel_err(received, data) < 1e-10
    stream = xn - np.asarray(cf.transmit_tensor(W, sym, 2))
    # Per AP, 8 subcarriers x 2 null dimensions x 128 symbols of unit exponentials: rtol from the sample size.
    np.testing.assert_allclose(np.sum(np.abs(stream) ** 2, axis=(1, 2)).mean(axis=-1), rho * base.power_w,
                               rtol=5 / np.sqrt(8 * 2 * 128))


def test_cellfree_bad_input():
    with pytest.raises(ValueError, match="unknown preset"):
        cf.get_config("huge")
    with pytest.raises(ValueError, match="n_subcarriers must be >= 1"):
        cf.get_config("quick", n_subcarriers=0)
    with pytest.raises(ValueError, match="precoder must be one of"):
        cf.get_config("quick", precoder="dpc")
    x = jnp.zeros((2, 4, 4, 4), complex)
    with pytest.raises(ValueError, match="targets must not coincide with an AP"):
        cf.noiseless_echo(jnp.asarray(TX), jnp.asarray(RX), jnp.asarray([[25.0, 0.0]]), jnp.zeros((1, 2)),
                          jnp.ones((2, 2, 1), complex), x)
    with pytest.raises(ValueError, match=r"beta must have shape \[N=2, M=2, Q=1\]"):
        cf.noiseless_echo(jnp.asarray(TX), jnp.asarray(RX), jnp.asarray([[50.0, 50.0]]), jnp.zeros((1, 2)),
                          jnp.ones((2, 2, 2), complex), x)
    with pytest.raises(ValueError, match="noise_w must be > 0"):
        cf.precoders(jnp.ones((2, 2, 8), complex), 2, 1.0, -1.0)
    cfg = cf.get_config("quick", n_subcarriers=4, n_symbols=4, n_tx_antennas=2, n_rx_antennas=2)
    sc = cf.sample_scenario(jax.random.PRNGKey(0), cfg)
    outside = sc._replace(targets=sc.targets.at[0, 1].set(120.0))
    with pytest.raises(ValueError, match=r"targets must lie inside the area \[0, 100\] x \[0, 100\] m"):
        cf.received_echo(jax.random.PRNGKey(1), cfg, outside, jnp.zeros((2, 2, 4, 4), jnp.complex64))
    assert dataclasses.replace(cf.get_config("paper")).n_subcarriers == 256
    for rho in (-0.1, 1.0):
        with pytest.raises(ValueError, match=r"sensing_power_fraction must be in \[0, 1\)"):
            cf.get_config("quick", sensing_power_fraction=rho)
    with pytest.raises(ValueError, match="sensing_power_fraction > 0 needs n_tx_antennas > n_users"):
        cf.get_config("quick", n_tx_antennas=4, sensing_power_fraction=0.2)
    with pytest.raises(ValueError, match="more transmit antennas per AP than users"):
        cf.null_space_sensing(jax.random.PRNGKey(0), jnp.ones((2, 4, 8), complex), 2, 1.0, 3)


@pytest.mark.heavy
def test_closed_form_crlb_equals_autodiff_without_the_doppler_position_term():
    """Appendix B.A's hand derivatives (a second, autodiff-free route) agree with autodiff of the
    model whose Doppler does not move with the target; the exact bound differs from both."""
    cfg = cf.get_config("quick", n_subcarriers=8, n_symbols=6, n_tx_antennas=3, n_rx_antennas=4)
    sc, _, _, x = jax.jit(lambda k: cf.draw_transmission(k, cfg, dtype=jnp.float64))(jax.random.PRNGKey(2))
    args = (cfg.tx_array(), cfg.rx_array(), sc.targets, sc.velocities, sc.beta, x)
    # Jitted: one program per route instead of hundreds of eager ops.
    dropped = np.asarray(jax.jit(lambda *a: cf.crlb(*a, **cfg.crlb_kwargs, doppler_position_term=False))(*args))
    closed = np.asarray(jax.jit(lambda *a: cf.crlb_closed_form(*a, **cfg.crlb_kwargs))(*args))
    exact = np.asarray(jax.jit(lambda *a: cf.crlb(*a, **cfg.crlb_kwargs))(*args))
    assert rel_err(closed, dropped) < 1e-9
    assert rel_err(exact, dropped) > 1e-4


def test_bistatic_range_and_doppler_are_blind_along_the_transmit_receive_segment(rng):
    """Why Table B.I's geometry informs y and v_y less than x and v_x (``docs/modelling/paper-b-learning.md``): the
    bistatic range of a point on the segment between a transmit and a receive AP is their distance,
    and its Doppler is zero whatever the velocity (the two legs' range rates cancel). With the
    transmit APs on the bottom edge and the receive APs on the top edge, every segment runs nearly
    along y, so over the area the bistatic ranges' y-derivative is much smaller than their
    x-derivative (a NumPy reference of the gradient u_tx + u_rx)."""
    from isac_jax.cellfree.echo import bistatic_geometry

    s = rng.uniform(0.05, 0.95, size=6)
    for n in range(2):
        for m in range(2):
            pts = TX[n][None] + s[:, None] * (RX[m] - TX[n])[None]
            geo = bistatic_geometry(jnp.asarray(TX), jnp.asarray(RX), jnp.asarray(pts),
                                    jnp.asarray(rng.uniform(-20, 20, size=(6, 2))))
            np.testing.assert_allclose(np.asarray(geo["range_m"])[n, m], np.linalg.norm(RX[m] - TX[n]), rtol=1e-12)
            np.testing.assert_allclose(np.asarray(geo["doppler_hz"])[n, m], 0.0, atol=1e-6)   # |f_D| ~ 1e3 Hz
    # Off the segments the Doppler is not zero: the velocity's component along the bisector.
    g = rng.uniform(1.0, 99.0, size=(200, 2))
    v = rng.uniform(-20, 20, size=(200, 2))
    u = lambda a: (g[None] - a[:, None]) / np.linalg.norm(g[None] - a[:, None], axis=-1, keepdims=True)
    grad = u(TX)[:, None] + u(RX)[None, :]                                      # d range / d g  [N, M, P, 2]
    geo = bistatic_geometry(jnp.asarray(TX), jnp.asarray(RX), jnp.asarray(g), jnp.asarray(v))
    np.testing.assert_allclose(np.asarray(geo["doppler_hz"]), np.einsum("nmpc,pc->nmp", grad, v) * 30e9 / C0,
                               rtol=1e-9, atol=1e-9)
    gx, gy = np.mean(grad[..., 0] ** 2), np.mean(grad[..., 1] ** 2)
    assert gy < 0.5 * gx, (gx, gy)


def test_a_sensing_comb_is_the_full_grid_subsampled(rng):
    """``subcarrier_step`` / ``symbol_step``: the echo on the comb equals the (NumPy) echo of the full
    OFDM grid at every k_f-th subcarrier (0, k_f, ...) and k_t-th symbol (k_t, 2 k_t, ...), and the
    users' channels (hence the precoders) are the full grid's at the sensed subcarriers."""
    kf, kt, Ns, Ts = 4, 3, 6, 5
    cfg = cf.get_config("quick", n_rx_antennas=4, n_subcarriers=Ns, n_symbols=Ts, subcarrier_step=kf,
                        symbol_step=kt)
    assert cfg.sensed_scs_hz == kf * 240e3 and cfg.sensed_symbol_s == pytest.approx(kt * (1 / 240e3 + 1.04e-6))
    g, v, beta, x_full = _inputs(rng, Ns=kf * Ns, Ts=kt * Ts)
    y_full = np_echo(TX, RX, g, v, beta, x_full)
    sub = (slice(None), slice(None), slice(None, None, kf), slice(kt - 1, None, kt))
    y = cf.noiseless_echo(jnp.asarray(TX), jnp.asarray(RX), jnp.asarray(g), jnp.asarray(v), jnp.asarray(beta),
                          jnp.asarray(x_full[sub]), **cfg.echo_kwargs)
    assert rel_err(y, y_full[sub]) < 1e-10
    full = dataclasses.replace(cfg, n_subcarriers=kf * Ns, n_symbols=kt * Ts, subcarrier_step=1, symbol_step=1)
    _, h, _, _ = cf.draw_transmission(jax.random.PRNGKey(3), cfg, dtype=jnp.float64)
    _, h_full, _, _ = cf.draw_transmission(jax.random.PRNGKey(3), full, dtype=jnp.float64)
    assert rel_err(h, h_full[::kf]) < 1e-12
    with pytest.raises(ValueError, match="symbol_step must be >= 1"):
        cf.get_config("quick", symbol_step=0)


def test_marginal_likelihood_against_numpy_dense_gaussian(rng):
    """log p(Y | psi) with beta ~ CN(0, chi^2) integrated out, against the dense Gaussian density
    ``CN(0, xi^2 I + chi^2 B B^H)`` per receive AP, its columns ``B`` from the NumPy echo loops."""
    Q, Nt, Ns, Ts, noise_w, chi2 = 2, 3, 4, 4, 1e-13, 0.7
    g, v, beta, x = _inputs(rng, Q=Q, Nt=Nt, Ns=Ns, Ts=Ts)
    N, M = len(TX), len(RX)
    cols = []
    for j in range(N * Q):                           # unit beta on path (n, q) at every receive AP
        e = np.zeros((N, M, Q), complex)
        e[j // Q, :, j % Q] = 1.0
        cols.append(np_echo(TX, RX, g, v, e, x).reshape(M, -1))
    B = np.stack(cols, axis=-1)                      # [M, D, NQ]
    Y = np_echo(TX, RX, g, v, np.sqrt(chi2) * beta, x) + np.sqrt(noise_w) * crandn(rng, M, KW["n_rx"], Ns, Ts)
    ref = 0.0
    for m in range(M):
        C = noise_w * np.eye(B.shape[1]) + chi2 * B[m] @ B[m].conj().T
        y = Y[m].ravel()
        ref += -B.shape[1] * np.log(np.pi) - np.linalg.slogdet(C)[1] - np.real(y.conj() @ np.linalg.solve(C, y))
    got = cf.marginal_log_likelihood(jnp.asarray(Y), jnp.asarray(x), jnp.asarray(TX), jnp.asarray(RX), jnp.asarray(g),
                                  jnp.asarray(v), noise_w=noise_w, reflection_var=chi2, **KW)
    assert abs(float(got) - ref) < 1e-9 * abs(ref)
    # Away from the truth the likelihood falls (the test would pass a constant otherwise).
    off = cf.marginal_log_likelihood(jnp.asarray(Y), jnp.asarray(x), jnp.asarray(TX), jnp.asarray(RX),
                                  jnp.asarray(g + 7.0), jnp.asarray(v), noise_w=noise_w, reflection_var=chi2, **KW)
    assert float(off) < float(got) - 10.0
    with pytest.raises(ValueError, match="noise_w and reflection_var must be > 0"):
        cf.marginal_log_likelihood(jnp.asarray(Y), jnp.asarray(x), jnp.asarray(TX), jnp.asarray(RX), jnp.asarray(g),
                                jnp.asarray(v), noise_w=0.0, **KW)


def test_grid_posterior_integrates_narrow_modes(rng):
    """Two Gaussian modes far narrower than the coarse cells, masses 0.3 / 0.7, one straddling a cell
    edge: the refined grid's mean and mode masses against the closed form (the coarse grid alone
    misses both by far)."""
    mu = np.array([[23.4 + rng.uniform(0, 1), 61.0], [70.2, 30.0 + rng.uniform(0, 1)]])
    w, sd = np.array([0.3, 0.7]), 0.08

    def log_density(p):
        d2 = jnp.sum((p[:, None, :] - jnp.asarray(mu)[None]) ** 2, -1)
        return jax.scipy.special.logsumexp(-d2 / (2 * sd ** 2) + jnp.log(jnp.asarray(w))[None], axis=-1)

    out = jax.jit(lambda: cf.grid_posterior(log_density, (0.0, 0.0), (100.0, 100.0), n_cells=(50, 50), refine=20,
                                            window=1, n_modes=4))()    # one program, not many eager ops
    assert np.allclose(np.asarray(out["mean"]), w @ mu, atol=0.01)
    near0 = np.linalg.norm(np.asarray(out["points"]) - mu[0], axis=-1) < 1.0
    assert abs(float(np.asarray(out["weights"])[near0].sum()) - 0.3) < 0.005
    coarse = jax.jit(lambda: cf.grid_posterior(log_density, (0.0, 0.0), (100.0, 100.0), n_cells=(50, 50), refine=1,
                                               window=0))()
    assert np.linalg.norm(np.asarray(coarse["mean"]) - w @ mu) > 5.0     # the refinement is what works
