"""A target's summary: its table or figure from the stages' metrics and logs, beside the paper's
published values (`paper_results.json`, which never stand in for a measurement), with a verdict on
each of the paper's claims it concerns (`WORDING`: the paper's sentences), in the paper's terms:
the orderings it states and the trends it sees ([`stats`][mmae.experiments.stats]).

The verdicts are computed from the summary's own stored values, every cell and curve kept per
seed, so that `rejudge` recomputes them from the file alone.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from ..engine.common import write_json_atomic
from ..engine.mim import default_patch_size
from .plots import _curve_md, _curves, _plot
from .runner import provenance
from .stats import _fmt, _per_seed, _seed_stats, _verdict_md, CHECKS, judge, ordering, trend
from .targets import (_has_mim, config_value, METHOD_LABEL, METHODS_MIM, MU_GRID, PAPER, SCALES, Stage, stage_value,
                      Target, target_dir)

__all__ = ["summarize", "rejudge", "WORDING"]


# The paper's own sentences behind the claims tested (Sections 4-5 and Appendix C of the paper).
WORDING = {
    "table1": "From Table 1, it's evident that the M-MAE loss outperforms both MAE and U-MAE in terms of linear "
              "evaluation and fine-tuning accuracy.",
    "table1-umae": "Table 1: U-MAE's linear probing top-1 is above MAE's (58.5 against 55.4 with ViT-Base, 65.8 "
                   "against 62.2 with ViT-Large).",
    "table2": "The M-MAE model exhibits a peak performance at mu = 1 for ViT-Base. Deviating from this value leads to "
              "a gradual degradation in performance.",
    "table3": "As shown in the Table 3, our method performs remarkably well (its linear probing top-1, 60.9, is above "
              "U-MAE's 59.7 and MAE's 59.2; its fine-tuning top-1, 83.8, is below both, and no claim is made of it).",
    "figure1": "We can find out that the mutual information increases during training.",
    "figure2": "We can find out that the joint entropy increases during training.",
    "figure3": "As temperature = 0.3 outperforms 0.5 and 0.7 in KNN accuracy, it also has the biggest matrix mutual "
               "information and matrix joint entropy value.",
    "figure4": "M-MAE has the biggest effective rank among the algorithms, U-MAE has its effective rank bigger than "
               "MAE, and the effective ranks of M-MAE have an increasing trend during training.",
    "figure5": "The JS divergence increases during training.",
    "figure5-spectra": "It is evident that JS(p1, p2) is very small, even compared to JS(K1, K2).",
}


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
    image = summary.pop("image", None)
    report.update(summary)
    ref = _external_reference(target, out)
    if ref:
        report["external_reference"] = ref
    _judge_report(report)
    report["markdown"] = _markdown(report, summary["markdown"], image)
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
             "to the paper's, which are shown as references; the paper's differences between methods are the effect "
             "sizes a verdict compares with. Mean ± sample standard deviation over seeds."),
    "small": ("Fashion-MNIST (real 28x28 images) with the mini models: the measured values are not comparable "
              "to the paper's, which are shown as references; the paper's differences between methods are the "
              "effect sizes a verdict compares with. Mean ± sample standard deviation over seeds."),
    "smoke": "Test-only scale (one epoch per stage): the numbers check the pipeline, not the method.",
}


def _markdown(report: dict, body: str, image: str | None) -> str:
    """The summary's Markdown: its table or curves (`body`), the verdicts on the paper's claims,
    the comparisons with the baselines, the external reference, the figure."""
    parts = [body, _verdict_md(report.get("verdicts") or []),
             _verdict_md(report.get("baseline_checks") or [], "Against the baselines")]
    if report.get("external_reference"):
        from ..baselines import reference_md
        parts.append("**External reference**: classifiers of the Fashion-MNIST authors' benchmark grid on the raw "
                     "pixels (`python -m mmae.baselines`)\n\n" + reference_md(report["external_reference"]))
    return "\n\n".join(x for x in [*parts, image] if x)


def rejudge(report: dict) -> dict:
    """Decide `report`'s claims again from its stored per-seed values (a summary written by an
    earlier version: the numbers stay, the verdicts and their Markdown are recomputed), as
    `summarize` decides them. Its Markdown keeps the table or curves: the text before the first
    "**Verdicts", "**Against" or "**External" paragraph."""
    lines = report["markdown"].split("\n\n")
    cut = next((i for i, b in enumerate(lines) if b.startswith(("**Verdicts", "**Against", "**External"))), len(lines))
    image = next((b for b in lines[cut:] if b.startswith("![")), None)
    _judge_report(report)
    report["markdown"] = _markdown(report, "\n\n".join(lines[:cut]), image)
    return report


def _seeds(cell: dict | None) -> dict:
    """`{seed: value}` of a stored cell (`_seed_stats`: its values in the order of its seeds)."""
    if not cell or not cell.get("values"):
        return {}
    if len(cell.get("seeds") or ()) != len(cell["values"]):
        raise ValueError(f"a cell of {len(cell['values'])} values does not name its seeds: it cannot be paired")
    return dict(zip(cell["seeds"], cell["values"]))


def _curve_seeds(curve: dict | None) -> dict:
    """`{seed: [(epoch, value), ...]}` of a stored curve (`_curves`)."""
    return {seed: list(zip(curve["epoch"], v)) for seed, v in (curve or {}).get("per_seed", {}).items()}


def _judge_report(report: dict) -> None:
    """Set `report`'s `"verdicts"` (the paper's claims, Holm within them) and `"baseline_checks"`
    (Holm within those) from its `"measured"` and `"baselines"` alone."""
    verdicts, checks = _CLAIMS[report["target"]](report)
    report["verdicts"] = judge(verdicts)
    if checks is not None:
        report["baseline_checks"] = judge(checks, CHECKS)


def _mim_claims(report: dict) -> tuple[list, list]:
    """Tables 1 and 3: the paper's orderings of the three methods (`WORDING`) and each method
    against the random-init encoder's probe and against training from scratch."""
    scale, key = report["scale"], report["target"]
    m, base = report["measured"], report.get("baselines") or {}
    if key == "table1":
        names = dict(zip(SCALES[scale].models_t1, ("vit_base", "vit_large")))
        models = [x for x in names if x in m["linprobe_top1"].get("mae", {})]
        cell = lambda task, method, model: m[task].get(method, {}).get(model)  # noqa: E731
        paper = lambda task, method, model: PAPER["table1"][task][method][names[model]]  # noqa: E731
        claimed = {"linprobe_top1": [("mmae", "umae"), ("mmae", "mae"), ("umae", "mae")],
                   "finetune_top1": [("mmae", "umae"), ("mmae", "mae")]}
    else:   # Table 3: one encoder; the paper claims nothing of its fine-tuning (M-MAE's is the lowest)
        models = [SCALES[scale].model_t3]
        cell = lambda task, method, model: m[task].get(method)  # noqa: E731
        paper = lambda task, method, model: PAPER["table3"][task][method]  # noqa: E731
        claimed = {"linprobe_top1": [("mmae", "umae"), ("mmae", "mae")]}
    verdicts = []
    for task, pairs in claimed.items():
        what = "Linear probing" if task == "linprobe_top1" else "Fine-tuning"
        for model in models:
            for a, b in pairs:
                got_a, got_b = _seeds(cell(task, a, model)), _seeds(cell(task, b, model))
                if got_a and got_b:
                    where = f", {model}" if key == "table1" else ""
                    verdicts.append(ordering(
                        f"{what} top-1{where}: {METHOD_LABEL[a]} > {METHOD_LABEL[b]}", scale, got_a, got_b,
                        kind="accuracy", paper_effect=paper(task, a, model) - paper(task, b, model),
                        paper_wording=WORDING[key if a == "mmae" else "table1-umae"]))
    checks = []
    for model in models:
        for name, task, what in (("random_init", "linprobe_top1", "linear probe above the random-init encoder's"),
                                 ("supervised", "finetune_top1", "fine-tuning above supervised training from scratch")):
            ref = _seeds((base.get(name) or {}).get(model))
            for method in METHODS_MIM:
                got = _seeds(cell(task, method, model))
                if ref and got:
                    checks.append(ordering(f"{model}: {METHOD_LABEL[method]} {what}", scale, got, ref, kind="baseline"))
    return verdicts, checks


def _table2_claims(report: dict) -> tuple[list, None]:
    """Table 2: the paper's optimum mu = 1 against the best of the other values measured here."""
    measured, paper = report["measured"]["linprobe_top1"], PAPER["table2"]["linprobe_top1"]
    best = max(MU_GRID, key=lambda mu: paper[f"{mu:g}"])
    others = [mu for mu in MU_GRID if mu != best and measured[f"{mu:g}"]["mean"] is not None]
    if not _seeds(measured[f"{best:g}"]) or not others:
        return [], None
    rival = max(others, key=lambda mu: measured[f"{mu:g}"]["mean"])
    return [ordering(f"M-MAE linear probe top-1: mu = {best:g} (the paper's optimum) > mu = {rival:g} (the best "
                     f"other mu measured)", report["scale"], _seeds(measured[f"{best:g}"]),
                     _seeds(measured[f"{rival:g}"]), kind="accuracy",
                     paper_effect=paper[f"{best:g}"] - paper[f"{rival:g}"], paper_wording=WORDING["table2"])], None


def _figure_claims(report: dict) -> tuple[list, None]:
    """Figures 1-5: the rises the paper sees during training (a trend test per curve), and its
    orderings of final values."""
    key, scale, m = report["target"], report["scale"], report["measured"]
    label = (lambda k: f"SimCLR, temperature {k}") if key == "figure3" else (lambda k: METHOD_LABEL.get(k, k))
    final = lambda curve: {sd: v[-1] for sd, v in curve.get("per_seed", {}).items()}  # noqa: E731
    verdicts = []
    for quantity, what, groups in _RISES.get(key, ()):
        for k, curve in sorted(m.get(quantity, {}).items()):
            if curve.get("per_seed") and (groups is None or k in groups):
                verdicts.append(trend(f"{label(k)}: {what} rises during training", scale, _curve_seeds(curve),
                                      kind="mechanism", paper_wording=WORDING[key]))
    if key == "figure3":   # Appendix C.1: temperature 0.3 has the largest value of each quantity
        for quantity, what in (("feat_joint_a1", "matrix joint entropy"), ("feat_mi_a1", "matrix mutual information"),
                               ("knn_top1", "kNN top-1 accuracy")):
            curves = m.get(quantity, {})
            for other in ("0.5", "0.7"):
                if "0.3" in curves and other in curves:
                    verdicts.append(ordering(f"final {what}: temperature 0.3 > {other}", scale, final(curves["0.3"]),
                                             final(curves[other]), unit="points" if quantity == "knn_top1" else "nats",
                                             kind="accuracy" if quantity == "knn_top1" else "mechanism",
                                             paper_wording=WORDING["figure3"]))
    if key == "figure4":   # M-MAE's effective rank the largest, U-MAE's above MAE's
        curves = m.get("erank", {})
        for a, b in (("mmae", "umae"), ("mmae", "mae"), ("umae", "mae")):
            if a in curves and b in curves:
                verdicts.append(ordering(f"final effective rank: {METHOD_LABEL[a]} > {METHOD_LABEL[b]}", scale,
                                         final(curves[a]), final(curves[b]), unit="", kind="mechanism",
                                         paper_wording=WORDING["figure4"]))
    if key == "figure5":   # the JS divergence of the spectra is far below the matrix one
        js, spectra = m.get("feat_js", {}), m.get("feat_spectrum_js", {})
        for k in sorted(set(js) & set(spectra)):
            verdicts.append(ordering(f"{label(k)}: final JS(K1 || K2) > JS of the spectra", scale, final(js[k]),
                                     final(spectra[k]), unit="nats", kind="mechanism",
                                     paper_wording=WORDING["figure5-spectra"]))
    return verdicts, None


# the quantities the paper sees rise during training, per figure, and of which curves (None: all;
# Figure 4 claims M-MAE's rise alone)
_RISES = {"figure1": [("feat_mi_a1", "matrix mutual information", None)],
          "figure2": [("feat_joint_a1", "matrix joint entropy", None)],
          "figure4": [("erank", "effective rank", ("mmae",))],
          "figure5": [("feat_js", "matrix JS divergence", None)]}

_CLAIMS = {"table1": _mim_claims, "table2": _table2_claims, "table3": _mim_claims, "figure1": _figure_claims,
           "figure2": _figure_claims, "figure3": _figure_claims, "figure4": _figure_claims, "figure5": _figure_claims}


def _table1(target, scale_name, out_dir):
    scale = SCALES[scale_name]
    models = [m for m in scale.models_t1 if any(s.labels["model"] == m for s in target.stages)]
    paper_names = dict(zip(scale.models_t1, ("vit_base", "vit_large")))
    measured, rows = {}, []
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
    base = _baselines(target, models)
    rows += _baseline_rows(base, models, probe="Linear probing", finetune="Fine-tuning", cols_per_model=2)
    nice = {"vit_base": "ViT-Base", "vit_large": "ViT-Large"}
    head = "| Downstream task | Method | " + " | ".join(f"{m} (measured) | {nice[paper_names[m]]} (paper)" for m in models) + " |"
    sep = "|" + "---|" * (2 + 2 * len(models))
    return {"measured": measured, "baselines": base["stats"], "markdown": "\n".join([head, sep] + rows)}


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


def _table2(target, scale_name, out_dir):
    measured, cells_m, cells_p = {}, [], []
    for mu in MU_GRID:
        st = _seed_stats(_per_seed(_group(target.stages, "linprobe", method="mmae", mu=mu), "top1"))
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
    md = "\n".join([head, sep, "| measured top-1 | " + " | ".join(cells_m) + " |",
                    "| paper top-1 | " + " | ".join(cells_p) + " |"] + extra)
    return {"measured": {"linprobe_top1": measured}, "baselines": base["stats"], "markdown": md}


def _table3(target, scale_name, out_dir):
    cols = [("linprobe", "top1", "linprobe_top1"), ("linprobe", "top5", "linprobe_top5"),
            ("finetune", "top1", "finetune_top1"), ("finetune", "top5", "finetune_top5")]
    measured = {c[2]: {} for c in cols}
    rows = []
    methods = [m for m in ("mmae", "umae", "mae") if _group(target.stages, "pretrain", method=m)]
    for method in methods:
        cells = []
        for kind, key, name in cols:
            st = _seed_stats(_per_seed(_group(target.stages, kind, method=method), key))
            measured[name][method] = st
            cells += [_fmt(st), f"{PAPER['table3'][name][method]:.1f}"]
        rows.append(f"| {METHOD_LABEL[method]} | " + " | ".join(cells) + " |")
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
    return {"measured": measured, "baselines": base["stats"], "markdown": "\n".join([head, sep] + rows)}


def _siamese_figure(keys):
    def summarize_fig(target, scale_name, out_dir):
        by = "temperature" if target.key == "figure3" else "method"
        label = (lambda k: f"SimCLR, temperature {k}") if by == "temperature" else (lambda k: METHOD_LABEL.get(k, k))
        panels, data, md = [], {}, []
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
        paths = _plot(out_dir, target.key, panels, label)
        return {"measured": data, "figures": paths, "markdown": "\n\n".join(md),
                "image": f"![{target.title}]({target.key}.png)"}
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
    md = "\n\n".join(x for x in [
        f"Feature: the {feature}; the effective rank (Definition 5.1) is at most min({dim}, {n}) = {top}.",
        _curve_md(curves, label, "effective rank")] if x)
    return {"measured": {"erank": curves}, "setup": {"feature": feature, "model": model, "feature_dim": dim,
                                                     "erank_batch": n, "erank_max": top},
            "figures": paths, "markdown": md,
            "image": f"![Figure 4: effective rank of the {feature}, relative to its maximum {top}, during pretraining]"
                     "(figure4.png)"}


_SUMMARIZERS = {
    "table1": _table1, "table2": _table2, "table3": _table3, "figure4": _figure4,
    "figure1": _siamese_figure([("feat_mi_a1", "Matrix mutual information I_1(K1; K2)", "nats"),
                                ("bound_4_3_sc", "Theorem 4.3's lower bound on I_2 (samples)", "nats",
                                 {"vacuous_below": 0.0})]),
    "figure2": _siamese_figure([("feat_joint_a1", "Matrix joint entropy H_1(K1, K2)", "nats")]),
    "figure3": _siamese_figure([("feat_joint_a1", "(a) Matrix joint entropy", "nats"),
                                ("feat_mi_a1", "(b) Matrix mutual information", "nats"),
                                ("knn_top1", "kNN top-1 accuracy", "%")]),
    "figure5": _siamese_figure([("feat_js", "(a) Matrix JS divergence JS(K1 || K2)", "nats"),
                                ("feat_spectrum_js", "(b) JS divergence of the spectra", "nats")]),
}
