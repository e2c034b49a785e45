"""Print the proofs report: ``python -m proofs.report [PATH]``.

One row per statement: for each check kind the passed/total count, then the verdict and the
smallest slack seen over all checks (negative only where a counterexample was asserted).  Then one
row per inequality searched for its worst case: the measured tightness (the largest share of its
allowance found; 1 = sharp), the supremum of the share where the statement's file proves (or
conjectures) it, the closest configuration and, after ``pytest proofs --power``, whether the check
refuted the variant with the constant moved just past that supremum (else past the tightness).
Exit status 1 when a check failed, 2 when the report cannot be read.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

KINDS = ("symbolic", "high-precision", "randomized")  # the kinds of check; proofs/conftest.py and docs/theory.py read them here
DEFAULT = Path(__file__).resolve().parent.parent / "build" / "proofs" / "report.json"


def _cell(c: dict | None) -> str:
    if not c:
        return "-"
    total = c["passed"] + c["failed"]
    return f"{c['passed']}/{total}" + (f" FAIL {c['failed']}" if c["failed"] else "")


def _slack_text(e: dict) -> str:
    best = None
    for c in e["checks"].values():
        if c.get("min_slack_text") is None:
            continue
        v = float(c["min_slack_text"]) if c["min_slack"] is None else c["min_slack"]
        if best is None or v < best[0]:
            best = (v, c["min_slack_text"])
    if best is None:
        return "-"
    v, text = best
    if v == 0.0 and text.strip("0.-+e") != "":  # an mpf below float range: show its digits
        return text[:10]
    return f"{v:.3g}"


def format_table(report: dict) -> str:
    head = ["statement", *KINDS, "verdict", "min slack"]
    rows = [head]
    for e in report["statements"]:
        rows.append([e["statement"], *(_cell(e["checks"].get(k)) for k in KINDS),
                     e["verdict"], _slack_text(e)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    line = lambda r: "  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip()
    out = [line(head), line(["-" * w for w in widths]), *map(line, rows[1:])]
    twins = report.get("twins") or {}
    if twins:
        out += ["", "appendix twins: " + ", ".join(f"{t} -> {m}" for t, m in twins.items())]
    for e in report["statements"]:
        for ce in e.get("counterexamples", []):
            data = ", ".join(f"{k}={v}" for k, v in ce["data"].items())
            out.append(f"counterexample to {e['statement']}" + (f" ({ce['what']})" if ce["what"] else "")
                       + f": {data}")
        if e.get("corrected"):
            out.append(f"corrected {e['statement']}: {e['corrected']}")
        if e.get("condition"):
            out.append(f"condition for {e['statement']}: {e['condition']}")
        for p in e.get("problems", []):
            out.append(f"problem in {e['statement']}: {p}")
        for t in e.get("failed_tests", []):
            out.append(f"FAILED {t}")
    out += tightness_table(report)
    out.append(f"\nhypothesis profile: {report.get('hypothesis_profile')}, generated {report.get('generated')}")
    return "\n".join(out)


def _closest(w: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in w.items() if k != "vector")


def tightness_table(report: dict) -> list[str]:
    rows = [(t["bound"], t["tightness_text"][:10],
             "-" if t.get("sup") is None else f"{t['sup']:g} ({t['sup_status']})",
             "-" if not t.get("power") else ("refuted" if t["power"]["refuted"] else "NOT refuted")
             + f" at {t['power']['scale']:.4g}", _closest(t["closest"]))
            for e in report["statements"] for t in e.get("tightness", [])]
    rows += [(f"{t['bound']}: {m['variant']}", f"{m['found']:.4g}", "-", "refuted" if m["refuted"] else "NOT refuted",
              _closest(m["witness"]))
             for e in report["statements"] for t in e.get("tightness", []) for m in t.get("mutants", [])]
    if not rows:
        return []
    head = ("inequality", "tightness", "supremum", "just-false variant", "closest configuration")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    line = lambda r: "  ".join(x.ljust(w) for x, w in zip(r[:4], widths)) + "  " + r[4]
    return ["", line(head), line(["-" * w for w in widths] + ["-" * 21]), *map(line, rows)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1:
        print("usage: python -m proofs.report [PATH]", file=sys.stderr)
        return 2
    path = Path(argv[0]) if argv else DEFAULT
    try:
        report = json.loads(path.read_text())
        report["statements"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"cannot read proofs report {path}: {e} (run `pytest proofs` first)", file=sys.stderr)
        return 2
    print(format_table(report))
    return 1 if any(e["verdict"] == "check failed" for e in report["statements"]) else 0


if __name__ == "__main__":
    sys.exit(main())
