"""``jopt.optim.Adadelta``: torch's ``torch.optim.Adadelta`` running :func:`jopt.adadelta`."""

import jopt
import jopt.core.adadelta
from jopt.optim.optimizer import Optimizer, torch_defaults


class Adadelta(Optimizer):
    __doc__ = jopt.core.adadelta.__doc__
    functional = staticmethod(jopt.adadelta)
    _elementwise = True

    def __init__(
        self,
        params,
        lr=1.0,
        rho=0.9,
        eps=1e-6,
        weight_decay=0,
        foreach=None,
        *,
        capturable=False,
        maximize=False,
        differentiable=False,
    ):
        super().__init__(params, torch_defaults(locals()))
