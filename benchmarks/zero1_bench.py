"""ZeRO-1 on 8 simulated CPU devices: per-device optimizer-state memory and step time.

    python benchmarks/zero1_bench.py [--steps 50]

Params are replicated (data parallel); "plain" keeps the full Adam state on every device,
"zero1" (``jopt.zero1(jopt.adam(...), mesh, "data")``) splits it 8 ways. Memory is the sum of
``addressable_shards`` bytes of the state on each device (the max over devices is printed).
Simulated CPU devices share one host, so the step times show the overhead of the extra
collectives, not a real network's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax

jax.config.update("jax_num_cpu_devices", 8)

import numpy as np  # noqa: E402
from jax.sharding import AxisType, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import jopt  # noqa: E402
from jopt.sharding import bytes_per_device  # noqa: E402

SHAPES = {"embed": (4096, 256), "w1": (256, 1024), "w2": (1024, 256), "b1": (1024,), "b2": (256,), "odd": (7, 5)}


def bench(tx, params, grads, steps):
    state = tx.init(params)

    @jax.jit
    def step(grads, state, params):
        updates, state = tx.update(grads, state, params)
        return jopt.apply_updates(params, updates), state

    memory = max(bytes_per_device(state).values())
    params, state = step(grads, state, params)  # compile
    jax.block_until_ready(params)
    start = time.perf_counter()
    for _ in range(steps):
        params, state = step(grads, state, params)
        # One step in flight at a time: the simulated devices' in-process collectives can
        # deadlock when several executions compete for the host's few threads.
        jax.block_until_ready(params)
    return memory, (time.perf_counter() - start) / steps, params


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
    replicated = NamedSharding(mesh, P())
    rng = np.random.default_rng(0)
    params = {k: jax.device_put(rng.standard_normal(s).astype(np.float32), replicated) for k, s in SHAPES.items()}
    grads = {k: jax.device_put(rng.standard_normal(s).astype(np.float32) * 1e-2, replicated) for k, s in SHAPES.items()}
    n_params = sum(int(np.prod(s)) for s in SHAPES.values())
    print(f"Adam, {n_params / 1e6:.2f}M float32 params replicated on {len(jax.devices())} simulated CPU devices")
    rows = []
    results = {}
    for name, tx in [("plain", jopt.adam(lr=1e-3)), ("zero1", jopt.zero1(jopt.adam(lr=1e-3), mesh, "data"))]:
        memory, seconds, final = bench(tx, params, grads, args.steps)
        rows.append((name, memory, seconds))
        results[name] = final
    for k in SHAPES:  # the same numbers either way
        np.testing.assert_array_equal(np.asarray(results["plain"][k]), np.asarray(results["zero1"][k]))
    base_memory, base_time = rows[0][1], rows[0][2]
    print(f"{'run':<8}{'state MiB/device':>18}{'vs plain':>10}{'ms/step':>10}{'vs plain':>10}")
    for name, memory, seconds in rows:
        print(
            f"{name:<8}{memory / 2**20:>18.2f}{memory / base_memory:>10.3f}"
            f"{seconds * 1e3:>10.2f}{seconds / base_time:>10.2f}"
        )


if __name__ == "__main__":
    main()
