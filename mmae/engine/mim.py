"""What the three masked-image-modeling engines (pretrain, linprobe, finetune) share: the common
configuration fields, the data, the pretrained-weights loader and the evaluations."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmae import dist
from mmae.data import DATASETS, data_info, load_tensors
from mmae.data.transforms import GpuAugment
from mmae.engine.batches import EvalBatches, Folder, Tensors, TrainBatches, split_batch
from mmae.engine.common import autocast, load_checkpoint
from mmae.engine.config import TrainConfig
from mmae.models import VIT_SIZES

__all__ = ["MIMConfig", "default_patch_size", "train_test_data", "load_pretrained", "evaluate_topk",
           "heldout_batch", "features_erank", "make_adamw"]


def default_patch_size(dataset: str) -> int:
    """16 on ImageNet (ViT-B/16, ViT-L/16); 4 on CIFAR (8x8 = 64 patches); 2 on the 8x8 digits (16 patches)."""
    return {"digits": 2, "cifar10": 4, "cifar100": 4}.get(dataset, 16)


@dataclass
class MIMConfig(TrainConfig):
    dataset: str = "imagenet"        # digits | cifar10 | cifar100 | imagenet
    data_root: str = ""              # ImageNet: the folder holding train/ and val/; CIFAR: the pickles' folder
    model: str = "base"              # encoder size, see mmae.models.VIT_SIZES
    patch_size: int = 0              # 0: the dataset's default (default_patch_size)
    crop_scale_min: float = 0.08     # RandomResizedCrop scale (crop_scale_min, 1)
    skip_corrupt: bool = False       # ImageNet: replace unreadable images (counted in the log) instead of stopping
    num_workers: int = 10            # ImageNet decoding processes

    def __post_init__(self):
        super().__post_init__()
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.model not in VIT_SIZES:
            raise ValueError(f"model must be one of {sorted(VIT_SIZES)}, got {self.model!r}")
        if self.dataset == "imagenet" and not self.data_root:
            raise ValueError("dataset 'imagenet' needs data_root (the folder holding train/ and val/)")
        if not 0.0 < self.crop_scale_min <= 1.0:
            raise ValueError(f"crop_scale_min must be in (0, 1], got {self.crop_scale_min}")
        if self.patch_size < 0 or self.num_workers < 0:
            raise ValueError(f"patch_size and num_workers must be >= 0, got {self.patch_size}, {self.num_workers}")


def _source(cfg: MIMConfig, split: str, device, train: bool, classes=None):
    if cfg.dataset == "imagenet":
        from mmae.data.imagenet import ImageFolder
        ds = ImageFolder(cfg.data_root, "train" if split == "train" else "val", mode="train" if train else "eval",
                         scale=(cfg.crop_scale_min, 1.0), classes=classes, skip_corrupt=cfg.skip_corrupt, seed=cfg.seed)
        return Folder(ds, device, cfg.num_workers)
    return Tensors(*load_tensors(cfg.dataset, split, cfg.data_root), device)


def train_test_data(cfg: MIMConfig, device, test: bool = True) -> tuple[TrainBatches, EvalBatches | None]:
    """The training batches (global batch split for this process) and the test / validation batches."""
    train_src = _source(cfg, "train", device, train=True)
    split = split_batch(cfg.batch_size, dist.get_world_size(), cfg.accum_iter, cfg.max_micro_batch)
    train = TrainBatches(train_src, split, cfg.seed)
    if not test:
        return train, None
    test_src = _source(cfg, "test", device, train=False, classes=train_src.classes)
    return train, EvalBatches(test_src, split.micro)


def make_adamw(groups, lr: float, betas, device: torch.device) -> torch.optim.AdamW:
    # the fused kernel updates a group's parameters in one launch on CUDA and one loop on a CPU, where
    # the per-tensor form cost the mini scale's 74 tensors 5.4 ms a step against 1.0 ms fused
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=device.type in ("cpu", "cuda"))


def load_pretrained(path: str, model: str, patch_size: int, dataset: str) -> tuple[dict, str, int]:
    """`(state_dict, model size, patch size)` from a pretraining run directory (its `config.json`
    gives the model and patch size), our `checkpoint.pt`, or an official MAE / U-MAE / M-MAE `.pth`.
    A file that would need more than tensors and the official `args` to load is refused, unrun."""
    p = Path(path)
    if p.is_dir():
        cfg_path = p / "config.json"
        if not cfg_path.exists():
            raise ValueError(f"{p} is not a pretraining run directory (no config.json)")
        pcfg = json.loads(cfg_path.read_text())
        model, patch_size = pcfg.get("model", model), pcfg.get("patch_size") or patch_size
        if pcfg.get("dataset") and pcfg["dataset"] != dataset:
            # transfer is allowed only when the image format matches
            a, b = data_info(pcfg["dataset"]), data_info(dataset)
            if (a.img_size, a.in_chans) != (b.img_size, b.in_chans):
                raise ValueError(f"{p} was pretrained on {pcfg['dataset']} ({a.img_size}px, {a.in_chans} ch), "
                                 f"which does not fit {dataset} ({b.img_size}px, {b.in_chans} ch)")
        p = p / "checkpoint.pt"
    if not p.exists():
        raise ValueError(f"pretrained checkpoint not found: {p}")
    ckpt = load_checkpoint(p, official=True)  # tensors and the official `args` Namespace, nothing else
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{p} holds no state dict (expected a dict of tensors, or one under 'model')")
    return state, model, patch_size or default_patch_size(dataset)


def heldout_batch(dataset: str, data_root: str, n: int, device: torch.device) -> torch.Tensor:
    """A fixed uint8 batch of `n` test/validation images, spread evenly over the split."""
    if dataset == "imagenet":
        from mmae.data.imagenet import ImageFolder
        ds = ImageFolder(data_root, "val", mode="eval")
        picks = torch.linspace(0, len(ds) - 1, min(n, len(ds))).round().long().tolist()
        return torch.stack([ds[i][0] for i in picks]).to(device)
    x, _ = load_tensors(dataset, "test", data_root)
    picks = torch.linspace(0, len(x) - 1, min(n, len(x))).round().long()
    return x[picks].to(device)


@torch.no_grad()
def features_erank(encode, x: torch.Tensor, norm: GpuAugment, chunk: int = 256) -> float:
    """Effective rank (Definition 5.1) of the `(n, d)` matrix of l2-normalised features of `x`."""
    from mmae.info import effective_rank
    feats = torch.cat([encode(norm(x[i:i + chunk])).float() for i in range(0, len(x), chunk)])
    return float(effective_rank(F.normalize(feats, dim=-1)))


@torch.no_grad()
def evaluate_topk(model: nn.Module, batches: EvalBatches, norm: GpuAugment, device, ks=(1, 5)) -> dict:
    """Top-k accuracies (%) and mean cross-entropy over the split; every image counted once over
    the processes."""
    was = model.training
    model.eval()
    correct = torch.zeros(len(ks), device=device, dtype=torch.float64)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    count = torch.zeros((), device=device, dtype=torch.float64)
    for x, y in batches:
        with autocast(device):
            logits = model(norm(x))
        logits = logits.float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
        top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
        hit = top == y[:, None]
        for i, k in enumerate(ks):
            correct[i] += hit[:, :k].any(dim=1).sum()
        count += y.numel()
    stats = torch.cat([correct, loss_sum.view(1), count.view(1)])
    if dist.is_distributed():
        torch.distributed.all_reduce(stats)
    model.train(was)
    n = float(stats[-1])
    out = {f"top{k}": 100.0 * float(stats[i]) / n for i, k in enumerate(ks)}
    out["loss"] = float(stats[len(ks)]) / n
    return out
