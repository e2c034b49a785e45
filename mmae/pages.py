"""The documentation's experiment pages: what `reproduce.py` wrote under `results/`, laid out for a reader.

Every measured number a page shows comes from `results/<scale>/<target>/<target>.json`, the file
`mmae.experiments.summarize` writes, so two pages (or a page and the reproducing guide) cannot
disagree: tables, figures and verdicts are laid out by `show` and `result`, and a number in a
sentence is written as a placeholder that `value` reads from the file when the page is built
(`say` in a notebook, the `mmae:value` directive in a Markdown page). A target that has not been
run at a scale is said to be missing, with the command that produces it; nothing is computed while
the page is built.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

__all__ = ["results_root", "load", "setup_md", "body_md", "verdict_summary", "baseline_summary", "show", "result",
           "pretrain_epochs", "setting_text", "outcome", "claim_kind", "count_outcomes", "verdict_id",
           "verdict_lines", "badge_html", "value", "fill", "say", "part", "show_part", "COMMAND", "MODULE_COMMAND", "OUTCOMES", "CHECKS", "OUTCOME_STYLE",
           "TESTED"]

COMMAND = {"table1": "--table 1", "table2": "--table 2", "table3": "--table 3", "figure1": "--figure 1",
           "figure2": "--figure 2", "figure3": "--figure 3", "figure4": "--figure 4", "figure5": "--figure 5"}
# the summaries that a module of `mmae.experiments` writes, not `reproduce.py`
MODULE_COMMAND = {"powered": "python -m mmae.experiments.powered --out results"}
_KIND = {"pretrain": "pretraining", "linprobe": "linear probe", "finetune": "fine-tuning", "pixels": "raw-pixel probe",
         "siamese": "Siamese training"}
# The outcomes of a claim (Holm-adjusted two-sided paired tests, and the paper's effect size where
# it gives one) and of a comparison with a baseline, in the words of the results files and of every
# page: `mmae.experiments.stats.OUTCOMES` and `CHECKS`, restated so that a page does not import torch.
OUTCOMES = ("reproduced", "contradicted", "effect smaller than the paper's", "inconclusive")
CHECKS = ("yes", "no", "inconclusive")
# Results files written before these words, read in them ("does not reproduce" was a significant
# difference against the paper's direction).
_OLD_WORDS = {"reproduces": "reproduced", "does not reproduce": "contradicted",
              "inconclusive at this scale": "inconclusive"}
# How each outcome looks (docs/stylesheets/mmae.css): a tone (colour and outline) and an icon of its
# own shape, so that neither colour nor icon is needed alone; the words say it too.
OUTCOME_STYLE = {"reproduced": ("good", ":material-check-circle:"),
                 "contradicted": ("bad", ":material-close-octagon:"),
                 "effect smaller than the paper's": ("smaller", ":material-arrow-collapse-down:"),
                 "inconclusive": ("open", ":material-scale-unbalanced:"),
                 "not tested": ("none", ":material-help-circle-outline:"),
                 "yes": ("good", ":material-check-circle:"), "no": ("bad", ":material-close-octagon:")}
# Claims about what the regulariser or training does to the representation, not about accuracy:
# how a summary written before claims carried their "kind" is read.
_MECHANISM = re.compile(r"effective rank|matrix|mutual information|joint entropy|JS divergence|entropy", re.I)
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
        libs = ", ".join(f"{lib} {', '.join(prov[lib])}" for lib in ("torch", "numpy") if prov.get(lib))
        revs = prov.get("revisions") or []
        code = (f"code at revision {', '.join(r[:12] for r in revs)}" + (" with uncommitted changes" if prov.get("dirty")
                                                                         else "") if revs else
                "no code revision recorded: these stages ran before revisions were")
        when = f"from {prov['started']} to {prov['finished']}" if prov.get("started") else f"the last finished {prov['finished']}"
        ran = [f"- **Ran on**: {'; '.join(prov['machines'])} ({libs}; {code}), by "
               + ", ".join(f"`{c}`" for c in prov["commands"])
               + f"; {prov['recorded']} of {prov['stages']} stages recorded, {prov['seconds'] / 60:,.1f} min of "
               f"wall-clock time in all, {when}."]
    if prov.get("probe"):   # a summary computed after its stages (`mmae.experiments.powered`)
        p = prov["probe"]
        ran.append(f"- **Probe step**: {p['machine']} (torch {p['torch']}, numpy {p['numpy']}; code at revision "
                   f"{(p.get('revision') or '?')[:12]}{' with uncommitted changes' if p.get('dirty') else ''}), by "
                   f"`{p['command']}`, {p['seconds'] / 60:,.1f} min from {p['started']} to {p['finished']}.")
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
    """The summary's table (measured beside the paper's values, with the baselines) and verdicts
    (a summary written before the site's words, in them); the figure is left to `show`."""
    text = "\n".join(l for l in report["markdown"].splitlines() if not l.startswith("!["))
    for old, new in _OLD_WORDS.items():
        text = text.replace(f"**{old}**", f"**{new}**")
    return text


def outcome(verdict: dict | str | None) -> str:
    """The site's word for the outcome of a claim or a baseline check (a verdict's dict or its word)."""
    word = verdict.get("verdict") if isinstance(verdict, dict) else verdict
    return _OLD_WORDS.get(word, word) if word else "not tested"


def claim_kind(verdict: dict) -> str:
    """"accuracy" or "mechanism": the claim's `kind`, or for a summary without it, "mechanism" where
    the claim is about effective rank or a matrix-information quantity."""
    return verdict.get("kind") or ("mechanism" if _MECHANISM.search(verdict.get("claim", "")) else "accuracy")


def _slug(text: str) -> str:
    text = text.replace(">", " gt ").replace("<", " lt ")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def verdict_id(report: dict, verdict: dict) -> str:
    """The HTML id of a claim's verdict line on its target's page (`verdict_lines`): target, scale,
    pretraining length of an `--epochs` run and claim, so that every run a page shows has its own."""
    epochs = (report.get("setup") or {}).get("epochs")
    return _slug(f"{report['target']} {report.get('scale', '')} {f'ep{epochs}' if epochs else ''} "
                 f"{verdict.get('claim', '')}")


def _num(x, fmt: str = "+.2f") -> str:
    return "–" if not isinstance(x, (int, float)) or not math.isfinite(x) else format(x, fmt).replace("-", "−")


def _evidence(v: dict) -> str:
    """A claim's numbers in a few words: the paired difference with its 95% interval (or the mean
    rank correlation of a trend), the paper's effect beside it, the test and its p-values."""
    unit = f" {v['unit']}" if v.get("unit") and v.get("test") != "trend" else ""
    lo, hi = (v.get("ci95") or [None, None])[:2]
    what = "mean Spearman ρ with the epoch" if v.get("test") == "trend" else "difference"
    parts = [f"{what} {_num(v.get('difference'))}{unit} (95% CI {_num(lo)} to {_num(hi)})"]
    if isinstance(v.get("paper_effect"), (int, float)):
        parts.append(f"paper {_num(v['paper_effect'])}{unit}")
    if isinstance(v.get("peak_drop"), (int, float)):
        parts.append(f"peak to final {_num(-100 * v['peak_drop'], '+.0f')}%")
    stat = []
    if isinstance(v.get("statistic"), (int, float)):
        stat.append(f"t({v['df'] if v.get('df') is not None else v.get('n', 1) - 1}) = {_num(v['statistic'], '.2f')}")
    for key, label in (("p_holm", "Holm p"), ("p_permutation", "permutation p"), ("p_value", "one-sided p")):
        if isinstance(v.get(key), (int, float)):
            stat.append(f"{label} = {v[key]:.3g}")
    if v.get("n") is not None:
        stat.append(f"n = {v['n']}")
    return ", ".join(parts) + (f"; {', '.join(stat)}" if stat else "")


def badge_html(word: str) -> str:
    """An outcome's badge in HTML, for the notebooks' outputs (the Markdown pages use the icons of
    `OUTCOME_STYLE` through docs/theory.py's `verdict_badge`)."""
    from html import escape
    tone = OUTCOME_STYLE.get(word, ("none", ""))[0]
    return f'<span class="mmae-badge mmae-badge--{tone}">{escape(word)}</span>'


def verdict_lines(report: dict) -> str:
    """The verdict of every claim a summary tests, one line each with its id (`verdict_id`, which the
    claims table links to): the outcome's badge, the claim, its numbers and the paper's own words."""
    from html import escape
    items = []
    for v in report.get("verdicts") or []:
        quote = (f' <span class="mmae-paper-wording">The paper: “{escape(v["paper_wording"])}”</span>'
                 if v.get("paper_wording") else "")
        items.append(f'<li id="{verdict_id(report, v)}">{badge_html(outcome(v))} {escape(v.get("claim", ""))}: '
                     f'{escape(_evidence(v))}.{quote}</li>')
    return f'<ul class="mmae-verdicts">{"".join(items)}</ul>' if items else ""


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
    return f"Of the {len(vs)} claims tested here at the `{report['scale']}` scale: {count_outcomes(vs)}."


def count_outcomes(verdicts: list, every: bool = False, sep: str = ", ") -> str:
    """How many verdicts (dicts or words) have each outcome, in the order of `OUTCOMES`; `every`:
    name the outcomes no verdict has too."""
    words = [outcome(v) for v in verdicts]
    order = list(OUTCOMES) + [w for w in dict.fromkeys(words) if w not in OUTCOMES]
    return sep.join(f"{words.count(w)} {w}" for w in order if every or w in words)


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


# What each kind of test compares, in words (a summary's verdicts name their test).
_TEST_TEXT = {"ordering": "the final values compared over the seeds",
              "trend": "the rank correlation (Spearman) of each seed's curve with the epoch, averaged over the "
                       "seeds, with the fall from the curve's peak to its final value beside it"}
_FORMAT = re.compile(r"[+ ]?\.\d+[fg%]|[+ ]?d")
_PLACEHOLDER = re.compile(r"\{\{\s*(.+?)\s*\}\}")


def _run(token: str, key: str | None, root) -> dict:
    """The summary a placeholder reads: `[target@]scale[-epN]`, e.g. `small`, `mini-ep300`, `table1@small`."""
    target, _, where = token.rpartition("@")
    target = target or key
    m = re.fullmatch(r"([a-z]+)(?:-ep(\d+))?", where)
    if not target or not m:
        raise ValueError(f"placeholder run {token!r}: expected [target@]scale[-epN]"
                         + ("" if target else " with a target"))
    epochs = int(m.group(2)) if m.group(2) else None
    report = load(target, m.group(1), root, epochs)
    if report is None:
        raise ValueError(f"placeholder run {token!r}: no summary (`{_command(target, m.group(1), epochs)}` writes it)")
    return report


def _path(node, parts: list[str], spec: str) -> list:
    """The values at a `/`-separated path: a key, an index of a list (`0`, `-1`), `*` every key or
    item, `[text]` every item of a list whose claim contains `text` (any case), `min` or `max` the
    extreme of a list of numbers."""
    if not parts:
        return [node]
    head, rest = parts[0], parts[1:]
    if head == "*":
        items = list(node.values()) if isinstance(node, dict) else list(node)
    elif head.startswith("[") and head.endswith("]") and isinstance(node, list):
        items = [x for x in node if head[1:-1].lower() in x.get("claim", "").lower()]
    elif isinstance(node, dict) and head in node:
        items = [node[head]]
    elif isinstance(node, list) and re.fullmatch(r"-?\d+", head) and -len(node) <= int(head) < len(node):
        items = [node[int(head)]]
    elif isinstance(node, list) and head in ("min", "max") and node:
        items = [(min if head == "min" else max)(node)]
    else:
        raise ValueError(f"placeholder {spec!r}: no {head!r} in the summary")
    out = [v for x in items for v in _path(x, rest, spec)]
    if not out:
        raise ValueError(f"placeholder {spec!r}: nothing matches {head!r}")
    return out


def value(spec: str, key: str | None = None, root: str | Path | None = None) -> str:
    """One number (or word) of a committed result, as a sentence shows it. `spec` is
    `RUN WHAT`, RUN being `[target@]scale[-epN]` (`key`: the target when RUN names none) and WHAT one of

    - a `/`-separated path into the summary, then optionally a format: `measured/linprobe_top1/mae/mini-b/mean .1f`;
      `*` takes every key, `[text]` every verdict or check whose claim contains `text`; several values
      show as their range, `72.9–73.2`;
    - `verdict CLAIM`: the site's word for the claim's outcome; `claim CLAIM`: its numbers (`verdict_lines`);
    - `outcomes [TEXT]`: how many of the claims (whose words contain TEXT) have each outcome, `1 contradicted,
      7 inconclusive`; `checks TEXT`: how many of the baseline checks whose claim contains TEXT are
      significant, `2 of 6`;
    - `seeds`: their number; `minutes`: the stages' recorded wall-clock time, summed; `tests`: what the
      verdicts' tests compare, in words.

    A placeholder that finds nothing is a ValueError naming it, so a page cannot show a stale number."""
    token, _, what = spec.strip().partition(" ")
    report = _run(token, key, root)
    what = what.strip()
    word, _, arg = what.partition(" ")
    if word in ("verdict", "claim"):
        hit = [v for v in report.get("verdicts") or [] if v.get("claim") == arg]
        if not hit:
            raise ValueError(f"placeholder {spec!r}: no claim {arg!r} in {token}")
        return outcome(hit[0]) if word == "verdict" else _evidence(hit[0])
    if word == "checks":
        hit = [c for c in report.get("baseline_checks") or [] if arg in c.get("claim", "")]
        if not hit:
            raise ValueError(f"placeholder {spec!r}: no baseline check {arg!r} in {token}")
        return f"{sum(outcome(c) == 'yes' for c in hit)} of {len(hit)}"
    if word == "outcomes":
        hit = [v for v in report.get("verdicts") or [] if arg.lower() in v.get("claim", "").lower()]
        if not hit:
            raise ValueError(f"placeholder {spec!r}: no claim {arg!r} in {token}")
        return count_outcomes(hit)
    if word == "seeds":
        return str(len(report["setup"]["seeds"]))
    if word == "tests":
        return "; ".join(dict.fromkeys(_TEST_TEXT.get(v.get("test"), v.get("test", "")) + (
            f", by a {v['method']}" if v.get("method") else "") for v in report.get("verdicts") or []))
    if word == "minutes":
        return f"{(report.get('provenance') or {})['seconds'] / 60:,.0f}"
    fmt = ""
    if " " in what and _FORMAT.fullmatch(what.rsplit(" ", 1)[1]):
        what, fmt = what.rsplit(" ", 1)
    values = [x for v in _path(report, re.split(r"/(?![^\[]*\])", what), spec)
              for x in (v if isinstance(v, list) else [v])]
    if not all(isinstance(x, (int, float)) for x in values):
        return ", ".join(dict.fromkeys(outcome(x) if "verdict" in what.rsplit("/", 1)[-1] else str(x)
                                       for x in values))
    fmt = fmt or (",d" if all(isinstance(x, int) for x in values) else ".1f")
    shown = sorted(set(values))
    lo, hi = _num(shown[0], fmt), _num(shown[-1], fmt)
    return lo if lo == hi else (f"{lo}–{hi}" if re.fullmatch(r"[\d.,%]+", lo + hi) else f"{lo} to {hi}")


def fill(text: str, key: str | None = None, root: str | Path | None = None) -> str:
    """`text` with every `{{ spec }}` replaced by `value(spec)`."""
    return _PLACEHOLDER.sub(lambda m: value(m.group(1), key, root), text)


def say(text: str, key: str | None = None, root: str | Path | None = None, expect: dict | None = None) -> None:
    """Display a notebook's paragraph of Markdown whose numbers are placeholders (`fill`). `expect`:
    what the paragraph's words take for granted, `{spec: value}`; where the results now give
    another value the page fails to build (a ValueError naming both) rather than say what they do
    not support."""
    from IPython.display import Markdown, display
    for spec, want in (expect or {}).items():
        got = value(spec, key, root)
        if got != want:
            raise ValueError(f"the page's words take {spec!r} to be {want!r}, but the results give {got!r}: "
                             "rewrite them")
    display(Markdown(fill(text, key, root)))


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
        vs = r.get("verdicts") or []
        kinds = {k: [v for v in vs if claim_kind(v) == k] for k in ("accuracy", "mechanism")}
        seeds = len((r.get("setup") or {}).get("seeds") or [])
        label = f"{scale}" + (f", {pretrain_epochs(r)} epochs" if pretrain_epochs(r) else "")
        said = "; ".join(f"{k} claims {count_outcomes(ks)}" for k, ks in kinds.items() if ks)
        showed.append(f"{label} ({seeds} seeds): " + (said or "no claim tested"))
    lines = [f"<b>Tested</b>: {TESTED.get(key, key)}" + (f", {max(n)} claims per run" if n and max(n) else "") + ".",
             f"<b>Scale</b>: {where}; nothing at the paper's scale.",
             f"<b>Showed</b>: {'; '.join(showed) or 'nothing yet'}."]
    lines += [f"<b>In numbers</b>: {_html(r['summary']).removeprefix('<p>').removesuffix('</p>')}"
              for _, _, r in found if r.get("summary")]   # a summary that states its result in a sentence
    display(HTML('<div class="admonition abstract mmae-result"><p class="admonition-title">Result</p>'
                 + "".join(f"<p>{l}</p>" for l in lines) + "</div>"))


def part(report: dict, *titles: str) -> str:
    """The paragraphs of a summary's Markdown under the bold headings that start with one of
    `titles` (each up to the next bold heading), in the site's words."""
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
    """Display the parts of a target's committed summary headed by `titles` (`part`): `"verdicts"`
    is every claim's line with its badge (`verdict_lines`), `"provenance"` the setup and the
    provenance (`setup_md`)."""
    from IPython.display import HTML, Markdown, display
    report = load(key, scale, root, epochs)
    if report is None:
        display(Markdown(_missing(key, scale, root, epochs)))
        return
    for t in titles:
        if t == "verdicts":
            display(HTML(verdict_lines(report)))
        else:
            display(Markdown(setup_md(report) if t == "provenance" else part(report, t)))


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
    if report.get("verdicts"):
        display(HTML(verdict_lines(report)))
    summary = " ".join(x for x in (verdict_summary(report), baseline_summary(report)) if x)
    display(HTML(f'<details class="mmae-stats"><summary>Statistics: {summary}</summary>'
                 + _html(stats) + "</details>"))
    display(HTML('<details class="mmae-provenance"><summary>Provenance: setup, command, machine</summary>'
                 + _html(setup_md(report)) + "</details>"))
