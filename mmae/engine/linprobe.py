"""Linear probing of a pretrained MAE / U-MAE / M-MAE encoder (the MAE protocol).

    python -m mmae.engine.linprobe --pretrained runs/mmae_b --dataset imagenet --data-root /data/imagenet \\
        --out runs/mmae_b_lin

The encoder is frozen; its CLS token after the final norm feeds `BatchNorm1d(affine=False,
eps=1e-6)` and a linear layer (`head.0`, `head.1`, the layout of MAE's linear-probe
checkpoints). LARS without weight decay, `lr = blr * batch_size / 256` with `blr = 0.1`, global
batch 16384 (micro-batches of at most 1024 per process, accumulated), 90 epochs with 10 of warm-up,
RandomResizedCrop + flip. Reports top-1 / top-5 on the test / validation split. The `authors`
recipe (`AUTHORS`) is M-MAE's script: global batch 8192, blr 0.05 (lr 1.6).

`pretrained` is a pretraining run directory (its `config.json` gives the model size and patch
size), our `checkpoint.pt`, or an official MAE / U-MAE / M-MAE `.pth` (give `--model` and
`--patch-size` then).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmae import dist
from mmae.data import data_info
from mmae.data.transforms import GpuAugment
from mmae.engine.batches import Batch
from mmae.engine.common import LARS, autocast
from mmae.engine.config import base_lr, engine_main
from mmae.engine.loop import Task, fit, open_run
from mmae.engine.mim import MIMConfig, evaluate_topk, load_pretrained, train_test_data
from mmae.models import VisionTransformer, build_vit, load_encoder_weights

__all__ = ["LinProbeConfig", "ProbeTask", "run", "main", "build_probe", "probe_encoder", "probe_augment",
           "frozen_features", "probe_stats"]


@dataclass
class LinProbeConfig(MIMConfig):
    pretrained: str = ""              # pretraining run dir, checkpoint.pt or official .pth
    epochs: int = 90
    warmup_epochs: int = 10
    batch_size: int = 16384
    max_micro_batch: int = 1024
    blr: float = 0.1
    eval_every: int = 10
    ckpt_every: int = 10

    # M-MAE's linprobe.sh: 8 GPUs x 256 x accum 4 = 8192 images, blr 0.05 (lr 1.6)
    AUTHORS: ClassVar[dict] = dict(batch_size=8192, blr=0.05)

    def __post_init__(self):
        if not self.pretrained:
            raise ValueError("pretrained is required: a pretraining run directory or checkpoint file")
        super().__post_init__()

    # LARS's steps are relative (trust coefficient 1e-3 x |w|): the few steps of the mini scale need
    # a large blr; no crop and no flip on 8x8 digits, so the frozen features are computed once. The
    # length was chosen with MAE alone (mini-b, seed 0) on a validation split of a quarter of the
    # training images (the test split unseen): 30 epochs left the probe underfitting (60.8%), 100
    # gave 81.9% and 300 83.4%, within the noise of 337 images at three times the cost.
    MINI: ClassVar[dict] = dict(dataset="digits", model="mini-b", epochs=100, warmup_epochs=5, batch_size=256,
                                max_micro_batch=0, blr=40.0, crop_scale_min=1.0, eval_every=100, ckpt_every=50,
                                num_workers=0, device="cpu")


def build_probe(size: str, patch_size: int, dataset: str, state: dict | None = None) -> VisionTransformer:
    """CLS-feature ViT with `head = Sequential(BatchNorm1d(affine=False), Linear)`, encoder frozen."""
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


def probe_encoder(cfg: LinProbeConfig, device: torch.device) -> tuple[VisionTransformer, str]:
    """`(probe, model size)` of `cfg` on `device`: its pretrained (or randomly initialised) encoder,
    frozen, with a fresh head (`build_probe`)."""
    state, size, patch = load_pretrained(cfg.pretrained, cfg.model, cfg.patch_size, cfg.dataset)
    return build_probe(size, patch, cfg.dataset, state).to(device), size


def probe_augment(cfg: LinProbeConfig) -> GpuAugment:
    """The probe's training augmentation: RandomResizedCrop (`crop_scale_min`) and the data set's flip;
    `deterministic` when neither draws (the crop off, no flip), as at the mini and small scales."""
    info = data_info(cfg.dataset)
    return GpuAugment("linprobe", info.mean, info.std, info.img_size, crop=cfg.dataset != "imagenet",
                      flip=info.flip, scale=(cfg.crop_scale_min, 1.0))


@torch.no_grad()
def frozen_features(model: VisionTransformer, aug: GpuAugment, x: torch.Tensor, device: torch.device,
                    chunk: int = 1024) -> torch.Tensor:
    """What the probe's head reads: the frozen encoder's CLS feature after the final norm, in float32,
    of the uint8 images `x` augmented by `aug` (deterministic: the feature of an image, computed once)."""
    with autocast(device):
        return torch.cat([model.forward_features(aug(x[i:i + chunk])).float() for i in range(0, len(x), chunk)])


class _Probe(nn.Module):
    """Frozen encoder (no graph, eval mode) + trainable head: only the head sees gradients."""

    def __init__(self, model: VisionTransformer):
        super().__init__()
        self.model = model

    def forward(self, x):
        if x.ndim == 2:  # features cached once (see ProbeTask)
            return self.model.head(x.float())
        with torch.no_grad():
            feats = self.model.forward_features(x)
        return self.model.head(feats.float())


class ProbeTask(Task):
    def __init__(self, cfg: LinProbeConfig, device: torch.device, data, test):
        info = data_info(cfg.dataset)
        self.cfg, self.device, self.test = cfg, device, test
        self.model, self.size = probe_encoder(cfg, device)
        self.probe = _Probe(self.model)
        self.optimizer = LARS(self.model.head.parameters(), lr=base_lr(cfg), weight_decay=cfg.weight_decay)
        self.aug = probe_augment(cfg)
        self.plain = GpuAugment("eval", info.mean, info.std, info.img_size)
        self.cached = False
        if self.aug.deterministic and hasattr(data.source, "x"):
            # no augmentation draws randomness (digits: no flip, no crop) and the encoder is frozen:
            # every epoch would compute the same features, so compute them once (the same training)
            data.source.x = frozen_features(self.model, self.aug, data.source.x, device)
            self.cached = True

    @property
    def module(self) -> nn.Module:
        return self.probe

    def train(self) -> None:
        self.model.eval()        # the frozen encoder has no train-time behaviour ...
        self.model.head.train()  # ... the head's BatchNorm has

    def step(self, net, batch: Batch) -> dict:
        x = batch.x if self.cached else self.aug(batch.x, gen=batch.gen)
        return probe_stats(net(x), batch.y)

    def evaluate(self, epoch: int) -> dict:
        return {f"test_{k}": v for k, v in evaluate_topk(self.model, self.test, self.plain, self.device).items()}


def probe_stats(logits: torch.Tensor, y: torch.Tensor) -> dict:
    """A probe's step on a batch of logits: its cross-entropy and training top-1 (%), in float32."""
    logits = logits.float()
    return {"loss": F.cross_entropy(logits, y), "train_top1": (logits.argmax(1) == y).float().mean() * 100}


def run(cfg: LinProbeConfig, out_dir: str | Path) -> dict:
    device, rd, done = open_run(cfg, out_dir)
    if done is not None:
        return done
    data, test = train_test_data(cfg, device)
    task = ProbeTask(cfg, device, data, test)
    log = fit(task, cfg, data, rd, device, "linprobe")
    last = next((r for r in reversed(log) if r.get("epoch") == cfg.epochs), {})  # the main rank's log
    metrics = {"dataset": cfg.dataset, "model": task.size, "epochs": cfg.epochs, "top1": last.get("test_top1"),
               "top5": last.get("test_top5"), "test_loss": last.get("test_loss"), "train_loss": last.get("loss")}
    rd.write_metrics(metrics)
    dist.barrier()
    return metrics


def main(argv=None) -> int:
    return engine_main(LinProbeConfig, run, argv, "python -m mmae.engine.linprobe", __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
