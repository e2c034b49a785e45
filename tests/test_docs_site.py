"""The generators of the documentation site's Theory, Verification and Errata pages (docs/theory.py)
and of the experiments' claims table and the home page's findings (docs/hooks.py).

These run without MkDocs: the full build and the browser test are ``bash docs/ci.sh``.
"""
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(name="theory"):
    """A module of docs/ (docs/theory.py, docs/hooks.py), loaded from its file."""
    spec = importlib.util.spec_from_file_location(f"mmae_docs_{name}", ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


T = _load()

PROOF = '''r"""Theorem 9.9 (twin: Theorem A.99): a made-up bound.

**Statement.** For $x \\ge 0$, `f(x) < g(x)` and

$$
\\log(1+x) \\le x + 0,
$$

which Lemma 4.2 implies; see also $\\text{Lemma 4.2}$.
"""
import not_a_module_that_exists  # the page generator must never import a proofs file

STATEMENT = "Theorem 9.9"
TITLE = "made-up bound"
TWINS = ("Theorem A.99",)
VERDICT = "holds under a condition"
CONDITION = r"$x \\ge 0$ and $\\mu > 0$"
CORRECTED = None


def test_it(slack):
    slack(0.5)
'''


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "proofs").mkdir()
    (tmp_path / "proofs" / "test_theorem_9_9.py").write_text(PROOF)
    return tmp_path


def test_paper_order_is_the_sort_order():
    names = list(T.PAPER_STATEMENTS)
    assert sorted(reversed(names), key=T.statement_key) == names
    # appendix twins sit in Appendix A, before A.12; remarks and conventions follow their statement
    assert sorted(["Lemma A.12", "Proposition A.1", "Theorem 4.17", "Remark 4.17", "Eq. (5)", "Definition 3.3"],
                  key=T.statement_key) == ["Definition 3.3", "Eq. (5)", "Theorem 4.17", "Remark 4.17",
                                           "Proposition A.1", "Lemma A.12"]
    assert [T.statement_section(n) for n in ("Definition 3.1", "Eq. (5)", "Lemma A.12", "ER bound")] == ["3", "4", "A", None]


def test_markdown_docstrings_link_statements_outside_math_and_code():
    link = lambda n: "lemma.md" if n == "Lemma 4.2" else None
    md = T.markdown_doc("By Lemma 4.2, not $\\text{Lemma 4.2}$, `Lemma 4.2` or\n\n$$\n\\text{Lemma 4.2}\n$$\n", link)
    assert md.startswith("By [Lemma 4.2](lemma.md), not $\\text{Lemma 4.2}$, `Lemma 4.2` or")
    assert "$$\n\\text{Lemma 4.2}\n$$" in md


def test_display_names_and_our_additions():
    assert T.display_name("Remark 4.17") == "Remark after Theorem 4.17"
    assert T.display_name("Convention 5.2") == "Convention for Theorem 5.2"
    assert T.display_name("Theorem 4.3") == "Theorem 4.3"
    assert [T.is_ours(n) for n in ("Convention 5.2", "ER bound", "Remark 4.17", "Theorem 4.3")] == [True, True, False, False]


def test_statement_page_includes_the_check_by_line_range(repo):
    st, = T.scan_proofs(repo)
    assert (st.name, st.title, st.twins, st.verdict, st.slug) == (
        "Theorem 9.9", "made-up bound", ("Theorem A.99",), "holds under a condition", "theorem-9-9")
    lines = PROOF.splitlines()
    assert lines[st.code_start - 2].endswith('"""') and lines[st.code_start - 1].startswith("import not_a_module")
    entry = {"statement": "Theorem 9.9", "verdict": "holds under a condition", "condition": st.condition,
             "checks": {"randomized": {"passed": 3, "failed": 0, "min_slack": 0.5, "min_slack_text": "0.5",
                                       "min_slack_what": "gap"}}, "counterexamples": []}
    page = T.statement_page(st, entry, link=lambda n: {"Lemma 4.2": "theory/lemma-4-2.md"}.get(n))
    assert f'--8<-- "proofs/test_theorem_9_9.py:{st.code_start}:{len(lines)}"' in page
    assert "def test_it" not in page                        # the code is included at build time, not copied
    assert '!!! warning "Verdict: holds under a condition"' in page
    assert "**Condition.** $x \\ge 0$ and $\\mu > 0$" in page
    assert "| randomized | :material-check: 3/3 | 0.5 (gap) |" in page
    assert "[Lemma 4.2](../theory/lemma-4-2.md)" in page
    assert "[Theorem A.99](../theory/theorem-a-99.md)" in page
    assert "\n# Theorem 9.9: made-up bound\n" in page and "a made-up bound." not in page  # summary line = heading
    assert "**Statement.** For $x \\ge 0$" in page


def test_failed_check_is_shown_as_such(repo):
    st, = T.scan_proofs(repo)
    entry = {"statement": st.name, "verdict": "check failed", "checks": {}, "failed_tests": ["proofs/t.py::x"]}
    page = T.statement_page(st, entry)
    assert '!!! failure "Verdict: check failed"' in page and "Failed: `proofs/t.py::x`" in page
    assert "declares **holds under a condition**" in page


def test_verification_page_rows_come_from_the_report(repo):
    sts = T.scan_proofs(repo)
    report = {"generated": "G", "hypothesis_profile": "ci", "twins": {"Theorem A.99": "Theorem 9.9"}, "statements": [
        {"statement": "Theorem 9.9", "verdict": "holds", "checks": {
            "symbolic": {"passed": 2, "failed": 0, "min_slack": 0.0, "min_slack_text": "0"},
            "high-precision": {"passed": 1, "failed": 0, "min_slack": 0.0, "min_slack_text": "1.5e-400"}}},
        {"statement": "Lemma 8.1", "verdict": "false as printed", "checks": {
            "randomized": {"passed": 1, "failed": 1, "min_slack": -0.25, "min_slack_text": "-0.25"}}},
    ]}
    md = T.verification_page(sts, report, "test", link=lambda n: {"Theorem 9.9": "theory/theorem-9-9.md"}.get(n))
    rows = [r for r in md.splitlines() if r.startswith("| [") or r.startswith("| Lemma")]
    assert rows == [  # in the paper's numbering: 8.1 before 9.9
        f"| Lemma 8.1 | – | – | :material-close: 1/2 | {T.verdict_badge('false as printed')} | -0.25 |",
        "| [Theorem 9.9](theory/theorem-9-9.md) | :material-check: 2/2 | :material-check: 1/1 | – "
        f"| {T.verdict_badge('holds')} | 0 |",
    ]
    # an mpf slack below double range keeps its digits instead of printing 0
    assert T.slack_text(report["statements"][0]["checks"]["high-precision"]) == "1.5e-400"
    assert "| Theorem A.99 | [Theorem 9.9](theory/theorem-9-9.md) |" in md
    assert "Not yet checked" in md and "Definition 3.1" in md


def test_equation_spellings_are_one_statement():
    assert {T.canonical_name(n) for n in ("Equation 5", "Eq. (5)", "Eqn. 5", "eq 5")} == {"Eq. (5)"}
    assert T.canonical_name("Theorem 4.17") == "Theorem 4.17"


def test_errata_plain_text_lists_become_markdown_lists():
    md = T.errata_page("### Proposition 4.7 -- false\nFails:\n- alpha = 2: x\n  more\n- alpha = inf\n"
                       "Corrected: y\nEvidence: `t`\n", link=lambda n: None)
    assert "Fails:\n\n- alpha = 2: x\n  more\n- alpha = inf\n\nCorrected: y\n\nEvidence: `t`\n" in md


def test_errata_links_statements_and_test_files():
    md = T.errata_page("# Errata\n\n## Theorem 4.17\n\nSee [the test](test_theorem_4_17.py::test_x) and "
                       "Lemma 4.2; `Lemma 4.2` in code stays.\n", link=lambda n: f"theory/{T.name_slug(n)}.md")
    assert "## Theorem 4.17\n" in md                                   # headings untouched
    assert "[the test](theory/theorem-4-17.md)" in md
    assert "and [Lemma 4.2](theory/lemma-4-2.md);" in md and "`Lemma 4.2` in code" in md


def test_every_proofs_file_renders_without_leftover_rest():
    statements = T.scan_proofs(ROOT)
    if not statements:
        pytest.skip("no proofs/test_*.py in this checkout")
    names = [st.name for st in statements]
    assert len(set(names)) == len(names), "two proofs files declare the same STATEMENT"
    for st in statements:
        assert not st.problems, st.problems
        page = T.statement_page(st, None, link=lambda n: None)
        text = re.sub(r"```` .*?````", "", page, flags=re.S)
        assert ":math:`" not in text and ".. math::" not in text, st.rel
        assert not re.search(r">=|<=|!=|\^|_|\$", st.title), f"{st.rel}: TITLE is a name, not a formula"
        assert text.count("$$") % 2 == 0, st.rel


# ----------------------------------------------------------------------------- claims (docs/hooks.py)
# Regenerated from a fixture of results files: one row per claim, scale, pretraining length and
# set of runs.

def _hooks():
    pytest.importorskip("mkdocs")
    return _load("hooks")


VIT = {"embed_dim": 32, "depth": 3, "heads": 2, "patch_size": 2, "probed_feature": "CLS token"}


def _verdict(claim, scale, verdict, t):
    return {"claim": claim, "scale": scale, "verdict": verdict, "statistic": t, "p_value": 0.5, "n": 3,
            "test": "paired t"}


def _write(root, scale, folder, target, models, epochs, verdicts, patch=2):
    d = root / "results" / scale / folder
    d.mkdir(parents=True)
    report = {"target": target, "scale": scale, "verdicts": verdicts,
              "setup": {"scale": scale, "datasets": ["digits" if scale == "mini" else "fashion-mnist"],
                        "models": {m: dict(VIT, patch_size=patch) for m in models},
                        "schedule": {"pretrain": {"epochs": epochs, "batch_size": 128}}, "seeds": [0, 1, 2]}}
    (d / f"{target}.json").write_text(json.dumps(report))


@pytest.fixture
def results(tmp_path):
    (tmp_path / "mmae").mkdir()
    (tmp_path / "mmae" / "paper_results.json").write_text(json.dumps(
        {"table1": {"caption": "Table 1"}, "table2": {"caption": "M-MAE across mu"}, "note": "x"}))
    probe = "Linear probing top-1, {}: M-MAE > U-MAE"
    # Table 1 at 15 and at 300 epochs of pretraining: two pieces of evidence per claim
    _write(tmp_path, "mini", "table1", "table1", ["mini-b", "mini-l"], 15,
           [_verdict(probe.format("mini-b"), "mini", "inconclusive at this scale", -0.76),
            _verdict(probe.format("mini-l"), "mini", "inconclusive at this scale", 0.30)])
    _write(tmp_path, "mini", "table1-ep300", "table1", ["mini-b", "mini-l"], 300,
           [_verdict(probe.format("mini-b"), "mini", "does not reproduce", -6.00),
            _verdict(probe.format("mini-l"), "mini", "inconclusive at this scale", 1.0)])
    # Table 3 reads Table 1's mini-b runs: the same evidence, not a second row
    _write(tmp_path, "mini", "table3", "table3", ["mini-b"], 15,
           [_verdict("Linear probing top-1: M-MAE > U-MAE", "mini", "inconclusive at this scale", -0.76)])
    # a mechanism claim on Table 3's pretraining runs
    _write(tmp_path, "mini", "figure4", "figure4", ["mini-b"], 15,
           [_verdict("final effective rank: M-MAE > U-MAE", "mini", "reproduces", 5.0)])
    # the small scale runs a model also called mini-b, on other data
    _write(tmp_path, "small", "table1", "table1", ["mini-b"], 20,
           [_verdict(probe.format("mini-b"), "small", "inconclusive at this scale", 0.1)], patch=7)
    return tmp_path


def test_rows_are_keyed_by_claim_scale_length_and_runs(results):
    H = _hooks()
    rows = H.claim_rows(results)
    key = lambda r: (r["scale"], r.get("epochs"), r["what"], r["setting"])
    assert len({key(r) for r in rows}) == len(rows)
    probe = [r for r in rows if r["what"] == "Linear probing top-1: M-MAE > U-MAE"]
    mini15 = [r for r in probe if r["scale"] == "mini" and r["epochs"] == 15]
    mini300 = [r for r in probe if r["scale"] == "mini" and r["epochs"] == 300]
    # 300 epochs do not replace the 15-epoch verdicts
    assert len(mini15) == 2 and len(mini300) == 2
    assert {r["verdict"] for r in mini15} == {"inconclusive"}
    assert sorted(r["verdict"] for r in mini300) == ["inconclusive", "not reproduced"]
    # Table 3's claim is Table 1's mini-b evidence: one row that names both pages
    shared = [r for r in mini15 if "Table 3" in r["targets"]]
    assert len(shared) == 1 and shared[0]["targets"] == ["Table 1", "Table 3"]
    assert "ViT-Base stand-in" in shared[0]["setting"]
    # the small scale's row is labelled by its scale and data, not by the mini model's name
    small, = [r for r in probe if r["scale"] == "small"]
    assert small["setting"].startswith("small: Fashion-MNIST") and "mini" not in small["setting"]
    assert "7x7 patches" in small["setting"] and small["epochs"] == 20
    # accuracy and mechanism claims apart; a target no results file judges is "not tested"
    groups = {r["what"]: r["group"] for r in rows}
    assert groups["final effective rank: M-MAE > U-MAE"] == "mechanism"
    assert groups["Linear probing top-1: M-MAE > U-MAE"] == "accuracy"
    untested, = [r for r in rows if r["group"] == "not tested"]
    assert untested["targets"] == ["Table 2"] and untested["verdict"] == "not tested"
    assert len(rows) == 7  # 5 probe rows, 1 mechanism row, 1 untested target


def test_claims_table_counts_each_piece_of_evidence_once(results):
    md = _hooks().claims_table("experiments/index.md", results)
    assert "**Accuracy claims**" in md and "**Mechanism claims**" in md and "**Not tested**" in md
    accuracy = md.split("**Mechanism claims**")[0]
    assert "5 rows, 4 inconclusive, 1 not reproduced." in accuracy
    assert accuracy.count("| Linear probing top-1: M-MAE > U-MAE") == 5
    assert "[Table 1](../experiments/table-1.ipynb), [Table 3](../experiments/table-3.ipynb)" in accuracy


def test_every_searched_inequality_has_a_latex_form_beside_its_code_form():
    """The pages typeset each inequality from its LaTeX form in proofs/_power.py: one per bound,
    balanced, the same direction as the code form (the first relation of each)."""
    P = pytest.importorskip("proofs._power")
    for key, b in P.BOUNDS.items():
        assert b.tex, f"{key}: no LaTeX form"
        depth = 0
        for ch in re.sub(r"\\[{}]", "", b.tex):
            depth += {"{": 1, "}": -1}.get(ch, 0)
            assert depth >= 0, f"{key}: unbalanced braces in {b.tex!r}"
        assert depth == 0 and "{f}" not in b.tex and "\\\\" not in b.tex, f"{key}: {b.tex!r}"
        code = re.search(r">=|<=", b.text).group(0)
        tex = re.search(r"\\ge\b|\\le\b", b.tex).group(0)
        assert {">=": r"\ge", "<=": r"\le"}[code] == tex, f"{key}: {b.text!r} and {b.tex!r} point different ways"
    md = T.tightness_table({"tightness": [{"bound": "Theorem 4.3 (1)", "inequality": "a >= b",
                                           "inequality_tex": r"a \ge b", "tightness": 0.5,
                                           "closest": {"B": 2, "lam": 1e-4}, "power": None}]})
    assert r"$a \ge b$<br>`a >= b`" in md and "50% of the allowance (0.5)" in md
    assert "just-false variant" not in md          # an empty column is hidden
    assert "$B = 2$" in md and r"$\lambda = 0.0001$" in md
