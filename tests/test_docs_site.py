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
# The trust summary regenerated from a fixture of results files: two pretraining lengths, two targets
# judging the same runs, accuracy and mechanism claims, a summary in the words used before the
# four outcomes, and a target no file judges.

def _hooks():
    pytest.importorskip("mkdocs")
    return _load("hooks")


VIT = {"embed_dim": 32, "depth": 3, "heads": 2, "patch_size": 2, "probed_feature": "CLS token"}
PROBE = "Linear probing top-1, {}: M-MAE > U-MAE"


def _verdict(claim, scale, verdict, kind, per_seed, p_holm=0.5, test="ordering"):
    """A claim's verdict as `mmae.experiments.stats` writes it (the fields the summary reads)."""
    return {"claim": claim, "scale": scale, "verdict": verdict, "kind": kind, "test": test, "n": 3,
            "difference": -1.0, "ci95": [-2.0, 0.5], "statistic": -1.5, "df": 2, "p_two_sided": p_holm / 2,
            "p_holm": p_holm, "p_permutation": 0.25, "per_seed": per_seed, "unit": "points"}


def _seeds(*pairs):
    return {str(s): list(p) for s, p in enumerate(pairs)}


def _write(root, scale, folder, target, models, epochs, verdicts, patch=2, run_epochs=None):
    d = root / "results" / scale / folder
    d.mkdir(parents=True)
    setup = {"scale": scale, "datasets": ["digits" if scale == "mini" else "fashion-mnist"],
             "models": {m: dict(VIT, patch_size=patch) for m in models},
             "schedule": {"pretrain": {"epochs": epochs, "batch_size": 128}}, "seeds": [0, 1, 2]}
    if run_epochs:
        setup["epochs"] = run_epochs   # a run with --epochs, summarised in <target>-epN
    report = {"target": target, "scale": scale, "verdicts": verdicts, "setup": setup}
    (d / f"{target}.json").write_text(json.dumps(report))
    return report


@pytest.fixture
def results(tmp_path):
    (tmp_path / "mmae").mkdir()
    (tmp_path / "mmae" / "paper_results.json").write_text(json.dumps(
        {"table1": {"caption": "Table 1"}, "figure1": {"caption": "Matrix mutual information"}, "note": "x"}))
    b15, l15, b300, l300 = (_seeds((80.0 + k, 81.0), (82.0, 82.5 + k), (79.0, 80.0)) for k in range(4))
    reports = {}
    # Table 1 at 15 and at 300 epochs of pretraining: two pieces of evidence per claim
    reports["t1"] = _write(tmp_path, "mini", "table1", "table1", ["mini-b", "mini-l"], 15, [
        _verdict(PROBE.format("mini-b"), "mini", "inconclusive", "accuracy", b15),
        _verdict(PROBE.format("mini-l"), "mini", "effect smaller than the paper's", "accuracy", l15)])
    reports["t1-300"] = _write(tmp_path, "mini", "table1-ep300", "table1", ["mini-b", "mini-l"], 300, [
        _verdict(PROBE.format("mini-b"), "mini", "contradicted", "accuracy", b300, p_holm=0.04),
        _verdict(PROBE.format("mini-l"), "mini", "reproduced", "accuracy", l300, p_holm=0.01)], run_epochs=300)
    # Table 3 reads Table 1's mini-b runs at both lengths: the same evidence, not a second row; at 300
    # epochs Holm's correction within Table 3's family leaves it undecided
    reports["t3"] = _write(tmp_path, "mini", "table3", "table3", ["mini-b"], 15, [
        _verdict("Linear probing top-1: M-MAE > U-MAE", "mini", "inconclusive", "accuracy", b15)])
    reports["t3-300"] = _write(tmp_path, "mini", "table3-ep300", "table3", ["mini-b"], 300, [
        _verdict("Linear probing top-1: M-MAE > U-MAE", "mini", "inconclusive", "accuracy", b300, p_holm=0.08)],
        run_epochs=300)
    # an accuracy claim whose words name neither top-1 nor accuracy: its kind says what it is
    _write(tmp_path, "mini", "table2", "table2", ["mini-b"], 15, [
        _verdict("M-MAE linear probe: mu = 1 (the paper's optimum) > mu = 0.5", "mini", "inconclusive", "accuracy",
                 _seeds((80.0, 79.0), (81.0, 81.5), (79.0, 79.0)))])
    # mechanism claims on Table 3's pretraining runs, an ordering and a trend over training
    _write(tmp_path, "mini", "figure4", "figure4", ["mini-b"], 15, [
        _verdict("final effective rank: M-MAE > U-MAE", "mini", "reproduced", "mechanism",
                 _seeds((9.0, 7.0), (9.5, 7.2), (8.8, 6.9)), p_holm=0.01),
        _verdict("M-MAE's effective rank rises during pretraining", "mini", "inconclusive", "mechanism",
                 {"0": {"rho": 0.4}, "1": {"rho": -0.1}, "2": {"rho": 0.3}}, test="trend")])
    # a summary written before the four outcomes: no kind, no per-seed values, the old words
    (tmp_path / "results" / "mini" / "figure5").mkdir()
    (tmp_path / "results" / "mini" / "figure5" / "figure5.json").write_text(json.dumps({
        "target": "figure5", "scale": "mini", "setup": {"scale": "mini", "datasets": ["digits"], "models": {},
                                                         "schedule": {"siamese": {"epochs": 30}}, "seeds": [0, 1, 2]},
        "verdicts": [{"claim": "SimCLR: Matrix JS divergence JS(K1 || K2) rises during training", "scale": "mini",
                      "verdict": "reproduces", "statistic": 5.0, "p_value": 0.01, "n": 3, "test": "paired t"}]}))
    # the small scale runs a model also called mini-b, on other data
    _write(tmp_path, "small", "table1", "table1", ["mini-b"], 20, [
        _verdict(PROBE.format("mini-b"), "small", "effect smaller than the paper's", "accuracy",
                 _seeds((73.0, 72.9), (73.1, 73.2), (72.8, 73.0)))], patch=7)
    return tmp_path, reports


def test_the_trust_summary_counts_each_piece_of_evidence_once(results):
    root, reports = results
    H = _hooks()
    from mmae import pages
    rows = H.claim_rows(root)
    acc = [r for r in rows if r["group"] == "accuracy"]
    mech = [r for r in rows if r["group"] == "mechanism"]
    untested = [r for r in rows if r["group"] == "not tested"]
    # 5 Table 1 / Table 3 rows (two lengths x two models at mini, one at small) and Table 2's
    assert len(acc) == 6 and len(mech) == 3 and [r["targets"] for r in untested] == [["Figure 1"]]
    assert "M-MAE linear probe: mu = 1 (the paper's optimum) > mu = 0.5" in {r["what"] for r in acc}
    assert {r["what"] for r in mech} == {"final effective rank: M-MAE > U-MAE",
                                         "M-MAE's effective rank rises during pretraining",
                                         "SimCLR: Matrix JS divergence JS(K1 || K2) rises during training"}
    probe = [r for r in acc if r["what"] == "Linear probing top-1: M-MAE > U-MAE"]
    by = {(r["scale"], r["epochs"], "ViT-Base" in r["setting"] or r["scale"] == "small"): r for r in probe}
    assert len(by) == len(probe) == 5
    # 300 epochs do not replace the 15-epoch verdicts
    assert by["mini", 15, False]["verdict"] == "effect smaller than the paper's"
    assert by["mini", 300, False]["verdict"] == "reproduced"
    # Table 3's claims are Table 1's mini-b evidence: one row at each length, naming and linking both
    shared15, shared300 = by["mini", 15, True], by["mini", 300, True]
    for row, t1, t3 in ((shared15, "t1", "t3"), (shared300, "t1-300", "t3-300")):
        assert row["targets"] == ["Table 1", "Table 3"]
        for (name, anchor), key in zip(row["links"], (t1, t3)):
            v = reports[key]["verdicts"][0]
            assert anchor == pages.verdict_id(reports[key], v) and f'id="{anchor}"' in pages.verdict_lines(reports[key])
    assert len({a for r in probe for _, a in r["links"]}) == 7       # every verdict line its own anchor
    # judged differently by the two families: both outcomes shown, counted as the less decided
    assert shared300["verdicts"] == {"Table 1": "contradicted", "Table 3": "inconclusive"}
    assert shared300["verdict"] == "inconclusive" and shared15["verdict"] == "inconclusive"
    # the small scale's row is labelled by its scale and data, not by the mini model's name
    small = by["small", 20, True]
    assert small["setting"].startswith("small: Fashion-MNIST") and "mini" not in small["setting"]
    assert "7x7 patches" in small["setting"]
    # the summary written before the four outcomes is read in the site's words
    old, = [r for r in mech if r["what"].startswith("SimCLR")]
    assert old["verdict"] == "reproduced" and old["links"] == [("Figure 5", pages.verdict_id(
        json.loads((root / "results/mini/figure5/figure5.json").read_text()), {"claim": old["what"]}))]

    md = H.claims_table("experiments/index.md", root)
    accuracy, mechanism = md.split("**Mechanism claims**")
    assert ("**Accuracy claims** (the paper's orderings of the methods by linear probing, fine-tuning or kNN "
            "accuracy): 6 pieces of evidence: 1 reproduced · 0 contradicted · 2 effect smaller than the paper's "
            "· 3 inconclusive.") in accuracy
    assert "3 pieces of evidence: 2 reproduced · 0 contradicted · 0 effect smaller than the paper's · 1 inconclusive." \
        in mechanism
    assert "**Not tested** (claims no results file judges yet): 1 target." in mechanism
    assert accuracy.count("| Linear probing top-1: M-MAE > U-MAE") == 5
    a1, a3 = (a for _, a in shared300["links"])
    assert f"[Table 1](../experiments/table-1.ipynb#{a1}), [Table 3](../experiments/table-3.ipynb#{a3})" in accuracy
    assert "(Table 1: contradicted; Table 3: inconclusive)" in accuracy
    for word in ("reproduced", "effect smaller than the paper's", "inconclusive"):
        assert T.verdict_badge(word) in accuracy
    assert len({T.verdict_badge(w) for w in pages.OUTCOMES}) == 4 and \
        len({T.VERDICT_TONE[w] for w in pages.OUTCOMES}) == len({T.VERDICT_ICON[w] for w in pages.OUTCOMES}) == 4


def test_the_pages_words_are_the_results_words():
    """`mmae.pages` restates the outcomes of `mmae.experiments.stats` (a page does not import torch)."""
    from mmae import pages
    from mmae.experiments import stats
    assert pages.OUTCOMES == stats.OUTCOMES and pages.CHECKS == stats.CHECKS
    assert set(pages.OUTCOMES) | set(pages.CHECKS) <= set(pages.OUTCOME_STYLE)


def test_the_home_pages_findings_count_the_outcomes(results, monkeypatch):
    root, _ = results
    H = _hooks()
    monkeypatch.setattr(H, "ERRATA_FINDINGS", ())
    monkeypatch.setitem(H._S, "report", {"statements": [{"statement": "Theorem 9.9", "verdict": "holds"}]})
    box = H._findings("index.md", root)
    assert ("**Accuracy claims** (6 pieces of evidence at the mini and small scales): 1 reproduced (at mini "
            "(300 epochs)), 2 with an effect smaller than the paper's, 3 inconclusive, 0 contradicted") in box
    assert "**Mechanism claims** (3 pieces of evidence at the mini and small scales): 2 reproduced (at mini " \
           "(15 epochs), mini (30 epochs)), 0 with an effect smaller than the paper's, 1 inconclusive, " \
           "0 contradicted" in box


def test_prose_numbers_are_read_from_the_results(results):
    """`mmae.pages.value`: the placeholders of the pages' sentences, and a clear error where a
    placeholder finds nothing."""
    root, _ = results
    from mmae import pages
    v = lambda spec: pages.value(spec, "table1", root / "results")  # noqa: E731
    assert v("mini verdict " + PROBE.format("mini-l")) == "effect smaller than the paper's"
    assert v("table3@mini-ep300 verdict Linear probing top-1: M-MAE > U-MAE") == "inconclusive"
    assert v("mini-ep300 verdicts/*/p_holm .2f") == "0.01–0.04"
    assert v("mini-ep300 verdicts/[mini-b]/difference +.1f") == "−1.0"
    assert v("small seeds") == "3"
    text = "p = {{ mini-ep300 verdicts/[mini-l]/p_holm .2f }}; {{mini seeds}} seeds"
    assert pages.fill(text, "table1", root / "results") == "p = 0.01; 3 seeds"
    for bad in ("mini verdict no such claim", "mini-ep15 seeds", "mini verdicts/[mini-x]/p_holm", "mini nothing"):
        with pytest.raises(ValueError, match="placeholder"):
            v(bad)


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
