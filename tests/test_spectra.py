"""Paper B sensing channel and angular delay-Doppler spectra against NumPy references and identities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import crandn
from isac_jax import cellfree as cf
from isac_jax.cellfree.spectra import angular_delay_doppler_spectrum, delay_doppler_channel, sensing_channel


def test_delay_doppler_channel_matches_the_double_sum():
    rng = np.random.default_rng(0)
    S, N = 5, 6                                   # odd S: the centred Doppler order is not symmetric
    h = crandn(rng, 2, S, N)
    b, n = np.arange(S)[:, None], np.arange(N)[None, :]
    ref = np.zeros((2, S, N), complex)
    for qi, q in enumerate(range(-(S // 2), S - S // 2)):
        for l in range(N):
            ref[:, qi, l] = np.sum(h * np.exp(2j * np.pi * n * l / N) * np.exp(-2j * np.pi * b * q / S),
                                   axis=(1, 2)) / (N * S)
    np.testing.assert_allclose(np.asarray(delay_doppler_channel(jnp.asarray(h))), ref, atol=1e-13)


@pytest.mark.parametrize("mode", ["paired", "cartesian"])
def test_spectra_match_numpy(mode):
    rng = np.random.default_rng(1)
    h_f = crandn(rng, 2, 3, 2, 2, 4, 5)           # [R, Mr, T, Mt, S, N]
    rx, tx = crandn(rng, 3, 3), crandn(rng, 3, 2)  # [D, Mr], [D, Mt]
    h_dd = np.asarray(delay_doppler_channel(jnp.asarray(h_f)))
    if mode == "paired":
        ref = np.abs(np.einsum("dm,rmtnql,dn->rtdql", rx.conj(), h_dd, tx.conj())) ** 2
    else:
        ref = np.abs(np.einsum("im,rmtnql,jn->ritjql", rx.conj(), h_dd, tx.conj())) ** 2
    got = angular_delay_doppler_spectrum(jnp.asarray(h_dd), jnp.asarray(rx), jnp.asarray(tx), mode=mode)
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-10, atol=1e-14)


def test_orthonormal_banks_preserve_the_energy():
    """Parseval through both DFTs, and orthonormal ULA banks (cos = -1 + 2k/M) at both ends: the
    Cartesian spectrum sums to the channel energy / (N S)."""
    rng = np.random.default_rng(2)
    h_f = crandn(rng, 1, 4, 1, 2, 3, 8)
    bank = lambda m: np.exp(-1j * np.pi * np.arange(m)[None, :] * (-1 + 2 * np.arange(m)[:, None] / m)) / np.sqrt(m)
    p = angular_delay_doppler_spectrum(delay_doppler_channel(jnp.asarray(h_f)), jnp.asarray(bank(4)),
                                       jnp.asarray(bank(2)), mode="cartesian")
    np.testing.assert_allclose(float(jnp.sum(p)), np.sum(np.abs(h_f) ** 2) / (3 * 8), rtol=1e-12)


def test_sensing_channel_times_x_is_the_echo():
    cfg = cf.get_config("quick", n_subcarriers=6, n_symbols=5, n_tx_antennas=3, n_rx_antennas=4)
    sc, _, _, x = cf.draw_transmission(jax.random.PRNGKey(4), cfg, dtype=jnp.float64)
    tx, rx = cfg.tx_array(), cfg.rx_array()
    H = sensing_channel(tx, rx, sc.targets, sc.velocities, sc.beta, n_tx_antennas=3, n_rx_antennas=4,
                        n_subcarriers=6, n_symbols=5)
    y = np.einsum("manbti,nbit->mait", np.asarray(H), np.asarray(x))
    ref = np.asarray(cf.noiseless_echo(tx, rx, sc.targets, sc.velocities, sc.beta, x, **cfg.echo_kwargs))
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-14 * np.abs(ref).max())


def test_paired_mode_refuses_mismatched_banks():
    h = jnp.zeros((1, 2, 1, 2, 3, 4), complex)
    with pytest.raises(ValueError, match="paired mode"):
        angular_delay_doppler_spectrum(h, jnp.ones((3, 2)), jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="mode must be"):
        angular_delay_doppler_spectrum(h, jnp.ones((3, 2)), jnp.ones((3, 2)), mode="polar")
