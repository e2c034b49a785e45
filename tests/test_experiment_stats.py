"""The statistics behind the tables' verdicts, checked against independent computations."""
import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from mmae import experiments as ex
from mmae.experiments import stats

EPS = np.finfo(np.float64).eps


def test_paired_test_is_scipys_paired_t_test():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 9):
        a, b = rng.normal(70, 3, n), rng.normal(69, 3, n)
        r = ex.paired_test(dict(enumerate(a)), dict(enumerate(b)))
        two = sps.ttest_rel(a, b)
        assert r["n"] == n and r["df"] == n - 1 and math.isclose(r["statistic"], two.statistic, rel_tol=64 * EPS)
        assert math.isclose(r["p_two_sided"], two.pvalue, rel_tol=1e-9)   # scipy's t distribution: ~1e-12 relative
        assert math.isclose(r["p_greater"], sps.ttest_rel(a, b, alternative="greater").pvalue, rel_tol=1e-9)
        assert math.isclose(r["p_less"], sps.ttest_rel(a, b, alternative="less").pvalue, rel_tol=1e-9)
        d = a - b
        half = sps.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)
        assert np.allclose(r["ci95"], [d.mean() - half, d.mean() + half], rtol=64 * EPS, atol=64 * EPS * 100)
        assert r["per_seed"] == {str(i): [a[i], b[i]] for i in range(n)}   # the evidence, kept


def test_pairs_are_matched_by_seed_not_by_position():
    better = {0: 80.0, 1: 81.0, 2: 82.0}
    worse = {2: 81.5, 0: 79.0, 7: 0.0}   # seed 7 has no partner
    r = ex.paired_test(better, worse)
    assert r["n"] == 2 and r["difference"] == pytest.approx((1.0 + 0.5) / 2, rel=4 * EPS)


def test_sign_flip_p_by_enumeration_and_against_scipys_permutation_test():
    # all 8 sign patterns of (1, 2, 3): |sums| 6, 4, 2, 0, 0, 2, 4, 6 -> 2 of 8 reach 6, 4 of 8 reach 4
    assert ex.sign_flip_p([1.0, 2.0, 3.0]) == 2 / 8 and ex.sign_flip_p([-1.0, 2.0, 3.0]) == 4 / 8
    assert ex.sign_flip_p([0.1, 0.2]) == 2 / 4 and ex.sign_flip_p([1.0]) is None
    assert ex.sign_flip_p([0.7] * 10) == 2 / 2 ** 10      # the smallest p ten seeds can give
    # |sum| 0.5 is reached by 10 of the 16 patterns in exact arithmetic, several of them ties (e.g. the
    # observed pattern's and (-0.3, 0.1, 0.2, 0.5)) that binary round-off may put an ulp apart
    assert ex.sign_flip_p([0.3, -0.1, -0.2, 0.5]) == 10 / 16
    rng = np.random.default_rng(1)
    d = rng.normal(0.5, 1, 9)
    ref = sps.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf,
                               alternative="two-sided").pvalue
    assert ex.sign_flip_p(d) == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ValueError, match="more than 20"):
        ex.sign_flip_p(np.ones(21))


def test_holm_against_a_direct_transcription():
    ps = [0.01, 0.04, 0.03, 0.005, 0.2]
    # sorted: 0.005 x5 = 0.025, 0.01 x4 = 0.04, 0.03 x3 = 0.09, 0.04 x2 = 0.08 -> 0.09 (monotone), 0.2 x1 -> 0.2
    assert ex.holm(ps) == pytest.approx([0.04, 0.09, 0.09, 0.025, 0.2], rel=4 * EPS)
    assert ex.holm([0.5, 0.6]) == [1.0, 1.0] and ex.holm([]) == []


def test_interval_of_two_seeds_is_the_cauchy_quantile():
    # one degree of freedom: Student's t is the Cauchy distribution, quantile tan(pi (p - 1/2))
    s = stats._stats([70.0, 74.0])
    half = math.tan(math.pi * 0.475) * 4.0 / 2   # t * sd / sqrt(2), sd = |a - b| / sqrt(2)
    assert s["mean"] == 72.0 and s["std"] == pytest.approx(4 / math.sqrt(2), rel=4 * EPS)
    assert s["ci95"] == pytest.approx([72 - half, 72 + half], rel=64 * EPS)
    assert stats._stats([70.0])["ci95"] is None and stats._stats([None, float("nan")])["n"] == 0


def _judged(diffs, paper_effect=None, words=ex.OUTCOMES):
    worse = {s: 50.0 + s for s in range(len(diffs))}
    better = {s: worse[s] + d for s, d in enumerate(diffs)}
    c = ex.ordering("A > B", "mini", better, worse, kind="accuracy", paper_effect=paper_effect)
    return ex.judge([c], words)[0]


@pytest.mark.parametrize("diffs, paper, word", [
    ((2.0, 2.5, 1.8, 2.2), None, "reproduced"),
    ((-2.0, -2.5, -1.8, -2.2), None, "contradicted"),
    ((2.0, -2.5, 1.8, -2.2), None, "inconclusive"),
    ((2.0, -2.5, 1.8, -2.2), 10.0, "effect smaller than the paper's"),   # CI upper end +4.3 < 10
    ((2.0, -2.5, 1.8, -2.2), 3.0, "inconclusive"),                       # the paper's 3 is inside the CI
    ((3.0,), 10.0, "inconclusive"),                   # one seed: no test, no interval
    ((1.0, 1.0, 1.0), None, "reproduced"),            # identical differences: t = +inf, p = 0
    ((0.0, 0.0, 0.0), None, "inconclusive"),
    # a one-sided 5% test would say "reproduced" here (one-sided p 0.048); the two-sided test does not
    ((0.5, 1.4, 0.2, 1.1, -0.1), None, "inconclusive"),
])
def test_verdict_rules(diffs, paper, word):
    v = _judged(diffs, paper)
    assert v["verdict"] == word and v["claim"] == "A > B" and v["scale"] == "mini" and v["n"] == len(diffs)
    assert v["family"] == (1 if len(diffs) > 1 else None)


def test_the_rule_examples_are_where_the_text_says():
    v = _judged((2.0, -2.5, 1.8, -2.2))
    assert 3.0 < v["ci95"][1] < 10.0
    v = _judged((0.5, 1.4, 0.2, 1.1, -0.1))
    assert v["p_greater"] < 0.05 < v["p_two_sided"]


def test_holm_decides_a_family_a_single_test_would_not():
    # alone, p = 0.03 is significant; in a family of three with p 0.03, 0.04, 0.5 Holm adjusts it to 0.09
    claims = []
    for target_p in (0.03, 0.04, 0.5):
        c = ex.ordering("x", "mini", {0: 1.0}, {0: 0.0}, kind="accuracy")
        c.update(p_two_sided=target_p, difference=1.0, ci95=[0.1, 1.9])
        claims.append(c)
    ex.judge(claims)
    assert [c["verdict"] for c in claims] == ["inconclusive"] * 3
    assert [c["p_holm"] for c in claims] == pytest.approx([0.09, 0.09, 0.5], rel=4 * EPS)
    assert all(c["family"] == 3 for c in claims)


def test_checks_have_three_outcomes():
    assert _judged((2.0, 2.5, 1.8, 2.2), words=ex.CHECKS)["verdict"] == "yes"
    assert _judged((-2.0, -2.5, -1.8, -2.2), words=ex.CHECKS)["verdict"] == "no"
    assert _judged((2.0, -2.5, 1.8, -2.2), paper_effect=10.0, words=ex.CHECKS)["verdict"] == "inconclusive"


def test_a_rise_then_fall_is_not_a_last_against_first_pass():
    # every seed rises for 7 epochs, then falls 27% over 22: its last point is still above its first
    # (the old test's pass), but its rank correlation with the epoch is negative, and the drop is reported
    rng = np.random.default_rng(3)
    curves = {}
    for seed in range(3):
        up = [1.0 + 0.1 * e for e in range(8)]
        down = list(np.linspace(up[-1], up[-1] * 0.73, 23)[1:])
        curves[seed] = [(e, y + 0.01 * rng.normal()) for e, y in enumerate(up + down)]
    v = ex.judge([ex.trend("MI rises", "mini", curves, kind="mechanism")])[0]
    assert all(p["final"] > p["first"] for p in v["per_seed"].values())
    assert v["verdict"] == "contradicted" and v["difference"] < 0
    assert v["peak_drop"] == pytest.approx(0.27, abs=0.03) and v["per_seed"]["0"]["peak_epoch"] == 7
    rho = sps.spearmanr(np.arange(30), [x for _, x in curves[0]]).statistic
    assert v["per_seed"]["0"]["rho"] == pytest.approx(rho, rel=64 * EPS)


def test_a_steady_rise_is_reproduced_and_a_steady_fall_contradicted():
    rng = np.random.default_rng(2)
    rise = {s: [(e, e + 0.3 * rng.normal()) for e in range(10)] for s in range(4)}
    fall = {s: [(e, -y) for e, y in c] for s, c in rise.items()}
    flat = {s: [(e, 1.0) for e in range(10)] for s in range(4)}
    got = ex.judge([ex.trend(n, "mini", c, kind="mechanism") for n, c in (("r", rise), ("f", fall), ("0", flat))])
    assert [v["verdict"] for v in got] == ["reproduced", "contradicted", "inconclusive"]
    assert got[0]["peak_drop"] == pytest.approx(0.0, abs=0.1) and got[2]["difference"] == 0.0


def test_counts_in_the_order_of_the_outcomes():
    vs = [{"verdict": w} for w in ("inconclusive", "reproduced", "inconclusive")]
    assert list(ex.verdict_counts(vs).items()) == [("reproduced", 1), ("inconclusive", 2)]


RESULTS = Path(__file__).resolve().parents[1] / "results"


@pytest.mark.parametrize("path", [p for p in sorted(RESULTS.glob("*/*/*.json")) if p.parent.name != "reference"
                                  and p.parent.name != "powered"], ids=lambda p: f"{p.parts[-3]}/{p.parts[-2]}")
def test_committed_verdicts_are_what_the_code_decides_from_the_stored_per_seed_values(path):
    """A reader can recompute every verdict from the committed file alone: `rejudge` (the same
    functions `summarize` calls) gives back the stored verdicts, their p-values and the Markdown."""
    from mmae.experiments.claims import rejudge
    stored = json.loads(path.read_text())
    again = rejudge(copy.deepcopy(stored))
    assert [(v["claim"], v["verdict"]) for v in again["verdicts"]] == \
        [(v["claim"], v["verdict"]) for v in stored["verdicts"]]
    for got, want in zip(again["verdicts"] + again.get("baseline_checks", []),
                         stored["verdicts"] + stored.get("baseline_checks", [])):
        assert got["verdict"] == want["verdict"] and got["per_seed"] == want["per_seed"]
        # the same functions on the same stored values; another CPU may sum the n <= 10 differences in
        # another order (a few ulps of the mean and sd, so of t), and a p-value's relative change is at
        # most |d ln p / d t| <= 1 + t^2 times t's: 64 eps (1 + t^2), relative; the sign-flip p is a count
        t = want["statistic"] if want["statistic"] is not None and math.isfinite(want["statistic"]) else 0.0
        for key in ("p_two_sided", "p_holm", "difference"):
            assert (got[key] is None and want[key] is None) or \
                got[key] == pytest.approx(want[key], rel=64 * EPS * (1 + t * t), abs=0)
        assert got["p_permutation"] == want["p_permutation"]
    assert again["markdown"] == stored["markdown"]
    assert stored["verdicts"], "every summary tests a claim of the paper"


@pytest.mark.parametrize("recipe", ["paper", "authors"])
def test_random_init_is_the_encoder_pretraining_starts_from(tmp_path, recipe):
    import torch

    from mmae.baselines import write_random_init
    from mmae.engine.common import load_checkpoint, seed_everything
    from mmae.engine.pretrain import PretrainConfig, PretrainTask

    write_random_init(tmp_path / "init", dataset="digits", model="mini-b", patch_size=2, seed=3)
    state = load_checkpoint(tmp_path / "init" / "checkpoint.pt")["model"]
    cfg = PretrainConfig.build(recipe, True, method="mmae", seed=3)
    seed_everything(cfg.seed)   # as the engine's open_run does
    task = PretrainTask(cfg, torch.device("cpu"))
    own = task.model.state_dict()
    encoder = [k for k in own if not k.startswith(("decoder", "mask_token", "fc"))]
    assert encoder and all(torch.equal(state[k], own[k]) for k in encoder)
