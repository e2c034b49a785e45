"""VICReg (Bardes et al., 2022): variance, invariance and covariance terms on the projections of the
two views ([`vicreg_loss`][mmae.methods.vicreg.vicreg_loss]). Its covariance term is the squared
Frobenius distance of each branch's feature covariance to a diagonal matrix, close to Barlow Twins'
off-diagonal term (Eq. (3)) and to the matrix-information view of the paper.

Weights 25 / 25 / 1, `gamma = 1`, `eps = 1e-4` (the paper's ImageNet settings). The paper's
expander is 8192-8192-8192; on CIFAR (our choice) the head and optimiser are the Barlow Twins recipe's,
lr 0.3, wd 1e-4, projector 512-2048-2048-2048, and the views are BYOL's asymmetric ones, which the
paper follows."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mmae.methods.barlow import BarlowTwins
from mmae.methods.base import SiameseMethod, need
from mmae.models.siamese import Siamese

__all__ = ["VICReg", "VICRegModel", "Params", "METHOD", "vicreg_loss"]


def vicreg_loss(z1: torch.Tensor, z2: torch.Tensor, inv: float = 25.0, var: float = 25.0, cov: float = 1.0,
                gamma: float = 1.0, eps: float = 1e-4, branches: str = "sum") -> torch.Tensor:
    """Eq. (6) of Bardes et al.: `inv * s(Z, Z') + var * [v(Z) + v(Z')] + cov * [c(Z) + c(Z')]`, on
    `(B, d)` batches.

    - invariance `s`: the mean squared difference of the two branches over all `B d` entries (their
      Algorithm 1 and code; Eq. (5) as printed sums over the `d` features, a factor `d`);
    - variance `v(Z) = (1/d) sum_j max(0, gamma - sqrt(Var(z^j) + eps))`, a hinge on each feature's
      standard deviation over the batch (unbiased variance);
    - covariance `c(Z) = (1/d) sum_{i != j} C(Z)_ij^2`, `C(Z)` the feature covariance over the batch
      (centred, divided by `B - 1`): the squared Frobenius distance of `C(Z)` to a diagonal matrix.

    `branches="sum"` adds the two branches' variance terms, as Eq. (6) writes; `"mean"` averages
    them, as the authors' code does (`main_vicreg.py`), which halves the variance weight in effect.
    """
    if z1.ndim != 2 or z1.shape != z2.shape or z1.shape[0] < 2:
        raise ValueError(f"need two (B, d) batches of one shape with B >= 2; got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if branches not in ("sum", "mean"):
        raise ValueError(f"branches must be 'sum' or 'mean', got {branches!r}")
    d = z1.shape[1]

    def variance(z):
        return F.relu(gamma - torch.sqrt(z.var(dim=0) + eps)).mean()

    def covariance(z):
        z = z - z.mean(dim=0)
        c = (z.T @ z) / (z.shape[0] - 1)
        return (c.pow(2).sum() - torch.diagonal(c).pow(2).sum()) / d

    v = variance(z1) + variance(z2)
    return (inv * F.mse_loss(z1, z2) + var * (v if branches == "sum" else v / 2)
            + cov * (covariance(z1) + covariance(z2)))


@dataclass(frozen=True)
class Params:
    vic_inv: float = 25.0       # lambda: invariance (mean squared difference of the branches)
    vic_var: float = 25.0       # mu: variance hinge on each feature's standard deviation
    vic_cov: float = 1.0        # nu: covariance (off-diagonal squared sum / d)
    vic_branches: str = "mean"  # mean (the authors' code: the two variance terms averaged) | sum (Eq. (6))

    def __post_init__(self):
        for name in ("vic_inv", "vic_var", "vic_cov"):
            v = getattr(self, name)
            need(math.isfinite(v) and v >= 0, name, v)
        need(self.vic_branches in ("mean", "sum"), "vic_branches", self.vic_branches)


class VICRegModel(Siamese):
    """VICReg's loss of the global batch's projections."""

    def __init__(self, backbone, projector, p: Params):
        super().__init__(backbone, projector)
        self.p = p

    def objective(self, z1, z2):
        p = self.p
        return vicreg_loss(z1, z2, inv=p.vic_inv, var=p.vic_var, cov=p.vic_cov, branches=p.vic_branches)


class VICReg(SiameseMethod):
    name, label = "vicreg", "VICReg"
    Params = Params
    Model = VICRegModel
    asymmetric_views = True
    RECIPES = BarlowTwins.RECIPES  # our choice: Barlow Twins' head and optimiser (module docstring)


METHOD = VICReg()
