"""Multi-device checks, run on 8 simulated CPU devices in a subprocess of ``test_sharding.py``.

``python tests/sharding_checks.py [case ...]`` runs the named cases (all by default) and prints
one JSON object ``{case: null | "error text"}`` on its last line. The device count must be set
before JAX starts its backend, which is why these run in their own process: the rest of the
suite keeps one device.

Every case is differential: the sharded run against the same run on one device (and against
torch where cheap), at the parity tolerance of the dtype, plus the placement checks (shardings
of params and state, collectives in the compiled step).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jax.sharding import AxisType, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

N_DEVICES = 8
STEPS = 20
COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "collective-permute", "all-to-all")
CONFIGS = {
    "adam": dict(lr=0.01, weight_decay=0.1, amsgrad=True),
    "sgd": dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.1),
    "rmsprop": dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1),
}
# mesh name -> (shape, axis names); leaves: name -> (shape, spec on that mesh).
MESHES = {"1d": ((8,), ("d",)), "2d": ((4, 2), ("x", "y"))}
LEAVES = {
    "1d": {"rows": ((16, 3), P("d")), "cols": ((3, 16), P(None, "d")), "rep": ((5,), P())},
    "2d": {"both": ((8, 4), P("x", "y")), "rows": ((8, 3), P("x")), "cols": ((3, 6), P(None, "y")), "rep": ((5,), P())},
}
ZERO_SHAPES = {"w": (16, 6), "v": (3, 24), "b": (6,), "odd": (5, 3)}
DTYPES = {"f32": np.float32, "f64": np.float64}


def device_state(state):
    """A jopt.optim parameter's state entries held on devices ('step' is a host count, as in torch)."""
    return [(key, buf) for key, buf in state.items() if key != "step"]


def mesh_of(name, explicit=False):
    shape, axes = MESHES[name]
    kind = AxisType.Explicit if explicit else AxisType.Auto
    return jax.make_mesh(shape, axes, axis_types=(kind,) * len(axes))


def specs():
    import specs as s

    return s.BY_NAME


def collectives(compiled_text):
    return [c for c in COLLECTIVES if c in compiled_text]


def settle(tree):
    """Wait for a step: with several steps in flight, the simulated devices' in-process
    collectives can deadlock on a host with few cores (seen with ZeRO-1's all-gathers)."""
    jax.block_until_ready(tree)


def random_tree(rng, shapes, dtype, scale=1.0):
    return {k: (rng.standard_normal(s) * scale).astype(dtype) for k, s in shapes.items()}


def assert_close(actual, expected, dtype, what):
    from parity import assert_close as close

    close(actual, expected, dtype, what)


def same_sharding(a, b, what):
    if not a.sharding.is_equivalent_to(b.sharding, a.ndim):
        raise AssertionError(f"{what}: sharding {a.sharding} != {b.sharding}")


def replicated(x, what):
    if not (isinstance(x.sharding, NamedSharding) and x.sharding.is_fully_replicated and len(x.sharding.device_set) == N_DEVICES):
        raise AssertionError(f"{what}: expected replicated over the mesh, got {x.sharding}")


def run_functional(tx, params, grads_list, jit=True):
    state = tx.init(params)

    def step(grads, state, params):
        updates, state = tx.update(grads, state, params)
        return jax.tree.map(lambda p, u: p + u, params, updates), state

    fn = jax.jit(step, donate_argnums=(1, 2)) if jit else step
    for grads in grads_list:
        params, state = fn(grads, state, params)
        settle(params)
    return params, state, fn


def torch_run(name, config, params0, grads_list):
    import torch

    spec = specs()[name]
    keys = sorted(params0)
    t = [torch.tensor(params0[k], requires_grad=True) for k in keys]
    opt = spec.torch_cls(t, **config, **spec.torch_extra)
    for grads in grads_list:
        for tp, k in zip(t, keys):
            tp.grad = torch.tensor(np.asarray(grads[k]))
        opt.step()
    return {k: tp.detach().numpy() for k, tp in zip(keys, t)}


# --- 1. sharded params, functional --------------------------------------------------------------


def check_functional(name, mesh_name, dtype_name, explicit=False):
    import jopt

    dtype = DTYPES[dtype_name]
    with jax.enable_x64(dtype == np.float64):
        mesh = mesh_of(mesh_name, explicit)
        leaves = LEAVES[mesh_name]
        shapes = {k: s for k, (s, _) in leaves.items()}
        shardings = {k: NamedSharding(mesh, spec) for k, (_, spec) in leaves.items()}
        rng = np.random.default_rng(0)
        params0 = random_tree(rng, shapes, dtype)
        grads_np = [random_tree(rng, shapes, dtype) for _ in range(STEPS)]
        config = CONFIGS[name]
        tx = getattr(jopt, name)(**config)

        def put(tree):
            return {k: jax.device_put(v, shardings[k]) for k, v in tree.items()}

        params = put(params0)
        state = tx.init(params)
        for field, buf in zip(state.buffers._fields, state.buffers):
            if buf is None:
                continue
            for k, x in buf.items():
                if x.ndim:
                    same_sharding(x, params[k], f"init {field}[{k}]")
                else:
                    replicated(x, f"init {field}[{k}]")
        for x in jax.tree.leaves((state.count, state.hyperparams)):
            replicated(x, "init count/hyperparams")

        context = jax.set_mesh(mesh)
        with context:
            grads = [put(g) for g in grads_np]
            new_params, new_state, fn = run_functional(tx, params, grads)
            text = fn.lower(grads[0], new_state, new_params).compile().as_text()
        if collectives(text):
            raise AssertionError(f"collectives in an elementwise step: {collectives(text)}")
        for k, x in new_params.items():
            same_sharding(x, jax.device_put(params0[k], shardings[k]), f"param {k} after steps")
        for field, buf in zip(new_state.buffers._fields, new_state.buffers):
            for k, x in (buf or {}).items():
                if x.ndim:
                    same_sharding(x, new_params[k], f"{field}[{k}] after steps")
                else:
                    replicated(x, f"{field}[{k}] after steps")

        single, _, _ = run_functional(tx, jax.tree.map(jnp.asarray, params0), [jax.tree.map(jnp.asarray, g) for g in grads_np])
        expected = torch_run(name, config, params0, grads_np)
        for k in shapes:
            assert new_params[k].dtype == dtype
            assert_close(new_params[k], single[k], dtype, f"sharded vs single device, {k}")
            assert_close(new_params[k], expected[k], dtype, f"sharded vs torch, {k}")


# --- 1. sharded params, jopt.optim --------------------------------------------------------------


def check_layer(name, mesh_name, dtype_name):
    import torch

    import jopt.optim as jo

    spec = specs()[name]
    dtype = DTYPES[dtype_name]
    with jax.enable_x64(dtype == np.float64):
        mesh = mesh_of(mesh_name)
        leaves = LEAVES[mesh_name]
        rng = np.random.default_rng(1)
        values = {k: rng.standard_normal(s).astype(dtype) for k, (s, _) in leaves.items()}
        shardings = {k: NamedSharding(mesh, p) for k, (_, p) in leaves.items()}
        jp = {k: jo.Parameter(jax.device_put(v, shardings[k])) for k, v in values.items()}
        tp = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
        keys = list(values)
        config = CONFIGS[name]

        def groups(ps):
            return [{"params": [ps[k] for k in keys[:2]]}, {"params": [ps[k] for k in keys[2:]], "lr": config["lr"] * 2}]

        jopt_opt = spec.optim_cls(groups(jp), **config)
        torch_opt = spec.torch_cls(groups(tp), **config, **spec.torch_extra)
        for step in range(STEPS):
            for k in keys:
                g = rng.standard_normal(values[k].shape).astype(dtype)
                jp[k].grad = jax.device_put(g, shardings[k])
                tp[k].grad = torch.tensor(g)
            if step == 10:
                for opt in (jopt_opt, torch_opt):
                    opt.param_groups[0]["lr"] *= 0.5
            jopt_opt.step()
            settle([p.data for p in jp.values()])
            torch_opt.step()
        for k in keys:
            p = jp[k]
            if not p.data.sharding.is_equivalent_to(shardings[k], p.ndim):
                raise AssertionError(f"Parameter {k} lost its sharding: {p.data.sharding} != {shardings[k]}")
            for key, buf in device_state(jopt_opt.state[p]):
                if buf.ndim:
                    same_sharding(buf, p.data, f"state[{k}][{key}]")
                else:
                    replicated(buf, f"state[{k}][{key}]")
            assert_close(p.data, tp[k].detach().numpy(), dtype, f"jopt.optim sharded vs torch, {k}")
        assert jopt_opt.trace_count == 1, jopt_opt.trace_count


# --- 2. ZeRO-1 ----------------------------------------------------------------------------------


def check_zero1(name, mesh_name, axis, dtype_name):
    import jopt
    from jopt.sharding import bytes_per_device, zero1_sharding

    dtype = DTYPES[dtype_name]
    with jax.enable_x64(dtype == np.float64):
        mesh = mesh_of(mesh_name)
        rep = NamedSharding(mesh, P())
        rng = np.random.default_rng(2)
        params0 = random_tree(rng, ZERO_SHAPES, dtype)
        grads_np = [random_tree(rng, ZERO_SHAPES, dtype) for _ in range(STEPS)]
        config = CONFIGS[name]
        plain = getattr(jopt, name)(**config)
        tx = jopt.zero1(plain, mesh, axis)
        params = jax.device_put(params0, rep)
        state = tx.init(params)
        size = mesh.shape[axis]
        for field, buf in zip(state.buffers._fields, state.buffers):
            for k, x in (buf or {}).items():
                want = zero1_sharding(x.shape, mesh, axis)
                same_sharding(x, jax.device_put(jnp.zeros(x.shape, x.dtype), want), f"zero1 init {field}[{k}]")
                if x.ndim and any(n % size == 0 and n >= size for n in x.shape):
                    assert not x.sharding.is_fully_replicated, f"{field}[{k}] not sharded"
        full = bytes_per_device(plain.init(params))
        sharded = bytes_per_device(state)
        assert max(sharded.values()) < max(full.values()), (sharded, full)
        with jax.set_mesh(mesh):
            grads = [jax.device_put(g, rep) for g in grads_np]
            new_params, new_state, fn = run_functional(tx, params, grads)
            text = fn.lower(grads[0], new_state, new_params).compile().as_text()
        if "all-gather" not in text:
            raise AssertionError(f"expected the updates all-gathered, compiled step has {collectives(text)}")
        for k, x in new_params.items():
            replicated(x, f"zero1 param {k}")
        for field, buf in zip(new_state.buffers._fields, new_state.buffers):
            for k, x in (buf or {}).items():
                same_sharding(x, getattr(state.buffers, field)[k], f"zero1 {field}[{k}] after steps")
        single, _, _ = run_functional(plain, jax.tree.map(jnp.asarray, params0), [jax.tree.map(jnp.asarray, g) for g in grads_np])
        for k in ZERO_SHAPES:
            assert_close(new_params[k], single[k], dtype, f"zero1 vs unsharded, {k}")


def check_zero1_layer(name, dtype_name):
    import jopt.optim as jo
    from jopt.sharding import zero1_sharding

    spec = specs()[name]
    dtype = DTYPES[dtype_name]
    with jax.enable_x64(dtype == np.float64):
        mesh = mesh_of("2d")
        rep = NamedSharding(mesh, P())
        rng = np.random.default_rng(3)
        values = random_tree(rng, ZERO_SHAPES, dtype)
        keys = list(values)
        zp = [jo.Parameter(jax.device_put(values[k], rep)) for k in keys]
        rp = [jo.Parameter(values[k]) for k in keys]
        config = CONFIGS[name]
        groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": config["lr"] * 2}]  # noqa: E731
        zopt = jo.ZeroRedundancyOptimizer(groups(zp), spec.optim_cls, mesh=mesh, axis_name="x", **config)
        assert isinstance(zopt, spec.optim_cls)
        ropt = spec.optim_cls(groups(rp), **config)
        for step in range(STEPS):
            for z, r in zip(zp, rp):
                g = rng.standard_normal(z.shape).astype(dtype)
                z.grad, r.grad = jax.device_put(g, rep), jnp.asarray(g)
            zopt.step()
            settle([p.data for p in zp])
            ropt.step()
        assert zopt.trace_count == 1, zopt.trace_count
        for k, z, r in zip(keys, zp, rp):
            replicated(z.data, f"ZeroRedundancyOptimizer param {k}")
            assert_close(z.data, r.data, dtype, f"ZeroRedundancyOptimizer vs {name}, {k}")
            for key, buf in device_state(zopt.state[z]):
                want = zero1_sharding(buf.shape, mesh, "x")
                if not buf.sharding.is_equivalent_to(want, buf.ndim):
                    raise AssertionError(f"state[{k}][{key}]: {buf.sharding} != {want}")
        sd = zopt.state_dict()
        ropt.load_state_dict(sd)  # a ZeRO state_dict is an ordinary one


# --- 4. checkpoints of sharded arrays ------------------------------------------------------------


def check_checkpoint_functional():
    import jopt
    import jopt.checkpoint as ckpt

    mesh = mesh_of("2d")
    leaves = LEAVES["2d"]
    shapes = {k: s for k, (s, _) in leaves.items()}
    shardings = {k: NamedSharding(mesh, spec) for k, (_, spec) in leaves.items()}
    rng = np.random.default_rng(4)
    params0 = random_tree(rng, shapes, np.float32)
    grads = [{k: jax.device_put(v, shardings[k]) for k, v in random_tree(rng, shapes, np.float32).items()} for _ in range(8)]
    tx = jopt.adam(lr=0.01, amsgrad=True)
    put = lambda tree: {k: jax.device_put(v, shardings[k]) for k, v in tree.items()}  # noqa: E731
    with jax.set_mesh(mesh), tempfile.TemporaryDirectory() as tmp:
        params, state, fn = run_functional(tx, put(params0), grads[:4])
        ckpt.save(os.path.join(tmp, "ck"), {"params": params, "opt": state})
        expected = []
        for g in grads[4:]:
            params, state = fn(g, state, params)
            settle(params)
            expected.append(jax.tree.map(np.asarray, (params, state)))  # the arrays get donated
        like = {"params": put(params0), "opt": tx.init(put(params0))}
        restored = ckpt.restore(os.path.join(tmp, "ck"), like)
        for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(like)):
            same_sharding(a, b, "restored leaf")
        params, state = restored["params"], restored["opt"]
        for g, want in zip(grads[4:], expected):
            params, state = fn(g, state, params)
            for a, b, c in zip(jax.tree.leaves((params, state)), jax.tree.leaves(want), jax.tree.leaves((like["params"], like["opt"]))):
                np.testing.assert_array_equal(np.asarray(a), b)
                same_sharding(a, c, "resumed leaf")


def check_checkpoint_zero1_layer():
    import jopt.checkpoint as ckpt
    import jopt.optim as jo
    from jopt.sharding import zero1_sharding

    mesh = mesh_of("1d")
    rep = NamedSharding(mesh, P())

    def build(seed):
        values = random_tree(np.random.default_rng(seed), ZERO_SHAPES, np.float32)
        ps = [jo.Parameter(jax.device_put(v, rep)) for v in values.values()]
        opt = jo.ZeroRedundancyOptimizer(ps, jo.Adam, mesh=mesh, axis_name="d", lr=0.01, weight_decay=0.1)
        return ps, opt, jo.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    def step(ps, opt, sched, i):
        rng = np.random.default_rng(100 + i)
        for p in ps:
            p.grad = jax.device_put(rng.standard_normal(p.shape).astype(np.float32), rep)
        opt.step()
        settle([p.data for p in ps])
        sched.step()

    ps, opt, sched = build(5)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(3):
            step(ps, opt, sched, i)
        ckpt.save_optimizer(os.path.join(tmp, "ck"), opt, sched)
        expected = []
        for i in range(3, 7):
            step(ps, opt, sched, i)
            expected.append([np.asarray(p.data) for p in ps])
        qs, resumed, rsched = build(6)
        ckpt.restore_optimizer(os.path.join(tmp, "ck"), resumed, rsched)
        for q in qs:
            replicated(q.data, "restored param")
            for key, buf in device_state(resumed.state[q]):
                want = zero1_sharding(buf.shape, mesh, "d")
                if not buf.sharding.is_equivalent_to(want, buf.ndim):
                    raise AssertionError(f"restored state {key}: {buf.sharding} != {want}")
        for i, want in zip(range(3, 7), expected):
            step(qs, resumed, rsched, i)
            for q, w in zip(qs, want):
                np.testing.assert_array_equal(np.asarray(q.data), w)
        assert resumed.trace_count == 1, resumed.trace_count


# Each optimizer functionally, in the layer and under ZeRO-1, over both meshes and both dtypes
# between them (not every product: the 8-device compiles dominate this process's time).
CASES = {
    "functional-adam-1d-f32": (check_functional, ("adam", "1d", "f32")),
    "functional-adam-2d-f64": (check_functional, ("adam", "2d", "f64")),
    "functional-adam-2d-f32-explicit-mesh": (check_functional, ("adam", "2d", "f32", True)),
    "functional-sgd-2d-f32": (check_functional, ("sgd", "2d", "f32")),
    "functional-sgd-1d-f64": (check_functional, ("sgd", "1d", "f64")),
    "functional-rmsprop-1d-f64": (check_functional, ("rmsprop", "1d", "f64")),
    "functional-rmsprop-2d-f32": (check_functional, ("rmsprop", "2d", "f32")),
    "layer-adam-2d-f32": (check_layer, ("adam", "2d", "f32")),
    "layer-sgd-1d-f64": (check_layer, ("sgd", "1d", "f64")),
    "layer-rmsprop-2d-f32": (check_layer, ("rmsprop", "2d", "f32")),
    "zero1-adam-1d-f32": (check_zero1, ("adam", "1d", "d", "f32")),
    "zero1-adam-2d-f64": (check_zero1, ("adam", "2d", "x", "f64")),
    "zero1-sgd-2d-f32": (check_zero1, ("sgd", "2d", "y", "f32")),
    "zero1-rmsprop-1d-f32": (check_zero1, ("rmsprop", "1d", "d", "f32")),
    "zero1-layer-adam-f32": (check_zero1_layer, ("adam", "f32")),
    "zero1-layer-rmsprop-f64": (check_zero1_layer, ("rmsprop", "f64")),
}
CASES["checkpoint-functional-sharded"] = (check_checkpoint_functional, ())
CASES["checkpoint-zero1-layer"] = (check_checkpoint_zero1_layer, ())


def main(names):
    results = {}
    for name in names or CASES:
        fn, args = CASES[name]
        start = time.perf_counter()
        try:
            fn(*args)
            results[name] = None
        except Exception:  # noqa: BLE001 - reported to the test
            results[name] = traceback.format_exc(limit=6)
        print(f"{name}: {time.perf_counter() - start:.2f}s", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    jax.config.update("jax_num_cpu_devices", N_DEVICES)
    assert len(jax.devices()) == N_DEVICES, jax.devices()
    main(sys.argv[1:])
