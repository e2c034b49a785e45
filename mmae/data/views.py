r"""Two-view augmentation batched on the device (kornia), for the Siamese methods.

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
no flip (a mirrored digit is another symbol), no colour, no blur. Fashion-MNIST (28x28 grayscale)
takes CIFAR's recipe without the flip (every shoe faces left, so a mirror image is off the data's
distribution) and without what needs colour: saturation, hue and grayscale.

Keyed randomness (`TwoViews.forward(x, gen)` with a [`mmae.data.keyed.SampleRandom`][mmae.data.keyed.SampleRandom] over the
batch's sample indices): kornia's modules draw from torch's global generator, and its `ColorJitter`
draws one order of its four steps per *batch*, so passing keyed parameter dicts to them could not
make a sample's view independent of its batch. The keyed path therefore implements the recipe's
ops itself, with the same ops, probabilities and ranges: the crop boxes of
[`mmae.data.transforms.sample_crop_boxes`][mmae.data.transforms.sample_crop_boxes] (torchvision's sampling, as kornia's) resampled
bilinearly by [`mmae.data.transforms.resized_crop`][mmae.data.transforms.resized_crop] (pixel-edge convention, as torchvision;
kornia aligns corner pixel centres, a sub-pixel difference); flip; kornia's own colour-jitter kernels
(`kornia.enhance`) with per-sample factors in kornia's ranges and a per-sample random order of the
four steps (the semantics of torchvision's per-image `ColorJitter`; each sample's order is uniform
either way); grayscale; Gaussian blur with $\sigma \sim U(0.1, 2)$ and reflected borders; solarisation
at 0.5. Per-sample choices are `torch.where` selections, so the keyed path has no host sync. View 1
draws first and view 2 next, so the two views use different streams of `gen`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import kornia.augmentation as K
import kornia.enhance as KE
import torch
import torch.nn as nn
from kornia.color import rgb_to_grayscale
from kornia.filters import gaussian_blur2d

from mmae.data.keyed import SampleRandom
from mmae.data.transforms import _rand, random_hflip, resized_crop, sample_crop_boxes


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


def view_recipe(dataset: str, mean, std, size: int, asymmetric: bool = False) -> ViewRecipe:
    """The augmentation recipe on `dataset` ("digits", "fashion-mnist", "cifar10", ...); `asymmetric`:
    view 2 differs from view 1 (blur and solarisation, BYOL's and Barlow Twins'; a method says which,
    `mmae.methods.base.SiameseMethod.views`)."""
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if dataset == "digits":
        return ViewRecipe(size=size, mean=mean, std=std, crop_scale=(0.5, 1.0), flip_p=0.0,
                          jitter=(0.4, 0.4, 0.0, 0.0), jitter_p=0.8, gray_p=0.0)
    solarize = (0.0, 0.2) if asymmetric else (0.0, 0.0)
    if dataset == "fashion-mnist":
        return ViewRecipe(size=size, mean=mean, std=std, flip_p=0.0, jitter=(0.4, 0.4, 0.0, 0.0), gray_p=0.0,
                          solarize_p=solarize)
    blur = (1.0, 0.1) if (asymmetric and size > 32) else ((0.5, 0.5) if size > 32 else (0.0, 0.0))
    return ViewRecipe(size=size, mean=mean, std=std, blur_p=blur, solarize_p=solarize)


def _jitter(r: ViewRecipe, channels: int) -> tuple[float, float, float, float]:
    b, c, s, h = r.jitter
    if channels != 3:
        s, h = 0.0, 0.0  # saturation and hue are undefined for one channel
    return b, c, s, h


def _blur_kernel(size: int) -> int:
    return 2 * round(0.05 * size) + 1  # ~10% of the side, odd (SimCLR)


def _pipeline(r: ViewRecipe, view: int, channels: int) -> nn.Sequential:
    ops: list[nn.Module] = [K.RandomResizedCrop((r.size, r.size), scale=r.crop_scale)]
    if r.flip_p > 0:
        ops.append(K.RandomHorizontalFlip(p=r.flip_p))
    b, c, s, h = _jitter(r, channels)
    if r.jitter_p > 0 and (b or c or s or h):
        ops.append(K.ColorJitter(b, c, s, h, p=r.jitter_p))
    if r.gray_p > 0 and channels == 3:
        ops.append(K.RandomGrayscale(p=r.gray_p))
    if r.blur_p[view] > 0:
        k = _blur_kernel(r.size)
        ops.append(K.RandomGaussianBlur((k, k), (0.1, 2.0), p=r.blur_p[view]))
    if r.solarize_p[view] > 0:
        ops.append(K.RandomSolarize(0.0, 0.0, p=r.solarize_p[view]))  # threshold exactly 0.5
    return nn.Sequential(*ops)


# kornia ColorJitter's four steps (brightness, contrast, saturation, hue in turns)
_JITTER_STEPS = (KE.adjust_brightness_accumulative, KE.adjust_contrast_with_mean_subtraction,
                 KE.adjust_saturation_with_gray_subtraction, lambda x, f: KE.adjust_hue(x, f * (2 * math.pi)))


def _keyed_view(r: ViewRecipe, view: int, x: torch.Tensor, gen: SampleRandom) -> torch.Tensor:
    """One view of `x` (float in [0, 1]) by the recipe of [`_pipeline`][mmae.data.views._pipeline], every parameter from `gen`."""
    n, C, H, W = x.shape
    u = lambda *shape: _rand(gen, n, *shape, device=x.device)
    pick = lambda p, new, old: torch.where((u() < p).view(-1, 1, 1, 1), new, old)
    x = resized_crop(x, sample_crop_boxes(n, H, W, r.crop_scale, device=x.device, gen=gen), r.size, mode="bilinear")
    if r.flip_p > 0:
        x = random_hflip(x, r.flip_p, gen=gen)
    jit = _jitter(r, C)
    if r.jitter_p > 0 and any(jit):
        lo = [max(0.0, 1.0 - v) for v in jit[:3]]  # kornia's ranges: [max(0, 1 - v), 1 + v], hue [-h, h]
        f = u(4)
        factors = [lo[i] + (1.0 + jit[i] - lo[i]) * f[:, i] for i in range(3)] + [jit[3] * (2.0 * f[:, 3] - 1.0)]
        order = gen.bits(4).to(x.device).argsort(dim=1, stable=True)  # a uniform permutation per sample
        y = x
        for k in range(4):  # step k applies each sample's k-th op: every op is computed, one is kept
            z = y
            for i in (i for i in range(4) if jit[i] > 0):  # a zero-range step is skipped, as kornia does
                z = torch.where((order[:, k] == i).view(-1, 1, 1, 1), _JITTER_STEPS[i](y, factors[i]), z)
            y = z
        x = pick(r.jitter_p, y.clamp(0.0, 1.0), x)
    if r.gray_p > 0 and C == 3:
        x = pick(r.gray_p, rgb_to_grayscale(x).expand_as(x), x)
    if r.blur_p[view] > 0:
        k = _blur_kernel(r.size)
        sigma = (0.1 + 1.9 * u(1)).expand(n, 2)  # one sigma for both axes, as kornia
        x = pick(r.blur_p[view], gaussian_blur2d(x, (k, k), sigma, border_type="reflect"), x)
    if r.solarize_p[view] > 0:
        x = pick(r.solarize_p[view], torch.where(x >= 0.5, 1.0 - x, x), x)
    return x


class TwoViews(nn.Module):
    """`(x uint8 (B,C,H,W)) -> (view1, view2)`, each float, normalised by the recipe's mean/std."""

    def __init__(self, recipe: ViewRecipe, channels: int):
        super().__init__()
        if len(recipe.mean) != channels or len(recipe.std) != channels:
            raise ValueError(f"recipe has {len(recipe.mean)} mean / {len(recipe.std)} std values "
                             f"for {channels} channels")
        self.recipe, self.channels = recipe, channels
        self.aug1 = _pipeline(recipe, 0, channels)
        self.aug2 = _pipeline(recipe, 1, channels)
        self.register_buffer("mean", torch.tensor(recipe.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(recipe.std).view(1, -1, 1, 1), persistent=False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()

    @torch.no_grad()
    def forward(self, x: torch.Tensor, gen: SampleRandom | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Two views of `x`; with `gen` (over the batch's sample indices) a sample's views are a
        function of (seed, epoch, sample index) only (see the module docstring), else kornia's modules
        draw from torch's generator."""
        x = self.to_float(x)
        if gen is None:
            return self.normalize(self.aug1(x)), self.normalize(self.aug2(x))
        if len(gen) != x.shape[0]:
            raise ValueError(f"gen holds {len(gen)} sample indices for a batch of {x.shape[0]}")
        v1 = _keyed_view(self.recipe, 0, x, gen)  # drawn first: view 2 uses later streams
        return self.normalize(v1), self.normalize(_keyed_view(self.recipe, 1, x, gen))

    @torch.no_grad()
    def plain(self, x: torch.Tensor) -> torch.Tensor:
        """The un-augmented, normalised image (evaluation: kNN, linear probe)."""
        return self.normalize(self.to_float(x))
