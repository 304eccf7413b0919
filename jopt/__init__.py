"""jopt: JAX optimizers that behave exactly like PyTorch's ``torch.optim``.

* ``jopt.<name>(...)``: the functional core, one optax ``GradientTransformationExtraArgs`` per
  torch optimizer (``jopt.adam``, ``jopt.sgd``...), torch's argument names and defaults.
* ``jopt.schedules``: every ``torch.optim.lr_scheduler`` as a pure function of the step count.
* ``jopt.zero1(tx, mesh, axis_name)``: ZeRO-1, optimizer state sharded along a mesh axis.
* ``jopt.optim``: the torch-style layer (``Optimizer``, ``param_groups``, ``state_dict``...).
"""

from jopt import schedules
from jopt.core.adadelta import adadelta
from jopt.core.adafactor import adafactor
from jopt.core.adagrad import adagrad
from jopt.core.adam import adam, adamw
from jopt.core.adamax import adamax
from jopt.core.asgd import asgd
from jopt.core.base import OptState, apply_updates, set_hyperparams
from jopt.core.lbfgs import lbfgs
from jopt.core.muon import muon
from jopt.core.nadam import nadam
from jopt.core.radam import radam
from jopt.core.rmsprop import rmsprop
from jopt.core.rprop import rprop
from jopt.core.sgd import sgd
from jopt.core.sparse_adam import sparse_adam
from jopt.sharding import zero1

__version__ = "0.1.0"

__all__ = [
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "apply_updates",
    "asgd",
    "lbfgs",
    "muon",
    "nadam",
    "OptState",
    "radam",
    "rmsprop",
    "rprop",
    "schedules",
    "set_hyperparams",
    "sgd",
    "sparse_adam",
    "zero1",
]
