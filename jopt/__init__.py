"""jopt: JAX optimizers that behave exactly like PyTorch's ``torch.optim``.

* ``jopt.<name>(...)``: the functional core, one optax ``GradientTransformationExtraArgs`` per
  torch optimizer (``jopt.adam``, ``jopt.sgd``...), torch's argument names and defaults.
* ``jopt.schedules``: every ``torch.optim.lr_scheduler`` as a pure function of the step count.
* ``jopt.zero1(tx, mesh, axis_name)``: ZeRO-1, optimizer state sharded along a mesh axis.
* ``jopt.optim``: the torch-style layer (``Optimizer``, ``param_groups``, ``state_dict``...).
"""

from jopt import schedules
from jopt.core.adam import adam, adamw
from jopt.core.base import OptState, apply_updates, set_hyperparams
from jopt.core.rmsprop import rmsprop
from jopt.core.sgd import sgd
from jopt.sharding import zero1

__version__ = "0.1.0"

__all__ = [
    "OptState",
    "adam",
    "adamw",
    "apply_updates",
    "rmsprop",
    "schedules",
    "set_hyperparams",
    "sgd",
    "zero1",
]
