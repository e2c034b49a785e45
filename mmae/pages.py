"""The documentation's experiment pages: what `reproduce.py` wrote under `results/`, laid out for a reader.

Every number a page shows comes from `results/<scale>/<target>/<target>.json`, the file
`mmae.experiments.summarize` writes, so two pages (or a page and the reproducing guide) cannot
disagree. A target that has not been run at a scale is said to be missing, with the command that
produces it; nothing is computed while the page is built.
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["results_root", "load", "setup_md", "body_md", "verdict_summary", "baseline_summary", "show", "COMMAND"]

COMMAND = {"table1": "--table 1", "table2": "--table 2", "table3": "--table 3", "figure1": "--figure 1",
           "figure2": "--figure 2", "figure3": "--figure 3", "figure4": "--figure 4", "figure5": "--figure 5"}
_KIND = {"pretrain": "pretraining", "linprobe": "linear probe", "finetune": "fine-tuning", "pixels": "raw-pixel probe",
         "siamese": "Siamese training"}
_DATA = {"digits": "scikit-learn's digits (1,347 training and 450 test images, 8x8)",
         "fashion-mnist": "Fashion-MNIST (60,000 training and 10,000 test images, 28x28)"}


def results_root(start: str | Path | None = None) -> Path:
    """`results/` of the repository holding `start` (default: the working directory)."""
    here = Path(start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "reproduce.py").exists():
            return p / "results"
    raise ValueError(f"no repository (a folder holding reproduce.py) above {here}")


def _dir(key: str, scale: str, root: str | Path | None, epochs: int | None) -> Path:
    """`experiments.target_dir` under the repository's `results/` (the same `-epN` rule as
    `experiments.with_epochs`, restated so that a page does not import torch)."""
    return Path(root or results_root()) / scale / (key if epochs is None else f"{key}-ep{epochs}")


def _command(key: str, scale: str, epochs: int | None) -> str:
    return f"python reproduce.py {COMMAND[key]} --scale {scale}" + ("" if epochs is None else f" --epochs {epochs}")


def load(key: str, scale: str, root: str | Path | None = None, epochs: int | None = None) -> dict | None:
    """The summary of `key` at `scale` (run with `--epochs epochs` when given), or None when it has not been run."""
    path = _dir(key, scale, root, epochs) / f"{key}.json"
    return json.loads(path.read_text()) if path.exists() else None


def setup_md(report: dict) -> str:
    """The setup in one paragraph: data, models with the probed feature, seeds, schedules."""
    s = report["setup"]
    data = ", ".join(_DATA.get(d, d) for d in s["datasets"])
    models = "; ".join(f"`{m}` (ViT, width {v['embed_dim']}, {v['depth']} blocks, {v['heads']} heads, "
                       f"{v['patch_size']}x{v['patch_size']}-pixel patches; probed feature: {v['probed_feature']})"
                       for m, v in s["models"].items())
    sched = ", ".join(f"{_KIND.get(kind, kind)} {v['epochs']} epoch{'s' * (v['epochs'] != 1)} (batch {v['batch_size']})"
                      for kind, v in sorted(s["schedule"].items(), key=lambda kv: list(_KIND).index(kv[0])
                                            if kv[0] in _KIND else len(_KIND)))
    seeds = s["seeds"]
    prov = report.get("provenance") or {}
    ran = []
    if prov.get("recorded"):
        ran = [f"- **Ran on**: {'; '.join(prov['machines'])} (torch {', '.join(prov['torch'])}), by "
               + ", ".join(f"`{c}`" for c in prov["commands"])
               + f"; {prov['recorded']} of {prov['stages']} stages recorded, {prov['seconds'] / 60:,.1f} min of "
               f"wall-clock time in all, the last finished {prov['finished']}."]
    return "\n".join([f"- **Scale**: `{s['scale']}` — {data}.",
                      *([f"- **Models**: {models}."] if models else []),
                      *([f"- **Feature**: the {s['feature']}; its effective rank is at most {s['erank_max']}."]
                        if "feature" in s else []),
                      f"- **Seeds**: {len(seeds)} ({', '.join(map(str, seeds))}); a seed fixes the data order, "
                      f"the masks and the augmentations, so runs of one seed are paired.",
                      f"- **Schedules**: {sched}.",
                      f"- **Command**: `{_command(report['target'], s['scale'], s.get('epochs'))}`",
                      *ran])


def body_md(report: dict) -> str:
    """The summary's table (measured beside the paper's values, with the baselines) and verdicts;
    the figure is left to `show`."""
    return "\n".join(l for l in report["markdown"].splitlines() if not l.startswith("!["))


def verdict_summary(report: dict) -> str:
    """One line: how many of the paper's claims this target tests, and their verdicts."""
    vs = report.get("verdicts") or []
    if not vs:
        return "This target tests none of the paper's claims with a paired test."
    counts = {}
    for v in vs:
        counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
    return (f"Of the {len(vs)} claims tested here at the `{report['scale']}` scale: "
            + ", ".join(f"{n} {w}" for w, n in counts.items()) + ".")


def baseline_summary(report: dict) -> str:
    """One line per kind of comparison with a baseline: for how many runs pretraining helped."""
    checks = report.get("baseline_checks") or []
    lines = []
    for what, tag in (("linear probe above the random-init encoder's", "the random-init encoder"),
                      ("fine-tuning above supervised training from scratch", "supervised training from scratch")):
        vs = [c for c in checks if c["claim"].endswith(what)]
        if vs:
            yes, no = (sum(c["verdict"] == w for c in vs) for w in ("yes", "no"))
            kind = "linear probe" if "probe" in what else "fine-tuning"
            lines.append(f"Against {tag}: the {kind} after pretraining is significantly better in {yes} of "
                         f"{len(vs)} (method, model) pairs, significantly worse in {no}, undecided in "
                         f"{len(vs) - yes - no}.")
    return " ".join(lines)


def show(key: str, scale: str = "mini", root: str | Path | None = None, epochs: int | None = None) -> None:
    """Display a target's committed results in a notebook (setup, table or figure, verdicts); `epochs`:
    those of the run with `--epochs epochs`."""
    from IPython.display import Image, Markdown, display

    report = load(key, scale, root, epochs)
    where = _dir(key, scale, root, epochs)
    if report is None:
        display(Markdown(f"*Not run at the `{scale}` scale yet*: `{_command(key, scale, epochs)}` "
                         f"writes `results/{scale}/{where.name}/`."))
        return
    display(Markdown("**Setup**\n\n" + setup_md(report)))
    display(Markdown(body_md(report)))
    png = where / f"{key}.png"
    if png.exists():
        display(Image(filename=str(png)))
    display(Markdown(" ".join(x for x in (verdict_summary(report), baseline_summary(report)) if x)))
