"""A target's summary: its table or figure from the stages' metrics and logs, beside the paper's
published values (`paper_results.json`, which never stand in for a measurement), with a verdict on
each of the paper's claims it concerns.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from ..engine.common import write_json_atomic
from ..engine.mim import default_patch_size
from .plots import _curve_md, _curves, _logged, _plot
from .runner import provenance
from .stats import _fmt, _per_seed, _ranked_claims, _seed_stats, _verdict_md, CHECKS, verdict
from .targets import (_has_mim, config_value, METHOD_LABEL, METHODS_MIM, MU_GRID, PAPER, SCALES, Stage, stage_value,
                      Target, target_dir)

__all__ = ["summarize"]


def _group(stages: list[Stage], kind: str, **match) -> list[Stage]:
    return [s for s in stages if s.kind == kind and all(s.labels.get(k) == v for k, v in match.items())]


def _setup(target: Target, scale_name: str) -> dict:
    """What a reader needs to know to read the numbers: data, models (with the probed feature's
    dimension), seeds, and each kind of stage's epochs and global batch."""
    from ..models import VIT_SIZES
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
    from ..baselines import reference_path
    if not target.key.startswith("table") or not any(s.config.get("dataset") == "fashion-mnist" for s in target.stages):
        return None
    path = reference_path(out)
    return json.loads(path.read_text())["classifiers"] if path.exists() else None


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
        from ..baselines import reference_md
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


def _figure4(target, scale_name, out_dir):
    from ..models import VIT_SIZES
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
