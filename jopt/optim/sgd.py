"""``jopt.optim.SGD``: torch's ``torch.optim.SGD`` running :func:`jopt.sgd`."""

import jopt
import jopt.core
from jopt.optim.optimizer import Optimizer, torch_defaults


class SGD(Optimizer):
    __doc__ = jopt.core.sgd.__doc__
    functional = staticmethod(jopt.sgd)
    _elementwise = True
    _step_type = None  # torch keeps no 'step' for it

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0,
        dampening=0,
        weight_decay=0,
        nesterov=False,
        *,
        maximize=False,
        foreach=None,
        differentiable=False,
        fused=None,
    ):
        super().__init__(params, torch_defaults(locals()))
