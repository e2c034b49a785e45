"""MAE (He et al., 2022): the reconstruction loss alone ([`mmae.losses.mae_loss`][mmae.losses.mae_loss]),
no regulariser on the features. Its recipe is the masked-image-modeling engine's
(`mmae.engine.pretrain.PretrainConfig`)."""
from __future__ import annotations

import torch

from mmae.methods.base import MIMMethod

__all__ = ["MAE", "METHOD"]


class MAE(MIMMethod):
    name, label = "mae", "MAE"
    regularized = False

    def objective(self, mae: torch.Tensor, z: torch.Tensor, p, cached=None,
                  grad_weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """The MAE loss, and `R = 0`."""
        return mae, torch.zeros((), device=mae.device)


METHOD = MAE()
