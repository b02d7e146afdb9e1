"""FEEL benchmarks: one FL round with K = 15 vmapped clients vs a Python loop over clients, and
CollabSenseFed rounds/s at the quick preset (a-fig2's MNIST MLP, I = 2, T = 32).

    python benchmarks/bench_feel.py [--preset quick|paper]
``--json PATH`` also writes the printed tables as a JSON record (``make bench``: ``docs/data/benchmarks/``).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from isac_jax import collabsensefed
from isac_jax.core import avoid_cpu_scheduler_deadlock, machine, run_benchmark, time_call
from isac_jax.experiments.paper_a import fig2
from isac_jax.experiments.paper_a.feel import prepare
from isac_jax.fl import fedavg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="quick", choices=("quick", "paper"))
    args = ap.parse_args()
    cfg = fig2.PRESETS[args.preset]
    print(f"# bench_feel ({args.preset}) on {machine()}")
    fed, data, ds = prepare(cfg.task, cfg.system.n_devices, 0)       # float32 throughout
    K = data.indices.shape[0]
    theta = fed.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)

    vmapped = jax.jit(lambda th, k: th + fedavg(fed.client_updates(th, k, data), data.weights))
    one = jax.jit(lambda th, k, idx, n: fed.local_update(th, k, idx, n, data))

    def looped(th, k):
        keys = jax.random.split(k, K)
        deltas = jnp.stack([one(th, keys[c], data.indices[c], data.counts[c]) for c in range(K)])
        return th + fedavg(deltas, data.weights)

    t_vmap = time_call(lambda: vmapped(theta, key), repeats=5)[0]
    t_loop = time_call(lambda: looped(theta, key), repeats=5)[0]
    print(f"\n## One FL round, K = {K} clients, {cfg.task.local_steps} local SGD steps, batch {cfg.task.batch_size}, "
          f"MLP d = {fed.n_params} ({ds.name})")
    print("| variant | time per round (ms) | speed-up |\n|---|---|---|")
    print(f"| Python loop over clients (each client jitted) | {1e3 * t_loop:.1f} | 1.0x |")
    print(f"| vmapped clients (one jitted call) | {1e3 * t_vmap:.1f} | {t_loop / t_vmap:.1f}x |")

    print(f"\n## CollabSenseFed (I = 2, OTA, T = {cfg.system.frame_length}, d = {fed.n_params} intervals per round, "
          "1 trial)")
    print("| scheme | first call, 1 round (s, with compilation) | warm 1-round run (s) | warm 5-round run (s) "
          "| rounds/s (4 / difference) |\n|---|---|---|---|---|")
    for scheme in ("collabsensefed", "ota_feel", "perfect_feel"):
        walls = []
        for n in (1, 1, 5):            # compiled functions are cached across calls: the first call compiles
            t0 = time.perf_counter()
            collabsensefed.simulate(scheme, cfg.system, n, jax.random.PRNGKey(0), protocol=cfg.protocol, federated=fed,
                                    data=data)
            walls.append(time.perf_counter() - t0)
        print(f"| {scheme} | {walls[0]:.1f} | {walls[1]:.1f} | {walls[2]:.1f} | "
              f"{4 / max(walls[2] - walls[1], 1e-9):.2f} |")

TITLE = "FEEL: vmapped clients vs a loop, CollabSenseFed rounds/s"

if __name__ == "__main__":
    # CollabSenseFed on CPU: turn off the XLA scheduler that deadlocked on it, before JAX starts its
    # backend (the imports above start none), as `isac-jax` does.
    avoid_cpu_scheduler_deadlock()
    run_benchmark(main, "bench_feel", TITLE)
