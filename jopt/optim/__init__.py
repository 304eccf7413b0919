"""``jopt.optim``: the torch-style layer. Port code by replacing ``torch.optim`` with ``jopt.optim``
and ``loss.backward()`` with ``loss = jopt.optim.backward(loss_fn, params, ...)``."""

from jopt.optim import lr_scheduler, swa_utils
from jopt.optim.adadelta import Adadelta
from jopt.optim.adafactor import Adafactor
from jopt.optim.adagrad import Adagrad
from jopt.optim.adam import Adam, AdamW
from jopt.optim.adamax import Adamax
from jopt.optim.asgd import ASGD
from jopt.optim.clip_grad import clip_grad_norm_, clip_grad_value_
from jopt.optim.lbfgs import LBFGS
from jopt.optim.muon import Muon
from jopt.optim.nadam import NAdam
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
from jopt.optim.radam import RAdam
from jopt.optim.rmsprop import RMSprop
from jopt.optim.rprop import Rprop
from jopt.optim.sgd import SGD
from jopt.optim.sparse_adam import SparseAdam
from jopt.optim.zero import ZeroRedundancyOptimizer

__all__ = [
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "Adamax",
    "AdamW",
    "ASGD",
    "backward",
    "clip_grad_norm_",
    "clip_grad_value_",
    "LBFGS",
    "lr_scheduler",
    "Muon",
    "NAdam",
    "Optimizer",
    "Parameter",
    "RAdam",
    "register_optimizer_step_post_hook",
    "register_optimizer_step_pre_hook",
    "RemovableHandle",
    "required",
    "RMSprop",
    "Rprop",
    "SGD",
    "SparseAdam",
    "swa_utils",
    "to_torch",
    "ZeroRedundancyOptimizer",
]
