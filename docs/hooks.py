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
  their badges, the home page's trust summary, benchmark figures);
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


# a results file's verdict of a claim -> the badge the home page shows
CLAIM_VERDICTS = {"reproduces": "reproduced", "does not reproduce": "not reproduced",
                  "inconclusive at this scale": "inconclusive"}


def _claims() -> list[dict]:
    """The paper's experimental claims with their verdicts, one row per claim and scale.

    Every target of ``mmae/paper_results.json`` is "not tested" unless a results file judges its
    claims: ``results/<scale>/<target>/<target>.json`` carries ``"verdicts"``, a list of
    ``{"claim", "verdict", "scale", "statistic", "p_value", "n", "test"}`` (`mmae.experiments`)."""
    claims: dict[tuple, dict] = {}
    paper = ROOT / "mmae" / "paper_results.json"
    for key, value in (json.loads(paper.read_text()) if paper.is_file() else {}).items():
        if isinstance(value, dict) and "caption" in value:
            name = re.sub(r"^table(\d+)$", r"Table \1", key)
            claims[(name, "")] = {"claim": name, "what": value["caption"], "verdict": "not tested", "scale": ""}
    for path in sorted((ROOT / "results").glob("*/*/*.json")):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        verdicts = report.get("verdicts") if isinstance(report, dict) else None
        if not isinstance(verdicts, list):
            continue
        target = re.sub(r"^(table|figure)(\d+)$", lambda m: f"{m[1].title()} {m[2]}", report.get("target", ""))
        claims.pop((target, ""), None)  # judged: no longer "not tested"
        for v in verdicts:
            stat = (f"{v.get('test', 'test')}: statistic {v['statistic']:.2f}, p = {v['p_value']:.3g}, n = {v['n']}"
                    if isinstance(v.get("statistic"), (int, float)) and isinstance(v.get("p_value"), (int, float))
                    else (f"n = {v['n']}" if v.get("n") is not None else ""))
            claims[(target, v.get("claim", ""), v.get("scale", ""))] = {
                "claim": target, "what": v.get("claim", ""), "detail": stat,
                "verdict": CLAIM_VERDICTS.get(v.get("verdict"), v.get("verdict", "not tested")),
                "scale": v.get("scale") or report.get("scale", "")}
    return sorted(claims.values(), key=lambda c: (_notebook_key(Path(T.name_slug(c["claim"]))), c.get("what", "")))


def _trust(page_url: str) -> str:
    up = "../" * page_url.count("/")
    entries = (_S["report"] or {}).get("statements", [])
    by: dict[str, list] = {}
    for e in entries:
        by.setdefault(T.verdict_of(e), []).append(e["statement"])
    named = lambda names: ", ".join(f"[{T.display_name(n)}]({up}{link(n)})" if link(n) else n for n in names)
    count = lambda v: len(by.get(v, []))
    false = by.get("false as printed", [])
    lines = [f"- {T.verdict_badge('holds')} **{count('holds')}** hold as printed;",
             f"- {T.verdict_badge('holds under a condition')} **{count('holds under a condition')}** hold "
             "under a condition the paper leaves implicit, stated on each page;",
             f"- {T.verdict_badge('false as printed')} **{len(false)}** "
             f"{'is' if len(false) == 1 else 'are'} false as printed"
             + (f": {named(false)}, with an exact counterexample and a corrected statement;" if false else ";")]
    lines += [f"- {T.verdict_badge(v)} **{len(ns)}**: {named(ns)};" for v, ns in by.items()
              if v not in ("holds", "holds under a condition", "false as printed")]
    lines[-1] = lines[-1][:-1] + "."
    parts = [f"**Theory.** Of the {len(entries)} statements in the proofs report of this build "
             f"([Verification]({up}verification.md)):\n\n" + "\n".join(lines)]
    rows = ["| claim of the paper | what it says | verdict | tested at scale |", "| --- | --- | --- | --- |"]
    scales = set()
    for c in _claims():
        scales.add(c.get("scale") or "")
        detail = f" — {T._md_text(str(c['detail']))}" if c.get("detail") else ""
        rows.append(f"| {T._md_text(c['claim'])} | {T._md_text(c.get('what', ''))}{detail} | "
                    f"{T.verdict_badge(c['verdict'])} | {T._md_text(c.get('scale') or '–')} |")
    parts.append("**The paper's experiments.** Each table and figure of the paper has an "
                 f"[experiment page]({up}experiments/index.md). Each claim it tests is compared over "
                 "seeds by a one-sided paired test at the 5% level: *reproduced* where the test supports "
                 "the paper's direction, *not reproduced* where it supports the opposite, *inconclusive* "
                 "otherwise; a claim no results file judges is *not tested*:\n\n" + "\n".join(rows))
    if not any("paper" in s.lower() for s in scales):
        parts.append("**Never run.** Nothing on this site was run at the paper's scale (ImageNet-1K, "
                     "ViT-Base and ViT-Large, hundreds of epochs): the experiment pages run a mini "
                     f"scale on a CPU, and [Reproducing]({up}reproducing.md) gives the commands and "
                     "the cost of the full runs.")
    return "\n\n".join(parts)


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
        if name == "trust":
            return _trust(url)
        if name == "badge":
            return T.verdict_badge(arg)
        if name == "line":
            return _line(arg)
        if name == "benchmarks":
            return _benchmarks()
        if name == "experiments":
            return _experiments(url)
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


def on_post_page(output: str, page, config):
    # nbconvert's template loads MathJax from a CDN; the site renders notebook math with KaTeX.
    return _NBCONVERT_MATHJAX.sub("", output)
