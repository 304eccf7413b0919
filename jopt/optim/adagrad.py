"""``jopt.optim.Adagrad``: torch's ``torch.optim.Adagrad`` running :func:`jopt.adagrad`."""

import jopt
import jopt.core.adagrad
from jopt.optim.optimizer import Optimizer, torch_defaults


class Adagrad(Optimizer):
    __doc__ = jopt.core.adagrad.__doc__
    functional = staticmethod(jopt.adagrad)
    _elementwise = True

    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        fused=None,
    ):
        super().__init__(params, torch_defaults(locals()))

        self._init_state()  # torch creates Adagrad's state in the constructor
