"""Paper B learning benchmarks: (a) training samples/s of each learned scheme at a preset, side by
side for the two 3D-convolution kernels (im2col matmul vs XLA's native convolution) and for the
vmapped per-AP encoders vs a Python loop over APs; (b) Table B.III latencies (encoder, quantisation,
decoder at batch 20).

Usage: python benchmarks/bench_dvqvae.py [--preset quick|paper] [--steps N]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from isac_jax.core.timing import machine, time_call  # noqa: E402

from isac_jax.cellfree import get_config, sample_batch  # noqa: E402
from isac_jax.dvqvae import SensingModel, TrainConfig, get_net_config  # noqa: E402
from isac_jax.dvqvae.networks import ApEncoder  # noqa: E402
from isac_jax.dvqvae.training import init_state, make_train_step  # noqa: E402
from isac_jax.experiments.paper_b import table3  # noqa: E402


def train_samples_per_s(model, batch, steps: int) -> float:
    tc = TrainConfig(batch_size=len(batch["Y"]), epochs=1)
    state = init_state(model, tc, jax.random.PRNGKey(0), batch, steps + 2)
    step = make_train_step(model, tc)
    labels = np.full((len(batch["Y"]), model.system.n_targets, 4), 0.5, np.float32)
    key = jax.random.PRNGKey(1)

    def run(state):
        for _ in range(steps):
            state, loss, _ = step(state, batch["Y"], batch["X"], labels, key)
        return loss

    state, _, _ = step(state, batch["Y"], batch["X"], labels, key)      # compile
    best, _ = time_call(run, state, repeats=2, warmup=0)
    return steps * len(batch["Y"]) / best


def encoder_vmap_vs_loop(model, params, Y) -> tuple:
    enc = jax.jit(lambda p, y: model.encode(p, y))
    single = ApEncoder(model.net)
    one = jax.jit(lambda p, y: single.apply({"params": p}, y))
    per_ap = [jax.tree_util.tree_map(lambda a: a[m], params["encoder"]) for m in range(model.n_aps)]
    loop = lambda: [one(per_ap[m], Y[:, m]) for m in range(model.n_aps)]   # noqa: E731
    t_vmap, _ = time_call(enc, params, Y, repeats=5)
    t_loop, _ = time_call(loop, repeats=5)
    return t_vmap, t_loop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="quick", choices=("quick", "paper"))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    system = get_config(args.preset)
    print(f"# bench_dvqvae, preset {args.preset}: {machine()}")
    batch = {k: np.asarray(v) for k, v in sample_batch(jax.random.PRNGKey(0), np.arange(args.batch), system).items()}
    print(f"\n## Training throughput (batch {args.batch}, {args.steps} jitted steps, best of 2)")
    print("| scheme | im2col conv (samples/s) | native conv (samples/s) | im2col / native |")
    print("|---|---|---|---|")
    for scheme in ("dvqvae", "dvae", "cnn"):
        rates = [train_samples_per_s(SensingModel(scheme, get_net_config(args.preset, conv_impl=impl), system),
                                     batch, args.steps) for impl in ("im2col", "native")]
        print(f"| {scheme} | {rates[0]:.1f} | {rates[1]:.1f} | {rates[0] / rates[1]:.2f}x |")

    model = SensingModel("dvqvae", get_net_config(args.preset), system)
    Y = jnp.asarray(batch["Y"])
    params, _ = model.init(jax.random.PRNGKey(2), Y[:2], jnp.asarray(batch["X"][:2]))
    t_vmap, t_loop = encoder_vmap_vs_loop(model, params, Y)
    print(f"\n## Encoders of all {model.n_aps} APs, forward, batch {args.batch}")
    print(f"vmapped (stacked parameters): {1e3 * t_vmap:.2f} ms | Python loop over APs: {1e3 * t_loop:.2f} ms | "
          f"loop / vmap: {t_loop / t_vmap:.2f}x")

    cfg = table3.PRESETS[args.preset]
    res = table3.run(cfg)
    print(f"\n## Table B.III latencies, batch {res['batch']}, ms (median of {cfg.repeats}), on {res['device']}")
    print("| setting | encoder | quantisation | decoder | paper (RTX 3070) enc / quant / dec |")
    print("|---|---|---|---|---|")
    paper = list(table3.PAPER_REPORTED.values())
    for i, (name, row) in enumerate(res["settings"].items()):
        ref = " / ".join(f"{v:g}" for v in paper[i]) if args.preset == "paper" else "(other sizes)"
        print(f"| {name} | {row['encoder_ms']:.2f} | {row['quantisation_ms']:.2f} | {row['decoder_ms']:.2f} | {ref} |")


if __name__ == "__main__":
    main()
