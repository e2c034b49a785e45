"""What a target costs before it runs: floating-point operations per stage from the models'
geometry, and the time they take at a stated throughput (measured on a CPU, assumed on a GPU).
"""
from __future__ import annotations

import math

from .targets import SMALL_PATCH, Stage, stage_value, Target

__all__ = ["ASSUMED_GPU_STEP_S", "CPU_FLOPS_MEASURED", "CPU_STAGE_OVERHEAD_S", "H200_BF16_PEAK", "ASSUMED_MFU",
           "RESNET18_CIFAR_FLOPS", "stage_flops", "stage_steps", "stage_seconds", "cost_text"]


# image side and default patch of each data set, and its number of training images
_GEOMETRY = {"imagenet": (224, 16), "cifar10": (32, 4), "cifar100": (32, 4), "digits": (8, 2),
             "fashion-mnist": (28, SMALL_PATCH)}
_N_TRAIN = {"imagenet": 1_281_167, "cifar10": 50_000, "cifar100": 50_000, "digits": 1_347, "fashion-mnist": 60_000}
# the small scale's models are too small to keep a GPU busy: time goes to launching kernels, so the
# GPU estimate counts optimiser steps at an assumed cost per step, plus the FLOPs at ASSUMED_MFU
ASSUMED_GPU_STEP_S = 5e-3
# measured: the effective FLOP/s of the small scale on two quiet CPU cores (Intel Xeon, torch 2.13.0),
# two stages at a time on one thread each (`--jobs auto`): Table 2 (21 M-MAE pretrainings of mini-b,
# 4.6e12 FLOPs and 340-415 s each, and 30 probes of about 10 s) took 69.5 min, 24 GFLOP/s over the
# pretrainings; a probe's fixed cost beyond its FLOPs (loading the IDX files, encoding, evaluation)
# counts half its 10 s. One stage at a time on two threads, a shorter Table-1 run had measured 17.2
# (pretraining) and 22.2 GFLOP/s (fine-tuning) and 7 s a probe, and the first column took 109 min.
CPU_FLOPS_MEASURED = 24e9
CPU_STAGE_OVERHEAD_S = 5.0
H200_BF16_PEAK = 989e12       # dense bf16 FLOP/s, the vendor's figure
ASSUMED_MFU = 0.40            # model FLOPs utilisation assumed when no GPU benchmark is recorded
RESNET18_CIFAR_FLOPS = 1.11e9  # forward FLOPs of ResNet-18 with the CIFAR stem on a 32x32 image


def _vit_forward_flops(dim: int, depth: int, tokens: int) -> float:
    # per block and token: qkv + projection + MLP(4x) = 24 dim^2 FLOPs, attention 4 tokens dim
    return depth * tokens * (24 * dim**2 + 4 * tokens * dim)


def stage_flops(stage: Stage) -> float:
    """Training FLOPs of one stage (forward + backward = 3 x forward where gradients flow)."""
    cfg = stage.config
    if stage.kind == "init":
        return 0.0
    n = _N_TRAIN[cfg["dataset"]] * stage_value(stage, "epochs")
    if stage.kind == "siamese":   # two views; the CIFAR stem keeps the FLOPs proportional to the pixels
        side = _GEOMETRY[cfg["dataset"]][0]
        return 3 * 2 * RESNET18_CIFAR_FLOPS * (side / 32) ** 2 * n
    img, patch = _GEOMETRY[cfg["dataset"]]
    if stage.kind == "pixels":     # BatchNorm and a linear layer on the pixels
        return 3 * n * 2 * img * img * 10
    from ..models.mae import DECODER_SIZES
    from ..models.vit import VIT_SIZES
    dim, depth, _ = VIT_SIZES[cfg["model"]]
    tokens = (img // (stage_value(stage, "patch_size") or patch)) ** 2 + 1
    if stage.kind == "pretrain":
        visible = int(round((tokens - 1) * (1 - stage_value(stage, "mask_ratio")))) + 1
        ddim, ddepth, _ = DECODER_SIZES[cfg["model"]]
        return 3 * n * (_vit_forward_flops(dim, depth, visible) + _vit_forward_flops(ddim, ddepth, tokens))
    if stage.kind == "linprobe":   # frozen encoder: forward only; once, when no augmentation draws anything
        from ..data import data_info
        once = stage_value(stage, "crop_scale_min") >= 1.0 and not data_info(cfg["dataset"]).flip
        return (_N_TRAIN[cfg["dataset"]] if once else n) * _vit_forward_flops(dim, depth, tokens)
    return 3 * n * _vit_forward_flops(dim, depth, tokens)


def stage_steps(stage: Stage) -> int:
    """Optimiser steps of a stage (0 for the random initialisation)."""
    if stage.kind == "init":
        return 0
    return math.ceil(_N_TRAIN[stage.config["dataset"]] / stage_value(stage, "batch_size")) * stage_value(stage, "epochs")


def stage_seconds(stage: Stage, gpu: bool, world_size: int = 1) -> float:
    """The estimated wall-clock time of one stage: on a GPU its optimiser steps at
    `ASSUMED_GPU_STEP_S` and its FLOPs at `ASSUMED_MFU` of an H200 (over `world_size` of them); on a
    CPU its FLOPs at the measured `CPU_FLOPS_MEASURED`, and a probe's fixed cost."""
    if gpu:
        peak = H200_BF16_PEAK * ASSUMED_MFU * world_size
        return stage_steps(stage) * ASSUMED_GPU_STEP_S + stage_flops(stage) / peak
    return stage_flops(stage) / CPU_FLOPS_MEASURED + CPU_STAGE_OVERHEAD_S * (stage.kind in ("linprobe", "pixels"))


def _small_cost_text(todo: list[Stage], flops: float) -> str:
    steps = sum(stage_steps(s) for s in todo)
    gpu_s, cpu_s = (sum(stage_seconds(s, gpu) for s in todo) for gpu in (True, False))
    return (f"  estimated cost of the {len(todo)} unfinished stages: {flops:.3g} FLOPs in {steps:,} optimiser steps; "
            f"about {gpu_s / 60:,.1f} min on one H200 (at an assumed {ASSUMED_GPU_STEP_S * 1e3:g} ms per step, no "
            f"measurement) and about {cpu_s / 3600:,.1f} h on two CPU cores, two stages at a time (at the "
            f"{CPU_FLOPS_MEASURED / 1e9:g} GFLOP/s measured there)")


def cost_text(target: Target, world_size: int = 1) -> str:
    """GPU-hours of the unfinished stages, from the FLOP count at an assumed utilisation."""
    todo = [s for s in target.stages if not s.done]
    flops = sum(stage_flops(s) for s in todo)
    if any(s.config.get("dataset") == "fashion-mnist" for s in todo):
        return _small_cost_text(todo, flops)
    hours = flops / (H200_BF16_PEAK * ASSUMED_MFU) / 3600
    return (f"  estimated cost of the {len(todo)} unfinished stages: {flops:.3g} FLOPs = {hours:,.1f} H200 GPU-hours "
            f"at {ASSUMED_MFU:.0%} MFU (about {hours / max(world_size, 1):,.1f} h on {world_size} GPU(s)); "
            f"a FLOP-count estimate, not a measurement")
