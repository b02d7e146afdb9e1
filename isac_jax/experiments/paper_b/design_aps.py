"""Beyond Paper B: place the receive APs by gradient descent on the CRLB.

The objective is the mean over a fixed set of random scenarios (targets, velocities, reflection
coefficients, MMSE-precoded 16-QAM transmit tensors; drawn once from the seed) of the log of the
per-scenario location bound ``sqrt(mean_q (CRLB_x + CRLB_y))`` (B.25)-(B.26), differentiated with
respect to the receive-AP positions through :func:`isac_jax.cellfree.crlb` (autodiff through the
Fisher information). Adam steps in metres, each followed by projection (clipping) onto the area
shrunk by ``margin_m``, so the receive APs stay inside the area's border. Reported: start and final layouts, the objective history, and the
location and velocity bounds before and after on the design scenarios and on fresh scenarios.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ...cellfree.config import CellFreeConfig, PRESETS as CF_PRESETS
from ...cellfree.crlb import crlb
from ...cellfree.sensing import draw_transmission
from ...core.precision import float64
from ..plotting import finish_figure, subplots
from ..registry import Experiment

NAME = "b-design-aps"
DESCRIPTION = "Beyond Paper B: receive-AP placement by gradient descent through the CRLB"


@dataclasses.dataclass(frozen=True)
class Config:
    system: CellFreeConfig = CF_PRESETS["quick"]
    n_scenarios: int = 8
    n_test_scenarios: int = 8
    n_steps: int = 30
    learning_rate_m: float = 2.0
    margin_m: float = 0.0


PRESETS = {
    "quick": Config(),
    "paper": Config(system=dataclasses.replace(CF_PRESETS["paper"], n_subcarriers=64, n_symbols=64),
                    n_scenarios=32, n_test_scenarios=64, n_steps=60),
}


def _bounds(cfg: CellFreeConfig, rx, batch):
    """Per scenario: location and velocity bounds (m, m/s), ``sqrt(mean_q (CRLB_x + CRLB_y))``."""
    Q = cfg.n_targets

    def one(sc_targets, sc_vel, sc_beta, x):
        c = crlb(cfg.tx_array(), rx, sc_targets, sc_vel, sc_beta, x, **cfg.crlb_kwargs)
        d = jnp.diagonal(c)
        return jnp.sqrt(jnp.mean(d[:2 * Q].reshape(Q, 2).sum(-1))), jnp.sqrt(jnp.mean(d[2 * Q:].reshape(Q, 2).sum(-1)))

    return jax.vmap(one)(*batch)


def _draw(key, cfg, n):
    def one(k):
        sc, _, _, x = draw_transmission(k, cfg, dtype=jnp.float64)
        return sc.targets, sc.velocities, sc.beta, x

    return jax.vmap(one)(jax.random.split(key, n))


def run(config: Config, *, seed: int = 0, work_dir=None, progress: bool = True) -> dict:
    cfg = config.system
    lo = jnp.full((2,), config.margin_m)
    hi = jnp.asarray(cfg.area_m) - config.margin_m
    with float64():
        k_train, k_test = jax.random.split(jax.random.PRNGKey(seed))
        train, test = _draw(k_train, cfg, config.n_scenarios), _draw(k_test, cfg, config.n_test_scenarios)
        rx0 = cfg.rx_array()

        def objective(rx):
            loc, _ = _bounds(cfg, rx, train)
            return jnp.mean(jnp.log(loc))

        opt = optax.adam(config.learning_rate_m)

        def step(carry, _):
            rx, state = carry
            val, g = jax.value_and_grad(objective)(rx)
            upd, state = opt.update(g, state)
            rx = jnp.clip(optax.apply_updates(rx, upd), lo[None, :], hi[None, :])        # [M, 2] in the area
            return (rx, state), (val, rx)

        (rx, _), (hist, path) = jax.jit(lambda r: jax.lax.scan(step, (r, opt.init(r)), None,
                                                                length=config.n_steps))(rx0)
        final = objective(rx)
        evaluate = jax.jit(lambda r, b: _bounds(cfg, r, b))
        res = {"rx_start": np.asarray(rx0), "rx_final": np.asarray(rx), "rx_path": np.asarray(path),
               "tx": np.asarray(cfg.tx_array()), "objective_history": np.append(np.asarray(hist), float(final)),
               "design_targets": np.asarray(train[0]).reshape(-1, 2)}
        for name, batch in (("design", train), ("test", test)):
            for tag, r in (("start", rx0), ("final", rx)):
                loc, vel = evaluate(r, batch)
                res[f"{name}_location_bound_m_{tag}"] = float(jnp.sqrt(jnp.mean(loc ** 2)))
                res[f"{name}_velocity_bound_mps_{tag}"] = float(jnp.sqrt(jnp.mean(vel ** 2)))
    if not np.all(np.isfinite(res["objective_history"])):
        raise FloatingPointError("b-design-aps: the CRLB objective became non-finite")
    return res


def plot(results: dict, path) -> None:
    fig, (ax, ax2) = subplots(1, 2, figsize=(11, 4.8))
    t = np.asarray(results["design_targets"])
    ax.plot(t[:, 0], t[:, 1], ".", color="0.6", label="design targets")
    tx = np.asarray(results["tx"])
    ax.plot(tx[:, 0], tx[:, 1], "k^", ms=10, label="transmit APs")
    p = np.asarray(results["rx_path"])
    for m in range(p.shape[1]):
        ax.plot(p[:, m, 0], p[:, m, 1], "-", color="C1", lw=1)
    s, f = np.asarray(results["rx_start"]), np.asarray(results["rx_final"])
    ax.plot(s[:, 0], s[:, 1], "bs", ms=9, mfc="none", label="receive APs, Table B.I layout")
    ax.plot(f[:, 0], f[:, 1], "bs", ms=9, label="receive APs, after descent")
    ax.set_xlim(-5, 105)
    ax.set_ylim(-5, 105)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("Receive-AP placement")
    h = np.exp(np.asarray(results["objective_history"]))
    ax2.semilogy(h, "o-", ms=3, label="Adam on the log-mean root CRLB")
    ax2.set_xlabel("Adam step")
    ax2.set_ylabel("geometric mean of location bound (m)")
    ax2.set_title(f"test scenarios: {results['test_location_bound_m_start']:.3g} m -> "
                  f"{results['test_location_bound_m_final']:.3g} m")
    finish_figure(fig, [ax, ax2], path)


EXPERIMENT = Experiment(NAME, "B", DESCRIPTION, PRESETS, run, plot)
