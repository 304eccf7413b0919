"""``jopt.optim.Adamax``: torch's ``torch.optim.Adamax`` running :func:`jopt.adamax`."""

import jopt
import jopt.core.adamax
from jopt.optim.optimizer import Optimizer, torch_defaults


class Adamax(Optimizer):
    __doc__ = jopt.core.adamax.__doc__
    functional = staticmethod(jopt.adamax)
    _elementwise = True

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        super().__init__(params, torch_defaults(locals()))
