"""Flax modules of Paper B Sec. III: per-AP encoders (vmapped, stacked parameters), the CPU decoder
with its transmit-signal branch, and the centralised CNN baseline of Sec. B.V.A.

Layout is channels-last: a complex tensor ``[..., A, F, T]`` (antennas, subcarriers, symbols) enters
as real ``[..., A, F, T, 2]`` (real and imaginary parts as two channels).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from ..cellfree.overhead import Y_ONLY_INPUTS
from .config import NetConfig
from .features import complex_to_channels
from .heads import CentreHead, QueryReadout, peak_cells, cell_centres


def conv3d_im2col(x, kernel, stride: int, padding: int):
    """The same 3D convolution as ``lax.conv_general_dilated``, written as patch extraction plus one
    2D matmul: on XLA's CPU backend this is 2-40x faster in the backward pass (strided 3D
    convolutions are the worst case) and turns ``vmap`` over per-AP kernels into a batched matmul."""
    k = kernel.shape[0]
    xp = jnp.pad(x, ((0, 0),) + ((padding, padding),) * 3 + ((0, 0),))
    out = [(xp.shape[1 + i] - k) // stride + 1 for i in range(3)]
    cols = [xp[:, i:i + stride * out[0]:stride, j:j + stride * out[1]:stride, l:l + stride * out[2]:stride, :]
            for i in range(k) for j in range(k) for l in range(k)]
    patches = jnp.concatenate(cols, axis=-1)                             # [B, D, H, W, k^3 C_in]
    y = patches.reshape(-1, patches.shape[-1]) @ kernel.reshape(-1, kernel.shape[-1])
    return y.reshape(*patches.shape[:-1], kernel.shape[-1])


def conv3d_fft(x, kernel, padding: int):
    """The same stride-1 3D convolution (a cross-correlation, as in ``lax.conv_general_dilated``)
    by real FFTs of length ``n + k - 1`` per axis, so there is no wrap-around: for large kernels
    on few channels (the CNN baseline's kernel 5, ``k^3`` = 125 patch copies) this moves a few
    channel-sized transforms instead of a ``k^3 C_in``-wide patch tensor (5x faster fwd+bwd on the CPU)."""
    k = kernel.shape[0]
    axes = (1, 2, 3)
    full = [x.shape[a] + k - 1 for a in axes]
    spectrum = jnp.einsum("bdhwc,dhwco->bdhwo", jnp.fft.rfftn(x, s=full, axes=axes),
                          jnp.fft.rfftn(kernel[::-1, ::-1, ::-1], s=full, axes=(0, 1, 2)))
    y = jnp.fft.irfftn(spectrum, s=full, axes=axes)
    start = k - 1 - padding                      # full linear convolution -> padded cross-correlation
    return y[:, start:start + x.shape[1] + 2 * padding - k + 1, start:start + x.shape[2] + 2 * padding - k + 1,
             start:start + x.shape[3] + 2 * padding - k + 1].astype(x.dtype)


def conv_kind(impl: str, kernel: int, stride: int, padding: int) -> str:
    """The kernel ``impl`` resolves to: ``"auto"`` on the CPU backend is :func:`conv3d_fft` for
    stride-1 convolutions with kernels of 5 and more (padding below the kernel), else
    :func:`conv3d_im2col`; elsewhere (GPU: cuDNN, no patch copy) XLA's native convolution."""
    if impl != "auto":
        return impl
    if jax.default_backend() != "cpu":
        return "native"
    return "fft" if stride == 1 and kernel >= 5 and padding < kernel else "im2col"


class Conv3d(nn.Module):
    """3D convolution (channels-last, symmetric zero padding) with ``nn.Conv``'s parameter names.

    ``impl``: ``"im2col"``, ``"fft"`` (stride 1 only), ``"native"`` or ``"auto"`` (:func:`conv_kind`).
    """

    features: int
    kernel: int
    stride: int = 1
    padding: int = 0
    impl: str = "auto"
    param_dtype: object = jnp.float32
    dtype: object = jnp.float32          # compute dtype (inputs and kernel are cast to it)

    @nn.compact
    def __call__(self, x):
        k = self.kernel
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, k, x.shape[-1], self.features),
                            self.param_dtype).astype(self.dtype)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), self.param_dtype).astype(self.dtype)
        x = x.astype(self.dtype)
        kind = conv_kind(self.impl, k, self.stride, self.padding)
        if kind == "fft":
            if self.stride != 1:
                raise ValueError(f"impl 'fft' needs stride 1, got stride={self.stride}")
            y = conv3d_fft(x, kernel, self.padding)
        elif kind == "im2col":
            y = conv3d_im2col(x, kernel, self.stride, self.padding)
        else:
            y = jax.lax.conv_general_dilated(x, kernel, (self.stride,) * 3, ((self.padding, self.padding),) * 3,
                                             dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
        return y + bias.reshape((1,) * (y.ndim - 1) + (-1,))


class Downsample(nn.Module):
    """3D convs with kernel 4, stride 2, padding 1, ReLU: every axis halves per layer."""

    channels: tuple
    impl: str = "auto"
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, x):
        for c in self.channels:
            x = nn.relu(Conv3d(c, 4, stride=2, padding=1, impl=self.impl, dtype=self.dtype)(x))
        return x


class Residual(nn.Module):
    """``n_layers`` 3D convs (kernel 3, padding 1, ReLU between) plus an identity skip, then ReLU."""

    n_layers: int
    impl: str = "auto"
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, x):
        if self.n_layers == 0:
            return x
        h = x
        for i in range(self.n_layers):
            h = Conv3d(x.shape[-1], 3, padding=1, impl=self.impl, dtype=self.dtype)(h)
            if i < self.n_layers - 1:
                h = nn.relu(h)
        return nn.relu(x + h)


def _encoder_channels(cfg: NetConfig) -> tuple:
    first = cfg.hidden_first if cfg.hidden_first is not None else max(cfg.hidden // 2, 1)
    return tuple([first] * (cfg.n_cnn - 1) + [cfg.hidden])


class ApEncoder(nn.Module):
    """One receive AP's encoder (12) and projector (13): its input features
    ``[B, M_r, N_s, T_s, C]`` (:func:`~isac_jax.dvqvae.features.ap_features`) -> ``Z_m [B, L, D]``
    with ``L = (M_r N_s T_s) / downsample^3``. ``variational``: also a log-variance ``[B, L, D]``
    (the D-VAE's Gaussian posterior), returned as a second output."""

    cfg: NetConfig
    variational: bool = False

    @nn.compact
    def __call__(self, features):
        impl, dt = self.cfg.conv_impl, self.cfg.compute_dtype
        h = Downsample(_encoder_channels(self.cfg), impl, dt)(features)
        h = Residual(self.cfg.n_res, impl, dt)(h)
        z = nn.Dense(self.cfg.latent_dim, use_bias=False, name="projector", dtype=dt)(h)   # Phi_vq in R^{D x H}
        z = z.reshape(z.shape[0], -1, z.shape[-1]).astype(jnp.float32)   # the quantiser works in float32
        if not self.variational:
            return z
        log_var = nn.Dense(self.cfg.latent_dim, name="projector_log_var", dtype=dt)(h)
        return z, log_var.reshape(z.shape).astype(jnp.float32)


class LatentDopplerProbe(nn.Module):
    """Training-only read-out of one AP's latents (*beyond the paper*; ``NetConfig.encoder_doppler_weight``):
    the features of the latent cell holding each target, ``[B, Q, F]``, through one hidden layer of
    ``hidden`` (ReLU) to ``n_tx`` numbers, the bistatic Dopplers of the target's paths from every
    transmit AP to this AP. Nothing of it runs at inference or crosses the fronthaul."""

    hidden: int
    n_tx: int

    @nn.compact
    def __call__(self, h):
        return nn.Dense(self.n_tx, name="out")(nn.relu(nn.Dense(self.hidden, name="hidden")(h)))


#: One probe per receive AP, parameters stacked on a leading AP axis: ``[B, M, Q, F] -> [B, M, Q, N]``.
LatentDopplerProbes = nn.vmap(LatentDopplerProbe, in_axes=1, out_axes=1, variable_axes={"params": 0},
                              split_rngs={"params": True})


#: All receive APs' encoders as one module: parameters stacked on a leading AP axis, applied with
#: ``vmap`` over the AP axis of the features ``[B, M, M_r, N_s, T_s, C]`` -> ``Z [B, M, L, D]``.
ApEncoders = nn.vmap(ApEncoder, in_axes=1, out_axes=1, variable_axes={"params": 0},
                     split_rngs={"params": True})


def _head(cfg: NetConfig, h, n_outputs: int, queries, name: str):
    """The output layer on the last features ``h[B, F]`` (inside a compact ``__call__``): a dense
    ``n_outputs`` for ``fc``; for ``heatmap`` the map's logits and the query read-out, queried at
    ``queries[B, Q, 2]`` or, when ``None``, at the map's own peaks (:mod:`isac_jax.dvqvae.heads`)."""
    if cfg.head == "fc":
        return nn.Dense(n_outputs, name=name, dtype=cfg.compute_dtype)(h).astype(jnp.float32)
    G = cfg.heatmap_grid
    logits = nn.Dense(G * G, name=f"{name}_map", dtype=cfg.compute_dtype)(h).astype(jnp.float32)
    if queries is None:
        queries = cell_centres(peak_cells(jax.lax.stop_gradient(logits), (n_outputs - G * G) // 4, G), G)
    readout = QueryReadout(cfg.fc_dim, name=f"{name}_readout")(h, queries)
    return jnp.concatenate([logits, readout.reshape(h.shape[0], -1)], axis=-1)


class Decoder(nn.Module):
    """CPU decoder (16): latents ``[B, M, L, D]`` (quantised or continuous) and ``X [B, N N_t, N_s, T_s]``
    -> ``[B, n_outputs]``: ``psi_hat [B, 4Q]`` (normalised locations then velocities) or another
    head's outputs (:mod:`isac_jax.dvqvae.heads`; ``queries[B, Q, 2]``: where the heat-map head reads
    targets out, by default its map's peaks). ``grid`` is the latent grid (the AP input's grid
    ``/ downsample``) so that ``L = prod(grid)``.

    With the ``centre`` head (``area_maps`` latents, one grid of the area for all APs) the residual
    block's output goes to :class:`~isac_jax.dvqvae.heads.CentreHead` instead of the projections
    and FC layers, and ``X`` is not used: the maps were built from it at the APs."""

    cfg: NetConfig
    grid: tuple
    n_outputs: int
    geometry: tuple | None = None     # the centre head's bistatic velocity read-out (CentreHead)

    @nn.compact
    def __call__(self, latents, x, queries=None):
        B, M, L, D = latents.shape
        z = latents.reshape(B, M, *self.grid, D)
        z = jnp.moveaxis(z, 1, -2).reshape(B, *self.grid, M * D)        # concatenate APs on channels
        impl, dt = self.cfg.conv_impl, self.cfg.compute_dtype
        z = Residual(self.cfg.n_res_cpu, impl, dt)(z)
        if self.cfg.head == "centre":
            return CentreHead(self.cfg.fc_dim, self.cfg.heatmap_grid, dt, self.geometry, name="out")(z)
        t = Downsample((self.cfg.tx_hidden,) * self.cfg.n_cnn_tx, impl, dt)(complex_to_channels(x))
        t = Residual(self.cfg.n_res_tx, impl, dt)(t)
        fz = nn.relu(nn.Dense(self.cfg.proj_dim, name="proj_latent", dtype=dt)(z.reshape(B, -1)))   # Phi_fc^c
        ft = nn.relu(nn.Dense(self.cfg.proj_dim, name="proj_tx", dtype=dt)(t.reshape(B, -1)))       # Phi_fc^t
        h = nn.relu(nn.Dense(self.cfg.fc_dim, name="fc", dtype=dt)(jnp.concatenate([fz, ft], axis=-1)))
        return _head(self.cfg, h, self.n_outputs, queries, "out")


class _CnnBranch(nn.Module):
    """Two 3D convs (kernel ``cnn_kernel``, 'same' padding, ReLU), each followed by 2x max-pooling."""

    cfg: NetConfig

    @nn.compact
    def __call__(self, h):
        k = self.cfg.cnn_kernel
        for c in self.cfg.cnn_channels:
            h = nn.relu(Conv3d(c, k, padding=k // 2, impl=self.cfg.conv_impl, dtype=self.cfg.compute_dtype)(h))
            h = nn.max_pool(h, (2, 2, 2), strides=(2, 2, 2))
        return h


class CentralisedCnn(nn.Module):
    """Sec. B.V.A baseline at the CPU: all APs' raw echoes, as the features of every AP stacked on
    the channel axis (``[B, M, M_r, N_s, T_s, C]`` -> ``M C`` channels), through a
    :class:`_CnnBranch`; then three FC layers and the output layer (``4Q`` or another head's width).

    *Decision*: Paper B's CNN [1] uses the transmit signals. The ``data_aware`` and ``maps``
    features are already built from them; with the ``paper`` input the transmit tensor
    ``X [B, N N_t, N_s, T_s]`` (real/imaginary parts) goes through a second branch, like the
    decoder's (two branches because ``X`` and ``Y`` live on different antenna axes). With the
    ``centre`` head (``area_maps``) the pooled features, still on the area grid, go to
    :class:`~isac_jax.dvqvae.heads.CentreHead` (width ``fc_dim``, as the decoder's) instead of the
    FC layers."""

    cfg: NetConfig
    n_outputs: int
    geometry: tuple | None = None     # the centre head's bistatic velocity read-out (CentreHead)

    @nn.compact
    def __call__(self, features, x, queries=None):
        h = jnp.moveaxis(features, 1, -2)                                # [B, A, F, T, M, C]
        h = _CnnBranch(self.cfg, name="echo_branch")(h.reshape(*h.shape[:4], -1))
        if self.cfg.head == "centre":
            return CentreHead(self.cfg.fc_dim, self.cfg.heatmap_grid, self.cfg.compute_dtype, self.geometry,
                              name="out")(h)
        h = h.reshape(h.shape[0], -1)
        if self.cfg.ap_input in Y_ONLY_INPUTS:                          # the input holds no X: add it
            t = _CnnBranch(self.cfg, name="tx_branch")(complex_to_channels(x)).reshape(h.shape[0], -1)
            h = jnp.concatenate([h, t], axis=-1)
        for w in self.cfg.cnn_fc:
            h = nn.relu(nn.Dense(w, dtype=self.cfg.compute_dtype)(h))
        return _head(self.cfg, h, self.n_outputs, queries, f"Dense_{len(self.cfg.cnn_fc)}")
