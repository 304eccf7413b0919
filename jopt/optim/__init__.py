"""``jopt.optim``: the torch-style layer. Port code by replacing ``torch.optim`` with ``jopt.optim``
and ``loss.backward()`` with ``loss = jopt.optim.backward(loss_fn, params, ...)``."""

from jopt.optim import lr_scheduler
from jopt.optim.adam import Adam, AdamW
from jopt.optim.lbfgs import LBFGS
from jopt.optim.muon import Muon
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

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "LBFGS",
    "Muon",
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
