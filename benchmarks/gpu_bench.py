"""Adam on one large float32 tensor (W1 scaled up) on the default JAX device, against that device's
measured copy bandwidth and torch's fused Adam on the same device.

    python benchmarks/gpu_bench.py                  # 1B params: 16 GB of arrays per variant
    python benchmarks/gpu_bench.py --params 4e6     # a quick run (works on the CPU too)

An Adam step reads the parameter, the gradient and both moments and writes three of them back:
28 bytes per float32 parameter. The step's achieved bandwidth is those bytes over its median time;
the ceiling is the best of a device-to-device copy timed through JAX and through torch (bytes read
plus bytes written). Variants run one after another, each freeing its arrays before the next.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys

# JAX takes 75% of a GPU's memory at its first use unless told otherwise; torch needs its share.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jopt  # noqa: E402
from step_bench import functional_runner, jopt_optim_runner, median_time  # noqa: E402

BYTES_PER_PARAM = 28  # Adam, float32: read param, grad, exp_avg, exp_avg_sq; write three of them
COLUMNS = 4096  # W1's row length


def synced(step, sync):
    return lambda: (step(), sync())


def jax_copy_seconds(n, steps):
    src = jnp.ones((n,), jnp.float32)
    copy = jax.jit(lambda x: x + 1)  # not `x + 0`: a copy XLA cannot elide
    return median_time(lambda: copy(src).block_until_ready(), steps)


def torch_copy_seconds(n, device, steps):
    src = torch.ones(n, device=device)
    dst = torch.empty_like(src)
    return median_time(synced(lambda: dst.copy_(src), lambda: torch_sync(device)), steps)


def copy_bandwidth(n, torch_device, steps):
    """Bytes per second of a device-to-device copy of ``n`` float32 values (read + write), by JAX
    and by torch (each frees its arrays before the other runs)."""
    return {"jax": 8 * n / jax_copy_seconds(n, steps), "torch": 8 * n / torch_copy_seconds(n, torch_device, steps)}


def torch_sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_tree(shape, seed):
    """A one-tensor parameter (or gradient) list, made on the device: 1B values from the host
    would take longer than the benchmark."""
    return [jax.random.normal(jax.random.key(seed), shape, jnp.float32)]


def torch_fused_runner(shape, device):
    param = torch.randn(shape, device=device, requires_grad=True)
    param.grad = torch.randn(shape, device=device)
    opt = torch.optim.Adam([param], lr=1e-3, fused=True)
    return synced(opt.step, lambda: torch_sync(device))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=float, default=1e9)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    shape = (max(1, round(args.params / COLUMNS)), COLUMNS)
    n = shape[0] * shape[1]
    torch_device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = jax.devices()[0]
    print(f"jax {jax.__version__} on {device.platform} ({device.device_kind}); torch {torch.__version__} on "
          f"{torch.cuda.get_device_name(torch_device) if torch_device.type == 'cuda' else 'cpu'}")
    bandwidth = copy_bandwidth(n, torch_device, args.steps)
    ceiling = max(bandwidth.values())
    print(f"copy bandwidth (read + write, {4 * n / 2**30:.2f} GiB copied): jax {bandwidth['jax'] / 1e9:.0f} GB/s, "
          f"torch {bandwidth['torch'] / 1e9:.0f} GB/s; ceiling {ceiling / 1e9:.0f} GB/s")
    print(f"Adam, one {list(shape)} float32 tensor ({n:.3g} params), {BYTES_PER_PARAM} B/param, "
          f"medians of {args.steps} steps\n")
    # The step_bench runners donate their arrays (and wait for each step): fresh ones for each.
    makers = {
        "jopt": lambda: functional_runner(jopt.adam(lr=1e-3), random_tree(shape, 0), random_tree(shape, 1)),
        "jopt.optim": lambda: jopt_optim_runner("adam", random_tree(shape, 0), random_tree(shape, 1)),
        "optax": lambda: functional_runner(optax.adam(1e-3), random_tree(shape, 0), random_tree(shape, 1)),
        "torch fused": lambda: torch_fused_runner(shape, torch_device),
    }
    seconds = {}
    for name, make in makers.items():
        run = make()
        seconds[name] = median_time(run, args.steps)
        del run
        gc.collect()
        if torch_device.type == "cuda":
            torch.cuda.empty_cache()
    print(f"{'variant':12} {'ms/step':>9} {'GB/s':>7} {'of ceiling':>10} {'vs torch fused':>14}")
    for name, s in seconds.items():
        achieved = BYTES_PER_PARAM * n / s
        print(f"{name:12} {s * 1e3:9.3f} {achieved / 1e9:7.0f} {achieved / ceiling:10.0%} "
              f"{s / seconds['torch fused']:14.2f}")


if __name__ == "__main__":
    main()
