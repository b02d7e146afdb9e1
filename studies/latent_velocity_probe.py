"""Paper B learning: does a trained D-VQVAE's fronthaul still hold the velocity?

An MLP on the receive APs' ``area_maps`` input *at the true positions* (``velocity_readout.py``) is a
reference for what the input holds; the default D-VQVAE of ``b-train`` reads the velocity worse
where it finds both targets. This probe asks which half of the model loses the difference: it takes a
D-VQVAE trained by ``learning_limits.py`` (same ``STEPS:N_TRAIN`` and ``--net`` changes; its checkpoint
in ``--ll-out``, trained there first when missing), computes the **quantised latents** its receive
APs send (the codewords of the indices, :meth:`~isac_jax.dvqvae.SensingModel.ap_indices`) on b-train's
training and test samples, and at every target's true position reads the 3 x 3 latent cells around the
target's cell (all Doppler latents, both APs) out as that target's features. On them it trains the
read-outs of ``velocity_readout.py`` (the MLP and the bistatic least-squares fit, given the
position), and beside them the same read-outs on the AP input's Doppler profiles of the same
targets. Latents as good as the input: the decoder's read-out is what loses the velocity; latents
worse: the encoder (as trained end to end) dropped it before the fronthaul.

``--continuous`` adds the encoder's outputs before quantisation (what the 5-bit indices cost);
``--no-input`` skips the AP input's rows.

Usage: python studies/latent_velocity_probe.py [--ll-out DIR] [--spec 2000:64000] [--net KEY=VALUE ...]
       [--n-train 16000] [--steps 500 2000 9000] [--continuous] [--no-input] [--tiny] [--json PATH]
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax import dvqvae

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import base_setup, finish, override, parser  # noqa: E402
from learning_limits import _name  # noqa: E402
from velocity_readout import COLUMNS, collect, errors, learned, table_rows  # noqa: E402


def latent_reader(model: dvqvae.SensingModel, state, *, continuous: bool = False):
    """``(Y, X, targets[B, Q, 2]) -> [B, Q, M, 3, 3, G_d, D]``: the quantised latents (``continuous``:
    the encoder's outputs before quantisation) of the 3 x 3 latent cells around each target's cell
    (zeros outside the grid)."""
    gx, gy, gd = model.grid
    ax, ay = model.system.area_m

    @jax.jit
    def read(Y, X, targets):
        z = (model.encode(state.params, Y, X) if continuous
             else dvqvae.lookup(model.ap_indices(state.params, state.book, Y, X), state.book.codewords))   # [B, M, L, D]
        B, M, _, D = z.shape
        z = jnp.pad(z.reshape(B, M, gx, gy, gd, D), ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0), (0, 0)))
        ix = jnp.clip(jnp.floor(targets[..., 0] / ax * gx), 0, gx - 1).astype(jnp.int32)   # [B, Q]
        iy = jnp.clip(jnp.floor(targets[..., 1] / ay * gy), 0, gy - 1).astype(jnp.int32)

        def around(zb, i, j):                                                  # [M, gx+2, gy+2, gd, D]
            zero = jnp.zeros((), i.dtype)
            return jax.lax.dynamic_slice(zb, (zero, i, j, zero, zero), (M, 3, 3, gd, D))
        return jax.vmap(lambda zb, i, j: jax.vmap(lambda a, b: around(zb, a, b))(i, j))(z, ix, iy)
    return read


TITLE = "Paper B: does a trained D-VQVAE's fronthaul still hold the velocity"
QUESTION = ("Which half of the trained D-VQVAE loses velocity information: the encoder before the fronthaul, or the "
            "decoder's read-out?")
METHOD = ("At every target's true position, read the trained model's quantised latents (and optionally the encoder's "
          "outputs before quantisation) in the 3 x 3 latent cells around the target out as its features, train the "
          "velocity read-outs of velocity_readout.py (an MLP and the bistatic least-squares fit) on them, and "
          "compare with the same read-outs on the AP input's Doppler profiles of the same targets.")


def main(argv=None) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--ll-out", default="learning_limits_work", help="learning_limits.py's --out")
    ap.add_argument("--spec", default=None, help="the learning_limits STEPS:N_TRAIN of the model (default: "
                                                 "b-train's budget)")
    ap.add_argument("--net", type=override, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--n-train", type=int, default=16000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--steps", type=int, nargs="+", default=[500, 2000, 9000])
    ap.add_argument("--continuous", action="store_true", help="also the encoder's outputs before quantisation")
    ap.add_argument("--no-input", action="store_true", help="skip the AP input's read-outs")
    args = ap.parse_args(argv)
    base = base_setup(args.tiny, net=tuple(args.net))
    spec = args.spec or f"{base.steps}:{base.n_train}"
    steps, n_train = (int(v) for v in spec.split(":")[:2])
    setup = dataclasses.replace(base, steps=steps, n_train=n_train, epochs=-(-steps * base.batch_size // n_train))
    system = setup.system()
    train, test = setup.splits(0)
    n_fit, n_test, read_steps = (len(train), len(test), [5]) if args.tiny else (args.n_train, args.n_test, args.steps)
    if n_fit > len(train):
        raise SystemExit(f"--n-train must be at most {len(train)} (the model's training samples), got {n_fit}")
    # learning_limits.py's checkpoint of this model (the same name), trained here when missing
    ckpt = Path(args.ll_out) / f"{_name(spec, tuple(args.net) + ((('tiny', 1),) if args.tiny else ()))}.ckpt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    model = dvqvae.SensingModel("dvqvae", setup.net(), system)
    res = dvqvae.fit(model, setup.train_config(), train, seed=0, checkpoint=ckpt, progress=False)
    t0 = time.perf_counter()
    read = latent_reader(model, res.state)
    inputs = {} if args.no_input else {"AP input (Doppler profiles of every pair)": (
        collect(train, system, n_fit), collect(test, system, n_test))}
    inputs["quantised latents (3 x 3 cells, every Doppler latent, both APs)"] = (
        collect(train, system, n_fit, read), collect(test, system, n_test, read))
    if args.continuous:
        read = latent_reader(model, res.state, continuous=True)
        inputs["encoder outputs before quantisation (the same cells)"] = (
            collect(train, system, n_fit, read), collect(test, system, n_test, read))
    rows = {}
    for name, (tr, te) in inputs.items():
        rows[f"{name}: trivial"] = errors(np.broadcast_to(tr["velocities"].mean(0), te["velocities"].shape),
                                          te["velocities"])
        for s in read_steps:
            for bistatic in (False, True):
                kind = "bistatic LS" if bistatic else "MLP"
                rows[f"{name}: {kind}, {s} steps"] = errors(learned(tr, te, system, s, bistatic=bistatic),
                                                            te["velocities"])
    table = {"caption": f"Velocity read-outs at the true positions from the D-VQVAE of {ckpt.name} "
                        f"({n_fit * system.n_targets} training targets, {n_test * system.n_targets} test targets; "
                        f"batches of 256 targets), {time.perf_counter() - t0:.0f} s",
             "columns": ["features : read-out"] + COLUMNS[1:], "rows": table_rows(rows)}
    best = {}
    for row in table["rows"]:
        source = row[0].split(":")[0]
        if not row[0].endswith("trivial"):
            best[source] = min(best.get(source, np.inf), row[1])
    answer = "Best velocity RMSE per feature set: " + "; ".join(f"{k}: {v:.2f} m/s" for k, v in best.items()) + "."
    return finish(__file__, sys.argv[1:] if argv is None else argv, args, title=TITLE, question=QUESTION,
                  method=METHOD, answer=answer, tables=[table])


if __name__ == "__main__":
    main()
