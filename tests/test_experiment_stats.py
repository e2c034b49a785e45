"""The statistics behind the tables' verdicts, checked against independent computations."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from mmae import experiments as ex
from mmae.experiments import stats

EPS = np.finfo(np.float64).eps


def test_paired_test_is_scipys_one_sided_paired_t_test():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 9):
        a, b = rng.normal(70, 3, n), rng.normal(69, 3, n)
        r = ex.paired_test(dict(enumerate(a)), dict(enumerate(b)))
        ref = sps.ttest_rel(a, b, alternative="greater")
        rev = sps.ttest_rel(a, b, alternative="less")
        assert r["n"] == n and math.isclose(r["statistic"], ref.statistic, rel_tol=64 * EPS)
        assert math.isclose(r["p_value"], ref.pvalue, rel_tol=1e-9)   # scipy's t distribution: ~1e-12 relative
        assert math.isclose(r["p_reverse"], rev.pvalue, rel_tol=1e-9)
        d = a - b
        half = sps.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)
        assert np.allclose(r["ci95"], [d.mean() - half, d.mean() + half], rtol=64 * EPS, atol=64 * EPS * 100)


def test_pairs_are_matched_by_seed_not_by_position():
    better = {0: 80.0, 1: 81.0, 2: 82.0}
    worse = {2: 81.5, 0: 79.0, 7: 0.0}   # seed 7 has no partner
    r = ex.paired_test(better, worse)
    assert r["n"] == 2 and r["difference"] == pytest.approx((1.0 + 0.5) / 2, rel=4 * EPS)


def test_interval_of_two_seeds_is_the_cauchy_quantile():
    # one degree of freedom: Student's t is the Cauchy distribution, quantile tan(pi (p - 1/2))
    s = stats._stats([70.0, 74.0])
    half = math.tan(math.pi * 0.475) * 4.0 / 2   # t * sd / sqrt(2), sd = |a - b| / sqrt(2)
    assert s["mean"] == 72.0 and s["std"] == pytest.approx(4 / math.sqrt(2), rel=4 * EPS)
    assert s["ci95"] == pytest.approx([72 - half, 72 + half], rel=64 * EPS)
    assert stats._stats([70.0])["ci95"] is None and stats._stats([None, float("nan")])["n"] == 0


@pytest.mark.parametrize("diffs, word", [
    ((2.0, 2.5, 1.8, 2.2), "reproduces"),
    ((-2.0, -2.5, -1.8, -2.2), "does not reproduce"),
    ((2.0, -2.5, 1.8, -2.2), "inconclusive at this scale"),
    ((3.0,), "inconclusive at this scale"),          # one seed: no test
    ((1.0, 1.0, 1.0), "reproduces"),                  # identical differences: t = +inf, p = 0
    ((0.0, 0.0, 0.0), "inconclusive at this scale"),
])
def test_verdict_rules(diffs, word):
    worse = {s: 50.0 + s for s in range(len(diffs))}
    better = {s: worse[s] + d for s, d in enumerate(diffs)}
    v = ex.verdict("A > B", "mini", better, worse)
    assert v["verdict"] == word and v["claim"] == "A > B" and v["scale"] == "mini" and v["n"] == len(diffs)
    assert set(v) >= {"claim", "scale", "verdict", "statistic", "p_value", "n"}


def test_claims_follow_the_papers_ranking_and_skip_ties():
    paper = {"mae": 86.8, "umae": 86.8, "mmae": 88.1}
    assert stats._ranked_claims(paper, ["mae", "umae", "mmae"]) == [("mmae", "mae")]  # the tie states nothing
    assert stats._ranked_claims({"mae": 83.3, "umae": 83.2, "mmae": 84.3}, ["mae", "umae", "mmae"]) == \
        [("mmae", "mae"), ("mae", "umae")]


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
