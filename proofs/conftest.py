"""Bookkeeping for the proofs: the ``check(kind)`` marker, the ``slack`` / ``counterexample`` /
``effort`` / ``tightness`` fixtures, the ``--power`` option and the JSON report written at session end.

Every test module declares STATEMENT, TITLE and VERDICT, and where they apply TWINS (its appendix
restatements, default none), CONDITION (needed by "holds under a condition") and CORRECTED (needed by
"false as printed"), both default None; every
test carries exactly one ``@pytest.mark.check(kind)``.  The report has one entry per
statement; its verdict is the declared VERDICT when every check ran green and
"check failed" otherwise.
"""
from __future__ import annotations

import json
import math
import os
import re
import zlib
from datetime import datetime, timezone
from pathlib import Path

import mpmath
import pytest

from proofs.report import KINDS

VERDICTS = ("holds", "holds under a condition", "false as printed")
EFFORT = {"ci": 1, "dev": 4, "thorough": 50}
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPORT = REPO_ROOT / "build" / "proofs" / "report.json"
METADATA = ("STATEMENT", "TITLE", "VERDICT")  # required; OPTIONAL ones default to their value here
OPTIONAL = {"TWINS": (), "CONDITION": None, "CORRECTED": None}

# Fallback only: the repository's root conftest registers these profiles; a checkout
# without it still runs with the same settings.
try:
    from hypothesis import settings as _hsettings

    try:
        _hsettings.get_profile("ci")
    except Exception:
        _hsettings.register_profile("ci", derandomize=True, max_examples=30, deadline=None)
        _hsettings.register_profile("dev", max_examples=100, deadline=None)
        _hsettings.register_profile("thorough", max_examples=5000, deadline=None)
        _hsettings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass


def pytest_addoption(parser):
    parser.addoption(
        "--proofs-report", action="store", default=None, metavar="PATH",
        help=f"where to write the proofs JSON report (default {DEFAULT_REPORT.relative_to(REPO_ROOT)})",
    )
    parser.addoption(
        "--power", action="store_true", default=False,
        help="power self-test: rerun every worst-case search against the statement with its constant "
             "moved just past the measured tightness, and require the search to refute it",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "check(kind): the kind of check a proofs test performs: " + ", ".join(KINDS))
    config._proofs = {"tests": {}, "modules": {}}


def _module_problems(module) -> list[str]:
    """What is wrong with a test module's metadata (empty when it is well formed)."""
    missing = [k for k in METADATA if not hasattr(module, k)]
    if missing:
        return [f"module {module.__name__} lacks {', '.join(missing)}"]
    twins, condition, corrected = (getattr(module, k, v) for k, v in OPTIONAL.items())
    out = []
    if not isinstance(module.STATEMENT, str) or not module.STATEMENT:
        out.append(f"STATEMENT must be a non-empty string, got {module.STATEMENT!r}")
    if not isinstance(twins, tuple):
        out.append(f"TWINS must be a tuple, got {twins!r}")
    if module.VERDICT not in VERDICTS:
        out.append(f"VERDICT must be one of {VERDICTS}, got {module.VERDICT!r}")
    if module.VERDICT == "holds under a condition" and not condition:
        out.append("VERDICT 'holds under a condition' needs a CONDITION")
    if module.VERDICT == "false as printed" and not corrected:
        out.append("VERDICT 'false as printed' needs a CORRECTED statement")
    if not (module.__doc__ or "").strip():
        out.append(f"module {module.__name__} needs a docstring with the statement and its proof")
    return out


def _in_proofs(item) -> bool:
    return Path(str(item.fspath)).resolve().parent == Path(__file__).resolve().parent


def pytest_collection_modifyitems(session, config, items):
    store = config._proofs
    for item in items:
        if not _in_proofs(item):
            continue
        module = item.module
        problems = list(_module_problems(module))
        marks = list(item.iter_markers(name="check"))
        kind = None
        if len(marks) != 1 or len(marks[0].args) != 1:
            problems.append(f"{item.nodeid} needs exactly one @pytest.mark.check(kind)")
        else:
            kind = marks[0].args[0]
            if kind not in KINDS:
                problems.append(f"check kind must be one of {KINDS}, got {kind!r}")
                kind = None
        statement = getattr(module, "STATEMENT", module.__name__)
        store["modules"].setdefault(statement, module)
        store["tests"][item.nodeid] = {
            "statement": statement, "kind": kind, "problems": problems,
            "outcome": None, "slacks": [], "counterexamples": [], "tightness": [],
        }


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # The fixtures are session-scoped (so that hypothesis @given tests may use them without a
    # health-check exemption); they write to the record of the test that is running now.
    item.config._proofs["current"] = item.nodeid
    rec = item.config._proofs["tests"].get(item.nodeid)
    if rec and rec["problems"]:
        pytest.fail("; ".join(rec["problems"]), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    rec = item.config._proofs["tests"].get(item.nodeid)
    if rec is None:
        return
    if rep.failed:
        rec["outcome"] = "failed"
    elif rep.skipped and rec["outcome"] is None:
        rec["outcome"] = "skipped"
    elif rep.passed and rep.when == "call" and rec["outcome"] is None:
        rec["outcome"] = "passed"


def _record(config):
    nodeid = config._proofs.get("current")
    rec = config._proofs["tests"].get(nodeid)
    if rec is None:
        raise RuntimeError(f"{nodeid} is not a proofs test")
    return rec


@pytest.fixture(scope="session")
def slack(request):
    """``slack(value, what="")``: record the margin by which an inequality held (>= 0) or
    failed (< 0).  ``value`` is a float, an int, an mpmath mpf or a sympy number."""
    config = request.config

    def _slack(value, what=""):
        rec = _record(config)
        text = str(value)
        try:
            f = float(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"slack must be a real number, got {value!r}") from e
        if math.isnan(f):
            raise ValueError(f"slack is NaN ({what or 'unnamed'})")
        rec["slacks"].append({"value": f, "text": text, "what": what})
        return value

    return _slack


@pytest.fixture(scope="session")
def counterexample(request):
    """``counterexample(data, what="")``: record an exact counterexample (values as strings,
    e.g. rationals "3/5") to a statement that is false as printed."""
    config = request.config

    def _counterexample(data, what=""):
        rec = _record(config)
        if not isinstance(data, dict) or not data:
            raise ValueError(f"counterexample data must be a non-empty dict, got {data!r}")
        rec["counterexamples"].append({"what": what, "data": {str(k): str(v) for k, v in data.items()}})
        return data

    return _counterexample


def active_profile() -> str:
    return os.environ.get("HYPOTHESIS_PROFILE", "dev")


@pytest.fixture(scope="session")
def effort():
    """Multiplier for optimiser starts and sample counts: ci 1, dev 4, thorough 50."""
    name = active_profile()
    if name not in EFFORT:
        raise ValueError(f"HYPOTHESIS_PROFILE must be one of {sorted(EFFORT)}, got {name!r}")
    return EFFORT[name]


def _power_row(P, b, T, effort, seed) -> dict:
    """Rerun the search of ``b`` from fresh starts against its statement with the constant scaled to
    ``f = T (1 - POWER_STEP)``, ``T`` the proved supremum of the share (else the measured tightness)."""
    f = T - P.POWER_STEP * abs(T)
    rerun = P.search(b, P.STARTS * effort * b.weight, seed)
    return {"variant": b.text.format(f=_fmt(f, 6)), "scale": float(f), "found": float(rerun.share),
            "found_text": _fmt(rerun.share), "refuted": bool(T > 0 and rerun.share > f),
            "witness": P.witness(b, rerun.p, rerun.x)}


def _fmt(v, digits=12) -> str:
    return mpmath.nstr(v, digits) if isinstance(v, mpmath.mpf) else str(v)


@pytest.fixture(scope="session")
def tightness(request, effort):
    """``tightness(key)``: the worst-case search of the inequality ``proofs._power.BOUNDS[key]``.

    Fails when the best point found breaks the inequality (share > 1, at 60 digits) or when the
    search does not reach the share of the bound's known edge configuration.  Records the measured
    tightness (largest share of the allowance found), the closest configuration and the slack
    allowance - need there.  With ``--power`` it then reruns the search from fresh starts against
    the statement with its constant moved just past the tightness, and fails unless that rerun
    refutes it."""
    from proofs import _power as P

    config = request.config

    def _tightness(key):
        b = P.BOUNDS[key]
        rec = _record(config)
        seed = zlib.crc32(key.encode())
        res = P.search(b, P.STARTS * effort * b.weight, seed)
        T = res.share
        row = {"bound": key, "inequality": b.text.replace("{f} ", ""), "inequality_tex": b.tex,
               "tightness": float(T), "tightness_text": _fmt(T), "starts": res.starts,
               "closest": P.witness(b, res.p, res.x), "power": None}
        rec["tightness"].append(row)
        with mpmath.workdps(P._mp.DPS):
            margin = res.allowance - res.need
            margin = 0 * margin if b.sup is not None and abs(margin) < P.SUP_TOL * abs(res.allowance) else margin
            rec["slacks"].append({"value": float(margin), "text": _fmt(margin, 20),
                                  "what": f"{key}: allowance - need at the closest configuration found"})
        assert T <= 1 + (0 if b.sup is None else P.SUP_TOL), \
            f"{key} fails at {row['closest']}: share {row['tightness_text']} > 1"
        if b.sup is not None:  # a known supremum: the search must come within POWER_STEP of it, never past it
            row["sup"], row["sup_status"] = float(b.sup), "proved" if b.sup_proved else "conjectured"
            assert T <= b.sup + P.SUP_TOL, \
                f"{key}: share {_fmt(T)} above the {row['sup_status']} supremum {_fmt(b.sup)}"
            assert T >= b.sup * (1 - P.POWER_STEP), f"{key}: the search ({_fmt(T)}) stops short of the supremum {_fmt(b.sup)}"
        if b.known is not None:
            known = P.share_mp(b, *b.known)[0]
            assert T >= known - P.SUP_TOL, f"{key}: the search ({_fmt(T)}) misses the known edge share {_fmt(known)}"
        if config.getoption("--power"):
            row["power"] = _power_row(P, b, T if b.sup is None else b.sup, effort, seed + 1)
            assert row["power"]["refuted"], (
                f"{key}: the check does not refute the just-false variant {row['power']['variant']} "
                f"(rerun found share {row['power']['found_text']})")
            for m in P.MUTANTS.get(key, ()):  # false variants of another form: the share must pass 1
                mrow = _power_row(P, m, mpmath.mpf(1) / (1 - P.POWER_STEP), effort, seed + 2)
                row.setdefault("mutants", []).append(mrow)
                assert mrow["refuted"], f"{key}: the check does not refute the false variant {mrow['variant']}"
        return res

    return _tightness


# Equations are numbered globally; place each in the section where it is stated.
EQUATION_SECTION = {"1": "3.2", "2": "3.2", "3": "3.2", "4": "3.2", "5": "4.0", "6": "4.2", "7": "4.2",
                    "8": "4.2", "9": "4.2", "10": "5.0", "11": "5.0"}


def _statement_key(name: str):
    """Paper order: sections 1-9 numerically, then appendix letters, then anything else."""
    if name.startswith("Equation "):
        name = "Equation " + EQUATION_SECTION.get(name.split(" ", 1)[1], name.split(" ", 1)[1])
    m = re.search(r"([0-9A-Z]+)(?:\.(\d+))?", name.split(" ", 1)[-1])
    if not m:
        return (2, "", 0, name)
    sec, num = m.group(1), int(m.group(2) or 0)
    if sec.isdigit():
        return (0, f"{int(sec):04d}", num, name)
    return (1, sec, num, name)


def build_report(store: dict, profile: str, power: bool = False) -> dict:
    entries: dict[str, dict] = {}
    for nodeid, rec in store["tests"].items():
        if rec["outcome"] is None:  # deselected or not run
            continue
        st = rec["statement"]
        module = store["modules"][st]
        e = entries.get(st)
        if e is None:
            e = entries[st] = {
                "statement": st,
                "title": getattr(module, "TITLE", ""),
                "twins": list(getattr(module, "TWINS", ()) or ()),
                "declared_verdict": getattr(module, "VERDICT", None),
                "verdict": None,
                "condition": getattr(module, "CONDITION", None),
                "corrected": getattr(module, "CORRECTED", None),
                "file": Path(str(module.__file__)).name,
                "checks": {},
                "counterexamples": [],
                "problems": [],
                "failed_tests": [],
                "tightness": [],
            }
        kind = rec["kind"] or "unknown"
        c = e["checks"].setdefault(kind, {"passed": 0, "failed": 0, "skipped": 0,
                                          "min_slack": None, "min_slack_text": None,
                                          "min_slack_what": None})
        c[rec["outcome"]] += 1
        if rec["outcome"] == "failed":
            e["failed_tests"].append(nodeid)
        e["problems"].extend(p for p in rec["problems"] if p not in e["problems"])
        for s in rec["slacks"]:
            if c["min_slack"] is None or s["value"] < c["min_slack"]:
                c["min_slack"], c["min_slack_text"], c["min_slack_what"] = s["value"], s["text"], s["what"]
        e["counterexamples"].extend(rec["counterexamples"])
        e["tightness"].extend(rec["tightness"])
    for e in entries.values():
        failed = any(c["failed"] for c in e["checks"].values())
        passed = any(c["passed"] for c in e["checks"].values())
        if e["declared_verdict"] == "false as printed" and not e["counterexamples"] and passed:
            e["problems"].append("declared false as printed but no counterexample was recorded")
        if failed or e["problems"]:
            e["verdict"] = "check failed"
        elif not passed:
            e["verdict"] = "not checked"
        else:
            e["verdict"] = e["declared_verdict"]
        for c in e["checks"].values():  # JSON has no infinities
            if c["min_slack"] is not None and not math.isfinite(c["min_slack"]):
                c["min_slack"] = None
    ordered = sorted(entries.values(), key=lambda e: _statement_key(e["statement"]))
    twins = {t: e["statement"] for e in ordered for t in e["twins"]}
    return {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hypothesis_profile": profile,
        "power": power,
        "kinds": list(KINDS),
        "statements": ordered,
        "twins": twins,
    }


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if hasattr(config, "workerinput"):  # pytest-xdist worker: the controller writes
        return
    store = getattr(config, "_proofs", None)
    if not store or not any(r["outcome"] for r in store["tests"].values()):
        return
    path = Path(config.getoption("--proofs-report", default=None) or DEFAULT_REPORT)
    path.parent.mkdir(parents=True, exist_ok=True)
    report = build_report(store, active_profile(), bool(config.getoption("--power", default=False)))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
