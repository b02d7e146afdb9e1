"""Timing helpers shared by the benchmarks and the runtime experiments (b-table3): warm-up,
``block_until_ready``, min / median of repeats."""

from __future__ import annotations

import platform
import statistics
import time

import jax


def time_call(fn, *args, repeats: int = 5, warmup: int = 1):
    """Return (min_s, median_s) of ``fn(*args)`` after ``warmup`` calls (compilation excluded)."""
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def machine() -> str:
    dev = jax.devices()[0]
    return f"{platform.node()} | {platform.processor() or platform.machine()} | jax {jax.__version__} on {dev.platform}:{dev.device_kind}"
