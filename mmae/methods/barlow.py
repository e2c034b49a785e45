"""Barlow Twins (Zbontar et al., 2021): Eq. (3) on the cross-correlation of the projections, times
solo-learn's loss scale. `bt_normalize="standard"` standardises each feature over the batch (the
original code); `"paper"` is the uncentred per-feature l2 normalisation of Section 3.2. Recipe:
solo-learn's CIFAR config (lr 0.3, wd 1e-4, lambda 0.0051, scale 0.1, projector 512-2048-2048-2048);
its view 2 is solarised (Sec. 4)."""
from __future__ import annotations

from dataclasses import dataclass
import math

import torch.nn.functional as F

from mmae.losses import barlow_twins_loss
from mmae.methods.base import SiameseMethod, need
from mmae.models.siamese import Siamese

__all__ = ["BarlowTwins", "BarlowModel", "Params", "METHOD"]


@dataclass(frozen=True)
class Params:
    bt_lam: float = 0.0051          # lambda of Eq. (3)
    bt_normalize: str = "standard"  # standard (original code) | paper (Section 3.2)
    bt_scale: float = 0.1           # solo-learn's scale_loss

    def __post_init__(self):
        need(math.isfinite(self.bt_lam) and self.bt_lam >= 0, "bt_lam", self.bt_lam)
        need(self.bt_normalize in ("standard", "paper"), "bt_normalize", self.bt_normalize)
        need(math.isfinite(self.bt_scale) and self.bt_scale > 0, "bt_scale", self.bt_scale)


class BarlowModel(Siamese):
    """Eq. (3) in the chosen normalisation, times `scale`."""

    def __init__(self, backbone, projector, p: Params):
        super().__init__(backbone, projector)
        self.lam, self.normalize, self.scale = p.bt_lam, p.bt_normalize, p.bt_scale

    def objective(self, z1, z2):
        if self.normalize == "paper":  # Section 3.2 assumes unit-norm samples before the feature normalisation
            z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        return self.scale * barlow_twins_loss(z1, z2, lam=self.lam, normalize=self.normalize, reduction="sum")


class BarlowTwins(SiameseMethod):
    name, label = "barlow", "Barlow Twins"
    Params = Params
    Model = BarlowModel
    asymmetric_views = True
    RECIPES = {"cifar": dict(blr=0.3, weight_decay=1e-4, proj_hidden=2048, proj_out=2048, proj_layers=3),
               "digits": dict(blr=0.3, weight_decay=1e-4, proj_out=256, proj_layers=3)}
    def bound_lams(self, cfg) -> dict:
        return {"bt_lam": cfg.bt_lam}


METHOD = BarlowTwins()
