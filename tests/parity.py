"""The differential harness: jopt and torch run side by side on the same inputs.

Every numeric test of an optimizer goes through here: the same initial params, the same
gradient at every step (random, with leaves of very different magnitudes so ``eps`` matters),
torch's single-tensor reference path (``foreach=False``), and a comparison after every
``check_every`` steps at the tolerance of the dtype.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import torch

import jopt

RTOL = {np.float64: 1e-10, np.float32: 1e-5}
# "v" shares "w"'s shape: a jitted update traces the rule once for both (base.transformation).
SHAPES = {"w": (4, 3), "b": (3,), "k": [(2, 2, 2)], "v": (4, 3)}
# Gradient scale per leaf: a small one makes eps placement visible.
GRAD_SCALE = {"w": 1.0, "b": 1e-3, "k": [10.0], "v": 0.1}


@dataclass
class Spec:
    """One optimizer under test: its two implementations and the options to sweep."""

    name: str
    functional: Callable  # jopt.<name>
    torch_cls: type  # torch.optim.<Name>
    optim_cls: type | None = None  # jopt.optim.<Name>
    grid: dict[str, list] = field(default_factory=dict)  # option -> values, swept as a product
    vary: dict[str, list] = field(default_factory=dict)  # numeric value -> values, cycled over the grid
    valid: Callable[[dict], bool] = lambda cfg: True
    torch_extra: dict[str, Any] = field(default_factory=lambda: {"foreach": False})
    complex_ok: bool = True
    # Hooks for optimizers that need more than the defaults (None / identity / () otherwise):
    # a change of each gradient leaf, given to both sides (SparseAdam: zero out entries);
    grad_transform: Callable[[np.random.Generator, np.ndarray], np.ndarray] | None = None
    # the gradient as torch's optimizer takes it (SparseAdam: ``t.to_sparse()``);
    torch_grad: Callable[[torch.Tensor], torch.Tensor] = lambda t: t
    # buffers compared with torch's state at every check, for those the params do not show
    # (ASGD's averaged parameters ``ax``).
    check_state: tuple[str, ...] = ()

    def configs(self) -> list[dict]:
        keys = list(self.grid)
        out = [dict(zip(keys, values)) for values in itertools.product(*self.grid.values())]
        out = [c for c in out if self.valid(c)]
        for i, config in enumerate(out):
            config.update({k: values[i % len(values)] for k, values in self.vary.items()})
        return out


def x64(dtype):
    """Context enabling jax float64 when the test runs in float64."""
    return jax.enable_x64(True) if np.finfo(np.dtype(dtype)).bits == 64 else contextlib.nullcontext()


def tree_of(shapes, fn):
    return jax.tree.map(fn, shapes, is_leaf=lambda s: isinstance(s, tuple))


def random_tree(rng, dtype, scale=None):
    def leaf(shape, s=1.0):
        x = rng.standard_normal(shape) * s
        if np.issubdtype(dtype, np.complexfloating):
            x = x + 1j * rng.standard_normal(shape) * s
        return x.astype(dtype)

    if scale is None:
        return tree_of(SHAPES, leaf)
    return jax.tree.map(leaf, SHAPES, scale, is_leaf=lambda s: isinstance(s, tuple))


def tolerance(dtype) -> float:
    """The contract's relative tolerance for a dtype (complex: that of its real part)."""
    return RTOL[np.finfo(np.dtype(dtype)).dtype.type]


def assert_close(actual, expected, dtype, what=""):
    # Params are O(1): rtol doubles as atol for entries that pass near zero.
    rtol = tolerance(dtype)
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=rtol, err_msg=what)


def run_functional(spec: Spec, config: dict, dtype, *, jit: bool, steps: int = 100, check_every: int = 25,
                   transformation=None, seed: int = 0):
    """Run ``jopt.<name>(**config)`` and ``torch.optim.<Name>(**config)`` for ``steps`` steps.

    ``transformation`` replaces the jopt optimizer (the harness's own self-test uses it).
    """
    rng = np.random.default_rng(seed)
    with x64(dtype):
        params0 = random_tree(rng, dtype)
        tx = transformation if transformation is not None else spec.functional(**config)
        params = jax.tree.map(jnp.asarray, params0)
        state = tx.init(params)
        leaves0 = jax.tree.leaves(params0)
        t_params = [torch.tensor(x, requires_grad=True) for x in leaves0]
        t_opt = spec.torch_cls(t_params, **config, **spec.torch_extra)

        def step_fn(grads, state, params):
            updates, state = tx.update(grads, state, params)
            return jopt.apply_updates(params, updates), state

        step_fn = jax.jit(step_fn) if jit else step_fn
        for step in range(1, steps + 1):
            grads = random_tree(rng, dtype, GRAD_SCALE)
            if spec.grad_transform is not None:
                grads = jax.tree.map(lambda g: spec.grad_transform(rng, g), grads)
            params, state = step_fn(jax.tree.map(jnp.asarray, grads), state, params)
            for t, g in zip(t_params, jax.tree.leaves(grads)):
                t.grad = spec.torch_grad(torch.tensor(g))
            t_opt.step()
            if step % check_every == 0 or step == steps:
                what = f"{spec.name} {config} step {step}"
                for a, t in zip(jax.tree.leaves(params), t_params):
                    assert a.dtype == np.dtype(dtype), (a.dtype, dtype)
                    assert_close(a, t.detach().numpy(), dtype, what)
                for name in spec.check_state:
                    for a, t in zip(jax.tree.leaves(getattr(state.buffers, name)), t_params):
                        assert_close(a, t_opt.state[t][name].numpy(), dtype, f"{what} state {name!r}")
    return params
