"""Paper B learning benchmarks: (a) training samples/s of each learned scheme at a preset, side by
side for the 3D-convolution kernels (``auto``: on the CPU FFT for the CNN's stride-1 kernel-5 convs and
im2col for the rest; im2col matmul everywhere; XLA's native convolution) and for the
vmapped per-AP encoders vs a Python loop over APs; (b) data-parallel training (batch sharded over
all local devices, parameters replicated) against one device; (c) Table B.III latencies (encoder,
quantisation, decoder at batch 20).

Usage: python benchmarks/bench_dvqvae.py [--preset quick|paper] [--steps N] [--host-devices N]
(``--host-devices N`` splits the CPU into N XLA host devices, to measure (b) without a multi-GPU node.)
``--json PATH`` also writes the printed tables as a JSON record (``make bench``: ``docs/data/benchmarks/``).
"""

from __future__ import annotations

import argparse
import os
import sys

if "--host-devices" in sys.argv:      # must be set before JAX starts its CPU backend
    _n = sys.argv[sys.argv.index("--host-devices") + 1]
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={_n}".strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from isac_jax.core import machine, run_benchmark, time_call  # noqa: E402

from isac_jax.cellfree import get_config, sample_batch  # noqa: E402
from isac_jax.dvqvae import SensingModel, TrainConfig, get_net_config  # noqa: E402
from isac_jax.dvqvae.networks import ApEncoder  # noqa: E402
from isac_jax.dvqvae import data_parallel_shardings, init_state, make_train_step  # noqa: E402
from isac_jax.experiments.paper_b import table3  # noqa: E402


def train_samples_per_s(model, batch, steps: int, data_parallel: bool = False) -> float:
    tc = TrainConfig(batch_size=len(batch["Y"]), epochs=1)
    state = init_state(model, tc, jax.random.PRNGKey(0), batch, steps + 2)
    step = make_train_step(model, tc)
    labels = np.full((len(batch["Y"]), model.system.n_targets, 4), 0.5, np.float32)
    key = jax.random.PRNGKey(1)
    Y, X = batch["Y"], batch["X"]
    if data_parallel:            # as fit(data_parallel=True) places them
        replicated, split = data_parallel_shardings(len(Y))
        state = jax.device_put(state, replicated)
        Y, X, labels = (jax.device_put(np.asarray(a), split) for a in (Y, X, labels))

    def run(state):
        for _ in range(steps):
            state, loss, _ = step(state, Y, X, labels, key)
        return loss

    state, _, _ = step(state, Y, X, labels, key)      # compile
    best, _ = time_call(run, state, repeats=2, warmup=0)
    return steps * len(batch["Y"]) / best


def encoder_vmap_vs_loop(model, params, Y) -> tuple:
    enc = jax.jit(lambda p, y: model.encode(p, y))
    single = ApEncoder(model.net)
    one = jax.jit(lambda p, f: single.apply({"params": p}, f))
    per_ap = [jax.tree_util.tree_map(lambda a: a[m], params["encoder"]) for m in range(model.n_aps)]
    features = model.ap_inputs(Y)
    loop = lambda: [one(per_ap[m], features[:, m]) for m in range(model.n_aps)]   # noqa: E731
    t_vmap, _ = time_call(enc, params, Y, repeats=5)
    t_loop, _ = time_call(loop, repeats=5)
    return t_vmap, t_loop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="quick", choices=("quick", "paper"))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--host-devices", type=int, default=0, help="force N XLA host devices (CPU)")
    ap.add_argument("--parts", default="kernels,parallel,encoders,table3",
                    help="comma-separated subset of kernels, parallel, encoders, table3")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    system = get_config(args.preset)
    print(f"# bench_dvqvae, preset {args.preset}: {machine()}")
    batch = {k: np.asarray(v) for k, v in sample_batch(jax.random.PRNGKey(0), np.arange(args.batch), system).items()}
    if "kernels" in parts:
        print(f"\n## Training throughput (batch {args.batch}, {args.steps} jitted steps, best of 2)")
        print("| scheme | auto conv (samples/s) | im2col conv (samples/s) | native conv (samples/s) "
              "| auto / im2col | im2col / native |")
        print("|---|---|---|---|---|---|")
        for scheme in ("dvqvae", "dvae", "cnn"):
            rates = [train_samples_per_s(SensingModel(scheme, get_net_config(args.preset, conv_impl=impl), system),
                                         batch, args.steps) for impl in ("auto", "im2col", "native")]
            print(f"| {scheme} | {rates[0]:.1f} | {rates[1]:.1f} | {rates[2]:.1f} | {rates[0] / rates[1]:.2f}x "
                  f"| {rates[1] / rates[2]:.2f}x |")
    if "parallel" in parts:
        data_parallel_table(system, batch, args)
    if "encoders" in parts:
        encoders_table(system, batch, args)
    if "table3" in parts:
        table3_table(args)


def data_parallel_table(system, batch, args) -> None:
    n_dev = len(jax.local_devices())
    print(f"\n## Data-parallel training, batch {args.batch} split over {n_dev} local device(s) "
          f"({jax.local_devices()[0].platform}), AP input 'maps'")
    print("| scheme | one device (samples/s) | sharded (samples/s) | sharded / one |")
    print("|---|---|---|---|")
    for scheme in ("dvqvae", "cnn"):
        model = SensingModel(scheme, get_net_config(args.preset, ap_input="maps"), system)
        rates = [train_samples_per_s(model, batch, args.steps, data_parallel=dp) for dp in (False, True)]
        print(f"| {scheme} | {rates[0]:.1f} | {rates[1]:.1f} | {rates[1] / rates[0]:.2f}x |")


def encoders_table(system, batch, args) -> None:
    model = SensingModel("dvqvae", get_net_config(args.preset), system)
    Y = jnp.asarray(batch["Y"])
    params, _ = model.init(jax.random.PRNGKey(2), Y[:2], jnp.asarray(batch["X"][:2]))
    t_vmap, t_loop = encoder_vmap_vs_loop(model, params, Y)
    print(f"\n## Encoders of all {model.n_aps} APs, forward, batch {args.batch}")
    print(f"vmapped (stacked parameters): {1e3 * t_vmap:.2f} ms | Python loop over APs: {1e3 * t_loop:.2f} ms | "
          f"loop / vmap: {t_loop / t_vmap:.2f}x")


def table3_table(args) -> None:
    cfg = table3.PRESETS[args.preset]
    res = table3.run(cfg)
    print(f"\n## Table B.III latencies, batch {res['batch']}, ms (median of {cfg.repeats}), on {res['device']}")
    print("| setting | encoder | quantisation | decoder | paper (RTX 3070) enc / quant / dec "
          "| encoder / decoder parameters | encoder / decoder GFLOP per sample |")
    print("|---|---|---|---|---|---|---|")
    paper = list(table3.PAPER_REPORTED.values())
    gf = lambda v: "n/a" if v is None else f"{v:.3g}"     # noqa: E731
    for i, (name, row) in enumerate(res["settings"].items()):
        ref = " / ".join(f"{v:g}" for v in paper[i]) if args.preset == "paper" else "(other sizes)"
        print(f"| {name} | {row['encoder_ms']:.2f} | {row['quantisation_ms']:.2f} | {row['decoder_ms']:.2f} | {ref} "
              f"| {row['encoder_parameters'] / 1e6:.3f} M / {row['decoder_parameters'] / 1e6:.1f} M "
              f"| {gf(row['encoder_gflop_per_sample'])} / {gf(row['decoder_gflop_per_sample'])} |")


TITLE = "Paper B learning: training throughput, data parallelism and Table B.III latencies"

if __name__ == "__main__":
    run_benchmark(main, "bench_dvqvae", TITLE)
