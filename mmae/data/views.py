"""Two-view augmentation batched on the device (kornia), for the Siamese methods.

A whole batch of uint8 images (B, C, H, W) already on the device goes in; two independently
augmented, normalised float views come out. Per-sample randomness, no host round trip, so the
data path does not bound the step when the dataset is held on the GPU.

Recipes (per view, since BYOL and Barlow Twins augment their two views asymmetrically):
- random resized crop, horizontal flip, colour jitter (p=0.8), grayscale (p=0.2) as in
  SimCLR (Chen et al., 2020, Appendix A) with CIFAR's crop scale (0.08, 1) and strength 0.5
  jitter (0.4, 0.4, 0.4, 0.1), the values solo-learn's CIFAR configs use;
- Gaussian blur (BYOL Table 6: p = 1.0 / 0.1) only for images larger than 32 px: SimCLR and
  BYOL drop blur on CIFAR;
- solarisation p = 0.0 / 0.2 for BYOL (Grill et al., 2020, Table 6) and Barlow Twins
  (Zbontar et al., 2021, Sec. 4).
The digits recipe (8x8 grayscale) keeps a milder crop (0.5, 1) and brightness/contrast jitter;
no flip (a mirrored digit is another symbol), no colour, no blur.
"""
from __future__ import annotations

from dataclasses import dataclass

import kornia.augmentation as K
import torch
import torch.nn as nn


@dataclass(frozen=True)
class ViewRecipe:
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_scale: tuple[float, float] = (0.08, 1.0)
    flip_p: float = 0.5
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
    jitter_p: float = 0.8
    gray_p: float = 0.2
    blur_p: tuple[float, float] = (0.0, 0.0)
    solarize_p: tuple[float, float] = (0.0, 0.0)


METHODS = ("simclr", "spectral", "barlow", "byol")


def view_recipe(method: str, dataset: str, mean, std, size: int) -> ViewRecipe:
    """The augmentation recipe of `method` on `dataset` ("digits", "cifar10", "cifar100", ...)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if dataset == "digits":
        return ViewRecipe(size=size, mean=mean, std=std, crop_scale=(0.5, 1.0), flip_p=0.0,
                          jitter=(0.4, 0.4, 0.0, 0.0), jitter_p=0.8, gray_p=0.0)
    asym = method in ("byol", "barlow")
    blur = (1.0, 0.1) if (asym and size > 32) else ((0.5, 0.5) if size > 32 else (0.0, 0.0))
    return ViewRecipe(size=size, mean=mean, std=std, blur_p=blur, solarize_p=(0.0, 0.2) if asym else (0.0, 0.0))


def _pipeline(r: ViewRecipe, view: int, channels: int) -> nn.Sequential:
    ops: list[nn.Module] = [K.RandomResizedCrop((r.size, r.size), scale=r.crop_scale)]
    if r.flip_p > 0:
        ops.append(K.RandomHorizontalFlip(p=r.flip_p))
    b, c, s, h = r.jitter
    if channels != 3:
        s, h = 0.0, 0.0  # saturation and hue are undefined for one channel
    if r.jitter_p > 0 and (b or c or s or h):
        ops.append(K.ColorJitter(b, c, s, h, p=r.jitter_p))
    if r.gray_p > 0 and channels == 3:
        ops.append(K.RandomGrayscale(p=r.gray_p))
    if r.blur_p[view] > 0:
        k = 2 * round(0.05 * r.size) + 1  # ~10% of the side, odd (SimCLR)
        ops.append(K.RandomGaussianBlur((k, k), (0.1, 2.0), p=r.blur_p[view]))
    if r.solarize_p[view] > 0:
        ops.append(K.RandomSolarize(0.0, 0.0, p=r.solarize_p[view]))  # threshold exactly 0.5
    return nn.Sequential(*ops)


class TwoViews(nn.Module):
    """`(x uint8 (B,C,H,W)) -> (view1, view2)`, each float, normalised by the recipe's mean/std."""

    def __init__(self, recipe: ViewRecipe, channels: int):
        super().__init__()
        if len(recipe.mean) != channels or len(recipe.std) != channels:
            raise ValueError(f"recipe has {len(recipe.mean)} mean / {len(recipe.std)} std values "
                             f"for {channels} channels")
        self.recipe = recipe
        self.aug1 = _pipeline(recipe, 0, channels)
        self.aug2 = _pipeline(recipe, 1, channels)
        self.register_buffer("mean", torch.tensor(recipe.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(recipe.std).view(1, -1, 1, 1), persistent=False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.to_float(x)
        return self.normalize(self.aug1(x)), self.normalize(self.aug2(x))

    @torch.no_grad()
    def plain(self, x: torch.Tensor) -> torch.Tensor:
        """The un-augmented, normalised image (evaluation: kNN, linear probe)."""
        return self.normalize(self.to_float(x))
