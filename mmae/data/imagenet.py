"""ImageNet (or any image-folder data set) in the standard layout `root/<split>/<class>/<image>`.

Decoding happens on CPU workers with Pillow; the crop is chosen *before* decoding so that JPEG
draft mode (DCT-domain downscaling by 1/2, 1/4 or 1/8) decodes no more pixels than the crop needs.
Workers return uint8 `(3, S, S)` tensors: four times less host-to-device traffic than float32,
and normalisation plus the remaining augmentations run batched on the GPU
([`mmae.data.transforms.GpuAugment`][mmae.data.transforms.GpuAugment]).

Problems with the data are reported as `ValueError` naming the offending path: a missing root or
split folder, a split folder without class folders, an empty class folder, an unreadable image.
With `skip_corrupt=True` an unreadable image is replaced by the next readable one and counted
(the third element of each sample), for large sets with a few damaged files.

A training crop is keyed by sample: `dataset[(index, epoch)]` draws it from
[`mmae.data.keyed.python_rng`][mmae.data.keyed.python_rng] of `(seed, epoch, index)`, so it does not depend on which worker
or process decodes the sample (a plain `dataset[index]` is epoch 0).

Decoding on the GPU (training crops): with `encoded=True` a sample is the file's bytes and its
crop box instead (the box drawn exactly as above, from the image size in the file's header), the
workers only read files, and the main process decodes the whole batch at once with nvJPEG
(`torchvision.io.decode_jpeg(device="cuda")`) and crops and resizes on the device
([`decode_crops`][mmae.data.imagenet.decode_crops]). The same boxes, the same bicubic filter (Pillow's $a = -0.5$ kernel,
antialiased): the two paths differ by Pillow's rounding to uint8 between its two passes (at most
one level), within a kernel's reach of the crop's edges (Pillow's kernel reads the pixels outside
the box) and by JPEG draft mode, which the Pillow path uses and nvJPEG does not. Without torchvision or CUDA the Pillow workers
decode ([`gpu_decode_reason`][mmae.data.imagenet.gpu_decode_reason] says why).
"""
from __future__ import annotations

import io
import math
import os
import random
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from mmae.data.keyed import python_rng

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "IMG_EXTENSIONS", "ImageFolder", "imagenet_loader", "rrc_box",
           "decode_resized_crop", "decode_center_crop", "read_crop", "resized_crops", "decode_crops",
           "collate_encoded", "gpu_decode_reason"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def rrc_box(width: int, height: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), rng: random.Random | None = None):
    """A RandomResizedCrop box `(left, top, w, h)` (torchvision's sampling: 10 attempts, then a
    centre crop with the aspect ratio clamped into `ratio`)."""
    rng = rng or random
    area = width * height
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        r = math.exp(rng.uniform(*log_r))
        w, h = int(round(math.sqrt(target * r))), int(round(math.sqrt(target / r)))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, width - w), rng.randint(0, height - h), w, h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        w, h = int(round(height * ratio[1])), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def _to_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def decode_resized_crop(path: str, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                        rng: random.Random | None = None) -> torch.Tensor:
    """Decode `path` and return a random resized crop `(3, size, size)` uint8 (bicubic)."""
    with Image.open(path) as img:
        W, H = img.size
        x0, y0, w, h = rrc_box(W, H, scale, ratio, rng)
        # draft keeps the decoded image at least as large as needed for the crop to cover `size` pixels
        img.draft("RGB", (math.ceil(W * size / w), math.ceil(H * size / h)))
        sx, sy = img.size[0] / W, img.size[1] / H
        img = img.convert("RGB")
        box = (x0 * sx, y0 * sy, (x0 + w) * sx, (y0 + h) * sy)
        return _to_tensor(img.resize((size, size), Image.BICUBIC, box=box))


def decode_center_crop(path: str, size: int = 224, resize: int = 256) -> torch.Tensor:
    """Evaluation: shorter side to `resize` (bicubic), centre crop `size`; uint8 `(3, size, size)`."""
    with Image.open(path) as img:
        W, H = img.size
        r = resize / min(W, H)
        img.draft("RGB", (math.ceil(W * r), math.ceil(H * r)))
        img = img.convert("RGB")
        W2, H2 = img.size
        if W2 <= H2:
            nw, nh = resize, int(resize * H2 / W2)
        else:
            nw, nh = int(resize * W2 / H2), resize
        img = img.resize((nw, nh), Image.BICUBIC)
        left, top = int(round((nw - size) / 2.0)), int(round((nh - size) / 2.0))
        return _to_tensor(img.crop((left, top, left + size, top + size)))


def read_crop(path: str, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), rng: random.Random | None = None):
    """The encoded file (uint8 bytes) and the crop box `(left, top, w, h)` (int64) that
    [`decode_resized_crop`][mmae.data.imagenet.decode_resized_crop] draws from the same `rng`; only the header is parsed."""
    with Image.open(path) as img:
        box = rrc_box(*img.size, scale, ratio, rng)
    return torch.from_numpy(np.fromfile(path, dtype=np.uint8)), torch.tensor(box, dtype=torch.int64)


def resized_crops(images, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Crop image $i$ (uint8 `(C, H, W)`, any size) to `boxes[i]` = `(left, top, w, h)` and resize
    it to `(size, size)`: bicubic with antialiasing, the filter of Pillow's `resize(BICUBIC, box=...)`
    (Keys' cubic with $a = -0.5$, support widened by the downscaling factor), in float32 on the
    images' device, rounded to uint8. `boxes` lives on the CPU (no device sync)."""
    out = [F.interpolate(img[None, :, y0:y0 + h, x0:x0 + w].float(), size=(size, size), mode="bicubic",
                         antialias=True, align_corners=False)
           for img, (x0, y0, w, h) in zip(images, boxes.tolist())]
    return torch.cat(out).round_().clamp_(0, 255).to(torch.uint8)


def gpu_decode_reason(device) -> str | None:
    """Why JPEGs cannot be decoded on `device` with nvJPEG; None when they can."""
    if torch.device(device).type != "cuda":
        return f"nvJPEG decoding needs a CUDA device, not {torch.device(device).type}"
    try:
        import torchvision.io  # noqa: F401
    except ImportError:
        return "torchvision is not installed (it decodes JPEGs on the GPU)"
    return None


def _decode_pillow(data: torch.Tensor) -> torch.Tensor:
    with Image.open(io.BytesIO(data.numpy().tobytes())) as img:
        return _to_tensor(img.convert("RGB"))


def _decode_named(data: torch.Tensor, name: str) -> torch.Tensor:
    try:
        return _decode_pillow(data)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        # the header was read when the crop box was drawn: the damage is in the body, found only now,
        # too late to replace the sample (the Pillow workers, `gpu_decode=False`, can skip it)
        raise ValueError(f"corrupt or unreadable image {name} ({type(e).__name__}: {e})") from None


def decode_crops(data: list, boxes: torch.Tensor, size: int, device, paths: list | None = None) -> torch.Tensor:
    """Decode a batch of encoded images on `device` and return their crops `(N, 3, size, size)` uint8.

    On CUDA, one batched nvJPEG call; an image it cannot decode (a PNG or CMYK JPEG, a handful of
    ImageNet's) is decoded by Pillow instead. On a CPU, Pillow (full resolution, no draft mode).
    An image neither can decode is a `ValueError` naming its file (`paths`, else its place in the batch)."""
    device = torch.device(device)
    names = paths if paths is not None else [f"#{i} of the batch" for i in range(len(data))]
    if device.type == "cuda":
        from torchvision.io import ImageReadMode, decode_jpeg
        try:
            images = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
        except RuntimeError:  # find the odd files one by one
            images = []
            for d, name in zip(data, names):
                try:
                    images.append(decode_jpeg(d, mode=ImageReadMode.RGB, device=device))
                except RuntimeError:
                    images.append(_decode_named(d, name).to(device, non_blocking=True))
    else:
        images = [_decode_named(d, name) for d, name in zip(data, names)]
    return resized_crops(images, boxes, size)


def collate_encoded(samples):
    """A DataLoader batch of `((bytes, box, path), label, skipped)` samples:
    `((list of bytes, boxes, list of paths), labels, skipped)`."""
    return (([s[0][0] for s in samples], torch.stack([s[0][1] for s in samples]), [s[0][2] for s in samples]),
            torch.tensor([s[1] for s in samples]), torch.tensor([s[2] for s in samples]))


class ImageFolder(torch.utils.data.Dataset):
    """`root/<split>/<class>/<image>`; classes are the sorted folder names (WordNet ids for ImageNet).

    `mode`: "train" (random resized crop with `scale`) or "eval" (resize + centre crop).
    `classes`: the class list to use (pass the training split's to the validation split; a
    mismatch is an error). Each sample is `(uint8 image (3, size, size), label, n_skipped)`.
    Index with `index` or `(index, epoch)`: a training crop is a function of `(seed, epoch, index)`.
    `encoded=True` (training mode): samples are `((file bytes, crop box, path), label, n_skipped)` for
    [`decode_crops`][mmae.data.imagenet.decode_crops]; unreadable files are then found by the header read only.
    """

    def __init__(self, root: str, split: str = "train", mode: str = "train", size: int = 224,
                 scale=(0.08, 1.0), resize: int = 256, classes: list[str] | None = None,
                 skip_corrupt: bool = False, seed: int = 0, encoded: bool = False):
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        if encoded and mode != "train":
            raise ValueError("encoded samples (decoding on the device) are for training crops, mode='train'")
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        if not os.path.isdir(root):
            raise ValueError(f"image folder root not found: {root}")
        folder = os.path.join(root, split)
        if not os.path.isdir(folder):
            raise ValueError(f"split folder not found: {folder} (expected {root}/{split}/<class>/<image>)")
        found = sorted(e.name for e in os.scandir(folder) if e.is_dir())
        if not found:
            loose = [e.name for e in os.scandir(folder) if e.is_file()]
            hint = f"; it holds {len(loose)} loose files (images must sit in class folders)" if loose else ""
            raise ValueError(f"wrong layout: {folder} has no class folders (expected {folder}/<class>/<image>){hint}")
        if classes is not None and list(classes) != found:
            extra, missing = sorted(set(found) - set(classes)), sorted(set(classes) - set(found))
            raise ValueError(f"class folders of {folder} differ from the expected classes "
                             f"(extra {extra[:5]}, missing {missing[:5]})")
        self.root, self.split, self.mode, self.size, self.scale, self.resize = root, split, mode, size, tuple(scale), resize
        self.skip_corrupt, self.seed, self.encoded = skip_corrupt, seed, encoded
        self.classes = found
        self.class_to_idx = {c: i for i, c in enumerate(found)}
        self.samples: list[tuple[str, int]] = []
        for c in found:
            d = os.path.join(folder, c)
            files = sorted(e.path for e in os.scandir(d) if e.is_file() and e.name.lower().endswith(IMG_EXTENSIONS))
            if not files:
                raise ValueError(f"class folder {d} holds no images (extensions {', '.join(IMG_EXTENSIONS)})")
            self.samples += [(f, self.class_to_idx[c]) for f in files]
        self.targets = [t for _, t in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def _load(self, path: str, index: int, epoch: int) -> torch.Tensor:
        if self.encoded:
            return (*read_crop(path, self.scale, rng=python_rng(self.seed, epoch, index)), path)
        if self.mode == "train":
            return decode_resized_crop(path, self.size, self.scale, rng=python_rng(self.seed, epoch, index))
        return decode_center_crop(path, self.size, self.resize)

    def __getitem__(self, i: int | tuple[int, int]):
        if isinstance(i, tuple):
            if len(i) != 2:
                raise ValueError(f"index a sample by index or (index, epoch), got a tuple of {len(i)}")
            i, epoch = int(i[0]), int(i[1])
            if epoch < 0:
                raise ValueError(f"epoch must be non-negative, got {epoch}")
        else:
            epoch = 0
        i = int(i) % len(self.samples)
        skipped = 0
        for k in range(len(self.samples)):
            path, label = self.samples[(i + k) % len(self.samples)]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    # keyed by the requested index, fresh per attempt: a replacement's crop does not
                    # depend on how far a failed decode got
                    return self._load(path, i, epoch), label, skipped
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
                    Image.DecompressionBombError) as e:
                if not self.skip_corrupt:
                    raise ValueError(f"corrupt or unreadable image {path} ({type(e).__name__}: {e})") from None
                skipped += 1
        raise ValueError(f"no readable image in {os.path.join(self.root, self.split)}")


def imagenet_loader(dataset: torch.utils.data.Dataset, batch_size: int, *, shuffle: bool, seed: int = 0,
                    num_workers: int = 8, rank: int = 0, world_size: int = 1, drop_last: bool | None = None,
                    pin_memory: bool | None = None) -> torch.utils.data.DataLoader:
    """A DataLoader over `dataset` with a `DistributedSampler` (also on one process, so one
    code path); call `loader.sampler.set_epoch(epoch)` every epoch."""
    from torch.utils.data.distributed import DistributedSampler

    drop_last = shuffle if drop_last is None else drop_last
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed,
                                 drop_last=drop_last)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, drop_last=drop_last,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        persistent_workers=num_workers > 0)
