"""``jopt.optim.ASGD``: torch's ``torch.optim.ASGD`` running :func:`jopt.asgd`.

The averaged parameters are ``opt.state[p]['ax']``, as in torch."""

import jopt
import jopt.core
from jopt.optim.optimizer import Optimizer, torch_defaults


class ASGD(Optimizer):
    __doc__ = jopt.core.asgd.__doc__
    functional = staticmethod(jopt.asgd)
    _elementwise = True

    def __init__(
        self,
        params,
        lr=1e-2,
        lambd=1e-4,
        alpha=0.75,
        t0=1e6,
        weight_decay=0,
        foreach=None,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        super().__init__(params, torch_defaults(locals()))
