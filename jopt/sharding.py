"""Scaling out on a device mesh: ZeRO-1 and per-device memory accounting.

Plain sharding needs nothing from here: every jopt optimizer is elementwise per tensor, so with
parameters sharded by a ``NamedSharding`` the state that ``init`` makes has the parameters'
shardings (``count``, hyperparameters and per-tensor scalars replicated) and a jitted
``update`` keeps them, with no communication.

ZeRO-1 (:func:`zero1`) shards the optimizer *state* of replicated (data-parallel) parameters
along one mesh axis: each state array is split along its largest dimension that the axis size
divides (arrays without one stay replicated). Inside ``update`` the gradients, parameters and
state are constrained to that sharding, so XLA computes the update on each device's shard (a
reduce-scatter where the gradients come from an all-reduce) and the updates are constrained
back to replicated (an all-gather). The arithmetic is the unsharded one, element for element.
"""

from __future__ import annotations

from collections import defaultdict

import jax
import optax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec


def zero1_sharding(shape, mesh: Mesh, axis_name: str, spec: PartitionSpec | None = None) -> NamedSharding:
    """The ZeRO-1 sharding of a state array of ``shape``.

    ``spec`` (default: replicated) with ``axis_name`` put on the largest dimension that ``spec``
    leaves unsharded and whose size is a multiple of the axis size; ``spec`` itself when there is
    no such dimension (scalars, small or odd-sized arrays) or ``spec`` already uses the axis.
    """
    size = mesh.shape[axis_name]
    entries = list(spec or ()) + [None] * (len(shape) - len(spec or ()))
    used = {name for e in entries if e is not None for name in (e if isinstance(e, tuple) else (e,))}
    if axis_name not in used:
        free = [d for d, n in enumerate(shape) if entries[d] is None and n >= size and n % size == 0]
        if free:
            entries[max(free, key=lambda d: (shape[d], -d))] = axis_name
    return NamedSharding(mesh, PartitionSpec(*entries))


def _place(x, sharding: NamedSharding):
    """``x`` with ``sharding``: a constraint under tracing (a reshard on an explicit mesh), a
    transfer otherwise."""
    if not isinstance(x, jax.core.Tracer):
        return jax.device_put(x, sharding)
    if all(t == AxisType.Auto for t in sharding.mesh.axis_types):
        return jax.lax.with_sharding_constraint(x, sharding)
    return jax.sharding.reshard(x, sharding)


def zero1(
    tx: optax.GradientTransformation, mesh: Mesh, axis_name: str
) -> optax.GradientTransformationExtraArgs:
    """Wrap ``tx`` so that its state is sharded along ``mesh``'s ``axis_name`` (ZeRO stage 1).

    The parameters stay replicated over the mesh; the updates ``update`` returns are replicated
    too. Any optax transformation can be wrapped (the state is sharded leaf by leaf, see
    :func:`zero1_sharding`); the state keeps its type, so ``jopt.set_hyperparams`` and
    ``state.buffers`` work as before. Use it under ``jax.jit`` (the constraints are what makes
    XLA split the work); eager calls give the same numbers.

    Example::

        mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
        tx = jopt.zero1(jopt.adam(lr=1e-3), mesh, "data")
        state = tx.init(params)   # exp_avg etc. split 8 ways, count replicated
    """
    if axis_name not in mesh.shape:
        raise ValueError(f"mesh has no axis {axis_name!r}; its axes are {tuple(mesh.shape)}")
    replicated = NamedSharding(mesh, PartitionSpec())

    def sharding_of(x):
        return zero1_sharding(x.shape, mesh, axis_name)

    def shard(tree):
        return jax.tree.map(lambda x: _place(x, sharding_of(x)), tree)

    def init(params):
        if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(params)):
            return shard(tx.init(params))
        # Compiled with the target shardings, so no device ever holds more than its shard.
        shapes = jax.eval_shape(tx.init, params)
        return jax.jit(tx.init, out_shardings=jax.tree.map(sharding_of, shapes))(params)

    def update(grads, state, params=None, **extra_args):
        updates, state = tx.update(
            shard(grads), shard(state), None if params is None else shard(params), **extra_args
        )
        return jax.tree.map(lambda u: _place(u, replicated), updates), shard(state)

    return optax.GradientTransformationExtraArgs(init, update)


def bytes_per_device(tree) -> dict:
    """Bytes that the arrays of ``tree`` occupy on each (addressable) device: ``{device: bytes}``."""
    out: dict = defaultdict(int)
    for leaf in jax.tree.leaves(tree):
        for shard in leaf.addressable_shards:
            out[shard.device] += shard.data.nbytes
    return dict(out)
