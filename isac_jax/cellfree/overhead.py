"""Fronthaul signalling overhead per receive AP and update (Paper B, Sec. III.D), in bits.

:func:`scheme_fronthaul_bits` counts, for every learned and classical scheme, everything that crosses a
receive AP's fronthaul link: what the AP sends the CPU and, where the AP needs them, the transmit
signals ``X`` the CPU sends the AP (:func:`tx_signal_bits`)."""

from __future__ import annotations

import math

from ..core.validate import check_int


def fully_distributed_bits(n_targets: int) -> int:
    """Angle, range and radial velocity per target as float32: ``96 Q``."""
    return 96 * check_int("n_targets", n_targets)


def centralised_bits(n_rx_antennas: int, n_subcarriers: int, n_symbols: int) -> int:
    """Raw ``Y_m`` (complex, 2 x float32 per entry): ``64 M_r N_s T_s``."""
    return 64 * check_int("n_rx_antennas", n_rx_antennas) * check_int("n_subcarriers", n_subcarriers) * check_int(
        "n_symbols", n_symbols)


def dvqvae_bits(n_codewords: int, n_latent: int) -> int:
    """Codeword indices only: ``N_b L`` with ``N_b = ceil(log2 N_c)``."""
    n_codewords = check_int("n_codewords", n_codewords, minimum=2)
    return math.ceil(math.log2(n_codewords)) * check_int("n_latent", n_latent)


def latent_count(n_rx_antennas: int, n_subcarriers: int, n_symbols: int, downsample: int = 4) -> int:
    """``L = M_bar N_bar T_bar`` for an encoder down-sampling every axis by ``downsample``."""
    for name, v in (("n_rx_antennas", n_rx_antennas), ("n_subcarriers", n_subcarriers), ("n_symbols", n_symbols)):
        if v % downsample:
            raise ValueError(f"{name} = {v} must be divisible by the encoder's down-sampling factor {downsample}")
    return (n_rx_antennas // downsample) * (n_subcarriers // downsample) * (n_symbols // downsample)


#: AP inputs (``isac_jax.dvqvae.features``) computed from the AP's own echoes ``Y_m`` alone.
Y_ONLY_INPUTS = ("paper", "covariance")
#: Learned schemes whose receive APs run an encoder, and classical schemes estimating at each receive AP.
DISTRIBUTED_LEARNED = ("dvqvae", "dvae")
DISTRIBUTED_CLASSICAL = ("music", "cs")
#: Schemes that send the raw echoes to the CPU (the CPU holds ``X``: nothing goes back to the APs).
CENTRALISED = ("cnn", "ml_refined")
TX_REPRESENTATIONS = ("structured", "raw")


def tx_signal_bits(system, representation: str = "structured") -> int:
    """Bits the CPU sends one receive AP per update so that the AP knows the transmit signals
    ``X[N, N_t, N_s, T_s]`` of every transmit AP on the sensed grid (what ``dvqvae.features`` reads for every
    AP input but ``paper`` and ``covariance``, and what the distributed classical schemes correlate with).

    ``representation``:

    * ``"structured"`` (default, the smaller): what the CPU also sends the transmit APs, (B.3)
      ``x_{i,n}[t] = W_{i,n} s_i[t]``: the users' 16-QAM symbols at 4 bits each, ``4 K N_s T_s``,
      plus every transmit AP's precoding matrix on every sensed subcarrier as complex float32,
      ``64 N N_t K_p N_s``, with ``K_p = K`` streams, or ``K_p = N_t`` when a sensing stream is on
      (``sensing_power_fraction > 0``: the ``N_t - K`` null-space basis vectors ``V_{i,n}`` of
      ``cellfree.comm.null_space_sensing`` are sent like precoders; its Gaussian samples are drawn
      from a pseudo-random generator whose seed the APs share, 0 bits per update).
      Total ``4 K N_s T_s + 64 N N_t K_p N_s``.
    * ``"raw"``: every element of ``X`` as complex float32, ``64 N N_t N_s T_s``.

    Args:
        system: a ``cellfree.config.CellFreeConfig`` (``N_s``, ``T_s``: the sensed grid).
        representation: ``"structured"`` or ``"raw"``.

    Returns:
        Bits per receive AP and update (every receive AP needs all of ``X``; a multicast counts once per link).
    """
    if representation not in TX_REPRESENTATIONS:
        raise ValueError(f"representation must be one of {', '.join(TX_REPRESENTATIONS)}, got {representation!r}")
    n, nt, ns, ts, k = (len(system.tx_positions), system.n_tx_antennas, system.n_subcarriers, system.n_symbols, system.n_users)
    if representation == "raw":
        return 64 * n * nt * ns * ts
    streams = nt if system.sensing_power_fraction > 0 else k
    return 4 * k * ns * ts + 64 * n * nt * streams * ns


def scheme_fronthaul_bits(scheme: str, system, *, ap_input: str = "paper", n_codewords: int = 32,
                          n_latent: int | None = None, latent_dim: int | None = None,
                          tx_representation: str = "structured") -> dict:
    """Everything that crosses one receive AP's fronthaul link per update, for one scheme.

    * ``dvqvae``: indices ``ceil(log2 N_c) L`` (B.14) up; ``dvae``: float32 latents ``32 D L`` up;
      plus, for an AP input that needs them (not in :data:`Y_ONLY_INPUTS`), the transmit signals
      :func:`tx_signal_bits` down.
    * ``music``, ``cs`` (fully distributed, Sec. B.V.A): angle, range and radial velocity per target,
      ``96 Q`` up, plus :func:`tx_signal_bits` down (their range and Doppler matched filters use ``X``).
    * ``cnn``, ``ml_refined`` (centralised): the raw echoes ``64 M_r N_s T_s`` up; ``X`` stays at the CPU.
    * ``trivial`` and ``monostatic`` (one full-duplex BS, its own signals): nothing.

    Args:
        scheme: one of the names above.
        system: a ``CellFreeConfig``.
        ap_input: the learned schemes' AP input (``dvqvae.features.AP_INPUTS``).
        n_codewords: ``N_c`` (``dvqvae``).
        n_latent: ``L`` latent vectors per AP (``dvqvae``, ``dvae``).
        latent_dim: ``D`` (``dvae``).
        tx_representation: see :func:`tx_signal_bits`.

    Returns:
        ``{"latents": up-link bits, "tx_signals": down-link bits of X, "total": their sum}`` per AP and update.
    """
    tx = tx_signal_bits(system, tx_representation)
    if scheme in DISTRIBUTED_LEARNED:
        if n_latent is None:
            raise ValueError(f"scheme {scheme!r} needs n_latent (L latent vectors per AP)")
        if scheme == "dvqvae":
            up = dvqvae_bits(n_codewords, n_latent)
        else:
            if latent_dim is None:
                raise ValueError("scheme 'dvae' needs latent_dim (D, float32 per latent dimension)")
            up = 32 * check_int("latent_dim", latent_dim) * check_int("n_latent", n_latent)
        down = 0 if ap_input in Y_ONLY_INPUTS else tx
    elif scheme in DISTRIBUTED_CLASSICAL:
        up, down = fully_distributed_bits(system.n_targets), tx
    elif scheme in CENTRALISED:
        up, down = centralised_bits(system.n_rx_antennas, system.n_subcarriers, system.n_symbols), 0
    elif scheme in ("trivial", "monostatic"):
        up, down = 0, 0
    else:
        raise ValueError(f"scheme must be one of {', '.join(DISTRIBUTED_LEARNED + DISTRIBUTED_CLASSICAL + CENTRALISED)}"
                         f", trivial, monostatic; got {scheme!r}")
    return {"latents": int(up), "tx_signals": int(down), "total": int(up + down)}
