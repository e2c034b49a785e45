"""U-MAE (Zhang et al., 2022; Section 3.2): MAE plus `lam` times the uniformity of the CLS
features of the global batch, as U-MAE's public code computes it
([`mmae.losses.uniformity_loss`][mmae.losses.uniformity_loss]); trained with the gradient caching of
[`MIMMethod.objective`][mmae.methods.base.MIMMethod.objective]."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from mmae.losses import uniformity_loss
from mmae.methods.base import MIMMethod, need

__all__ = ["UMAE", "Params", "METHOD", "objective"]


@dataclass(frozen=True)
class Params:
    lam: float = 0.01   # the regulariser's weight lambda (U-MAE's settings, Sec. 6.1)
    tau: float = 1.0    # uniformity temperature: 1, the "square" loss of the M-MAE paper's U-MAE baseline

    def __post_init__(self):
        need(self.lam >= 0, "lam", self.lam)
        need(self.tau > 0, "tau", self.tau)


class UMAE(MIMMethod):
    name, label = "umae", "U-MAE"
    Params = Params

    def regularizer(self, z: torch.Tensor, p: Params) -> torch.Tensor:
        """`mean((F F^T / tau)^2)` of the unit rows `F`, in float32 outside autocast (bf16's
        8-bit mantissa would blur the B^2 pairs)."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            return uniformity_loss(z.float(), p.tau)


METHOD = UMAE()


def objective(mae: torch.Tensor, z: torch.Tensor, lam: float, tau: float = 1.0) -> torch.Tensor:
    """U-MAE on one process: `L_MAE + lambda * uniformity`, the training objective's value."""
    return METHOD.objective(mae, z, Params(lam, tau))[0]
