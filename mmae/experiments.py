"""Every table and figure of the paper as a list of resumable stages, at two scales.

``paper``: the published settings (ImageNet-1K for Tables 1-2, CIFAR-100 for Table 3 and Figure 4,
CIFAR-10 for Figures 1, 2, 3, 5), on data under a root directory.
``mini``: the same pipeline — same engines, same stages, same outputs — on scikit-learn's bundled
digits with tiny models, several seeds, minutes on a CPU. ``smoke`` is a test-only scale that
runs each target in seconds.

A stage is one engine run (pretrain, linprobe, finetune or siamese) in its own run directory
(:class:`mmae.engine.common.RunDir`). Run directories are named after what they compute, not after
the target that asked for them, so targets share stages (Figure 4 reads Table 3's pretraining
logs). A finished stage (its ``metrics.json`` exists) is never redone; an interrupted one resumes
from its checkpoint. The paper's published values (``paper_results.json``) are shown beside the
measurements and never stand in for one.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .losses import MIM_METHODS
from .engine.common import JsonlLogger, RunDir, write_json_atomic
from .engine.finetune import VIT_L_RECIPE as _VIT_L_FINETUNE

__all__ = ["TARGETS", "SCALES", "PAPER", "Stage", "Target", "build_target", "run_target", "check_data",
           "plan_text", "cost_text", "summarize", "read_log", "run_stage", "METHODS_MIM", "METHODS_SIAMESE"]

PAPER = json.loads(resources.files("mmae").joinpath("paper_results.json").read_text())

TARGETS = ("table1", "table2", "table3", "figure1", "figure2", "figure3", "figure4", "figure5")
METHODS_MIM = MIM_METHODS
METHODS_SIAMESE = ("barlow", "byol", "simclr")   # the Siamese methods that Figures 1, 2 and 5 plot
METHOD_LABEL = {"mae": "MAE", "umae": "U-MAE", "mmae": "M-MAE", "barlow": "Barlow Twins",
                "byol": "BYOL", "simclr": "SimCLR", "spectral": "Spectral contrastive"}


# ------------------------------------------------------------------ scales

@dataclass(frozen=True)
class Scale:
    """What a target changes at one scale. The recipes themselves live with the engines (their
    config defaults, the published recipe, and their ``MINI`` recipe); a scale states only the data,
    the models and what differs from those recipes."""
    name: str
    seeds: int
    # masked image modeling
    mim_dataset_t1: str            # Tables 1-2
    mim_dataset_t3: str            # Table 3 / Figure 4
    models_t1: tuple[str, str]     # stand-ins for (ViT-B, ViT-L) in Table 1
    model_t3: str                  # stand-in for ViT-B in Table 3
    mu_t1: dict                    # TCR coefficient per Table-1 model
    pretrain: dict = field(default_factory=dict)      # overrides of the pretraining recipe
    pretrain_t3: dict = field(default_factory=dict)
    linprobe: dict = field(default_factory=dict)
    finetune: dict = field(default_factory=dict)      # per model: overrides of the fine-tuning recipe
    # Siamese methods
    siamese_dataset: str = "cifar10"
    siamese: dict = field(default_factory=dict)       # overrides of the Siamese recipe


LAM = 0.01           # U-MAE's and M-MAE's loss-balancing coefficient (Section 6.1)
UMAE_TAU = 1.0       # the "square" uniformity loss of the M-MAE paper's U-MAE baseline
MU_GRID = (0.1, 0.5, 0.75, 1.0, 1.25, 1.5, 3.0)   # Table 2
TEMPERATURES = (0.3, 0.5, 0.7)                     # Figure 3

SCALES: dict[str, Scale] = {
    "paper": Scale(
        name="paper", seeds=1,
        mim_dataset_t1="imagenet", mim_dataset_t3="cifar100",
        models_t1=("base", "large"), model_t3="base",
        mu_t1={"base": 1.0, "large": 3.0},
        pretrain_t3=dict(epochs=1000),  # Table 3 / Figure 4 pretrain for 1000 epochs on CIFAR-100
        finetune={"base": {}, "large": dict(_VIT_L_FINETUNE)},
        siamese_dataset="cifar10",
    ),
    "mini": Scale(
        name="mini", seeds=3,
        mim_dataset_t1="digits", mim_dataset_t3="digits",
        models_t1=("mini-b", "mini-l"), model_t3="mini-b",
        mu_t1={"mini-b": 1.0, "mini-l": 3.0},
        finetune={"mini-b": {}, "mini-l": {}},
        siamese_dataset="digits",
    ),
    "smoke": Scale(
        name="smoke", seeds=1,
        mim_dataset_t1="digits", mim_dataset_t3="digits",
        models_t1=("mini-b", "mini-l"), model_t3="mini-b",
        mu_t1={"mini-b": 1.0, "mini-l": 3.0},
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


def _mim_stages(root: Path, scale: Scale, *, dataset: str, model: str, method: str, seed: int,
                mu: float, pretrain: dict, finetune: bool, data_root: str | None,
                epochs: int | None) -> list[Stage]:
    reg = {"mae": {}, "umae": {"lam": LAM, "tau": UMAE_TAU}, "mmae": {"lam": LAM, "mu": mu}}[method]
    tag = {"mae": "mae", "umae": f"umae-lam{LAM:g}-tau{UMAE_TAU:g}", "mmae": f"mmae-lam{LAM:g}-mu{mu:g}"}[method]
    pre_cfg = dict(pretrain, dataset=dataset, data_root=data_root, model=model, method=method, seed=seed, **reg)
    recipe_epochs = config_value("pretrain", pre_cfg, "epochs")
    if epochs is not None:
        pre_cfg["epochs"] = epochs
        pre_cfg["warmup_epochs"] = min(config_value("pretrain", pre_cfg, "warmup_epochs"), max(epochs // 10, 0))
    base = root / "runs" / scale.name / f"{dataset}-{model}" / tag
    if epochs is not None and epochs != recipe_epochs:
        base = base.with_name(base.name + f"-ep{epochs}")
    base = base / f"seed{seed}"
    labels = dict(dataset=dataset, model=model, method=method, seed=seed, mu=mu if method == "mmae" else None)
    ckpt = str(base / "pretrain" / "checkpoint.pt")
    out = [Stage("pretrain", base / "pretrain", pre_cfg, labels),
           Stage("linprobe", base / "linprobe", dict(scale.linprobe, dataset=dataset, data_root=data_root,
                                                      model=model, pretrained=ckpt, seed=seed), labels)]
    if finetune:
        out.append(Stage("finetune", base / "finetune", dict(scale.finetune[model], dataset=dataset, data_root=data_root,
                                                              model=model, pretrained=ckpt, seed=seed), labels))
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
        tag += f"-ep{epochs}"
    run_dir = root / "runs" / scale.name / f"{scale.siamese_dataset}-siamese" / tag / f"seed{seed}"
    return Stage("siamese", run_dir, cfg, dict(method=method, seed=seed, temperature=temperature))


def build_target(key: str, scale_name: str, out: str | Path, *, data_root: str | None = None,
                 seeds: int | None = None, epochs: int | None = None, methods: Iterable[str] | None = None,
                 models: Iterable[str] | None = None, only: str | None = None) -> Target:
    """The stages of one target (``"table1"`` ... ``"figure5"``) at one scale."""
    if key not in TARGETS:
        raise ValueError(f"unknown target {key!r}; choose from {', '.join(TARGETS)}")
    if scale_name not in SCALES:
        raise ValueError(f"unknown scale {scale_name!r}; choose from {', '.join(SCALES)}")
    scale, root = SCALES[scale_name], Path(out)
    n_seeds = scale.seeds if seeds is None else seeds
    if n_seeds < 1:
        raise ValueError(f"the number of seeds must be positive, got {n_seeds}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"the number of epochs must be positive, got {epochs}")
    seed_list = range(n_seeds)
    methods = tuple(methods) if methods else None
    t = Target(key, _TITLES[key])

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
                                                seed=s, mu=scale.mu_t1[model], pretrain=scale.pretrain, finetune=True,
                                                data_root=data_root, epochs=epochs)
    elif key == "table2":
        model = scale.models_t1[0]
        for mu in MU_GRID:
            for s in seed_list:
                t.stages += _mim_stages(root, scale, dataset=scale.mim_dataset_t1, model=model, method="mmae", seed=s,
                                        mu=mu, pretrain=scale.pretrain, finetune=False, data_root=data_root, epochs=epochs)
    elif key in ("table3", "figure4"):
        for method in METHODS_MIM:
            if want(method):
                for s in seed_list:
                    stages = _mim_stages(root, scale, dataset=scale.mim_dataset_t3, model=scale.model_t3, method=method,
                                         seed=s, mu=1.0, pretrain=scale.pretrain_t3, finetune=True,
                                         data_root=data_root, epochs=epochs)
                    # Figure 4 reads the effective rank logged during Table 3's pretraining
                    t.stages += stages if key == "table3" else stages[:1]
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
        t.stages = [st for st in t.stages if st.kind == only]
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
    """``DATA/imagenet`` when it exists, else ``DATA`` itself (either may hold train/ and val/)."""
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


def plan_text(target: Target, world_size: int = 1) -> str:
    """What will run: every stage with its state, and the global batch for this many GPUs."""
    lines = [f"{target.title}", f"  {len(target.stages)} stages, {sum(st.done for st in target.stages)} already finished"]
    for st in target.stages:
        sp = _split(st, world_size)
        batch = (f"global batch {sp.global_batch} = {world_size} process(es) x {sp.accum} micro-step(s) x {sp.micro}"
                 if sp else f"global batch {stage_value(st, 'batch_size')}: not divisible by {world_size} processes")
        state = "done" if st.done else ("resume" if (st.run_dir / "checkpoint.pt").exists() else "todo")
        lines.append(f"  [{state:>6}] {st.kind:<8} {st.run_dir}  epochs {stage_value(st, 'epochs')}  {batch}")
    return "\n".join(lines)


# ------------------------------------------------------------------ running

def run_target(target: Target, *, device: str = "auto", log: Callable[[str], None] = print,
               runner: Callable[[Stage, str], dict] | None = None) -> list[dict]:
    """Run every unfinished stage in order and return the metrics of all of them."""
    runner = runner or run_stage
    results = []
    for i, st in enumerate(target.stages, 1):
        head = f"[{target.key} {i}/{len(target.stages)}] {st.kind} {st.run_dir}"
        if st.done:
            log(f"{head}: finished earlier, kept")
            results.append(RunDir(st.run_dir).metrics())
            continue
        t0 = time.perf_counter()
        log(f"{head}: running")
        results.append(runner(st, device))
        log(f"{head}: done in {time.perf_counter() - t0:.1f} s")
    return results


def run_stage(stage: Stage, device: str = "auto") -> dict:
    """Hand one stage to its engine (each engine resumes from the run directory's checkpoint)."""
    import importlib
    config = _engine_config(stage, device)
    return importlib.import_module(f".engine.{stage.kind}", __package__).run(config, stage.run_dir)


def _engine_class(kind: str):
    from .engine import finetune, linprobe, pretrain, siamese
    classes = {"pretrain": pretrain.PretrainConfig, "linprobe": linprobe.LinProbeConfig,
               "finetune": finetune.FinetuneConfig, "siamese": siamese.SiameseConfig}
    if kind not in classes:
        raise ValueError(f"unknown stage kind {kind!r}")
    return classes[kind]


def config_value(kind: str, config: dict, key: str):
    """A field of an engine configuration given as ``config`` (overrides): its own value, else its recipe's."""
    if key in config:
        return config[key]
    cls = _engine_class(kind)
    if kind == "siamese":
        from .engine.siamese import recipe_values
        values = {**cls.recipe(), **recipe_values(config["method"], config["dataset"])}
    else:
        values = cls.recipe(mini=config.get("dataset") == "digits")
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
    """The engine's config dataclass for a stage (``batch_size`` is the global batch everywhere)."""
    cfg = dict(stage.config, device=device)
    root = cfg.get("data_root") or ""
    if cfg["dataset"] == "imagenet" and root:
        root = str(imagenet_root(root))
    cfg["data_root"] = root
    cls = _engine_class(stage.kind)
    return cls.mini(**cfg) if cfg["dataset"] == "digits" else cls(**cfg)


# ------------------------------------------------------------------ summaries: tables and figures

def _stats(values: list[float]) -> dict:
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return {"mean": None, "std": None, "n": 0, "values": []}
    return {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "n": len(v), "values": v}


def _fmt(s: dict | None) -> str:
    if not s or s.get("mean") is None:
        return "—"
    return f"{s['mean']:.1f} ± {s['std']:.1f}" if s["n"] > 1 else f"{s['mean']:.1f}"


def _metric(stage: Stage, key: str):
    m = RunDir(stage.run_dir).metrics()
    return None if m is None else m.get(key)


def read_log(stage: Stage) -> list[dict]:
    """The JSON-lines log of a stage (one record per epoch)."""
    return JsonlLogger(RunDir(stage.run_dir).log_path, enabled=False).read()


def _group(stages: list[Stage], kind: str, **match) -> list[Stage]:
    return [s for s in stages if s.kind == kind and all(s.labels.get(k) == v for k, v in match.items())]


def summarize(target: Target, scale_name: str, out: str | Path) -> dict:
    """Write ``<out>/<target>/<target>.json`` and ``.md`` (and the figure as PNG and SVG)."""
    out_dir = Path(out) / target.key
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"target": target.key, "title": target.title, "scale": scale_name,
              "paper": PAPER.get(target.key), "runs": [str(s.run_dir) for s in target.stages]}
    report.update(_SUMMARIZERS[target.key](target, scale_name, out_dir))
    write_json_atomic(out_dir / f"{target.key}.json", report)
    md = f"# {target.title}\n\nScale: `{scale_name}`. " + _SCALE_NOTE[scale_name] + "\n\n" + report.pop("markdown") + "\n"
    (out_dir / f"{target.key}.md").write_text(md)
    return report


_SCALE_NOTE = {
    "paper": "Measured values are the mean over seeds (± sample standard deviation when there are several).",
    "mini": ("A miniature on scikit-learn's digits with tiny models: the measured values are not comparable "
             "to the paper's, which are shown as references. Mean ± sample standard deviation over seeds."),
    "smoke": "Test-only scale (one epoch per stage): the numbers check the pipeline, not the method.",
}


def _table1(target, scale_name, out_dir):
    scale = SCALES[scale_name]
    models = [m for m in scale.models_t1 if any(s.labels["model"] == m for s in target.stages)]
    paper_names = dict(zip(scale.models_t1, ("vit_base", "vit_large")))
    measured = {}
    rows = []
    for task, kind in (("linprobe_top1", "linprobe"), ("finetune_top1", "finetune")):
        measured[task] = {}
        for method in METHODS_MIM:
            cells = []
            for model in models:
                st = _stats([_metric(s, "top1") for s in _group(target.stages, kind, method=method, model=model)])
                measured[task].setdefault(method, {})[model] = st
                ref = PAPER["table1"][task][method][paper_names[model]]
                cells += [_fmt(st), f"{ref:.1f}"]
            rows.append(f"| {'Linear probing' if kind == 'linprobe' else 'Fine-tuning'} | {METHOD_LABEL[method]} | " + " | ".join(cells) + " |")
    nice = {"vit_base": "ViT-Base", "vit_large": "ViT-Large"}
    head = "| Downstream task | Method | " + " | ".join(f"{m} (measured) | {nice[paper_names[m]]} (paper)" for m in models) + " |"
    sep = "|" + "---|" * (2 + 2 * len(models))
    return {"measured": measured, "markdown": "\n".join([head, sep] + rows)}


def _table2(target, scale_name, out_dir):
    measured, cells_m, cells_p = {}, [], []
    for mu in MU_GRID:
        st = _stats([_metric(s, "top1") for s in _group(target.stages, "linprobe", mu=mu)])
        measured[f"{mu:g}"] = st
        cells_m.append(_fmt(st))
        cells_p.append(f"{PAPER['table2']['linprobe_top1'][f'{mu:g}']:.2f}")
    head = "| mu | " + " | ".join(f"{m:g}" for m in MU_GRID) + " |"
    sep = "|" + "---|" * (1 + len(MU_GRID))
    md = "\n".join([head, sep, "| measured top-1 | " + " | ".join(cells_m) + " |",
                    "| paper top-1 | " + " | ".join(cells_p) + " |"])
    return {"measured": {"linprobe_top1": measured}, "markdown": md}


def _table3(target, scale_name, out_dir):
    cols = [("linprobe", "top1", "linprobe_top1"), ("linprobe", "top5", "linprobe_top5"),
            ("finetune", "top1", "finetune_top1"), ("finetune", "top5", "finetune_top5")]
    measured = {c[2]: {} for c in cols}
    rows = []
    for method in ("mmae", "umae", "mae"):
        if not _group(target.stages, "pretrain", method=method):
            continue
        cells = []
        for kind, key, name in cols:
            st = _stats([_metric(s, key) for s in _group(target.stages, kind, method=method)])
            measured[name][method] = st
            cells += [_fmt(st), f"{PAPER['table3'][name][method]:.1f}"]
        rows.append(f"| {METHOD_LABEL[method]} | " + " | ".join(cells) + " |")
    head = "| Method | " + " | ".join(f"{n.replace('_', ' @')} (measured) | (paper)" for _, _, n in cols) + " |"
    sep = "|" + "---|" * 9
    return {"measured": measured, "markdown": "\n".join([head, sep] + rows)}


def _curves(stages: list[Stage], key: str, by: str) -> dict:
    """Per group (method or temperature): epochs and the mean/std over seeds of ``key``."""
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


def _plot(out_dir: Path, name: str, panels: list[tuple[str, dict, str]], label: Callable[[str], str]) -> list[str]:
    # a bare Figure renders without pyplot, so no global backend is switched (notebooks keep theirs)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * len(panels), 3.8))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (title, curves, ylabel) in zip(axes[0], panels):
        for key, c in curves.items():
            x, m, s = np.array(c["epoch"]), np.array(c["mean"]), np.array(c["std"])
            ax.plot(x, m, label=label(key))
            if c["seeds"] > 1:
                ax.fill_between(x, m - s, m + s, alpha=0.2)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if curves:
            ax.legend()
    fig.tight_layout()
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
        panels, data, md = [], {}, []
        for key, title, ylabel in keys:
            curves = _curves(target.stages, key, by)
            data[key] = curves
            panels.append((title, curves, ylabel))
            md.append(f"**{title}** (`{key}`)\n\n" + _curve_md(curves, label, ylabel))
        paths = _plot(out_dir, target.key, panels, label)
        md.append(f"![{target.title}]({target.key}.png)")
        return {"measured": data, "figures": paths, "markdown": "\n\n".join(md)}
    return summarize_fig


def _figure4(target, scale_name, out_dir):
    curves = _curves(target.stages, "erank", "method")
    label = lambda k: METHOD_LABEL.get(k, k)  # noqa: E731
    paths = _plot(out_dir, "figure4", [("Effective rank during pretraining", curves, "effective rank")], label)
    md = _curve_md(curves, label, "effective rank") + "\n\n![Figure 4](figure4.png)"
    return {"measured": {"erank": curves}, "figures": paths, "markdown": md}


_SUMMARIZERS = {
    "table1": _table1, "table2": _table2, "table3": _table3, "figure4": _figure4,
    "figure1": _siamese_figure([("feat_mi_a1", "Matrix mutual information I_1(K1; K2)", "nats")]),
    "figure2": _siamese_figure([("feat_joint_a1", "Matrix joint entropy H_1(K1, K2)", "nats")]),
    "figure3": _siamese_figure([("feat_joint_a1", "(a) Matrix joint entropy", "nats"),
                                ("feat_mi_a1", "(b) Matrix mutual information", "nats"),
                                ("knn_top1", "kNN top-1 accuracy", "%")]),
    "figure5": _siamese_figure([("feat_js", "(a) Matrix JS divergence JS(K1 || K2)", "nats"),
                                ("feat_spectrum_js", "(b) JS divergence of the spectra", "nats")]),
}


# ------------------------------------------------------------------ cost estimate (paper scale)

# image side and default patch of each data set, and its number of training images
_GEOMETRY = {"imagenet": (224, 16), "cifar10": (32, 4), "cifar100": (32, 4), "digits": (8, 2)}
_N_TRAIN = {"imagenet": 1_281_167, "cifar10": 50_000, "cifar100": 50_000, "digits": 1_347}
H200_BF16_PEAK = 989e12       # dense bf16 FLOP/s, the vendor's figure
ASSUMED_MFU = 0.40            # model FLOPs utilisation assumed when no GPU benchmark is recorded
RESNET18_CIFAR_FLOPS = 1.11e9  # forward FLOPs of ResNet-18 with the CIFAR stem on a 32x32 image


def _vit_forward_flops(dim: int, depth: int, tokens: int) -> float:
    # per block and token: qkv + projection + MLP(4x) = 24 dim^2 FLOPs, attention 4 tokens dim
    return depth * tokens * (24 * dim**2 + 4 * tokens * dim)


def stage_flops(stage: Stage) -> float:
    """Training FLOPs of one stage (forward + backward = 3 x forward where gradients flow)."""
    cfg = stage.config
    n = _N_TRAIN[cfg["dataset"]] * stage_value(stage, "epochs")
    if stage.kind == "siamese":
        return 3 * 2 * RESNET18_CIFAR_FLOPS * n
    from .models.vit import VIT_SIZES
    dim, depth, _ = VIT_SIZES[cfg["model"]]
    img, patch = _GEOMETRY[cfg["dataset"]]
    tokens = (img // patch) ** 2 + 1
    if stage.kind == "pretrain":
        visible = int(round((tokens - 1) * (1 - stage_value(stage, "mask_ratio")))) + 1
        return 3 * n * (_vit_forward_flops(dim, depth, visible) + _vit_forward_flops(512, 8, tokens))
    if stage.kind == "linprobe":   # frozen encoder: forward only
        return n * _vit_forward_flops(dim, depth, tokens)
    return 3 * n * _vit_forward_flops(dim, depth, tokens)


def cost_text(target: Target, world_size: int = 1) -> str:
    """GPU-hours of the unfinished stages, from the FLOP count at an assumed utilisation."""
    todo = [s for s in target.stages if not s.done]
    flops = sum(stage_flops(s) for s in todo)
    hours = flops / (H200_BF16_PEAK * ASSUMED_MFU) / 3600
    return (f"  estimated cost of the {len(todo)} unfinished stages: {flops:.3g} FLOPs = {hours:,.1f} H200 GPU-hours "
            f"at {ASSUMED_MFU:.0%} MFU (about {hours / max(world_size, 1):,.1f} h on {world_size} GPU(s)); "
            f"a FLOP-count estimate, not a measurement")
