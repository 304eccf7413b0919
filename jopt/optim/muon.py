"""``jopt.optim.Muon``: torch's ``torch.optim.Muon`` running :func:`jopt.muon`."""

import jopt
import jopt.core.muon
from jopt.core.muon import DEFAULT_A, DEFAULT_B, DEFAULT_C, DEFAULT_NS_STEPS, EPS
from jopt.optim.optimizer import Optimizer, torch_defaults


class Muon(Optimizer):
    __doc__ = jopt.core.muon.__doc__
    functional = staticmethod(jopt.muon)
    _step_type = None  # torch keeps no 'step' for it

    def __init__(
        self,
        params,
        lr=1e-3,
        weight_decay=0.1,
        momentum=0.95,
        nesterov=True,
        ns_coefficients=(DEFAULT_A, DEFAULT_B, DEFAULT_C),
        eps=EPS,
        ns_steps=DEFAULT_NS_STEPS,
        adjust_lr_fn=None,
    ):
        super().__init__(params, torch_defaults(locals()))
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(
                        "Muon only supports 2D parameters whereas we found a parameter with size: "
                        f"torch.Size({list(p.shape)})"
                    )
