"""Browser test of the built site: ``python docs/browser_test.py [--site site]``.

Serves the built site on 127.0.0.1 and loads every page in headless Chromium (Debian's
``chromium`` package, driven by Playwright; no browser is downloaded). A page fails on what a
reader would see as broken:

* it does not load, logs a console error, raises a script error, requests anything from a host
  other than 127.0.0.1, or requests something that fails;
* math: an ``.arithmatex`` element KaTeX did not typeset, a KaTeX error, math source left in the
  prose (``$``, ``\\(``, ``:math:``), notebooks included;
* a theory page of a statement without typeset math; a theory page or the Errata with a formula
  written as plain text outside code (``>=``, ``<=``, ``!=``, ``_{``, ``^2``, ``sqrt(``, ``||``);
* a display equation or a table wider than its column, at 1280 px and at 390 px;
* a link to a page of the site that does not exist, or to an anchor that page does not have;
* its search does not finish initialising (the index is served locally), and on the home page
  a query must find pages;
* a table header that breaks inside a word (at 1280 px and at 390 px);
* a formula in plain text (code included) inside a verdict box or a table of the Theory,
  Verification and Errata pages without its typeset form beside it;
* an experiment page whose first element after its heading is not its Result box;
* a verdict badge whose words are not a verdict of the site (`VERDICT_ICON` of docs/theory.py:
  the statements' verdicts, the experiments' four outcomes, a baseline check's yes / no /
  inconclusive, "not tested"), e.g. a results file's word that no page should show;
* the home page's "What we found" box not starting on the first screen, at 1280 px and at 390 px.

The search index must hold no raw LaTeX (a preview shows it as it is), and a query without
accents must find the accented word ("Renyi" finds "Rényi").

Every statement of ``proofs/`` (and every appendix twin) must have its page, headed with its
name and showing its verdict. Screenshots at 1280 px and 390 px of the home page, Theorem 4.3,
Proposition 4.7's interactive figure, the Errata and the Table 1 experiment go to
``build/screenshots/``.

Exit status 0 when every check passed, 1 otherwise.
"""
from __future__ import annotations

import argparse
import re
import functools
import http.server
import importlib.util
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
VERDICTS = ("holds under a condition", "holds", "false as printed", "check failed", "not checked")

MATH_PROBE = r"""() => {
  const arith = [...document.querySelectorAll('.arithmatex')];
  const pending = arith.filter(el => !el.querySelector('.katex')).map(el => el.textContent.slice(0, 80));
  const errors = [...document.querySelectorAll('.katex-error')].map(el => el.getAttribute('title') || el.textContent.slice(0, 80));
  // math source left in the prose, and formulas written as plain text, outside code and math
  const raw = [], plain = [];
  const root = document.querySelector('article') || document.body;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest('pre, code, script, style, svg, .arithmatex, .katex, .highlight, .jp-InputArea, .jp-OutputArea, .headerlink')) continue;
    const t = node.textContent;
    if (/\$|\\\(|\\\[|:math:`|\.\. math::/.test(t)) raw.push(t.trim().slice(0, 80));
    const m = t.match(/>=|<=|!=|_\{|\^2|sqrt\(|\|\|/);
    if (m) plain.push(t.slice(Math.max(0, m.index - 30), m.index + 30).trim());
  }
  return {arithmatex: arith.length, katex: document.querySelectorAll('.katex').length, pending, errors, raw, plain};
}"""

# Displays and tables wider than their column: the element that would scroll sideways (a
# display, a notebook display, the wrapper Material puts around a table) has content wider than
# its box. (On a phone Material lets displays and tables bleed into the page margins on purpose,
# so their box, not the article's, is the column.)
CLIP_PROBE = r"""() => {
  if (typeof fitDisplays === 'function') fitDisplays();  // the page's own resize handler, run now
  const root = document.querySelector('article') || document.body;
  const out = [];
  const boxes = new Set();
  root.querySelectorAll('div.arithmatex, .jupyter-wrapper .katex-display, table').forEach(el => {
    if (el.closest('.highlight, pre') || (el.matches('.katex-display') && el.closest('div.arithmatex'))) return;
    boxes.add(el.tagName === 'TABLE' ? (el.closest('.md-typeset__scrollwrap') || el) : el);
  });
  boxes.forEach(el => {
    if (el.getBoundingClientRect().width === 0) return;  // inside a closed <details>
    if (el.scrollWidth > el.clientWidth + 2)
      out.push(`${el.scrollWidth}px in ${el.clientWidth}px: ${el.textContent.trim().slice(0, 50)}`);
  });
  return out;
}"""

# A header cell broken inside a word: a word of it whose text spans more than one line box.
HEADER_PROBE = r"""() => {
  const out = [];
  document.querySelectorAll('article table th').forEach(th => {
    if (th.getBoundingClientRect().width === 0) return;  // hidden (a phone's card layout, a closed box)
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      const re = /[^\s\-\u2010-\u2014\/]+/g; let m;  // a break at a hyphen, a dash or a slash is a line break between words
      while ((m = re.exec(node.textContent))) {
        const r = document.createRange();
        r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
        const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
        if (tops.size > 1) out.push(`${m[0]} (in "${th.textContent.trim().slice(0, 40)}")`);
      }
    }
  });
  return out;
}"""

# A formula written in plain text (code included) in a verdict box or a table, whose cell,
# list item or paragraph has no typeset math beside it.
ASCII_FORMULA_PROBE = r"""() => {
  const out = [];
  const scopes = [...document.querySelectorAll('article .admonition, article table')].filter(el =>
    el.tagName === 'TABLE' || /^Verdict/.test((el.querySelector('.admonition-title') || {}).textContent || ''));
  const formula = /(>=|<=|!=|\(\+\)|\^T\b|_\{|\|\||sqrt\(|\b[A-Z]_?\d\s*(\(\+\)|\^)|\b(H|I)_(alpha|\d)\()/;
  scopes.forEach(scope => {
    const walker = document.createTreeWalker(scope, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      if (node.parentElement.closest('.katex, .arithmatex, .highlight, pre, script, style')) continue;
      const m = node.textContent.match(formula);
      if (!m) continue;
      const home = node.parentElement.closest('td, th, li, p') || scope;
      if (home.querySelector('.katex')) continue;   // its typeset form stands beside it
      out.push(node.textContent.slice(Math.max(0, m.index - 30), m.index + 30).trim());
    }
  });
  return out;
}"""

# The first block after an experiment page's heading must be its Result box.
RESULT_FIRST_PROBE = r"""() => {
  const root = document.querySelector('article') || document.body;
  const blocks = [...root.querySelectorAll('h1, h2, h3, p, table, img, details, ul, ol, pre, .admonition')]
    .filter(el => el.matches('.admonition') || !el.closest('.admonition'))
    .filter(el => !el.closest('.md-source-file, .headerlink') && el.getBoundingClientRect().height > 0);
  const h1 = blocks.findIndex(el => el.tagName === 'H1');
  const next = blocks[h1 + 1];
  if (h1 < 0 || !next) return 'no heading, or nothing after it';
  const title = (next.querySelector && next.querySelector('.admonition-title') || {}).textContent || '';
  return next.matches('.admonition') && /^\s*Result\s*$/.test(title) ? null
    : `first element after the heading: <${next.tagName.toLowerCase()}> ${next.textContent.trim().slice(0, 60)}`;
}"""

FINDINGS_PROBE = r"""() => {
  const box = [...document.querySelectorAll('article .admonition')].find(el =>
    /What we found/.test((el.querySelector('.admonition-title') || {}).textContent || ''));
  if (!box) return 'no "What we found" box';
  const r = box.getBoundingClientRect();
  const bullets = box.querySelectorAll(':scope > ul > li').length;
  if (bullets < 1 || bullets > 6) return `${bullets} bullets (1 to 6 expected)`;
  if (r.top + window.scrollY > window.innerHeight - 120)
    return `starts at ${Math.round(r.top + window.scrollY)} px, below the first screen (${window.innerHeight} px)`;
  const unlinked = [...box.querySelectorAll(':scope > ul > li')].filter(li => !li.querySelector('a[href]')).length;
  return unlinked ? `${unlinked} bullet(s) without a link to their evidence` : null;
}"""

# Raw LaTeX a search preview would show as it is.
SEARCH_LATEX = re.compile(r"\\[A-Za-z]{2,}|\\[()\[\]]|\$[^$\s][^$]*\$")

LINKS_PROBE = r"""() => [...document.querySelectorAll('a[href]')].map(a => a.href)"""
IDS_PROBE = r"""() => [...document.querySelectorAll('[id]')].map(e => e.id)"""
SEARCH_READY = r"""() => { const m = document.querySelector('.md-search-result__meta');
  return !m || !/Initializing/i.test(m.textContent); }"""
PLAIN_FORMULA_SCOPE = ("theory/", "errata/", "verification/")   # pages where a plain-text formula fails
WIDTHS = {"desktop": (1280, 900), "mobile": (390, 844)}
# the words of every verdict badge on a page
BADGE_PROBE = r"""() => [...document.querySelectorAll('.mmae-badge')].map(el => el.textContent.trim())"""

# (file name, page path or statement name) of the screenshots
SCREENSHOTS = (("home", ""), ("theorem-4-3", "Theorem 4.3"), ("proposition-4-7", "Proposition 4.7"),
               ("errata", "errata/"), ("table-1", "experiments/table-1/"), ("figure-4", "experiments/figure-4/"),
               ("verification", "verification/"), ("experiments", "experiments/"))


def _theory():
    spec = importlib.util.spec_from_file_location("mmae_docs_theory", ROOT / "docs" / "theory.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def site_pages(site: Path) -> list[str]:
    """URL paths of every page: every index.html (directory URLs) plus the 404 page."""
    pages = sorted(p.parent.relative_to(site).as_posix() for p in site.rglob("index.html"))
    return ["" if p == "." else p + "/" for p in pages] + ["404.html"]


def expected_statements() -> dict[str, str]:
    """URL path of the page of every statement in proofs/ and of every appendix twin."""
    T = _theory()
    out = {}
    for st in T.scan_proofs(ROOT):
        out[st.name] = f"theory/{st.slug}/"
        for twin in st.twins:
            out[twin] = f"theory/{T.name_slug(twin)}/"
    return out


class Links:
    """Local link targets: does a page exist, and does it have an anchor (ids read from the HTML
    file; anchors that scripts add are looked up in the live page when it is the current one)."""

    def __init__(self, site: Path, base: str):
        self.site, self.base, self.ids = site, base, {}

    def file(self, path: str) -> Path | None:
        rel = unquote(path).lstrip("/")
        f = self.site / rel
        if rel == "" or rel.endswith("/"):
            f = f / "index.html"
        return f if f.is_file() else None

    def anchors(self, f: Path) -> set:
        if f not in self.ids:
            self.ids[f] = set(re.findall(r'\sid="([^"]+)"', f.read_text(errors="replace")))
        return self.ids[f]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", default=str(ROOT / "site"), help="the built site (default site/)")
    ap.add_argument("--screenshots", default=str(ROOT / "build" / "screenshots"))
    ap.add_argument("--chromium", default=CHROMIUM)
    args = ap.parse_args(argv)
    site, shots = Path(args.site), Path(args.screenshots)
    if not (site / "index.html").is_file():
        print(f"no built site at {site}: run `mkdocs build --strict` first", file=sys.stderr)
        return 2
    if not Path(args.chromium).is_file():
        print(f"no Chromium at {args.chromium} (Debian: apt-get install -y chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    T = _theory()
    shots.mkdir(parents=True, exist_ok=True)
    server, base = serve(site)
    pages = site_pages(site)
    statements = expected_statements()
    with_math = {f"theory/{st.slug}/" for st in T.scan_proofs(ROOT)}  # not the twins' pointer pages
    known_badges = set(T.VERDICT_ICON) | {"not checked yet"}  # docs/hooks.py's headline, before a check exists
    links = Links(site, base)
    failures: list[str] = []
    failed_units: set[str] = set()  # a page, a statement, a screenshot or the search

    def fail(unit: str, message: str) -> None:
        failed_units.add(unit)
        failures.append(message)
    events: dict[str, list] = {"console": [], "external": [], "failed": [], "pageerror": []}

    def on_request(req):
        u = urlparse(req.url)
        if u.scheme in ("data", "blob", "about"):
            return
        if u.hostname not in LOCAL_HOSTS:
            events["external"].append(req.url)

    def on_response(resp):
        if resp.status >= 400:
            events["failed"].append(f"{resp.status} {resp.url}")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and events["console"].append(m.text))
        page.on("pageerror", lambda e: events["pageerror"].append(str(e)))
        page.on("request", on_request)
        page.on("response", on_response)
        page.on("requestfailed", lambda r: events["failed"].append(f"{r.failure} {r.url}"))

        for path in pages:
            for v in events.values():
                v.clear()
            problems = []
            page.set_viewport_size({"width": WIDTHS["desktop"][0], "height": WIDTHS["desktop"][1]})
            try:
                resp = page.goto(base + path, wait_until="load", timeout=30_000)
                page.wait_for_load_state("networkidle", timeout=15_000)
            except Exception as e:  # noqa: BLE001 - any navigation error is a failure of this page
                fail(path, f"{path or '/'}: does not load: {e}")
                continue
            expect_status = 404 if path == "404.html" else 200
            if resp is None or (resp.status != 200 and path != "404.html"):
                problems.append(f"HTTP {resp.status if resp else 'no response'} (expected {expect_status})")
            math = page.evaluate(MATH_PROBE)
            if math["pending"]:
                problems.append(f"{len(math['pending'])} math elements not typeset, e.g. {math['pending'][0]!r}")
            if math["errors"]:
                problems.append(f"KaTeX errors: {math['errors'][:3]}")
            if math["raw"]:
                problems.append(f"{len(math['raw'])} pieces of math source left untypeset, e.g. {math['raw'][0]!r}")
            if path.startswith(PLAIN_FORMULA_SCOPE):
                if math["plain"]:
                    problems.append(f"{len(math['plain'])} plain-text formulas outside code, e.g. {math['plain'][:3]}")
                if path in with_math and not math["katex"]:
                    problems.append("a statement's page without typeset math")
            if path.startswith(PLAIN_FORMULA_SCOPE):
                ascii_formulas = page.evaluate(ASCII_FORMULA_PROBE)
                if ascii_formulas:
                    problems.append(f"{len(ascii_formulas)} plain-text formula(s) in verdict boxes or tables without "
                                    f"their typeset form, e.g. {ascii_formulas[:3]}")
            unknown = sorted({w for w in page.evaluate(BADGE_PROBE) if w not in known_badges})
            if unknown:
                problems.append(f"verdict badge(s) with words that are no verdict of the site: {unknown[:4]}")
            if path.startswith("experiments/") and path != "experiments/":
                if not page.query_selector(".jupyter-wrapper"):
                    problems.append("experiment page without a rendered notebook")
                first = page.evaluate(RESULT_FIRST_PROBE)
                if first:
                    problems.append(f"does not open with its Result box: {first}")
            try:
                page.wait_for_function(SEARCH_READY, timeout=15_000)
            except Exception:  # noqa: BLE001 - not ready within the timeout is the failure
                problems.append("search does not finish initialising")
            # links and anchors
            here = urlparse(page.url)
            ids = set(page.evaluate(IDS_PROBE))
            bad = set()
            for href in page.evaluate(LINKS_PROBE):
                u = urlparse(href)
                if u.scheme not in ("http", "https") or u.hostname not in LOCAL_HOSTS:
                    continue
                if u.path == here.path:
                    # code annotations (#__code_N_annotation_M) open as tooltips, not as anchors
                    if u.fragment and unquote(u.fragment) not in ids and not u.fragment.startswith("__code_"):
                        bad.add(f"#{u.fragment}")
                    continue
                f = links.file(u.path)
                if f is None:
                    bad.add(u.path)
                elif u.fragment and f.suffix == ".html" and unquote(u.fragment) not in links.anchors(f):
                    bad.add(f"{u.path}#{u.fragment}")
            if bad:
                problems.append(f"{len(bad)} broken local link(s): {sorted(bad)[:4]}")
            for width_name, (w, h) in WIDTHS.items():
                page.set_viewport_size({"width": w, "height": h})
                page.wait_for_timeout(50)
                clipped = page.evaluate(CLIP_PROBE)
                if clipped:
                    problems.append(f"{len(clipped)} clipped display(s)/table(s) at {w} px, e.g. {clipped[:2]}")
                broken = page.evaluate(HEADER_PROBE)
                if broken:
                    problems.append(f"{len(broken)} table header word(s) broken mid-word at {w} px, e.g. {broken[:3]}")
                if path == "":
                    page.evaluate("window.scrollTo(0, 0)")
                    found = page.evaluate(FINDINGS_PROBE)
                    if found:
                        problems.append(f"home page at {w} px: {found}")
            for key, label in (("console", "console error"), ("pageerror", "script error"),
                               ("external", "external request"), ("failed", "failed request")):
                # the 404 page's own document is the one expected failure
                items = [x for x in events[key] if not (path == "404.html" and x.endswith("/404.html"))]
                if items:
                    problems.append(f"{len(items)} {label}(s): {items[:3]}")
            for p in problems:
                fail(path, f"{path or '/'}: {p}")

        # Every statement has its page, headed with its name, showing its verdict.
        page.set_viewport_size({"width": WIDTHS["desktop"][0], "height": WIDTHS["desktop"][1]})
        for name, path in statements.items():
            if path not in pages:
                fail(name, f"{name}: no page at {path}")
                continue
            page.goto(base + path, wait_until="load")
            titles = [t.strip() for t in page.locator(".admonition-title").all_inner_texts()]
            verdicts = [t for t in titles if t.startswith("Verdict: ")]
            if not verdicts or verdicts[0][len("Verdict: "):] not in VERDICTS:
                fail(name, f"{name}: page {path} shows no verdict (admonitions: {titles[:4]})")
            heading = page.locator("h1").first.inner_text()
            if T.display_name(name) not in heading:
                fail(name, f"{name}: page {path} is headed {heading!r}")

        # The search index is built and served locally: a query finds pages.
        page.goto(base, wait_until="networkidle")
        page.keyboard.press("s")
        page.keyboard.type("total coding rate", delay=20)
        try:
            page.wait_for_selector(".md-search-result__item", timeout=15_000)
        except Exception:  # noqa: BLE001 - no result within the timeout is the failure
            fail("search", "search: 'total coding rate' finds nothing")

        # Search previews show the index's text: no raw LaTeX there, and accents fold.
        index_file = site / "search" / "search_index.json"
        if index_file.is_file():
            import json
            prose = lambda t: re.sub(r"<pre>.*?</pre>|<code>.*?</code>", " ", t, flags=re.S)  # code is shown as code
            raw = [(d.get("location", ""), m.group(0)) for d in json.loads(index_file.read_text()).get("docs", [])
                   for m in [SEARCH_LATEX.search(prose(d.get("title", "") + " " + d.get("text", "")))] if m]
            if raw:
                fail("search", f"search: {len(raw)} index entries with raw LaTeX, e.g. {raw[:3]}")
        page.goto(base, wait_until="networkidle")
        page.keyboard.press("s")
        page.keyboard.type("Renyi", delay=20)
        try:
            page.wait_for_selector(".md-search-result__item", timeout=15_000)
            texts = " ".join(page.locator(".md-search-result__item").all_inner_texts())
            if "Rényi" not in texts:
                fail("search", "search: 'Renyi' does not find 'Rényi'")
            if SEARCH_LATEX.search(texts):
                fail("search", f"search: raw LaTeX in the previews: {SEARCH_LATEX.search(texts).group(0)!r}")
        except Exception:  # noqa: BLE001 - no result within the timeout is the failure
            fail("search", "search: 'Renyi' finds nothing")

        for name, target in SCREENSHOTS:
            path = statements.get(target, target)
            if path not in pages:
                fail("screenshot " + name, f"screenshot {name}: no page {path!r}")
                continue
            for width_name, (w, h) in WIDTHS.items():
                page.set_viewport_size({"width": w, "height": h})
                page.goto(base + path, wait_until="networkidle")
                page.wait_for_timeout(100)
                figure = page.query_selector(".mmae-figure")
                if name == "proposition-4-7":
                    if figure is None:
                        fail("screenshot " + name, "screenshot proposition-4-7: no interactive figure on the page")
                        continue
                    # scroll down only: scrolling up brings Material's "back to top" button
                    page.evaluate("el => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 64)", figure)
                    page.wait_for_timeout(100)
                out = shots / f"{name}-{width_name}.png"
                page.screenshot(path=str(out), full_page=False)
                print(f"screenshot: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} ({base}{path})")
        browser.close()
    server.shutdown()

    for f in failures:
        print("FAIL", f)
    total = len(pages) + len(statements) + 1 + len(SCREENSHOTS)
    print(f"browser test: {len(pages)} pages at {len(WIDTHS)} widths, {len(statements)} statement pages, "
          f"search, {len(SCREENSHOTS) * len(WIDTHS)} screenshots")
    print(f"{total - len(failed_units)} passed, {len(failed_units)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
