"""Batched image augmentations that run on the device holding the batch (GPU in production).

Every function takes a float batch `(N, C, H, W)` (values in [0, 1] unless stated) and draws an
independent random transform per sample, with no host synchronisation: per-sample choices are made
with tensor ops and `torch.where`, never by branching on device values. Photometric kernels come
from `kornia.enhance` where their semantics match PIL's.

Randomness: every random function takes `gen`. With `gen=None` the numbers come from torch's
generator of the batch's device (reproducible and resumable from saved RNG states, but a sample's
transform depends on what else its process drew). With a [`mmae.data.keyed.SampleRandom`][mmae.data.keyed.SampleRandom] over the
batch's sample indices, row $i$ of every draw is a function of (run seed, epoch, sample index) only,
with the same distribution as the unkeyed draw: a sample's augmentation is then the same whichever
process or gradient-accumulation micro-step holds it, and whatever else is in its batch.

Recipes (MAE, He et al. 2022):

- pretraining: RandomResizedCrop(scale 0.2-1, bicubic) + horizontal flip + normalise;
- linear probe: RandomResizedCrop(scale 0.08-1, bicubic) + flip + normalise;
- fine-tuning: RandomResizedCrop(0.08-1) + flip + RandAugment(n=2, m=9, mstd=0.5, increasing
  magnitudes) + normalise + random erasing (p=0.25, pixel mode), then mixup (alpha 0.8) /
  cutmix (alpha 1.0) with label smoothing 0.1 on the batch;
- evaluation: resize 256 (bicubic) + centre crop 224 (done at decode time for ImageNet, see
  [`mmae.data.imagenet`][mmae.data.imagenet]; the small in-memory data sets are evaluated at native size).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import kornia.enhance as KE
import torch
import torch.nn.functional as F

from mmae.data.keyed import SampleRandom

__all__ = ["normalize", "sample_crop_boxes", "resized_crop", "random_resized_crop", "random_hflip",
           "rand_augment", "RAND_AUGMENT_OPS", "random_erasing", "mixup_cutmix", "one_hot_smooth",
           "soft_target_cross_entropy", "GpuAugment", "to_unit_float"]


def to_unit_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 `[0, 255]` -> float32 `[0, 1]` (floats pass through)."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """`(x - mean) / std` per channel. Pass tensors already on `x`'s device in a training step
    (`GpuAugment` does): a tuple is copied to the device on every call, which waits for the host."""
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


def _keyed(gen: SampleRandom | None, n: int) -> bool:
    if gen is not None and len(gen) != n:
        raise ValueError(f"gen holds {len(gen)} sample indices for a batch of {n}")
    return gen is not None


def _rand(gen: SampleRandom | None, n: int, *shape: int, device) -> torch.Tensor:
    """Uniform $[0, 1)$ of shape `(n, *shape)`: row $i$ keyed by sample $i$ when `gen` is given,
    else from torch's generator (both on the same $2^{-24}$ grid, so the distributions are equal).
    `gen` draws on its index's device; `.to` is a no-op when that is the batch's."""
    return gen.rand(*shape).to(device) if _keyed(gen, n) else torch.rand((n, *shape), device=device)


def _randn(gen: SampleRandom | None, n: int, *shape: int, device) -> torch.Tensor:
    return gen.randn(*shape).to(device) if _keyed(gen, n) else torch.randn((n, *shape), device=device)


def _randint(gen: SampleRandom | None, high: int, n: int, *shape: int, device) -> torch.Tensor:
    if _keyed(gen, n):
        return gen.randint(high, *shape).to(device)
    return torch.randint(0, high, (n, *shape), device=device)


def _uniform(gen, n, shape, lo, hi, device):
    return _rand(gen, n, *shape, device=device) * (hi - lo) + lo


def sample_crop_boxes(n: int, height: int, width: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                      device="cpu", attempts: int = 10, *, gen: SampleRandom | None = None) -> torch.Tensor:
    """RandomResizedCrop boxes `(n, 4)` = `(x0, y0, w, h)` in pixels (Szegedy et al., 2015).

    As torchvision: up to `attempts` draws of an area fraction in `scale` and a log-uniform
    aspect ratio; the first draw that fits is used; if none fits, a centre crop with the aspect
    ratio clamped into `ratio`. All attempts are drawn at once, so there is no host sync.
    `gen`: a [`mmae.data.keyed.SampleRandom`][mmae.data.keyed.SampleRandom] over the `n` samples keys row $i$ by sample $i$.
    """
    area = height * width
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    target = _uniform(gen, n, (attempts,), scale[0], scale[1], device) * area
    r = torch.exp(_uniform(gen, n, (attempts,), log_r[0], log_r[1], device))
    w = torch.round(torch.sqrt(target * r))
    h = torch.round(torch.sqrt(target / r))
    ok = (w > 0) & (h > 0) & (w <= width) & (h <= height)
    first = torch.argmax(ok.int(), dim=1, keepdim=True)  # first fitting attempt (0 when none fits)
    any_ok = ok.any(dim=1)
    w, h = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0]
    # fallback: the whole image, cropped to the nearest allowed aspect ratio
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        fw, fh = round(height * ratio[1]), height
    else:
        fw, fh = width, height
    w = torch.where(any_ok, w, torch.full_like(w, fw))
    h = torch.where(any_ok, h, torch.full_like(h, fh))
    # integer offsets, uniform over the valid positions (randint(0, H - h + 1) per sample)
    y0 = torch.floor(_rand(gen, n, device=device) * (height - h + 1))
    x0 = torch.floor(_rand(gen, n, device=device) * (width - w + 1))
    y0 = torch.where(any_ok, y0, torch.full_like(y0, (height - fh) // 2))
    x0 = torch.where(any_ok, x0, torch.full_like(x0, (width - fw) // 2))
    return torch.stack([x0, y0, w, h], dim=1)


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, size, mode: str = "bicubic") -> torch.Tensor:
    """Crop each image to its box `(x0, y0, w, h)` and resize it to `size` in one `grid_sample`.

    Pixel-edge convention (`align_corners=False`): the box edges map exactly onto the output's
    edges, so the whole-image box is the identity resampling. Bicubic overshoot is clamped to [0, 1].
    """
    oh, ow = (size, size) if isinstance(size, int) else size
    N, _, H, W = x.shape
    x0, y0, w, h = boxes.to(x.dtype).unbind(1)
    theta = torch.zeros(N, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = w / W
    theta[:, 0, 2] = (2 * x0 + w) / W - 1
    theta[:, 1, 1] = h / H
    theta[:, 1, 2] = (2 * y0 + h) / H - 1
    grid = F.affine_grid(theta, [N, x.shape[1], oh, ow], align_corners=False)
    out = F.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=False)
    return out.clamp_(0.0, 1.0) if mode == "bicubic" else out


def random_resized_crop(x: torch.Tensor, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), mode="bicubic", *,
                        gen: SampleRandom | None = None) -> torch.Tensor:
    boxes = sample_crop_boxes(x.shape[0], x.shape[-2], x.shape[-1], scale, ratio, device=x.device, gen=gen)
    return resized_crop(x, boxes, size, mode)


def random_hflip(x: torch.Tensor, p: float = 0.5, *, gen: SampleRandom | None = None) -> torch.Tensor:
    flip = _rand(gen, x.shape[0], device=x.device) < p
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


# --------------------------------------------------------------------------- RandAugment
# The "increasing" op set of timm's rand-m9-mstd0.5-inc1 (the MAE fine-tuning recipe): every op's
# strength grows with the magnitude level in [0, 10]; each chosen op is applied with probability 0.5.
RAND_AUGMENT_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd",
                    "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY")
_MAX_LEVEL = 10.0


def _gray(x):
    if x.shape[1] == 1:
        return x
    return (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])


def _blend(degenerate, x, factor):
    # PIL ImageEnhance: degenerate + factor * (x - degenerate), clipped
    return (degenerate + factor.view(-1, 1, 1, 1) * (x - degenerate)).clamp(0.0, 1.0)


def _autocontrast(x):
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    scale = torch.where(hi > lo, 1.0 / (hi - lo).clamp_min(1e-12), torch.ones_like(hi))
    return torch.where(hi > lo, (x - lo) * scale, x)


def _affine(x, mats, fill):
    """Apply per-sample 2x3 pixel-space affine maps (output pixel -> input pixel, centred
    coordinates) with bilinear sampling; outside the image takes `fill`."""
    N, C, H, W = x.shape
    # convert from centred pixel units to grid_sample's normalised units
    sx, sy = W / 2.0, H / 2.0
    theta = mats.clone()
    theta[:, 0, 1] = mats[:, 0, 1] * sy / sx
    theta[:, 1, 0] = mats[:, 1, 0] * sx / sy
    theta[:, 0, 2] = mats[:, 0, 2] / sx
    theta[:, 1, 2] = mats[:, 1, 2] / sy
    grid = F.affine_grid(theta.to(x.dtype), [N, C, H, W], align_corners=False)
    ones = torch.ones(N, 1, H, W, dtype=x.dtype, device=x.device)
    out = F.grid_sample(torch.cat([x, ones], 1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    inside = out[:, -1:]
    if isinstance(fill, (int, float)):  # a fill kernel on the device, no copy from the host
        fill = x.new_full((1, 1, 1, 1), float(fill))
    fill = torch.as_tensor(fill, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return out[:, :-1] + (1.0 - inside) * fill


def rand_augment(x: torch.Tensor, num_ops: int = 2, magnitude: float = 9.0, mstd: float = 0.5,
                 prob: float = 0.5, fill=0.5, *, gen: SampleRandom | None = None) -> torch.Tensor:
    """RandAugment (Cubuk et al., 2020) with timm's increasing ops and Gaussian magnitude noise.

    Per sample and per layer: one op drawn uniformly from `RAND_AUGMENT_OPS`, applied with
    probability `prob`, at level `clip(N(magnitude, mstd), 0, 10)`. Geometric ops (rotate up to
    30 deg, shear up to 0.3, translate up to 45% of the size, random sign) share one resampling
    per layer; photometric ops are computed on the batch and selected per sample (no host sync).
    `x` is in [0, 1]; `fill` is the colour exposed by geometric ops (MAE: the ImageNet mean).
    """
    N, C, H, W = x.shape
    dev = x.device
    n_ops = len(RAND_AUGMENT_OPS)
    for _ in range(num_ops):
        op = _randint(gen, n_ops, N, device=dev)
        op = torch.where(_rand(gen, N, device=dev) < prob, op, torch.full_like(op, -1))  # -1: skipped
        level = (magnitude + mstd * _randn(gen, N, device=dev)).clamp(0.0, _MAX_LEVEL) / _MAX_LEVEL
        sign = torch.where(_rand(gen, N, device=dev) < 0.5, -1.0, 1.0)
        is_op = {name: (op == i) for i, name in enumerate(RAND_AUGMENT_OPS)}

        # geometric ops: one affine per sample, identity when the sample chose another op
        ang = torch.where(is_op["Rotate"], level * 30.0 * sign, torch.zeros_like(level)) * (math.pi / 180)
        shx = torch.where(is_op["ShearX"], level * 0.3 * sign, torch.zeros_like(level))
        shy = torch.where(is_op["ShearY"], level * 0.3 * sign, torch.zeros_like(level))
        tx = torch.where(is_op["TranslateX"], level * 0.45 * W * sign, torch.zeros_like(level))
        ty = torch.where(is_op["TranslateY"], level * 0.45 * H * sign, torch.zeros_like(level))
        cos, sin = torch.cos(ang), torch.sin(ang)
        mats = torch.zeros(N, 2, 3, device=dev)
        # rotation R, then shears (only one op is non-trivial per sample, so the order is immaterial)
        mats[:, 0, 0] = cos + shx * sin
        mats[:, 0, 1] = -sin + shx * cos
        mats[:, 1, 0] = sin + shy * cos
        mats[:, 1, 1] = cos - shy * sin
        mats[:, 0, 2] = tx
        mats[:, 1, 2] = ty
        geo = is_op["Rotate"] | is_op["ShearX"] | is_op["ShearY"] | is_op["TranslateX"] | is_op["TranslateY"]
        out = torch.where(geo.view(-1, 1, 1, 1), _affine(x, mats, fill), x)

        # photometric ops
        u8 = (x * 255.0).round()
        factor = 1.0 + level * 0.9 * sign  # Color / Contrast / Brightness / Sharpness
        bits = (4 - (level * 4).floor()).to(torch.int64).clamp(0, 8)  # PosterizeIncreasing: 4..0 bits kept
        post = torch.where(bits.view(-1, 1, 1, 1) >= 8, u8,
                           torch.floor(u8 / 2.0 ** (8 - bits).view(-1, 1, 1, 1)) * 2.0 ** (8 - bits).view(-1, 1, 1, 1))
        thresh = (256 - (level * 256).floor()).view(-1, 1, 1, 1)  # SolarizeIncreasing
        add = (level * 110).floor().view(-1, 1, 1, 1)  # SolarizeAdd: below 128 only
        mean_gray = _gray(x).mean(dim=(-3, -2, -1), keepdim=True)
        photometric = {
            "AutoContrast": _autocontrast(x),
            "Equalize": KE.equalize(x) if H * W > 1 else x,
            "Invert": 1.0 - x,
            "Posterize": post / 255.0,
            "Solarize": torch.where(u8 >= thresh, 255.0 - u8, u8) / 255.0,
            "SolarizeAdd": torch.where(u8 < 128, (u8 + add).clamp(max=255.0), u8) / 255.0,
            "Color": _blend(_gray(x).expand_as(x), x, factor),
            "Contrast": _blend(mean_gray.expand_as(x), x, factor),
            "Brightness": _blend(torch.zeros_like(x), x, factor),
            "Sharpness": KE.sharpness(x, factor) if min(H, W) >= 3 else x,
        }
        for name, y in photometric.items():
            out = torch.where(is_op[name].view(-1, 1, 1, 1), y, out)
        x = out
    return x


def random_erasing(x: torch.Tensor, p: float = 0.25, scale=(0.02, 1 / 3), ratio=(0.3, 3.3),
                   attempts: int = 10, *, gen: SampleRandom | None = None) -> torch.Tensor:
    """Random erasing (Zhong et al., 2020), timm's "pixel" mode on a normalised batch: with
    probability `p` a rectangle of area fraction in `scale` and log-uniform aspect in `ratio`
    is replaced by standard-normal noise. A sample whose attempts all fail to fit is left alone.
    With `gen` the noise is keyed too (`gen.randn(C, H, W)`): a sample's noise is its own.
    """
    N, C, H, W = x.shape
    dev = x.device
    target = _uniform(gen, N, (attempts,), scale[0], scale[1], dev) * (H * W)
    r = torch.exp(_uniform(gen, N, (attempts,), math.log(ratio[0]), math.log(ratio[1]), dev))
    h = torch.round(torch.sqrt(target * r))
    w = torch.round(torch.sqrt(target / r))
    ok = (w < W) & (h < H) & (w > 0) & (h > 0)
    first = torch.argmax(ok.int(), dim=1, keepdim=True)
    h, w = h.gather(1, first)[:, 0], w.gather(1, first)[:, 0]
    do = ok.any(dim=1) & (_rand(gen, N, device=dev) < p)
    top = torch.floor(_rand(gen, N, device=dev) * (H - h + 1))
    left = torch.floor(_rand(gen, N, device=dev) * (W - w + 1))
    rows = torch.arange(H, device=dev).view(1, H, 1)
    cols = torch.arange(W, device=dev).view(1, 1, W)
    box = ((rows >= top.view(-1, 1, 1)) & (rows < (top + h).view(-1, 1, 1))
           & (cols >= left.view(-1, 1, 1)) & (cols < (left + w).view(-1, 1, 1)) & do.view(-1, 1, 1))
    noise = torch.randn_like(x) if gen is None else _randn(gen, N, C, H, W, device=dev).to(x.dtype)
    return torch.where(box.unsqueeze(1), noise, x)


def one_hot_smooth(y: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """Label-smoothed one-hot targets: `1 - s + s/K` on the label, `s/K` elsewhere."""
    off = smoothing / num_classes
    return torch.full((y.shape[0], num_classes), off, device=y.device).scatter_(1, y.view(-1, 1), 1.0 - smoothing + off)


def mixup_cutmix(x: torch.Tensor, y: torch.Tensor, num_classes: int, mixup_alpha: float = 0.8,
                 cutmix_alpha: float = 1.0, switch_prob: float = 0.5, smoothing: float = 0.1):
    """Mixup (Zhang et al., 2018) or CutMix (Yun et al., 2019) on the whole batch, paired with the
    batch reversed, with smoothed soft targets, as timm's `Mixup(mode="batch")` of the MAE recipe.

    One `lam` per batch is drawn on the CPU generator (no device sync): CutMix with probability
    `switch_prob` (`lam ~ Beta(cutmix_alpha)`, box area `1 - lam`, `lam` then corrected to the
    clipped box), otherwise Mixup (`lam ~ Beta(mixup_alpha)`). Returns `(x_mixed, soft_targets)`.

    Not keyed by sample (no `gen`): a sample's result depends on the batch composition (its partner
    is the sample at the mirrored position, and `lam` is shared by the batch), so it changes when the
    global batch is split across processes or micro-steps, as timm's batch mode does.
    """
    t = one_hot_smooth(y, num_classes, smoothing)
    use_cut = cutmix_alpha > 0 and (mixup_alpha <= 0 or float(torch.rand(())) < switch_prob)
    alpha = cutmix_alpha if use_cut else mixup_alpha
    if alpha <= 0:
        return x, t
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    if use_cut:
        H, W = x.shape[-2:]
        cut = math.sqrt(1.0 - lam)
        ch, cw = int(H * cut), int(W * cut)
        cy, cx = int(torch.randint(0, H, ())), int(torch.randint(0, W, ()))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, H)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, W)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = x.flip(0)[:, :, y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / float(H * W)
    else:
        x = x * lam + x.flip(0) * (1.0 - lam)
    return x, t * lam + t.flip(0) * (1.0 - lam)


def soft_target_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of `-sum_k t_k log softmax(logits)_k`."""
    return torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()


@dataclass
class GpuAugment:
    """A recipe applied to a uint8 batch on its device; returns the normalised float batch.

    `kind`: "pretrain" (RRC scale 0.2-1 + flip), "linprobe" (RRC 0.08-1 + flip), "finetune"
    (RRC + flip + RandAugment + random erasing) or "eval" (no augmentation). `crop=False` skips
    the RandomResizedCrop when the loader has already cropped (ImageNet decodes crops on the CPU);
    `flip=False` for data where a mirror image is another class (digits). `scale=(1, 1)` turns
    the crop off (on a square image RandomResizedCrop can then only return the whole image).
    """
    kind: str
    mean: tuple
    std: tuple
    size: int
    crop: bool = True
    flip: bool = True
    scale: tuple | None = None
    randaug_ops: int = 2  # 0: no RandAugment
    randaug_magnitude: float = 9.0
    randaug_mstd: float = 0.5
    reprob: float = 0.25
    _consts: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.kind not in ("pretrain", "linprobe", "finetune", "eval"):
            raise ValueError(f"unknown augmentation kind {self.kind!r}")
        if self.scale is None:
            self.scale = (0.2, 1.0) if self.kind == "pretrain" else (0.08, 1.0)

    def _device_consts(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and std as `(1, C, 1, 1)` float32 tensors on `device`, copied there once."""
        if device not in self._consts:
            self._consts[device] = tuple(torch.tensor(v, dtype=torch.float32, device=device).view(1, -1, 1, 1)
                                         for v in (self.mean, self.std))
        return self._consts[device]

    @property
    def deterministic(self) -> bool:
        """True when the recipe draws no randomness (the same image always gives the same output)."""
        return self.kind == "eval" or (self.kind != "finetune" and not self.flip
                                       and not (self.crop and self.scale[0] < 1.0))

    def __call__(self, x: torch.Tensor, *, gen: SampleRandom | None = None) -> torch.Tensor:
        """Augment `x`; with `gen` (over the batch's sample indices) every draw is keyed by sample."""
        _keyed(gen, x.shape[0])
        x = to_unit_float(x)
        mean, std = self._device_consts(x.device)
        if self.kind != "eval":
            if self.crop and self.scale[0] < 1.0:  # scale (1, 1) on square images is the identity
                x = random_resized_crop(x, self.size, self.scale, gen=gen)
            if self.flip:
                x = random_hflip(x, gen=gen)
            if self.kind == "finetune" and self.randaug_ops > 0:
                fill = mean if x.shape[1] == len(self.mean) else 0.5
                x = rand_augment(x, self.randaug_ops, self.randaug_magnitude, self.randaug_mstd, fill=fill, gen=gen)
        x = normalize(x, mean, std)
        if self.kind == "finetune" and self.reprob > 0:
            x = random_erasing(x, self.reprob, gen=gen)
        return x
