"""Masked image modeling pretraining: MAE, U-MAE and M-MAE (Sections 3.2 and 5, Eq. (11)).

    python -m mmae.engine.pretrain --method mmae --lam 0.01 --mu 1 --dataset imagenet \\
        --data-root /data/imagenet --model base --epochs 200 --out runs/mmae_b
    torchrun --nproc_per_node 8 -m mmae.engine.pretrain ...        # the same, on 8 GPUs
    python -m mmae.engine.pretrain --mini --method mmae --out runs/mini    # digits, mini-b, on a CPU

Objective per step: ``mae + lam * R(Z)`` where ``Z`` is the *global* batch of CLS features
(gathered across ranks with :func:`mmae.dist.all_gather_cat`) and ``R`` is

- ``method="mae"``:  nothing (He et al., 2022);
- ``method="umae"``: :func:`mmae.losses.uniformity_loss` (U-MAE, Zhang et al., 2022), ``tau``;
- ``method="mmae"``: :func:`mmae.losses.tcr_loss` (M-MAE, Eq. (11)), ``mu``.

Recipe (MAE): AdamW (0.9, 0.95), weight decay 0.05 except norms, biases, tokens and position
embeddings, ``lr = blr * global_batch / 256`` with ``blr = 1.5e-4``, linear warmup then cosine per
iteration, bf16 autocast on CUDA, mask ratio 0.75, normalised-pixel targets. The paper (Sec. 6.1)
uses U-MAE's settings: 200 epochs, global batch 1024, ``lam = 0.01``, ``mu = 1`` (ViT-B) / ``3`` (ViT-L).

Each epoch appends one JSON line to ``out/log.jsonl``: losses, lr, images/s and the effective
rank (Definition 5.1, :func:`mmae.info.effective_rank`) of the l2-normalised CLS features of a
fixed held-out batch (Figure 4). ``out/checkpoint.pt`` (atomic) holds model, optimiser, epoch,
per-rank RNG states and config; rerunning the command resumes from it.

This module also holds what the three MIM engines share (data iteration, evaluation, CLI).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
import time
import typing
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmae import dist
from mmae.data import DATASETS, data_info, load_tensors
from mmae.data.transforms import GpuAugment
from mmae.engine.common import (FiniteGuard, JsonlLogger, NonFiniteLoss, RunDir, autocast, load_checkpoint, lr_at,
                                param_groups, progress, rank_rng_states, resolve_device, restore_rank_rng,
                                save_checkpoint, seed_everything, set_lr)
from mmae.losses import tcr_loss, uniformity_loss
from mmae.models import VIT_SIZES, mae_vit

__all__ = ["PretrainConfig", "run", "main", "METHODS", "train_one_epoch", "Batches", "regularizer",
           "default_patch_size", "heldout_batch", "features_erank", "evaluate_topk", "cli"]

METHODS = ("mae", "umae", "mmae")

# fields that may change when a run is resumed (they do not change the result)
RESUME_IGNORES = ("device", "num_workers", "ckpt_every", "progress", "compile", "resume", "eval_every")


def default_patch_size(dataset: str) -> int:
    """16 on ImageNet (ViT-B/16, ViT-L/16); 4 on CIFAR (8x8 = 64 patches); 2 on the 8x8 digits (16 patches)."""
    return {"digits": 2, "cifar10": 4, "cifar100": 4}.get(dataset, 16)


def _check_common(cfg) -> None:
    if cfg.dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {cfg.dataset!r}")
    if cfg.model not in VIT_SIZES:
        raise ValueError(f"model must be one of {sorted(VIT_SIZES)}, got {cfg.model!r}")
    for name in ("epochs", "batch_size", "accum_iter"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.warmup_epochs < 0 or cfg.warmup_epochs > cfg.epochs:
        raise ValueError(f"warmup_epochs must be in [0, epochs={cfg.epochs}], got {cfg.warmup_epochs}")
    if cfg.dataset == "imagenet" and not cfg.data_root:
        raise ValueError("dataset 'imagenet' needs data_root (the folder holding train/ and val/)")


@dataclass
class PretrainConfig:
    method: str = "mae"              # mae | umae | mmae
    lam: float = 0.01                # regulariser weight lambda (U-MAE and M-MAE, Sec. 6.1)
    mu: float = 1.0                  # TCR mu of M-MAE (1 for ViT-B, 3 for ViT-L)
    tau: float = 1.0                 # U-MAE uniformity temperature (1 = "square" loss)
    dataset: str = "imagenet"        # digits | cifar10 | cifar100 | imagenet
    data_root: str = ""
    model: str = "base"              # encoder size, see mmae.models.VIT_SIZES
    patch_size: int = 0              # 0: the dataset's default (default_patch_size)
    mask_ratio: float = 0.75
    norm_pix_loss: bool = True
    epochs: int = 200
    warmup_epochs: int = 40
    batch_size: int = 64             # per process and micro-step
    accum_iter: int = 1              # micro-steps per optimiser step
    blr: float = 1.5e-4              # lr = blr * global batch / 256 ...
    lr: float = 0.0                  # ... unless given here (absolute)
    min_lr: float = 0.0
    weight_decay: float = 0.05
    beta1: float = 0.9
    beta2: float = 0.95
    clip_grad: float = 0.0           # 0: no clipping
    crop_scale_min: float = 0.2      # RandomResizedCrop scale (crop_scale_min, 1)
    seed: int = 0
    erank_batch: int = 256           # size of the fixed held-out batch for the effective rank
    ckpt_every: int = 20
    skip_corrupt: bool = False       # ImageNet: replace unreadable images (counted in the log) instead of stopping
    num_workers: int = 10
    device: str = "auto"
    compile: bool = False
    progress: bool = False           # force a progress bar even when stderr is not a terminal
    resume: bool = True

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {self.mask_ratio}")
        if self.lam < 0 or self.mu < 0 or self.tau <= 0:
            raise ValueError(f"need lam >= 0, mu >= 0, tau > 0; got lam={self.lam}, mu={self.mu}, tau={self.tau}")
        if not 0.0 < self.crop_scale_min <= 1.0:
            raise ValueError(f"crop_scale_min must be in (0, 1], got {self.crop_scale_min}")
        _check_common(self)

    @classmethod
    def mini(cls, **overrides) -> "PretrainConfig":
        """The mini-scale recipe (digits, a few seconds on a CPU core)."""
        base = dict(dataset="digits", model="mini-b", epochs=15, warmup_epochs=2, batch_size=128, blr=1.5e-3,
                    crop_scale_min=1.0, erank_batch=256, ckpt_every=5, num_workers=0, device="cpu")
        return cls(**{**base, **overrides})


# ------------------------------------------------------------------------- shared by the MIM engines

class Batches:
    """One rank's batches of ``(uint8 images, labels)`` on ``device``, epoch by epoch.

    Small data sets (digits, CIFAR) are held whole on the device and indexed there; ImageNet is
    decoded by DataLoader workers (random resized crop on the CPU when ``train``, resize + centre
    crop otherwise). Both use a ``DistributedSampler`` (seed + epoch), so the order is a function of
    the epoch only and a resumed run sees the same batches.
    """

    def __init__(self, dataset: str, split: str, *, train: bool, batch_size: int, device: torch.device,
                 data_root: str = "", seed: int = 0, crop_scale=(0.08, 1.0), num_workers: int = 8,
                 classes: list[str] | None = None, skip_corrupt: bool = False):
        from torch.utils.data.distributed import DistributedSampler

        self.device, self.batch_size, self.train = device, batch_size, train
        self.skipped = 0  # unreadable images replaced in the last epoch (skip_corrupt)
        rank, world = dist.get_rank(), dist.get_world_size()
        self.loader = None
        if dataset == "imagenet":
            from mmae.data.imagenet import ImageFolder, imagenet_loader
            ds = ImageFolder(data_root, "train" if split == "train" else "val", mode="train" if train else "eval",
                             scale=crop_scale, classes=classes, skip_corrupt=skip_corrupt)
            self.classes, self.num_samples = ds.classes, len(ds)
            self.loader = imagenet_loader(ds, batch_size, shuffle=train, seed=seed, num_workers=num_workers,
                                          rank=rank, world_size=world)
            self.sampler = self.loader.sampler
        else:
            x, y = load_tensors(dataset, split, data_root)
            self.x, self.y = x.to(device), y.to(device)
            self.classes, self.num_samples = None, len(x)
            self.sampler = DistributedSampler(range(len(x)), num_replicas=world, rank=rank, shuffle=train,
                                              seed=seed, drop_last=train)
        if len(self) == 0:
            raise ValueError(f"{dataset} {split} has {self.num_samples} images: fewer than one batch of "
                             f"{batch_size} per process on {world} process(es)")

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.train else math.ceil(n / self.batch_size)

    def epoch(self, epoch: int):
        self.sampler.set_epoch(epoch)
        self.skipped = 0
        if self.loader is not None:
            for x, y, skipped in self.loader:
                self.skipped += int(skipped.sum())  # a CPU tensor: no device sync
                yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            return
        idx = torch.tensor(list(iter(self.sampler)), dtype=torch.long, device=self.device)
        for i in range(len(self)):
            j = idx[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.x[j], self.y[j]


def heldout_batch(dataset: str, data_root: str, n: int, device: torch.device) -> torch.Tensor:
    """A fixed uint8 batch of ``n`` test/validation images, spread evenly over the split."""
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
    """Effective rank (Definition 5.1) of the ``(n, d)`` matrix of l2-normalised features of ``x``."""
    from mmae.info import effective_rank
    feats = torch.cat([encode(norm(x[i:i + chunk])).float() for i in range(0, len(x), chunk)])
    return float(effective_rank(F.normalize(feats, dim=-1)))


@torch.no_grad()
def evaluate_topk(model: nn.Module, batches: Batches, norm: GpuAugment, ks=(1, 5)) -> dict:
    """Top-k accuracies (%) and mean cross-entropy over the split, summed over ranks.

    With several processes the ``DistributedSampler`` pads the split to a multiple of the world
    size by repeating a few images (at most ``world_size - 1``), as in the MAE code."""
    was = model.training
    model.eval()
    dev = batches.device
    correct = torch.zeros(len(ks), device=dev, dtype=torch.float64)
    loss_sum = torch.zeros((), device=dev, dtype=torch.float64)
    count = torch.zeros((), device=dev, dtype=torch.float64)
    for x, y in batches.epoch(0):
        with autocast(dev):
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


def last_record(log: JsonlLogger, epoch: int) -> dict:
    recs = [r for r in log.read() if r.get("epoch") == epoch]
    return recs[-1] if recs else {}


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    if not dist.is_distributed():
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def make_adamw(groups, lr: float, betas, device: torch.device) -> torch.optim.AdamW:
    # the fused kernel updates all parameters in one launch on CUDA
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=device.type == "cuda")


def grad_step(model: nn.Module, optimizer, clip_grad: float) -> None:
    if clip_grad > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def micro_context(model: nn.Module, sync: bool):
    """DDP synchronises gradients only on the last micro-step of an accumulated step."""
    if isinstance(model, nn.parallel.DistributedDataParallel) and not sync:
        return model.no_sync()
    return contextlib.nullcontext()


def schedule(cfg, batches) -> tuple[int, int, float]:
    """``(optimiser steps per epoch, global batch, base lr)``; lr = blr x global batch / 256 unless
    ``cfg.lr`` gives it (the MAE recipe's linear scaling rule)."""
    steps_per_epoch = len(batches) // cfg.accum_iter
    if steps_per_epoch == 0:
        raise ValueError(f"accum_iter={cfg.accum_iter} exceeds the {len(batches)} batches of an epoch")
    global_batch = cfg.batch_size * cfg.accum_iter * dist.get_world_size()
    return steps_per_epoch, global_batch, cfg.lr or cfg.blr * global_batch / 256


def train_test_batches(cfg, device) -> tuple["Batches", "Batches"]:
    """The labelled training and test batches of the linear probe and of fine-tuning."""
    train = Batches(cfg.dataset, "train", train=True, batch_size=cfg.batch_size, device=device,
                    data_root=cfg.data_root, seed=cfg.seed, crop_scale=(cfg.crop_scale_min, 1.0),
                    num_workers=cfg.num_workers, skip_corrupt=cfg.skip_corrupt)
    test = Batches(cfg.dataset, "test", train=False, batch_size=cfg.batch_size, device=device,
                   data_root=cfg.data_root, num_workers=cfg.num_workers, classes=train.classes,
                   skip_corrupt=cfg.skip_corrupt)
    return train, test


def resume(rd: RunDir, cfg, model: nn.Module, optimizer) -> dict | None:
    """Load the run's checkpoint into ``model`` and ``optimizer`` and restore every rank's RNG;
    returns the checkpoint (for its epoch and extras), or None for a fresh start."""
    ckpt = load_checkpoint(rd.ckpt_path) if cfg.resume else None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        restore_rank_rng(ckpt["rng"])
    return ckpt


def epoch_record(epoch: int, stats: dict, seconds: float, steps_per_epoch: int, global_batch: int,
                 batches: "Batches", skip_corrupt: bool) -> dict:
    """The log line of a finished epoch (``stats`` already synced to floats)."""
    record = {"epoch": epoch + 1, **stats, "images_per_s": steps_per_epoch * global_batch / seconds,
              "epoch_s": seconds}
    if skip_corrupt:
        record["skipped_images"] = batches.skipped  # this rank's
    return record


def maybe_checkpoint(rd: RunDir, cfg, epoch: int, model: nn.Module, optimizer, **extra) -> None:
    """Every ``ckpt_every`` epochs and after the last: model, optimiser, epoch, every rank's RNG
    state and the config, written atomically by rank 0."""
    if (epoch + 1) % cfg.ckpt_every and epoch + 1 != cfg.epochs:
        return
    rng = rank_rng_states()  # a collective: every rank takes part
    if dist.is_main():
        save_checkpoint(rd.ckpt_path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                       "epoch": epoch + 1, "rng": rng, "config": asdict(cfg), **extra})
    dist.barrier()


def run_prologue(cfg, out_dir):
    """Common start of every engine: device, distributed init, run directory and config check."""
    resolve_device(cfg.device)  # a CUDA request on a machine without CUDA is a ValueError
    device = dist.init_distributed(None if cfg.device == "auto" else cfg.device).device
    rd = RunDir(out_dir)
    rd.save_config(asdict(cfg), ignore=RESUME_IGNORES)  # refuses a directory holding another configuration
    dist.barrier()
    return device, rd, rd.metrics() if rd.done else None


# ------------------------------------------------------------------------- pretraining

def regularizer(z: torch.Tensor, cfg: PretrainConfig) -> torch.Tensor:
    """``R(Z)`` on the global batch: the U-MAE uniformity loss or M-MAE's ``-TCR`` (Eq. (11)).

    Computed in float32 outside autocast: both compare all B^2 pairs of features, which bf16's
    8-bit mantissa would blur."""
    with torch.autocast(device_type=z.device.type, enabled=False):
        zg = dist.all_gather_cat(z.float())
        if cfg.method == "mmae":
            return tcr_loss(zg, cfg.mu)
        return uniformity_loss(zg, cfg.tau)


def train_one_epoch(model, optimizer, batches: Batches, aug: GpuAugment, cfg: PretrainConfig, epoch: int,
                    steps_per_epoch: int, base_lr: float, guard: FiniteGuard) -> dict:
    """One pass over this rank's batches; statistics stay on the device until the end."""
    device = batches.device
    model.train()
    total_steps = cfg.epochs * steps_per_epoch
    sums = torch.zeros(3, device=device)  # loss, mae, regulariser
    n_micro = steps_per_epoch * cfg.accum_iter
    lr = 0.0
    for i, (x, _) in enumerate(progress(batches.epoch(epoch), total=len(batches), desc=f"pretrain {epoch}",
                                        enabled=cfg.progress or None)):
        if i >= n_micro:  # the tail that does not fill an accumulated step
            break
        if i % cfg.accum_iter == 0:
            it = epoch * steps_per_epoch + i // cfg.accum_iter
            lr = lr_at(it, base_lr=base_lr, warmup_iters=cfg.warmup_epochs * steps_per_epoch,
                       total_iters=total_steps, min_lr=cfg.min_lr)
            set_lr(optimizer, lr)
        last = (i + 1) % cfg.accum_iter == 0
        with micro_context(model, last), autocast(device):
            mae, _, _, z = model(aug(x), cfg.mask_ratio)
            reg = regularizer(z, cfg) if cfg.method != "mae" else torch.zeros((), device=device)
            loss = mae + cfg.lam * reg
            (loss / cfg.accum_iter).backward()
        guard.update(loss)
        sums += torch.stack([loss.detach(), mae.detach(), reg.detach()]).float()
        if last:
            grad_step(model, optimizer, cfg.clip_grad)
    sums = dist.all_reduce_mean(sums) / n_micro
    return {"loss": sums[0], "mae_loss": sums[1], "reg_loss": sums[2], "lr": lr}


def run(cfg: PretrainConfig, out_dir: str | Path) -> dict:
    """Pretrain (or resume, or return the metrics of a finished run in ``out_dir``)."""
    device, rd, done = run_prologue(cfg, out_dir)
    if done is not None:
        return done
    info = data_info(cfg.dataset)
    seed_everything(cfg.seed + dist.get_rank())
    patch = cfg.patch_size or default_patch_size(cfg.dataset)
    model = mae_vit(cfg.model, img_size=info.img_size, patch_size=patch, in_chans=info.in_chans,
                    norm_pix_loss=cfg.norm_pix_loss).to(device)
    world = dist.get_world_size()
    batches = Batches(cfg.dataset, "train", train=True, batch_size=cfg.batch_size, device=device,
                      data_root=cfg.data_root, seed=cfg.seed, crop_scale=(cfg.crop_scale_min, 1.0),
                      num_workers=cfg.num_workers, skip_corrupt=cfg.skip_corrupt)
    steps_per_epoch, global_batch, base_lr = schedule(cfg, batches)
    optimizer = make_adamw(param_groups(model, cfg.weight_decay), base_lr, (cfg.beta1, cfg.beta2), device)
    aug = GpuAugment("pretrain", info.mean, info.std, info.img_size, crop=cfg.dataset != "imagenet",
                     flip=info.flip, scale=(cfg.crop_scale_min, 1.0))
    plain = GpuAugment("eval", info.mean, info.std, info.img_size)
    heldout = heldout_batch(cfg.dataset, cfg.data_root, cfg.erank_batch, device) if dist.is_main() else None
    log = JsonlLogger(rd.log_path)

    ckpt = resume(rd, cfg, model, optimizer)
    start = ckpt["epoch"] if ckpt is not None else 0
    if ckpt is None and dist.is_main():
        log.log({"epoch": 0, "erank": features_erank(model.features, heldout, plain)})
    ddp = wrap_ddp(model, device)
    step_model = torch.compile(ddp) if cfg.compile else ddp
    guard = FiniteGuard()
    stats = {}
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        stats = train_one_epoch(step_model, optimizer, batches, aug, cfg, epoch, steps_per_epoch, base_lr, guard)
        guard.check(f"in pretraining epoch {epoch + 1}")  # one sync per epoch; raises before any save
        stats = {k: float(v) for k, v in stats.items()}
        seconds = time.perf_counter() - t0
        record = epoch_record(epoch, stats, seconds, steps_per_epoch, global_batch, batches, cfg.skip_corrupt)
        if dist.is_main():
            record["erank"] = features_erank(model.features, heldout, plain)
        log.log(record)
        maybe_checkpoint(rd, cfg, epoch, model, optimizer, world_size=world)
    if not stats and dist.is_main():  # resumed from the final checkpoint: the last epoch's line has the losses
        stats = {k: v for k, v in last_record(log, cfg.epochs).items() if k in ("loss", "mae_loss", "reg_loss", "lr")}
    metrics = {"method": cfg.method, "model": cfg.model, "dataset": cfg.dataset, "epochs": cfg.epochs, **stats,
               "erank": features_erank(model.features, heldout, plain) if dist.is_main() else None}
    rd.write_metrics(metrics)
    dist.barrier()
    return metrics


# ------------------------------------------------------------------------- command line

class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _field_type(f: dataclasses.Field, hints: dict):
    t = hints[f.name]
    return t if t in (int, float, str) else str


def cli(config_cls, run_fn, argv=None, prog: str = "", doc: str = "") -> int:
    """Argparse front end built from a config dataclass: ``--field-name VALUE`` (booleans as
    ``--flag`` / ``--no-flag``), ``--out`` and ``--mini`` (start from the mini-scale recipe
    ``config_cls.mini()`` instead of the published one). Bad input: one line on stderr, exit code 2."""
    p = _Parser(prog=prog, description=(doc or "").split("\n\n")[0])
    p.add_argument("--out", required=True, help="run directory (reruns resume from its checkpoint)")
    p.add_argument("--mini", action="store_true", help="start from the mini-scale (digits, CPU) recipe")
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        flag = "--" + f.name.replace("_", "-")
        # only the options given on the command line override the recipe
        if hints[f.name] is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=f"(published recipe: {f.default})")
        else:
            p.add_argument(flag, type=_field_type(f, hints), default=argparse.SUPPRESS,
                           help=f"(published recipe: {f.default!r})")
    args = vars(p.parse_args(argv))
    out, mini = args.pop("out"), args.pop("mini")
    main_rank = True
    try:
        cfg = config_cls.mini(**args) if mini else config_cls(**args)
        metrics = run_fn(cfg, out)
        main_rank = dist.is_main()
    except (ValueError, NonFiniteLoss) as e:  # bad configuration or data, or a diverged run: say which
        # a loader worker's error arrives wrapped in a traceback; its last line is the message
        lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
        sys.stderr.write(f"{prog}: error: {lines[-1] if lines else type(e).__name__}\n")
        return 2 if isinstance(e, ValueError) else 1
    finally:
        dist.cleanup()
    if main_rank:
        print(json.dumps(metrics, sort_keys=True))
    return 0


def main(argv=None) -> int:
    return cli(PretrainConfig, run, argv, "python -m mmae.engine.pretrain", __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
