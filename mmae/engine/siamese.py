"""Siamese pretraining (SimCLR, spectral contrastive, Barlow Twins, BYOL) with kNN monitoring,
matrix-information logging every epoch and a linear probe at the end.

    python -m mmae.engine.siamese --method simclr --dataset cifar10 --data-root data --out runs/simclr
    python -m mmae.engine.siamese --method barlow --dataset digits --out runs/bt_mini

The dataset is held whole on the device as uint8 and the two views are augmented there in one
batched call (:mod:`mmae.data.views`), so the step never waits on a loader. One process or
``torchrun`` (DDP, global batch split across ranks, batch-level losses on the gathered batch).

Recipes (`RECIPES`; every field can be overridden). `lr` is the learning rate for a batch of 256,
scaled linearly with the global batch; LARS skips weight decay and adaptation on biases and norms;
linear warm-up then cosine decay per iteration. 200 epochs reproduce the figures, 1000 give the
best accuracies.

- simclr:   LARS, lr 0.4, wd 1e-5, temperature 0.5, projector 512-2048-128. SimCLR (Chen et al.,
            2020) Appendix B.9 (CIFAR: LARS, temperature 0.5, 128-d output, no blur) with the lr
            and weight decay of solo-learn's CIFAR config (da Costa et al., 2022).
- spectral: the SimCLR settings (our choice: HaoChen et al., 2021 publish no LARS recipe) with
            Eq. (2) on unit rows, lam = 1/(B-1) (their expectation form), projector 512-2048-256.
- barlow:   LARS, lr 0.3, wd 1e-4, lam 0.0051, loss scale 0.1, projector 512-2048-2048-2048:
            solo-learn's CIFAR Barlow Twins config (Zbontar et al., 2021 for the method).
- byol:     LARS, lr 1.0, wd 1e-5, target momentum 0.99 -> 1 (cosine), projector 512-4096-256,
            predictor 256-4096-256: solo-learn's CIFAR BYOL config (Grill et al., 2020 for the method).
All four: batch 512, 10 warm-up epochs, bf16 autocast on CUDA. The digits (mini) recipes keep the
methods and shrink the network (`convnet_small`, narrower heads) and the schedule.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmae import dist
from mmae.data.views import TwoViews, view_recipe
from mmae.engine.common import (LARS, FiniteGuard, JsonlLogger, RunDir, atomic_write_bytes, autocast,
                                cosine_momentum, load_checkpoint, lr_at, param_groups, progress, rank_rng_states,
                                resolve_device, restore_rank_rng, save_checkpoint, seed_everything, set_lr)
from mmae.engine.knn import extract_features, knn_accuracy
from mmae.engine.matrix_logging import BranchMonitor
from mmae.models.resnet import build_backbone
from mmae.models.siamese import METHODS, build_siamese

DATASETS = ("digits", "cifar10", "cifar100")


@dataclass
class SiameseConfig:
    """One Siamese run. Fields left at None take the value of the method's recipe for the dataset
    (`RECIPES`), so `SiameseConfig(method="barlow", dataset="digits")` is the documented mini recipe."""
    method: str = "simclr"            # simclr | spectral | barlow | byol
    dataset: str = "cifar10"          # digits | cifar10 | cifar100
    data_root: str = "data"           # folder holding cifar-10-batches-py / cifar-100-python
    backbone: str | None = None       # resnet18 (CIFAR stem) | convnet_small
    epochs: int | None = None
    batch_size: int | None = None     # global batch
    optimizer: str | None = None      # lars | sgd
    lr: float | None = None           # for a batch of 256; scaled by batch_size / 256
    min_lr: float = 0.0
    weight_decay: float | None = None
    momentum: float = 0.9
    warmup_epochs: int | None = None
    proj_hidden: int | None = None
    proj_out: int | None = None
    proj_layers: int | None = None
    pred_hidden: int | None = None    # BYOL predictor
    temperature: float | None = None  # SimCLR (Figure 3: 0.3, 0.5, 0.7)
    simclr_loss: str = "nt_xent"      # nt_xent (SimCLR's own) | info_nce (Eq. 1 as printed)
    sc_lam: float | None = None       # spectral contrastive lambda of Eq. (2); 0 = 1/(B-1)
    bt_lam: float | None = None       # Barlow Twins lambda of Eq. (3)
    bt_normalize: str = "standard"    # standard (original code) | paper (Section 3.2)
    bt_scale: float | None = None     # Barlow Twins loss scale
    byol_momentum: float | None = None  # BYOL base target momentum
    knn_k: int | None = None
    knn_t: float = 0.07
    knn_every: int = 1
    info_every: int = 1               # matrix-information logging cadence (epochs)
    info_batch: int | None = None     # fixed evaluation batch size
    info_mu: float = 1.0              # mu of TCR / Theorem 4.17
    info_seed: int = 1234             # picks and augments the fixed evaluation batch
    linprobe_epochs: int | None = None
    linprobe_lr: float = 1e-3
    seed: int = 0
    device: str = "auto"
    amp: bool = True                  # bf16 autocast on CUDA (no-op on CPU)
    compile: bool = False             # torch.compile the training forward
    channels_last: bool = True        # on CUDA
    ckpt_every: int | None = None
    resume: bool = True

    def __post_init__(self):
        if self.method in METHODS and self.dataset in DATASETS:
            for k, v in recipe_values(self.method, self.dataset).items():
                if getattr(self, k) is None:
                    setattr(self, k, v)


# Fields that may differ between a run and its resumption.
_RESUMABLE = ("data_root", "device", "knn_every", "info_every", "ckpt_every", "resume", "compile", "linprobe_epochs")

# what every recipe shares, then the data-set family, then the method
_BASE = dict(epochs=200, batch_size=512, optimizer="lars", lr=0.4, weight_decay=1e-5, warmup_epochs=10,
             proj_hidden=2048, proj_out=128, proj_layers=2, pred_hidden=4096, temperature=0.5, sc_lam=0.0,
             bt_lam=0.0051, bt_scale=0.1, byol_momentum=0.99, knn_k=200, info_batch=512, linprobe_epochs=100,
             ckpt_every=10)
_FAMILY = {
    "cifar": dict(backbone="resnet18"),
    "digits": dict(backbone="convnet_small", epochs=30, batch_size=256, warmup_epochs=3, knn_k=20, info_batch=256,
                   proj_hidden=256, pred_hidden=256, linprobe_epochs=30, ckpt_every=5),
}
RECIPES = {
    ("simclr", "cifar"): dict(lr=0.4, weight_decay=1e-5, temperature=0.5, proj_hidden=2048, proj_out=128),
    ("spectral", "cifar"): dict(lr=0.4, weight_decay=1e-5, sc_lam=0.0, proj_hidden=2048, proj_out=256),
    ("barlow", "cifar"): dict(lr=0.3, weight_decay=1e-4, bt_lam=0.0051, bt_scale=0.1, proj_hidden=2048,
                              proj_out=2048, proj_layers=3),
    ("byol", "cifar"): dict(lr=1.0, weight_decay=1e-5, byol_momentum=0.99, proj_hidden=4096, proj_out=256,
                            pred_hidden=4096),
    ("simclr", "digits"): dict(lr=0.4, weight_decay=1e-5, temperature=0.5, proj_out=64),
    ("spectral", "digits"): dict(lr=0.4, weight_decay=1e-5, sc_lam=0.0, proj_out=64),
    ("barlow", "digits"): dict(lr=0.3, weight_decay=1e-4, bt_lam=0.0051, bt_scale=0.1, proj_out=256, proj_layers=3),
    ("byol", "digits"): dict(lr=1.0, weight_decay=1e-5, byol_momentum=0.99, proj_out=64),
}


def recipe_values(method: str, dataset: str) -> dict:
    """The recipe's values of every field that `SiameseConfig` leaves at None."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    family = "digits" if dataset == "digits" else "cifar"
    return {**_BASE, **_FAMILY[family], **RECIPES[(method, family)]}


def recipe(method: str, dataset: str, **overrides) -> SiameseConfig:
    """The documented recipe of `method` on `dataset`, with `overrides` applied (validated)."""
    recipe_values(method, dataset)
    names = {f.name for f in dataclasses.fields(SiameseConfig)}
    bad = sorted(set(overrides) - names)
    if bad:
        raise ValueError(f"unknown config field(s) {bad}")
    cfg = SiameseConfig(method=method, dataset=dataset, **overrides)
    validate(cfg)
    return cfg


def validate(cfg: SiameseConfig) -> None:
    """Raise ValueError naming the first field with an impossible value."""
    def need(ok, name):
        if not ok:
            raise ValueError(f"invalid {name}: {getattr(cfg, name)!r}")

    for f in dataclasses.fields(cfg):  # types first, so the range checks below compare numbers
        v, t = getattr(cfg, f.name), str(f.type).replace(" | None", "")
        if t == "int":
            need(isinstance(v, int) and not isinstance(v, bool), f.name)
        elif t == "float":
            need(isinstance(v, (int, float)) and not isinstance(v, bool), f.name)
        elif t in ("str", "bool"):
            need(isinstance(v, str if t == "str" else bool), f.name)
    need(cfg.method in METHODS, "method")
    need(cfg.dataset in DATASETS, "dataset")
    need(cfg.backbone in ("resnet18", "convnet_small"), "backbone")
    need(cfg.optimizer in ("lars", "sgd"), "optimizer")
    need(cfg.bt_normalize in ("standard", "paper"), "bt_normalize")
    need(cfg.simclr_loss in ("nt_xent", "info_nce"), "simclr_loss")
    for name in ("epochs", "batch_size", "proj_hidden", "proj_out", "proj_layers", "pred_hidden", "knn_k",
                 "knn_every", "info_every", "ckpt_every"):
        need(isinstance(getattr(cfg, name), int) and getattr(cfg, name) >= 1, name)
    need(cfg.batch_size >= 2, "batch_size")
    need(cfg.info_batch >= 2, "info_batch")
    need(cfg.warmup_epochs >= 0, "warmup_epochs")
    need(cfg.linprobe_epochs >= 0, "linprobe_epochs")
    for name in ("lr", "temperature", "knn_t", "bt_scale", "info_mu", "linprobe_lr"):
        need(math.isfinite(getattr(cfg, name)) and getattr(cfg, name) > 0, name)
    for name in ("min_lr", "weight_decay", "sc_lam", "bt_lam"):
        need(math.isfinite(getattr(cfg, name)) and getattr(cfg, name) >= 0, name)
    need(0 <= cfg.momentum < 1, "momentum")
    need(0 < cfg.byol_momentum <= 1, "byol_momentum")


def sc_lambda(cfg: SiameseConfig) -> float:
    """lambda of Eq. (2): `sc_lam`, or 1/(B-1) when it is 0 (HaoChen et al.'s expectation form)."""
    return cfg.sc_lam if cfg.sc_lam > 0 else 1.0 / (cfg.batch_size - 1)


# ------------------------------------------------------------------ data

def load_data(cfg: SiameseConfig):
    """(train images, train labels, test images, test labels, mean, std, num_classes), uint8 images."""
    if cfg.dataset == "digits":
        from mmae.data.digits import DIGITS_MEAN, DIGITS_STD, NUM_CLASSES, load_digits_split
        xtr, ytr = load_digits_split("train")
        xte, yte = load_digits_split("test")
        return xtr, ytr, xte, yte, DIGITS_MEAN, DIGITS_STD, NUM_CLASSES
    from mmae.data.cifar import cifar_stats, load_cifar, num_classes
    xtr, ytr = load_cifar(cfg.data_root, cfg.dataset, "train")
    xte, yte = load_cifar(cfg.data_root, cfg.dataset, "test")
    mean, std = cifar_stats(cfg.dataset)
    return xtr, ytr, xte, yte, mean, std, num_classes(cfg.dataset)


def build_model(cfg: SiameseConfig, in_chans: int) -> nn.Module:
    return build_siamese(cfg.method, build_backbone(cfg.backbone, in_chans), proj_hidden=cfg.proj_hidden,
                         proj_out=cfg.proj_out, proj_layers=cfg.proj_layers, pred_hidden=cfg.pred_hidden,
                         temperature=cfg.temperature, simclr_loss=cfg.simclr_loss, sc_lam=sc_lambda(cfg),
                         bt_lam=cfg.bt_lam,
                         bt_normalize=cfg.bt_normalize, bt_scale=cfg.bt_scale)


# ------------------------------------------------------------------ evaluation

@torch.no_grad()
def encode_split(model, views: TwoViews, images: torch.Tensor, device, amp: bool, batch_size: int = 1024):
    """Backbone features of un-augmented images, model in eval mode (BN running statistics)."""
    was = model.training
    model.eval()
    try:
        with autocast(device, amp):
            return extract_features(model.encode, images, views.plain, batch_size)
    finally:
        model.train(was)


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                 num_classes: int, epochs: int = 100, lr: float = 1e-3, batch_size: int = 256, seed: int = 0) -> dict:
    """Softmax regression on frozen features (standardised with the training statistics, as MAE's
    BatchNorm-without-affine head), Adam with cosine decay; top-1/top-5 test accuracy in percent."""
    g = torch.Generator().manual_seed(seed)
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    xtr, xte = (train_x - mean) / std, (test_x - mean) / std
    head = nn.Linear(xtr.shape[1], num_classes)
    with torch.no_grad():
        head.weight.normal_(0, 0.01, generator=g)
        head.bias.zero_()
    head = head.to(xtr.device)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    n = xtr.shape[0]
    steps = max(1, math.ceil(n / batch_size)) * max(epochs, 0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g).to(xtr.device)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(head(xtr[idx]), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        logits = head(xte)
        k = min(5, num_classes)
        top = logits.topk(k, dim=1).indices
        top1 = (top[:, 0] == test_y).float().mean().item() * 100
        top5 = (top == test_y[:, None]).any(1).float().mean().item() * 100
    return {"linear_top1": top1, f"linear_top{k}": top5}


# ------------------------------------------------------------------ training

def run(cfg: SiameseConfig, out_dir: str) -> dict:
    """Train `cfg` in `out_dir` (resuming from its checkpoint), return the final metrics.

    A directory whose metrics.json exists holds a finished run: its metrics are returned as they are."""
    validate(cfg)
    rd = RunDir(out_dir)
    if rd.done:
        return rd.metrics()
    di = dist.init_distributed(cfg.device if cfg.device != "auto" else None)
    device = di.device if di.world_size > 1 else resolve_device(cfg.device)
    if cfg.batch_size % di.world_size:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {di.world_size} processes")
    xtr, ytr, xte, yte, mean, std, n_cls = load_data(cfg)
    n = xtr.shape[0]
    if n < cfg.batch_size:
        raise ValueError(f"batch_size {cfg.batch_size} exceeds the {n} training images of {cfg.dataset}")
    rd.save_config(asdict(cfg), ignore=_RESUMABLE)
    seed_everything(cfg.seed + di.rank)
    xtr, ytr, xte, yte = (t.to(device) for t in (xtr, ytr, xte, yte))
    chans, size = xtr.shape[1], xtr.shape[-1]
    views = TwoViews(view_recipe(cfg.method, cfg.dataset, mean, std, size), chans).to(device)

    model = build_model(cfg, chans).to(device)
    fmt = torch.channels_last if (cfg.channels_last and device.type == "cuda") else torch.contiguous_format
    model = model.to(memory_format=fmt)
    groups = param_groups(model, cfg.weight_decay)
    if cfg.optimizer == "lars":
        opt = LARS(groups, lr=0.0, weight_decay=cfg.weight_decay, momentum=cfg.momentum)
    else:
        opt = torch.optim.SGD(groups, lr=0.0, momentum=cfg.momentum)

    steps = n // cfg.batch_size               # drop the last incomplete batch
    total = steps * cfg.epochs
    base_lr = cfg.lr * cfg.batch_size / 256
    start_epoch, ckpt = 0, (load_checkpoint(rd.ckpt_path, map_location=device) if cfg.resume else None)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start_epoch = int(ckpt["epoch"])
        restore_rank_rng(ckpt["rng"])  # every rank's own stream, as saved

    net = model
    if di.world_size > 1:
        if device.type == "cuda":  # batch statistics over the global batch (SyncBatchNorm is CUDA-only)
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # keeps the Parameter objects of opt
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    fwd = torch.compile(net) if cfg.compile else net

    main = dist.is_main()
    logger = JsonlLogger(rd.log_path, enabled=main)
    if main and rd.log_path.exists():
        # epochs logged after the checkpoint we resume from are trained again: drop their records
        kept = [r for r in logger.read() if r.get("epoch", 0) <= start_epoch]
        atomic_write_bytes(rd.log_path, "".join(json.dumps(r) + "\n" for r in kept).encode())
    # the bounds use the run's own lambda; methods without one are read with lambda = 1
    monitor = BranchMonitor(xtr, views, cfg.info_batch, cfg.info_seed,
                            sc_lam=sc_lambda(cfg) if cfg.method == "spectral" else 1.0,
                            bt_lam=cfg.bt_lam if cfg.method == "barlow" else 1.0, mus=(cfg.info_mu,)) if main else None
    guard = FiniteGuard()
    local = cfg.batch_size // di.world_size
    t_train = 0.0

    def evaluate(rec: dict, done: int) -> dict:  # main rank only: kNN and the matrix information
        if done % cfg.knn_every == 0 or done == cfg.epochs:
            ftr = encode_split(model, views, xtr, device, cfg.amp)
            fte = encode_split(model, views, xte, device, cfg.amp)
            rec["knn_top1"] = knn_accuracy(ftr, ytr, fte, yte, n_cls, cfg.knn_k, cfg.knn_t)
        if done % cfg.info_every == 0 or done == cfg.epochs:
            t1 = time.perf_counter()
            rec.update(monitor.measure(model))
            rec["info_time_s"] = time.perf_counter() - t1
        return rec

    if start_epoch == 0 and main:  # the curves start at the initialisation
        logger.log(evaluate({"epoch": 0}, 0))

    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        # the order depends on (seed, epoch) only: identical on every rank and after a resume
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)).to(device)
        loss_sum = torch.zeros((), device=device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        m = None
        for step in progress(range(steps), total=steps, desc=f"epoch {epoch + 1}"):
            it = epoch * steps + step
            lr = lr_at(it, base_lr=base_lr, warmup_iters=cfg.warmup_epochs * steps, total_iters=total,
                       min_lr=cfg.min_lr)
            set_lr(opt, lr)
            lo = step * cfg.batch_size + di.rank * local
            x1, x2 = views(xtr[perm[lo:lo + local]])
            if fmt is torch.channels_last:
                x1, x2 = x1.contiguous(memory_format=fmt), x2.contiguous(memory_format=fmt)
            with autocast(device, cfg.amp):
                loss = fwd(x1, x2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if cfg.method == "byol":
                m = cosine_momentum(it + 1, total, base=cfg.byol_momentum)
                model.update_target(m)
            guard.update(loss)
            loss_sum += loss.detach()
        guard.check(f"in epoch {epoch + 1}")
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        t_train += dt
        done = epoch + 1
        rec = {"epoch": done, "loss": dist.all_reduce_mean(loss_sum).item() / steps, "lr": lr,
               "epoch_time_s": dt, "images_per_s": steps * cfg.batch_size / dt}
        if m is not None:
            rec["byol_momentum"] = m
        if main:
            logger.log(evaluate(rec, done))
        if done % cfg.ckpt_every == 0 or done == cfg.epochs:
            rng = rank_rng_states()  # a collective: every rank takes part
            if main:
                save_checkpoint(rd.ckpt_path, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                               "epoch": done, "rng": rng, "config": asdict(cfg)})
            dist.barrier()

    metrics: dict = {"method": cfg.method, "dataset": cfg.dataset, "epochs": cfg.epochs, "train_time_s": t_train}
    if main:
        ftr = encode_split(model, views, xtr, device, cfg.amp)
        fte = encode_split(model, views, xte, device, cfg.amp)
        metrics["knn_top1"] = knn_accuracy(ftr, ytr, fte, yte, n_cls, cfg.knn_k, cfg.knn_t)
        if cfg.linprobe_epochs > 0:
            metrics.update(linear_probe(ftr, ytr, fte, yte, n_cls, cfg.linprobe_epochs, cfg.linprobe_lr, seed=cfg.seed))
        rd.write_metrics(metrics)
    dist.barrier()
    return metrics


# ------------------------------------------------------------------ command line

class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit code 2
        self.exit(2, f"{self.prog}: error: {message}\n")


_HELP = {
    "data_root": "folder holding cifar-10-batches-py / cifar-100-python", "backbone": "resnet18 | convnet_small",
    "batch_size": "global batch", "optimizer": "lars | sgd", "lr": "learning rate for a batch of 256 (scaled linearly)",
    "temperature": "SimCLR temperature (Figure 3: 0.3, 0.5, 0.7)",
    "simclr_loss": "nt_xent (SimCLR's own, negatives from both views) or info_nce (Eq. 1 as printed)", "sc_lam": "lambda of Eq. (2); 0 = 1/(B-1)",
    "bt_lam": "lambda of Eq. (3)", "bt_normalize": "standard | paper", "bt_scale": "Barlow Twins loss scale",
    "byol_momentum": "BYOL base target momentum", "knn_k": "neighbours of the kNN monitor",
    "info_every": "matrix-information logging every N epochs", "info_batch": "fixed evaluation batch size",
    "info_mu": "mu of TCR (Theorem 4.17)", "device": "auto | cpu | cuda | cuda:N",
    "linprobe_epochs": "epochs of the final linear probe (0: none)", "ckpt_every": "checkpoint every N epochs",
}


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m mmae.engine.siamese",
                description="Siamese self-supervised pretraining (SimCLR, spectral contrastive, Barlow Twins, BYOL) "
                            "with kNN, matrix-information logging and a final linear probe. Unset options take "
                            "the method's recipe for the dataset.")
    p.add_argument("--out", required=True, help="run directory (resumed if it holds a checkpoint)")
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--dataset", required=True, choices=DATASETS)
    for f in dataclasses.fields(SiameseConfig):
        if f.name in ("method", "dataset"):
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=_HELP.get(f.name))
        else:
            typ = {"int": int, "float": float, "str": str}[str(f.type).replace(" | None", "")]
            p.add_argument(flag, type=typ, default=None, metavar=f.name.upper(), help=_HELP.get(f.name))
    return p


def main(argv=None) -> int:
    p = _parser()
    a = p.parse_args(argv)
    over = {k: v for k, v in vars(a).items() if v is not None and k not in ("out", "method", "dataset")}
    try:
        cfg = recipe(a.method, a.dataset, **over)
        metrics = run(cfg, a.out)
    except ValueError as e:
        p.error(str(e).replace("\n", " "))
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
