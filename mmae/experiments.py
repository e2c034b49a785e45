"""Every table and figure of the paper as a list of resumable stages, at two scales.

`paper`: the published settings (ImageNet-1K for Tables 1-2, CIFAR-100 for Table 3 and Figure 4,
CIFAR-10 for Figures 1, 2, 3, 5), on data under a root directory.
`mini`: the same pipeline — same engines, same stages, same outputs — on scikit-learn's bundled
digits with tiny models, several seeds, minutes on a CPU. `smoke` is a test-only scale that
runs each target in seconds.

A stage is one engine run (pretrain, linprobe, finetune or siamese) in its own run directory
([`mmae.engine.common.RunDir`][mmae.engine.common.RunDir]). Run directories are named after what they compute, not after
the target that asked for them, so targets share stages (Figure 4 reads Table 3's pretraining
logs). A finished stage (its `metrics.json` exists) is never redone; an interrupted one resumes
from its checkpoint. The paper's published values (`paper_results.json`) are shown beside the
measurements and never stand in for one.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import time
import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from . import methods as _methods
from .methods import mmae as _mmae
from .engine.common import JsonlLogger, RunDir, write_json_atomic
from .engine.config import RECIPES
from .engine.finetune import VIT_L_RECIPE as _VIT_L_FINETUNE
from .engine.loop import Preempted, StopSignals
from .engine.mim import default_patch_size

__all__ = ["TARGETS", "SCALES", "PAPER", "Stage", "Target", "build_target", "run_target", "check_data",
           "plan_text", "cost_text", "summarize", "read_log", "run_stage", "METHODS_MIM", "METHODS_SIAMESE",
           "MIM_TARGETS", "BASELINES", "target_dir", "paired_test", "verdict", "VERDICTS", "ALPHA",
           "machine", "provenance", "PROVENANCE", "dependencies", "auto_jobs", "with_epochs"]

PAPER = json.loads(resources.files("mmae").joinpath("paper_results.json").read_text())

TARGETS = ("table1", "table2", "table3", "figure1", "figure2", "figure3", "figure4", "figure5")
MIM_TARGETS = ("table1", "table2", "table3", "figure4")   # the others train the Siamese methods
METHODS_MIM = _methods.MIM
METHODS_SIAMESE = ("barlow", "byol", "simclr")   # the Siamese methods that Figures 1, 2 and 5 plot
METHOD_LABEL = _methods.LABELS


# ------------------------------------------------------------------ scales

@dataclass(frozen=True)
class Scale:
    """What a target changes at one scale. The recipes themselves live with the engines (their
    config defaults, the published recipe, and their `MINI` recipe); a scale states only the data,
    the models and what differs from those recipes."""
    name: str
    seeds: int
    # masked image modeling
    mim_dataset_t1: str            # Tables 1-2
    mim_dataset_t3: str            # Table 3 / Figure 4
    models_t1: tuple[str, str]     # stand-ins for (ViT-B, ViT-L) in Table 1
    model_t3: str                  # stand-in for ViT-B in Table 3
    patch_size: int = 0            # 0: the data set's default (mmae.engine.mim.default_patch_size)
    pretrain: dict = field(default_factory=dict)      # overrides of the pretraining recipe
    pretrain_t3: dict = field(default_factory=dict)
    linprobe: dict = field(default_factory=dict)
    finetune: dict = field(default_factory=dict)      # per model: overrides of the fine-tuning recipe
    # Siamese methods
    siamese_dataset: str | None = "cifar10"   # None: the scale runs no Siamese target
    siamese: dict = field(default_factory=dict)       # overrides of the Siamese recipe


# the recipe that reproduces the published numbers: the behaviour of the authors' code (`RECIPES`)
DEFAULT_RECIPE = "authors"
MU_GRID = (0.1, 0.5, 0.75, 1.0, 1.25, 1.5, 3.0)   # Table 2
TEMPERATURES = (0.3, 0.5, 0.7)                     # Figure 3

# the mini scale runs the engines' `MINI` recipes as they are, the same for every method (each says
# how it was chosen on a validation split, with MAE alone)

# the small scale: what differs from the published recipes (the engines' defaults) on Fashion-MNIST.
# No mixing, RandAugment, erasing or drop path in fine-tuning (a 3-block model); the probe sees whole
# images (its frozen features are then computed once). The schedule's lengths were chosen with MAE
# alone (mini-b, seed 0) on a validation split, 10,000 of the training images held out
# (`python -m mmae.data.idx --validation-split`; the test split unseen): pretraining 4 / 20 epochs
# with fine-tuning 10 gave a probe of 72.0 / 74.2% and fine-tuning 74.9 / 77.8%; fine-tuning 30
# epochs after 20 of pretraining, 82.3%. The first Table-1 column (3 seeds) took 109 min on two CPU
# cores one stage at a time; the learning rates and the rest are as they were, untuned.
SMALL_PATCH = 7    # 4 x 4 = 16 patches of 7 x 7 pixels, as the mini scale's 16 patches of 2 x 2
SMALL_RECIPE = {
    "pretrain": dict(epochs=20, warmup_epochs=2, batch_size=256, max_micro_batch=0, blr=1.5e-3, ckpt_every=1,
                     num_workers=0),
    "linprobe": dict(epochs=30, warmup_epochs=3, batch_size=1024, max_micro_batch=0, blr=10.0, crop_scale_min=1.0,
                     eval_every=30, ckpt_every=10, num_workers=0),
    "finetune": dict(epochs=30, warmup_epochs=3, batch_size=256, max_micro_batch=0, blr=1e-3, layer_decay=0.75,
                     drop_path=0.0, mixup=0.0, cutmix=0.0, randaug_ops=0, reprob=0.0, crop_scale_min=0.5,
                     eval_every=30, ckpt_every=5, num_workers=0),
}

SCALES: dict[str, Scale] = {
    "paper": Scale(
        name="paper", seeds=1,
        mim_dataset_t1="imagenet", mim_dataset_t3="cifar100",
        models_t1=("base", "large"), model_t3="base",
        pretrain_t3=dict(epochs=1000),  # Table 3 / Figure 4 pretrain for 1000 epochs on CIFAR-100
        finetune={"base": {}, "large": dict(_VIT_L_FINETUNE)},
        siamese_dataset="cifar10",
    ),
    "mini": Scale(
        name="mini", seeds=3,
        mim_dataset_t1="digits", mim_dataset_t3="digits",
        models_t1=("mini-b", "mini-l"), model_t3="mini-b",
        finetune={"mini-b": {}, "mini-l": {}},
        siamese_dataset="digits",
    ),
    # Fashion-MNIST (real 28x28 images, 60,000 for training) with the mini encoders on 7x7-pixel
    # patches; sized for one GPU (Table 1, 3 seeds: 153,450 optimiser steps of tiny models) or two CPU
    # cores (its first column, 109 min one stage at a time): `SMALL_RECIPE`
    "small": Scale(
        name="small", seeds=3,
        mim_dataset_t1="fashion-mnist", mim_dataset_t3="fashion-mnist",
        models_t1=("mini-b", "mini-l"), model_t3="mini-b",
        patch_size=SMALL_PATCH,
        pretrain=SMALL_RECIPE["pretrain"], pretrain_t3=SMALL_RECIPE["pretrain"], linprobe=SMALL_RECIPE["linprobe"],
        finetune={"mini-b": SMALL_RECIPE["finetune"], "mini-l": SMALL_RECIPE["finetune"]},
        siamese_dataset="fashion-mnist",   # ResNet-18, 30 epochs (`mmae.engine.siamese`)
    ),
    "smoke": Scale(
        name="smoke", seeds=1,
        mim_dataset_t1="digits", mim_dataset_t3="digits",
        models_t1=("mini-b", "mini-l"), model_t3="mini-b",
        pretrain=dict(epochs=1, warmup_epochs=0, batch_size=256),
        pretrain_t3=dict(epochs=1, warmup_epochs=0, batch_size=256),
        linprobe=dict(epochs=1, warmup_epochs=0, batch_size=512, eval_every=1),
        finetune={"mini-b": dict(epochs=1, warmup_epochs=0, batch_size=256, eval_every=1),
                  "mini-l": dict(epochs=1, warmup_epochs=0, batch_size=256, eval_every=1)},
        siamese_dataset="digits",
        siamese=dict(epochs=1, info_batch=128, linprobe_epochs=2),
    ),
}


# ------------------------------------------------------------------ stages and targets

@dataclass
class Stage:
    kind: str                      # "pretrain" | "linprobe" | "finetune" | "siamese"
    run_dir: Path
    config: dict                   # fields of the engine's config dataclass
    labels: dict                   # what the stage measures: method, model, seed, mu, ...

    @property
    def done(self) -> bool:
        return RunDir(self.run_dir).done

    @property
    def name(self) -> str:
        return str(self.run_dir)


@dataclass
class Target:
    key: str
    title: str
    stages: list[Stage] = field(default_factory=list)
    recipe: str = DEFAULT_RECIPE   # of the masked-image-modeling stages
    epochs: int | None = None      # `--epochs`: the pretraining length in place of the scale's


def with_epochs(name: str, epochs: int | None) -> str:
    """`name` of a run directory or summary folder, marked `-epN` when `--epochs N` set its length."""
    return name if epochs is None else f"{name}-ep{epochs}"


def _finetune_overrides(scale: Scale, model: str, recipe: str) -> dict:
    """The scale's fine-tuning overrides for `model`. The authors' script is one recipe for every
    size, so under it MAE's ViT-L values (the paper recipe's) give way."""
    ft = dict(scale.finetune[model])
    if recipe == "authors":
        ft = {k: v for k, v in ft.items() if _VIT_L_FINETUNE.get(k, None) != v}
    return dict(ft, recipe=recipe)


def _mim_stages(root: Path, scale: Scale, *, dataset: str, model: str, method: str, seed: int,
                mu: float, pretrain: dict, finetune: bool, data_root: str | None,
                epochs: int | None, recipe: str) -> list[Stage]:
    m = _methods.get(method, "mim")
    # the method's published hyper-parameters (M-MAE's mu per encoder), named in the run directory
    reg = {k: mu if k == "mu" else v for k, v in dataclasses.asdict(m.Params()).items()}
    tag = method + "".join(f"-{k}{v:g}" for k, v in reg.items())
    pre_cfg = dict(pretrain, dataset=dataset, data_root=data_root, model=model, method=method, seed=seed,
                   recipe=recipe, **reg)
    recipe_epochs = config_value("pretrain", pre_cfg, "epochs")
    if epochs is not None:
        pre_cfg["epochs"] = epochs
        pre_cfg["warmup_epochs"] = min(config_value("pretrain", pre_cfg, "warmup_epochs"), max(epochs // 10, 0))
    tag = with_epochs(tag, None if epochs == recipe_epochs else epochs)  # the recipe's length: its own runs
    base = root / "runs" / scale.name / recipe / f"{dataset}-{model}" / tag / f"seed{seed}"
    labels = dict(dataset=dataset, model=model, method=method, seed=seed, mu=mu if method == "mmae" else None)
    ckpt = str(base / "pretrain" / "checkpoint.pt")
    patch = _patch(scale)
    out = [Stage("pretrain", base / "pretrain", dict(pre_cfg, **patch), labels),
           Stage("linprobe", base / "linprobe", dict(scale.linprobe, dataset=dataset, data_root=data_root,
                                                      model=model, pretrained=ckpt, seed=seed, recipe=recipe, **patch),
                 labels)]
    if finetune:
        out.append(Stage("finetune", base / "finetune", dict(_finetune_overrides(scale, model, recipe), dataset=dataset,
                                                              data_root=data_root, model=model, pretrained=ckpt,
                                                              seed=seed, **patch), labels))
    return out


def _patch(scale: Scale) -> dict:
    return {"patch_size": scale.patch_size} if scale.patch_size else {}


BASELINES = ("raw_pixels", "random_init", "supervised")


def _baseline_stages(root: Path, scale: Scale, *, dataset: str, models: Iterable[str], seed: int,
                     data_root: str | None, supervised: bool, recipe: str) -> list[Stage]:
    """The baselines of a table (`mmae.baselines`) for one seed: the probe on raw pixels, and per
    model the probe on the randomly initialised encoder and (`supervised`) fine-tuning from scratch.
    They do not depend on the pretraining, so every target and `--epochs` share them."""
    common = dict(dataset=dataset, data_root=data_root, seed=seed)
    runs = root / "runs" / scale.name / recipe  # the probe's and the fine-tuning's recipe
    out = [Stage("pixels", runs / dataset / "raw-pixels" / f"seed{seed}" / "linprobe",
                 dict(scale.linprobe, **common, recipe=recipe),
                 dict(common, method="raw_pixels", model=None, mu=None))]
    for model in models:
        base = runs / f"{dataset}-{model}"
        labels = dict(common, method="random_init", model=model, mu=None)
        init = Stage("init", base / "random-init" / f"seed{seed}" / "init",
                     dict(common, model=model, patch_size=scale.patch_size or default_patch_size(dataset)), labels)
        out += [init, Stage("linprobe", init.run_dir.with_name("linprobe"),
                            dict(scale.linprobe, **common, model=model, pretrained=str(init.run_dir / "checkpoint.pt"),
                                 recipe=recipe, **_patch(scale)), labels)]
        if supervised:
            out.append(Stage("finetune", base / "supervised" / f"seed{seed}" / "finetune",
                             dict(_finetune_overrides(scale, model, recipe), **common, model=model, pretrained="",
                                  **_patch(scale)),
                             dict(labels, method="supervised")))
    return out


def _siamese_stage(root: Path, scale: Scale, *, method: str, seed: int, data_root: str | None,
                   temperature: float | None = None, epochs: int | None = None) -> Stage:
    cfg = dict(scale.siamese, method=method, dataset=scale.siamese_dataset, data_root=data_root, seed=seed)
    tag = method
    if temperature is not None:
        cfg["temperature"] = temperature
        tag += f"-t{temperature:g}"
    if epochs is not None:
        cfg["epochs"] = epochs
    tag = with_epochs(tag, epochs)
    run_dir = root / "runs" / scale.name / f"{scale.siamese_dataset}-siamese" / tag / f"seed{seed}"
    return Stage("siamese", run_dir, cfg, dict(method=method, seed=seed, temperature=temperature))


def build_target(key: str, scale_name: str, out: str | Path, *, data_root: str | None = None,
                 seeds: int | None = None, epochs: int | None = None, methods: Iterable[str] | None = None,
                 models: Iterable[str] | None = None, only: str | None = None,
                 recipe: str = DEFAULT_RECIPE) -> Target:
    """The stages of one target (`"table1"` ... `"figure5"`) at one scale, in the named recipe
    (`mmae.engine.config.RECIPES`; it concerns the masked-image-modeling stages)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    if key not in TARGETS:
        raise ValueError(f"unknown target {key!r}; choose from {', '.join(TARGETS)}")
    if scale_name not in SCALES:
        raise ValueError(f"unknown scale {scale_name!r}; choose from {', '.join(SCALES)}")
    scale, root = SCALES[scale_name], Path(out)
    if scale.siamese_dataset is None and key not in MIM_TARGETS:
        raise ValueError(f"{key} is not run at the {scale_name} scale, which covers the masked-image-modeling "
                         f"targets ({', '.join(MIM_TARGETS)}); use --scale mini or paper")
    n_seeds = scale.seeds if seeds is None else seeds
    if n_seeds < 1:
        raise ValueError(f"the number of seeds must be positive, got {n_seeds}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"the number of epochs must be positive, got {epochs}")
    seed_list = range(n_seeds)
    methods = tuple(methods) if methods else None
    t = Target(key, _TITLES[key], recipe=recipe, epochs=epochs)

    def want(method):
        return methods is None or method in methods

    if key in ("table1", "table2", "table3", "figure4"):
        if methods:
            bad = sorted(set(methods) - set(METHODS_MIM))
            if bad:
                raise ValueError(f"unknown method(s) {', '.join(bad)} for {key}; choose from {', '.join(METHODS_MIM)}")
    else:
        if methods:
            bad = sorted(set(methods) - set(METHODS_SIAMESE))
            if bad:
                raise ValueError(f"unknown method(s) {', '.join(bad)} for {key}; choose from {', '.join(METHODS_SIAMESE)}")

    if key == "table1":
        model_list = scale.models_t1
        if models:
            alias = dict(zip(("vit_base", "vit_large"), scale.models_t1))
            chosen = [alias.get(m, m) for m in models]
            bad = sorted(set(chosen) - set(scale.models_t1))
            if bad:
                raise ValueError(f"unknown model(s) {', '.join(bad)}; at scale {scale.name} Table 1 uses "
                                 f"{', '.join(scale.models_t1)} (or vit_base, vit_large)")
            model_list = tuple(m for m in scale.models_t1 if m in chosen)
        for model in model_list:
            for method in METHODS_MIM:
                if want(method):
                    for s in seed_list:
                        t.stages += _mim_stages(root, scale, dataset=scale.mim_dataset_t1, model=model, method=method,
                                                seed=s, mu=_mmae.MU[model], pretrain=scale.pretrain, finetune=True,
                                                data_root=data_root, epochs=epochs, recipe=recipe)
        for s in seed_list:
            t.stages += _baseline_stages(root, scale, dataset=scale.mim_dataset_t1, models=model_list, seed=s,
                                         data_root=data_root, supervised=True, recipe=recipe)
    elif key == "table2":
        model = scale.models_t1[0]
        for mu in MU_GRID:
            for s in seed_list:
                t.stages += _mim_stages(root, scale, dataset=scale.mim_dataset_t1, model=model, method="mmae", seed=s,
                                        mu=mu, pretrain=scale.pretrain, finetune=False, data_root=data_root, epochs=epochs,
                                        recipe=recipe)
        for s in seed_list:  # a table of probes: no fine-tuning baseline
            t.stages += _baseline_stages(root, scale, dataset=scale.mim_dataset_t1, models=(model,), seed=s,
                                         data_root=data_root, supervised=False, recipe=recipe)
    elif key in ("table3", "figure4"):
        for method in METHODS_MIM:
            if want(method):
                for s in seed_list:
                    stages = _mim_stages(root, scale, dataset=scale.mim_dataset_t3, model=scale.model_t3, method=method,
                                         seed=s, mu=1.0, pretrain=scale.pretrain_t3, finetune=True,
                                         data_root=data_root, epochs=epochs, recipe=recipe)
                    # Figure 4 reads the effective rank logged during Table 3's pretraining
                    t.stages += stages if key == "table3" else stages[:1]
        if key == "table3":
            for s in seed_list:
                t.stages += _baseline_stages(root, scale, dataset=scale.mim_dataset_t3, models=(scale.model_t3,),
                                             seed=s, data_root=data_root, supervised=True, recipe=recipe)
    elif key in ("figure1", "figure2", "figure5"):
        for method in METHODS_SIAMESE:
            if want(method):
                for s in seed_list:
                    t.stages.append(_siamese_stage(root, scale, method=method, seed=s, data_root=data_root, epochs=epochs))
    elif key == "figure3":
        for temp in TEMPERATURES:
            for s in seed_list:
                t.stages.append(_siamese_stage(root, scale, method="simclr", seed=s, data_root=data_root,
                                               temperature=temp, epochs=epochs))
    if only is not None:
        if only not in ("pretrain", "linprobe", "finetune", "siamese"):
            raise ValueError(f"--only must be pretrain, linprobe, finetune or siamese; got {only!r}")
        # a probe needs the random initialisation it reads; the raw-pixel probe is a probe
        kinds = {only} | ({"init", "pixels"} if only == "linprobe" else set())
        t.stages = [st for st in t.stages if st.kind in kinds]
    return t


_TITLES = {
    "table1": "Table 1: linear probing and fine-tuning top-1 of MAE, U-MAE and M-MAE",
    "table2": "Table 2: M-MAE linear probing top-1 for each TCR coefficient mu",
    "table3": "Table 3: MAE, U-MAE and M-MAE linear probe and fine-tune top-1 / top-5 (CIFAR-100 setting)",
    "figure1": "Figure 1: matrix mutual information between the branches during training",
    "figure2": "Figure 2: matrix joint entropy between the branches during training",
    "figure3": "Figure 3: SimCLR at temperatures 0.3 / 0.5 / 0.7: joint entropy, mutual information, kNN accuracy",
    "figure4": "Figure 4: effective rank of the representation during MAE / U-MAE / M-MAE pretraining",
    "figure5": "Figure 5: matrix JS divergence and spectrum JS divergence between the branches",
}


# ------------------------------------------------------------------ data checks and the plan

def check_data(target: Target, data_root: str | None) -> None:
    """Fail fast, with one line naming what is missing where, before any stage starts."""
    datasets = sorted({st.config["dataset"] for st in target.stages})
    for ds in datasets:
        if ds == "digits":
            continue
        if ds == "fashion-mnist":  # reads and checks the four IDX files (a ValueError names the bad one)
            from .data.idx import load_fashion_mnist
            for split in ("train", "test"):
                load_fashion_mnist(data_root or None, split)
            continue
        if not data_root:
            raise ValueError(f"{target.key} at paper scale needs {_EXPECT[ds]} under --data (or MMAE_DATA); "
                             f"none was given — to run the miniature instead, add --scale mini")
        root = Path(data_root)
        need = _expected_paths(ds, root)
        missing = [str(p) for p in need if not p.exists()]
        if missing:
            raise ValueError(f"{target.key} needs {_EXPECT[ds]}: {missing[0]} does not exist — "
                             f"to run the miniature instead, add --scale mini")
        if ds == "imagenet":
            for split_dir in need:
                if not any(p.is_dir() for p in split_dir.iterdir()):
                    raise ValueError(f"{split_dir} holds no class folders (expected {_EXPECT[ds]}) — "
                                     f"to run the miniature instead, add --scale mini")


_EXPECT = {
    "imagenet": "ImageNet-1K in folder layout (DATA/imagenet/train/<wnid>/*.JPEG and DATA/imagenet/val/<wnid>/*.JPEG)",
    "cifar10": "the CIFAR-10 python pickles (DATA/cifar-10-batches-py/data_batch_1..5, test_batch)",
    "cifar100": "the CIFAR-100 python pickles (DATA/cifar-100-python/train, test)",
}


def imagenet_root(root: str | Path) -> Path:
    """`DATA/imagenet` when it exists, else `DATA` itself (either may hold train/ and val/)."""
    root = Path(root)
    return root / "imagenet" if (root / "imagenet").is_dir() else root


def _expected_paths(ds: str, root: Path) -> list[Path]:
    if ds == "imagenet":
        base = imagenet_root(root)
        return [base / "train", base / "val"]
    if ds == "cifar10":
        d = root / "cifar-10-batches-py"
        return [d] + [d / f"data_batch_{i}" for i in range(1, 6)] + [d / "test_batch"]
    if ds == "cifar100":
        d = root / "cifar-100-python"
        return [d, d / "train", d / "test"]
    raise ValueError(f"unknown dataset {ds!r}")


def _has_mim(target: Target) -> bool:
    return any(st.kind in RECIPE_KINDS for st in target.stages)


RECIPE_KINDS = ("pretrain", "linprobe", "finetune")  # the engines whose settings the recipe names


def recipe_text(target: Target) -> list[str]:
    """The plan's lines on the recipe: its name and every setting in which the two recipes differ."""
    kinds = [k for k in RECIPE_KINDS if any(st.kind == k for st in target.stages)]
    if not kinds:
        return []
    lines = [f"  recipe: {target.recipe} (--recipe {'|'.join(RECIPES)}); the recipes differ in"]
    for kind in kinds:
        cls = _engine_class(kind)
        paper, authors = cls.defaults(name="paper"), cls.defaults(name="authors")
        for key in (k for k in cls.AUTHORS if paper[k] != authors[k]):
            lines.append(f"    {kind + '.' + key:<32} paper {paper[key]!r:<8} authors {authors[key]!r}")
        if kind == "finetune" and any(st.kind == kind and st.labels.get("model") == "large" for st in target.stages):
            lines.append(f"    {'finetune (ViT-L)':<32} paper: MAE's ViT-L recipe {_VIT_L_FINETUNE}; authors: "
                         f"the same script for both sizes")
    return lines


def plan_text(target: Target, world_size: int = 1, jobs: int = 1) -> str:
    """What will run: the recipe, every stage with its state, and the global batch for this many GPUs
    (and how many stages at a time, `run_target`'s `jobs`)."""
    at_once = f", up to {jobs} at a time" if jobs > 1 else ""
    lines = [f"{target.title}",
             f"  {len(target.stages)} stages, {sum(st.done for st in target.stages)} already finished{at_once}",
             *recipe_text(target)]
    for st in target.stages:
        if st.kind == "init":  # no training: the initial weights, written once
            lines.append(f"  [{'done' if st.done else 'todo':>6}] {st.kind:<8} {st.run_dir}")
            continue
        sp = _split(st, world_size)
        batch = (f"global batch {sp.global_batch} = {world_size} process(es) x {sp.accum} micro-step(s) x {sp.micro}"
                 if sp else f"global batch {stage_value(st, 'batch_size')}: not divisible by {world_size} processes")
        state = "done" if st.done else ("resume" if (st.run_dir / "checkpoint.pt").exists() else "todo")
        lines.append(f"  [{state:>6}] {st.kind:<8} {st.run_dir}  epochs {stage_value(st, 'epochs')}  {batch}")
    return "\n".join(lines)


# ------------------------------------------------------------------ running

PROVENANCE = "provenance.json"   # in a run directory: where, by which command and in how long it ran


def machine(device: str = "auto", jobs: int = 1) -> str:
    """The hardware a stage runs on, in words: the GPU's name and how many processes, or the CPU's
    model, the threads torch uses and how many stages ran at a time (`run_target`'s `jobs`)."""
    import platform
    import torch
    from . import dist
    world = dist.get_world_size()
    procs = f", {world} processes" if world > 1 else ""
    if device != "cpu" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()}{procs}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    threads = torch.get_num_threads()
    at_once = f", {jobs} stages at a time" if jobs > 1 else ""
    return f"CPU {cpu}, {threads} thread{'s' if threads > 1 else ''}{procs}{at_once}"


def _record_provenance(stage: Stage, seconds: float, device: str, command: str | None, jobs: int = 1) -> None:
    import datetime
    import torch
    from . import dist
    if dist.is_main():
        stage.run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(stage.run_dir / PROVENANCE, {
            "machine": machine(device, jobs), "torch": torch.__version__, "command": command,
            "seconds": round(seconds, 1),
            "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")})


def provenance(target: Target) -> dict:
    """Where the target's stages ran, by which commands, and their summed wall-clock time, from the
    run directories' records (a stage run before records were kept counts as unrecorded)."""
    recs = []
    for s in target.stages:
        path = s.run_dir / PROVENANCE
        if path.exists():
            recs.append(json.loads(path.read_text()))
    uniq = lambda key: list(dict.fromkeys(r[key] for r in recs if r.get(key)))  # noqa: E731
    return {"machines": uniq("machine"), "commands": uniq("command"), "torch": uniq("torch"),
            "seconds": round(sum(r["seconds"] for r in recs), 1), "recorded": len(recs), "stages": len(target.stages),
            "finished": max((r["finished"] for r in recs), default=None)}


def run_target(target: Target, *, device: str = "auto", log: Callable[[str], None] = print,
               runner: Callable[[Stage, str], dict] | None = None, command: str | None = None,
               jobs: int = 1) -> list[dict]:
    """Run every unfinished stage and return the metrics of all of them, in the target's order; each
    stage run records its machine, `command` and wall-clock time in its run directory (`PROVENANCE`).

    `jobs > 1` runs up to that many stages at a time, each in its own worker process with an equal
    share of torch's threads, and a stage only once the stages it reads have finished
    (`dependencies`). On a CPU the small models of the mini and small scales spend much of a step
    in per-operation overhead that a second thread barely shortens, so two one-thread stages on two
    cores finish about 1.5 times sooner than two two-thread stages one after the other. A stage's
    result does not depend on which worker runs it. SIGTERM or SIGUSR1 to this process reaches every
    running stage, which writes its checkpoint; the first error of a stage stops the others the same
    way and is raised here. `runner` must then be a module-level function (it is pickled)."""
    runner = runner or run_stage
    n = len(target.stages)
    results: list[dict | None] = [None] * n
    head = lambda i: f"[{target.key} {i + 1}/{n}] {target.stages[i].kind} {target.stages[i].run_dir}"  # noqa: E731
    if jobs > 1 and sum(not st.done for st in target.stages) > 1:
        _run_parallel(target, results, head, device, log, runner, command, jobs)
        return results
    for i, st in enumerate(target.stages):
        if st.done:
            log(f"{head(i)}: finished earlier, kept")
            results[i] = RunDir(st.run_dir).metrics()
            continue
        log(f"{head(i)}: running")
        results[i], seconds = _run_recorded(runner, st, device, command)
        log(f"{head(i)}: done in {seconds:.1f} s")
    return results


def _run_recorded(runner, stage: Stage, device: str, command: str | None, jobs: int = 1) -> tuple[dict, float]:
    """Run one stage and record where and in how long (in the process that ran it)."""
    t0 = time.perf_counter()
    metrics = runner(stage, device)
    seconds = time.perf_counter() - t0
    _record_provenance(stage, seconds, device, command, jobs)
    return metrics, seconds


def dependencies(stages: list[Stage]) -> list[set[int]]:
    """For each stage, the indices of the stages whose run directories its configuration names (a
    probe or a fine-tuning reads its pretraining's checkpoint, a probe of the random encoder its
    initialisation): those must finish first."""
    dirs = [Path(s.run_dir) for s in stages]
    out = []
    for s in stages:
        paths = [Path(v) for v in s.config.values() if isinstance(v, str) and v]
        out.append({j for j, d in enumerate(dirs) if any(p == d or d in p.parents for p in paths)})
    return out


def auto_jobs(device: str) -> int:
    """How many stages `reproduce.py --jobs auto` runs at a time: one per thread torch would use
    (at most 8) on a CPU, one on a GPU or under `torchrun`."""
    import torch
    from . import dist
    if dist.get_world_size() > 1 or (device != "cpu" and torch.cuda.is_available()):
        return 1
    return max(1, min(8, torch.get_num_threads()))


_WORKER = {"stop": False, "busy": False}   # in a stage worker: a stop was asked; a stage is running


def _worker_init(threads: int, parent: int) -> None:
    """A stage worker: its share of the threads; Ctrl-C is the parent's to handle (it asks the
    running stages to checkpoint); a stop signal outside a stage's training loop is remembered (the
    worker then starts no stage, and ends when the parent shuts the pool down); and a watch on the
    parent, so that no orphan keeps writing a run directory that a rerun resumes."""
    import signal
    import threading
    import torch
    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for s in StopSignals.SIGNALS:
        signal.signal(s, lambda signum, frame: _WORKER.update(stop=True))
    threading.Thread(target=_end_with, args=(parent,), daemon=True, name="mmae-parent-watch").start()


def _in_worker(runner, stage: Stage, device: str, command: str | None, jobs: int) -> tuple[dict, float]:
    if _WORKER["stop"]:
        raise Preempted(f"stopped by signal before {stage.run_dir} started")
    _WORKER["busy"] = True
    try:
        return _run_recorded(runner, stage, device, command, jobs)
    finally:
        _WORKER["busy"] = False


def _end_with(parent: int, period: float = 0.5) -> None:
    """Once `parent` has died (even by SIGKILL), SIGTERM this worker every `period` seconds until its
    stage, if one runs, has written its checkpoint and returned; then end the worker."""
    import signal
    while os.getppid() == parent:
        time.sleep(period)
    while True:
        if not _WORKER["busy"]:
            os._exit(1)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(period)


class _Relay(StopSignals):
    """In the parent of the stage workers, `StopSignals` that also pass SIGTERM / SIGUSR1 on to
    every worker: a stage in its training loop then writes its checkpoint and raises `Preempted`;
    elsewhere the worker remembers it (so the signal is sent again until the stage has ended)."""

    @staticmethod
    def stop_workers(signum: int | None = None) -> None:
        import multiprocessing
        import signal
        for proc in multiprocessing.active_children():
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signum or signal.SIGTERM)

    def _handle(self, signum, frame):
        super()._handle(signum, frame)
        self.stop_workers(signum)


def _run_parallel(target: Target, results: list, head, device: str, log, runner, command, jobs: int) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    import torch
    stages, deps = target.stages, dependencies(target.stages)
    pending, running, finished = list(range(len(stages))), {}, set()
    threads = max(1, torch.get_num_threads() // jobs)
    # spawn, not fork: a forked child of a process whose OpenMP threads have run can deadlock
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(threads, os.getpid()))
    error: BaseException | None = None
    with pool, _Relay() as relay:
        try:
            while pending or running:
                for i in [i for i in pending if deps[i] <= finished]:
                    if relay.received is not None or len(running) >= jobs:
                        break
                    pending.remove(i)
                    if stages[i].done:
                        log(f"{head(i)}: finished earlier, kept")
                        results[i] = RunDir(stages[i].run_dir).metrics()
                        finished.add(i)
                        continue
                    log(f"{head(i)}: running")
                    running[pool.submit(_in_worker, runner, stages[i], device, command, jobs)] = i
                if relay.received is not None and not running:
                    raise Preempted("stopped by signal between stages; every finished stage is kept; rerun the same command "
                                    "to resume")
                if not running:
                    if pending:   # cannot happen: dependencies point to earlier stages of the target
                        raise RuntimeError(f"no stage of {target.key} can start: {head(pending[0])} waits for a stage "
                                           f"that never runs")
                    break
                done, _ = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
                for f in done:
                    i = running.pop(f)
                    results[i], seconds = f.result()
                    finished.add(i)
                    log(f"{head(i)}: done in {seconds:.1f} s")
        except BaseException as e:   # a stage failed, a signal, or Ctrl-C: the others checkpoint and stop
            error = e
            while running:   # until every running stage has checkpointed and returned
                relay.stop_workers()
                done, _ = wait(running, timeout=1.0)
                for f in done:
                    running.pop(f)
            if relay.received is not None:   # whichever stage answered first, or a pool broken by it
                error = Preempted(f"stopped by signal {relay.received}: the running stages wrote their checkpoints; rerun "
                                  f"the same command to resume")
    if error is not None:
        raise error


def run_stage(stage: Stage, device: str = "auto") -> dict:
    """Hand one stage to its engine (each engine resumes from the run directory's checkpoint)."""
    import importlib
    from . import baselines
    if stage.kind == "init":
        return baselines.write_random_init(stage.run_dir, **{k: stage.config[k] for k in ("dataset", "model",
                                                                                         "patch_size", "seed")})
    config = _engine_config(stage, device)
    if stage.kind == "pixels":
        return baselines.run_pixel_probe(config, stage.run_dir)
    return importlib.import_module(f".engine.{stage.kind}", __package__).run(config, stage.run_dir)


def _engine_class(kind: str):
    from .baselines import PixelProbeConfig
    from .engine import finetune, linprobe, pretrain, siamese
    classes = {"pretrain": pretrain.PretrainConfig, "linprobe": linprobe.LinProbeConfig,
               "finetune": finetune.FinetuneConfig, "siamese": siamese.SiameseConfig, "pixels": PixelProbeConfig}
    if kind not in classes:
        raise ValueError(f"unknown stage kind {kind!r}")
    return classes[kind]


def config_value(kind: str, config: dict, key: str):
    """A field of an engine configuration given as `config` (overrides): its own value, else its recipe's."""
    if key in config:
        return config[key]
    cls = _engine_class(kind)
    if kind == "siamese":
        from .engine.siamese import recipe_values
        values = {**cls.defaults(), **recipe_values(config["method"], config["dataset"])}
    else:
        values = cls.defaults(mini=config.get("dataset") == "digits", name=config.get("recipe", "paper"))
    return values.get(key)


def stage_value(stage: Stage, key: str):
    """A field of the stage's engine configuration (`config_value`)."""
    return config_value(stage.kind, stage.config, key)


def _split(stage: Stage, world_size: int):
    from .engine.batches import split_batch
    try:
        return split_batch(stage_value(stage, "batch_size"), world_size, stage_value(stage, "accum_iter") or 0,
                           stage_value(stage, "max_micro_batch") or 0)
    except ValueError:
        return None


def _engine_config(stage: Stage, device: str):
    """The engine's config dataclass for a stage (`batch_size` is the global batch everywhere)."""
    cfg = dict(stage.config, device=device)
    root = cfg.get("data_root") or ""
    if cfg["dataset"] == "imagenet" and root:
        root = str(imagenet_root(root))
    cfg["data_root"] = root
    cls = _engine_class(stage.kind)
    return cls.build(cfg.pop("recipe", "paper"), cfg["dataset"] == "digits", **cfg)


# ------------------------------------------------------------------ summaries: tables and figures

ALPHA = 0.05   # level of the one-sided paired tests behind the verdicts (and 1 - level of the intervals / 2)
VERDICTS = ("reproduces", "does not reproduce", "inconclusive at this scale")
CHECKS = ("yes", "no", "inconclusive at this scale")   # the outcomes of a comparison with a baseline


def _t_quantile(n: int) -> float:
    from scipy.stats import t
    return float(t.ppf(1 - ALPHA / 2, n - 1))


def _stats(values: list[float]) -> dict:
    """Mean, sample standard deviation and the 95% Student-t interval of the mean over seeds."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return {"mean": None, "std": None, "n": 0, "values": [], "ci95": None}
    mean, std = float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
    half = _t_quantile(len(v)) * std / math.sqrt(len(v)) if len(v) > 1 else None
    return {"mean": mean, "std": std, "n": len(v), "values": v,
            "ci95": None if half is None else [mean - half, mean + half]}


def _fmt(s: dict | None) -> str:
    if not s or s.get("mean") is None:
        return "—"
    return f"{s['mean']:.1f} ± {s['std']:.1f}" if s["n"] > 1 else f"{s['mean']:.1f}"


def paired_test(better: dict, worse: dict) -> dict:
    """One-sided paired t-test of "`better` > `worse`" over the seeds both have (a seed fixes the
    data order, the masks and the augmentations, so the two runs of a seed form a pair).

    Returns the mean difference $\\bar d$, its 95% interval, $t = \\bar d / (s_d / \\sqrt{n})$ with
    $n - 1$ degrees of freedom, and the one-sided p-values of the claim ($P(T \\ge t)$) and of its
    reverse ($P(T \\le t)$). Differences that are all equal give $t = \\pm\\infty$ (p 0 or 1)."""
    from scipy.stats import t as student
    seeds = sorted(set(better) & set(worse))
    d = np.array([better[s] - worse[s] for s in seeds], dtype=float)
    n = len(d)
    out = {"n": n, "difference": float(d.mean()) if n else None, "ci95": None, "statistic": None,
           "p_value": None, "p_reverse": None}
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        tval = math.copysign(math.inf, d.mean()) if d.mean() != 0 else 0.0
        p = 0.0 if tval > 0 else 1.0
        p_rev = 0.0 if tval < 0 else 1.0
    else:
        tval = float(d.mean() / (sd / math.sqrt(n)))
        p, p_rev = float(student.sf(tval, n - 1)), float(student.cdf(tval, n - 1))
    half = _t_quantile(n) * sd / math.sqrt(n)
    out.update(statistic=tval, p_value=p, p_reverse=p_rev, ci95=[float(d.mean()) - half, float(d.mean()) + half])
    return out


def verdict(claim: str, scale_name: str, better: dict, worse: dict, unit: str = "points",
            words: tuple[str, str, str] = VERDICTS) -> dict:
    """The verdict on "`better` > `worse`" (per-seed values): *reproduces* when the one-sided
    paired test rejects "not greater" at level `ALPHA`, *does not reproduce* when it rejects "not
    smaller", else *inconclusive at this scale* (also with fewer than two seeds); `words` names
    the three outcomes otherwise (`CHECKS` for a comparison with a baseline)."""
    r = paired_test(better, worse)
    if r["p_value"] is not None and r["p_value"] < ALPHA:
        word = words[0]
    elif r["p_reverse"] is not None and r["p_reverse"] < ALPHA:
        word = words[1]
    else:
        word = words[2]
    return {"claim": claim, "scale": scale_name, "verdict": word, **r, "unit": unit,
            "test": "one-sided paired t-test over seeds"}


def _verdict_line(v: dict) -> str:
    if v["statistic"] is None:
        return f"- **{v['verdict']}** — {v['claim']} (n = {v['n']}: no paired test with fewer than two seeds)"
    lo, hi = v["ci95"]
    unit = f" {v['unit']}" if v["unit"] else ""
    return (f"- **{v['verdict']}** — {v['claim']}: difference {v['difference']:+.2f}{unit} "
            f"(95% CI {lo:+.2f} to {hi:+.2f}), paired t({v['n'] - 1}) = {v['statistic']:.2f}, "
            f"one-sided p = {v['p_value']:.3g}, n = {v['n']} seeds")


def _verdict_md(verdicts: list[dict], title: str = "Verdicts on the paper's claims") -> str:
    if not verdicts:
        return ""
    return f"**{title}** (one-sided paired t-tests over seeds, level {ALPHA:g})\n\n" + "\n".join(map(_verdict_line, verdicts))


def _per_seed(stages: list[Stage], key: str) -> dict:
    """`{seed: metric}` of the finished stages."""
    out = {}
    for s in stages:
        v = _metric(s, key)
        if v is not None and math.isfinite(float(v)):
            out[s.labels["seed"]] = float(v)
    return out


def _seed_stats(per_seed: dict) -> dict:
    return _stats([per_seed[s] for s in sorted(per_seed)])


def _ranked_claims(paper: dict, methods: Iterable[str]) -> list[tuple[str, str]]:
    """The orderings a row of the paper states: each method above the next in the paper's ranking
    (ties state nothing)."""
    order = sorted((m for m in methods if m in paper), key=lambda m: -paper[m])
    return [(a, b) for a, b in zip(order, order[1:]) if paper[a] > paper[b]]


def _metric(stage: Stage, key: str):
    m = RunDir(stage.run_dir).metrics()
    return None if m is None else m.get(key)


def read_log(stage: Stage) -> list[dict]:
    """The JSON-lines log of a stage (one record per epoch)."""
    return JsonlLogger(RunDir(stage.run_dir).log_path, enabled=False).read()


def _group(stages: list[Stage], kind: str, **match) -> list[Stage]:
    return [s for s in stages if s.kind == kind and all(s.labels.get(k) == v for k, v in match.items())]


def _setup(target: Target, scale_name: str) -> dict:
    """What a reader needs to know to read the numbers: data, models (with the probed feature's
    dimension), seeds, and each kind of stage's epochs and global batch."""
    from .models import VIT_SIZES
    stages = [s for s in target.stages if s.kind != "init"]
    models = sorted({s.labels["model"] for s in stages if s.labels.get("model")})
    patch = {s.config["model"]: stage_value(s, "patch_size") or default_patch_size(s.config["dataset"])
             for s in stages if s.kind == "pretrain"}
    schedule = {}
    for s in stages:
        schedule.setdefault(s.kind, {"epochs": stage_value(s, "epochs"), "batch_size": stage_value(s, "batch_size")})
    return {"scale": scale_name, "datasets": sorted({s.config["dataset"] for s in stages}),
            "seeds": sorted({s.labels["seed"] for s in stages}),
            "models": {m: {"embed_dim": VIT_SIZES[m][0], "depth": VIT_SIZES[m][1], "heads": VIT_SIZES[m][2],
                           "patch_size": patch.get(m), "probed_feature": f"CLS token, dimension {VIT_SIZES[m][0]}"}
                       for m in models if m in VIT_SIZES},
            "schedule": schedule}


def _external_reference(target: Target, out: str | Path) -> list[dict] | None:
    """The scikit-learn classifiers on Fashion-MNIST's pixels (`mmae.baselines.write_reference`),
    for the tables that train on it, when they have been run."""
    from .baselines import reference_path
    if not target.key.startswith("table") or not any(s.config.get("dataset") == "fashion-mnist" for s in target.stages):
        return None
    path = reference_path(out)
    return json.loads(path.read_text())["classifiers"] if path.exists() else None


def target_dir(out: str | Path, scale_name: str, key: str, epochs: int | None = None) -> Path:
    """Where a target's summary lives: one folder per scale, so the scales' results sit side by side,
    and a run with `--epochs N` in `<key>-epN` beside the scale's own (its stages have their own
    run directories too)."""
    return Path(out) / scale_name / with_epochs(key, epochs)


def summarize(target: Target, scale_name: str, out: str | Path) -> dict:
    """Write `<out>/<scale>/<target>/<target>.json` and `.md` (and the figure as PNG and SVG)."""
    out_dir = target_dir(out, scale_name, target.key, target.epochs)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"target": target.key, "title": target.title, "scale": scale_name,
              "recipe": target.recipe if _has_mim(target) else None,
              "paper": PAPER.get(target.key), "runs": [str(s.run_dir) for s in target.stages]}
    summary = _SUMMARIZERS[target.key](target, scale_name, out_dir)
    report["setup"] = {**_setup(target, scale_name), **summary.pop("setup", {})}
    if target.epochs is not None:
        report["setup"]["epochs"] = target.epochs
    report["provenance"] = provenance(target)
    report.update(summary)
    ref = _external_reference(target, out)
    if ref:
        from .baselines import reference_md
        report["external_reference"] = ref
        report["markdown"] += ("\n\n**External reference**: classifiers of the Fashion-MNIST authors' benchmark "
                               "grid on the raw pixels (`python -m mmae.baselines`)\n\n" + reference_md(ref))
    write_json_atomic(out_dir / f"{target.key}.json", report)
    recipe = f"Recipe: `{target.recipe}`. " if _has_mim(target) else ""
    length = "" if target.epochs is None else f"Pretraining: {target.epochs} epochs (`--epochs {target.epochs}`). "
    md = (f"# {target.title}\n\nScale: `{scale_name}`. {recipe}{length}" + _SCALE_NOTE[scale_name] + "\n\n"
          + report.pop("markdown") + "\n")
    (out_dir / f"{target.key}.md").write_text(md)
    return report


_SCALE_NOTE = {
    "paper": "Measured values are the mean over seeds (± sample standard deviation when there are several).",
    "mini": ("A miniature on scikit-learn's digits with tiny models: the measured values are not comparable "
             "to the paper's, which are shown as references. Mean ± sample standard deviation over seeds."),
    "small": ("Fashion-MNIST (real 28x28 images) with the mini models: the measured values are not comparable "
              "to the paper's, which are shown as references. Mean ± sample standard deviation over seeds."),
    "smoke": "Test-only scale (one epoch per stage): the numbers check the pipeline, not the method.",
}


def _table1(target, scale_name, out_dir):
    scale = SCALES[scale_name]
    models = [m for m in scale.models_t1 if any(s.labels["model"] == m for s in target.stages)]
    paper_names = dict(zip(scale.models_t1, ("vit_base", "vit_large")))
    measured, verdicts, rows = {}, [], []
    for task, kind in (("linprobe_top1", "linprobe"), ("finetune_top1", "finetune")):
        measured[task] = {}
        task_name = "Linear probing" if kind == "linprobe" else "Fine-tuning"
        per_seed = {(method, model): _per_seed(_group(target.stages, kind, method=method, model=model), "top1")
                    for method in METHODS_MIM for model in models}
        for method in METHODS_MIM:
            cells = []
            for model in models:
                st = _seed_stats(per_seed[method, model])
                measured[task].setdefault(method, {})[model] = st
                ref = PAPER["table1"][task][method][paper_names[model]]
                cells += [_fmt(st), f"{ref:.1f}"]
            rows.append(f"| {task_name} | {METHOD_LABEL[method]} | " + " | ".join(cells) + " |")
        for model in models:
            paper = {m: PAPER["table1"][task][m][paper_names[model]] for m in METHODS_MIM}
            for a, b in _ranked_claims(paper, [m for m in METHODS_MIM if per_seed[m, model]]):
                verdicts.append(verdict(f"{task_name} top-1, {model}: {METHOD_LABEL[a]} > {METHOD_LABEL[b]}",
                                        scale_name, per_seed[a, model], per_seed[b, model]))
    base = _baselines(target, models)
    rows += _baseline_rows(base, models, probe="Linear probing", finetune="Fine-tuning", cols_per_model=2)
    nice = {"vit_base": "ViT-Base", "vit_large": "ViT-Large"}
    head = "| Downstream task | Method | " + " | ".join(f"{m} (measured) | {nice[paper_names[m]]} (paper)" for m in models) + " |"
    sep = "|" + "---|" * (2 + 2 * len(models))
    checks = _baseline_checks(target, scale_name, base, models)
    md = "\n\n".join(x for x in ["\n".join([head, sep] + rows), _verdict_md(verdicts),
                                 _verdict_md(checks, "Against the baselines")] if x)
    return {"measured": measured, "baselines": base["stats"], "verdicts": verdicts, "baseline_checks": checks,
            "markdown": md}


def _baselines(target: Target, models: Iterable[str]) -> dict:
    """Per-seed top-1 and stats of the baselines present in the target (`BASELINES`)."""
    seeds, stats = {}, {}
    pix = _per_seed(_group(target.stages, "pixels"), "top1")
    if pix:
        seeds["raw_pixels"], stats["raw_pixels"] = pix, _seed_stats(pix)
    for name, kind in (("random_init", "linprobe"), ("supervised", "finetune")):
        per_model = {m: _per_seed(_group(target.stages, kind, method=name, model=m), "top1") for m in models}
        per_model = {m: v for m, v in per_model.items() if v}
        if per_model:
            seeds[name] = per_model
            stats[name] = {m: _seed_stats(v) for m, v in per_model.items()}
    return {"seeds": seeds, "stats": stats}


def _baseline_rows(base: dict, models: list[str], *, probe: str, finetune: str | None, cols_per_model: int) -> list[str]:
    """Markdown rows of the baselines: one measured cell per model (the paper has none: "—")."""
    stats, rows = base["stats"], []
    pad = " | —" * (cols_per_model - 1)
    if "raw_pixels" in stats:
        rows.append(f"| {probe} | baseline: raw pixels | " + " | ".join(_fmt(stats["raw_pixels"]) + pad for _ in models) + " |")
    if "random_init" in stats:
        rows.append(f"| {probe} | baseline: random init | "
                    + " | ".join(_fmt(stats["random_init"].get(m)) + pad for m in models) + " |")
    if finetune and "supervised" in stats:
        rows.append(f"| {finetune} | baseline: supervised from scratch | "
                    + " | ".join(_fmt(stats["supervised"].get(m)) + pad for m in models) + " |")
    return rows


def _baseline_checks(target: Target, scale_name: str, base: dict, models: Iterable[str],
                     methods: Iterable[str] = METHODS_MIM) -> list[dict]:
    """Does each method's probe beat the random-init probe, and its fine-tuning supervised training?"""
    checks = []
    for model in models:
        for name, kind, what in (("random_init", "linprobe", "linear probe above the random-init encoder's"),
                                 ("supervised", "finetune", "fine-tuning above supervised training from scratch")):
            ref = base["seeds"].get(name, {}).get(model)
            if not ref:
                continue
            for method in methods:
                got = _per_seed(_group(target.stages, kind, method=method, model=model), "top1")
                if got:
                    checks.append(verdict(f"{model}: {METHOD_LABEL[method]} {what}", scale_name, got, ref,
                                          words=CHECKS))
    return checks


def _table2(target, scale_name, out_dir):
    measured, cells_m, cells_p, per_seed = {}, [], [], {}
    for mu in MU_GRID:
        per_seed[mu] = _per_seed(_group(target.stages, "linprobe", method="mmae", mu=mu), "top1")
        st = _seed_stats(per_seed[mu])
        measured[f"{mu:g}"] = st
        cells_m.append(_fmt(st))
        cells_p.append(f"{PAPER['table2']['linprobe_top1'][f'{mu:g}']:.2f}")
    head = "| mu | " + " | ".join(f"{m:g}" for m in MU_GRID) + " |"
    sep = "|" + "---|" * (1 + len(MU_GRID))
    model = SCALES[scale_name].models_t1[0]
    base = _baselines(target, [model])
    extra = [f"| baseline: {'raw pixels' if name == 'raw_pixels' else f'random init ({model})'} | "
             f"{_fmt(s.get(model) if name == 'random_init' else s)}" + " | —" * (len(MU_GRID) - 1) + " |"
             for name, s in base["stats"].items()]
    # the paper's optimum against the best of the other values measured here
    best = max(MU_GRID, key=lambda m: PAPER["table2"]["linprobe_top1"][f"{m:g}"])
    others = [m for m in MU_GRID if m != best and measured[f"{m:g}"]["mean"] is not None]
    verdicts = []
    if per_seed[best] and others:
        rival = max(others, key=lambda m: measured[f"{m:g}"]["mean"])
        verdicts.append(verdict(f"M-MAE linear probe top-1: mu = {best:g} (the paper's optimum) > mu = {rival:g} "
                                f"(the best other mu measured)", scale_name, per_seed[best], per_seed[rival]))
    md = "\n".join([head, sep, "| measured top-1 | " + " | ".join(cells_m) + " |",
                    "| paper top-1 | " + " | ".join(cells_p) + " |"] + extra)
    md = "\n\n".join(x for x in [md, _verdict_md(verdicts)] if x)
    return {"measured": {"linprobe_top1": measured}, "baselines": base["stats"], "verdicts": verdicts, "markdown": md}


def _table3(target, scale_name, out_dir):
    cols = [("linprobe", "top1", "linprobe_top1"), ("linprobe", "top5", "linprobe_top5"),
            ("finetune", "top1", "finetune_top1"), ("finetune", "top5", "finetune_top5")]
    measured = {c[2]: {} for c in cols}
    rows, per_seed = [], {}
    methods = [m for m in ("mmae", "umae", "mae") if _group(target.stages, "pretrain", method=m)]
    for method in methods:
        cells = []
        for kind, key, name in cols:
            per_seed[name, method] = _per_seed(_group(target.stages, kind, method=method), key)
            st = _seed_stats(per_seed[name, method])
            measured[name][method] = st
            cells += [_fmt(st), f"{PAPER['table3'][name][method]:.1f}"]
        rows.append(f"| {METHOD_LABEL[method]} | " + " | ".join(cells) + " |")
    verdicts = []
    for name, what in (("linprobe_top1", "Linear probing"), ("finetune_top1", "Fine-tuning")):
        for a, b in _ranked_claims(PAPER["table3"][name], [m for m in methods if per_seed[name, m]]):
            verdicts.append(verdict(f"{what} top-1: {METHOD_LABEL[a]} > {METHOD_LABEL[b]}", scale_name,
                                    per_seed[name, a], per_seed[name, b]))
    model = SCALES[scale_name].model_t3
    base = _baselines(target, [model])
    s = base["stats"]
    fmt = lambda st: _fmt(st) + " | —"  # noqa: E731  (top-1 measured, nothing from the paper)
    blank = " | — | —"
    if "raw_pixels" in s or "random_init" in s:
        for label, st in (("raw pixels", s.get("raw_pixels")), ("random init", s.get("random_init", {}).get(model))):
            if st:
                rows.append(f"| baseline: {label} (probe) | {fmt(st)}" + blank * 3 + " |")
    if "supervised" in s:
        rows.append("| baseline: supervised from scratch" + blank * 2 + f" | {fmt(s['supervised'][model])}" + blank + " |")
    head = "| Method | " + " | ".join(f"{n.replace('_', ' @')} (measured) | (paper)" for _, _, n in cols) + " |"
    sep = "|" + "---|" * 9
    checks = _baseline_checks(target, scale_name, base, [model], methods)
    md = "\n\n".join(x for x in ["\n".join([head, sep] + rows), _verdict_md(verdicts),
                                 _verdict_md(checks, "Against the baselines")] if x)
    return {"measured": measured, "baselines": base["stats"], "verdicts": verdicts, "baseline_checks": checks,
            "markdown": md}


def _curves(stages: list[Stage], key: str, by: str) -> dict:
    """Per group (method or temperature): epochs and the mean/std over seeds of `key`."""
    out = {}
    for label in sorted({s.labels[by] for s in stages}, key=str):
        logs = [[r for r in read_log(s) if key in r and r[key] is not None] for s in stages if s.labels[by] == label]
        n = min((len(l) for l in logs), default=0)
        if n == 0:
            continue
        ep = [r["epoch"] for r in logs[0][:n]]
        vals = np.array([[r[key] for r in l[:n]] for l in logs], dtype=float)
        out[str(label)] = {"epoch": ep, "mean": vals.mean(0).tolist(),
                           "std": (vals.std(0, ddof=1) if len(vals) > 1 else np.zeros(n)).tolist(), "seeds": len(vals)}
    return out


def _plot(out_dir: Path, name: str, panels: list[tuple], label: Callable[[str], str], note: str = "") -> list[str]:
    """Panels `(title, curves, ylabel[, {"vacuous_below": y}])`: mean over seeds, a band of ± one
    standard deviation when there are several; `vacuous_below` shades where a lower bound says nothing."""
    # a bare Figure renders without pyplot, so no global backend is switched (notebooks keep theirs)
    from matplotlib.figure import Figure

    import textwrap
    note = textwrap.fill(note, width=int(80 * len(panels))) if note else ""
    lines = note.count("\n") + 1 if note else 0
    fig = Figure(figsize=(5.2 * len(panels), 3.8 + 0.22 * lines))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (title, curves, ylabel, *opts) in zip(axes[0], panels):
        for key, c in curves.items():
            x, m, s = np.array(c["epoch"]), np.array(c["mean"]), np.array(c["std"])
            ax.plot(x, m, label=label(key))
            if c["seeds"] > 1:
                ax.fill_between(x, m - s, m + s, alpha=0.2)
        if opts and "vacuous_below" in opts[0]:
            y0 = opts[0]["vacuous_below"]
            lo = min([y0] + [min(c["mean"]) for c in curves.values()])
            ax.axhspan(lo - 0.05 * (abs(lo) + 1), y0, color="0.85", zorder=0, label="bound vacuous (< 0)")
            ax.axhline(y0, color="0.4", lw=0.8)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if curves:
            ax.legend(fontsize="small")
    if note:
        fig.text(0.01, 0.01, note, fontsize="small", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.055 * lines, 1, 1))
    paths = []
    for ext in ("png", "svg"):
        p = out_dir / f"{name}.{ext}"
        fig.savefig(p, dpi=150)
        paths.append(str(p))
    return paths


def _curve_md(curves: dict, label: Callable[[str], str], what: str) -> str:
    # epoch 0 of the logs is the initialisation; epoch e is the state after e epochs
    rows = [f"| {label(k)} | {c['mean'][0]:.4f} (epoch {c['epoch'][0]}) | {c['mean'][-1]:.4f} (epoch {c['epoch'][-1]}) |"
            for k, c in curves.items()]
    return "\n".join([f"| run | {what}, first logged | {what}, last logged |", "|---|---|---|"] + rows)


def _siamese_figure(keys):
    def summarize_fig(target, scale_name, out_dir):
        by = "temperature" if target.key == "figure3" else "method"
        label = (lambda k: f"SimCLR, temperature {k}") if by == "temperature" else (lambda k: METHOD_LABEL.get(k, k))
        panels, data, md, verdicts = [], {}, [], []
        for key, title, ylabel, *opts in keys:
            curves = _curves(target.stages, key, by)
            data[key] = curves
            panels.append((title, curves, ylabel, *opts))
            md.append(f"**{title}** (`{key}`)\n\n" + _curve_md(curves, label, ylabel))
            if opts and "vacuous_below" in opts[0]:
                y0 = opts[0]["vacuous_below"]
                for k, c in curves.items():
                    below = sum(v < y0 for v in c["mean"])
                    md.append(f"{label(k)}: the bound is below {y0:g} (vacuous) at {below} of {len(c['mean'])} "
                              f"logged epochs; its largest value is {max(c['mean']):.3g} nats.")
            if opts and opts[0].get("rises"):  # the paper: the quantity increases during training
                last, first = _logged(target.stages, key, by), _logged(target.stages, key, by, which=0)
                for k in sorted(last):
                    verdicts.append(verdict(f"{label(k)}: {title.split(') ')[-1]} rises during training "
                                            f"(last logged > initial)", scale_name, last[k], first[k], unit="nats"))
            if by == "temperature":  # Appendix C.1: temperature 0.3 has the largest value of each quantity
                last = _logged(target.stages, key, by)
                for other in ("0.5", "0.7"):
                    if last.get("0.3") and last.get(other):
                        verdicts.append(verdict(f"final {title.split(') ')[-1]}: temperature 0.3 > {other}",
                                                scale_name, last["0.3"], last[other],
                                                unit="points" if key == "knn_top1" else "nats"))
        paths = _plot(out_dir, target.key, panels, label)
        if verdicts:
            md.append(_verdict_md(verdicts))
        md.append(f"![{target.title}]({target.key}.png)")
        return {"measured": data, "figures": paths, "verdicts": verdicts, "markdown": "\n\n".join(md)}
    return summarize_fig


def _logged(stages: list[Stage], key: str, by: str, which: int = -1) -> dict:
    """`{group: {seed: value}}`: the first (`which=0`) or last logged value of `key` per run."""
    out = {}
    for s in stages:
        rows = [r[key] for r in read_log(s) if r.get(key) is not None]
        if rows:
            out.setdefault(str(s.labels[by]), {})[s.labels["seed"]] = float(rows[which])
    return out


def _figure4(target, scale_name, out_dir):
    from .models import VIT_SIZES
    scale = SCALES[scale_name]
    model = scale.model_t3
    dim = VIT_SIZES[model][0]
    n = config_value("pretrain", target.stages[0].config, "erank_batch") if target.stages else None
    top = min(dim, n) if n else dim  # the largest effective rank n features of dimension dim can have
    curves = _curves(target.stages, "erank", "method")
    rel = {k: dict(c, mean=[v / top for v in c["mean"]], std=[v / top for v in c["std"]]) for k, c in curves.items()}
    label = lambda k: METHOD_LABEL.get(k, k)  # noqa: E731
    feature = (f"l2-normalised CLS token of the {model} encoder (dimension {dim}) on a fixed batch of {n} "
               f"held-out images")
    paths = _plot(out_dir, "figure4", [(f"Effective rank / {top} (its maximum)", rel, "effective rank / maximum")],
                  label, note=f"feature: {feature}")
    last, first = _logged(target.stages, "erank", "method"), _logged(target.stages, "erank", "method", which=0)
    verdicts = []
    for a, b in (("mmae", "umae"), ("umae", "mae")):
        if last.get(a) and last.get(b):
            verdicts.append(verdict(f"final effective rank: {METHOD_LABEL[a]} > {METHOD_LABEL[b]}", scale_name,
                                    last[a], last[b], unit=""))
    if last.get("mmae"):
        verdicts.append(verdict("M-MAE's effective rank rises during pretraining (last logged > initial)", scale_name,
                                last["mmae"], first["mmae"], unit=""))
    md = "\n\n".join(x for x in [
        f"Feature: the {feature}; the effective rank (Definition 5.1) is at most min({dim}, {n}) = {top}.",
        _curve_md(curves, label, "effective rank"), _verdict_md(verdicts),
        f"![Figure 4: effective rank of the {feature}, relative to its maximum {top}, during pretraining](figure4.png)"]
        if x)
    return {"measured": {"erank": curves}, "setup": {"feature": feature, "model": model, "feature_dim": dim,
                                                     "erank_batch": n, "erank_max": top},
            "figures": paths, "verdicts": verdicts, "markdown": md}


_SUMMARIZERS = {
    "table1": _table1, "table2": _table2, "table3": _table3, "figure4": _figure4,
    "figure1": _siamese_figure([("feat_mi_a1", "Matrix mutual information I_1(K1; K2)", "nats", {"rises": True}),
                                ("bound_4_3_sc", "Theorem 4.3's lower bound on I_2 (samples)", "nats",
                                 {"vacuous_below": 0.0})]),
    "figure2": _siamese_figure([("feat_joint_a1", "Matrix joint entropy H_1(K1, K2)", "nats", {"rises": True})]),
    "figure3": _siamese_figure([("feat_joint_a1", "(a) Matrix joint entropy", "nats"),
                                ("feat_mi_a1", "(b) Matrix mutual information", "nats"),
                                ("knn_top1", "kNN top-1 accuracy", "%")]),
    "figure5": _siamese_figure([("feat_js", "(a) Matrix JS divergence JS(K1 || K2)", "nats", {"rises": True}),
                                ("feat_spectrum_js", "(b) JS divergence of the spectra", "nats")]),
}


# ------------------------------------------------------------------ cost estimate (paper scale)

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
    from .models.mae import DECODER_SIZES
    from .models.vit import VIT_SIZES
    dim, depth, _ = VIT_SIZES[cfg["model"]]
    tokens = (img // (stage_value(stage, "patch_size") or patch)) ** 2 + 1
    if stage.kind == "pretrain":
        visible = int(round((tokens - 1) * (1 - stage_value(stage, "mask_ratio")))) + 1
        ddim, ddepth, _ = DECODER_SIZES[cfg["model"]]
        return 3 * n * (_vit_forward_flops(dim, depth, visible) + _vit_forward_flops(ddim, ddepth, tokens))
    if stage.kind == "linprobe":   # frozen encoder: forward only; once, when no augmentation draws anything
        from .data import data_info
        once = stage_value(stage, "crop_scale_min") >= 1.0 and not data_info(cfg["dataset"]).flip
        return (_N_TRAIN[cfg["dataset"]] if once else n) * _vit_forward_flops(dim, depth, tokens)
    return 3 * n * _vit_forward_flops(dim, depth, tokens)


def stage_steps(stage: Stage) -> int:
    """Optimiser steps of a stage (0 for the random initialisation)."""
    if stage.kind == "init":
        return 0
    return math.ceil(_N_TRAIN[stage.config["dataset"]] / stage_value(stage, "batch_size")) * stage_value(stage, "epochs")


def _small_cost_text(todo: list[Stage], flops: float) -> str:
    steps = sum(stage_steps(s) for s in todo)
    gpu_s = steps * ASSUMED_GPU_STEP_S + flops / (H200_BF16_PEAK * ASSUMED_MFU)
    cpu_s = flops / CPU_FLOPS_MEASURED + CPU_STAGE_OVERHEAD_S * sum(s.kind in ("linprobe", "pixels") for s in todo)
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
