"""What a training loop calls besides ``step()``, timed: jopt.optim against torch and optax, in one run.

    python benchmarks/utils_bench.py                 # about 2 minutes on 2 cores
    python benchmarks/utils_bench.py --workloads W4 --steps 20

For each workload of ``step_bench.py``: gradient clipping by total norm and by value, a running
average of the parameters (``AveragedModel`` with an EMA, and with its default SWA), a backward
pass that adds into the ``.grad`` already there (gradient accumulation; the loss is the sum of
the squared parameters, so that the gradient itself costs next to nothing), and
``zero_grad(set_to_none=False)``.
Every variant does the same work on every call: clipping uses a ``max_norm`` above the norm (the
gradients are still multiplied, by 1, as torch does) and a ``clip_value`` above every entry, so
that the gradients stay the same from call to call. ``optax`` is optax's equivalent in one
jitted call (``clip_by_global_norm``, ``clip``, ``incremental_update``; where optax has none, JAX's:
``value_and_grad`` and a sum, ``zeros_like``); ``torch`` is ``torch.nn.utils``,
``torch.optim.swa_utils``, autograd and ``Optimizer.zero_grad``, on the CPU the default of each
(``foreach`` kernels for the norm and the EMA; SWA averages one tensor at a time, as jopt's
default does).
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import optax
import torch
from step_bench import (
    SMALL_STEPS_FACTOR,
    SMALL_WORKLOAD_PARAMS,
    WORKLOADS,
    fmt,
    interleaved_rounds,
    make_tree,
    median_step,
    paired_ratio,
)

import jopt.optim
from jopt.optim import swa_utils

EMA_DECAY = 0.999
ABOVE_EVERY_NORM = 1e9  # clipping thresholds that never bind


def squares(params):
    return sum(jnp.sum(p * p) for p in params)


def jopt_runner(kind, params_np, grads_np):
    params = [jopt.optim.Parameter(p) for p in params_np]
    grads = [jnp.asarray(g) for g in grads_np]
    if kind in ("backward", "zero_grad"):
        for p, g in zip(params, grads):
            p.grad = g + 0  # zero_grad and backward replace it
        opt = jopt.optim.SGD(params, lr=0.1)

        def run():
            if kind == "backward":
                jopt.optim.backward(squares, params)
            else:
                opt.zero_grad(set_to_none=False)
            jax.block_until_ready(params[0].grad)

        return run
    averaged = {
        "ema": swa_utils.AveragedModel(params, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(EMA_DECAY)),
        "swa": swa_utils.AveragedModel(params),
    }.get(kind)

    def run():
        if averaged is not None:
            averaged.update_parameters(params)
            jax.block_until_ready(averaged.parameters()[0].data)
            return
        for p, g in zip(params, grads):
            p.grad = g
        if kind == "clip_norm":
            jopt.optim.clip_grad_norm_(params, ABOVE_EVERY_NORM)
        else:
            jopt.optim.clip_grad_value_(params, ABOVE_EVERY_NORM)
        jax.block_until_ready(params[0].grad)

    return run


def optax_runner(kind, params_np, grads_np):
    params = [jnp.asarray(p) for p in params_np]
    grads = [jnp.asarray(g) for g in grads_np]
    if kind in ("backward", "zero_grad"):
        def accumulate(params, acc):  # the loss as well, as backward() returns it
            loss, new = jax.value_and_grad(squares)(params)
            return loss, jax.tree.map(jnp.add, acc, new)

        accumulate = jax.jit(accumulate)
        zeros = jax.jit(lambda grads: jax.tree.map(jnp.zeros_like, grads))
        box = [[g + 0 for g in grads]]

        def run():
            box[0] = accumulate(params, box[0])[1] if kind == "backward" else zeros(box[0])
            jax.block_until_ready(box[0])

        return run
    if kind in ("ema", "swa"):
        # SWA's weight 1/(n+1) as an argument, EMA's 1 - decay as a constant: torch and jopt alike.
        weight = jnp.float32(1 - EMA_DECAY) if kind == "ema" else jnp.float32(0.5)
        update = jax.jit(optax.incremental_update)
        box = [[p + 0 for p in params]]

        def run():
            box[0] = update(params, box[0], weight)
            jax.block_until_ready(box[0])

        return run
    tx = optax.clip_by_global_norm(ABOVE_EVERY_NORM) if kind == "clip_norm" else optax.clip(ABOVE_EVERY_NORM)
    state = tx.init(params)
    clip = jax.jit(lambda g: tx.update(g, state)[0])

    def run():
        jax.block_until_ready(clip(grads))

    return run


def torch_runner(kind, params_np, grads_np):
    params = [torch.nn.Parameter(torch.tensor(p)) for p in params_np]
    if kind == "backward":
        return lambda: sum((p * p).sum() for p in params).backward()
    if kind == "zero_grad":
        for p, g in zip(params, grads_np):
            p.grad = torch.tensor(g)
        opt = torch.optim.SGD(params, lr=0.1)
        return lambda: opt.zero_grad(set_to_none=False)
    if kind in ("ema", "swa"):
        model = torch.nn.ParameterList(params)
        ema = torch.optim.swa_utils.get_ema_multi_avg_fn(EMA_DECAY) if kind == "ema" else None
        averaged = torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=ema)
        return lambda: averaged.update_parameters(model)
    for p, g in zip(params, grads_np):
        p.grad = torch.tensor(g)
    if kind == "clip_norm":
        return lambda: torch.nn.utils.clip_grad_norm_(params, ABOVE_EVERY_NORM)
    return lambda: torch.nn.utils.clip_grad_value_(params, ABOVE_EVERY_NORM)


KINDS = {
    "clip_norm": "clip_grad_norm_",
    "clip_value": "clip_grad_value_",
    "ema": "AveragedModel EMA",
    "swa": "AveragedModel SWA",
    "backward": "backward, summing",
    "zero_grad": "zero_grad(False)",
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs; jax {jax.__version__}, optax {optax.__version__}, torch {torch.__version__}; "
          f"medians of {args.steps} calls per variant ({SMALL_STEPS_FACTOR * args.steps} under "
          f"{SMALL_WORKLOAD_PARAMS:.0e} params) timed in 8 interleaved rounds; ratios are medians of the 8 "
          f"per-round ratios\n")
    print(f"{'work':4} {'what':18} {'jopt.optim':>11} {'optax':>11} {'torch':>11} | {'jopt/optax':>10} "
          f"{'jopt/torch':>10}")
    for wname in args.workloads.split(","):
        shapes = WORKLOADS[wname]
        params_np, grads_np = make_tree(shapes, 0), make_tree(shapes, 1)
        n = sum(p.size for p in params_np)
        for kind in args.kinds.split(","):
            runners = {
                "jopt.optim": jopt_runner(kind, params_np, grads_np),
                "optax": optax_runner(kind, params_np, grads_np),
                "torch": torch_runner(kind, params_np, grads_np),
            }
            rounds = interleaved_rounds(runners, args.steps * (SMALL_STEPS_FACTOR if n < SMALL_WORKLOAD_PARAMS else 1))
            cells = " ".join(fmt(median_step(rounds[k])) for k in runners)
            print(f"{wname:4} {KINDS[kind]:18} {cells} | {paired_ratio(rounds['jopt.optim'], rounds['optax']):10.2f} "
                  f"{paired_ratio(rounds['jopt.optim'], rounds['torch']):10.2f}", flush=True)


if __name__ == "__main__":
    main()
