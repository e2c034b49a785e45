"""Siamese pretraining (`mmae.methods.SIAMESE`: SimCLR, spectral contrastive, Barlow Twins, BYOL) with kNN monitoring and
matrix-information logging every `eval_every` epochs (CIFAR: 5, Fashion-MNIST: 3, digits: 1) and a linear
probe at the end.

    python -m mmae.engine.siamese --method simclr --dataset cifar10 --data-root data --out runs/simclr
    python -m mmae.engine.siamese --method byol --dataset fashion-mnist --out runs/byol_small
    python -m mmae.engine.siamese --method barlow --dataset digits --out runs/bt_mini

The dataset is held whole on the device as uint8 and the two views are augmented there in one
batched call (`mmae.data.views`), so the step never waits on a loader; with `--cuda-graphs` the
whole step (views, both branches, loss, backward, LARS) is one captured CUDA graph, replayed every
step. One process or
`torchrun` (DDP, global batch split across ranks, batch-level losses on the gathered batch). The
two views of a sample are drawn from its keyed generator (`mmae.data.keyed`), so they do not
depend on the number of processes; the loop (`mmae.engine.loop`) checkpoints and resumes.

Recipes (`recipe_values`; every field can be overridden): what every method shares (`_BASE`), what
the data set changes (`_FAMILY`) and what the method changes, in its own module (its `RECIPES` and
`Params`, [`mmae.methods`][mmae.methods]). `blr` is the learning rate for a batch of 256,
scaled linearly with the global batch (`batch_size`); linear warm-up then cosine decay per
iteration. On CIFAR the recipes are solo-learn's CIFAR configs (da Costa et al., 2022), whose kNN
accuracy the figures plot: global batch 256, LARS as solo-learn runs it (You et al.'s trust ratio
$\\eta \\|w\\| / (\\|g\\| + \\text{wd} \\|w\\|)$ with $\\eta = 0.02$, the layer's rate capped
at the global one, no weight decay or adaptation on biases and norms; `mmae.engine.common.LARS`).
Where the paper states a value it takes precedence: Figure 3 runs SimCLR at temperatures 0.3, 0.5
and 0.7 (`mmae.experiments`). Our own choices are marked.

Every method: 10 warm-up epochs, bf16 autocast on CUDA, 200 epochs (our choice: the length of the
figures' curves; solo-learn trains 1000). Fashion-MNIST (the small scale) keeps the CIFAR recipes,
ResNet-18 with its CIFAR stem on one channel, and shortens the schedule to 30 epochs (3 of warm-up)
so that a figure's nine runs take minutes on a GPU (about 9 on one H200 by `reproduce.py --plan`'s
estimate, not measured); its views are CIFAR's without flip or colour
(`mmae.data.views.view_recipe`). The digits (mini) recipes keep the methods and shrink the
network (`convnet_small`, narrower heads) and the schedule; their LARS is MAE's form (trust
coefficient 1e-3, no clipping), tuned by hand for the few steps of the mini scale. No validation
split was used for that tuning: the only accuracy this engine reports is the kNN accuracy on the
digits' test split, logged every epoch, so these settings were chosen with the test split in view.
The figures test matrix-information claims; Figure 3's kNN comparison is the one that choice could
flatter.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmae import dist, methods
from mmae.data import IN_MEMORY, data_info, load_tensors
from mmae.data.views import TwoViews
from mmae.engine.batches import Batch, Tensors, TrainBatches, split_batch
from mmae.engine.common import LARS, autocast, param_groups
from mmae.engine.config import TrainConfig, engine_main
from mmae.engine.knn import extract_features, knn_accuracy
from mmae.engine.loop import Task, fit, open_run
from mmae.engine.matrix_logging import BranchMonitor
from mmae.models.resnet import build_backbone

__all__ = ["SiameseConfig", "SiameseTask", "DATASETS", "recipe", "recipe_values", "run", "main", "build_model",
           "linear_probe", "METHODS"]

DATASETS = IN_MEMORY  # the Siamese engine holds its data set on the device
METHODS = methods.SIAMESE


@dataclass
class _SiameseConfig(TrainConfig):
    """One Siamese run. Fields left at None take the value of the method's recipe for the dataset
    (`recipe_values`), so `SiameseConfig(method="barlow", dataset="digits")` is the documented mini
    recipe. Every Siamese method's hyper-parameters (`temperature`, `bt_lam`, ...; `mmae.methods`)
    are fields too, filled from their defaults and the recipe."""
    method: str = "simclr"            # `mmae.methods.SIAMESE`
    dataset: str = "cifar10"          # digits | fashion-mnist | cifar10 | cifar100
    data_root: str = ""               # CIFAR: the folder holding the python pickles; Fashion-MNIST: the
                                      # IDX files' folder (default: Debian's, `mmae.data.idx.DEFAULT_ROOT`)
    backbone: str | None = None       # resnet18 (CIFAR stem) | convnet_small
    epochs: int | None = None
    batch_size: int | None = None     # global batch
    blr: float | None = None          # for a batch of 256; scaled by batch_size / 256
    weight_decay: float | None = None
    warmup_epochs: int | None = None
    optimizer: str | None = None      # lars | sgd
    momentum: float = 0.9
    lars_eta: float | None = None     # LARS trust coefficient
    lars_ratio: str | None = None     # lars (You et al. Eq. 6, solo-learn) | update (MAE)
    lars_clip: bool | None = None     # cap each layer's rate at the global one (solo-learn's clip_lr)
    proj_hidden: int | None = None
    proj_out: int | None = None
    proj_layers: int | None = None
    eval_every: int | None = None     # kNN and matrix logging every N epochs (and after the last)
    knn_k: int | None = None
    knn_t: float = 0.07
    info_batch: int | None = None     # fixed evaluation batch of the matrix-information logging
    info_mu: float = 1.0              # mu of TCR / Theorem 4.17
    info_seed: int = 1234             # picks and augments the fixed evaluation batch
    linprobe_epochs: int | None = None
    linprobe_lr: float = 1e-3
    channels_last: bool = True        # on CUDA
    ckpt_every: int | None = None

    def __post_init__(self):
        methods.get(self.method, "siamese")
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {DATASETS}")
        for k, v in recipe_values(self.method, self.dataset).items():
            if getattr(self, k) is None:
                setattr(self, k, v)
        super().__post_init__()
        _validate(self)

    # the mini-scale recipe: the digits (the rest comes from `recipe_values`)
    MINI: ClassVar[dict] = dict(dataset="digits", device="cpu")


SiameseConfig = methods.config_class(_SiameseConfig, "siamese", none_defaults=True)

# what every recipe shares (and every method's `Params` defaults), then the data-set family, then the
# method (its `RECIPES`)
_BASE = dict(epochs=200, batch_size=256, optimizer="lars", blr=0.4, weight_decay=1e-5, warmup_epochs=10,
             lars_eta=0.02, lars_ratio="lars", lars_clip=True, proj_hidden=2048, proj_out=128, proj_layers=2,
             knn_k=200, info_batch=512, linprobe_epochs=100, ckpt_every=10)
_FAMILY = {
    # evaluation every 5 epochs: encoding the 60k images for kNN costs 13-18% of a training epoch (one
    # view forward against two views forward + backward; CPU-measured, the monitor adds < 0.5%), so
    # every epoch is too close to the 20% budget and every 5th costs < 4%
    "cifar": dict(backbone="resnet18", eval_every=5),
    # the small scale: 30 epochs of 235 steps; evaluation every 3rd (kNN encodes 70k images)
    "fashion": dict(backbone="resnet18", epochs=30, warmup_epochs=3, eval_every=3, ckpt_every=5),
    "digits": dict(backbone="convnet_small", eval_every=1, epochs=30, batch_size=256, warmup_epochs=3, knn_k=20, info_batch=256,
                   lars_eta=0.001, lars_ratio="update", lars_clip=False,
                   proj_hidden=256, pred_hidden=256, linprobe_epochs=30, ckpt_every=5),
}
def recipe_values(method: str, dataset: str) -> dict:
    """The recipe's values of every field that `SiameseConfig` leaves at None."""
    family = {"digits": "digits", "fashion-mnist": "fashion"}.get(dataset, "cifar")
    heads = "digits" if family == "digits" else "cifar"   # Fashion-MNIST keeps CIFAR's method recipes
    return {**_BASE, **methods.param_defaults("siamese"), **_FAMILY[family],
            **methods.get(method, "siamese").RECIPES[heads]}


def recipe(method: str, dataset: str, **overrides) -> SiameseConfig:
    """The documented recipe of `method` on `dataset`, with `overrides` applied (validated)."""
    names = {f.name for f in dataclasses.fields(SiameseConfig)}
    bad = sorted(set(overrides) - names)
    if bad:
        raise ValueError(f"unknown config field(s) {bad}")
    return SiameseConfig(method=method, dataset=dataset, **overrides)


def _validate(cfg: SiameseConfig) -> None:
    """Raise ValueError naming the first field with an impossible value (types are checked by the base)."""
    def need(ok, name):
        if not ok:
            raise ValueError(f"invalid {name}: {getattr(cfg, name)!r}")

    need(cfg.backbone in ("resnet18", "convnet_small"), "backbone")
    need(cfg.optimizer in ("lars", "sgd"), "optimizer")
    need(cfg.lars_ratio in LARS.RATIOS, "lars_ratio")
    need(math.isfinite(cfg.lars_eta) and cfg.lars_eta > 0, "lars_eta")
    for name in ("proj_hidden", "proj_out", "proj_layers", "knn_k"):
        need(getattr(cfg, name) >= 1, name)
    need(cfg.batch_size >= 2, "batch_size")
    need(cfg.info_batch >= 2, "info_batch")
    need(cfg.linprobe_epochs >= 0, "linprobe_epochs")
    for name in ("blr", "knn_t", "info_mu", "linprobe_lr"):
        need(math.isfinite(getattr(cfg, name)) and getattr(cfg, name) > 0, name)
    need(0 <= cfg.momentum < 1, "momentum")
    for m in METHODS:  # every method's hyper-parameters, whichever trains
        methods.get(m).params(cfg)


# ------------------------------------------------------------------ data

def load_data(cfg: SiameseConfig):
    """(train images, train labels, test images, test labels, mean, std, num_classes), uint8 images."""
    info = data_info(cfg.dataset)
    xtr, ytr = load_tensors(cfg.dataset, "train", cfg.data_root or None)
    xte, yte = load_tensors(cfg.dataset, "test", cfg.data_root or None)
    return xtr, ytr, xte, yte, info.mean, info.std, info.num_classes


def build_model(cfg: SiameseConfig, in_chans: int) -> nn.Module:
    """The method's model (backbone, head, loss; `mmae.methods`) on the recipe's backbone."""
    return methods.get(cfg.method, "siamese").build(build_backbone(cfg.backbone, in_chans), cfg)


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

class SiameseTask(Task):
    """One step: two keyed views of each image, both branches, the method's (batch-level) loss."""

    evaluates_at_start = True  # the curves start at the initialisation
    graphable = True  # keyed views, LARS: `cuda_graphs` captures the step (mmae.engine.loop.GraphedStep)

    def __init__(self, cfg: SiameseConfig, device: torch.device, train: Tensors, test: Tensors, mean, std,
                 num_classes: int):
        self.cfg, self.device, self.train_data, self.test_data, self.num_classes = cfg, device, train, test, num_classes
        chans, size = train.x.shape[1], train.x.shape[-1]
        self.method = methods.get(cfg.method, "siamese")
        self.params = self.method.params(cfg)
        self.views = TwoViews(self.method.views(cfg.dataset, mean, std, size), chans).to(device)
        self.fmt = torch.channels_last if (cfg.channels_last and device.type == "cuda") else torch.contiguous_format
        model = build_model(cfg, chans).to(device).to(memory_format=self.fmt)
        groups = param_groups(model, cfg.weight_decay)
        if cfg.optimizer == "lars":
            self.optimizer = LARS(groups, lr=0.0, weight_decay=cfg.weight_decay, momentum=cfg.momentum,
                                  trust_coefficient=cfg.lars_eta, trust_ratio=cfg.lars_ratio, clip_lr=cfg.lars_clip)
        else:
            self.optimizer = torch.optim.SGD(groups, lr=0.0, momentum=cfg.momentum)
        if dist.get_world_size() > 1 and device.type == "cuda":
            # batch statistics over the global batch (SyncBatchNorm is CUDA-only); the Parameter objects
            # (and so the optimiser's) are kept
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model
        # the bounds use the run's own lambda; methods without one are read with lambda = 1
        self.monitor = BranchMonitor(train.x, self.views, cfg.info_batch, cfg.info_seed,
                                     **{"sc_lam": 1.0, "bt_lam": 1.0, **self.method.bound_lams(cfg)},
                                     mus=(cfg.info_mu,)) if dist.is_main() else None

    def step(self, net, batch: Batch) -> dict:
        x1, x2 = self.views(batch.x, gen=batch.gen)
        x1, x2 = x1.contiguous(memory_format=self.fmt), x2.contiguous(memory_format=self.fmt)
        return {"loss": net(x1, x2)}

    def after_update(self, it: int, total: int) -> dict:
        return self.method.after_update(self.model, it, total, self.params)

    def features(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (encode_split(self.model, self.views, self.train_data.x, self.device, self.cfg.amp),
                encode_split(self.model, self.views, self.test_data.x, self.device, self.cfg.amp))

    def evaluate(self, epoch: int) -> dict:  # the main rank's monitors: kNN and the matrix information
        if not dist.is_main():
            return {}
        cfg = self.cfg
        ftr, fte = self.features()
        rec = {"knn_top1": knn_accuracy(ftr, self.train_data.y, fte, self.test_data.y, self.num_classes,
                                        cfg.knn_k, cfg.knn_t)}
        t1 = time.perf_counter()
        rec.update(self.monitor.measure(self.model))
        rec["info_time_s"] = time.perf_counter() - t1
        return rec


def run(cfg: SiameseConfig, out_dir: str) -> dict:
    """Train `cfg` in `out_dir` (resuming from its checkpoint), return the final metrics.

    A directory whose metrics.json exists holds a finished run: its metrics are returned as they are."""
    device, rd, done = open_run(cfg, out_dir)
    if done is not None:
        return done
    xtr, ytr, xte, yte, mean, std, n_cls = load_data(cfg)
    split = split_batch(cfg.batch_size, dist.get_world_size(), cfg.accum_iter, cfg.max_micro_batch)
    if split.accum > 1:  # the losses are batch-level: accumulating micro-batches would change them
        raise ValueError(f"the Siamese losses need the whole global batch {cfg.batch_size} in one step; "
                         f"accumulation ({split.accum} micro-steps) is not supported")
    train, test = Tensors(xtr, ytr, device), Tensors(xte, yte, device)
    data = TrainBatches(train, split, cfg.seed)  # refuses a data set smaller than one global batch
    task = SiameseTask(cfg, device, train, test, mean, std, n_cls)
    log = fit(task, cfg, data, rd, device, "siamese")
    metrics: dict = {"method": cfg.method, "dataset": cfg.dataset, "epochs": cfg.epochs,
                     "train_time_s": sum(r.get("epoch_s", 0.0) for r in log if "epoch_s" in r)}
    if dist.is_main():
        ftr, fte = task.features()
        metrics["knn_top1"] = knn_accuracy(ftr, ytr.to(device), fte, yte.to(device), n_cls, cfg.knn_k, cfg.knn_t)
        if cfg.linprobe_epochs > 0:
            metrics.update(linear_probe(ftr, ytr.to(device), fte, yte.to(device), n_cls, cfg.linprobe_epochs,
                                        cfg.linprobe_lr, seed=cfg.seed))
        rd.write_metrics(metrics)
    dist.barrier()
    return metrics


def main(argv=None) -> int:
    return engine_main(SiameseConfig, run, argv, "python -m mmae.engine.siamese", __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
