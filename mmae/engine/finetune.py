"""End-to-end fine-tuning of a pretrained MAE / U-MAE / M-MAE encoder (the MAE protocol).

    python -m mmae.engine.finetune --pretrained runs/mmae_b --dataset imagenet --data-root /data/imagenet \\
        --out runs/mmae_b_ft                                  # ViT-B: 100 epochs, ld 0.65, drop path 0.1
    python -m mmae.engine.finetune --pretrained runs/mmae_l ... --epochs 50 --blr 1e-3 --layer-decay 0.75 \\
        --drop-path 0.2                                        # ViT-L

Recipe (He et al., 2022, Table 9): global-average-pooled features + ``fc_norm`` + linear head
(trunc-normal init, std 2e-5), AdamW (0.9, 0.999), weight decay 0.05 (none on norms, biases,
tokens), layer-wise lr decay, ``lr = blr * global_batch / 256`` (blr 5e-4, batch 1024), 5 warmup
epochs then cosine, drop path, RandAugment m9-mstd0.5, random erasing 0.25, mixup 0.8 / cutmix 1.0
with label smoothing 0.1. The position embedding is trained, as in the public code. Reports top-1
and top-5 on the test / validation split (final and best epoch).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmae import dist
from mmae.data import data_info
from mmae.data.transforms import GpuAugment, mixup_cutmix, soft_target_cross_entropy
from mmae.engine.common import (FiniteGuard, JsonlLogger, autocast, lr_at, param_groups, progress,
                                seed_everything, set_lr)
from mmae.engine.linprobe import load_pretrained
from mmae.engine.pretrain import (Batches, _check_common, cli, epoch_record, evaluate_topk, grad_step, last_record,
                                  make_adamw, maybe_checkpoint, micro_context, resume, run_prologue, schedule,
                                  train_test_batches, wrap_ddp)
from mmae.models import VisionTransformer, load_encoder_weights, build_vit

__all__ = ["FinetuneConfig", "run", "main", "build_finetune_model"]


@dataclass
class FinetuneConfig:
    pretrained: str = ""              # pretraining run dir, checkpoint.pt or official .pth; "" = from scratch
    dataset: str = "imagenet"
    data_root: str = ""
    model: str = "base"               # overridden by the pretraining run's config when there is one
    patch_size: int = 0
    epochs: int = 100
    warmup_epochs: int = 5
    batch_size: int = 128             # per process and micro-step
    accum_iter: int = 1
    blr: float = 5e-4
    lr: float = 0.0                   # absolute lr; 0: blr * global batch / 256
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    layer_decay: float = 0.65         # 0.75 for ViT-L
    drop_path: float = 0.1            # 0.2 for ViT-L
    clip_grad: float = 0.0
    smoothing: float = 0.1
    mixup: float = 0.8
    cutmix: float = 1.0
    mixup_switch_prob: float = 0.5
    randaug_ops: int = 2              # RandAugment layers; 0 disables it
    randaug_magnitude: float = 9.0
    randaug_mstd: float = 0.5
    reprob: float = 0.25
    crop_scale_min: float = 0.08
    seed: int = 0
    eval_every: int = 1
    ckpt_every: int = 10
    skip_corrupt: bool = False        # ImageNet: replace unreadable images (counted in the log) instead of stopping
    num_workers: int = 10
    device: str = "auto"
    compile: bool = False
    progress: bool = False
    resume: bool = True

    def __post_init__(self):
        _check_common(self)
        if not 0.0 < self.layer_decay <= 1.0:
            raise ValueError(f"layer_decay must be in (0, 1], got {self.layer_decay}")
        if not 0.0 <= self.drop_path < 1.0 or not 0.0 <= self.smoothing < 1.0 or not 0.0 <= self.reprob <= 1.0:
            raise ValueError(f"need drop_path in [0, 1), smoothing in [0, 1), reprob in [0, 1]; got "
                             f"{self.drop_path}, {self.smoothing}, {self.reprob}")

    @classmethod
    def mini(cls, **overrides) -> "FinetuneConfig":
        # 8x8 digits: no crop, flip, RandAugment, erasing or mixing (each destroys a digit at this size)
        base = dict(dataset="digits", model="mini-b", epochs=10, warmup_epochs=1, batch_size=128, blr=8e-3,
                    layer_decay=0.75, drop_path=0.0, mixup=0.0, cutmix=0.0, randaug_ops=0, reprob=0.0,
                    crop_scale_min=1.0, eval_every=10, ckpt_every=5, num_workers=0, device="cpu")
        return cls(**{**base, **overrides})


def build_finetune_model(size: str, patch_size: int, dataset: str, drop_path: float,
                         state: dict | None = None) -> VisionTransformer:
    info = data_info(dataset)
    model = build_vit(size, img_size=info.img_size, patch_size=patch_size, in_chans=info.in_chans,
                num_classes=info.num_classes, global_pool=True, drop_path_rate=drop_path, trainable_pos_embed=True)
    if state is not None:
        load_encoder_weights(model, state)
    nn.init.trunc_normal_(model.head.weight, std=2e-5)
    return model


def train_one_epoch(model, optimizer, batches: Batches, aug: GpuAugment, cfg: FinetuneConfig, epoch: int,
                    steps_per_epoch: int, base_lr: float, guard: FiniteGuard, num_classes: int) -> dict:
    device = batches.device
    model.train()
    sums = torch.zeros(1, device=device)
    n_micro = steps_per_epoch * cfg.accum_iter
    mixing = cfg.mixup > 0 or cfg.cutmix > 0
    lr = 0.0
    for i, (x, y) in enumerate(progress(batches.epoch(epoch), total=len(batches), desc=f"finetune {epoch}",
                                        enabled=cfg.progress or None)):
        if i >= n_micro:
            break
        if i % cfg.accum_iter == 0:
            lr = lr_at(epoch * steps_per_epoch + i // cfg.accum_iter, base_lr=base_lr,
                       warmup_iters=cfg.warmup_epochs * steps_per_epoch, total_iters=cfg.epochs * steps_per_epoch,
                       min_lr=cfg.min_lr)
            set_lr(optimizer, lr)
        x = aug(x)
        if mixing:
            x, target = mixup_cutmix(x, y, num_classes, cfg.mixup, cfg.cutmix, cfg.mixup_switch_prob, cfg.smoothing)
        last = (i + 1) % cfg.accum_iter == 0
        with micro_context(model, last), autocast(device):
            logits = model(x).float()
            if mixing:
                loss = soft_target_cross_entropy(logits, target)
            else:
                loss = F.cross_entropy(logits, y, label_smoothing=cfg.smoothing)
            (loss / cfg.accum_iter).backward()
        guard.update(loss)
        sums += loss.detach()
        if last:
            grad_step(model, optimizer, cfg.clip_grad)
    sums = dist.all_reduce_mean(sums) / n_micro
    return {"loss": sums[0], "lr": lr}


def run(cfg: FinetuneConfig, out_dir: str | Path) -> dict:
    device, rd, done = run_prologue(cfg, out_dir)
    if done is not None:
        return done
    info = data_info(cfg.dataset)
    seed_everything(cfg.seed + dist.get_rank())
    if cfg.pretrained:
        state, size, patch = load_pretrained(cfg.pretrained, cfg.model, cfg.patch_size, cfg.dataset)
    else:
        from mmae.engine.pretrain import default_patch_size
        state, size, patch = None, cfg.model, cfg.patch_size or default_patch_size(cfg.dataset)
    model = build_finetune_model(size, patch, cfg.dataset, cfg.drop_path, state).to(device)
    train, test = train_test_batches(cfg, device)
    steps_per_epoch, global_batch, base_lr = schedule(cfg, train)
    groups = param_groups(model, cfg.weight_decay, layer_decay=cfg.layer_decay, num_layers=model.num_layers)
    optimizer = make_adamw(groups, base_lr, (0.9, 0.999), device)
    aug = GpuAugment("finetune", info.mean, info.std, info.img_size, crop=cfg.dataset != "imagenet",
                     flip=info.flip, scale=(cfg.crop_scale_min, 1.0), randaug_ops=cfg.randaug_ops, randaug_magnitude=cfg.randaug_magnitude,
                     randaug_mstd=cfg.randaug_mstd, reprob=cfg.reprob)
    plain = GpuAugment("eval", info.mean, info.std, info.img_size)
    log = JsonlLogger(rd.log_path)
    ckpt = resume(rd, cfg, model, optimizer)
    start, best = (ckpt["epoch"], ckpt["best"]) if ckpt is not None else (0, {"top1": 0.0, "top5": 0.0})
    ddp = wrap_ddp(model, device)
    step_model = torch.compile(ddp) if cfg.compile else ddp
    guard = FiniteGuard()
    ev = {}
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        stats = train_one_epoch(step_model, optimizer, train, aug, cfg, epoch, steps_per_epoch, base_lr, guard,
                                info.num_classes)
        guard.check(f"in fine-tuning epoch {epoch + 1}")
        stats = {k: float(v) for k, v in stats.items()}
        seconds = time.perf_counter() - t0
        record = epoch_record(epoch, stats, seconds, steps_per_epoch, global_batch, train, cfg.skip_corrupt)
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            ev = evaluate_topk(model, test, plain)
            record.update({f"test_{k}": v for k, v in ev.items()})
            if ev["top1"] > best["top1"]:
                best = {"top1": ev["top1"], "top5": ev["top5"]}
        log.log(record)
        maybe_checkpoint(rd, cfg, epoch, model, optimizer, best=best)
    if not ev:
        ev = evaluate_topk(model, test, plain)
    metrics = {"dataset": cfg.dataset, "model": size, "epochs": cfg.epochs, "top1": ev["top1"], "top5": ev["top5"],
               "test_loss": ev["loss"], "best_top1": best["top1"], "best_top5": best["top5"]}
    if dist.is_main():
        metrics["train_loss"] = last_record(log, cfg.epochs).get("loss")
    rd.write_metrics(metrics)
    dist.barrier()
    return metrics


def main(argv=None) -> int:
    return cli(FinetuneConfig, run, argv, "python -m mmae.engine.finetune", __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
