"""``jopt.optim.RMSprop``: torch's ``torch.optim.RMSprop`` running :func:`jopt.rmsprop`."""

import jopt
import jopt.core
from jopt.optim.optimizer import Optimizer, torch_defaults


class RMSprop(Optimizer):
    __doc__ = jopt.core.rmsprop.__doc__
    functional = staticmethod(jopt.rmsprop)
    _elementwise = True

    def __init__(
        self,
        params,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0,
        momentum=0,
        centered=False,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        super().__init__(params, torch_defaults(locals()))
