"""``jopt.optim.ZeroRedundancyOptimizer``: torch's ZeRO-1 wrapper, on a JAX device mesh."""

from __future__ import annotations

from typing import Any

from jax.sharding import Mesh

from jopt.optim.optimizer import Optimizer
from jopt.sharding import zero1

_classes: dict[type, type] = {}


class ZeroRedundancyOptimizer(Optimizer):
    """Shard an optimizer's state along one mesh axis, parameters replicated (ZeRO stage 1).

    ``ZeroRedundancyOptimizer(params, optimizer_class=jopt.optim.Adam, mesh=mesh,
    axis_name="data", lr=1e-3)`` stands where torch's
    ``torch.distributed.optim.ZeroRedundancyOptimizer(params, optimizer_class=torch.optim.Adam,
    lr=1e-3)`` does: ``mesh``/``axis_name`` replace the process group. The result is an instance
    of ``optimizer_class`` too (same param_groups, state keys, state_dict, schedulers), whose
    functional twin is wrapped in :func:`jopt.zero1`: each state buffer is split along the axis
    (see :func:`jopt.sharding.zero1_sharding`), the update is computed shard by shard and the new
    parameters come back replicated. The numbers are those of the unwrapped optimizer.
    The state arrays are global ``jax.Array``s, so ``state_dict()`` needs no consolidation.
    """

    def __new__(cls, params=None, optimizer_class: type[Optimizer] | None = None, **kwargs):
        if cls is ZeroRedundancyOptimizer:
            if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, Optimizer)):
                raise TypeError(f"optimizer_class must be a jopt.optim.Optimizer subclass, got {optimizer_class!r}")
            cls = _classes.get(optimizer_class)
            if cls is None:
                name = f"ZeroRedundancy{optimizer_class.__name__}"
                cls = _classes[optimizer_class] = type(name, (ZeroRedundancyOptimizer, optimizer_class), {})
        return super().__new__(cls)

    def __init__(
        self, params, optimizer_class: type[Optimizer], *, mesh: Mesh, axis_name: str, **defaults: Any
    ):
        if axis_name not in mesh.shape:
            raise ValueError(f"mesh has no axis {axis_name!r}; its axes are {tuple(mesh.shape)}")
        self.optimizer_class = optimizer_class
        self.mesh = mesh
        self.axis_name = axis_name
        optimizer_class.__init__(self, params, **defaults)

    def _transformation(self, options):
        return zero1(super()._transformation(options), self.mesh, self.axis_name)

    def consolidate_state_dict(self, to: int = 0) -> None:
        """torch gathers the shards on one rank before ``state_dict()``; global arrays need not."""
