"""Paper B communication side: LoS (+ Rician) OFDM channels, 16-QAM, MMSE/ZF/MRT precoding with
the per-AP power budget, transmit tensor (B.3) and per-user SINR (B.4).

SPEC decision (Paper B gives no channel model): ``h_{i,n,k} = sqrt(PL(d_nk)) e^{-j2pi i Df d_nk/c}
a_t(theta_nk)`` (same transmit-array orientation as the sensing paths), optionally mixed with a
Rayleigh component of the same mean power, ``sqrt(K/(K+1)) LoS + sqrt(1/(K+1)) NLoS``.
Channels are stacked over the transmit APs: ``H[i, k, :] = h_{i,k}^H`` (row ``k`` of the
``[K, N N_t]`` matrix of subcarrier ``i``), so the received symbol is ``H_i x_i``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..core.arrays import ula_response
from ..core.random import complex_normal
from ..core.units import db_to_linear
from ..core.validate import check_finite, check_int, check_positive
from .config import SPEED_OF_LIGHT


def comm_channels(key, tx, users, n_tx_antennas, n_subcarriers, *, scs_hz=240e3, pathloss_ref_db=-60.0,
                  pathloss_exp=2.0, ref_distance_m=1.0, rician_k=None):
    """``H[N_s, K, N N_t]`` with ``H[i, k] = h_{i,k}^H``. ``tx[N,2]``, ``users[K,2]`` (m)."""
    n_tx_antennas, n_subcarriers = check_int("n_tx_antennas", n_tx_antennas), check_int("n_subcarriers", n_subcarriers)
    for name, arr in (("tx", tx), ("users", users)):
        if jnp.ndim(arr) != 2 or jnp.shape(arr)[1] != 2:
            raise ValueError(f"{name} must have shape [n, 2] (x, y in metres), got {list(jnp.shape(arr))}")
        check_finite(name, arr, allow_complex=False)
    if rician_k is not None:
        check_positive("rician_k", rician_k, allow_zero=True)
    diff = users[None, :, :] - tx[:, None, :]                               # [N,K,2]
    d = jnp.linalg.norm(diff, axis=-1)
    cos = -diff[..., 0] / d
    pl = db_to_linear(pathloss_ref_db) * (d / ref_distance_m) ** (-pathloss_exp)
    real = d.dtype
    i = jnp.arange(n_subcarriers, dtype=real)
    phase = jnp.exp(-2j * jnp.pi * scs_hz * i[:, None, None] * (d / SPEED_OF_LIGHT)[None])   # [Ns,N,K]
    a = ula_response(cos, n_tx_antennas, normalise=True)                    # [N,K,Nt]
    h = jnp.sqrt(pl)[None, :, :, None] * phase[..., None] * a[None]       # [Ns,N,K,Nt]
    if rician_k is not None:
        nlos = jnp.sqrt(pl)[None, :, :, None] * complex_normal(key, h.shape, var=1.0 / n_tx_antennas, dtype=real)
        h = jnp.sqrt(rician_k / (rician_k + 1.0)) * h + jnp.sqrt(1.0 / (rician_k + 1.0)) * nlos
    Ns, N, K, Nt = h.shape
    return jnp.conj(jnp.transpose(h, (0, 2, 1, 3)).reshape(Ns, K, N * Nt))


def qam16(key, shape, *, dtype=jnp.float32):
    """Uniform 16-QAM symbols with unit average power (levels {-3,-1,1,3}/sqrt(10))."""
    k1, k2 = jax.random.split(key)
    levels = jnp.array([-3.0, -1.0, 1.0, 3.0], dtype) / jnp.sqrt(jnp.asarray(10.0, dtype))
    re = levels[jax.random.randint(k1, shape, 0, 4)]
    im = levels[jax.random.randint(k2, shape, 0, 4)]
    return re + 1j * im


def precoders(H, n_tx, power_w, noise_w, *, kind="mmse"):
    """Precoders ``W[N_s, N N_t, K]`` (column k serves user k) meeting ``sum_i ||W_{n,i}||_F^2 <= P``.

    * ``mrt``: ``W_i = H_i^H``; ``zf``: ``H_i^H (H_i H_i^H)^{-1}``; ``mmse`` (regularised ZF):
      ``H_i^H (H_i H_i^H + lambda I)^{-1}`` with ``lambda = K sigma_c^2 / (N P / N_s)`` (the
      per-subcarrier share of the total power), all by linear solves.
    * One common scale so that the most loaded transmit AP uses exactly ``P`` (the others less).
    """
    check_positive("power_w", power_w)
    check_positive("noise_w", noise_w)
    if kind not in ("mmse", "zf", "mrt"):
        raise ValueError(f"kind must be one of mmse, zf, mrt, got {kind!r}")
    Ns, K, NNt = H.shape
    Hh = jnp.conj(jnp.swapaxes(H, -1, -2))                                      # [Ns, NNt, K]
    if kind == "mrt":
        W = Hh
    else:
        gram = H @ Hh                                                            # [Ns, K, K]
        lam = 0.0 if kind == "zf" else K * noise_w / (n_tx * power_w / Ns)
        eye = jnp.eye(K, dtype=H.dtype)[None]                                    # [1, K, K]
        # W = H^H (G + lam I)^{-1}  <=>  (G + lam I)^T W^T = H^*  (G Hermitian).
        W = jnp.swapaxes(jnp.linalg.solve(jnp.swapaxes(gram + lam * eye, -1, -2), jnp.conj(H)), -1, -2)
    per_ap = jnp.sum(jnp.abs(W.reshape(Ns, n_tx, NNt // n_tx, K)) ** 2, axis=(0, 2, 3))   # [N]
    return W * jnp.sqrt(power_w / jnp.max(per_ap))


def ap_powers(W, n_tx):
    """``sum_i ||W_{n,i}||_F^2`` per transmit AP, ``[N]`` (W)."""
    Ns, NNt, K = W.shape
    return jnp.sum(jnp.abs(W.reshape(Ns, n_tx, NNt // n_tx, K)) ** 2, axis=(0, 2, 3))


def sinr(H, W, noise_w):
    """(B.4) per-subcarrier, per-user SINR ``[N_s, K]`` (linear)."""
    G = jnp.abs(H @ W) ** 2                                                      # |h_{i,k}^H w_{i,l}|^2 [Ns,K,K]
    desired = jnp.diagonal(G, axis1=-2, axis2=-1)
    return desired / (jnp.sum(G, axis=-1) - desired + noise_w)


def null_space_sensing(key, H, n_tx, power_w, n_symbols, *, dtype=jnp.float32):
    """A sensing stream ``X_s[N, N_t, N_s, T_s]`` that no user receives (beyond the paper).

    ``x_{i,n}[t] = sqrt(P_s / (N_s (N_t - K))) V_{i,n} w_{i,n}[t]`` with ``w ~ CN(0, I_{N_t - K})``
    independent per transmit AP, subcarrier and symbol, and ``V_{i,n}`` an orthonormal basis of the
    null space of the users' channels from AP n on subcarrier i (``H[N_s, K, N N_t]``, the block of
    AP n's antennas; the last right-singular vectors of that ``K x N_t`` block): every user's received
    stream ``H_{i,n} x_{i,n}`` is zero, each AP spends ``P_s = power_w`` per symbol on average, and
    the covariance is proportional to the null-space projector, so the stream lights every direction
    outside the users' span evenly, where the data precoders light only sidelobes. Needs ``N_t > K``.
    (A basis from the SVD, not the projector ``I - H^H (H H^H)^{-1} H``: two users seen at nearly the
    same angle make that Gram matrix singular to float32 precision.)
    """
    check_positive("power_w", power_w)
    Ns, K, NNt = H.shape
    Nt = NNt // n_tx
    if Nt <= K:
        raise ValueError(f"null_space_sensing needs more transmit antennas per AP than users, got N_t={Nt}, K={K}")
    Hn = jnp.swapaxes(H.reshape(Ns, K, n_tx, Nt), 1, 2)                           # [Ns, N, K, Nt]
    null = jnp.conj(jnp.swapaxes(jnp.linalg.svd(Hn, full_matrices=True)[2][..., K:, :], -1, -2))  # [Ns, N, Nt, Nt-K]
    w = complex_normal(key, (Ns, n_tx, Nt - K, n_symbols), dtype=dtype)           # [Ns, N, Nt-K, Ts]
    scale = jnp.sqrt(jnp.asarray(power_w / (Ns * (Nt - K)), jnp.real(w).dtype))
    x = scale * (null.astype(w.dtype) @ w)                                         # [Ns, N, Nt, Ts]
    return jnp.transpose(x, (1, 2, 0, 3))                                          # [N, Nt, Ns, Ts]


def transmit_tensor(W, symbols, n_tx):
    """(B.3): ``x_{i,n}[t] = W_{i,n} s_i[t]`` for ``symbols[N_s, K, T_s]``; output ``X[N, N_t, N_s, T_s]``."""
    Ns, NNt, K = W.shape
    x = jnp.einsum("iak,ikt->ait", W, symbols)                                   # [NNt, Ns, Ts]
    return x.reshape(n_tx, NNt // n_tx, Ns, symbols.shape[-1])
