"""``jopt.optim.Adafactor``: torch's ``torch.optim.Adafactor`` running :func:`jopt.adafactor`."""

import jopt
import jopt.core
from jopt.optim.optimizer import Optimizer, torch_defaults


class Adafactor(Optimizer):
    __doc__ = jopt.core.adafactor.__doc__
    functional = staticmethod(jopt.adafactor)

    def __init__(
        self,
        params,
        lr=1e-2,
        beta2_decay=-0.8,
        eps=(None, 1e-3),
        d=1.0,
        weight_decay=0.0,
        *,
        foreach=None,
        maximize=False,
    ):
        super().__init__(params, torch_defaults(locals()))
