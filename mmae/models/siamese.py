"""The four Siamese methods as modules that compute their training loss from two views.

Notation (Section 3.2): the online branch f_theta gives z^(1) from view 1, the target branch
f_phi gives z^(2) from view 2. SimCLR, spectral contrastive learning and Barlow Twins share one
network for both branches (f_phi = f_theta); BYOL's target is an exponential moving average of
the online network and the online branch adds a predictor.

- SimCLR (Chen et al., 2020): InfoNCE, Eq. (1), on l2-normalised projections, temperature tau.
- Spectral contrastive (HaoChen et al., 2021): Eq. (2) on l2-normalised projections.
- Barlow Twins (Zbontar et al., 2021): Eq. (3) on the cross-correlation of the projections.
- BYOL (Grill et al., 2020): 2 - 2 cos(q(z^(1)), z^(2)), symmetrised over the two views.

Batch-level losses see the global batch: projections are gathered across ranks with
`all_gather_cat` (identity on one process) before the loss.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmae.dist import all_gather_cat
from mmae.losses import SIAMESE_METHODS, barlow_twins_loss, byol_loss, info_nce, nt_xent, spectral_contrastive_loss


def mlp(in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2, last_bn: bool = False) -> nn.Sequential:
    """Linear-BN-ReLU blocks then a Linear: the projector/predictor of all four methods.

    `last_bn` appends a BatchNorm without affine parameters (Barlow Twins' projector output)."""
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(num_layers - 1):
        layers += [nn.Linear(d, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True)]
        d = hidden_dim
    layers.append(nn.Linear(d, out_dim, bias=not last_bn))
    if last_bn:
        layers.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*layers)


class Siamese(nn.Module):
    """Shared-weight two-branch model: z = projector(backbone(x)) for both views."""

    def __init__(self, backbone: nn.Module, projector: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.projector = projector

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features h (kNN, linear probe)."""
        return self.backbone(x)

    def project_views(self, x1, x2) -> tuple[torch.Tensor, torch.Tensor]:
        # one pass over the concatenated views: one large batch is faster than two small ones
        z = self.projector(self.backbone(torch.cat([x1, x2])))
        return z.chunk(2)

    @torch.no_grad()
    def branches(self, x1, x2) -> tuple[torch.Tensor, torch.Tensor]:
        """(z^(1), z^(2)): online projection of view 1, target projection of view 2 (for logging)."""
        return self.project_views(x1, x2)

    def objective(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x1, x2) -> torch.Tensor:
        z1, z2 = self.project_views(x1, x2)
        # losses in float32: softmax / cross-correlations of bf16 projections lose too much
        return self.objective(all_gather_cat(z1.float()), all_gather_cat(z2.float()))


class SimCLR(Siamese):
    """SimCLR with its temperature tau on unit vectors, per-sample mean of the summed loss.

    `loss="nt_xent"` (default) is SimCLR's own objective, negatives from both branches
    ([`mmae.losses.nt_xent`][mmae.losses.nt_xent]); `loss="info_nce"` is Eq. (1) as printed, negatives from the
    other branch only ([`mmae.losses.info_nce`][mmae.losses.info_nce])."""

    def __init__(self, backbone, projector, temperature: float = 0.5, loss: str = "nt_xent"):
        super().__init__(backbone, projector)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if loss not in ("nt_xent", "info_nce"):
            raise ValueError(f"SimCLR loss must be 'nt_xent' or 'info_nce', got {loss!r}")
        self.temperature, self.loss = temperature, loss

    def objective(self, z1, z2):
        fn = nt_xent if self.loss == "nt_xent" else info_nce
        return fn(F.normalize(z1, dim=1), F.normalize(z2, dim=1), temperature=self.temperature,
                  reduction="sum") / z1.shape[0]


class SpectralContrastive(Siamese):
    """Eq. (2) on unit vectors, divided by the batch size B.

    With lam = 1/(B-1) this is HaoChen et al.'s expectation form
    -2 E[z^T z+] + E[(z^T z')^2] on unit vectors, up to the constant 2 and the factor B."""

    def __init__(self, backbone, projector, lam: float = 1.0):
        super().__init__(backbone, projector)
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        self.lam = lam

    def objective(self, z1, z2):
        return spectral_contrastive_loss(F.normalize(z1, dim=1), F.normalize(z2, dim=1), lam=self.lam,
                                         reduction="sum") / z1.shape[0]


class BarlowTwins(Siamese):
    """Eq. (3); `normalize` "standard" (batch standardisation, the original code) or "paper"
    (uncentred per-feature l2 normalisation of Section 3.2), times `scale` (solo-learn's scale_loss)."""

    def __init__(self, backbone, projector, lam: float = 0.0051, normalize: str = "standard", scale: float = 1.0):
        super().__init__(backbone, projector)
        if normalize not in ("standard", "paper"):
            raise ValueError(f"normalize must be 'standard' or 'paper', got {normalize!r}")
        self.lam, self.normalize, self.scale = lam, normalize, scale

    def objective(self, z1, z2):
        if self.normalize == "paper":  # Section 3.2 assumes unit-norm samples before the feature normalisation
            z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        return self.scale * barlow_twins_loss(z1, z2, lam=self.lam, normalize=self.normalize, reduction="sum")


class BYOL(Siamese):
    """Online backbone+projector+predictor q; target = EMA copy of backbone+projector.

    The target follows phi <- m phi + (1 - m) theta after every step, m from the cosine schedule
    (`mmae.engine.common.cosine_momentum`)."""

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
        """phi <- m phi + (1 - m) theta, as one fused op over all tensors (no host sync)."""
        torch._foreach_lerp_(self._target_params(), self._online_params(), 1.0 - m)


METHODS = SIAMESE_METHODS


def build_siamese(method: str, backbone: nn.Module, *, proj_hidden: int, proj_out: int, proj_layers: int = 2,
                  pred_hidden: int = 4096, temperature: float = 0.5, simclr_loss: str = "nt_xent",
                  sc_lam: float = 1.0, bt_lam: float = 0.0051, bt_normalize: str = "standard",
                  bt_scale: float = 1.0) -> Siamese:
    """The method's module around `backbone` (which must expose `num_features`)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    proj = mlp(backbone.num_features, proj_hidden, proj_out, proj_layers)
    if method == "simclr":
        return SimCLR(backbone, proj, temperature, simclr_loss)
    if method == "spectral":
        return SpectralContrastive(backbone, proj, sc_lam)
    if method == "barlow":
        return BarlowTwins(backbone, proj, bt_lam, bt_normalize, bt_scale)
    return BYOL(backbone, proj, mlp(proj_out, pred_hidden, proj_out, 2))
