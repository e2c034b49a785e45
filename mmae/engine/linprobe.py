"""Linear probing of a pretrained MAE / U-MAE / M-MAE encoder (the MAE protocol).

    python -m mmae.engine.linprobe --pretrained runs/mmae_b --dataset imagenet --data-root /data/imagenet \\
        --out runs/mmae_b_lin

The encoder is frozen; its CLS token after the final norm feeds ``BatchNorm1d(affine=False,
eps=1e-6)`` and a linear layer (``head.0``, ``head.1``, the layout of MAE's linear-probe
checkpoints). LARS without weight decay, ``lr = blr * global_batch / 256`` with ``blr = 0.1``,
batch 16384 (reached by gradient accumulation when memory is short), 90 epochs with 10 of warmup,
RandomResizedCrop + flip. Reports top-1 / top-5 on the test / validation split.

``pretrained`` is a pretraining run directory (its ``config.json`` gives the model size and patch
size), our ``checkpoint.pt``, or an official MAE / U-MAE / M-MAE ``.pth`` (give ``--model`` and
``--patch-size`` then).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmae import dist
from mmae.data import data_info
from mmae.data.transforms import GpuAugment
from mmae.engine.common import (LARS, FiniteGuard, JsonlLogger, autocast, load_checkpoint, lr_at, progress,
                                seed_everything, set_lr)
from mmae.engine.pretrain import (Batches, _check_common, cli, default_patch_size, epoch_record, evaluate_topk,
                                  grad_step, last_record, maybe_checkpoint, micro_context, resume, run_prologue,
                                  schedule, train_test_batches, wrap_ddp)
from mmae.models import VisionTransformer, load_encoder_weights, build_vit

__all__ = ["LinProbeConfig", "run", "main", "load_pretrained", "build_probe"]


@dataclass
class LinProbeConfig:
    pretrained: str = ""              # pretraining run dir, checkpoint.pt or official .pth
    dataset: str = "imagenet"
    data_root: str = ""
    model: str = "base"               # overridden by the pretraining run's config when there is one
    patch_size: int = 0
    epochs: int = 90
    warmup_epochs: int = 10
    batch_size: int = 512             # per process and micro-step
    accum_iter: int = 32              # 512 x 32 = 16384 on one process
    blr: float = 0.1
    lr: float = 0.0                   # absolute lr; 0: blr * global batch / 256
    min_lr: float = 0.0
    weight_decay: float = 0.0
    crop_scale_min: float = 0.08
    seed: int = 0
    eval_every: int = 10              # evaluate every N epochs (and at the end)
    ckpt_every: int = 10
    skip_corrupt: bool = False        # ImageNet: replace unreadable images (counted in the log) instead of stopping
    num_workers: int = 10
    device: str = "auto"
    compile: bool = False
    progress: bool = False
    resume: bool = True

    def __post_init__(self):
        if not self.pretrained:
            raise ValueError("pretrained is required: a pretraining run directory or checkpoint file")
        _check_common(self)

    @classmethod
    def mini(cls, **overrides) -> "LinProbeConfig":
        # LARS's steps are relative (trust coefficient 1e-3 x |w|): the few steps of the mini scale need
        # a large blr; no crop and no flip on 8x8 digits, so the frozen features are computed once
        base = dict(dataset="digits", model="mini-b", epochs=30, warmup_epochs=3, batch_size=256, accum_iter=1,
                    blr=40.0, crop_scale_min=1.0, eval_every=30, ckpt_every=10, num_workers=0, device="cpu")
        return cls(**{**base, **overrides})


def load_pretrained(path: str, model: str, patch_size: int, dataset: str) -> tuple[dict, str, int]:
    """``(state_dict, model size, patch size)`` from a run directory, our checkpoint or an official one."""
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
    ckpt = load_checkpoint(p)
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{p} holds no state dict (expected a dict of tensors, or one under 'model')")
    return state, model, patch_size or default_patch_size(dataset)


def build_probe(size: str, patch_size: int, dataset: str, state: dict | None = None) -> VisionTransformer:
    """CLS-feature ViT with ``head = Sequential(BatchNorm1d(affine=False), Linear)``, encoder frozen."""
    info = data_info(dataset)
    model = build_vit(size, img_size=info.img_size, patch_size=patch_size, in_chans=info.in_chans,
                num_classes=info.num_classes, global_pool=False)
    if state is not None:
        load_encoder_weights(model, state)
    nn.init.trunc_normal_(model.head.weight, std=0.01)
    model.head = nn.Sequential(nn.BatchNorm1d(model.embed_dim, affine=False, eps=1e-6), model.head)
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("head.")
    return model


class _Probe(nn.Module):
    """Frozen encoder (no graph, eval mode) + trainable head: only the head sees gradients."""

    def __init__(self, model: VisionTransformer):
        super().__init__()
        self.model = model

    def forward(self, x):
        if x.ndim == 2:  # features cached once (see run)
            return self.model.head(x.float())
        with torch.no_grad():
            feats = self.model.forward_features(x)
        return self.model.head(feats.float())


def train_one_epoch(probe, optimizer, batches: Batches, aug: GpuAugment, cfg: LinProbeConfig, epoch: int,
                    steps_per_epoch: int, base_lr: float, guard: FiniteGuard) -> dict:
    device = batches.device
    probe.train()
    sums = torch.zeros(2, device=device)
    n_micro = steps_per_epoch * cfg.accum_iter
    lr = 0.0
    for i, (x, y) in enumerate(progress(batches.epoch(epoch), total=len(batches), desc=f"linprobe {epoch}",
                                        enabled=cfg.progress or None)):
        if i >= n_micro:
            break
        if i % cfg.accum_iter == 0:
            lr = lr_at(epoch * steps_per_epoch + i // cfg.accum_iter, base_lr=base_lr,
                       warmup_iters=cfg.warmup_epochs * steps_per_epoch, total_iters=cfg.epochs * steps_per_epoch,
                       min_lr=cfg.min_lr)
            set_lr(optimizer, lr)
        last = (i + 1) % cfg.accum_iter == 0
        with micro_context(probe, last), autocast(device):
            logits = probe(aug(x))
            loss = F.cross_entropy(logits.float(), y)
            (loss / cfg.accum_iter).backward()
        guard.update(loss)
        sums += torch.stack([loss.detach(), (logits.argmax(1) == y).float().mean() * 100])
        if last:
            grad_step(probe, optimizer, 0.0)
    sums = dist.all_reduce_mean(sums) / n_micro
    return {"loss": sums[0], "train_top1": sums[1], "lr": lr}


def run(cfg: LinProbeConfig, out_dir: str | Path) -> dict:
    device, rd, done = run_prologue(cfg, out_dir)
    if done is not None:
        return done
    info = data_info(cfg.dataset)
    seed_everything(cfg.seed + dist.get_rank())
    state, size, patch = load_pretrained(cfg.pretrained, cfg.model, cfg.patch_size, cfg.dataset)
    model = build_probe(size, patch, cfg.dataset, state).to(device)
    model.eval()  # the frozen encoder has no train-time behaviour; the head's BatchNorm is set to train below
    train, test = train_test_batches(cfg, device)
    steps_per_epoch, global_batch, base_lr = schedule(cfg, train)
    optimizer = LARS(model.head.parameters(), lr=base_lr, weight_decay=cfg.weight_decay)
    aug = GpuAugment("linprobe", info.mean, info.std, info.img_size, crop=cfg.dataset != "imagenet",
                     flip=info.flip, scale=(cfg.crop_scale_min, 1.0))
    plain = GpuAugment("eval", info.mean, info.std, info.img_size)
    log = JsonlLogger(rd.log_path)
    ckpt = resume(rd, cfg, model, optimizer)
    start = ckpt["epoch"] if ckpt is not None else 0
    probe = _Probe(model)
    if aug.deterministic and train.loader is None:
        # no augmentation draws randomness (digits: no flip, no crop), and the encoder is frozen: every
        # epoch would compute the same features, so compute them once (exactly the same training)
        with torch.no_grad(), autocast(device):
            train.x = torch.cat([model.forward_features(aug(train.x[i:i + 1024])).float()
                                 for i in range(0, len(train.x), 1024)])
        aug = nn.Identity()
    probe_ddp = wrap_ddp(probe, device)
    step_probe = torch.compile(probe_ddp) if cfg.compile else probe_ddp
    guard = FiniteGuard()
    ev = {}
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        model.head.train()
        stats = train_one_epoch(step_probe, optimizer, train, aug, cfg, epoch, steps_per_epoch, base_lr, guard)
        guard.check(f"in linear probing epoch {epoch + 1}")
        stats = {k: float(v) for k, v in stats.items()}
        seconds = time.perf_counter() - t0
        record = epoch_record(epoch, stats, seconds, steps_per_epoch, global_batch, train, cfg.skip_corrupt)
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            ev = evaluate_topk(model, test, plain)
            record.update({f"test_{k}": v for k, v in ev.items()})
        log.log(record)
        maybe_checkpoint(rd, cfg, epoch, model, optimizer)
    if not ev:
        ev = evaluate_topk(model, test, plain)
    metrics = {"dataset": cfg.dataset, "model": size, "epochs": cfg.epochs, "top1": ev["top1"], "top5": ev["top5"],
               "test_loss": ev["loss"]}
    if dist.is_main():
        metrics["train_loss"] = last_record(log, cfg.epochs).get("loss")
    rd.write_metrics(metrics)
    dist.barrier()
    return metrics


def main(argv=None) -> int:
    return cli(LinProbeConfig, run, argv, "python -m mmae.engine.linprobe", __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
