"""``jopt.optim.LBFGS``: torch's ``torch.optim.LBFGS`` running :func:`jopt.lbfgs`'s state machine.

A torch closure is Python, so it cannot run inside ``lax.while_loop``: this class drives
:func:`jopt.core.lbfgs.advance` (jitted) from a Python loop instead, calling the closure wherever
the state machine asks for an evaluation. ``advance`` is the very function ``jopt.lbfgs`` loops
over; the class holds no math, only the layout: torch's state (``old_dirs`` etc. as lists, under
the first parameter) <-> the functional ring buffers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jopt
import jopt.core.lbfgs
from jopt.core import base
from jopt.core.lbfgs import DONE, LBFGSBuffers, LBFGSHyperparams, advance, flatten, init_buffers, start, unflatten
from jopt.optim.optimizer import Optimizer, Parameter, _Config, _device_scalars, _to_numpy, torch_defaults

# Jitted: op by op, a flatten or unflatten is an eager call per tensor and per operation, and a
# step calls them once per function evaluation (W4, 20 iterations: 240 against torch's 54 ms a step).
_flatten = jax.jit(flatten)
_unflatten = jax.jit(unflatten)


@jax.jit
def _history_rows(b: LBFGSBuffers, rows):
    """torch's history lists (oldest first) from the ring buffers: each row its own array, all in
    one call (op by op, a full history of 100 cost a W4 step 100 ms). Compiled once per length."""
    k = rows.shape[0]
    return [list(b.old_dirs[rows]), list(b.old_stps[rows]), list(b.ro[rows]), list(b.al[:k])]


@jax.jit
def _with_history(b: LBFGSBuffers, old_dirs, old_stps, ro, al):
    """The ring buffers holding torch's history lists (oldest first, from row 0), in one call:
    the inverse of :func:`_history_rows`. Compiled once per length."""

    def put(buffer, rows):
        return buffer.at[: len(rows)].set(jnp.stack([jnp.asarray(r, buffer.dtype) for r in rows])) if rows else buffer

    return b._replace(
        old_dirs=put(b.old_dirs, old_dirs),
        old_stps=put(b.old_stps, old_stps),
        ro=put(b.ro, ro),
        al=put(b.al, al),
        history_start=jnp.zeros((), jnp.int32),
        history_len=jnp.asarray(len(old_dirs), jnp.int32),
    )


_ARRAYS = ("d", "prev_flat_grad")
_LISTS = ("old_dirs", "old_stps", "ro", "al")


class LBFGS(Optimizer):
    __doc__ = jopt.core.lbfgs.__doc__
    functional = staticmethod(jopt.lbfgs)
    _step_type = None  # torch keeps no 'step' for it

    def __init__(
        self,
        params,
        lr=1,
        max_iter=20,
        max_eval=None,
        tolerance_grad=1e-7,
        tolerance_change=1e-9,
        history_size=100,
        line_search_fn=None,
    ):
        jopt.core.lbfgs.check_args(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, torch_defaults(locals()))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]
        self._advance = {}

    def step(self, closure):  # closure is required, as in torch
        """One L-BFGS step: ``closure`` (zero_grad, ``jopt.optim.backward``, return the loss) is
        called as often as torch calls it. Returns the first loss."""
        return super().step(closure)

    def _step(self, closure):
        if len(self.param_groups) != 1:
            raise AssertionError(f"Expected exactly one param_group, but got {len(self.param_groups)}")
        group = self.param_groups[0]
        line_search = group["line_search_fn"] is not None
        hyper = _device_scalars(LBFGSHyperparams(*(float(group[k]) for k in LBFGSHyperparams._fields)))
        step_fn = self._advance.get(line_search)
        if step_fn is None:
            step_fn = self._advance[line_search] = jax.jit(
                lambda h, c, f, g: advance(h, c, f, g, line_search=line_search)
            )
        like = [p.data for p in self._params]
        x = _flatten(like)
        carry = start(self._buffers(x, int(group["history_size"])), x)
        orig_loss = closure()
        carry = step_fn(hyper, carry, float(orig_loss), self._flat_grad(like))
        if int(carry.phase) != DONE and line_search and group["line_search_fn"] != "strong_wolfe":
            raise RuntimeError("only 'strong_wolfe' is supported")
        while int(carry.phase) != DONE:
            self._set_params(_unflatten(carry.x_eval, like))
            loss = float(closure())
            carry = step_fn(hyper, carry, loss, self._flat_grad(like))
        self._set_params(_unflatten(carry.x, like))
        self._store(carry.buffers)
        return orig_loss

    # -- layout: params and torch's state <-> flat vectors and ring buffers --

    def _flat_grad(self, like):
        return _flatten([jnp.zeros_like(d) if p.grad is None else p.grad for p, d in zip(self._params, like)])

    def _set_params(self, values):
        for p, v in zip(self._params, values):
            p.data = v

    def _buffers(self, x, history_size: int) -> LBFGSBuffers:
        """The functional buffers from torch's state dict (kept under the first parameter)."""
        b = init_buffers(x.shape[0], x.dtype, history_size)
        state = self.state.get(self._params[0]) or {}
        hdt = base.float_dtype()
        b = b._replace(
            func_evals=jnp.asarray(state.get("func_evals", 0), jnp.int32),
            n_iter=jnp.asarray(state.get("n_iter", 0), jnp.int32),
        )
        if "d" not in state:
            return b
        as_x = lambda v: jnp.asarray(v, x.dtype)
        old = [list(state[k])[-history_size:] for k in ("old_dirs", "old_stps", "ro")]
        al = [0.0 if v is None else v for v in list(state.get("al") or [])[:history_size]]
        b = _with_history(b, *old, al)
        return b._replace(
            d=as_x(state["d"]),
            t=jnp.asarray(state["t"], hdt),
            H_diag=as_x(state["H_diag"]),
            prev_flat_grad=as_x(state["prev_flat_grad"]),
            prev_loss=jnp.asarray(state["prev_loss"], hdt),
        )

    def _store(self, b: LBFGSBuffers) -> None:
        """torch's state layout from the functional buffers."""
        n_iter = int(b.n_iter)
        state = {"func_evals": int(b.func_evals), "n_iter": n_iter}
        if n_iter >= 1:
            m, k, first = b.ro.shape[0], int(b.history_len), int(b.history_start)
            old_dirs, old_stps, ro, al = _history_rows(b, np.arange(first, first + k) % m)
            state.update(
                d=b.d,
                t=float(b.t),
                old_dirs=old_dirs,
                old_stps=old_stps,
                ro=ro,
                H_diag=b.H_diag,
                prev_flat_grad=b.prev_flat_grad,
                prev_loss=float(b.prev_loss),
            )
            if n_iter >= 2:  # torch creates 'al' in its first two-loop recursion
                state["al"] = al + [None] * (m - k)
        self.state[self._params[0]] = state

    def _import_state(self, index, param: Parameter, saved: dict, config: _Config) -> dict:
        n = sum(2 * p.data.size if jnp.iscomplexobj(p.data) else p.data.size for p in self._params)
        dtype = flatten([p.data for p in self._params]).dtype
        out = {}
        for key, value in saved.items():
            if key in _LISTS:
                out[key] = [None if v is None else jnp.asarray(_to_numpy(v).astype(dtype)) for v in value]
            elif isinstance(value, (int, float)) or value is None:
                out[key] = value
            else:
                out[key] = jnp.asarray(_to_numpy(value))
        for key in _ARRAYS:
            if key in out and out[key].shape != (n,):
                raise ValueError(f"state {key!r} has shape {out[key].shape}, expected {(n,)}")
        for key in ("old_dirs", "old_stps"):
            for v in out.get(key, []):
                if v.shape != (n,):
                    raise ValueError(f"an entry of state {key!r} has shape {v.shape}, expected {(n,)}")
        if "d" in out and not all(k in out for k in ("t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss")):
            raise ValueError(f"incomplete LBFGS state: {sorted(out)}")
        return out
