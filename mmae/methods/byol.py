"""BYOL (Grill et al., 2020): an online backbone, projector and predictor `q`; a target that is an
exponential moving average of the online backbone and projector; the loss `2 - 2 cos(q(z^(1)),
z^(2))`, symmetrised over the two views ([`mmae.losses.byol_loss`][mmae.losses.byol_loss]). The
target follows `xi <- m xi + (1 - m) theta` after every step, `m` from BYOL's cosine schedule
(`cosine_momentum`). Recipe: solo-learn's CIFAR config (lr 1.0, wd 1e-5, momentum 0.99 -> 1,
projector 512-4096-256, predictor 256-4096-256); asymmetric views (Table 6)."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from mmae.losses import byol_loss
from mmae.methods.base import SiameseMethod, need
from mmae.models.siamese import Siamese, mlp

__all__ = ["BYOL", "BYOLModel", "Params", "METHOD", "cosine_momentum"]


@dataclass(frozen=True)
class Params:
    byol_momentum: float = 0.99   # base target momentum
    pred_hidden: int = 4096       # predictor width

    def __post_init__(self):
        need(0 < self.byol_momentum <= 1, "byol_momentum", self.byol_momentum)
        need(self.pred_hidden >= 1, "pred_hidden", self.pred_hidden)


def cosine_momentum(it: float, total_iters: float, base: float = 0.996) -> float:
    """BYOL's target momentum `1 - (1 - base) (cos(pi it / T) + 1) / 2`, from `base` to 1."""
    t = min(max(it / max(total_iters, 1e-12), 0.0), 1.0)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * t) + 1.0) / 2.0


class BYOLModel(Siamese):
    """Online backbone+projector+predictor q; target = EMA copy of backbone+projector."""

    def __init__(self, backbone, projector, predictor):
        super().__init__(backbone, projector)
        self.predictor = predictor
        self.target_backbone = copy.deepcopy(backbone)
        self.target_projector = copy.deepcopy(projector)
        for p in self._target_params():
            p.requires_grad_(False)

    def _online_params(self):
        return list(self.backbone.parameters()) + list(self.projector.parameters())

    def _target_params(self):
        return list(self.target_backbone.parameters()) + list(self.target_projector.parameters())

    def _target(self, x):
        return self.target_projector(self.target_backbone(x))

    @torch.no_grad()
    def branches(self, x1, x2):
        return self.projector(self.backbone(x1)), self._target(x2)

    def forward(self, x1, x2):
        x = torch.cat([x1, x2])
        p1, p2 = self.predictor(self.projector(self.backbone(x))).float().chunk(2)
        with torch.no_grad():
            t1, t2 = self._target(x).float().chunk(2)
        return byol_loss(p1, t2, reduction="mean") + byol_loss(p2, t1, reduction="mean")

    @torch.no_grad()
    def update_target(self, m: float) -> None:
        """xi <- m xi + (1 - m) theta, as one fused op over all tensors (no host sync)."""
        torch._foreach_lerp_(self._target_params(), self._online_params(), 1.0 - m)


class BYOL(SiameseMethod):
    name, label = "byol", "BYOL"
    Params = Params
    RECIPES = {"cifar": dict(blr=1.0, weight_decay=1e-5, proj_hidden=4096, proj_out=256, pred_hidden=4096),
               "digits": dict(blr=1.0, weight_decay=1e-5, proj_out=64)}
    asymmetric_views = True  # blur and solarisation differ between the views (Table 6)

    def build(self, backbone, cfg):
        p = self.params(cfg)
        return BYOLModel(backbone, self.projector(backbone, cfg), mlp(cfg.proj_out, p.pred_hidden, cfg.proj_out, 2))

    def after_update(self, model, it: int, total: int, p: Params) -> dict:
        m = cosine_momentum(it + 1, total, base=p.byol_momentum)
        model.update_target(m)
        return {"byol_momentum": m}


METHOD = BYOL()
