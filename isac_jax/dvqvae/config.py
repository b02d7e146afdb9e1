"""Hyper-parameters of the D-VQVAE, the D-VAE and the centralised CNN (Table B.II), and of training.

Every size is a field. ``NET_PRESETS["paper"]`` is Table B.II; ``"quick"`` trains on a 2-core CPU
in minutes. Choices Paper B leaves open are marked *Decision* and documented in ``docs/modelling/paper-b-learning.md``.
"""

from __future__ import annotations

import dataclasses

from ..core.validate import check_choice, check_int, check_positive, check_range
from .features import check_ap_input
from .heads import check_head


CENTRE_VELOCITIES = ("direct", "bistatic")


@dataclasses.dataclass(frozen=True)
class NetConfig:
    """Network sizes.

    Encoder (per receive AP): ``n_cnn`` down-sampling 3D convs (kernel 4, stride 2, padding 1, ReLU),
    the first ``hidden // 2`` channels and the last ``hidden`` (*Decision*, as in the VQ-VAE
    reference encoder; it gives the paper's ~1.2 M encoder parameters to within 25 %), then a
    residual block of ``n_res`` 3D convs (kernel 3, padding 1), then a linear projector
    ``hidden -> latent_dim`` (B.13). Codebook ``n_codewords x latent_dim`` per AP (B.14/B.15).

    Decoder (CPU): residual block of ``n_res_cpu`` convs on the concatenated latents
    (``M * latent_dim`` channels); transmit branch of ``n_cnn_tx`` down-sampling convs (``tx_hidden``
    channels) and ``n_res_tx`` residual convs; each branch flattened and projected to ``proj_dim``
    (*Decision*: Paper B does not give the width; 8 reproduces its ~206 M decoder parameters at
    Table B.I sizes); concatenation, FC of ``fc_dim``, output FC ``4 Q``.
    """

    n_cnn: int = 2
    n_res: int = 2
    hidden: int = 128
    hidden_first: int | None = None    # channels of the encoder's first conv; None: hidden // 2
    latent_dim: int = 512
    n_codewords: int = 32
    n_cnn_tx: int = 2
    n_res_tx: int = 2
    n_res_cpu: int = 1
    tx_hidden: int = 128
    proj_dim: int = 8
    fc_dim: int = 256
    # Quantiser (B.18-B.21)
    commitment: float = 0.25          # omega
    ema_decay: float = 0.99           # gamma
    laplace_eps: float = 1e-5         # Laplace smoothing of the EMA counts
    dead_code_restart: bool = False   # re-seed codewords whose EMA count fell below dead_code_threshold
    dead_code_threshold: float = 1e-3
    # Centralised CNN baseline (Sec. B.V.A): two 3D convs (kernel 5) + max-pool, three FC of 256.
    cnn_channels: tuple = (16, 32)
    cnn_kernel: int = 5
    cnn_fc: tuple = (256, 256, 256)
    # 3D convolution kernel: "auto" (CPU: FFT for stride-1 kernels >= 5, else im2col; XLA native
    # elsewhere), "im2col", "fft" (stride 1) or "native" (networks.conv_kind).
    conv_impl: str = "auto"
    # What the receive APs' encoders (and the centralised CNN) see: "paper" (Re/Im Y_m, Sec. B.III.A),
    # "data_aware" (Y_m times the conjugate transmit signals), "maps" (angle-delay-Doppler maps) or
    # "area_maps" (those maps read out on a grid of the area); see isac_jax.dvqvae.features.
    ap_input: str = "paper"
    # D-VAE: weight of the KL divergence to N(0, I), mean over batch, APs, latents and dimensions
    # (a beta-VAE weight; *Decision*, Paper B gives none).
    kl_weight: float = 1e-4
    # How the decoder's last features are read as the Q targets (isac_jax.dvqvae.heads): "fc" (Paper
    # B (16)-(17), 4Q outputs in slots, loss under the best assignment) or "heatmap" (beyond the
    # paper: a heatmap_grid^2 map of the normalised area, cross-entropy against Gaussian bumps of
    # heatmap_sigma cells, and a shared read-out of position and velocity at the peaks, its squared
    # error weighted by heatmap_regression_weight; no assignment) or "centre" (beyond the paper, with
    # ap_input "area_maps" only: per-cell logits, offsets and velocities on a heatmap_grid^2 grid of the
    # area, focal loss against bumps of heatmap_sigma cells, velocity error weighted by
    # heatmap_regression_weight).
    head: str = "fc"
    heatmap_grid: int = 32
    heatmap_sigma: float = 1.0
    heatmap_regression_weight: float = 30.0
    # How the centre head reads a cell's velocity (isac_jax.dvqvae.heads.CentreHead): "direct" (two
    # outputs per cell) or "bistatic" (beyond the paper: one Doppler and one weight per transmit-receive
    # pair per cell, and their weighted least-squares fit of the bistatic Doppler model (B.9)-(B.11)
    # at the cell).
    centre_velocity: str = "direct"
    # Weight of an auxiliary training loss on the encoders (beyond the paper; ap_input "area_maps" only):
    # a small per-AP probe (dvqvae.networks.LatentDopplerProbe) reads the bistatic Dopplers of every
    # target's paths to the AP from the AP's latents (before quantisation) at the target's latent cell;
    # its squared error (Dopplers in units of 2 sqrt(2) v_max f_c / c) times this weight joins the loss.
    # Training only: inference and the fronthaul are unchanged. 0: off.
    encoder_doppler_weight: float = 0.0
    # Compute dtype of the convolutions and dense layers ("float32" or "bfloat16"; parameters, the
    # quantiser and the loss stay float32). bfloat16 halves memory traffic on GPUs and TPUs.
    compute_dtype: str = "float32"

    def __post_init__(self):
        check_ap_input(self.ap_input)
        check_head(self.head)
        if self.head == "centre" and self.ap_input != "area_maps":
            raise ValueError("head 'centre' needs ap_input 'area_maps' (the head reads a grid of the area, which only "
                             f"that input's latents lie on); got ap_input {self.ap_input!r}")
        if self.centre_velocity not in CENTRE_VELOCITIES:
            raise ValueError(f"centre_velocity must be one of {', '.join(CENTRE_VELOCITIES)}, got {self.centre_velocity!r}")
        if self.centre_velocity != "direct" and self.head != "centre":
            raise ValueError(f"centre_velocity {self.centre_velocity!r} needs head 'centre', got head {self.head!r}")
        check_positive("encoder_doppler_weight", self.encoder_doppler_weight, allow_zero=True)
        if self.encoder_doppler_weight > 0 and self.ap_input != "area_maps":
            raise ValueError("encoder_doppler_weight > 0 needs ap_input 'area_maps' (the probe reads the latent cell "
                             f"of each target, which only that input's latents lie on); got ap_input {self.ap_input!r}")
        check_positive("heatmap_sigma", self.heatmap_sigma)
        check_positive("heatmap_regression_weight", self.heatmap_regression_weight)
        check_choice("compute_dtype", self.compute_dtype, ("float32", "bfloat16"))
        check_positive("kl_weight", self.kl_weight, allow_zero=True)
        check_choice("conv_impl", self.conv_impl, ("auto", "im2col", "fft", "native"))
        for name in ("n_cnn", "hidden", "latent_dim", "n_cnn_tx", "tx_hidden", "proj_dim", "fc_dim", "cnn_kernel",
                     "heatmap_grid"):
            check_int(name, getattr(self, name))
        if self.hidden_first is not None:
            check_int("hidden_first", self.hidden_first)
        for name in ("n_res", "n_res_tx", "n_res_cpu"):
            check_int(name, getattr(self, name), minimum=0)
        check_int("n_codewords", self.n_codewords, minimum=2)
        check_range("ema_decay", self.ema_decay, 0.0, 1.0, low_open=True, high_open=True)
        check_positive("commitment", self.commitment, allow_zero=True)
        check_positive("laplace_eps", self.laplace_eps)
        check_positive("dead_code_threshold", self.dead_code_threshold, allow_zero=True)
        for name in ("cnn_channels", "cnn_fc"):
            for i, v in enumerate(getattr(self, name)):
                check_int(f"{name}[{i}]", v)

    @property
    def downsample(self) -> int:
        """Down-sampling factor of every axis by the encoder (``2 ** n_cnn``)."""
        return 2 ** self.n_cnn

    @property
    def downsample_tx(self) -> int:
        return 2 ** self.n_cnn_tx


LR_SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Algorithm B.1: Adam with ``learning_rate``; ``epochs`` passes over the training set in
    batches of ``batch_size`` (the order of each epoch is a pure function of the key and the
    epoch, so a resumed run sees the same batches); a checkpoint every ``checkpoint_every`` steps
    and at each epoch end.

    ``max_steps``: the training budget in optimiser steps (default: all epochs). A budget in steps
    is the same for every scheme and machine, so a comparison is reproducible from the seed; it is
    not part of a checkpoint's settings, so a larger budget resumes a finished run.
    ``time_budget_s`` also stops training (at a step boundary, saved), but what it trains depends on
    the machine and its load: no preset uses it.
    ``data_parallel``: shard every batch over all local devices (``jax.sharding``, parameters
    replicated); ``batch_size`` must then be a multiple of the device count.
    ``lr_schedule``: ``"constant"`` (Algorithm B.1) or ``"cosine"`` (*beyond the paper*: the rate
    decays as ``learning_rate (1 + cos(pi s / S)) / 2`` over the run's budget of ``S`` steps,
    ``max_steps`` or all epochs; a run resumed with another budget continues on the new schedule).
    """

    learning_rate: float = 1e-4
    batch_size: int = 32
    epochs: int = 50
    checkpoint_every: int = 200
    max_steps: int | None = None
    time_budget_s: float | None = None
    grad_clip: float | None = 1.0
    data_parallel: bool = False
    lr_schedule: str = "constant"

    def __post_init__(self):
        check_positive("learning_rate", self.learning_rate)
        for name in ("batch_size", "epochs", "checkpoint_every"):
            check_int(name, getattr(self, name))
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if self.max_steps is not None:
            check_int("max_steps", self.max_steps)
        if self.time_budget_s is not None:
            check_positive("time_budget_s", self.time_budget_s)
        if self.grad_clip is not None:
            check_positive("grad_clip", self.grad_clip, allow_zero=True)      # 0 or None: no clipping


#: Table B.II (``paper``), Table B.II's network with a quarter of its widths (``paper_quick``) and the
#: project's CPU-sized network (``quick``).
NET_PRESETS = {
    # Table B.II; the widths it leaves open are chosen to give the paper's parameter counts (Sec. B.V):
    # a first encoder conv of 32 channels -> 1.217 M encoder parameters per AP ("approximately 1.2
    # million"), a transmit branch of 156 channels -> 206.3 M decoder parameters ("206 million").
    "paper": NetConfig(hidden_first=32, tx_hidden=156),
    # Paper B's network on the quick system: Table B.II's layers, N_c and projection, every width a
    # quarter of Table B.II's (the quick tensor has half the antennas and an eighth of the subcarriers and
    # symbols); with ap_input "paper" and head "fc" it is the reproduction of the paper's D-VQVAE.
    "paper_quick": NetConfig(hidden=32, hidden_first=8, latent_dim=128, tx_hidden=40, proj_dim=8, fc_dim=64,
                             cnn_channels=(8, 16), cnn_fc=(256, 256, 256)),
    "quick": NetConfig(hidden=32, latent_dim=32, tx_hidden=16, proj_dim=64, fc_dim=128,
                       cnn_channels=(8, 16), cnn_fc=(256, 256, 256)),
}


def get_net_config(preset: str = "quick", **overrides) -> NetConfig:
    """The :data:`NET_PRESETS` entry ``preset`` (``"paper"``: Table B.II; ``"quick"``: CPU-sized) with the
    :class:`NetConfig` fields ``overrides`` replaced."""
    if preset not in NET_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(NET_PRESETS)}")
    return dataclasses.replace(NET_PRESETS[preset], **overrides)
