"""One process of the data-parallel run of ``test_multiprocess.py`` (and its single-process reference).

``python tests/multiprocess_worker.py <process_id> <num_processes> <port> <out.json>`` joins a
``jax.distributed`` cluster on 127.0.0.1 with 2 CPU devices per process (gloo collectives),
trains the same small model two ways for STEPS steps on a batch sharded over all devices of
all processes (params replicated), and writes the final params to ``out.json``:

* ``functional``: ``jopt.adam`` in a jitted train step;
* ``optim``: ``jopt.optim.SGD`` (momentum) with ``jopt.optim.backward``.

:func:`train` with no mesh is the single-device reference.
"""

from __future__ import annotations

import json
import os
import sys

STEPS = 20
BATCH, IN, HIDDEN = 16, 8, 8


def data(step):
    import numpy as np

    rng = np.random.default_rng(step)
    x = rng.standard_normal((BATCH, IN)).astype(np.float32)
    y = np.sin(x.sum(axis=1, keepdims=True)).astype(np.float32)
    return x, y


def init_params():
    import numpy as np

    rng = np.random.default_rng(0)
    return {
        "w1": (rng.standard_normal((IN, HIDDEN)) / np.sqrt(IN)).astype(np.float32),
        "b1": np.zeros((HIDDEN,), np.float32),
        "w2": (rng.standard_normal((HIDDEN, 1)) / np.sqrt(HIDDEN)).astype(np.float32),
    }


def loss_fn(params, x, y):
    import jax.numpy as jnp

    h = jnp.tanh(x @ params["w1"] + params["b1"])
    return jnp.mean((h @ params["w2"] - y) ** 2)


def train(mesh=None):
    """Final params (numpy) of the two runs; data parallel over ``mesh`` ('data') if given."""
    import jax
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import jopt
    import jopt.optim as jo

    if mesh is None:
        put_params = lambda tree: jax.tree.map(jax.numpy.asarray, tree)  # noqa: E731
        put_batch = lambda a: jax.numpy.asarray(a)  # noqa: E731
    else:
        replicated = NamedSharding(mesh, P())
        rows = NamedSharding(mesh, P("data"))
        n, i = jax.process_count(), jax.process_index()

        def put_params(tree):
            return jax.tree.map(lambda a: jax.make_array_from_process_local_data(replicated, a), tree)

        def put_batch(a):  # each process holds only its own rows of the batch
            local = a.reshape(n, -1, *a.shape[1:])[i]
            return jax.make_array_from_process_local_data(rows, local, a.shape)

    out = {}
    tx = jopt.adam(lr=0.01, weight_decay=0.01)

    @jax.jit
    def step(params, state, x, y):
        grads = jax.grad(loss_fn)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return jopt.apply_updates(params, updates), state

    params = put_params(init_params())
    state = tx.init(params)
    for s in range(STEPS):
        x, y = data(s)
        params, state = step(params, state, put_batch(x), put_batch(y))
    out["functional"] = params

    params = {k: jo.Parameter(v) for k, v in put_params(init_params()).items()}
    opt = jo.SGD(list(params.values()), lr=0.05, momentum=0.9)
    for s in range(STEPS):
        x, y = data(s)
        opt.zero_grad()
        jo.backward(loss_fn, params, put_batch(x), put_batch(y))
        opt.step()
    out["optim"] = {k: p.data for k, p in params.items()}
    # Replicated arrays: every process holds the full value.
    return {run: {k: np.asarray(v.addressable_data(0)) for k, v in tree.items()} for run, tree in out.items()}


def main(process_id, num_processes, port, out_path):
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_num_cpu_devices", 2)
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=60,
    )
    try:
        assert jax.process_count() == num_processes and len(jax.devices()) == 2 * num_processes
        mesh = jax.make_mesh((len(jax.devices()),), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
        result = train(mesh)
        with open(out_path, "w") as f:
            json.dump({run: {k: v.tolist() for k, v in tree.items()} for run, tree in result.items()}, f)
    finally:
        jax.distributed.shutdown()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
