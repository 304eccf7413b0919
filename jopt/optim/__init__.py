"""``jopt.optim``: the torch-style layer. Port code by replacing ``torch.optim`` with ``jopt.optim``
and ``loss.backward()`` with ``loss = jopt.optim.backward(loss_fn, params, ...)``."""

from jopt.optim import lr_scheduler
from jopt.optim.adam import Adam, AdamW
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
from jopt.optim.sgd import SGD
from jopt.optim.zero import ZeroRedundancyOptimizer

__all__ = [
    "SGD",
    "ZeroRedundancyOptimizer",
    "Adam",
    "AdamW",
    "Optimizer",
    "Parameter",
    "RMSprop",
    "RemovableHandle",
    "backward",
    "lr_scheduler",
    "register_optimizer_step_post_hook",
    "register_optimizer_step_pre_hook",
    "required",
    "to_torch",
]
