"""Spectral contrastive learning (HaoChen et al., 2021): Eq. (2) on l2-normalised projections,
divided by the batch size B. With lambda = 1/(B-1) (`sc_lam = 0`, the recipe) this is their
expectation form -2 E[z^T z+] + E[(z^T z')^2] on unit vectors, up to the constant 2 and the factor
B. Recipe: the SimCLR settings (our choice: solo-learn has no spectral contrastive config and
HaoChen et al. publish no LARS recipe)."""
from __future__ import annotations

from dataclasses import dataclass
import math

import torch.nn.functional as F

from mmae.losses import spectral_contrastive_loss
from mmae.methods.base import SiameseMethod, need
from mmae.models.siamese import Siamese

__all__ = ["SpectralContrastive", "SpectralModel", "Params", "METHOD", "sc_lambda"]


@dataclass(frozen=True)
class Params:
    sc_lam: float = 0.0   # lambda of Eq. (2); 0: 1/(B-1)

    def __post_init__(self):
        need(math.isfinite(self.sc_lam) and self.sc_lam >= 0, "sc_lam", self.sc_lam)


def sc_lambda(cfg) -> float:
    """lambda of Eq. (2): `sc_lam`, or 1/(B-1) when it is 0 (HaoChen et al.'s expectation form)."""
    return cfg.sc_lam if cfg.sc_lam > 0 else 1.0 / (cfg.batch_size - 1)


class SpectralModel(Siamese):
    """Eq. (2) on unit vectors, divided by the batch size B."""

    def __init__(self, backbone, projector, lam: float = 1.0):
        super().__init__(backbone, projector)
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        self.lam = lam

    def objective(self, z1, z2):
        return spectral_contrastive_loss(F.normalize(z1, dim=1), F.normalize(z2, dim=1), lam=self.lam,
                                         reduction="sum") / z1.shape[0]


class SpectralContrastive(SiameseMethod):
    name, label = "spectral", "Spectral contrastive"
    Params = Params
    RECIPES = {"cifar": dict(blr=0.4, weight_decay=1e-4, proj_hidden=2048, proj_out=256),
               "digits": dict(blr=0.4, weight_decay=1e-5, proj_out=64)}

    def build(self, backbone, cfg):
        return SpectralModel(backbone, self.projector(backbone, cfg), sc_lambda(cfg))

    def bound_lams(self, cfg) -> dict:
        return {"sc_lam": sc_lambda(cfg)}


METHOD = SpectralContrastive()
