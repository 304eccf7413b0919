"""Checkpoints with orbax-checkpoint (``pip install jopt[checkpoint]``; imported on first use).

Functional state (any pytree of arrays: params, ``OptState``, both together)::

    jopt.checkpoint.save(path, {"params": params, "opt": state})
    restored = jopt.checkpoint.restore(path, like={"params": params, "opt": state})

``like`` gives the structure, shapes, dtypes and shardings to restore into (arrays or
``jax.ShapeDtypeStruct``s): sharded arrays are written and read shard by shard.

The torch-style layer (params, state, param_groups and optionally a scheduler)::

    jopt.checkpoint.save_optimizer(path, optimizer, scheduler)
    jopt.checkpoint.restore_optimizer(path, optimizer, scheduler)

A checkpoint that does not match (other structure, shapes, dtypes, optimizer class, groups) or
cannot be read raises ``ValueError`` before anything is changed.
"""

from __future__ import annotations

import logging
import os

import jax
import numpy as np

_FORMAT = "jopt/1"


def _ocp():
    try:
        import orbax.checkpoint as ocp
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("jopt.checkpoint needs orbax-checkpoint: pip install 'jopt[checkpoint]'") from e
    return ocp


def _describe(tree) -> list[list]:
    """``[[key path, shape, dtype], ...]`` of a pytree's leaves."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [[jax.tree_util.keystr(k), list(np.shape(x)), str(np.dtype(x.dtype))] for k, x in leaves]


def _abstract(tree):
    def leaf(x):
        return jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=getattr(x, "sharding", None))

    return jax.tree.map(leaf, tree)


def _write(path, arrays, meta: dict, force: bool) -> None:
    ocp = _ocp()
    path = os.path.abspath(os.fspath(path))
    with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as ckptr:
        ckptr.save(
            path,
            args=ocp.args.Composite(arrays=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)),
            force=force,
        )


def _read(path, **items):
    """Restore the named items (``meta``: JSON; ``arrays``: an abstract tree); ValueError if unreadable."""
    ocp = _ocp()
    path = os.path.abspath(os.fspath(path))
    args = {}
    if "meta" in items:
        args["meta"] = ocp.args.JsonRestore()
    if "arrays" in items:
        args["arrays"] = ocp.args.StandardRestore(items["arrays"])
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # orbax warns about the items not asked for
    try:
        with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as ckptr:
            out = ckptr.restore(path, args=ocp.args.Composite(**args))
    except Exception as e:  # noqa: BLE001 - any failure to read is reported the same way
        raise ValueError(f"cannot read the jopt checkpoint at {path}: {type(e).__name__}: {e}") from e
    finally:
        absl.setLevel(level)
    meta = out["meta"] if "meta" in items else None
    if meta is not None and (not isinstance(meta, dict) or meta.get("format") != _FORMAT):
        raise ValueError(f"{path} is not a jopt checkpoint (format {meta.get('format') if isinstance(meta, dict) else meta!r})")
    return out


def _check_layout(saved: list, wanted: list, what: str) -> None:
    saved = [tuple(map(str, s)) for s in saved]
    wanted = [tuple(map(str, w)) for w in wanted]
    if saved == wanted:
        return
    only_saved = [s for s in saved if s not in wanted][:5]
    only_wanted = [w for w in wanted if w not in saved][:5]
    raise ValueError(
        f"checkpoint does not match {what}: (path, shape, dtype) only in the checkpoint: {only_saved}; "
        f"only in {what}: {only_wanted}"
    )


# --- functional -----------------------------------------------------------------------------


def save(path, tree, *, force: bool = False) -> None:
    """Write a pytree of arrays (params, an ``OptState``...) to the directory ``path``.

    ``force=True`` overwrites an existing checkpoint. In a multi-process run every process calls
    it with the same ``path`` (each writes its shards).
    """
    _write(path, tree, {"format": _FORMAT, "kind": "tree", "leaves": _describe(tree)}, force)


def restore(path, like):
    """Read a checkpoint written by :func:`save` into the structure, dtypes and shardings of ``like``.

    Raises ``ValueError`` when the checkpoint is unreadable or its leaves (key paths, shapes,
    dtypes) differ from ``like``'s.
    """
    meta = _read(path, meta=True)["meta"]
    if meta.get("kind") != "tree":
        raise ValueError(f"{path} holds a {meta.get('kind')!r} checkpoint; use restore_optimizer")
    _check_layout(meta["leaves"], _describe(like), "`like`")
    return _read(path, arrays=_abstract(like))["arrays"]


# --- jopt.optim -----------------------------------------------------------------------------


def _encode(value):
    """param_groups / scheduler values as JSON (tuples tagged, numbers as Python numbers)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return {"__items__": [[_encode(k), _encode(v)] for k, v in value.items()]}
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (np.generic, np.ndarray, jax.Array)) and np.ndim(value) == 0:
        return np.asarray(value).item()
    raise TypeError(f"cannot put a {type(value).__name__} ({value!r}) in a jopt checkpoint")


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(_decode(v) for v in value["__tuple__"])
        if set(value) == {"__items__"}:
            return {_decode(k) if not isinstance(k, list) else tuple(k): _decode(v) for k, v in value["__items__"]}
        return {k: _decode(v) for k, v in value.items()}
    return value


def _params(optimizer) -> list:
    """The optimizer's Parameters in state_dict index order."""
    seen, out = set(), []
    for group in optimizer.param_groups:
        for p in group["params"]:
            if id(p) not in seen:
                seen.add(id(p))
                out.append(p)
    return out


def save_optimizer(path, optimizer, scheduler=None, *, force: bool = False) -> None:
    """Write a ``jopt.optim`` optimizer (its params' values, state, param_groups) and optionally
    its scheduler to the directory ``path``."""
    sd = optimizer.state_dict()
    params = _params(optimizer)
    arrays = {
        "params": [p.data for p in params],
        "state": {str(i): dict(s) for i, s in sd["state"].items()},
    }
    meta = {
        "format": _FORMAT,
        "kind": "optimizer",
        "optimizer": type(optimizer).__name__,
        "param_groups": _encode(sd["param_groups"]),
        "scheduler": None if scheduler is None else [type(scheduler).__name__, _encode(scheduler.state_dict())],
        "params": _describe(arrays["params"]),
        "state": {
            i: {name: [list(np.shape(v)), str(np.dtype(v.dtype))] for name, v in s.items()}
            for i, s in arrays["state"].items()
        },
    }
    _write(path, arrays, meta, force)


def restore_optimizer(path, optimizer, scheduler=None) -> None:
    """Load a checkpoint written by :func:`save_optimizer` into ``optimizer`` (and ``scheduler``).

    Everything is checked before anything changes: the optimizer class, the groups and their
    sizes, every param's shape and dtype, the state (by ``load_state_dict``'s checks), the
    scheduler. Params keep their shardings; state buffers are placed where the optimizer's own
    ``init`` puts them (with the params' shardings, or ZeRO-1's).
    """
    meta = _read(path, meta=True)["meta"]
    if meta.get("kind") != "optimizer":
        raise ValueError(f"{path} holds a {meta.get('kind')!r} checkpoint; use jopt.checkpoint.restore")
    if meta["optimizer"] != type(optimizer).__name__:
        raise ValueError(f"checkpoint of a {meta['optimizer']}, cannot load into a {type(optimizer).__name__}")
    saved_scheduler = meta["scheduler"]
    if (scheduler is None) != (saved_scheduler is None):
        raise ValueError(
            "checkpoint has a scheduler state but no scheduler was given" if scheduler is None
            else "checkpoint has no scheduler state to restore the given scheduler from"
        )
    if scheduler is not None and saved_scheduler[0] != type(scheduler).__name__:
        raise ValueError(f"checkpoint has a {saved_scheduler[0]} state, cannot load into a {type(scheduler).__name__}")
    param_groups = _decode(meta["param_groups"])
    if [len(g["params"]) for g in param_groups] != [len(g["params"]) for g in optimizer.param_groups]:
        raise ValueError(
            f"checkpoint has param groups of sizes {[len(g['params']) for g in param_groups]}, the optimizer "
            f"{[len(g['params']) for g in optimizer.param_groups]}"
        )
    params = _params(optimizer)
    _check_layout(meta["params"], _describe([p.data for p in params]), "the optimizer's params")
    # Params straight into their shardings; state as saved (placed after load_state_dict).
    abstract_state = {
        index: {name: jax.ShapeDtypeStruct(tuple(shape), np.dtype(dtype)) for name, (shape, dtype) in s.items()}
        for index, s in meta["state"].items()
    }
    arrays = _read(path, arrays={"params": _abstract([p.data for p in params]), "state": abstract_state})["arrays"]
    state_dict = {"state": {int(i): s for i, s in arrays["state"].items()}, "param_groups": param_groups}
    optimizer.load_state_dict(state_dict)  # validates everything before it changes anything
    if scheduler is not None:
        scheduler.load_state_dict(_decode(saved_scheduler[1]))
    for p, value in zip(params, arrays["params"]):
        p.data = value
    _place_state(optimizer)


def _place_state(optimizer) -> None:
    """Put each state buffer where the optimizer's ``init`` would (params' or ZeRO-1 shardings)."""
    for group in optimizer.param_groups:
        config = optimizer._config(group)
        for p in group["params"]:
            state = optimizer.state.get(p)
            if not state or len(p.data.sharding.device_set) == 1:
                continue
            fresh = config.tx.init([p.data]).buffers
            for name in config.buffer_names:
                target = getattr(fresh, name)[0].sharding
                state[name] = jax.device_put(state[name], target)
