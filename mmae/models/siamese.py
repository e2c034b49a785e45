"""The two-branch model the Siamese methods share, and their MLP heads.

Notation (Section 3.2): the online branch f_theta gives z^(1) from view 1, the target branch
f_phi gives z^(2) from view 2. SimCLR, spectral contrastive learning, Barlow Twins and VICReg share
one network for both branches (f_phi = f_theta); BYOL's target is an exponential moving average of
the online network. Each method subclasses [`Siamese`][mmae.models.siamese.Siamese] with its loss
in its own module ([`mmae.methods`][mmae.methods]).

Batch-level losses see the global batch: projections are gathered across ranks with
`all_gather_cat` (identity on one process) before the loss.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from mmae.dist import all_gather_cat

__all__ = ["Siamese", "mlp"]


def mlp(in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2, last_bn: bool = False) -> nn.Sequential:
    """Linear-BN-ReLU blocks then a Linear: the projector/predictor of the Siamese methods.

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
        """The method's loss of the global batch's projections (float32)."""
        raise NotImplementedError

    def forward(self, x1, x2) -> torch.Tensor:
        z1, z2 = self.project_views(x1, x2)
        # losses in float32: softmax / cross-correlations of bf16 projections lose too much
        return self.objective(all_gather_cat(z1.float()), all_gather_cat(z2.float()))
