"""The Theory, Verification and Errata pages, generated from ``proofs/`` and its report.

Pure functions, no MkDocs import, so that ``tests/test_docs_site.py`` can check them without
building the site; ``docs/hooks.py`` wires them into the build.

* `scan_proofs` reads every ``proofs/test_*.py`` with `ast` (never importing it): its module
  docstring (the statement and its proof, Markdown with ``$...$`` / ``$$...$$`` math) and its
  metadata (STATEMENT, TITLE, TWINS, VERDICT, CONDITION, CORRECTED).
* `markdown_doc` links the statements a docstring mentions, leaving math and code alone.
* `statement_page`, `twin_page`, `pending_page`, `verification_page`, `errata_page` render the
  pages. The check code is never copied into a page: the page holds a ``pymdownx.snippets``
  include of the lines after the docstring, read when the page is built.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from mmae.pages import OUTCOME_STYLE  # plain Python, no torch



def _check_kinds() -> tuple[str, ...]:
    """The kinds of check, from their one home ``proofs/report.py``, read with `ast` (never imported)."""
    tree = ast.parse((Path(__file__).resolve().parent.parent / "proofs" / "report.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "KINDS" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise RuntimeError("proofs/report.py defines no KINDS")


KINDS = _check_kinds()
KIND_TITLES = {"symbolic": "symbolic", "high-precision": "high precision", "randomized": "randomized"}
VERDICT_ADMONITION = {  # pymdownx admonition type for each verdict
    "holds": "success",
    "holds under a condition": "warning",
    "false as printed": "danger",
    "check failed": "failure",
    "not checked": "question",
}
# Each verdict differs by colour (docs/stylesheets/mmae.css), by the shape of its icon (circle,
# triangle, octagon, square, dashed circle) and by its words, so no one cue is needed alone.
VERDICT_ICON = {
    "holds": ":material-check-circle:",
    "holds under a condition": ":material-alert:",
    "false as printed": ":material-close-octagon:",
    "check failed": ":material-bug:",
    "not checked": ":material-help-circle-outline:",
    # the outcomes of the paper's experimental claims (results/*.json), styled in their one home
    **{word: icon for word, (_, icon) in OUTCOME_STYLE.items()},
}
VERDICT_TONE = {"holds": "good", "holds under a condition": "warn", "false as printed": "bad", "check failed": "bad",
                **{word: tone for word, (tone, _) in OUTCOME_STYLE.items()}}
# Nav groups, in the paper's order.
SECTION_TITLES = {
    "3": "3 · Matrix information theory",
    "4": "4 · Siamese methods",
    "5": "5 · Masked image modeling",
    "A": "Appendix A · Proofs",
    "C": "Appendix C · Divergences",
    None: "Not in the paper · neighbouring results",
}
# Every numbered statement of the paper, in its order. Used to order the nav and to list the
# statements that have no check yet; verdicts never come from here.
PAPER_STATEMENTS = (
    "Definition 3.1", "Definition 3.2", "Definition 3.3",
    "Eq. (5)",
    "Proposition 4.1", "Lemma 4.2", "Theorem 4.3", "Theorem 4.4", "Proposition 4.5", "Corollary 4.6",
    "Proposition 4.7", "Definition 4.8", "Definition 4.9", "Proposition 4.10", "Proposition 4.11",
    "Proposition 4.12", "Theorem 4.13", "Theorem 4.14", "Proposition 4.15", "Corollary 4.16",
    "Theorem 4.17", "Remark 4.17",
    "Definition 5.1", "Theorem 5.2", "Remark 5.2", "Convention 5.2",
    "Lemma A.12", "Theorem A.13", "Lemma A.14", "Theorem A.15",
    "Definition C.1", "Definition C.2",
    "Barlow Twins IB", "ER bound",
)
# Where a numbered equation sits among the numbered statements: Eq. (5) opens Section 4.1.
EQUATION_POSITION = {n: ("3", 99) for n in range(1, 5)} | {n: ("4", 0) for n in range(5, 10)} | {
    n: ("5", 1) for n in range(10, 12)}
KIND_RANK = {"remark": 1, "convention": 2}  # after the statement that shares their number


# ----------------------------------------------------------------------------- statements

@dataclass
class Statement:
    """One ``proofs/test_*.py`` module, read without importing it."""
    path: Path                      # the file, absolute
    rel: str                        # its path from the repository root, e.g. proofs/test_x.py
    name: str                       # STATEMENT
    title: str = ""
    twins: tuple = ()
    verdict: str | None = None      # declared VERDICT
    condition: str | None = None
    corrected: str | None = None
    docstring: str = ""
    code_start: int = 1             # first line after the module docstring
    n_lines: int = 0
    problems: list = field(default_factory=list)

    @property
    def slug(self) -> str:
        return page_slug(self.path)

    @property
    def url(self) -> str:
        return f"theory/{self.slug}.md"


def page_slug(path: Path) -> str:
    stem = Path(path).stem
    return (stem[5:] if stem.startswith("test_") else stem).replace("_", "-").lower()


def name_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def read_statement(path: Path, root: Path) -> Statement:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    st = Statement(path=path, rel=path.relative_to(root).as_posix(), name=page_slug(path),
                   n_lines=len(text.splitlines()))
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as e:
        st.problems.append(f"{st.rel} does not parse: {e.msg} (line {e.lineno})")
        return st
    doc = ast.get_docstring(tree, clean=True)
    if doc:
        st.docstring = doc
        st.code_start = tree.body[0].end_lineno + 1
    else:
        st.problems.append(f"{st.rel} has no module docstring (the statement and its proof)")
    meta = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            key = node.targets[0].id
            if key in ("STATEMENT", "TITLE", "TWINS", "VERDICT", "CONDITION", "CORRECTED"):
                try:
                    meta[key] = ast.literal_eval(node.value)
                except ValueError:
                    st.problems.append(f"{st.rel}: {key} is not a literal")
    if "STATEMENT" not in meta:
        st.problems.append(f"{st.rel} declares no STATEMENT")
    st.name = meta.get("STATEMENT") or st.name
    st.title = meta.get("TITLE") or ""
    st.twins = tuple(meta.get("TWINS") or ())
    st.verdict = meta.get("VERDICT")
    st.condition = meta.get("CONDITION")
    st.corrected = meta.get("CORRECTED")
    return st


def scan_proofs(root: Path) -> list[Statement]:
    """Every ``proofs/test_*.py`` under ``root``, in the paper's order."""
    root = Path(root)
    found = [read_statement(p, root) for p in sorted((root / "proofs").glob("test_*.py"))]
    return sorted(found, key=lambda s: statement_key(s.name))


_NUMBERED = re.compile(r"^(?P<kind>[A-Za-z]+)\.?\s+\(?(?P<sec>[0-9]+|[A-Z])\.(?P<num>[0-9]+)\)?$")
_EQUATION = re.compile(r"^(?:Eq\.?|Eqn\.?|Equation)\s*\(?(?P<num>[0-9]+)\)?$", re.I)


def canonical_name(name: str) -> str:
    """One spelling per statement: 'Equation 5', 'Eq. 5' and 'Eqn. (5)' are all 'Eq. (5)'."""
    m = _EQUATION.match(name.strip())
    return f"Eq. ({int(m.group('num'))})" if m else name.strip()


def statement_section(name: str) -> str | None:
    """'3', '4', 'A', ... for a numbered statement; None for the neighbouring results."""
    m = _NUMBERED.match(name.strip())
    if m:
        return m.group("sec")
    m = _EQUATION.match(name.strip())
    if m:
        return EQUATION_POSITION.get(int(m.group("num")), ("9", 0))[0]
    return None


def statement_key(name: str):
    """Sort key in the paper's order: sections 3-9, appendix letters, then unnumbered results."""
    name = name.strip()
    m = _NUMBERED.match(name)
    if m:
        sec, num, kind = m.group("sec"), int(m.group("num")), m.group("kind").lower()
        return (0, (0, int(sec)) if sec.isdigit() else (1, ord(sec)), num, KIND_RANK.get(kind, 0), name)
    m = _EQUATION.match(name)
    if m:
        sec, num = EQUATION_POSITION.get(int(m.group("num")), ("9", 0))
        return (0, (0, int(sec)), num, 0, name)
    order = {n: i for i, n in enumerate(PAPER_STATEMENTS)}
    return (1, (0, 0), order.get(name, len(order)), 0, name)


# ----------------------------------------------------------------------------- docstrings

# Spans that statement links must not enter, in the order they are cut out: fenced code,
# display math, inline math, code spans, existing links.
_VERBATIM = re.compile(r"```.*?```|\$\$.*?\$\$|(?<![\\$])\$[^$\n]+\$|`[^`\n]+`|\[[^\]\n]*\]\([^)\n]*\)", re.S)
_PLACEHOLDER = "\x00{}\x00"


def _protect(text: str, store: list) -> str:
    store.append(text)
    return _PLACEHOLDER.format(len(store) - 1)


def _restore(text: str, store: list) -> str:
    return re.sub("\x00(\\d+)\x00", lambda m: store[int(m.group(1))], text)


def markdown_doc(text: str, link=None) -> str:
    """A docstring (Markdown with ``$...$`` / ``$$...$$`` math) as page Markdown.

    ``link(name) -> url | None`` turns mentions of other statements ("Lemma 4.2") into links;
    math, code and existing links are never touched by it."""
    store: list[str] = []
    md = _VERBATIM.sub(lambda m: _protect(m.group(0), store), text)
    if link is not None:
        md = linkify(md, link)
    return _restore(md, store).strip() + "\n"


_MENTION = re.compile(
    r"\b(?P<name>(?:Definition|Lemma|Proposition|Theorem|Corollary|Remark|Convention)s?\s+[0-9A-C]\.[0-9]+)\b")


def linkify(md: str, link) -> str:
    """Link statement names in Markdown text (placeholders for math and code are left alone)."""
    def repl(m):
        name = re.sub(r"^(\w+?)s\s", r"\1 ", m.group("name"))
        url = link(re.sub(r"\s+", " ", name))
        return f"[{m.group('name')}]({url})" if url else m.group(0)
    return _MENTION.sub(repl, md)


# ----------------------------------------------------------------------------- report helpers

def report_entry(report: dict | None, name: str) -> dict | None:
    if not report:
        return None
    for e in report.get("statements", []):
        if e.get("statement") == name:
            return e
    return None


def verdict_of(entry: dict | None) -> str:
    return (entry or {}).get("verdict") or "not checked"


def slack_text(c: dict | None) -> str:
    """The smallest slack of one check kind, as the report recorded it."""
    if not c or c.get("min_slack_text") in (None, ""):
        return "–"
    text = str(c["min_slack_text"])
    v = c.get("min_slack")
    if v is None:
        try:
            v = float(text)
        except ValueError:
            return text[:12]
    if v == 0.0 and text.strip("0.-+e") != "":  # an mpf below double range: keep its digits
        return text[:12]
    if not math.isfinite(v):
        return text[:12]
    return "0" if v == 0 else f"{v:.3g}"


def min_slack(entry: dict | None) -> str:
    best = None
    for c in (entry or {}).get("checks", {}).values():
        s = slack_text(c)
        if s == "–":
            continue
        try:
            v = float(s)
        except ValueError:
            v = 0.0
        if best is None or v < best[0]:
            best = (v, s)
    return best[1] if best else "–"


def check_cell(c: dict | None) -> str:
    if not c:
        return "–"
    total = c.get("passed", 0) + c.get("failed", 0)
    mark = ":material-check:" if not c.get("failed") and c.get("passed") else ":material-close:"
    return f"{mark} {c.get('passed', 0)}/{total}"


def verdict_badge(verdict: str, url: str | None = None) -> str:
    tone = VERDICT_TONE.get(verdict, "none")
    text = f'<span class="mmae-badge mmae-badge--{tone}">{VERDICT_ICON.get(verdict, "")} {verdict}</span>'
    return f"[{text}]({url})" if url else text


# ----------------------------------------------------------------------------- pages

def _admonition(kind: str, title: str, body: str) -> str:
    inner = "\n".join(("    " + ln) if ln.strip() else "" for ln in body.strip("\n").splitlines())
    return f'!!! {kind} "{title}"\n\n{inner}\n'


def verdict_block(st: Statement, entry: dict | None, verification_url: str, inline=markdown_doc) -> str:
    verdict = verdict_of(entry)
    parts = []
    if verdict != "not checked" and st.verdict and verdict != st.verdict:
        parts.append(f"The module declares **{st.verdict}**, but its checks did not all pass.")
    if verdict == "not checked":
        parts.append("This statement is not in the proofs report of this build.")
    # The file is the home of the wording; the report copies it (and may be older).
    condition = st.condition or (entry or {}).get("condition")
    corrected = st.corrected or (entry or {}).get("corrected")
    if condition:
        parts.append("**Condition.** " + inline(condition).strip())
    if corrected:
        parts.append("**Corrected statement.** " + inline(corrected).strip())
    checks = (entry or {}).get("checks", {})
    if checks:
        rows = []
        for k in KINDS:
            if k in checks:
                c = checks[k]
                # what the slack measured, in the check's own words, typeset
                what = f" ({label_math(c['min_slack_what'])})" if c.get("min_slack_what") else ""
                rows.append([KIND_TITLES[k], check_cell(c), f"{slack_text(c)}{what}"])
        parts.append(md_table(["check", "passed", "smallest slack"], rows))
    trows = tightness_rows(entry)
    if trows:
        parts.append("**Measured tightness.** The checks search each inequality's whole domain for the "
                     "configuration that comes closest to breaking it; the share of the bound's allowance "
                     "that this worst case uses is its measured tightness (100% would mean the bound is "
                     "sharp): the worst case found uses " + _and([f"{t['tightness']:.0%}" for t in (entry or {}).get("tightness") or [] if isinstance(t.get("tightness"), (int, float))])
                     + " of the allowance" + (" of each inequality below, in turn" if len(trows) > 1 else "")
                     + ".\n\n" + tightness_table(entry))
    for ce in (entry or {}).get("counterexamples", []):
        data = ", ".join(data_math(k, v) for k, v in ce.get("data", {}).items())
        parts.append("**Counterexample**" + (f" ({label_math(ce['what'])})" if ce.get("what") else "") + ": " + data)
    for t in (entry or {}).get("failed_tests", []):
        parts.append(f"Failed: `{t}`")
    for p in (entry or {}).get("problems", []) + st.problems:
        parts.append(f"Problem: {_md_text(p)}")
    parts.append(f"[All verdicts]({verification_url}) · [How the checks work]({verification_url.replace('verification.md', 'checks.md')})")
    return _admonition(VERDICT_ADMONITION.get(verdict, "note"), f"Verdict: {verdict}", "\n\n".join(parts))


def tightness_rows(entry: dict | None) -> list[list[str]]:
    """[inequality, what its worst case uses, closest configuration, just-false variant] for each
    inequality of a statement whose worst case the checks searched (the report's "tightness"
    rows; tightness 1 means the bound is sharp). The inequality is typeset from its LaTeX form
    (proofs/_power.py) with its code form beside it."""
    rows = []
    for t in (entry or {}).get("tightness") or []:
        code = t.get("inequality") or t.get("bound", "?")
        tex = t.get("inequality_tex") or ascii_tex(code)
        closest = ", ".join(data_math(k, f"{v:.3g}" if isinstance(v, float) else v)
                            for k, v in (t.get("closest") or {}).items() if k != "vector")
        power = t.get("power")
        variant = "–" if not power else (("refuted" if power.get("refuted") else "**not refuted**")
                                          + f" at {power.get('scale', 0):.4g}")
        share = t.get("tightness")
        uses = (f"{share:.0%} of the allowance ({share:.4g})"
                if isinstance(share, (int, float)) else str(t.get("tightness_text", "?")))
        rows.append([f"{inline_math(tex)}<br>{_code(code)}", uses, closest or "–", variant])
    return rows


def tightness_table(entry: dict | None, with_statement: str | None = None) -> str:
    rows = tightness_rows(entry)
    if not rows:
        return ""
    head = ["inequality (typeset, and as the check writes it)", "measured tightness", "closest configuration",
            "just-false variant"]
    if with_statement is not None:
        head, rows = ["statement"] + head, [[with_statement] + r for r in rows]
    return md_table(head, rows)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else "?"


def md_table(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table without the columns that are empty ("–") in every row."""
    keep = [i for i in range(len(head)) if any(r[i] not in ("–", "") for r in rows)] if rows else list(range(len(head)))
    out = ["| " + " | ".join(head[i] for i in keep) + " |", "|" + " --- |" * len(keep)]
    out += ["| " + " | ".join(r[i] for i in keep) + " |" for r in rows]
    return "\n".join(out)


_FORMULA_HINT = re.compile(r"[_^=<>|]|\b(?:alpha|lambda|lam|mu|nu|log|det|sqrt|TCR|JS|KL)\b")


def label_math(text: str) -> str:
    """A check's label typeset where it holds a formula (``log n - I_alpha``, ``KL(K1||K2) >= 0``);
    a label in words ("margin near zero loss") stays words."""
    text = str(text)
    return inline_math(ascii_tex(text)) if _FORMULA_HINT.search(text) else _md_text(text)


def data_math(key: str, value) -> str:
    """One datum of a counterexample or configuration, ``K1 = J_6 (+) I_6``, typeset; a datum that
    is a description ("start: equal views") stays words."""
    value = str(value)
    if re.fullmatch(r"[A-Za-z ,'-]+", value) and len(value.split()) > 1 or key == "start":
        return f"{key}: {_md_text(value)}"
    return inline_math(f"{ascii_tex(str(key))} = {ascii_tex(value)}")


def strip_name(doc: str, name: str) -> str:
    """Drop a docstring's summary line when it opens with the statement's name: it is the
    page's heading (the name and TITLE)."""
    first, _, rest = doc.partition("\n")
    named = any(first.startswith(n) for n in (name, canonical_name(name)))
    return rest.lstrip("\n") if named else doc


def display_name(name: str) -> str:
    """The name a reader sees. The paper's remarks are unnumbered: "Remark 4.17" is the remark
    after Theorem 4.17; a convention is this project's, named after the theorem it serves."""
    m = re.match(r"(Remark|Convention) ([0-9A-Z]+\.\d+)$", name)
    if m:
        return f"Remark after Theorem {m.group(2)}" if m.group(1) == "Remark" else f"Convention for Theorem {m.group(2)}"
    return canonical_name(name)


def is_ours(name: str) -> bool:
    """Pages that are not statements of the paper: this project's conventions and the results of
    neighbouring papers it checks."""
    return name.startswith("Convention") or statement_section(name) is None


OURS_NOTE = ("*Added by this project: not a statement of the paper. It is checked here because "
             "the paper's results depend on it.*\n")


def code_names(path: Path, modules: dict[str, set[str]]) -> list[str]:
    """The public ``mmae`` functions a proofs file computes with: those it calls through ``mmae``
    directly, and those whose 60-digit reference in ``proofs/_mp.py`` it calls (same name).
    ``modules`` maps a module of mmae ("mmae.info") to its public names."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}  # local name -> module ("mmae.info" or "proofs._mp")
    used: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("mmae", "proofs"):
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.ImportFrom) and node.module and (node.module.startswith("mmae.") or node.module == "proofs._mp"):
            for a in node.names:
                used.add((node.module, a.name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            used.add((aliases[node.value.id], node.attr))
    out = set()
    for mod, name in used:
        if mod in modules and name in modules[mod]:
            out.add(f"{mod}.{name}")
        elif mod == "proofs._mp":
            out.update(f"{m}.{name}" for m, names in modules.items() if name in names)
    return sorted(out)


def statement_page(st: Statement, entry: dict | None, link=None, page_dir: str = "theory",
                   code: list[str] = (), figure: str | None = None) -> str:
    """Markdown of a statement's page; ``link(name)`` gives other statements' page URLs, ``code``
    the dotted names of the mmae functions its check computes with, ``figure`` an interactive
    figure (HTML) shown after the proof."""
    rel = lambda url: url if url is None else _relative(url, page_dir)
    lk = (lambda n: rel(link(n)) if n != st.name else None) if link else None
    shown = display_name(st.name)
    title = shown + (f": {st.title}" if st.title else "")
    out = [f"---\ntitle: {_yaml_str(shown)}\n---\n", f"# {_md_text(title)}\n"]
    if is_ours(st.name):
        out.append(OURS_NOTE)
    if st.twins:
        out.append("*Restated in the appendix as " + ", ".join(
            f"[{t}]({rel('theory/' + name_slug(t) + '.md')})" for t in st.twins) + ".*\n")
    out.append(verdict_block(st, entry, rel("verification.md"), inline=lambda s: markdown_doc(s, lk)))
    out.append("## Statement and proof\n")
    out.append(markdown_doc(strip_name(st.docstring, st.name), lk) if st.docstring else "*No docstring.*\n")
    if figure:
        out.append(figure.strip() + "\n")
    out.append("## In the code\n")
    if code:
        out.append("The quantities of this statement are computed by " + ", ".join(
            f"[`{c}`]({rel('api/' + c.rsplit('.', 1)[0] + '.md')}#{c})" for c in code) + ".\n")
    out.append(f"The check is `{st.rel}`, included below; rerun it alone with "
               f"`pytest {st.rel}` ([how the checks work]({rel('checks.md')})).\n")
    out.append("## The check\n")
    out.append(f"The code below is included from `{st.rel}` when the site is "
               "built, so it is exactly what `pytest proofs` runs. Each test carries its kind "
               "(`@pytest.mark.check(...)`) and records the slack by which the inequality held.\n")
    if st.code_start <= st.n_lines:
        out.append(f'```` {{ .python title="{st.rel}" linenums="{st.code_start}" }}\n'
                   f'--8<-- "{st.rel}:{st.code_start}:{st.n_lines}"\n````\n')
    return "\n".join(out)


def pending_page(name: str) -> str:
    """The page of a numbered statement of the paper that has no check in ``proofs/`` yet."""
    return "\n".join([
        f"---\ntitle: {_yaml_str(name)}\n---\n", f"# {name}\n",
        _admonition(VERDICT_ADMONITION["not checked"], "Verdict: not checked",
                    f"{name} has no file in `proofs/` yet, so this site neither states nor checks it."),
    ])


def twin_page(twin: str, main: Statement, entry: dict | None) -> str:
    url = _relative(main.url, "theory")
    verdict = verdict_of(entry)
    return "\n".join([
        f"---\ntitle: {_yaml_str(twin)}\n---\n",
        f"# {twin}\n",
        f"{twin} is the appendix restatement of **[{main.name}]({url})**"
        + (f" ({_md_text(main.title)})" if main.title else "") + ", with its proof. "
        f"Both are checked together; the statement, the proof and the check are on the page of "
        f"[{main.name}]({url}).\n",
        _admonition(VERDICT_ADMONITION.get(verdict, "note"), f"Verdict: {verdict}",
                    f"The verdict of [{main.name}]({url}) applies to {twin}."),
    ])


def theory_index(statements: list[Statement], report: dict | None, link) -> str:
    out = ["# Theory\n",
           "One page per numbered statement of the paper, in the paper's order. Each page states the "
           "result in our own words, gives a proof a reader can follow (corrected where the printed "
           "one is wrong or has gaps, saying what changed), shows the verdict of the machine check "
           "and includes the code of the check itself.\n",
           "| statement | what it says | verdict |", "| --- | --- | --- |"]
    for st in statements:
        e = report_entry(report, st.name)
        url = _relative(st.url, "theory")
        out.append(f"| [{display_name(st.name)}]({url}) | {_md_text(st.title)}{' (ours)' if is_ours(st.name) else ''} "
                   f"| {verdict_badge(verdict_of(e))} |")
    twins = [(t, st) for st in statements for t in st.twins]
    if twins:
        out += ["", "Appendix restatements:", ""]
        out += [f"- {t} → [{st.name}]({_relative(st.url, 'theory')})" for t, st in
                sorted(twins, key=lambda x: statement_key(x[0]))]
    return "\n".join(out) + "\n"


def verification_page(statements: list[Statement], report: dict | None, report_label: str, link) -> str:
    out = ["# Verification\n"]
    if not report:
        out.append("!!! failure \"No proofs report\"\n\n    This build found no report of `pytest proofs`.\n")
        return "\n".join(out)
    entries = report.get("statements", [])
    counts: dict[str, int] = {}
    for e in entries:
        counts[verdict_of(e)] = counts.get(verdict_of(e), 0) + 1
    n_tests = sum(c.get("passed", 0) + c.get("failed", 0) for e in entries for c in e.get("checks", {}).values())
    out.append(
        f"Generated when this site was built, from the report of an actual run of `pytest proofs` "
        f"({report_label}; generated {report.get('generated', '?')}, hypothesis profile "
        f"`{report.get('hypothesis_profile', '?')}`): {len(entries)} statements, {n_tests} checks. "
        "`python -m proofs.report` prints the same table in a terminal.\n")
    out.append(" · ".join(f"{verdict_badge(v)}: **{n}**" for v, n in sorted(counts.items())) + "\n")
    out.append("A check is **symbolic** (exact algebra with sympy), **high precision** (60-digit "
               "arithmetic with mpmath) or **randomized** (hypothesis search, adversarial where the "
               "inequality is tight). The slack is the margin by which an inequality held (0: "
               "attained exactly; negative only where a counterexample is asserted); each cell shows "
               "passed/total.\n")
    head = ["statement"] + [KIND_TITLES[k] for k in KINDS] + ["verdict", "smallest slack"]
    rows = []
    by_name = {st.name: st for st in statements}
    for e in sorted(entries, key=lambda e: statement_key(e["statement"])):
        name = e["statement"]
        url = link(name)
        label = f"[{display_name(name)}]({url})" if url else display_name(name)
        cells = [check_cell(e.get("checks", {}).get(k)) for k in KINDS]
        rows.append([label] + cells + [verdict_badge(verdict_of(e)), min_slack(e)])
    out.append(md_table(head, rows) + "\n")
    tables = [tightness_table(e, f"[{display_name(e['statement'])}]({link(e['statement'])})" if link(e["statement"])
                              else display_name(e["statement"]))
              for e in sorted(entries, key=lambda e: statement_key(e["statement"])) if tightness_rows(e)]
    if tables:
        out.append("## Measured tightness\n")
        out.append("For each inequality whose worst case the checks search: the share of its "
                   "allowance that the worst case found uses (its measured tightness; 100% would mean "
                   "the bound is sharp, 50% that even the worst case found stays at half of what the "
                   "bound allows), the configuration that reached it and, after `pytest proofs "
                   "--power`, whether the check refuted the variant with the constant moved just past "
                   "that tightness (the column appears once a report records it).\n")
        rows = [[f"[{display_name(e['statement'])}]({link(e['statement'])})" if link(e["statement"])
                 else display_name(e["statement"])] + r
                for e in sorted(entries, key=lambda e: statement_key(e["statement"])) for r in tightness_rows(e)]
        head = ["statement", "inequality (typeset, and as the check writes it)", "measured tightness",
                "closest configuration", "just-false variant"]
        out.append(md_table(head, rows) + "\n")
    missing_report = [st for st in statements if not report_entry(report, st.name)]
    if missing_report:
        out.append("Checks in `proofs/` that this report does not contain: " + ", ".join(
            f"[{st.name}]({link(st.name)})" for st in missing_report) + ".\n")
    twins = report.get("twins") or {}
    if twins:
        out.append("## Appendix restatements\n")
        out.append("| appendix | checked as |\n| --- | --- |")
        out += [f"| {t} | [{m}]({link(m)}) |" if link(m) else f"| {t} | {m} |"
                for t, m in sorted(twins.items(), key=lambda x: statement_key(x[0]))]
        out.append("")
    covered = {canonical_name(n) for n in set(by_name) | {e["statement"] for e in entries}}
    todo = [s for s in PAPER_STATEMENTS if canonical_name(s) not in covered]
    if todo:
        out.append("## Not yet checked\n")
        out.append("Statements of the paper with no file in `proofs/` yet: " + ", ".join(todo) + ".\n")
    return "\n".join(out)


_UNCONFIRMED = re.compile(r"seen in our text copy,? unconfirmed", re.I)
_KIND_WORDS = ("false", "condition", "gap", "typo", "typos", "convention")


def _errata_entries(md: str) -> list[dict]:
    """The entries of ERRATA.md: a ``### heading -- **kind**: summary`` with its body, or a list
    item ``- **kind** — text`` of a section; each with its statement, kind, first sentence, the
    "Corrected:" text and the evidence."""
    entries, cur_section = [], ""
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("## "):
            cur_section = ln[3:].strip()
        if ln.startswith("### "):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("#"):
                j += 1
            head = ln[4:]
            title, _, rest = head.partition(" -- ")
            entries.append({"title": title.strip(), "head": rest.strip(), "body": "\n".join(lines[i + 1:j]),
                            "start": i, "end": j})
            i = j
            continue
        if ln.startswith("- **") and cur_section and any(f"**{k}" in ln[:40] for k in _KIND_WORDS):
            j = i + 1
            while j < len(lines) and lines[j].startswith("  "):
                j += 1
            text = "\n".join([ln[2:]] + [l[2:] for l in lines[i + 1:j]])
            m = re.match(r"\*\*(?P<kind>[^*]+)\*\*(?P<mark>[^—]*)—\s*(?P<text>.*)", text, re.S)
            if m:
                entries.append({"title": "", "head": f"**{m['kind']}**{m['mark']}".strip(" ,"), "body": m["text"],
                                "start": i, "end": j, "item": True})
            i = j
            continue
        i += 1
    return entries


def _first_sentence(text: str, limit: int = 220) -> str:
    text = re.sub(r"^(?:[-*]\s+)?(?:(?:Gap|Typo|Note):\s*)?", "", re.sub(r"\s+", " ", text).strip())
    store: list[str] = []
    prot = re.sub(r"\$[^$]+\$|`[^`]+`|\([^()]*\)|e\.g\.|i\.e\.|Sec\.|Eqs?\.|Def\.|cf\.|et al\.",
                  lambda m: _protect(m.group(0), store), text)
    out = prot
    for m in re.finditer(r"[.;:](?=\s|$)", prot):
        if len(_restore(prot[:m.start()], store)) >= 40:
            out = prot[:m.start()]
            break
    if len(_restore(out, store)) > limit:  # cut between words, never inside math or code
        words = out.split(" ")
        while len(words) > 1 and len(_restore(" ".join(words), store)) > limit:
            words.pop()
        out = " ".join(words) + " …"
    return _restore(out, store).rstrip(".;:")


def _cell(md: str) -> str:
    """Markdown for a table cell: pipes inside math become \\vert, others are escaped."""
    md = re.sub(r"\$[^$]+\$", lambda m: inline_math(m.group(0)[1:-1]), md)
    return re.sub(r"(?<![\\$])\|", r"\\|", md.replace("\n", " "))


def errata_summary(md: str, link) -> str:
    """The Errata page's summary table: statement, kind, what is wrong, corrected statement,
    evidence (one row per entry of ERRATA.md)."""
    rows = []
    for e in _errata_entries(md):
        if e.get("item"):
            names = _MENTION.findall(e["body"]) or re.findall(r"(Sec\. C\.\d|Definition \d\.\d|Theorem \d\.\d+)", e["body"])
            name = re.sub(r"^(\w+?)s\s", r"\1 ", names[0]) if names else "–"
            what = _first_sentence(e["body"])
        else:
            name = e["title"]
            head = e["head"].split(":", 1)[1].strip() if ":" in e["head"] else ""
            what = head or _first_sentence(e["body"])
        kind = " and ".join(re.findall(r"\*\*([^*]+)\*\*", e["head"])) or "–"
        corr = re.search(r"^Corrected:\s*(.*?)(?=\n\S+:|\n\n|\Z)", e["body"], re.M | re.S)
        evid = re.findall(r"`((?:proofs/)?test_[a-z0-9_]+\.py)", e["body"])
        first = re.match(r"[A-Za-z]+\.? ?[0-9A-C]+\.[0-9]+|Eq\. \(\d+\)|Theorems? [0-9A-C.]+", name)
        url = None
        if first and link:
            name0 = canonical_name(re.sub(r"^Theorems ", "Theorem ", first.group(0)))
            eq = re.match(r"Eq\. \((\d+)\)", name0)
            url = link(name0) or (link(f"Equation {eq.group(1)}") if eq else None)
        label = f"[{name}]({url})" if url else name
        ev = ", ".join(dict.fromkeys(f"`{Path(x).name}`" for x in evid)) or "–"
        rows.append([_cell(label), _cell(kind), _cell(what),
                     _cell(_first_sentence(corr.group(1), 300)) if corr else (f"[on its page]({url})" if url else "–"), ev])
    return md_table(["statement", "kind", "what is wrong", "corrected statement", "evidence"], rows)


def _split_unconfirmed(md: str) -> tuple[str, list[str]]:
    """ERRATA.md without the points seen only in our text copy (unconfirmed), and those points,
    each with the entry it came from."""
    lines = md.splitlines()
    moved, drop = [], set()
    entries = _errata_entries(md)
    for e in entries:
        where = e["title"] or "Section 4.3-5"
        if e.get("item"):
            if _UNCONFIRMED.search(e["head"]):
                moved.append("- " + "\n  ".join(lines[e["start"]][2:].splitlines()
                                                  + [l[2:] for l in lines[e["start"] + 1:e["end"]]]))
                drop.update(range(e["start"], e["end"]))
            continue
        k = e["start"] + 1
        while k < e["end"]:
            if lines[k].startswith("- ") and _UNCONFIRMED.search(lines[k]):
                j = k + 1
                while j < e["end"] and lines[j].startswith("  "):
                    j += 1
                moved.append(f"- **{where}** — " + "\n  ".join([lines[k][2:]] + [l[2:] for l in lines[k + 1:j]]))
                drop.update(range(k, j))
                k = j
            else:
                k += 1
    return "\n".join(l for n, l in enumerate(lines) if n not in drop) + "\n", moved


def errata_page(errata_md: str | None, link) -> str:
    if not errata_md:
        return "# Errata\n\n`proofs/ERRATA.md` is missing.\n"
    body, unconfirmed = _split_unconfirmed(errata_md)
    title, _, rest = body.partition("\n")
    intro, sep, entries = rest.partition("\n## ")
    md = (title + "\n" + intro.rstrip() + "\n\n## Summary\n\n" + errata_summary(body, link) + "\n\n"
          + sep.lstrip("\n") + entries)
    if unconfirmed:
        md = md.rstrip() + ("\n\n## To confirm against the published PDF\n\nThese points were seen in our text "
                            "copy of the paper, which came out of a PDF converter; each is a symbol or a passage "
                            "the conversion can damage, so none is counted as an erratum until it is checked "
                            "against the published PDF.\n\n" + "\n".join(unconfirmed) + "\n")
    md = _paragraphs(md)
    # Links to test files point at the statement pages; statement names become links.
    md = re.sub(r"\]\((?:\.\./)?(?:proofs/)?(test_[a-z0-9_]+)\.py[^)]*\)",
                lambda m: f"]({'theory/' + page_slug(Path(m.group(1) + '.py')) + '.md'})", md)
    store: list[str] = []
    md = re.sub(r"```.*?```", lambda m: _protect(m.group(0), store), md, flags=re.S)
    md = re.sub(r"`[^`\n]+`|\$[^$\n]+\$|\\\(.*?\\\)|\[[^\]\n]*\]\([^)\n]*\)|^#.*$|^\|.*\|$",
                lambda m: _protect(m.group(0), store), md, flags=re.M)
    md = linkify(md, link)
    return _restore(md, store)


# ----------------------------------------------------------------------------- formulas

# The checks' plain-text notation, token by token, as LaTeX (counterexample data are recorded as
# plain text by the checks; the inequalities carry their own LaTeX form, proofs/_power.py).
_ASCII_TEX = {
    "alpha": r"\alpha", "beta": r"\beta", "lambda": r"\lambda", "lam": r"\lambda", "mu": r"\mu",
    "nu": r"\nu", "tau": r"\tau", "inf": r"\infty", "infty": r"\infty", "log": r"\log", "exp": r"\exp",
    "det": r"\det", "tr": r"\operatorname{tr}", "max": r"\max", "min": r"\min", "rank": r"\operatorname{rank}",
    "sqrt": r"\sqrt", "JS": r"\mathrm{JS}", "TCR": r"\mathrm{TCR}", "L_SC": r"\mathcal L_{\mathrm{SC}}",
    "L_BT": r"\mathcal L_{\mathrm{BT}}", "erank": r"\operatorname{erank}",
}
_ASCII_OPS = (("(+)", r" \oplus "), ("<=", r" \le "), (">=", r" \ge "), ("!=", r" \ne "), ("^T", r"^\top"),
              ("||", r"\|"))
_TOKEN = re.compile(r"[A-Za-z]+(?:_[A-Za-z0-9]+|[0-9]+)?|\d+(?:\.\d+)?|\S")


def ascii_tex(text: str) -> str:
    """A check's plain-text formula or value (``J_6 (+) I_6``, ``H_alpha(K1)``, ``log(576/49)``)
    as LaTeX: matrices bold, entropies upright, Greek letters, operators; words of prose as text."""
    out = []
    for op, tex in _ASCII_OPS:
        text = text.replace(op, f" \x01{len(out)}\x01 ")
        out.append(tex)
    parts = []
    for tok in re.split(r"(\x01\d+\x01|\s+)", text):
        if not tok:
            continue
        m = re.fullmatch(r"\x01(\d+)\x01", tok)
        if m:
            parts.append(out[int(m.group(1))])
        elif tok.isspace():
            parts.append(" ")
        else:
            parts.append("".join(_ascii_token(t) for t in _TOKEN.findall(tok)))
    tex, prev = "".join(parts), None
    while tex != prev:  # adjacent words: one \text{...} with their spaces
        prev, tex = tex, re.sub(r"(\\text\{[^{}]*)\}(\s*)\\text\{", lambda m: m.group(1) + (m.group(2) or " "), tex)
    return tex.strip()


def _ascii_token(t: str) -> str:
    if t in _ASCII_TEX:
        return _ASCII_TEX[t]
    m = re.fullmatch(r"([HI])_(alpha|inf|[0-9]+)", t)
    if m:  # an entropy or an information of order alpha
        return rf"\mathrm {m.group(1)}_{{{_ASCII_TEX.get(m.group(2), m.group(2))}}}"
    m = re.fullmatch(r"([A-Za-z]+?)_?([0-9]+|[A-Za-z]+)?", t)
    if m and m.group(1) in ("K", "J", "I", "G", "Z", "Zbar", "X", "Y", "A", "B") and len(t) <= 6:
        base, sub = m.group(1), m.group(2)
        if base in ("I", "H") and sub and not sub.isdigit() and sub in _ASCII_TEX:  # I_alpha
            return rf"\mathrm {base}_{{{_ASCII_TEX[sub]}}}"
        if base == "I" and sub in ("1", "2") and t == f"I_{sub}":
            return rf"\mathrm I_{sub}"
        if base in ("B",) and not sub:
            return "B"
        head = r"\bar{\mathbf Z}" if base == "Zbar" else rf"\mathbf {base}"
        return head + (f"_{{{sub}}}" if sub else "")
    m = re.fullmatch(r"H_([A-Za-z0-9]+)", t)
    if m:
        return rf"\mathrm H_{{{_ASCII_TEX.get(m.group(1), m.group(1))}}}"
    m = re.fullmatch(r"([A-Za-z])(?:_([0-9A-Za-z]+)|([0-9]+))", t)
    if m:
        sub = m.group(2) or m.group(3)
        return f"{m.group(1)}_{{{_ASCII_TEX.get(sub, sub)}}}"
    if re.fullmatch(r"[A-Za-z]{2,}", t):
        return rf"\text{{{t}}}"
    if t in "{}":
        return "\\" + t
    if t in "#%&_":
        return "\\" + t
    return t


def inline_math(tex: str) -> str:
    """Inline math for a page (``$...$``, which arithmatex turns into a KaTeX span); bars as
    ``\\vert``/``\\Vert``, so that a table cell does not split at them."""
    tex = re.sub(r"\\\|", r"\\Vert ", tex.strip())
    return "$" + re.sub(r"(?<!\\)\|", r"\\vert ", tex).strip() + "$"


# ----------------------------------------------------------------------------- small helpers

_LIST_ITEM = re.compile(r"^(?:[-*+]|\d+\.)\s")
_LABEL_LINE = re.compile(r"^(?:Corrected|Correction|Evidence|Consequence|Counterexample|Fix|Note)\b[^:\n]{0,30}:")


def _paragraphs(text: str) -> str:
    """Blank lines where plain-text notes start a list or a labelled line inside a paragraph,
    which Markdown would otherwise run together."""
    out: list[str] = []
    in_code = in_list = False
    for ln in text.splitlines():
        if ln.startswith("```"):
            in_code = not in_code
        prev = out[-1] if out else ""
        if not in_code and prev.strip() and not prev.startswith("#"):
            if _LIST_ITEM.match(ln) and not in_list:
                out.append("")
            elif not ln.startswith((" ", "\t")) and ln.strip() and not _LIST_ITEM.match(ln) and (
                    in_list or _LABEL_LINE.match(ln)):
                out.append("")
        if _LIST_ITEM.match(ln):
            in_list = True
        elif not ln.strip() or not ln.startswith((" ", "\t")):
            in_list = False
        out.append(ln)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _relative(url: str, page_dir: str) -> str:
    """``url`` (from the docs root) as seen from a page in ``page_dir``."""
    depth = len([p for p in page_dir.split("/") if p])
    return "../" * depth + url


def _yaml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _code(s: str) -> str:
    """A code span of any text (a table cell does not split at pipes inside one)."""
    s = str(s)
    fence = "``" if "`" in s else "`"
    return f"{fence} {s} {fence}" if fence == "``" else f"`{s}`"


def _md_text(s: str) -> str:
    return (s or "").replace("<", "&lt;").replace("|", r"\|")
