"""SimCLR (Chen et al., 2020): InfoNCE on l2-normalised projections with a temperature.

`simclr_loss="nt_xent"` (default) is SimCLR's own objective, negatives from both branches
([`mmae.losses.nt_xent`][mmae.losses.nt_xent]); `"info_nce"` is Eq. (1) as printed, negatives from the
other branch only ([`mmae.losses.info_nce`][mmae.losses.info_nce]). Recipe: solo-learn's CIFAR config
(lr 0.4, wd 1e-4, temperature 0.2, projector 512-2048-256); Figure 3 runs temperatures 0.3, 0.5, 0.7."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from mmae.losses import info_nce, nt_xent
from mmae.methods.base import SiameseMethod, need
from mmae.models.siamese import Siamese

__all__ = ["SimCLR", "SimCLRModel", "Params", "METHOD"]


@dataclass(frozen=True)
class Params:
    temperature: float = 0.5     # tau (Figure 3: 0.3, 0.5, 0.7)
    simclr_loss: str = "nt_xent"  # nt_xent (SimCLR's own) | info_nce (Eq. 1 as printed)

    def __post_init__(self):
        need(self.temperature > 0, "temperature", self.temperature)
        need(self.simclr_loss in ("nt_xent", "info_nce"), "simclr_loss", self.simclr_loss)


class SimCLRModel(Siamese):
    """SimCLR's loss on unit vectors, per-sample mean of the summed loss."""

    def __init__(self, backbone, projector, p: Params):
        super().__init__(backbone, projector)
        self.temperature, self.loss = p.temperature, p.simclr_loss

    def objective(self, z1, z2):
        fn = nt_xent if self.loss == "nt_xent" else info_nce
        return fn(F.normalize(z1, dim=1), F.normalize(z2, dim=1), temperature=self.temperature,
                  reduction="sum") / z1.shape[0]


class SimCLR(SiameseMethod):
    name, label = "simclr", "SimCLR"
    Params = Params
    Model = SimCLRModel
    RECIPES = {"cifar": dict(blr=0.4, weight_decay=1e-4, temperature=0.2, proj_hidden=2048, proj_out=256),
               "digits": dict(blr=0.4, weight_decay=1e-5, proj_out=64)}


METHOD = SimCLR()
