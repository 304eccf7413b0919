"""One optimizer step, timed: jopt (functional and jopt.optim) against optax and torch, in one run.

    python benchmarks/step_bench.py                  # everything (about 6 minutes on 2 cores)
    python benchmarks/step_bench.py --workloads W4 --optimizers adam --steps 50

For each workload and optimizer it prints the median step time of every variant, the memory
floor (bytes an ideal step moves / measured memory bandwidth), and ratios against torch fused,
against optax and against optax with its hyperparameters in the state
(``optax.inject_hyperparams``, what jopt's state holds). Then the least time a W4 step can take
through XLA:CPU, peak memory of a W1 Adam step per JAX variant (each in a child process), the
first-step compile time of jopt and optax per workload and of jopt.optim on W4, and the number
of compiles over 1000 scheduled steps.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

import jopt
import jopt.optim


def resnet18_shapes():
    shapes = [(64, 3, 7, 7), (64,), (64,)]
    in_ch = 64
    for out_ch, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            shapes += [(out_ch, in_ch if block == 0 else out_ch, 3, 3), (out_ch,), (out_ch,)]
            shapes += [(out_ch, out_ch, 3, 3), (out_ch,), (out_ch,)]
            if block == 0 and (stride != 1 or in_ch != out_ch):
                shapes += [(out_ch, in_ch, 1, 1), (out_ch,), (out_ch,)]
        in_ch = out_ch
    return shapes + [(1000, 512), (1000,)]


WORKLOADS = {
    "W1": [(4096, 4096)],
    "W2": resnet18_shapes(),
    "W3": [(256, 256), (256,), (256, 1024), (1024,), (1024, 256), (256,), (256,), (256,)] * 24,
    "W4": [(64, 32), (32,), (32, 32), (32,), (32, 32), (32,), (32, 16), (16,), (16, 16), (16,), (16, 10), (10,)],
}

class Case(NamedTuple):
    """One optimizer, configured alike in every framework."""

    jopt: Callable  # () -> the jopt transformation
    jopt_class: type  # its jopt.optim class, built with torch_kwargs
    torch_class: type
    torch_kwargs: dict
    optax: Callable  # () -> optax's equivalent, constants compiled into the program
    optax_inject: Callable  # () -> the same with every number in the state, as jopt holds them
    bytes_per_param: int  # an ideal step's memory traffic per float32 parameter
    torch_fused: bool  # torch has fused=True for it


inject = optax.inject_hyperparams
OPTIMIZERS = {
    "adam": Case(
        lambda: jopt.adam(lr=1e-3), jopt.optim.Adam, torch.optim.Adam, dict(lr=1e-3),
        lambda: optax.adam(1e-3),
        lambda: inject(optax.adam)(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8),
        28, True,
    ),
    "adamw": Case(
        lambda: jopt.adamw(lr=1e-3), jopt.optim.AdamW, torch.optim.AdamW, dict(lr=1e-3),
        lambda: optax.adamw(1e-3, weight_decay=1e-2),
        lambda: inject(optax.adamw)(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-2),
        28, True,
    ),
    "sgd": Case(  # torch's default (no momentum, no state): the layer's stateless step
        lambda: jopt.sgd(lr=1e-2), jopt.optim.SGD, torch.optim.SGD, dict(lr=1e-2),
        lambda: optax.sgd(1e-2),
        lambda: inject(optax.sgd)(learning_rate=1e-2),
        12, True,
    ),
    "sgd_momentum": Case(
        lambda: jopt.sgd(lr=1e-2, momentum=0.9), jopt.optim.SGD, torch.optim.SGD, dict(lr=1e-2, momentum=0.9),
        lambda: optax.sgd(1e-2, momentum=0.9),
        lambda: inject(optax.sgd)(learning_rate=1e-2, momentum=0.9),
        20, True,
    ),
    "rmsprop": Case(
        lambda: jopt.rmsprop(lr=1e-2), jopt.optim.RMSprop, torch.optim.RMSprop, dict(lr=1e-2),
        lambda: optax.rmsprop(1e-2, decay=0.99, eps=1e-8),
        lambda: inject(optax.rmsprop)(learning_rate=1e-2, decay=0.99, eps=1e-8),
        20, False,
    ),
}


# A workload this small (W4) steps in microseconds, under the machine's noise: time more steps.
SMALL_WORKLOAD_PARAMS, SMALL_STEPS_FACTOR = 10**6, 25


def median_time(step, steps, warmup=3):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_rounds(runners, steps, rounds=8):
    """Each runner's step times, per round: ``{name: [[seconds, ...] per round]}``, from ``steps``
    steps per runner timed in ``rounds`` rounds that alternate between runners, so that a slow
    spell of a shared machine falls on every variant alike rather than on one of them.

    Each round starts from a different variant, and each variant's block starts after a pause
    and an untimed step: the worker threads of the variant before (torch's OpenMP pool, XLA's)
    spin for a while after their last step and would slow whichever variant comes next.
    """
    times = {name: [] for name in runners}
    for run in runners.values():
        run()  # compile / first-step work, and warm-up
        run()
    names = list(runners)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            run = runners[name]
            time.sleep(0.05)
            run()
            block = []
            for _ in range(max(1, steps // rounds)):
                start = time.perf_counter()
                run()
                block.append(time.perf_counter() - start)
            times[name].append(block)
    return times


def median_step(rounds):
    return statistics.median(t for block in rounds for t in block)


def paired_ratio(rounds, other):
    """The median over rounds of one variant's median step over the other's in the same round:
    paired by round, the ratio cancels a slow or fast spell of the machine that a ratio of the
    two overall medians would keep."""
    return statistics.median(statistics.median(a) / statistics.median(b) for a, b in zip(rounds, other))


def make_tree(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s, dtype=np.float32) for s in shapes]


def functional_step(tx):
    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1))


def functional_runner(tx, params_np, grads_np):
    params = [jnp.asarray(p) for p in params_np]
    grads = [jnp.asarray(g) for g in grads_np]
    state = jax.jit(tx.init)(params)
    step = functional_step(tx)
    box = [params, state]

    def run():
        box[0], box[1] = step(box[0], box[1], grads)
        jax.block_until_ready(box[0])

    return run


def jopt_optim_runner(name, params_np, grads_np):
    case = OPTIMIZERS[name]
    params = [jopt.optim.Parameter(p) for p in params_np]
    for p, g in zip(params, grads_np):
        p.grad = jnp.asarray(g)
    opt = case.jopt_class(params, **case.torch_kwargs)

    def run():
        opt.step()
        jax.block_until_ready(params[0].data)

    return run


def torch_runner(name, params_np, grads_np, **engine):
    case = OPTIMIZERS[name]
    params = [torch.tensor(p, requires_grad=True) for p in params_np]
    for p, g in zip(params, grads_np):
        p.grad = torch.tensor(g)
    opt = case.torch_class(params, **case.torch_kwargs, **engine)
    return opt.step


def memory_bandwidth():
    """Bytes per second the machine moves through memory, its practical ceiling: the best of a
    128 MiB copy (read + write; numpy one thread, torch and XLA all threads) and an in-place add
    ``a += b`` (read a and b, write a; torch). The in-place form is an optimizer step's pattern:
    a buffer read then written back costs no extra read-for-ownership, which a copy's fresh
    destination does, so on CPUs it can run faster than the copy."""
    src = np.ones(128 * 2**20 // 4, np.float32)
    dst = np.empty_like(src)
    t_src, t_dst = torch.from_numpy(src), torch.from_numpy(dst)
    j_src = jnp.asarray(src)
    j_copy = jax.jit(lambda x: x + 0)
    copy_seconds = min(
        median_time(lambda: np.copyto(dst, src), 10),
        median_time(lambda: t_dst.copy_(t_src), 10),
        median_time(lambda: j_copy(j_src).block_until_ready(), 10),
    )
    add_seconds = median_time(lambda: t_dst.add_(t_src), 10)
    return max(2 * src.nbytes / copy_seconds, 3 * src.nbytes / add_seconds)


def fmt(seconds):
    return f"{seconds * 1e3:8.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:8.1f} us"


def bench(workloads, optimizers, steps):
    bandwidth = memory_bandwidth()
    print(f"memory bandwidth {bandwidth / 1e9:.1f} GB/s (best of copy and in-place add); {os.cpu_count()} CPUs; "
          f"jax {jax.__version__}, optax {optax.__version__}, torch {torch.__version__}; "
          f"medians of {steps} steps per variant ({SMALL_STEPS_FACTOR * steps} under {SMALL_WORKLOAD_PARAMS:.0e} params) "
          f"timed in 8 interleaved rounds; ratios are medians of the 8 per-round ratios\n")
    print(HEADER)
    for wname in workloads:
        shapes = WORKLOADS[wname]
        params_np, grads_np = make_tree(shapes, 0), make_tree(shapes, 1)
        n = sum(int(np.prod(s)) for s in shapes)
        for oname in optimizers:
            case = OPTIMIZERS[oname]
            runners = {
                "jopt": functional_runner(case.jopt(), params_np, grads_np),
                "jopt.optim": jopt_optim_runner(oname, params_np, grads_np),
                "optax": functional_runner(case.optax(), params_np, grads_np),
                "optax inject": functional_runner(case.optax_inject(), params_np, grads_np),
                "torch": torch_runner(oname, params_np, grads_np, foreach=False),
                "torch foreach": torch_runner(oname, params_np, grads_np, foreach=True),
            }
            if case.torch_fused:
                runners["torch fused"] = torch_runner(oname, params_np, grads_np, fused=True)
            rounds = interleaved_rounds(runners, steps * (SMALL_STEPS_FACTOR if n < SMALL_WORKLOAD_PARAMS else 1))
            del runners
            print_row(wname, n, oname, rounds, n * case.bytes_per_param / bandwidth)


HEADER = (f"{'work':4} {'params':>9} {'optimizer':12} {'jopt':>11} {'jopt.optim':>11} {'optax':>11} {'inject':>11} "
          f"{'torch':>11} {'foreach':>11} {'fused':>11} {'floor':>11} | {'jopt/fused':>10} {'jopt/optax':>10} "
          f"{'jopt/inj':>8} {'optim/jopt':>10}")


def print_row(wname, n, oname, rounds, floor):
    def ratio(a, b):
        return f"{paired_ratio(rounds[a], rounds[b]):.2f}" if b in rounds else "-"

    cells = [fmt(median_step(rounds[k])) if k in rounds else f"{'-':>11}"
             for k in ("jopt", "jopt.optim", "optax", "optax inject", "torch", "torch foreach", "torch fused")]
    print(f"{wname:4} {n:9d} {oname:12} " + " ".join(cells) + f" {fmt(floor)} | "
          f"{ratio('jopt', 'torch fused'):>10} {ratio('jopt', 'optax'):>10} {ratio('jopt', 'optax inject'):>8} "
          f"{ratio('jopt.optim', 'jopt'):>10}", flush=True)


def dispatch_floor(wname="W4", steps=1000):
    """The least a step of this workload can take through XLA:CPU while each tensor is its own
    array: a jitted call that adds 1 to each donated tensor (one kernel per output).

    And the same call on as many 128-element tensors: XLA:CPU's runtime runs a program's kernels
    one after another in the calling thread only when there are at most 8 of them or none touches
    more than 512 bytes (``ThunkExecutor``'s thresholds, constants of XLA), and otherwise
    schedules them on its thread pool; the difference is what that scheduling costs.
    """
    def runner(shapes):
        add_one = jax.jit(lambda xs: [x + 1 for x in xs], donate_argnums=0)
        box = [[jnp.ones(s, jnp.float32) for s in shapes]]

        def run():
            box[0] = add_one(box[0])
            jax.block_until_ready(box[0])

        return run

    # Each timed in one warm run: interleaved with pauses, as the table's variants are, the
    # 128-element call ran at either speed from one round to the next.
    shapes = WORKLOADS[wname]
    pooled = median_time(runner(shapes), steps, warmup=100)
    inline = median_time(runner([(128,)] * len(shapes)), steps, warmup=100)
    print(f"\n{wname} dispatch floor: a jitted call adding 1 to each of its {len(shapes)} donated tensors "
          f"takes {fmt(pooled).strip()} (one kernel per tensor); on {len(shapes)} tensors of 128 elements, "
          f"whose kernels XLA:CPU runs in the calling thread, {fmt(inline).strip()}")


# --- peak memory, in child processes so each variant starts from a clean heap ---------------


def _status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def memory_child(variant, wname, oname):
    """Peak resident memory a variant's steps add, compile and runtime excluded: a warm-up run
    first (its arrays freed), then the kernel's peak counter is reset and the run repeated."""
    shapes = WORKLOADS[wname]
    params_np, grads_np = make_tree(shapes, 0), make_tree(shapes, 1)
    case = OPTIMIZERS[oname]

    def run():
        if variant == "jopt.optim":
            step = jopt_optim_runner(oname, params_np, grads_np)
        else:
            step = functional_runner(case.jopt() if variant == "jopt" else case.optax(), params_np, grads_np)
        for _ in range(5):
            step()

    run()
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM, the peak resident set size
    baseline = _status_bytes("VmRSS")
    run()
    print(json.dumps({"peak_delta": _status_bytes("VmHWM") - baseline}))


def peak_memory(wname="W1", oname="adam"):
    n = sum(int(np.prod(s)) for s in WORKLOADS[wname])
    need = n * 4 * 4  # params, grads, exp_avg, exp_avg_sq
    print(f"\npeak memory of a {wname} {oname} step (5 steps) beyond the runtime and the host arrays, "
          f"against params+grads+state = {need / 2**20:.0f} MiB")
    for variant in ("jopt", "jopt.optim", "optax"):
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", variant, wname, oname],
            capture_output=True, text=True, check=True,
        ).stdout
        delta = json.loads(out.strip().splitlines()[-1])["peak_delta"]
        print(f"  {variant:11} {delta / 2**20:8.0f} MiB  = {delta / need:.2f}x")


def compile_stats():
    """First-step compile time and compiles over 1000 steps of a scheduled lr (W4 Adam), and what
    a scheduler changing lr every step costs each step: the layer makes new hyperparameter
    scalars when a value changes (the layer with and without, timed in interleaved rounds)."""
    shapes = WORKLOADS["W4"]

    def scheduled_runner(scheduled):
        params = [jopt.optim.Parameter(p) for p in make_tree(shapes, 0)]
        for p, g in zip(params, make_tree(shapes, 1)):
            p.grad = jnp.asarray(g)
        opt = jopt.optim.Adam(params, lr=1e-3)
        sched = jopt.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.999)

        def run():
            opt.step()
            if scheduled:
                sched.step()
            jax.block_until_ready(params[0].data)

        return opt, run

    opt, run = scheduled_runner(True)
    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    for _ in range(999):
        run()
    print(f"\njopt.optim.Adam on W4: first step (trace + compile) {first * 1e3:.0f} ms; "
          f"compiles over 1000 steps with StepLR changing lr every step: {opt.trace_count}")
    rounds = interleaved_rounds({"scheduled": run, "fixed": scheduled_runner(False)[1]}, 2000)
    print(f"the same steps with StepLR.step() after each: {fmt(median_step(rounds['scheduled'])).strip()} "
          f"per step, against {fmt(median_step(rounds['fixed'])).strip()} with a fixed lr "
          f"({paired_ratio(rounds['scheduled'], rounds['fixed']):.2f}x)")


def first_step_times(workloads, repeats=3):
    """Trace, lowering and compile time of the first jitted Adam step, jopt against optax: the
    median of ``repeats`` builds, each of new transformations (nothing cached between them)."""
    parts = []
    for wname in workloads:
        params = [jnp.asarray(p) for p in make_tree(WORKLOADS[wname], 0)]
        grads = [jnp.asarray(g) for g in make_tree(WORKLOADS[wname], 1)]
        times = {"jopt": [], "optax": []}
        for _ in range(repeats):
            for name, make in (("jopt", OPTIMIZERS["adam"].jopt), ("optax", OPTIMIZERS["adam"].optax)):
                tx = make()
                state = jax.eval_shape(tx.init, params)
                start = time.perf_counter()
                functional_step(tx).trace(params, state, grads).lower().compile()
                times[name].append(time.perf_counter() - start)
        jopt_s, optax_s = (statistics.median(times[name]) for name in ("jopt", "optax"))
        parts.append(f"{wname} {jopt_s * 1e3:.0f} / {optax_s * 1e3:.0f} ms ({jopt_s / optax_s:.2f}x)")
    print("\nfirst step of a jitted Adam (trace + lower + compile), jopt / optax: " + ", ".join(parts))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        return memory_child(*args.memory_child)
    workloads = args.workloads.split(",")
    bench(workloads, args.optimizers.split(","), args.steps)
    if "W4" in workloads:
        dispatch_floor()
    if not args.no_memory:
        peak_memory()
    first_step_times(workloads)
    compile_stats()


if __name__ == "__main__":
    main()
