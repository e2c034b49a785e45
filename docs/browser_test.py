"""Browser test of the built site: ``python docs/browser_test.py [--site site]``.

Serves the built site on 127.0.0.1 and loads every page in headless Chromium (Debian's
``chromium`` package, driven by Playwright; no browser is downloaded). For each page it asserts
that the page loads, logs no console error and raises no script error, sends no request to any
host but 127.0.0.1, requests nothing that fails, and that all its math is typeset by KaTeX
(every ``.arithmatex`` element holds rendered KaTeX, no ``.katex-error``, no math delimiters or
reST math left in the prose, notebooks included). Every statement of
``proofs/`` (and every appendix twin) must have its page, showing its verdict. Screenshots of a
theorem page, the Verification page and an experiment page go to ``build/screenshots/``; a search
query must find pages (the index is served locally).

Exit status 0 when every check passed, 1 otherwise.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import importlib.util
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

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
  // math source left in the prose: a delimiter or reST math that nothing typeset
  const raw = [];
  const root = document.querySelector('article') || document.body;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest('pre, code, script, style, .arithmatex, .katex, .highlight, .jp-InputArea, .jp-OutputArea')) continue;
    if (/\$\$|\\\(|\\\[|:math:`|\.\. math::|(^|[^\\$])\$[^$\s][^$]*\$/.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 80));
  }
  return {arithmatex: arith.length, katex: document.querySelectorAll('.katex').length, pending, errors, raw};
}"""


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

    shots.mkdir(parents=True, exist_ok=True)
    server, base = serve(site)
    pages = site_pages(site)
    statements = expected_statements()
    failures: list[str] = []
    failed_units: set[str] = set()  # a page, a statement or a screenshot

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
            if path.startswith("experiments/") and path != "experiments/" and not page.query_selector(".jupyter-wrapper"):
                problems.append("experiment page without a rendered notebook")
            for key, label in (("console", "console error"), ("pageerror", "script error"),
                               ("external", "external request"), ("failed", "failed request")):
                # the 404 page's own document is the one expected failure
                items = [x for x in events[key] if not (path == "404.html" and x.endswith("/404.html"))]
                if items:
                    problems.append(f"{len(items)} {label}(s): {items[:3]}")
            for p in problems:
                fail(path, f"{path or '/'}: {p}")

        # Every statement has its page, and the page shows its verdict.
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
            if name not in heading:
                fail(name, f"{name}: page {path} is headed {heading!r}")

        # The search index is built and served locally: a query finds pages.
        page.goto(base, wait_until="networkidle")
        page.keyboard.press("s")
        page.keyboard.type("total coding rate", delay=20)
        try:
            page.wait_for_selector(".md-search-result__item", timeout=15_000)
        except Exception:  # noqa: BLE001 - no result within the timeout is the failure
            fail("search", "search: 'total coding rate' finds nothing")

        # Screenshots: a theorem page (one with display math), the Verification page, an experiment.
        theorem = next((p for n, p in statements.items() if n == "Theorem 4.17"), None) or next(
            (p for n, p in statements.items() if n.startswith("Theorem")), None)
        experiment = next((p for p in pages if p.startswith("experiments/table-1")), None) or next(
            (p for p in pages if p.startswith("experiments/") and p != "experiments/"), None)
        for name, path in (("theorem", theorem), ("verification", "verification/"), ("experiment", experiment)):
            if path is None or path not in pages:
                fail("screenshot " + name, f"screenshot {name}: no page to take it from")
                continue
            page.goto(base + path, wait_until="networkidle")
            page.set_viewport_size({"width": 1280, "height": 1400})
            out = shots / f"{name}.png"
            page.screenshot(path=str(out), full_page=False)
            print(f"screenshot: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} ({base}{path})")
        browser.close()
    server.shutdown()

    for f in failures:
        print("FAIL", f)
    total = len(pages) + len(statements) + 1 + 3
    print(f"browser test: {len(pages)} pages, {len(statements)} statement pages, search, 3 screenshots")
    print(f"{total - len(failed_units)} passed, {len(failed_units)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
