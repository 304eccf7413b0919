"""``jopt.optim.Rprop``: torch's ``torch.optim.Rprop`` running :func:`jopt.rprop`."""

import jopt
import jopt.core
from jopt.optim.optimizer import Optimizer, torch_defaults


class Rprop(Optimizer):
    __doc__ = jopt.core.rprop.__doc__
    functional = staticmethod(jopt.rprop)
    _elementwise = True

    def __init__(
        self,
        params,
        lr=1e-2,
        etas=(0.5, 1.2),
        step_sizes=(1e-6, 50),
        *,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        super().__init__(params, torch_defaults(locals()))
