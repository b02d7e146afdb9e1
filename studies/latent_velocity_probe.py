"""Paper B learning: does a trained D-VQVAE's fronthaul still hold the velocity?

The default D-VQVAE of ``b-train`` reads about 10 m/s where it finds both targets, while an MLP on
the receive APs' ``area_maps`` input *at the true positions* reads 8.9 m/s from b-train's number of
target visits (``velocity_readout.py``). This probe asks which half of the model loses the
difference: it takes a D-VQVAE trained by ``learning_limits.py`` (same ``STEPS:N_TRAIN`` and
``--net`` changes; its checkpoint in ``--ll-out``), computes the **quantised latents** its receive
APs send (the codewords of the indices, :meth:`SensingModel.ap_indices`) on b-train's training and
test samples, and at every target's true position reads the 3 x 3 latent cells around the
target's cell (all Doppler latents, both APs) out as that target's features. On them it trains the
read-outs of ``velocity_readout.py`` (the MLP and the bistatic least-squares fit, given the
position), and beside them the same read-outs on the AP input's Doppler profiles of the same
targets. Latents as good as the input: the decoder's read-out is what loses the velocity; latents
worse: the encoder (as trained end to end) dropped it before the fronthaul.

``--continuous`` adds the encoder's outputs before quantisation (what the 5-bit indices cost);
``--no-input`` skips the AP input's rows.

Usage: python benchmarks/latent_velocity_probe.py [--ll-out DIR] [--spec 2000:64000] [--net KEY=VALUE ...]
       [--n-train 16000] [--steps 500 2000 9000] [--continuous] [--no-input]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax.core.timing import machine
from isac_jax.dvqvae import SensingModel, fit
from isac_jax.dvqvae.quantiser import lookup
from isac_jax.experiments.paper_b import train as b_train

sys.path.insert(0, str(Path(__file__).parent))
from learning_limits import _name, _override  # noqa: E402
from velocity_readout import collect, errors, learned, print_rows  # noqa: E402

def latent_reader(model: SensingModel, state, *, continuous: bool = False):
    """``(Y, X, targets[B, Q, 2]) -> [B, Q, M, 3, 3, G_d, D]``: the quantised latents (``continuous``:
    the encoder's outputs before quantisation) of the 3 x 3 latent cells around each target's cell
    (zeros outside the grid)."""
    gx, gy, gd = model.grid
    ax, ay = model.system.area_m

    @jax.jit
    def read(Y, X, targets):
        z = (model.encode(state.params, Y, X) if continuous
             else lookup(model.ap_indices(state.params, state.book, Y, X), state.book.codewords))   # [B, M, L, D]
        B, M, _, D = z.shape
        z = jnp.pad(z.reshape(B, M, gx, gy, gd, D), ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0), (0, 0)))
        ix = jnp.clip(jnp.floor(targets[..., 0] / ax * gx), 0, gx - 1).astype(jnp.int32)   # [B, Q]
        iy = jnp.clip(jnp.floor(targets[..., 1] / ay * gy), 0, gy - 1).astype(jnp.int32)

        def around(zb, i, j):                                                  # [M, gx+2, gy+2, gd, D]
            return jax.lax.dynamic_slice(zb, (0, i, j, 0, 0), (M, 3, 3, gd, D))
        return jax.vmap(lambda zb, i, j: jax.vmap(lambda a, b: around(zb, a, b))(i, j))(z, ix, iy)
    return read


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ll-out", default="learning_limits_work", help="learning_limits.py's --out")
    ap.add_argument("--spec", default="2000:64000", help="the learning_limits STEPS:N_TRAIN of the model")
    ap.add_argument("--net", type=_override, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--n-train", type=int, default=16000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--steps", type=int, nargs="+", default=[500, 2000, 9000])
    ap.add_argument("--continuous", action="store_true", help="also the encoder's outputs before quantisation")
    ap.add_argument("--no-input", action="store_true", help="skip the AP input's read-outs")
    args = ap.parse_args()
    steps, n_train = (int(v) for v in args.spec.split(":")[:2])
    base = b_train.PRESETS["quick"].setup
    setup = dataclasses.replace(base, steps=steps, n_train=n_train, epochs=-(-steps * 32 // n_train),
                                net_overrides=base.net_overrides + tuple(args.net))
    system = setup.system()
    train, test = setup.splits(0)
    if args.n_train > len(train):
        raise SystemExit(f"--n-train must be at most {len(train)} (the model's training samples), got {args.n_train}")
    ckpt = Path(args.ll_out) / f"{_name(args.spec, tuple(args.net))}.ckpt"
    if not ckpt.exists():
        raise SystemExit(f"no checkpoint {ckpt}: run learning_limits.py --out {args.ll_out} "
                         f"{' '.join('--net ' + k + '=' + repr(v) for k, v in args.net)} {args.spec} first")
    model = SensingModel("dvqvae", setup.net(), system)
    res = fit(model, setup.train_config(), train, seed=0, checkpoint=ckpt, progress=False)
    if not res.completed and res.train_time_s > 0:
        raise SystemExit(f"{ckpt} was not a finished run")
    t0 = time.perf_counter()
    read = latent_reader(model, res.state)
    inputs = {} if args.no_input else {"AP input (Doppler profiles of every pair)": (
        collect(train, system, args.n_train), collect(test, system, args.n_test))}
    inputs["quantised latents (3 x 3 cells, every Doppler latent, both APs)"] = (
        collect(train, system, args.n_train, read), collect(test, system, args.n_test, read))
    if args.continuous:
        read = latent_reader(model, res.state, continuous=True)
        inputs["encoder outputs before quantisation (the same cells)"] = (
            collect(train, system, args.n_train, read), collect(test, system, args.n_test, read))
    rows = {}
    for name, (tr, te) in inputs.items():
        rows[f"{name}: trivial"] = errors(np.broadcast_to(tr["velocities"].mean(0), te["velocities"].shape),
                                          te["velocities"])
        for s in args.steps:
            for bistatic in (False, True):
                kind = "bistatic LS" if bistatic else "MLP"
                rows[f"{name}: {kind}, {s} steps"] = errors(learned(tr, te, system, s, bistatic=bistatic),
                                                            te["velocities"])
    n_targets = args.n_train * system.n_targets
    print(f"# velocity read-outs at the true positions from the D-VQVAE of {ckpt} ({n_targets} training targets, "
          f"{args.n_test * system.n_targets} test targets; batches of 256 targets): "
          f"{time.perf_counter() - t0:.0f} s; {machine()}")
    print_rows("features : read-out", rows)


if __name__ == "__main__":
    main()
