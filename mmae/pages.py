"""The documentation's experiment pages: what `reproduce.py` wrote under `results/`, laid out for a reader.

Every number a page shows comes from `results/<scale>/<target>/<target>.json`, the file
`mmae.experiments.summarize` writes, so two pages (or a page and the reproducing guide) cannot
disagree. A target that has not been run at a scale is said to be missing, with the command that
produces it; nothing is computed while the page is built.
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["results_root", "load", "setup_md", "body_md", "part", "verdict_summary", "baseline_summary", "show",
           "show_part", "result", "pretrain_epochs", "setting_text", "COMMAND", "MODULE_COMMAND", "VERDICT_WORD",
           "TESTED"]

COMMAND = {"table1": "--table 1", "table2": "--table 2", "table3": "--table 3", "figure1": "--figure 1",
           "figure2": "--figure 2", "figure3": "--figure 3", "figure4": "--figure 4", "figure5": "--figure 5"}
# the summaries that a module of `mmae.experiments` writes, not `reproduce.py`
MODULE_COMMAND = {"powered": "python -m mmae.experiments.powered --out results"}
_KIND = {"pretrain": "pretraining", "linprobe": "linear probe", "finetune": "fine-tuning", "pixels": "raw-pixel probe",
         "siamese": "Siamese training"}
# The words a reader sees for a results file's verdict of a claim, on every page (the home page
# and the claims table included).
VERDICT_WORD = {"reproduces": "reproduced", "does not reproduce": "not reproduced",
                "inconclusive at this scale": "inconclusive"}
# What each target tests, in a line (the Result box that opens its page).
TESTED = {"table1": "the paper's ordering M-MAE > U-MAE > MAE in linear probing and fine-tuning (its Table 1)",
          "table2": "that M-MAE's linear probe is best at the paper's $\\mu = 1$ (its Table 2)",
          "table3": "the ordering of MAE, U-MAE and M-MAE on a second data set (the paper's Table 3, CIFAR-100)",
          "figure1": "that the matrix mutual information between the branches rises while Siamese methods train",
          "figure2": "that the matrix joint entropy between the branches rises while Siamese methods train",
          "figure3": "that a lower SimCLR temperature gives more matrix information (and accuracy)",
          "figure4": "that the effective rank orders M-MAE > U-MAE > MAE and that M-MAE's rises during pretraining",
          "figure5": "that the matrix JS divergence between the branches rises while Siamese methods train",
          "powered": "the paper's linear-probe ordering M-MAE > U-MAE > MAE (its Table 1, ViT-Base) with ten seeds "
                     "per method and a logistic-regression probe solved exactly"}
# Stand-in models: which of the paper's encoders each tiny ViT plays.
_STANDS_FOR = {"mini-b": "ViT-Base", "mini-l": "ViT-Large"}
_DATA_SHORT = {"digits": "digits", "fashion-mnist": "Fashion-MNIST"}
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
    base = MODULE_COMMAND.get(key) or f"python reproduce.py {COMMAND[key]} --scale {scale}"
    return base + ("" if epochs is None else f" --epochs {epochs}")


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
    command = report.get("command") or _command(report["target"], s["scale"], s.get("epochs"))
    prov = report.get("provenance") or {}
    ran = []
    if prov.get("recorded"):
        ran = [f"- **Ran on**: {'; '.join(prov['machines'])} (torch {', '.join(prov['torch'])}), by "
               + ", ".join(f"`{c}`" for c in prov["commands"])
               + f"; {prov['recorded']} of {prov['stages']} stages recorded, {prov['seconds'] / 60:,.1f} min of "
               f"wall-clock time in all, the last finished {prov['finished']}."]
    if prov.get("probe"):   # a summary computed after its stages (`mmae.experiments.powered`)
        p = prov["probe"]
        ran.append(f"- **Probe step**: {p['machine']} (torch {p['torch']}, revision `{(p.get('revision') or '?')[:10]}`"
                   f"{', uncommitted changes' if p.get('dirty') else ''}), by `{p['command']}`, "
                   f"{p['seconds'] / 60:,.1f} min from {p['started']} to {p['finished']}.")
    return "\n".join([f"- **Scale**: `{s['scale']}` — {data}.",
                      *([f"- **Models**: {models}."] if models else []),
                      *([f"- **Feature**: the {s['feature']}; its effective rank is at most {s['erank_max']}."]
                        if "feature" in s else []),
                      f"- **Seeds**: {len(seeds)} ({', '.join(map(str, seeds))}); a seed fixes the data order, "
                      f"the masks and the augmentations, so runs of one seed are paired.",
                      f"- **Schedules**: {sched}.",
                      f"- **Command**: `{command}`",
                      *ran])


def body_md(report: dict) -> str:
    """The summary's table (measured beside the paper's values, with the baselines) and verdicts,
    verdicts in the site's words; the figure is left to `show`."""
    text = "\n".join(l for l in report["markdown"].splitlines() if not l.startswith("!["))
    for old, new in VERDICT_WORD.items():
        text = text.replace(f"**{old}**", f"**{new}**")
    return text


def _split(md: str) -> tuple[str, str]:
    """(the table, the statistics): the statistics start at the first bold paragraph heading
    ("**Verdicts on ...**"); a line that only restates the figure's feature (the figure's caption
    says it) is dropped."""
    lines = [l for l in md.splitlines() if not l.startswith("Feature: ")]
    for i, l in enumerate(lines):
        if l.startswith("**"):
            return "\n".join(lines[:i]).strip(), "\n".join(lines[i:]).strip()
    return "\n".join(lines).strip(), ""


def pretrain_epochs(report: dict) -> int | None:
    """The epochs of pretraining (or of Siamese training) behind a summary."""
    sched = (report.get("setup") or {}).get("schedule") or {}
    for kind in ("pretrain", "siamese"):
        if kind in sched:
            return sched[kind].get("epochs")
    return (report.get("setup") or {}).get("epochs")


def setting_text(report: dict, model: str = "") -> str:
    """Where a claim was tested, in a few words: scale, data, model (by the paper's encoder it
    stands in for, not by its name, which says "mini" at every scale) and training length."""
    s = report.get("setup") or {}
    data = ", ".join(_DATA_SHORT.get(d, d) for d in s.get("datasets", []))
    v = (s.get("models") or {}).get(model)
    what = (f", {_STANDS_FOR.get(model, model)} stand-in (width {v['embed_dim']}, {v['depth']} blocks, "
            f"{v['patch_size']}x{v['patch_size']} patches)") if v else ""
    ep = pretrain_epochs(report)
    return f"{report.get('scale', s.get('scale', ''))}: {data}{what}" + (f", {ep} epochs" if ep else "")


def verdict_summary(report: dict) -> str:
    """One line: how many of the paper's claims this target tests, and their verdicts."""
    vs = report.get("verdicts") or []
    if not vs:
        return "This target tests none of the paper's claims with a paired test."
    counts = {}
    for v in vs:
        counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
    return (f"Of the {len(vs)} claims tested here at the `{report['scale']}` scale: "
            + ", ".join(f"{n} {VERDICT_WORD.get(w, w)}" for w, n in counts.items()) + ".")


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


def _html(md: str) -> str:
    import markdown  # a dependency of the documentation only
    return markdown.markdown(md, extensions=["tables"])


def _runs(key: str, root, runs) -> list[tuple[str, int | None, dict]]:
    """(scale, epochs, summary) of each run of `runs` ((scale, epochs) pairs) that exists."""
    out = []
    for scale, epochs in runs:
        r = load(key, scale, root, epochs)
        if r is not None:
            out.append((scale, epochs, r))
    return out


def result(key: str, runs=(("mini", None), ("mini", 300), ("small", None)), root: str | Path | None = None) -> None:
    """The three-line Result box that opens an experiment's page: what was tested, at what scale,
    what it showed (the verdicts of every committed run, counted), computed from `results/`."""
    from IPython.display import HTML, display

    found = _runs(key, root, runs)
    n = {len(r.get("verdicts") or []) for _, _, r in found}
    where = "; ".join(f"{setting_text(r)}" for _, _, r in found) or "not run yet"
    showed = []
    for scale, epochs, r in found:
        counts: dict = {}
        for v in r.get("verdicts") or []:
            w = VERDICT_WORD.get(v["verdict"], v["verdict"])
            counts[w] = counts.get(w, 0) + 1
        seeds = len((r.get("setup") or {}).get("seeds") or [])
        label = f"{scale}" + (f", {pretrain_epochs(r)} epochs" if pretrain_epochs(r) else "")
        showed.append(f"{label} ({seeds} seeds): " + (", ".join(f"{c} {w}" for w, c in counts.items()) or "no claim tested"))
    lines = [f"<b>Tested</b>: {TESTED.get(key, key)}" + (f", {max(n)} claims per run" if n and max(n) else "") + ".",
             f"<b>Scale</b>: {where}; nothing at the paper's scale.",
             f"<b>Showed</b>: {'; '.join(showed) or 'nothing yet'}."]
    lines += [f"<b>In numbers</b>: {_html(r['summary']).removeprefix('<p>').removesuffix('</p>')}"
              for _, _, r in found if r.get("summary")]
    display(HTML('<div class="admonition abstract mmae-result"><p class="admonition-title">Result</p>'
                 + "".join(f"<p>{l}</p>" for l in lines) + "</div>"))


def part(report: dict, *titles: str) -> str:
    """The paragraphs of a summary's Markdown under the bold headings that start with one of
    `titles` (each up to the next bold heading), verdicts in the site's words."""
    keep, out = False, []
    for block in body_md(report).split("\n\n"):
        if block.startswith("**"):
            keep = block.startswith(tuple(f"**{t}" for t in titles))
        if keep:
            out.append(block)
    return "\n\n".join(out)


def _missing(key: str, scale: str, root, epochs: int | None) -> str:
    return (f"*Not run at the `{scale}` scale yet*: `{_command(key, scale, epochs)}` writes "
            f"`results/{scale}/{_dir(key, scale, root, epochs).name}/`.")


def show_part(key: str, scale: str, *titles: str, root: str | Path | None = None, epochs: int | None = None) -> None:
    """Display the parts of a target's committed summary headed by `titles` (`part`); `"provenance"`
    is the setup and the provenance (`setup_md`)."""
    from IPython.display import Markdown, display
    report = load(key, scale, root, epochs)
    if report is None:
        display(Markdown(_missing(key, scale, root, epochs)))
    else:
        display(Markdown("\n\n".join(setup_md(report) if t == "provenance" else part(report, t) for t in titles)))


def show(key: str, scale: str = "mini", root: str | Path | None = None, epochs: int | None = None,
         large: bool = False) -> None:
    """Display a target's committed results in a notebook: the figure or table first, then its
    statistics and then its provenance, both collapsed; `epochs`: those of the run with
    `--epochs epochs`; `large`: the figure at the column's full width."""
    from IPython.display import HTML, Markdown, display

    report = load(key, scale, root, epochs)
    where = _dir(key, scale, root, epochs)
    if report is None:
        display(Markdown(_missing(key, scale, root, epochs)))
        return
    table, stats = _split(body_md(report))
    png = where / f"{key}.png"
    if png.exists():
        import base64
        data = base64.b64encode(png.read_bytes()).decode()
        width = "100%" if large else "70%"
        display(HTML(f'<img class="mmae-plot" style="width:{width}" alt="{key} at the {scale} scale" '
                     f'src="data:image/png;base64,{data}">'))
    if table:
        display(Markdown(table))
    summary = " ".join(x for x in (verdict_summary(report), baseline_summary(report)) if x)
    display(HTML(f'<details class="mmae-stats"><summary>Statistics: {summary}</summary>'
                 + _html(stats) + "</details>"))
    display(HTML('<details class="mmae-provenance"><summary>Provenance: setup, command, machine</summary>'
                 + _html(setup_md(report)) + "</details>"))
