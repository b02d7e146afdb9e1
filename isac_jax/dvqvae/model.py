"""The three learned estimators of Paper B on one interface.

- ``dvqvae``: per-AP encoders -> per-AP vector quantisers -> CPU decoder (Sec. B.III).
- ``dvae``: the same encoders and decoder, a Gaussian latent per AP (reparameterised, KL weight
  ``net.kl_weight``); its mean is sent to the CPU at evaluation (ablation, Sec. B.V).
- ``cnn``: the centralised CNN on all raw echoes and the transmit signals (Sec. B.V.A).

Inputs are a batch ``Y[B, M, M_r, N_s, T_s]`` and ``X[B, N, N_t, N_s, T_s]`` (as the dataset stores
them); the receive APs see ``X`` too when ``net.ap_input`` strips the data off their echoes.
Outputs are normalised ``psi_hat[B, 4Q]`` (or the heat-map head's map, ``net.head``). The online path of Algorithm B.2 is split in two
functions so that only integer indices cross the fronthaul: :meth:`SensingModel.ap_indices` (at the
APs) and :meth:`SensingModel.estimate_from_indices` (at the CPU).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from ..cellfree.config import CellFreeConfig
from ..cellfree.overhead import scheme_fronthaul_bits
from .config import NetConfig
from .features import ap_features, feature_grid
from .heads import bistatic_rows, n_head_outputs
from .networks import ApEncoders, CentralisedCnn, Decoder, LatentDopplerProbes
from .quantiser import Codebook, commitment_loss, init_codebook, lookup, nearest_indices, straight_through

#: The learned schemes of Paper B: the D-VQVAE, the D-VAE and the centralised CNN.
SCHEMES = ("dvqvae", "dvae", "cnn")


@dataclasses.dataclass(frozen=True)
class SensingModel:
    """A scheme of ``SCHEMES`` with its network sizes and the system it senses."""

    scheme: str
    net: NetConfig
    system: CellFreeConfig

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {self.scheme!r}")
        s = self.system
        grid = feature_grid(self.net.ap_input, s)
        names = (("area cells in x (n_subcarriers)", "area cells in y (n_subcarriers)",
                  "Doppler shifts (n_rx_antennas * n_symbols / n_subcarriers)")
                 if self.net.ap_input == "area_maps" else ("n_rx_antennas", "n_subcarriers", "n_symbols"))
        dims = dict(zip(names, grid))
        if self.net.head == "centre":
            g = grid[0] // (4 if self.scheme == "cnn" else self.net.downsample)
            if g < 1 or self.net.heatmap_grid % g:
                raise ValueError(f"heatmap_grid = {self.net.heatmap_grid} must be a multiple of the {g} x {g} "
                                 "cells the centre head reads")
        if self.scheme != "cnn":
            for name, v in dims.items():
                if v % self.net.downsample:
                    raise ValueError(f"{name} = {v} must be divisible by the encoder's down-sampling "
                                     f"2**n_cnn = {self.net.downsample}")
            n_tx = len(s.tx_positions) * s.n_tx_antennas
            for name, v in (("N * n_tx_antennas", n_tx), ("n_subcarriers", s.n_subcarriers),
                            ("n_symbols", s.n_symbols)):
                if v % self.net.downsample_tx:
                    raise ValueError(f"{name} = {v} must be divisible by the transmit branch's down-sampling "
                                     f"2**n_cnn_tx = {self.net.downsample_tx}")
        else:
            for name, v in dims.items():
                if v % 4:
                    raise ValueError(f"{name} = {v} must be divisible by 4 (the CNN's two 2x max-pools)")

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def n_aps(self) -> int:
        return len(self.system.rx_positions)

    @property
    def n_outputs(self) -> int:
        """Width of the last layer (:func:`~isac_jax.dvqvae.heads.n_head_outputs`)."""
        return n_head_outputs(self.net.head, self.system.n_targets, self.net.heatmap_grid)

    @property
    def grid(self) -> tuple:
        d = self.net.downsample
        return tuple(n // d for n in feature_grid(self.net.ap_input, self.system))

    @property
    def n_latent(self) -> int:
        """``L`` latent vectors per AP and sample."""
        return math.prod(self.grid)

    def fronthaul_bits_per_ap(self) -> int:
        """Bits one receive AP sends the CPU per update: ``N_b L`` (indices), ``32 D L`` (float32 latents)
        or the raw ``64 M_r N_s T_s`` (centralised CNN). What the AP receives is in :meth:`fronthaul`."""
        return self.fronthaul()["latents"]

    def fronthaul(self, tx_representation: str = "structured") -> dict:
        """Everything on one receive AP's fronthaul link per update
        (:func:`~isac_jax.cellfree.overhead.scheme_fronthaul_bits`): ``{"latents", "tx_signals", "total"}``
        bits, ``tx_signals`` the transmit signals the AP needs for ``net.ap_input`` (0 for ``Y_m``-only
        inputs and for the centralised CNN, whose CPU holds them)."""
        return scheme_fronthaul_bits(self.scheme, self.system, ap_input=self.net.ap_input,
                                     n_codewords=self.net.n_codewords, n_latent=self.n_latent,
                                     latent_dim=self.net.latent_dim, tx_representation=tx_representation)

    # -- modules -------------------------------------------------------------------------------
    def _encoder(self):
        return ApEncoders(self.net, variational=self.scheme == "dvae")

    def _head_geometry(self):
        """What the ``centre`` head's ``bistatic`` velocity read-out needs: ``(area_m, tx, rx)``."""
        s = self.system
        return (tuple(s.area_m), tuple(s.tx_positions), tuple(s.rx_positions)) \
            if self.net.centre_velocity == "bistatic" else None

    def _decoder(self):
        return Decoder(self.net, self.grid, self.n_outputs, self._head_geometry())

    def _probe(self):
        return LatentDopplerProbes(self.net.fc_dim, len(self.system.tx_positions))

    def _latents_at(self, latents, labels):
        """The latents ``[B, M, L, D]`` of the cell holding each target (normalised ``labels[B, Q, >=2]``),
        every Doppler latent of it concatenated: ``[B, M, Q, G_d D]``."""
        gx, gy, gd = self.grid
        B, M, _, D = latents.shape
        z = latents.reshape(B, M, gx, gy, gd * D)
        ix = jnp.clip(jnp.floor(labels[..., 0] * gx), 0, gx - 1).astype(jnp.int32)            # [B, Q]
        iy = jnp.clip(jnp.floor(labels[..., 1] * gy), 0, gy - 1).astype(jnp.int32)
        return jax.vmap(lambda zb, i, j: zb[:, i, j])(z, ix, iy)                              # [B, M, Q, G_d D]

    def latent_doppler_loss(self, params, latents, labels):
        """The auxiliary loss of ``net.encoder_doppler_weight`` (unweighted): mean squared error of the
        per-AP probes' Dopplers from ``latents[B, M, L, D]`` at the targets' cells against the targets'
        bistatic Dopplers ``(u_n + u_m) . v / (2 sqrt(2) v_max)`` (B.9)-(B.11), from the normalised
        ``labels[B, Q, 4]`` read as the area (positions) and ``[-v_max, v_max]`` (velocities), the
        ranges the uniform targets span."""
        s = self.system
        pos = labels[..., :2] * jnp.asarray(s.area_m, labels.dtype).reshape(1, 1, 2)
        v = 2.0 * labels[..., 2:] - 1.0                                                       # units of v_max
        rows = bistatic_rows(pos, s.tx_array().astype(labels.dtype), s.rx_array().astype(labels.dtype))
        M, N = len(s.rx_positions), len(s.tx_positions)
        doppler = jnp.einsum("bqki,bqi->bqk", rows, v).reshape(*labels.shape[:2], M, N)       # [B, Q, M, N]
        pred = self._probe().apply({"params": params["latent_probe"]}, self._latents_at(latents, labels))
        return jnp.mean((pred - jnp.moveaxis(doppler, 2, 1)) ** 2)

    def _cnn(self):
        return CentralisedCnn(self.net, self.n_outputs, self._head_geometry())

    @staticmethod
    def _x(X):
        """``X[B, N, N_t, N_s, T_s]`` -> ``[B, N N_t, N_s, T_s]`` (the CPU's transmit tensor)."""
        return X.reshape(X.shape[0], -1, *X.shape[-2:])

    def ap_inputs(self, Y, X=None):
        """Every receive AP's encoder input ``[B, M, M_r, N_s, T_s, C]``, each AP from its own echoes
        (and ``X`` where ``net.ap_input`` needs it; :func:`~isac_jax.dvqvae.features.ap_features`)."""
        rx = self.system.rx_array().astype(jnp.real(Y).dtype)                   # [M, 2]
        return jax.vmap(lambda y, r: ap_features(self.net.ap_input, y, X, system=self.system, rx_position=r),
                        in_axes=(1, 0), out_axes=1)(Y, rx)

    def init(self, key, Y, X):
        """Parameters (and, for ``dvqvae``, the codebooks initialised from this batch's latents);
        one compiled function per model value (eager Flax init would compile every op separately)."""
        return _jit_init(self, key, Y, X)

    def _init(self, key, Y, X):
        k_enc, k_dec, k_cb = jax.random.split(key, 3)
        features = self.ap_inputs(Y, X)
        if self.scheme == "cnn":
            return {"cnn": self._cnn().init(k_enc, features, self._x(X))["params"]}, None
        enc = self._encoder().init(k_enc, features)["params"]
        z = self.encode({"encoder": enc}, Y, X)
        dec = self._decoder().init(k_dec, z, self._x(X))["params"]
        book = init_codebook(k_cb, z, self.net.n_codewords) if self.scheme == "dvqvae" else None
        params = {"encoder": enc, "decoder": dec}
        if self.net.encoder_doppler_weight > 0:
            cells = jnp.zeros((z.shape[0], self.system.n_targets, 2))
            # A key of its own, derived so that the other parts' keys do not depend on whether it is drawn.
            k_probe = jax.random.fold_in(k_cb, 1)
            params["latent_probe"] = self._probe().init(k_probe, self._latents_at(z, cells))["params"]
        return params, book

    def encode(self, params, Y, X=None):
        """Continuous latents ``Z[B, M, L, D]`` (12)-(13), every AP with its own weights (vmapped);
        for ``dvae`` the posterior mean."""
        out = self._encoder().apply({"params": params["encoder"]}, self.ap_inputs(Y, X))
        return out[0] if self.scheme == "dvae" else out

    def forward(self, params, book: Codebook | None, Y, X, key=None, queries=None):
        """Training-time forward pass: ``(psi_hat[B, 4Q], aux)`` with ``aux`` holding the latents,
        the indices and the regulariser (commitment loss (21) for ``dvqvae``, the weighted KL for
        ``dvae``, zero for ``cnn``). ``key``: the D-VAE samples its latents with it (reparameterised);
        without a key it decodes the posterior mean (evaluation). ``queries[B, Q, 2]``: where the
        heat-map head reads the targets out (training: the true targets' cells; default: its peaks)."""
        if self.scheme == "cnn":
            pred = self._cnn().apply({"params": params["cnn"]}, self.ap_inputs(Y, X), self._x(X), queries)
            return pred, {"regulariser": jnp.zeros(())}
        if self.scheme == "dvae":
            mean, log_var = self._encoder().apply({"params": params["encoder"]}, self.ap_inputs(Y, X))
            kl = 0.5 * jnp.mean(jnp.exp(log_var) + mean ** 2 - 1.0 - log_var)
            z = mean if key is None else mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape, mean.dtype)
            aux = {"latents": mean, "regulariser": self.net.kl_weight * kl}
            return self._decoder().apply({"params": params["decoder"]}, z, self._x(X), queries), aux
        z = self.encode(params, Y, X)
        aux = {"latents": z, "regulariser": jnp.zeros((), z.dtype)}
        if self.scheme == "dvqvae":
            idx = nearest_indices(z, book.codewords)
            zq = lookup(idx, book.codewords)
            aux.update(indices=idx, regulariser=commitment_loss(z, zq, self.net.commitment))
            z = straight_through(z, zq)
        return self._decoder().apply({"params": params["decoder"]}, z, self._x(X), queries), aux

    # -- online execution (Algorithm B.2) ------------------------------------------------------
    def ap_indices(self, params, book: Codebook, Y, X=None):
        """At the receive APs: encode (from ``Y``, and ``X`` where ``net.ap_input`` needs it), project
        and quantise; returns ``int32[B, M, L]`` indices, the only thing sent on the fronthaul."""
        self._require_dvqvae()
        return nearest_indices(self.encode(params, Y, X), book.codewords)

    def estimate_from_indices(self, params, book: Codebook, indices, X):
        """At the CPU: rebuild the codewords from ``indices[B, M, L]`` and decode with ``X``."""
        self._require_dvqvae()
        if indices.shape[1:] != (self.n_aps, self.n_latent):
            raise ValueError(f"indices must have shape [B, {self.n_aps}, {self.n_latent}], got {list(indices.shape)}")
        return self._decoder().apply({"params": params["decoder"]}, lookup(indices, book.codewords), self._x(X))

    def _require_dvqvae(self):
        if self.scheme != "dvqvae":
            raise ValueError(f"index-only inference needs scheme 'dvqvae', this model is {self.scheme!r}")


# The model is a frozen (hashable) dataclass: a static argument, so JAX's jit cache holds one
# compilation per model value.
_jit_init = jax.jit(SensingModel._init, static_argnums=0)


def index_fronthaul_bits(indices, n_codewords: int) -> int:
    """Bits per AP measured on an actual index tensor ``indices[B, M, L]``: ``ceil(log2 N_c) * L``
    (checks that every index fits in that many bits)."""
    import numpy as np

    idx = np.asarray(indices)
    if idx.size and (idx.min() < 0 or idx.max() >= n_codewords):
        raise ValueError(f"indices must lie in [0, n_codewords={n_codewords}), got [{idx.min()}, {idx.max()}]")
    return math.ceil(math.log2(n_codewords)) * idx.shape[-1]


def parameter_count(tree) -> int:
    """Number of scalar parameters (array elements) in the pytree ``tree``."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(tree)))
