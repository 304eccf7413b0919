"""``jopt.optim``: the torch-style layer. Port code by replacing ``torch.optim`` with ``jopt.optim``
and ``loss.backward()`` with ``loss = jopt.optim.backward(loss_fn, params, ...)``."""

from jopt.optim import lr_scheduler
from jopt.optim.adafactor import Adafactor
from jopt.optim.adam import Adam, AdamW
from jopt.optim.asgd import ASGD
from jopt.optim.optimizer import (
    Optimizer,
    Parameter,
    RemovableHandle,
    backward,
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
    required,
    to_torch,
)
from jopt.optim.rmsprop import RMSprop
from jopt.optim.rprop import Rprop
from jopt.optim.sgd import SGD
from jopt.optim.sparse_adam import SparseAdam

__all__ = [
    "ASGD",
    "SGD",
    "Adafactor",
    "Adam",
    "AdamW",
    "Optimizer",
    "Parameter",
    "RMSprop",
    "RemovableHandle",
    "Rprop",
    "SparseAdam",
    "backward",
    "lr_scheduler",
    "register_optimizer_step_post_hook",
    "register_optimizer_step_pre_hook",
    "required",
    "to_torch",
]
