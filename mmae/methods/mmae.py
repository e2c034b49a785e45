"""M-MAE (Section 5, Eq. (11)): MAE minus `lam` times the total coding rate of the CLS features of
the global batch,

$$\\mathcal L_{\\text{M-MAE}} = \\mathcal L_{\\text{MAE}} - \\lambda\\,\\mathrm{TCR}_\\mu(\\mathbf Z),$$

with the TCR in the authors' code's convention ([`mmae.losses.tcr_loss`][mmae.losses.tcr_loss]:
`R = -log det(I + (mu/d) F^T F)`). The objective that trains it is
[`MIMMethod.objective`][mmae.methods.base.MIMMethod.objective] with this `regularizer`: the value
`mae + lam R` and the gradient of `R` over the global batch by gradient caching."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from mmae.losses import tcr_loss
from mmae.methods.base import MIMMethod, need

__all__ = ["MMAE", "Params", "METHOD", "MU", "objective"]

# mu per encoder (Sec. 6.1: 1 for ViT-B, 3 for ViT-L; the mini encoders stand in for them)
MU = {"base": 1.0, "large": 3.0, "mini-b": 1.0, "mini-l": 3.0}


@dataclass(frozen=True)
class Params:
    lam: float = 0.01   # lambda of Eq. (11) (U-MAE's settings, Sec. 6.1)
    mu: float = 1.0     # TCR's mu (ViT-B; `MU` per encoder)

    def __post_init__(self):
        need(self.lam >= 0, "lam", self.lam)
        need(self.mu >= 0, "mu", self.mu)


class MMAE(MIMMethod):
    name, label = "mmae", "M-MAE"
    Params = Params

    def regularizer(self, z: torch.Tensor, p: Params) -> torch.Tensor:
        """`-TCR` in the code's convention, in float32 outside autocast (a bf16 log-determinant
        loses most of its digits)."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            return tcr_loss(z.float(), p.mu)


METHOD = MMAE()


def objective(mae: torch.Tensor, z: torch.Tensor, lam: float, mu: float) -> torch.Tensor:
    """Eq. (11) on one process: `L_M-MAE = L_MAE - lambda TCR_mu(Z)`, the training objective's value
    (and, backpropagated, its gradient)."""
    return METHOD.objective(mae, z, Params(lam, mu))[0]
