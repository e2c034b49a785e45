"""What a method is: a name, its hyper-parameters as a small dataclass (`Params`, whose defaults are
the published values), its recipes, and the objective it trains.

Two families, one per pretraining engine:

- [`MIMMethod`][mmae.methods.base.MIMMethod] (`mmae.engine.pretrain`): MAE's reconstruction loss
  plus `lam * R(Z)`, a regulariser `R` of the CLS features of the **global** batch (nothing for
  MAE). [`objective`][mmae.methods.base.MIMMethod.objective] is the objective as it trains, the
  gradient-caching term included;
- [`SiameseMethod`][mmae.methods.base.SiameseMethod] (`mmae.engine.siamese`): two augmented views,
  a head (projector, predictor) on a backbone, and a batch-level loss (a
  [`mmae.models.siamese.Siamese`][mmae.models.siamese.Siamese] subclass); its `RECIPES` hold what the
  method changes in the engine's recipe per data-set family.

The engines read a method's hyper-parameters from their configuration by name (`params`), so every
field of every method's `Params` is a field of the engine's configuration
([`config_class`][mmae.methods.registry.config_class]).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn as nn

from mmae import dist
from mmae.data.views import ViewRecipe, view_recipe
from mmae.models.siamese import Siamese, mlp

__all__ = ["Method", "MIMMethod", "SiameseMethod", "NoParams", "need"]


@dataclass(frozen=True)
class NoParams:
    """A method without hyper-parameters of its own (MAE)."""


def need(ok: bool, name: str, value) -> None:
    """A ValueError naming the field with an impossible value."""
    if not ok:
        raise ValueError(f"invalid {name}: {value!r}")


class Method:
    name: ClassVar[str] = ""
    label: ClassVar[str] = ""           # as the tables and figures print it
    family: ClassVar[str] = ""          # "mim" | "siamese": the engine that trains it
    Params: ClassVar[type] = NoParams   # its hyper-parameters; defaults: the published values

    def params(self, cfg):
        """This method's `Params`, read from an engine configuration by field name (validated)."""
        return self.Params(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(self.Params)})

    def __repr__(self) -> str:
        return f"<method {self.name}>"


# ------------------------------------------------------------------ masked image modeling

class MIMMethod(Method):
    """MAE plus `lam * R(Z)` on the CLS features `Z` of the global batch (Eq. (11) for M-MAE).

    `R` compares every pair of features of the global batch, so it is not a sum over micro-batches
    or processes. It is computed exactly by gradient caching: `global_regularizer` gathers the
    features of the global batch and returns `R` and its gradient `G` for this process's rows;
    every micro-step then backpropagates its MAE loss plus `lam <G_k, z_k>` for its own rows `k`
    (`objective`)."""

    family = "mim"
    regularized: ClassVar[bool] = True  # False: no `R` (MAE), no gradient caching

    def regularizer(self, z: torch.Tensor, p) -> torch.Tensor:
        """`R(Z)` of a batch of features `z` (B, d), in float32 outside autocast."""
        raise NotImplementedError

    def global_regularizer(self, z_local: torch.Tensor, p) -> tuple[torch.Tensor, torch.Tensor]:
        """`R` of the global batch and its gradient with respect to this process's rows `z_local`.

        Every process gathers the same global batch and computes the same `R`; the gradient of its
        own rows is all it backpropagates."""
        r, g = self.regularizer_grad(dist.all_gather_cat(z_local.detach().float()), p)
        lo = dist.get_rank() * z_local.shape[0]
        return r, g[lo:lo + z_local.shape[0]]

    def regularizer_grad(self, z: torch.Tensor, p) -> tuple[torch.Tensor, torch.Tensor]:
        """`R(Z)` of the batch `z` (detached) and its gradient `G = dR/dZ`."""
        z = z.detach().float().requires_grad_(True)
        with torch.enable_grad():
            r = self.regularizer(z, p)
            (g,) = torch.autograd.grad(r, z)
        return r.detach(), g

    def objective(self, mae: torch.Tensor, z: torch.Tensor, p, cached=None,
                  grad_weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss one micro-step backpropagates, `mae + lam * R`, and `R` (detached).

        `cached`: `(R, G_k)` of the global batch from the step's first pass, or None to compute them
        from `z` (one micro-step: the step's own features are the process's share). The value is
        `mae + lam R`; the gradient of the `R` term is `grad_weight * <G_k, dz_k>`, where
        `grad_weight` is the number of micro-steps times processes (the loop averages both, while
        `R`'s gradient is their sum), times the recipe's `reg_grad_scale`."""
        r, g = cached if cached is not None else self.global_regularizer(z, p)
        surrogate = (z.float() * g).sum() * grad_weight
        reg = r + (surrogate - surrogate.detach())
        return mae + p.lam * reg, reg.detach()


# ------------------------------------------------------------------ Siamese

class SiameseMethod(Method):
    """Two views of each image, a head on a backbone and a batch-level loss (Section 3.2)."""

    family = "siamese"
    # view 2 differs from view 1 (blur, solarisation; BYOL and Barlow Twins)
    asymmetric_views: ClassVar[bool] = False
    # what the method changes in the engine's recipe, per data-set family ("cifar", "digits";
    # Fashion-MNIST keeps CIFAR's): learning rate, weight decay, head sizes, its own `Params`
    RECIPES: ClassVar[dict] = {}
    # its model: a `Siamese` subclass built from (backbone, projector, params)
    Model: ClassVar[type] = Siamese

    def views(self, dataset: str, mean, std, size: int) -> ViewRecipe:
        """The augmentation recipe of the method's two views on `dataset`."""
        return view_recipe(dataset, mean, std, size, asymmetric=self.asymmetric_views)

    def projector(self, backbone: nn.Module, cfg) -> nn.Sequential:
        """The projector on the backbone's features: `proj_layers` Linear layers (`mmae.models.siamese.mlp`)."""
        return mlp(backbone.num_features, cfg.proj_hidden, cfg.proj_out, cfg.proj_layers)

    def build(self, backbone: nn.Module, cfg) -> Siamese:
        """The model the engine trains: backbone, head and the method's loss."""
        return self.Model(backbone, self.projector(backbone, cfg), self.params(cfg))

    def bound_lams(self, cfg) -> dict:
        """The method's own lambda for the matrix-information bounds it is read with
        (`sc_lam`, `bt_lam`; methods without one are read with lambda = 1)."""
        return {}

    def after_update(self, model: nn.Module, it: int, total: int, p) -> dict:
        """After optimiser step `it` of `total` (BYOL's target update); values to log."""
        return {}
