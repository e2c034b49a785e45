"""Build hooks of the documentation site (``hooks:`` in mkdocs.yml).

What they add to a plain MkDocs build, so that ``mkdocs build`` alone produces the whole site:

* the proofs report: the file named by ``MMAE_PROOFS_REPORT`` if set, else
  ``build/proofs/report.json``, produced by running ``pytest proofs`` when it is missing or
  older than ``proofs/`` or ``mmae/``;
* the Theory pages (one per ``proofs/test_*.py``, plus one per appendix twin), the Verification
  and Errata pages, the API reference (one page per module of ``mmae``) and the navigation of
  all of these and of the experiment notebooks, in the paper's order;
* KaTeX, installed from the npm registry at a pinned version into ``build/docs-assets`` (an
  ignored folder) and copied into the site, so that math renders offline;
* a few ``<!-- mmae:... -->`` directives in hand-written pages, expanded from the repository at
  build time (README commands, the source of a function and links to its lines, verdicts and
  their badges, the home page's findings, the claims table, benchmark figures, a number of a
  committed result: ``<!-- mmae:value table1@small minutes -->``, see `mmae.pages.value`);
* cross-links: each API entry that a check computes with links to its statements.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "build" / "docs-assets"
KATEX_VERSION = "0.16.47"
KATEX_FILES = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js")
DEFAULT_REPORT = ROOT / "build" / "proofs" / "report.json"
# The paper's headline claims, shown on the home page with the verdict of their check.
HEADLINE = (
    ("Theorem 4.3", "spectral contrastive and Barlow Twins losses bound the matrix mutual information (α = 2)"),
    ("Theorem 4.4", "both losses maximise the matrix mutual information at zero loss, for every α > 0"),
    ("Theorem 4.13", "both losses bound the matrix joint entropy (α = 2)"),
    ("Theorem 4.14", "both losses maximise the matrix joint entropy at zero loss, for every α > 0"),
    ("Theorem 4.17", "the Barlow Twins loss lower-bounds the joint total coding rate"),
    ("Theorem 5.2", "U-MAE is a second-order approximation of M-MAE"),
)

log = logging.getLogger("mkdocs.hooks.mmae")


def _load_theory():
    spec = importlib.util.spec_from_file_location("mmae_docs_theory", Path(__file__).with_name("theory.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


T = _load_theory()
_S: dict = {}  # state of the current build, filled by on_config


# ----------------------------------------------------------------------------- KaTeX

def katex_dir() -> Path:
    """KaTeX's dist folder, installed from the npm registry on first use."""
    dist = ASSETS / "node_modules" / "katex" / "dist"
    pkg = ASSETS / "node_modules" / "katex" / "package.json"
    ok = dist.is_dir() and pkg.is_file() and json.loads(pkg.read_text()).get("version") == KATEX_VERSION
    if ok and all((dist / f).is_file() for f in KATEX_FILES):
        return dist
    npm = shutil.which("npm")
    if npm is None:
        raise PluginError("math rendering needs KaTeX from the npm registry, but npm is not installed "
                          "(Debian: apt-get install -y npm)")
    ASSETS.mkdir(parents=True, exist_ok=True)
    log.info("installing katex@%s into %s", KATEX_VERSION, ASSETS.relative_to(ROOT))
    cmd = [npm, "install", "--prefix", str(ASSETS), "--no-save", "--no-package-lock", "--no-audit",
           "--no-fund", "--loglevel=error", f"katex@{KATEX_VERSION}"]
    res = subprocess.run(cmd, cwd=ASSETS, capture_output=True, text=True)
    if res.returncode != 0 or not all((dist / f).is_file() for f in KATEX_FILES):
        raise PluginError(f"npm install katex@{KATEX_VERSION} failed:\n{res.stdout}\n{res.stderr}")
    return dist


# ----------------------------------------------------------------------------- proofs report

def _newest(*dirs: Path) -> float:
    times = [p.stat().st_mtime for d in dirs if d.is_dir() for p in d.rglob("*.py")]
    return max(times, default=0.0)


def load_report(statements=()) -> tuple[dict | None, str]:
    """The proofs report and a phrase saying where it came from.

    Without MMAE_PROOFS_REPORT the default report is rerun when it is missing, older than
    ``proofs/`` or ``mmae/``, or partial (a targeted ``pytest proofs/test_x.py`` writes a report
    of that one file): it must cover every statement in ``proofs/``."""
    env = os.environ.get("MMAE_PROOFS_REPORT")
    if env:
        path = Path(env)
        if not path.is_file():
            raise PluginError(f"MMAE_PROOFS_REPORT={env} does not exist")
        return _read_report(path), "the report named by MMAE_PROOFS_REPORT"
    path = DEFAULT_REPORT
    if not path.is_file() or path.stat().st_mtime < _newest(ROOT / "proofs", ROOT / "mmae") \
            or not _covers(_read_report(path), statements):
        run_proofs(path)
    return _read_report(path), "run by the site build" if _S.get("ran_proofs") else "the last run"


def _covers(report: dict, statements) -> bool:
    have = {e.get("statement") for e in report.get("statements", [])}
    return all(st.name in have for st in statements if not st.problems)


def _read_report(path: Path) -> dict:
    try:
        report = json.loads(path.read_text())
        report["statements"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PluginError(f"cannot read the proofs report {path}: {e}") from e
    return report


def run_proofs(path: Path) -> None:
    env = dict(os.environ)
    env.setdefault("HYPOTHESIS_PROFILE", "ci")
    cmd = [sys.executable, "-m", "pytest", "proofs", "-q", "-p", "no:cacheprovider",
           "--proofs-report", str(path)]
    log.info("running `pytest proofs` (HYPOTHESIS_PROFILE=%s) for the Verification page", env["HYPOTHESIS_PROFILE"])
    before = path.stat().st_mtime if path.is_file() else None
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if not path.is_file() or path.stat().st_mtime == before:
        tail = "\n".join((res.stdout + res.stderr).splitlines()[-30:])
        raise PluginError(f"`pytest proofs` wrote no report (exit {res.returncode}):\n{tail}")
    _S["ran_proofs"] = True
    last = (res.stdout.strip().splitlines() or [""])[-1]
    log.info("pytest proofs: %s", last)


# ----------------------------------------------------------------------------- config and nav

def _api_modules() -> list[str]:
    mods = []
    for p in sorted((ROOT / "mmae").rglob("*.py")):
        rel = p.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        elif parts[-1].startswith("_"):
            continue
        mods.append(".".join(parts))
    return mods


def _public_names(module: str) -> set[str]:
    """Top-level public functions and classes of a module of mmae, read with ast."""
    path = ROOT / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")}


def _notebook_title(path: Path) -> str:
    try:
        nb = json.loads(path.read_text())
        for cell in nb.get("cells", []):
            if cell.get("cell_type") == "markdown":
                for line in "".join(cell.get("source", "")).splitlines():
                    if line.startswith("# "):
                        return line[2:].strip()
    except (OSError, ValueError):
        pass
    return path.stem.replace("-", " ").capitalize()


def _notebook_key(path: Path):
    m = re.match(r"(table|figure)-?(\d+)", path.stem)
    return (0, m.group(1) != "table", int(m.group(2)), path.stem) if m else (1, False, 0, path.stem)


def _notebooks(docs_dir: Path) -> list[Path]:
    return sorted((docs_dir / "experiments").glob("*.ipynb"), key=_notebook_key)


def _pending(statements) -> list[str]:
    """Numbered statements of the paper with no file in proofs/ (and not an appendix twin)."""
    have = {T.canonical_name(n) for st in statements for n in (st.name, *st.twins)}
    return [n for n in T.PAPER_STATEMENTS
            if T.statement_section(n) is not None and T.canonical_name(n) not in have
            and not n.startswith(("Remark", "Convention"))]


def _theory_nav(statements) -> list:
    groups: dict = {}
    for st in statements:
        sec = T.statement_section(st.name)
        groups.setdefault(sec, []).append((st.name, st.url))
    for name in _pending(statements):
        groups.setdefault(T.statement_section(name), []).append((name, f"theory/{T.name_slug(name)}.md"))
        for twin in st.twins:
            groups.setdefault(T.statement_section(twin), []).append((twin, f"theory/{T.name_slug(twin)}.md"))
    order = sorted(groups, key=lambda s: (s is None, not (s or "").isdigit(), s or ""))
    nav: list = ["theory/index.md"]
    for sec in order:
        items = sorted(groups[sec], key=lambda x: T.statement_key(x[0]))
        nav.append({T.SECTION_TITLES.get(sec, f"Section {sec}"): [{T.display_name(n): u} for n, u in items]})
    return nav


def _fill_nav(nav: list, fills: dict) -> list:
    out = []
    for item in nav:
        if isinstance(item, dict) and len(item) == 1:
            (title, value), = item.items()
            if title in fills:
                out.append({title: fills[title]})
            elif isinstance(value, list):
                out.append({title: _fill_nav(value, fills)})
            else:
                out.append(item)
        else:
            out.append(item)
    return out


def on_config(config):
    _S.clear()
    # Notebook kernels and `pytest proofs` import mmae and proofs from this checkout.
    paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    snippets = config["mdx_configs"].setdefault("pymdownx.snippets", {})
    snippets["base_path"] = [str(ROOT)]
    snippets["check_paths"] = True

    _S["katex"] = katex_dir()
    statements = T.scan_proofs(ROOT)
    _S["report"], _S["report_label"] = load_report(statements)
    for st in statements:
        for p in st.problems:
            log.warning(p)
    seen: dict = {}
    for st in statements:
        if st.name in seen:
            log.warning(f"{st.rel} and {seen[st.name].rel} both declare STATEMENT = {st.name!r}")
        seen[st.name] = st
    _S["statements"] = statements
    _S["by_name"] = seen
    _S["twins"] = {t: st for st in statements for t in st.twins}
    _S["api"] = _api_modules()
    _S["public"] = {m: _public_names(m) for m in _S["api"]}
    _S["code"] = {st.name: T.code_names(st.path, _S["public"]) for st in statements}
    _S["checked_by"] = {}  # dotted mmae name -> statements whose check computes with it
    for st in statements:
        for name in _S["code"][st.name]:
            _S["checked_by"].setdefault(name, []).append(st)
    docs_dir = Path(config["docs_dir"])
    _S["notebooks"] = _notebooks(docs_dir)

    fills = {
        "Theory": _theory_nav(statements),
        "API reference": ["api/index.md"] + [{m: f"api/{m}.md"} for m in _S["api"]],
        "Experiments": ["experiments/index.md"] + [
            {_notebook_title(p): p.relative_to(docs_dir).as_posix()} for p in _S["notebooks"]],
    }
    config["nav"] = _fill_nav(config["nav"] or [], fills)
    return config


# ----------------------------------------------------------------------------- generated pages

def link(name: str) -> str | None:
    """Docs-root path of the page of a statement (an appendix twin goes to its main-text page)."""
    st = _S["by_name"].get(name) or _S["twins"].get(name)
    return st.url if st else None


def _generated_pages() -> dict[str, str]:
    report = _S["report"]
    pages = {}
    for st in _S["statements"]:
        entry = T.report_entry(report, st.name)
        figure = ROOT / "docs" / "figures" / f"{st.slug}.html"
        pages[st.url] = T.statement_page(st, entry, link, code=_S["code"][st.name],
                                         figure=figure.read_text() if figure.is_file() else None)
        for twin in st.twins:
            pages[f"theory/{T.name_slug(twin)}.md"] = T.twin_page(twin, st, entry)
    for name in _pending(_S["statements"]):
        pages[f"theory/{T.name_slug(name)}.md"] = T.pending_page(name)
    rel_link = lambda n: link(n) and T._relative(link(n), "theory")
    pages["theory/index.md"] = T.theory_index(_S["statements"], report, rel_link)
    pages["verification.md"] = T.verification_page(_S["statements"], report, _S["report_label"], link)
    errata = ROOT / "proofs" / "ERRATA.md"
    pages["errata.md"] = T.errata_page(errata.read_text() if errata.is_file() else None, link)
    pages["api/index.md"] = "# API reference\n\n" + "\n".join(
        f"- [`{m}`]({m}.md)" for m in _S["api"]) + "\n"
    for m in _S["api"]:
        pages[f"api/{m}.md"] = f"---\ntitle: {m}\n---\n\n::: {m}\n"
    return pages


def on_files(files: Files, config) -> Files:
    for uri, content in _generated_pages().items():
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, content=content))
    dist = _S["katex"]
    assets = list(KATEX_FILES) + [p.relative_to(dist).as_posix() for p in sorted((dist / "fonts").glob("*.woff2"))]
    for rel in assets:
        files.append(File.generated(config, f"assets/katex/{rel}", abs_src_path=str(dist / rel)))
    return files


# ----------------------------------------------------------------------------- directives

_DIRECTIVE = re.compile(r"<!--\s*mmae:(?P<name>[a-z-]+)(?P<arg>[^>]*?)\s*-->")


def _readme_command(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(rf"<!-- command:{re.escape(name)} -->\s*\n(```[a-z]*\n.*?\n```)", text, re.S)
    if not m:
        raise PluginError(f"README.md has no fenced command after <!-- command:{name} -->")
    return m.group(1)


def _source(dotted: str) -> str:
    """A snippet include of the lines of one top-level function, class or assignment of a module
    (with the comment lines right above an assignment)."""
    mod, _, obj = dotted.rpartition(".")
    path = ROOT / Path(*mod.split(".")).with_suffix(".py")
    if not path.is_file():
        raise PluginError(f"mmae:source {dotted}: no file {path.relative_to(ROOT)}")
    tree = ast.parse(path.read_text())
    for node in tree.body:
        names = [t.id for t in getattr(node, "targets", ()) if isinstance(t, ast.Name)]
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == obj or obj in names:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])
            lines = path.read_text().splitlines()
            while names and start > 1 and lines[start - 2].lstrip().startswith("#"):
                start -= 1
            rel = path.relative_to(ROOT).as_posix()
            return (f'```` {{ .python title="{rel}" linenums="{start}" }}\n'
                    f'--8<-- "{rel}:{start}:{node.end_lineno}"\n````')
    raise PluginError(f"mmae:source {dotted}: {obj} is not defined at the top of {path.relative_to(ROOT)}")


def _line(arg: str) -> str:
    """``mmae:line dotted.name text``: a link to the first line of that function's source that
    contains ``text``, in the code block of the same page that shows it (resolved in
    on_page_content, where the block's line anchors exist)."""
    dotted, _, needle = arg.partition(" ")
    mod, _, obj = dotted.rpartition(".")
    path = ROOT / Path(*mod.split(".")).with_suffix(".py")
    lines = path.read_text().splitlines()
    for node in ast.parse("\n".join(lines)).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == obj:
            for no in range(node.lineno, node.end_lineno + 1):
                if needle.strip() in lines[no - 1]:
                    rel = path.relative_to(ROOT).as_posix()
                    # raw HTML: MkDocs would report the placeholder anchor as missing
                    return f'<a href="#mmae-line:{rel}:{no}">line {no}</a>'
            raise PluginError(f"mmae:line {arg}: no line of {dotted} contains {needle.strip()!r}")
    raise PluginError(f"mmae:line {arg}: {obj} is not defined at the top of {path.relative_to(ROOT)}")


_CODE_BLOCK = re.compile(r'<span class="filename">(?P<file>[^<]+)</span>(?P<body>.*?)</code></pre>', re.S)


def _resolve_lines(html: str) -> str:
    """Point each ``#mmae-line:file:N`` link at line N of the page's code block titled ``file``."""
    anchors = {}
    for m in _CODE_BLOCK.finditer(html):
        for a in re.finditer(r'id="(__codelineno-\d+-(\d+))"', m.group("body")):
            anchors.setdefault((m.group("file").strip(), a.group(2)), a.group(1))

    def repl(m):
        key = (m.group(1), m.group(2))
        if key not in anchors:
            raise PluginError(f"a link to line {key[1]} of {key[0]} but no code block on the page shows it")
        return f'href="#{anchors[key]}"'
    return re.sub(r'href="#mmae-line:([^:"]+):(\d+)"', repl, html)


def _headline(page_url: str) -> str:
    report = _S["report"]
    up = "../" * page_url.count("/")
    rows = ["| claim of the paper | statement | verdict |", "| --- | --- | --- |"]
    for name, claim in HEADLINE:
        url = link(name)
        e = T.report_entry(report, name)
        label = f"[{name}]({up}{url})" if url else name
        verdict = T.verdict_of(e) if (e or url) else "not checked yet"
        rows.append(f"| {claim} | {label} | {T.verdict_badge(verdict)} |")
    counts: dict = {}
    for e in (report or {}).get("statements", []):
        counts[T.verdict_of(e)] = counts.get(T.verdict_of(e), 0) + 1
    summary = ", ".join(f"**{n}** {v}" for v, n in sorted(counts.items()))
    return "\n".join(rows) + (f"\n\nOver all {sum(counts.values())} checked statements: {summary} "
                              f"([Verification]({up}verification.md), [Errata]({up}errata.md)).")


# The paper and the authors' code, linked from the home page.
PAPER_URL = "https://arxiv.org/abs/2309.17281"
CODE_URLS = (("M-MAE, the paper's code", "https://github.com/yifanzhang-pro/M-MAE"),
             ("U-MAE, on which it builds", "https://github.com/zhangq327/U-MAE"))
# The strongest errata the home page names: (statement, the verdict its check must still give,
# what it is). A check whose verdict changes fails the build here rather than leave the
# sentence stale.
ERRATA_FINDINGS = (
    ("Proposition 4.7", "false as printed",
     "part (iv), $\\mathrm H_\\alpha(\\mathbf K_1, \\mathbf K_2) \\le \\mathrm H_\\alpha(\\mathbf K_1) + "
     "\\mathrm H_\\alpha(\\mathbf K_2)$, is false for every $\\alpha \\ne 1$, with exact counterexamples"),
    ("Theorem 5.2", "holds under a condition",
     "the series that makes U-MAE a second-order approximation of M-MAE diverges at the published "
     "setting ($\\mu = 1$, batch larger than the feature dimension): U-MAE matches M-MAE as a Taylor "
     "expansion with a bounded remainder, not as a convergent series"),
)


def claim_rows(root: Path = ROOT) -> list[dict]:
    """The paper's experimental claims with their verdicts, one row per distinct piece of evidence.

    Every target of ``mmae/paper_results.json`` is "not tested" unless a results file judges its
    claims: ``results/<scale>/<target>[-epN]/<target>.json`` carries ``"verdicts"`` (`mmae.experiments`).
    A row is a claim at one scale and one pretraining length on one set of runs. Two targets judge
    the same evidence when their verdicts hold the same per-seed values (Table 3 reads Table 1's
    `mini-b` runs at the mini and small scales); a summary without per-seed values is matched by
    the model and the claim with the model's name taken out of it. Such a row names both targets,
    links to each one's verdict line, and where Holm's correction (within each target's family) or
    the paper's effect size (each table's own) gives the two different outcomes, shows both and
    counts as the less decided one. The same claim pretrained for 15 and for 300 epochs is two rows."""
    from mmae.pages import claim_kind, outcome, pretrain_epochs, setting_text, verdict_id  # no torch at build time
    rows: dict[tuple, dict] = {}
    paper = root / "mmae" / "paper_results.json"
    untested = {}
    for key, value in (json.loads(paper.read_text()) if paper.is_file() else {}).items():
        if isinstance(value, dict) and "caption" in value:
            untested[key] = {"targets": [_target_name(key)], "links": [(_target_name(key), None)],
                             "what": value["caption"], "verdict": "not tested", "verdicts": {}, "scale": "",
                             "epochs": None, "setting": "", "group": "not tested", "dirs": [key]}
    for path in sorted((root / "results").glob("*/*/*.json")):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        verdicts = report.get("verdicts") if isinstance(report, dict) else None
        if not isinstance(verdicts, list) or not report.get("target"):
            continue
        untested.pop(report["target"], None)
        setup = report.get("setup") or {}
        models = list(setup.get("models") or {})
        epochs = pretrain_epochs(report)
        name = _target_name(report["target"])
        for v in verdicts:
            claim = v.get("claim", "")
            m = re.search(r",\s*(" + "|".join(map(re.escape, models)) + r")\b", claim) if models else None
            model = m.group(1) if m else (models[0] if len(models) == 1 else "")
            what = claim[:m.start()] + claim[m.end():] if m else claim
            scale = v.get("scale") or report.get("scale", "")
            per_seed = v.get("per_seed")
            evidence = (v.get("test"), json.dumps(per_seed, sort_keys=True)) if per_seed else (model, what)
            row = rows.setdefault((scale, epochs, evidence), {
                "targets": [], "links": [], "dirs": [], "what": what, "detail": _claim_numbers(v),
                "verdicts": {}, "setting": setting_text(report, model), "scale": scale, "epochs": epochs,
                "group": claim_kind(v)})
            if name not in row["targets"]:
                row["targets"].append(name)
                row["links"].append((name, verdict_id(report, v)))
                row["dirs"].append(path.parent.name)
                row["verdicts"][name] = outcome(v)
    for row in rows.values():
        row["verdict"] = min(row["verdicts"].values(), key=lambda w: _DECIDED.get(w, 0))
    out = list(rows.values()) + list(untested.values())
    return sorted(out, key=lambda c: (_notebook_key(Path(T.name_slug(c["targets"][0]))), c.get("scale", ""),
                                      c.get("epochs") or 0, c["what"]))


# How much an outcome decides, for a row whose targets judge one piece of evidence differently.
_DECIDED = {"inconclusive": 0, "effect smaller than the paper's": 1, "reproduced": 2, "contradicted": 2}


def _claim_numbers(v: dict) -> str:
    """A row's statistics in a few words (a summary written before Holm's correction gives its
    one-sided test's)."""
    if isinstance(v.get("statistic"), (int, float)):
        p = next(((label, v[k]) for k, label in (("p_holm", "Holm p"), ("p_value", "p"))
                  if isinstance(v.get(k), (int, float))), None)
        return (f"{v.get('test', 'test')}: t = {v['statistic']:.2f}" + (f", {p[0]} = {p[1]:.3g}" if p else "")
                + (f", n = {v['n']}" if v.get("n") is not None else ""))
    return f"n = {v['n']}" if v.get("n") is not None else ""


def _target_name(key: str) -> str:
    """A summary's target as a page names it ("Table 1"; `powered`, Table 1's powered comparison:
    "Table 1 (powered)", whose page is `experiments/table-1-powered.ipynb`)."""
    if key == "powered":
        return "Table 1 (powered)"
    return re.sub(r"^(table|figure)(\d+)$", lambda m: f"{m[1].title()} {m[2]}", key)


CLAIM_GROUPS = (("accuracy", "Accuracy claims", "the paper's orderings of the methods by linear probing, "
                 "fine-tuning or kNN accuracy"),
                ("mechanism", "Mechanism claims", "what the regulariser or the training does to the "
                 "representation: effective rank, matrix mutual information, joint entropy, divergence"),
                ("not tested", "Not tested", "claims no results file judges yet"))


def claims_table(page_url: str, root: Path = ROOT) -> str:
    """The experiments' claims, grouped (accuracy, mechanism, not tested), one row per piece of
    evidence linking to its verdict line on each page that shows it, with one line of counts per
    group."""
    from mmae.pages import count_outcomes
    up = "../" * page_url.count("/")
    rows = claim_rows(root)
    parts = []
    for group, title, what in CLAIM_GROUPS:
        rs = [r for r in rows if r["group"] == group]
        if not rs:
            continue
        table = ["| claim | shown on | setting | verdict |", "| --- | --- | --- | --- |"]
        for r in rs:
            links = ", ".join(f"[{t}]({up}experiments/{T.name_slug(t)}.ipynb{'#' + a if a else ''})"
                              for t, a in r["links"])
            detail = f" — {T._md_text(str(r['detail']))}" if r.get("detail") else ""
            verdict = T.verdict_badge(r["verdict"])
            if len(set(r["verdicts"].values())) > 1:
                verdict += " (" + "; ".join(f"{t}: {w}" for t, w in r["verdicts"].items()) + ")"
            table.append(f"| {T._md_text(r['what'])}{detail} | {links} | {T._md_text(r['setting']) or '–'} | "
                         f"{verdict} |")
        count = (f"{len(rs)} target{'s' * (len(rs) != 1)}" if group == "not tested"
                 else f"{len(rs)} pieces of evidence: "
                 f"{count_outcomes([r['verdict'] for r in rs], every=True, sep=' · ')}")
        parts.append(f"**{title}** ({what}): {count}.\n\n" + "\n".join(table))
    return "\n\n".join(parts)


def _theory_counts() -> dict[str, list[str]]:
    by: dict[str, list] = {}
    for e in (_S["report"] or {}).get("statements", []):
        by.setdefault(T.verdict_of(e), []).append(e["statement"])
    return by


def _findings(page_url: str, root: Path = ROOT) -> str:
    """The home page's "What we found" box: at most six bullets, each computed from the proofs
    report or the results files, each linking to its evidence."""
    up = "../" * page_url.count("/")
    by = _theory_counts()
    n = sum(map(len, by.values()))
    count = lambda v: len(by.get(v, []))
    others = [f"{len(ns)} {v}" for v, ns in by.items() if v not in ("holds", "holds under a condition", "false as printed")]
    bullets = [f"**Theory.** Of the {n} statements checked here, {count('holds')} hold as printed, "
               f"{count('holds under a condition')} hold only under a condition the paper leaves out, "
               f"{count('false as printed')} {'is' if count('false as printed') == 1 else 'are'} false as printed"
               + (f", {', '.join(others)}" if others else "") + f" ([Verification]({up}verification.md))."]
    for name, expected, what in ERRATA_FINDINGS:
        got = T.verdict_of(T.report_entry(_S["report"], name))
        if got != expected:
            raise PluginError(f"the home page says {name} is {expected!r}, but its check now gives {got!r}: "
                              "update ERRATA_FINDINGS in docs/hooks.py")
        bullets.append(f"**[{T.display_name(name)}]({up}{link(name)})** ({got}): {what}.")
    bullets.append(f"**The authors' code** divides the regulariser's gradient by the number of GPUs, so the "
                   f"published runs used one eighth of the paper's $\\lambda$ "
                   f"([Paper, code and this reproduction]({up}paper-code.md#2-the-published-gather-divides-"
                   "the-regularisers-gradient-by-the-number-of-gpus)).")
    rows = [r for r in claim_rows(root) if r["group"] != "not tested"]
    scales = sorted({r["scale"] for r in rows})
    for group, title, _ in CLAIM_GROUPS[:2]:
        rs = [r for r in rows if r["group"] == group]
        if not rs:
            continue
        n = lambda w: sum(r["verdict"] == w for r in rs)  # noqa: E731
        good = [r for r in rs if r["verdict"] == "reproduced"]
        where = sorted({r["scale"] + ("" if not r.get("epochs") else f" ({r['epochs']} epochs)") for r in good})
        smaller = n("effect smaller than the paper's")
        bullets.append(f"**{title}** ({len(rs)} pieces of evidence at the {' and '.join(scales)} scales): "
                       f"{n('reproduced')} reproduced" + (f" (at {', '.join(where)})" if where else "")
                       + f", {smaller} with an effect smaller than the "
                       f"paper's, {n('inconclusive')} inconclusive, {n('contradicted')} contradicted "
                       f"([claims table]({up}experiments/index.md#the-papers-claims)).")
    if not any("paper" in s for s in scales):
        bullets[-1] += (" Nothing has run on ImageNet or at the paper's scale "
                        f"([Reproducing]({up}reproducing.md)).")
    body = "\n".join(f"- {b}" for b in bullets[:6])
    return '!!! abstract "What we found"\n\n' + "\n".join(("    " + ln) for ln in body.splitlines()) + "\n"


def _sources() -> str:
    return (f"The paper: [arXiv 2309.17281]({PAPER_URL}). The authors' code: "
            + ", ".join(f"[{name}]({url})" for name, url in CODE_URLS) + ".")


def _benchmarks() -> str:
    path = ROOT / "benchmarks" / "README.md"
    if not path.is_file():
        return ("!!! info \"To be measured\"\n\n    No benchmark figures are committed yet "
                "(`benchmarks/README.md`); GPU hours and memory per GPU are to be measured.")
    text = path.read_text()
    text = re.sub(r"\[([^\]]+)\]\((?!https?:)[^)]*\)", r"\1", text)  # relative links do not resolve here
    # Headings inside the collapsed box would be listed in the page's table of contents, which
    # would then point into a closed box: they become bold lines.
    text = re.sub(r"^#+\s*(.+?)\s*#*$", r"**\1**", text, flags=re.M)
    body = "\n".join(("    " + ln) if ln.strip() else "" for ln in text.splitlines())
    return (f'??? info "Recorded figures (`benchmarks/README.md`)"\n\n{body}\n\n'
            "Where these recorded figures do not cover a configuration, its GPU hours and memory per "
            "GPU are still to be measured.")


def _gpu_hours() -> str:
    """The reproducing guide's target x GPU-hours table: the training FLOPs of every stage of a
    target at the paper's scale (`mmae.experiments.stage_flops`, one seed) at a stated throughput,
    an estimate until a benchmark measures it."""
    import tempfile

    from mmae import experiments as E
    rate = E.H200_BF16_PEAK * E.ASSUMED_MFU
    rows = ["| target | stages | training FLOPs | H200 GPU-hours (estimate) | hours on 8 GPUs | runs shared with |",
            "| --- | --- | --- | --- | --- | --- |"]
    seen: dict = {}  # run directory -> the first target that runs it
    distinct = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for key in E.TARGETS:
            target = E.build_target(key, "paper", tmp)
            flops = sum(E.stage_flops(s) for s in target.stages)
            hours = flops / rate / 3600
            shared = sorted({seen[s.run_dir] for s in target.stages if s.run_dir in seen},
                            key=lambda k: E.TARGETS.index(k))
            distinct += sum(E.stage_flops(s) for s in target.stages if s.run_dir not in seen) / rate / 3600
            for s in target.stages:
                seen.setdefault(s.run_dir, key)
            mant, exp = f"{flops:.2e}".split("e")
            rows.append(f"| {_target_name(key)} | {len(target.stages)} | ${mant} \\times 10^{{{int(exp)}}}$ | "
                        f"{hours:,.1f} | {hours / 8:,.1f} | {', '.join(map(_target_name, shared)) or '–'} |")
    return ("**An estimate, not a measurement.** Each target's stages at `--scale paper` (one seed), "
            "counted in FLOPs by `mmae.experiments.stage_flops` (forward and backward of every step), "
            f"at an assumed {E.ASSUMED_MFU:.0%} of an H200's dense bf16 peak "
            f"({E.H200_BF16_PEAK / 1e12:,.0f} TFLOP/s), i.e. {rate / 1e12:,.0f} TFLOP/s per GPU; data "
            "loading and evaluation are not counted. A run two targets share is run once.\n\n"
            + "\n".join(rows)
            + f"\n\nAll targets, each shared run counted once: about {distinct:,.0f} GPU-hours per seed. "
            "`python reproduce.py --table 1 --plan` "
            "prints the same estimate for the stages of a run that are not finished yet.")


def _experiments(page_url: str) -> str:
    up = "../" * page_url.count("/")
    nbs = _S["notebooks"]
    if not nbs:
        return "*No experiment notebook yet.*"
    return "\n".join(f"- [{_notebook_title(p)}]({up}experiments/{p.name})" for p in nbs)


def on_page_markdown(markdown: str, page, config, files):
    url = page.file.src_uri

    def expand(m):
        name, arg = m.group("name"), m.group("arg").strip()
        if name == "readme-command":
            return _readme_command(arg)
        if name == "source":
            return _source(arg)
        if name == "headline":
            return _headline(url)
        if name == "findings":
            return _findings(url)
        if name == "claims":
            return claims_table(url)
        if name == "sources":
            return _sources()
        if name == "badge":
            return T.verdict_badge(arg)
        if name == "line":
            return _line(arg)
        if name == "benchmarks":
            return _benchmarks()
        if name == "gpu-hours":
            return _gpu_hours()
        if name == "experiments":
            return _experiments(url)
        if name == "value":  # a number of a committed result in a sentence: `mmae.pages.value`
            from mmae.pages import value
            try:
                return value(arg, root=ROOT / "results")
            except ValueError as e:
                raise PluginError(f"{url}: {e}") from None
        if name == "verdict":
            st_url = link(arg)
            if st_url is None:
                return f"{arg} (not checked yet)"
            verdict = T.verdict_of(T.report_entry(_S["report"], arg))
            return f"[{T.display_name(arg)}]({'../' * url.count('/')}{st_url}) {T.verdict_badge(verdict)}"
        raise PluginError(f"{url}: unknown directive mmae:{name}")

    def expand_indented(m):
        # A directive alone on an indented line (inside a list or a definition) expands with its
        # continuation lines at the same indentation.
        line_start = markdown.rfind("\n", 0, m.start()) + 1
        pad = markdown[line_start:m.start()]
        text = expand(m)
        return text.replace("\n", "\n" + pad) if pad and not pad.strip() else text

    return _DIRECTIVE.sub(expand_indented, markdown)


_NBCONVERT_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)


def on_page_content(html: str, page, config, files):
    """Links from equation terms to the code lines that compute them (mmae:line), and, on an API
    page, after each documented function that a check computes with, the statements whose checks
    use it (computed from the imports of proofs/, see theory.code_names)."""
    html = _resolve_lines(html)
    if not page.file.src_uri.startswith("api/"):
        return html
    up = "../" * page.url.count("/")  # raw HTML: relative to the page's directory URL

    def add(m):
        sts = _S["checked_by"].get(m.group("id"))
        if not sts:
            return m.group(0)
        links = ", ".join(f'<a href="{up}{st.url[:-3]}/">{T.display_name(st.name)}</a>' for st in sts)
        return m.group(0) + f'<p class="mmae-checked-by">Statements checked with it: {links}.</p>'
    return re.sub(r'<h\d id="(?P<id>mmae\.[\w.]+)"[^>]*>.*?</h\d>', add, html, flags=re.S)


def on_page_context(context, page, config, nav):
    """Experiment pages use the whole width (their tables compare up to nine columns of results):
    no table of contents at the side, whose sections the Result box and the headings already
    give."""
    if page.file.src_uri.startswith("experiments/") and page.file.src_uri.endswith(".ipynb"):
        page.meta["hide"] = sorted(set(page.meta.get("hide") or []) | {"toc"})
    return context


def on_post_page(output: str, page, config):
    # nbconvert's template loads MathJax from a CDN; the site renders notebook math with KaTeX.
    return _NBCONVERT_MATHJAX.sub("", output)


# ----------------------------------------------------------------------------- search index

_TEX_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "eta": "η",
    "theta": "θ", "lambda": "λ", "mu": "μ", "nu": "ν", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ",
    "phi": "φ", "psi": "ψ", "omega": "ω", "Sigma": "Σ", "Delta": "Δ", "Omega": "Ω", "infty": "∞",
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ne": "≠", "neq": "≠", "approx": "≈", "to": "→",
    "odot": "⊙", "oplus": "⊕", "otimes": "⊗", "top": "ᵀ", "cdot": "·", "times": "×", "sum": "Σ",
    "prod": "Π", "in": "∈", "subset": "⊂", "cup": "∪", "cap": "∩", "ldots": "…", "dots": "…",
    "cdots": "…", "partial": "∂", "nabla": "∇", "pm": "±", "mid": "|", "|": "‖", "{": "{", "}": "}",
}


def tex_to_text(tex: str) -> str:
    """A formula's LaTeX as plain text for the search index and its previews: symbols as Unicode,
    fonts and spacing commands dropped, fractions as a/b."""
    t = re.sub(r"\\(?:d|t)?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"(\1)/(\2)", tex)
    t = re.sub(r"\\(?:d|t)?frac\s*(\w)\s*(\w)", r"\1/\2", t)
    t = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r"√(\1)", t)
    t = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)\b\s*\\?", "", t)
    t = re.sub(r"\\[,;:!]|\\q?quad\b|~", " ", t)
    t = re.sub(r"\\([A-Za-z]+|[|{}])", lambda m: _TEX_SYMBOLS.get(m.group(1), "" if m.group(1) in (
        "mathrm", "mathbf", "mathcal", "mathbb", "boldsymbol", "text", "operatorname", "bar", "hat", "tilde",
        "mathit", "bm", "displaystyle", "textstyle", "limits", "nolimits") else m.group(1) + " "), t)
    t = t.replace("{", "").replace("}", "")
    return re.sub(r"\s+", " ", t).strip()


_MATH_SPAN = re.compile(r"\\\((.*?)\\\)|\\\[(.*?)\\\]|\$\$(.*?)\$\$|(?<![\\$])\$([^$\n]+?)\$", re.S)


def fold(text: str) -> str:
    import unicodedata
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def search_text(text: str) -> str:
    """An entry of the search index as a reader should see it in a preview: math as plain text,
    and after it, hidden, the accent-folded spelling of every accented word, so that "Renyi"
    finds "Rényi"."""
    parts = re.split(r"(<pre>.*?</pre>|<code>.*?</code>)", text, flags=re.S)  # code stays as it is
    text = "".join(p if p.startswith(("<pre>", "<code>")) else
                   _MATH_SPAN.sub(lambda m: tex_to_text(next(g for g in m.groups() if g is not None)), p)
                   for p in parts)
    words = {w for w in re.findall(r"\w+", text) if fold(w) != w and fold(w).isascii()}
    if words:
        text += ' <span hidden> ' + " ".join(sorted(fold(w) for w in words)) + " </span>"
    return text


def on_post_build(config):
    """The search index without raw LaTeX, and findable without accents."""
    path = Path(config["site_dir"]) / "search" / "search_index.json"
    if not path.is_file():
        return
    index = json.loads(path.read_text())
    for doc in index.get("docs", []):
        doc["title"] = _MATH_SPAN.sub(lambda m: tex_to_text(next(g for g in m.groups() if g is not None)),
                                      doc.get("title", ""))
        doc["text"] = search_text(doc.get("text", ""))
    path.write_text(json.dumps(index, ensure_ascii=False, separators=(",", ":")))
