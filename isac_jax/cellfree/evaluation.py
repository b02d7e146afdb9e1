"""One evaluation harness for Paper B: every estimator and the root CRLB on the same samples.

Sample ``j`` of a test set drawn with ``key`` is the dataset's sample ``j``
(``fold_in(key, j)``, :func:`~isac_jax.cellfree.dataset.sample_batch`), so learned and classical
schemes can be scored on identical echoes. Per sample :func:`evaluate_trial` returns, for every
scheme, the squared location and velocity error of each target after the best assignment, and the
CRLB (B.24) of each target at the true parameters (the exact autodiff bound, without clutter or
clock offsets). :func:`summarise` turns a stack of trials into the paper's metrics:

* ``location_rmse_m = sqrt(mean over samples and targets of ||g_hat - g||^2)`` (B.25 form),
  ``velocity_rmse_mps`` likewise, each with a Monte Carlo standard error (delta method on the
  per-sample mean);
* ``root_crlb_location_m = sqrt(mean of CRLB_gx + CRLB_gy)``, ``root_crlb_velocity_mps`` likewise;
* ``fronthaul_bits`` per receive AP and update: 96 Q (``music``, ``cs``: angle, range and radial
  velocity per target), the raw echo 64 M_r N_s T_s (``ml_refined`` needs the samples at the CPU),
  0 (``monostatic``: one BS, no fronthaul).

Assignment: targets are matched by the best permutation on ``[x/A_x, y/A_y, v_x/2v, v_y/2v]``
(the min-max scaling of the learned schemes' labels); ``monostatic`` (no velocity vector) is matched
on location alone.

The monostatic BS (SPEC §7) at ``monostatic_bs`` radiates transmit AP 1's precoded tensor scaled to
the total power of the N transmit APs, sees the same targets with its own reflection coefficients
``CN(0, chi^2)`` and the same clutter scatterers with its own coefficients, and has no clock offset
(its transmitter and receiver share one oscillator).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..core.random import complex_normal
from .assignment import best_permutation, reorder_true
from .config import SPEED_OF_LIGHT, CellFreeConfig
from .crlb import crlb
from .echo import bistatic_geometry
from .assignment import permutation_table
from .estimators import SCHEMES, EstimatorSettings, detected_angles, detected_paths, estimate_detections
from .overhead import centralised_bits, fully_distributed_bits
from .sensing import draw_transmission, received_echo

MONOSTATIC_BS = (50.0, 0.0)


def monostatic_config(cfg: CellFreeConfig, bs=MONOSTATIC_BS) -> CellFreeConfig:
    """The full-duplex BS as a one-AP system: ``tx = rx = [bs]``, no clock offsets."""
    return dataclasses.replace(cfg, tx_positions=(tuple(bs),), rx_positions=(tuple(bs),),
                               timing_offset_std_s=0.0, cfo_std_hz=0.0)


def fronthaul_bits(scheme: str, cfg: CellFreeConfig) -> int:
    """Bits per receive AP and update of a classical scheme (see the module docstring)."""
    if scheme in ("music", "cs"):
        return fully_distributed_bits(cfg.n_targets)
    if scheme == "ml_refined":
        return centralised_bits(cfg.n_rx_antennas, cfg.n_subcarriers, cfg.n_symbols)
    if scheme == "monostatic":
        return 0
    raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")


def _features(g, v, cfg: CellFreeConfig, with_velocity: bool):
    ax, ay = cfg.area_m
    scale = jnp.asarray([1.0 / ax, 1.0 / ay], g.dtype)
    vel = v / (2.0 * cfg.max_speed_mps) if with_velocity else jnp.zeros_like(v)
    return jnp.concatenate([g * scale[None, :], vel], axis=-1)


def matched_truth(g_hat, v_hat, g, v, cfg: CellFreeConfig, *, with_velocity: bool = True):
    """The true locations and velocities ``([Q, 2], [Q, 2])`` matched to each estimate by the best
    assignment (``g_hat[q]`` estimates ``g_matched[q]``)."""
    perm = best_permutation(_features(g_hat, v_hat, cfg, with_velocity), _features(g, v, cfg, with_velocity))
    return reorder_true(g, perm), reorder_true(v, perm)


def assigned_squared_errors(g_hat, v_hat, g, v, cfg: CellFreeConfig, *, with_velocity: bool = True):
    """``(||g_hat - g_perm||^2 [Q], ||v_hat - v_perm||^2 [Q])`` after the best assignment."""
    g_t, v_t = matched_truth(g_hat, v_hat, g, v, cfg, with_velocity=with_velocity)
    return jnp.sum((g_hat - g_t) ** 2, axis=-1), jnp.sum((v_hat - v_t) ** 2, axis=-1)


def angles_found(cos_hat, tx, rx, targets, n_rx_antennas):
    """``[1]``: 1.0 when every receive AP detected every target's direction cosine to within a
    quarter of the array's null-to-null beamwidth ``2 / M_r`` (best matching of detections to
    targets), else 0.0. ``cos_hat[M, Q]``."""
    cos_true = bistatic_geometry(tx, rx, targets, jnp.zeros_like(targets))["cos_rx"]          # [M, Q]
    perms = jnp.asarray(permutation_table(targets.shape[0]))                                   # [P, Q]
    err = jnp.min(jnp.max(jnp.abs(cos_hat[:, None, :] - cos_true[:, perms]), axis=-1), axis=-1)   # [M]
    return jnp.all(err < 0.5 / n_rx_antennas)[None].astype(cos_hat.dtype)


def evaluate_trial(key, cfg: CellFreeConfig, schemes=SCHEMES, settings: EstimatorSettings = EstimatorSettings(),
                   *, clutter_scale=1.0, with_crlb: bool = True, with_estimates: bool = False) -> dict:
    """One sample, every scheme: ``{scheme}_loc_sq[Q]``, ``{scheme}_vel_sq[Q]`` (no velocity for
    ``monostatic``), ``{scheme}_declared[Q]`` (1.0 where the scheme declares its estimate a detected
    target, :func:`~isac_jax.cellfree.estimators.estimate_detections`; aligned with ``loc_sq``),
    ``{scheme}_angles_found[1]`` (``music``, ``cs``: see :func:`angles_found`),
    ``{scheme}_paths_per_ap[Q]`` (``music``, ``cs``: the fraction of receive APs whose detection
    rule kept path ``q``),
    ``crlb_loc[Q]``, ``crlb_vel[Q]`` (variances). Pure and jit-able (``cfg``,
    ``schemes`` and ``settings`` static). ``clutter_scale`` multiplies the clutter amplitudes (a
    traced way to sweep the clutter variance: ``chi~^2 scale^2``)."""
    unknown = [s for s in schemes if s not in SCHEMES]
    if unknown:
        raise ValueError(f"schemes must be among {', '.join(SCHEMES)}, got {unknown}")
    real = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    k_tx, k_y = jax.random.split(key)                       # as simulate_sample: the dataset's sample
    sc, _, _, x = draw_transmission(k_tx, cfg, dtype=real)
    sc = sc._replace(clutter_beta=sc.clutter_beta * clutter_scale)
    y = received_echo(k_y, cfg, sc, x)
    tx, rx = cfg.tx_array().astype(real), cfg.rx_array().astype(real)
    Q = cfg.n_targets
    out = {}
    # The estimators' priors (area, velocity box) are the scenario's.
    settings = dataclasses.replace(settings, area_m=tuple(cfg.area_m), max_speed_mps=cfg.max_speed_mps)
    kw = dict(n_targets=Q, settings=settings, **cfg.echo_kwargs)
    for scheme in schemes:
        if scheme == "monostatic":
            mono = monostatic_config(cfg)
            k_b, k_c, k_n = jax.random.split(jax.random.fold_in(key, 1), 3)
            sc_m = sc._replace(beta=complex_normal(k_b, (1, 1, Q), var=cfg.reflection_var, dtype=real),
                               clutter_beta=clutter_scale * complex_normal(
                                   k_c, (1, 1, cfg.n_clutter), var=cfg.clutter_var, dtype=real))
            x_m = x[:1] * jnp.sqrt(jnp.asarray(x.shape[0], real))
            y_m = received_echo(k_n, mono, sc_m, x_m)
            bs = mono.tx_array().astype(real)
            g_hat, v_hat, declared = estimate_detections("monostatic", y_m, x_m, bs, bs, **kw)
            out["monostatic_loc_sq"], _ = assigned_squared_errors(g_hat, jnp.zeros_like(g_hat), sc.targets,
                                                                  sc.velocities, cfg, with_velocity=False)
            out["monostatic_declared"] = declared.astype(real)
            continue
        g_hat, v_hat, declared = estimate_detections(scheme, y, x, tx, rx, **kw)
        out[f"{scheme}_declared"] = declared.astype(real)
        if scheme in ("music", "cs"):
            out[f"{scheme}_angles_found"] = angles_found(detected_angles(scheme, y, n_targets=Q, settings=settings),
                                                          tx, rx, sc.targets, cfg.n_rx_antennas)
            out[f"{scheme}_paths_per_ap"] = jnp.mean(
                detected_paths(scheme, y, n_targets=Q, settings=settings).astype(real), axis=0)
        g_t, v_t = matched_truth(g_hat, v_hat, sc.targets, sc.velocities, cfg)
        out[f"{scheme}_loc_sq"] = jnp.sum((g_hat - g_t) ** 2, axis=-1)
        out[f"{scheme}_vel_sq"] = jnp.sum((v_hat - v_t) ** 2, axis=-1)
        if with_estimates:
            out.update({f"{scheme}_locations": g_hat, f"{scheme}_velocities": v_hat,
                        f"{scheme}_true_locations": g_t, f"{scheme}_true_velocities": v_t})
    if with_crlb:
        d = jnp.diagonal(crlb(tx, rx, sc.targets, sc.velocities, sc.beta, x, **cfg.crlb_kwargs))
        out["crlb_loc"] = d[:2 * Q].reshape(Q, 2).sum(-1)
        out["crlb_vel"] = d[2 * Q:].reshape(Q, 2).sum(-1)
    return out


def _rmse_and_se(sq):
    """RMSE over ``sq[..., trials, Q]`` and its Monte Carlo standard error (delta method)."""
    per_trial = np.mean(sq, axis=-1)
    n = per_trial.shape[-1]
    mse = per_trial.mean(axis=-1)
    rmse = np.sqrt(mse)
    se = per_trial.std(axis=-1, ddof=1) / np.sqrt(n) / (2.0 * np.maximum(rmse, 1e-300)) if n > 1 else np.nan * rmse
    return rmse, se


def detection_gate_m(cfg: CellFreeConfig) -> float:
    """The evaluation's detection gate (m): half a bistatic range cell ``c / (2 N_s Delta f)``."""
    return 0.5 * SPEED_OF_LIGHT / (cfg.n_subcarriers * cfg.sensed_scs_hz)


def paired_difference(sq_a, sq_b, z: float = 1.96) -> dict:
    """Paired comparison of two schemes on the same samples: the mean over samples of
    ``d_j = mean_q sq_a[j, q] - mean_q sq_b[j, q]`` (m^2 for locations), its standard error
    ``std(d) / sqrt(n)`` and the normal ``z`` interval ``[lo, hi]``. ``lo > 0``: ``b`` has the lower MSE
    beyond sampling error. ``sq_a``, ``sq_b``: ``[..., n_trials, Q]``."""
    d = np.mean(np.asarray(sq_a), axis=-1) - np.mean(np.asarray(sq_b), axis=-1)
    mean = d.mean(axis=-1)
    se = d.std(axis=-1, ddof=1) / np.sqrt(d.shape[-1])
    return {"mse_difference_m2": mean, "mse_difference_se_m2": se, "ci95_low_m2": mean - z * se,
            "ci95_high_m2": mean + z * se}


def summarise(trials: dict, cfg: CellFreeConfig, schemes=SCHEMES) -> dict:
    """Paper metrics from stacked :func:`evaluate_trial` outputs ``[..., n_trials, Q]`` (see module).

    Per scheme: ``location_rmse_m`` over all targets (a target no estimate lands near still costs its
    distance to the estimate assigned to it) and its standard error ``location_rmse_se_m``;
    ``detection_probability``: the fraction of targets whose assigned estimate lies within
    :func:`detection_gate_m` and (where the trials carry ``{scheme}_declared``) is declared a target
    by the scheme, with its standard error (binomial over samples) and ``location_rmse_detected_m``
    over those targets; ``false_alarms_per_sample``: the mean number of declared estimates outside
    the gate of their assigned target, ``declared_fraction``: the fraction of estimates declared;
    ``paths_per_ap`` (``music``, ``cs``): the mean number of paths per receive AP that the per-AP
    detection rule keeps; velocity likewise where the scheme estimates it;
    ``paired_vs_monostatic`` (:func:`paired_difference`, monostatic minus the scheme) when both ran;
    ``outlier_rate``: the fraction of targets placed more than 5 root-CRLB standard deviations (their
    own bound) from the truth, when the bound was computed.
    """
    res = {}
    gate_sq = detection_gate_m(cfg) ** 2
    for scheme in schemes:
        sq = np.asarray(trials[f"{scheme}_loc_sq"])
        rmse, se = _rmse_and_se(sq)
        hit = sq <= gate_sq                                                                   # [..., trials, Q]
        declared = np.asarray(trials[f"{scheme}_declared"]) > 0.5 if f"{scheme}_declared" in trials else None
        if declared is not None:
            false_alarms = (declared & ~hit).sum(axis=-1)                                     # [..., trials]
            hit = hit & declared
        per_sample = hit.mean(axis=-1)
        n = per_sample.shape[-1]
        n_hit = hit.sum(axis=(-2, -1))
        res[scheme] = {"location_rmse_m": rmse, "location_rmse_se_m": se, "fronthaul_bits": fronthaul_bits(scheme, cfg),
                       "detection_probability": per_sample.mean(axis=-1),
                       "detection_probability_se": per_sample.std(axis=-1, ddof=1) / np.sqrt(n) if n > 1
                       else np.nan * per_sample.mean(axis=-1),
                       "location_rmse_detected_m": np.where(n_hit > 0, np.sqrt(
                           np.sum(np.where(hit, sq, 0.0), axis=(-2, -1)) / np.maximum(n_hit, 1)), np.nan)}
        if declared is not None:
            res[scheme]["false_alarms_per_sample"] = false_alarms.mean(axis=-1)
            res[scheme]["declared_fraction"] = declared.mean(axis=(-2, -1))
        if f"{scheme}_paths_per_ap" in trials:
            res[scheme]["paths_per_ap"] = np.asarray(trials[f"{scheme}_paths_per_ap"]).sum(axis=-1).mean(axis=-1)
        if "crlb_loc" in trials:
            # An outlier: a target placed more than 5 of its own root-CRLB standard deviations away.
            res[scheme]["outlier_rate"] = np.mean(sq > 25.0 * np.asarray(trials["crlb_loc"]), axis=(-2, -1))
        if scheme != "monostatic" and "monostatic_loc_sq" in trials:
            res[scheme]["paired_vs_monostatic"] = paired_difference(trials["monostatic_loc_sq"], sq)
        if f"{scheme}_angles_found" in trials:
            # The distributed schemes' floor mechanism: samples where an AP missed or merged a
            # target's angle, and the error of the others.
            found = np.asarray(trials[f"{scheme}_angles_found"])[..., 0] > 0.5          # [..., trials]
            sq = np.asarray(trials[f"{scheme}_loc_sq"]).mean(axis=-1)
            res[scheme]["angles_found_fraction"] = found.mean(axis=-1)
            n_found = found.sum(axis=-1)
            res[scheme]["location_rmse_angles_found_m"] = np.where(
                n_found > 0, np.sqrt(np.sum(np.where(found, sq, 0.0), axis=-1) / np.maximum(n_found, 1)), np.nan)
        if f"{scheme}_vel_sq" in trials:
            vr, vs = _rmse_and_se(np.asarray(trials[f"{scheme}_vel_sq"]))
            res[scheme].update(velocity_rmse_mps=vr, velocity_rmse_se_mps=vs)
    if "crlb_loc" in trials:
        res["root_crlb_location_m"] = np.sqrt(np.asarray(trials["crlb_loc"]).mean(axis=(-2, -1)))
        res["root_crlb_velocity_mps"] = np.sqrt(np.asarray(trials["crlb_vel"]).mean(axis=(-2, -1)))
    return res
