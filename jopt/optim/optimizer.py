"""The torch-style layer: ``Parameter``, ``backward`` and the ``Optimizer`` base class.

The layer holds no math. Each subclass names its functional twin (``functional = jopt.adam``);
a ``step()`` runs that transformation for all param groups in one jitted call that donates the
parameters and the state buffers. The call is compiled once per *structure*: which groups
have which options (``amsgrad``, ``nesterov``...), which hyperparameters are zero (torch keeps
a momentum buffer only for non-zero momentum), and the shapes of the parameters that have
gradients. Changing ``group['lr']`` or any other value passes a new argument, not a new program.

Names are translated at this edge only: a functional buffer field (``AdamBuffers.exp_avg``) is
the torch state key of the same name. torch's per-parameter ``step`` is kept here, on the host
(a float32 scalar, as torch's): the functional state has one count for all its tensors, so
parameters with equal steps go to the transformation together, as one block with that count.
A parameter whose ``.grad`` was ``None`` for a while then forms a block of its own.

On a single CPU device the program takes one of two shapes that XLA:CPU runs faster, with the
same numbers: a small model's step (at most 24 tensors of at most 16384 elements) updates one
tensor after another in the calling thread (see ``_one_tensor_after_another``); a larger one
updates, where the rule treats each element alone, its tensors of 3 or more dimensions
(convolution kernels) on flat views, which XLA:CPU loops over twice as fast (``_on_flat_views``).
Each group's hyperparameters are passed as device scalars, reused while the group's values are;
a value an lr scheduler replaces goes in as a host scalar, with no new compile.
"""

from __future__ import annotations

import copy
import functools
import inspect
import itertools
import math
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jopt.core import base

# --- Parameter and backward -------------------------------------------------------------------


class Parameter:
    """A mutable holder for one array, standing in for ``torch.nn.Parameter``.

    ``.data`` is the current value (a ``jax.Array``; assign to replace it) and ``.grad`` is
    ``None`` or the accumulated gradient. ``step()`` replaces ``.data`` by a new array and donates
    the old one, so hold on to the Parameter, not to an old ``.data``.
    """

    __slots__ = ("data", "grad", "__weakref__")

    def __init__(self, data):
        self.data = jnp.array(data)  # a private copy: step() donates it
        self.grad = None

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    def numel(self) -> int:
        return self.data.size

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.data, dtype=dtype)

    def __repr__(self):
        return f"Parameter(shape={tuple(self.shape)}, dtype={self.dtype})"


def _is_parameter(x) -> bool:
    return isinstance(x, Parameter)


_backward_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def backward(loss_fn: Callable, params, *args, **kwargs):
    """Stand-in for ``loss.backward()``: add d loss / d param into every ``param.grad``.

    ``params`` is a Parameter, a list of them or any pytree of them; ``loss_fn`` receives the same
    structure holding the current ``.data`` arrays, then ``*args, **kwargs``, and returns a scalar.
    Returns the loss. The gradient, and its sum with the ``.grad`` already there, is one jitted
    call, compiled once per ``loss_fn`` (pass the same function each time); ``args``/``kwargs``
    must be arrays or pytrees of arrays. Complex parameters receive torch's gradient (the
    conjugate of ``jax.grad``'s).
    """
    leaves, treedef = jax.tree.flatten(params, is_leaf=_is_parameter)
    for p in leaves:
        if not isinstance(p, Parameter):
            raise TypeError(f"backward() expects Parameters, got {type(p).__name__}")
    accumulate = _backward_cache.get(loss_fn)
    if accumulate is None:
        accumulate = _backward_cache[loss_fn] = _accumulating_backward(loss_fn)
    loss, grads = accumulate(treedef, [p.data for p in leaves], [p.grad for p in leaves], args, kwargs)
    for p, g in zip(leaves, grads):
        p.grad = g
    return loss


def _accumulating_backward(loss_fn):
    """``(treedef, values, grads, args, kwargs) -> (loss, new grads)``, jitted: each new grad is
    torch's gradient, added to the old one where there is one (a ``None`` compiles no sum).
    Op by op, the sums took W3's 192 tensors 15 ms a call (31.9 against 16.7 ms in
    ``benchmarks/utils_bench.py``)."""
    value_and_grad = jax.value_and_grad(
        lambda values, treedef, args, kwargs: loss_fn(treedef.unflatten(values), *args, **kwargs)
    )

    def run(treedef, values, grads, args, kwargs):
        loss, new = value_and_grad(values, treedef, args, kwargs)
        new = [jnp.conj(g) if jnp.iscomplexobj(g) else g for g in new]
        return loss, [g if old is None else old + g for old, g in zip(grads, new)]

    return jax.jit(run, static_argnums=0)


@jax.jit
def _zeros_like(arrays):
    return [jnp.zeros_like(a) for a in arrays]


# --- hooks ----------------------------------------------------------------------------------


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods; ``.remove()`` unregisters the hook."""

    _next_id = itertools.count()

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = next(RemovableHandle._next_id)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


_global_step_pre_hooks: OrderedDict = OrderedDict()
_global_step_post_hooks: OrderedDict = OrderedDict()


def _register(hooks: OrderedDict, hook, prepend: bool = False) -> RemovableHandle:
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def register_optimizer_step_pre_hook(hook) -> RemovableHandle:
    """Register ``hook(optimizer, args, kwargs)`` to run before every optimizer's ``step()``."""
    return _register(_global_step_pre_hooks, hook)


def register_optimizer_step_post_hook(hook) -> RemovableHandle:
    """Register ``hook(optimizer, args, kwargs)`` to run after every optimizer's ``step()``."""
    return _register(_global_step_post_hooks, hook)


def torch_defaults(arguments: dict[str, Any]) -> dict[str, Any]:
    """A constructor's ``locals()`` as torch's defaults dict: every argument but ``params``
    (sequences as tuples, as torch stores ``betas``)."""
    return {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in arguments.items()
        if k not in ("self", "params", "__class__")
    }


class _RequiredParameter:
    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()

# --- translation between torch's per-parameter dicts and functional buffers -----------------

_STEP = "step"  # torch's per-parameter step count, kept by the layer (see the module doc)


def _to_numpy(value):
    """A torch tensor, numpy or jax array, or Python number as a numpy array (a copy)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor, without importing torch
        tensor = value.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":
            return np.asarray(tensor.float().numpy()).astype(jnp.bfloat16)
        return tensor.numpy().copy()
    return np.array(value)


def _to_python_scalar(value):
    """Group values from a torch state_dict may be 1-element tensors; keep numbers as numbers."""
    if hasattr(value, "detach") or isinstance(value, (np.ndarray, jax.Array)):
        return np.asarray(_to_numpy(value)).item()
    if isinstance(value, tuple):
        return tuple(_to_python_scalar(v) for v in value)
    return value


class _Config:
    """A group's functional transformation, and which of its fields the layer reads and writes."""

    def __init__(self, tx):
        empty = tx.init(())
        self.tx = tx
        self.hyper_type = type(empty.hyperparams)
        self.buffer_type = type(empty.buffers)
        self.buffer_names = tuple(n for n, v in zip(empty.buffers._fields, empty.buffers) if v is not None)
        self.no_buffers = empty.buffers if not self.buffer_names else None  # SGD without momentum
        # The state of parameters without one, in one compiled call: eagerly, each buffer of each
        # new shape compiles an op of its own (W2 Adam: 1.5 s of a 3.3 s first step in a new
        # process). On one device only: there jit places the state where eager ``init`` would.
        self._init = jax.jit(tx.init) if jax.device_count() == 1 else tx.init

    def initial_buffers(self, params: list):
        """The buffers of ``params``, which have no state yet; a rule without buffers makes none."""
        if not self.buffer_names:
            return self.no_buffers
        return self._init([p.data for p in params]).buffers


def _apply(tx, params, grads, buffers, hyper, count):
    state = base.OptState(jnp.asarray(count, jnp.int32), hyper, buffers)
    updates, state = tx.update(grads, state, params)
    return base.apply_updates(params, updates), state.buffers


# --- Optimizer ------------------------------------------------------------------------------


class Optimizer:
    """Base class of the torch-style optimizers: torch's ``torch.optim.Optimizer`` API.

    Subclasses set ``functional`` (the factory of their functional twin) and call
    ``super().__init__(params, defaults)`` with torch's defaults dict.
    """

    functional: ClassVar[Callable]
    # The type of torch's state['step']: a float32 scalar tensor, a Python int (SparseAdam), or
    # None where torch keeps no step (SGD, Muon, LBFGS).
    _step_type: ClassVar[type | None] = np.float32
    # Each element's update reads that element only (true of all but Adafactor, Muon and LBFGS):
    # the layer may then run the rule on 1-D views of the tensors (see _on_flat_views).
    _elementwise: ClassVar[bool] = False

    def __init__(self, params, defaults: dict[str, Any]):
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict = OrderedDict()
        self._configs: dict = {}
        self._step_fns: dict = {}
        self._group_values: dict = {}  # id(group) -> _GroupValues: what was last made of it
        self.trace_count = 0  # how many times step() has been traced (compiled); for tests and benchmarks
        self._functional_args = frozenset(inspect.signature(type(self).functional).parameters)
        self._hyper_names: frozenset | None = None  # the functional's hyperparameters, known once one is built
        if not any(v is required for v in defaults.values()):
            self._config(defaults)  # validates the defaults with the functional factory's ValueErrors

        if isinstance(params, Parameter):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Parameters or dicts, "
                f"but got {type(params).__name__}"
            )
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # -- torch's public API --

    def __repr__(self) -> str:
        out = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            out += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    out += f"    {key}: {group[key]}\n"
        return out + ")"

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group, with torch's checks and defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Parameter):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of "
                "tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        group = dict(param_group, params=params)
        if names:
            if len(names) != len(params):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are missing"
                )
            group["param_names"] = names
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"optimizer can only optimize Parameters, but one of the params is {type(p).__name__}"
                )
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(
                    f"parameter group didn't specify a value of required optimization parameter {name}"
                )
            group.setdefault(name, default)
        seen = set()
        for other in self.param_groups:
            seen.update(map(id, other["params"]))
            if ("param_names" in group) != ("param_names" in other):
                which = "with names" if "param_names" in group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        param_group.clear()
        param_group.update(group)  # torch edits the caller's dict in place
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad`` (to ``None``, or to zeros)."""
        with_grad = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        zeros = [None] * len(with_grad) if set_to_none else _zeros_like([p.grad for p in with_grad])
        for p, zero in zip(with_grad, zeros):
            p.grad = zero

    def step(self, closure: Callable[[], Any] | None = None):
        """Run ``closure`` (if given, for the loss), then one update of every parameter with a grad."""
        args, kwargs = (closure,), {}
        for hook in itertools.chain(_global_step_pre_hooks.values(), self._optimizer_step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        f"{self.step} must return None or a tuple of (new_args, new_kwargs), but got {result}."
                    )
                args, kwargs = result
        out = self._step(*args, **kwargs)
        self._opt_called = True
        for hook in itertools.chain(self._optimizer_step_post_hooks.values(), _global_step_post_hooks.values()):
            hook(self, args, kwargs)
        return out

    def register_step_pre_hook(self, hook) -> RemovableHandle:
        return _register(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook) -> RemovableHandle:
        return _register(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        return _register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        return _register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        return _register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        return _register(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    def state_dict(self) -> dict[str, Any]:
        """torch's layout: ``{'state': {index: {key: array}}, 'param_groups': [{..., 'params': [index]}]}``.

        Arrays are fresh copies, so the dict stays valid across later (donating) steps.
        """
        for hook in self._optimizer_state_dict_pre_hooks.values():
            hook(self)
        index: dict[int, int] = {}
        param_groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            param_groups.append(packed)
        state = {
            index[id(p)]: {k: _export_buffer(v) for k, v in s.items()}
            for p, s in self.state.items()
            if isinstance(p, Parameter) and id(p) in index
        }
        state_dict = {"state": state, "param_groups": param_groups}
        for hook in self._optimizer_state_dict_post_hooks.values():
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a jopt or torch state_dict. On any error nothing changes."""
        state_dict = dict(state_dict)
        for hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
            )
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            new_group = {k: _to_python_scalar(v) for k, v in saved.items() if k != "params"}
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            new_groups.append(new_group)
        id_map = dict(
            zip(
                itertools.chain.from_iterable(g["params"] for g in saved_groups),
                itertools.chain.from_iterable(g["params"] for g in groups),
            )
        )
        group_of = {id(p): g for g in new_groups for p in g["params"]}
        new_state: defaultdict = defaultdict(dict)
        for key, saved_state in state_dict["state"].items():
            if key not in id_map:
                new_state[key] = saved_state
                continue
            param = id_map[key]
            new_state[param] = self._import_state(key, param, saved_state, self._config(group_of[id(param)]))
        self.state = new_state
        self.param_groups = new_groups
        for hook in self._optimizer_load_state_dict_post_hooks.values():
            hook(self)

    def _import_state(self, index, param: Parameter, saved: dict, config: _Config) -> dict:
        """One parameter's saved state, converted and checked (ValueError on any mismatch)."""
        return _import_state(index, param, saved, config, self._step_type)

    # -- the step --

    def _config(self, group) -> _Config:
        """The functional transformation for a group's options, cached by structure: of its
        hyperparameters only whether they are zero, of every other option (``nesterov``, Muon's
        ``ns_steps``...) the value itself, since it is compiled into the program."""
        options = {k: v for k, v in group.items() if k in self._functional_args}
        config = None
        if self._hyper_names is None:
            config = _Config(self._transformation(options))
            self._hyper_names = frozenset(config.hyper_type._fields)
        key = tuple(
            sorted((k, _structure(v) if k in self._hyper_names else _static(v)) for k, v in options.items())
        )
        if key not in self._configs:
            self._configs[key] = config or _Config(self._transformation(options))
        return self._configs[key]

    def _init_state(self) -> None:
        """Create the state of every parameter now (torch's Adagrad does so in its constructor)."""
        for group in self.param_groups:
            config = self._config(group)
            missing = [p for p in group["params"] if not self.state.get(p)]
            if missing and config.buffer_names:
                buffers = config.initial_buffers(missing)
                for i, p in enumerate(missing):
                    self.state[p].update((name, getattr(buffers, name)[i]) for name in config.buffer_names)
                    if self._step_type is not None:
                        self.state[p][_STEP] = self._step_type(0)

    def _transformation(self, options: dict[str, Any]):
        """The functional transformation for a group's options (the factory's arguments).

        The one place a subclass may wrap it, e.g. to place its state on a device mesh
        (:class:`jopt.optim.ZeroRedundancyOptimizer`); it must keep the state's type.
        """
        return type(self).functional(**options)

    def _step(self, closure=None):
        loss = None
        if closure is not None:
            loss = closure()
        self._update()
        return loss

    def _update(self) -> None:
        """One jitted call for all groups. A group's parameters with grads form one block per
        step count: the parameters without state yet (their buffers come from ``init``, at count
        0), and those with state, by their ``step`` (usually one block). Where the rule allows,
        tensors of 3 or more dimensions form blocks of their own, updated on flat views."""
        flat_views = self._elementwise and _single_cpu_device()
        blocks, args = [], []  # blocks: (config, parameters, count, flat), args: the jitted call's per block
        for group in self.param_groups:
            config, hyper = self._config_and_hyperparams(group)
            by_count: dict = {}
            for p in group["params"]:
                if p.grad is not None:
                    state = self.state.get(p)
                    # None: no state yet. Without a step kept (SGD), count 1 only marks an update
                    # that is not the first (SGD's momentum buffer starts from the gradient).
                    count = None if not state else 1 if self._step_type is None else int(state[_STEP])
                    by_count.setdefault((count, flat_views and p.ndim > 2), []).append(p)
            for (count, flat), block in by_count.items():
                if count is None:
                    # A rule without buffers keeps no state, so its every step lands here: no init.
                    buffers = config.initial_buffers(block)
                else:
                    block_states = [self.state[p] for p in block]
                    buffers = config.buffer_type(
                        *(
                            # .get: a buffer may exist for some parameters only (Adafactor's row_var)
                            [state.get(name) for state in block_states] if name in config.buffer_names else None
                            for name in config.buffer_type._fields
                        )
                    )
                count = count or 0
                blocks.append((config, block, count, flat))
                args.append((hyper, count, [p.data for p in block], buffers, [p.grad for p in block]))
        key = tuple((id(config), flat) for config, _, _, flat in blocks)
        step_fn = self._step_fns.get(key)
        if step_fn is None:
            step_fn = self._step_fns[key] = self._compile(
                [config.tx for config, *_ in blocks], [flat for *_, flat in blocks]
            )
        new_params, new_buffers = step_fn(*(zip(*args) if args else ((),) * 5))
        for (config, block, count, _), block_params, block_buffers in zip(blocks, new_params, new_buffers):
            for p, value in zip(block, block_params):
                p.data = value
            block_states = [self.state[p] for p in block]
            for name in config.buffer_names:
                for state, value in zip(block_states, getattr(block_buffers, name)):
                    if value is not None:
                        state[name] = value
            if self._step_type is not None:
                step = self._step_type(count + 1)
                for state in block_states:
                    state[_STEP] = step

    def _config_and_hyperparams(self, group):
        """The group's transformation (:meth:`_config`) and its hyperparameters as scalars for the
        jitted step, both reused while no value in the group is replaced.

        Passed as Python numbers, the hyperparameters would be copied to the device on every
        call, and ``_config`` sorts the group's options into a key: W4 (a 12-tensor MLP) steps
        7-13% faster with both reused (docs/performance.md). Identity, not equality, tells a
        replaced value (``-0.0 == 0.0``, ``nan != nan``); a list edited in place (``betas``) shows
        in its leaves, and a group holding a mutable array is not reused. An lr scheduler replaces
        a value every step: then the transformation is kept unless a value went to or from zero,
        and the new number goes in as a host scalar, as the step's call copies it for about 4 us
        where a device scalar costs a call of its own (58 us between two W4 steps).
        """
        options = {k: v for k, v in group.items() if k in self._functional_args}
        leaves, structure = jax.tree.flatten(options)
        cached = self._group_values.get(id(group))
        if cached is not None and cached.structure != structure:
            cached = None
        if cached is None:
            config = self._config(group)
        else:
            changed = [i for i, (new, old) in enumerate(zip(leaves, cached.leaves)) if new is not old]
            if not changed:
                return cached.config, cached.hyper
            same_program = all(
                cached.leaf_names[i] in self._hyper_names and _structure(leaves[i]) == _structure(cached.leaves[i])
                for i in changed
            )
            config = cached.config if same_program else self._config(group)
        numbers, treedef = jax.tree.flatten(
            config.hyper_type(*(_hyper_number(group[name]) for name in config.hyper_type._fields))
        )
        if cached is not None and cached.config is config:
            scalars = [
                old_scalar if _same_number(new, old) else np.asarray(new, base.float_dtype())
                for new, old, old_scalar in zip(numbers, cached.numbers, jax.tree.leaves(cached.hyper))
            ]
        else:
            scalars = _device_scalars(numbers)
        hyper = treedef.unflatten(scalars)
        if all(isinstance(v, _IMMUTABLE) for v in leaves):  # a numpy lr may be edited in place
            leaf_names = cached.leaf_names if cached is not None else _leaf_names(options)
            self._group_values[id(group)] = _GroupValues(leaves, structure, leaf_names, config, numbers, hyper)
        return config, hyper

    def _compile(self, txs, flat):
        """The jitted step of these blocks: one tensor after another for a small model, else
        block ``i`` on flat views if ``flat[i]``."""

        # The argument order is not cosmetic: XLA:CPU's scheduler follows it. With the scalars
        # first (as in the functional state), it runs each tensor's exp_avg and exp_avg_sq loops
        # back to back, so the gradient is read from memory once, not twice (W3 Adam: -1 ms).
        def step_fn(hypers, counts, params, buffers, grads):
            self.trace_count += 1

            def apply(i, params, buffers, grads):
                return _apply(txs[i], params, grads, buffers, hypers[i], counts[i])

            if _runs_one_tensor_after_another(params):
                start = _zero_at_run_time(counts[0])
                return _one_tensor_after_another(apply, params, buffers, grads, start)
            new = [None if flat[i] else apply(i, params[i], buffers[i], grads[i]) for i in range(len(txs))]
            looped = [i for i in range(len(txs)) if flat[i]]
            if looped:
                results = _on_flat_views(
                    lambda carried, grads: tuple(apply(i, *pb, g) for i, pb, g in zip(looped, carried, grads)),
                    carried=tuple((params[i], buffers[i]) for i in looped),
                    read_only=tuple(grads[i] for i in looped),
                    start=_zero_at_run_time(counts[looped[0]]),
                )
                for i, result in zip(looped, results):
                    new[i] = result
            return tuple(r[0] for r in new), tuple(r[1] for r in new)

        # Hoisted out of a loop, a term of the gradient alone (Adam's (1 - beta2) * grad**2)
        # would be one more array written and read, and one more kernel outside the chain.
        options = _KEEP_LOOP_BODIES if _single_cpu_device() else None
        return jax.jit(step_fn, donate_argnums=(2, 3), compiler_options=options)


_IMMUTABLE = (int, float, str, jax.Array)  # bool is an int; None is no leaf


class _GroupValues(NamedTuple):
    """What ``Optimizer._config_and_hyperparams`` last made of a group."""

    leaves: list  # the group's option values it was made from
    structure: Any
    leaf_names: list  # the option each leaf belongs to
    config: _Config
    numbers: list  # the hyperparameters, flat, as Python floats
    hyper: Any  # the same as the step's scalars (device ones, host ones for replaced numbers)


def _leaf_names(options: dict) -> list:
    """The option each leaf of ``jax.tree.leaves(options)`` belongs to."""
    return jax.tree.leaves({k: jax.tree.map(lambda _, k=k: k, v) for k, v in options.items()})


def _same_number(a: float, b: float) -> bool:
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)  # -0.0 is not 0.0


_KEEP_LOOP_BODIES = {"xla_disable_hlo_passes": "while-loop-invariant-code-motion"}


@functools.cache
def _single_cpu_device() -> bool:
    """Whether the arrays are on XLA:CPU and cannot be sharded (one device)."""
    return jax.default_backend() == "cpu" and jax.device_count() == 1


def _zero_at_run_time(count):
    """0, from a step count (never negative), but not known to be 0 before run time."""
    return jnp.minimum(count, 0)


def _run_once(fn, carried, start):
    """``fn(carried)`` inside a loop that runs while its count is 0, from ``start``: once, when
    ``start`` is 0 at run time (:func:`_zero_at_run_time`), which XLA cannot unroll, so the body
    keeps its boundary. Returns the count the loop ended at (``start + 1``) and the new ``carried``."""
    body = lambda loop: (loop[0] + 1, fn(loop[1]))
    return jax.lax.while_loop(lambda loop: loop[0] == 0, body, (start, carried))


def _on_flat_views(fn, carried, read_only, start):
    """``fn(carried, read_only)``, which returns the new ``carried``, computed on 1-D views of
    every tensor, inside a loop that runs once (:func:`_run_once`).

    XLA:CPU loops over each tensor in its own shape, and over a convolution kernel's trailing
    ``[3, 3]`` at half speed. Reshaping alone is undone (XLA folds a reshape into the loops that
    read it), but not across a loop's boundary. Only for rules that treat each element alone.
    """
    flatten = lambda tree: jax.tree.map(lambda x: x.reshape(-1) if x.ndim > 1 else x, tree)
    read_only = flatten(read_only)
    _, new = _run_once(lambda carried: fn(carried, read_only), flatten(carried), start)
    return jax.tree.map(lambda n, old: n.reshape(old.shape), new, carried)


# A step of at most this many tensors, each of at most this many elements, runs them one after
# another (W4: 12 tensors, 0.74-0.91x the time of all at once; 24 tensors of 256 elements 0.88-0.96x,
# 48 of them 1.03x, 96 1.06x: a tensor's run-once loop costs more than its kernels on the pool).
_ONE_AFTER_ANOTHER_MAX_TENSORS = 24
_ONE_AFTER_ANOTHER_MAX_SIZE = 16384


def _runs_one_tensor_after_another(params) -> bool:
    """Whether a step over these blocks of parameters runs one tensor after another."""
    sizes = [p.size for block in params for p in block]
    return (
        _single_cpu_device()
        and 0 < len(sizes) <= _ONE_AFTER_ANOTHER_MAX_TENSORS
        and max(sizes, default=0) <= _ONE_AFTER_ANOTHER_MAX_SIZE
    )


def _one_tensor_after_another(apply, params, buffers, grads, start):
    """``apply(i, params[i], buffers[i], grads[i])`` for every block ``i``, one tensor at a time:
    each tensor in a run-once loop (:func:`_run_once`) that starts from the count the previous
    one ended at, all of them inside one run-once loop.

    XLA:CPU's runtime hands the kernels of a program to its thread pool unless there are at most
    8 of them or each depends on the one before, and for the microsecond kernels of a small model
    the handing over costs more than the kernels (docs/performance.md). Here the program is one
    loop whose body is a chain of loops, and each of those holds one tensor's few kernels: all run
    in the calling thread. The numbers are the same: the same operations on the same tensors.
    """
    tensors = [(i, j) for i, block in enumerate(params) for j in range(len(block))]

    def one_tensor(i, j):
        return lambda tensor: apply(i, *tensor, [grads[i][j]])

    def chain(carried):
        new, next_start = [], start
        for (i, j), tensor in zip(tensors, carried):
            end, tensor = _run_once(one_tensor(i, j), tensor, next_start)
            next_start = end - 1  # 0: the next loop runs once, after this one
            new.append(tensor)
        return new

    carried = [([params[i][j]], base.map_buffers(lambda b: [b[j]], buffers[i])) for i, j in tensors]
    _, new = _run_once(chain, carried, start)
    new_params = [[] for _ in params]
    new_buffers = [base.map_buffers(lambda _: [], block) for block in buffers]
    for (i, _), (tensor_params, tensor_buffers) in zip(tensors, new):
        new_params[i] += tensor_params
        for field, values in zip(new_buffers[i], tensor_buffers):
            if field is not None:
                field += values
    return tuple(new_params), tuple(new_buffers)


def _structure(value):
    """What of an option value decides the compiled program: options themselves, and of numbers
    only whether they are zero (torch allocates buffers by it)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):  # the common case, checked every step: keep it cheap
        return value != 0
    if isinstance(value, (tuple, list)):
        return tuple(_structure(v) for v in value)
    if callable(value):
        return value
    return bool(np.asarray(value) != 0)


def _static(value):
    """An option compiled into the program, as a cache key."""
    if isinstance(value, (tuple, list)):
        return tuple(_static(v) for v in value)
    if isinstance(value, (np.ndarray, jax.Array)):
        return np.asarray(value).item()
    return value


def _hyper_number(value):
    """A group value as the number the step receives (tuples and ``None`` kept)."""
    if value is None:  # an optional entry (Adafactor's eps=(None, 1e-3)), part of the structure
        return None
    if isinstance(value, (tuple, list)):
        return tuple(_hyper_number(v) for v in value)
    return float(value)


@jax.jit
def _device_scalars(numbers):
    """Python numbers as device scalars, all in one call: made one at a time (``jnp.asarray``),
    each costs an eager XLA call, 80-110 us, and an lr scheduler changes a group every step."""
    return jax.tree.map(lambda v: jnp.asarray(v, base.float_dtype()), numbers)


def _export_buffer(value):
    if isinstance(value, (list, tuple)):  # LBFGS keeps lists of tensors
        return [_export_buffer(v) for v in value]
    if value is None or isinstance(value, (int, float)):  # and Python numbers
        return value
    return jnp.array(value, copy=True)  # 'step' too: a float32 scalar, as torch keeps it


def _import_state(index, param: Parameter, saved: dict, config: _Config, step_type) -> dict:
    """Convert and check one parameter's saved state; raise ValueError on any mismatch."""
    saved = {k: v for k, v in saved.items() if v is not None}  # torch may store None buffers
    if not saved:
        return {}
    expected = jax.eval_shape(config.tx.init, [param.data]).buffers
    # A buffer may exist for some parameters only (Adafactor's row_var: 2+ dims).
    names = [n for n in config.buffer_names if getattr(expected, n)[0] is not None]
    missing = [n for n in names + ([_STEP] if step_type else []) if n not in saved]
    if missing:
        raise ValueError(f"state of parameter {index} lacks {missing}; it has {sorted(saved)}")
    out = {}
    for name, value in saved.items():
        array = _to_numpy(value)
        if name == _STEP and step_type:
            if array.shape != ():
                raise ValueError(f"state 'step' of parameter {index} has shape {array.shape}, expected ()")
            out[name] = step_type(np.rint(array))  # torch's float step holds an integer
            continue
        if name not in config.buffer_names:
            out[name] = jnp.asarray(array)  # kept as torch keeps state it does not know
            continue
        if name not in names:
            raise ValueError(
                f"state {name!r} of parameter {index} is not kept for a parameter of shape {tuple(param.shape)}"
            )
        want = getattr(expected, name)[0]
        if array.shape != want.shape:
            raise ValueError(
                f"state {name!r} of parameter {index} has shape {array.shape}, expected {want.shape} "
                f"for a parameter of shape {tuple(param.shape)}"
            )
        out[name] = jnp.asarray(array.astype(want.dtype))
    return out


def to_torch(state_dict: dict[str, Any]) -> dict[str, Any]:
    """A jopt state_dict as one ``torch.optim.<Same>.load_state_dict`` accepts (torch tensors)."""
    import torch

    def tensor(value):
        if isinstance(value, (list, tuple)):
            return [tensor(v) for v in value]
        if value is None or isinstance(value, (int, float)):
            return value
        array = np.asarray(value)
        if array.dtype == jnp.bfloat16:
            return torch.from_numpy(array.astype(np.float32)).to(torch.bfloat16)
        return torch.from_numpy(array.copy())

    return {
        "state": {
            i: {k: tensor(v) for k, v in s.items()}
            for i, s in state_dict["state"].items()
        },
        "param_groups": copy.deepcopy(state_dict["param_groups"]),
    }
