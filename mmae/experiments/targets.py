"""The paper's tables and figures as lists of resumable stages, and the four scales they run at.

`paper`: the published settings (ImageNet-1K for Tables 1-2, CIFAR-100 for Table 3 and Figure 4,
CIFAR-10 for Figures 1, 2, 3, 5), on data under a root directory. `mini`: the same pipeline (same
engines, same stages, same outputs) on scikit-learn's bundled digits with tiny models, several
seeds, minutes on a CPU. `small`: Fashion-MNIST with the mini encoders, sized for one GPU or two CPU
cores. `smoke` is a test-only scale that runs each target in seconds.

A stage is one engine run (pretrain, linprobe, finetune or siamese) in its own run directory
([`mmae.engine.common.RunDir`][mmae.engine.common.RunDir]). Run directories are named after what
they compute, not after the target that asked for them, so targets share stages (Figure 4 reads
Table 3's pretraining logs). A scale states only the data, the models and what differs from the
recipes, which live with the engines and the methods ([`mmae.methods`][mmae.methods]).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable

from .. import methods as _methods
from ..engine.common import JsonlLogger, RunDir
from ..engine.config import RECIPES
from ..engine.finetune import VIT_L_RECIPE as _VIT_L_FINETUNE
from ..engine.mim import default_patch_size
from ..methods import mmae as _mmae

__all__ = ["PAPER", "TARGETS", "MIM_TARGETS", "METHODS_MIM", "METHODS_SIAMESE", "METHOD_LABEL", "Scale",
           "DEFAULT_RECIPE", "MU_GRID", "TEMPERATURES", "SMALL_PATCH", "SMALL_RECIPE", "SCALES", "Stage",
           "Target", "with_epochs", "BASELINES", "build_target", "check_data", "imagenet_root", "RECIPE_KINDS",
           "recipe_text", "plan_text", "config_value", "stage_value", "read_log", "target_dir"]


PAPER = json.loads(resources.files("mmae").joinpath("paper_results.json").read_text())

TARGETS = ("table1", "table2", "table3", "figure1", "figure2", "figure3", "figure4", "figure5")
MIM_TARGETS = ("table1", "table2", "table3", "figure4")   # the others train the Siamese methods
METHODS_MIM = _methods.MIM
METHODS_SIAMESE = ("barlow", "byol", "simclr")   # the Siamese methods that Figures 1, 2 and 5 plot
METHOD_LABEL = _methods.LABELS


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


def check_data(target: Target, data_root: str | None) -> None:
    """Fail fast, with one line naming what is missing where, before any stage starts."""
    datasets = sorted({st.config["dataset"] for st in target.stages})
    for ds in datasets:
        if ds == "digits":  # bundled, or a validation split's folder (a ValueError names a bad file)
            if data_root:
                from ..data.digits import load_digits_split
                for split in ("train", "test"):
                    load_digits_split(split, data_root)
            continue
        if ds == "fashion-mnist":  # reads and checks the four IDX files (a ValueError names the bad one)
            from ..data.idx import load_fashion_mnist
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


def _engine_class(kind: str):
    from ..baselines import PixelProbeConfig
    from ..engine import finetune, linprobe, pretrain, siamese
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
        from ..engine.siamese import recipe_values
        values = {**cls.defaults(), **recipe_values(config["method"], config["dataset"])}
    else:
        values = cls.defaults(mini=config.get("dataset") == "digits", name=config.get("recipe", "paper"))
    return values.get(key)


def stage_value(stage: Stage, key: str):
    """A field of the stage's engine configuration (`config_value`)."""
    return config_value(stage.kind, stage.config, key)


def _split(stage: Stage, world_size: int):
    from ..engine.batches import split_batch
    try:
        return split_batch(stage_value(stage, "batch_size"), world_size, stage_value(stage, "accum_iter") or 0,
                           stage_value(stage, "max_micro_batch") or 0)
    except ValueError:
        return None


def read_log(stage: Stage) -> list[dict]:
    """The JSON-lines log of a stage (one record per epoch)."""
    return JsonlLogger(RunDir(stage.run_dir).log_path, enabled=False).read()


def target_dir(out: str | Path, scale_name: str, key: str, epochs: int | None = None) -> Path:
    """Where a target's summary lives: one folder per scale, so the scales' results sit side by side,
    and a run with `--epochs N` in `<key>-epN` beside the scale's own (its stages have their own
    run directories too)."""
    return Path(out) / scale_name / with_epochs(key, epochs)
