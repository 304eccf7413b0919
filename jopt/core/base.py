"""Mechanics shared by every jopt optimizer.

An optimizer module states its update rule for ONE parameter tensor, the way torch's
``_single_tensor_<name>`` loop body does, and hands it to :func:`transformation`, which
supplies everything else once:

* hyperparameters held in the state (:class:`OptState`), so a new value takes effect on the
  next update without a retrace, and schedules (callables of the update count);
* the mapping of the per-tensor rule over any pytree (inside ``jit``, traced once per shape and
  dtype of tensor);
* torch's treatment of dtypes: complex tensors are updated as their real view
  (``torch.view_as_real``), float16/bfloat16 tensors are computed in float32 and stored back
  in their own dtype, buffers keep the parameter's dtype.

The per-tensor rule has the signature
``rule(hyper, count, param, grad, buffers) -> (update, new_buffers)`` where ``hyper`` holds the
current hyperparameter values (scalar arrays), ``count`` the number of updates done before this
one, ``buffers`` the NamedTuple of this tensor's state under torch's names, and ``update`` is
what is added to the parameter (``new_param = param + update``, optax's convention).

torch counts ``state['step']`` per tensor, but a functional update advances every tensor, so all
of them equal ``count``: the state holds that one count (:func:`torch_step`), not a step per
tensor. An XLA:CPU kernel costs a microsecond or two whatever its size, and a per-tensor step
cost four (its increment and the bias corrections computed from it) plus an array in and out of
every step (W3 Adam, 192 tensors, became 6-10% faster without it; see docs/performance.md). The
torch-style layer, where a parameter without a gradient does not advance, gives each set of
parameters with equal steps its own count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

Schedule = Callable[[jax.Array], Any]
"""A hyperparameter given as a function of the update count (0 on the first update)."""


class OptState(NamedTuple):
    """State of every jopt optimizer.

    Attributes:
      count: number of updates applied so far (int32); schedules are evaluated at it, and it is
        torch's per-tensor ``step`` of every tensor (see :func:`torch_step`).
      hyperparams: NamedTuple with the value of each numeric hyperparameter (scalar arrays).
        Values given as numbers may be replaced (``state._replace(hyperparams=...)`` or
        :func:`jopt.set_hyperparams`) and take effect on the next update without a retrace;
        values given as schedules are recomputed from ``count`` at every update.
      buffers: NamedTuple of per-parameter state under torch's state names (``exp_avg``,
        ``momentum_buffer``...), each a pytree shaped like the parameters, or
        ``None`` where the configuration has no such buffer.
    """

    count: jax.Array
    hyperparams: Any
    buffers: Any


def float_dtype():
    """The dtype jopt holds hyperparameters in: float64 under ``jax_enable_x64``, else float32.

    Torch computes its per-step scalars in Python floats (float64); we do the same where JAX lets us.
    """
    return jnp.result_type(float)


def _as_hyper_value(value):
    return jnp.asarray(value, dtype=float_dtype())


def _hyper_values(spec, count):
    """Evaluate a hyperparameter spec (numbers, arrays and schedules) at ``count``."""
    return jax.tree.map(lambda v: _as_hyper_value(v(count) if callable(v) else v), spec)


def torch_step(count):
    """torch's ``state['step']`` during the update after ``count`` updates (``count + 1``), as the
    float torch's formulas read (``step.item()``)."""
    return (count + 1).astype(float_dtype())


def set_hyperparams(state: OptState, **values) -> OptState:
    """Return ``state`` with the named hyperparameters replaced (used from the next update on)."""
    new = state.hyperparams._replace(**values)
    return state._replace(hyperparams=jax.tree.map(_as_hyper_value, new))


# --- dtype handling -------------------------------------------------------------------------


def _to_compute(x):
    """Complex -> real view (last axis of 2), half precision -> float32."""
    if x is None:
        return None
    if jnp.iscomplexobj(x):
        x = jnp.stack([x.real, x.imag], axis=-1)
    if jnp.issubdtype(x.dtype, jnp.floating) and jnp.finfo(x.dtype).bits < 32:
        x = x.astype(jnp.float32)
    return x


def _to_storage(x, dtype):
    """Undo :func:`_to_compute`: back to ``dtype`` (from the real view when it is complex)."""
    if x is None:
        return None
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return jax.lax.complex(x[..., 0], x[..., 1]).astype(dtype)
    return x.astype(dtype)


def _storage_dtype(buffer, param, compute_shape, per_tensor_scalar):
    """The dtype torch keeps a buffer in.

    Buffers shaped like the parameter take its dtype (``zeros_like(param)``); per-tensor scalars
    (NAdam's ``mu_product``, ASGD's ``eta``...) keep theirs (torch's ``_get_scalar_dtype()``); other
    tensors (Adafactor's row/column variances) take the parameter's real dtype.
    """
    if not jnp.issubdtype(buffer.dtype, jnp.floating) or per_tensor_scalar:
        return buffer.dtype
    if buffer.shape == compute_shape:
        return param.dtype
    if buffer.ndim == 0:
        return buffer.dtype
    return jnp.finfo(param.dtype).dtype


def map_buffers(fn, *buffer_tuples):
    """Apply ``fn`` to the matching fields of NamedTuples, keeping absent (None) fields absent."""
    first = buffer_tuples[0]
    return type(first)(
        *(None if f is None else fn(f, *(b[i] for b in buffer_tuples[1:])) for i, f in enumerate(first))
    )


def _transpose(per_leaf, treedef, template):
    """List (over leaves) of NamedTuples of arrays -> NamedTuple of pytrees."""
    fields = []
    for i, f in enumerate(template):
        fields.append(None if f is None else treedef.unflatten([b[i] for b in per_leaf]))
    return type(template)(*fields)


def _field_leaves(buffers, treedef):
    """NamedTuple of pytrees -> per-field lists of leaves (None for absent fields)."""
    return [None if f is None else treedef.flatten_up_to(f) for f in buffers]


def _place_like(tree, param):
    """Place the state of a sharded parameter (eager ``init`` only; under ``jit`` XLA places it).

    For a ``param`` with a ``NamedSharding``, arrays shaped like it take its sharding and the
    others (``count``, hyperparameters, other shapes) are replicated over its mesh. Anything else
    (numpy input, tracers, single-device arrays) leaves ``tree`` as it is.
    """
    if not isinstance(param, jax.Array) or isinstance(param, jax.core.Tracer):
        return tree
    sharding = param.sharding
    if not isinstance(sharding, jax.sharding.NamedSharding):
        return tree
    replicated = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec())
    return jax.tree.map(
        lambda x: jax.device_put(x, sharding if x.shape == param.shape else replicated), tree
    )


# --- the transformation ---------------------------------------------------------------------


def transformation(
    hyperparams: NamedTuple,
    init_buffers: Callable[[jax.Array], NamedTuple],
    rule: Callable,
    *,
    buffer_fields: tuple[str, ...] | None = None,
) -> optax.GradientTransformationExtraArgs:
    """Build an optax transformation from a per-tensor update rule.

    Args:
      hyperparams: NamedTuple of numbers, scalar arrays or schedules (tuples of them allowed,
        as torch's ``betas``; ``None`` entries allowed, as Adafactor's ``eps=(None, 1e-3)``).
      init_buffers: ``param -> NamedTuple`` of this tensor's initial state (in compute form:
        real view for complex, float32 for half precision).
      rule: ``(hyper, count, param, grad, buffers) -> (update, new_buffers)``, see module doc.
      buffer_fields: the buffers this configuration keeps, for optimizers where a buffer exists
        for some tensors only (Adafactor's ``row_var`` for tensors of 2+ dims, ``variance`` for
        the others): ``init_buffers`` and ``rule`` give ``None`` for a buffer a tensor lacks, and
        the state holds ``None`` at that tensor's place. By default the kept buffers are those
        ``init_buffers`` gives a scalar tensor.
    """
    template = init_buffers(jnp.zeros((), jnp.float32))
    if buffer_fields is not None:
        template = type(template)(*(0 if name in buffer_fields else None for name in template._fields))

    def init_leaf(param):
        compute = _to_compute(param)
        buffers = init_buffers(compute)
        # A 0-d parameter's own buffers and its per-tensor scalars (NAdam's ``mu_product``) are
        # both 0-d: those of a 1-element vector tell which is which.
        probe = buffers
        if compute.ndim == 0:
            probe = jax.eval_shape(init_buffers, jax.ShapeDtypeStruct((1,), compute.dtype))
        seen = set()

        def store(buffer, probed):
            per_tensor_scalar = compute.ndim == 0 and probed.ndim == 0
            stored = _to_storage(buffer, _storage_dtype(buffer, param, compute.shape, per_tensor_scalar))
            if id(stored) in seen:  # one zeros array given for two buffers: donation needs two
                stored = jnp.array(stored, copy=True)
            seen.add(id(stored))
            return stored

        return map_buffers(store, buffers, probe)

    def init(params):
        leaves, treedef = jax.tree.flatten(params)
        per_leaf = [_place_like(init_leaf(p), p) for p in leaves]
        count = jnp.zeros((), jnp.int32)  # a fresh one each time: a donated state deletes it
        scalars = _place_like((count, _hyper_values(hyperparams, count)), leaves[0] if leaves else None)
        return OptState(*scalars, _transpose(per_leaf, treedef, template))

    def update_leaf(hyper, count, param, grad, buffers):
        update, new_buffers = rule(
            hyper, count, _to_compute(param), _to_compute(grad), map_buffers(_to_compute, buffers)
        )
        new_buffers = map_buffers(lambda new, old: _to_storage(new, old.dtype), new_buffers, buffers)
        return _to_storage(update, param.dtype), new_buffers

    # Inside a jitted step, a nested jit traces the rule once per shape and dtype of leaf, not once
    # per leaf: W3's 192 tensors have 6 shapes, and its first jitted Adam step (trace, lowering,
    # compile) takes 1.6-2.3 s instead of 3.5-3.7 s (step_bench.py's first-step line). XLA inlines
    # the calls: the compiled program is the same. Called eagerly, the rule runs op by op, as
    # torch's does, and compiles nothing per optimizer.
    update_leaf_traced_once = jax.jit(update_leaf)

    def update(grads, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("jopt optimizers need `params` in update(grads, state, params), as torch does.")
        new_count = optax.safe_int32_increment(state.count)
        # The count as read back from the incremented one (``state.count`` until that saturates
        # at 2**31 - 1): had the rules read ``state.count`` while the new count is written over
        # it (a donated state), XLA would copy it first.
        count = new_count - 1
        hyper = jax.tree.map(
            lambda spec, held: _as_hyper_value(spec(count) if callable(spec) else held),
            hyperparams,
            state.hyperparams,
        )
        p_leaves, treedef = jax.tree.flatten(params)
        g_leaves = treedef.flatten_up_to(grads)
        b_fields = _field_leaves(state.buffers, treedef)
        leaf_update = update_leaf_traced_once if isinstance(new_count, jax.core.Tracer) else update_leaf
        updates, per_leaf = [], []
        for i, (p, g) in enumerate(zip(p_leaves, g_leaves)):
            buffers = type(template)(*(None if f is None else f[i] for f in b_fields))
            update, new_buffers = leaf_update(hyper, count, p, g, buffers)
            updates.append(update)
            per_leaf.append(new_buffers)
        new_state = OptState(new_count, hyper, _transpose(per_leaf, treedef, template))
        return treedef.unflatten(updates), new_state

    return optax.GradientTransformationExtraArgs(init, update)


apply_updates = optax.apply_updates


# --- helpers for rules and factories --------------------------------------------------------


def lerp(start, end, weight):
    """``torch.lerp`` with torch's CPU formula: ``start + weight * (end - start)`` when
    ``|weight| < 0.5``, else ``end - (end - start) * (1 - weight)``.

    Written as one base and one coefficient chosen by the (scalar) weight,
    ``base + coeff * (end - start)`` with ``coeff = -(1 - weight)`` for the second branch: the same
    numbers, signed zeros included (``end - x`` is ``end + (-x)`` in IEEE arithmetic; ``weight - 1``
    would differ at ``weight == 1``, giving ``-0.0`` where this gives ``0.0``), with half the
    arithmetic per element of computing both branches and selecting (W1/W2 Adam steps 2-6% faster).
    """
    weight = weight.astype(start.dtype)
    small = jnp.abs(weight) < 0.5
    return jnp.where(small, start, end) + jnp.where(small, weight, -(1 - weight)) * (end - start)


def scalar(x, like):
    """A hyperparameter expression cast to a tensor's dtype, as torch casts a Python scalar."""
    return jnp.asarray(x).astype(like.dtype)


def check(condition: Callable[[Any], bool], value, message: str) -> None:
    """Raise ``ValueError(message)`` when a concrete ``value`` fails ``condition``.

    Schedules and traced values cannot be checked ahead of time and are let through.
    """
    if callable(value) or isinstance(value, jax.core.Tracer):
        return
    if not condition(value):
        raise ValueError(message)


def check_adam_family(lr, betas, eps, weight_decay) -> None:
    """torch's checks of Adam, Adamax, NAdam and RAdam, in its order and with its messages."""
    check(lambda v: v >= 0.0, lr, f"Invalid learning rate: {lr}")
    check(lambda v: v >= 0.0, eps, f"Invalid epsilon value: {eps}")
    for i, beta in enumerate(betas):
        check(lambda v: 0.0 <= v < 1.0, beta, f"Invalid beta parameter at index {i}: {beta}")
    check(lambda v: v >= 0.0, weight_decay, f"Invalid weight_decay value: {weight_decay}")


def is_nonzero(value) -> bool:
    """Whether a hyperparameter may be non-zero.

    torch tests ``momentum != 0`` / ``weight_decay != 0`` in Python and then keeps no buffer or
    computes no term; jopt decides the same when the transformation is built, so a zero given as a
    number compiles nothing (weight decay costs a read of every parameter). Give a non-zero value
    or a schedule to vary such a hyperparameter later.
    """
    if callable(value) or isinstance(value, jax.core.Tracer):
        return True
    return bool(np.any(np.asarray(value) != 0))


def decoupled_decay(param, lr, weight_decay):
    """torch's ``param.mul_(1 - lr * weight_decay)`` (AdamW and ``decoupled_weight_decay``), as an update."""
    return scalar(-lr * weight_decay, param) * param


def gradient(grad, param, weight_decay, *, maximize: bool, decay: bool):
    """The first lines of torch's rules: negate for ``maximize``, then add coupled weight decay."""
    if maximize:
        grad = -grad
    if decay:
        grad = grad + scalar(weight_decay, param) * param
    return grad
