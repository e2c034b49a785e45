"""The statistics behind the verdicts: per-seed means with Student-t intervals, one-sided paired
tests across seeds, and a claim's verdict ("reproduces", "does not reproduce", "inconclusive at
this scale").
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..engine.common import RunDir
from .targets import Stage

__all__ = ["ALPHA", "VERDICTS", "CHECKS", "paired_test", "verdict"]


ALPHA = 0.05   # level of the one-sided paired tests behind the verdicts (and 1 - level of the intervals / 2)
VERDICTS = ("reproduces", "does not reproduce", "inconclusive at this scale")
CHECKS = ("yes", "no", "inconclusive at this scale")   # the outcomes of a comparison with a baseline


def _t_quantile(n: int) -> float:
    from scipy.stats import t
    return float(t.ppf(1 - ALPHA / 2, n - 1))


def _stats(values: list[float]) -> dict:
    """Mean, sample standard deviation and the 95% Student-t interval of the mean over seeds."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return {"mean": None, "std": None, "n": 0, "values": [], "ci95": None}
    mean, std = float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
    half = _t_quantile(len(v)) * std / math.sqrt(len(v)) if len(v) > 1 else None
    return {"mean": mean, "std": std, "n": len(v), "values": v,
            "ci95": None if half is None else [mean - half, mean + half]}


def _fmt(s: dict | None) -> str:
    if not s or s.get("mean") is None:
        return "—"
    return f"{s['mean']:.1f} ± {s['std']:.1f}" if s["n"] > 1 else f"{s['mean']:.1f}"


def paired_test(better: dict, worse: dict) -> dict:
    """One-sided paired t-test of "`better` > `worse`" over the seeds both have (a seed fixes the
    data order, the masks and the augmentations, so the two runs of a seed form a pair).

    Returns the mean difference $\\bar d$, its 95% interval, $t = \\bar d / (s_d / \\sqrt{n})$ with
    $n - 1$ degrees of freedom, and the one-sided p-values of the claim ($P(T \\ge t)$) and of its
    reverse ($P(T \\le t)$). Differences that are all equal give $t = \\pm\\infty$ (p 0 or 1)."""
    from scipy.stats import t as student
    seeds = sorted(set(better) & set(worse))
    d = np.array([better[s] - worse[s] for s in seeds], dtype=float)
    n = len(d)
    out = {"n": n, "difference": float(d.mean()) if n else None, "ci95": None, "statistic": None,
           "p_value": None, "p_reverse": None}
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        tval = math.copysign(math.inf, d.mean()) if d.mean() != 0 else 0.0
        p = 0.0 if tval > 0 else 1.0
        p_rev = 0.0 if tval < 0 else 1.0
    else:
        tval = float(d.mean() / (sd / math.sqrt(n)))
        p, p_rev = float(student.sf(tval, n - 1)), float(student.cdf(tval, n - 1))
    half = _t_quantile(n) * sd / math.sqrt(n)
    out.update(statistic=tval, p_value=p, p_reverse=p_rev, ci95=[float(d.mean()) - half, float(d.mean()) + half])
    return out


def verdict(claim: str, scale_name: str, better: dict, worse: dict, unit: str = "points",
            words: tuple[str, str, str] = VERDICTS) -> dict:
    """The verdict on "`better` > `worse`" (per-seed values): *reproduces* when the one-sided
    paired test rejects "not greater" at level `ALPHA`, *does not reproduce* when it rejects "not
    smaller", else *inconclusive at this scale* (also with fewer than two seeds); `words` names
    the three outcomes otherwise (`CHECKS` for a comparison with a baseline)."""
    r = paired_test(better, worse)
    if r["p_value"] is not None and r["p_value"] < ALPHA:
        word = words[0]
    elif r["p_reverse"] is not None and r["p_reverse"] < ALPHA:
        word = words[1]
    else:
        word = words[2]
    return {"claim": claim, "scale": scale_name, "verdict": word, **r, "unit": unit,
            "test": "one-sided paired t-test over seeds"}


def _verdict_line(v: dict) -> str:
    if v["statistic"] is None:
        return f"- **{v['verdict']}** — {v['claim']} (n = {v['n']}: no paired test with fewer than two seeds)"
    lo, hi = v["ci95"]
    unit = f" {v['unit']}" if v["unit"] else ""
    return (f"- **{v['verdict']}** — {v['claim']}: difference {v['difference']:+.2f}{unit} "
            f"(95% CI {lo:+.2f} to {hi:+.2f}), paired t({v['n'] - 1}) = {v['statistic']:.2f}, "
            f"one-sided p = {v['p_value']:.3g}, n = {v['n']} seeds")


def _verdict_md(verdicts: list[dict], title: str = "Verdicts on the paper's claims") -> str:
    if not verdicts:
        return ""
    return f"**{title}** (one-sided paired t-tests over seeds, level {ALPHA:g})\n\n" + "\n".join(map(_verdict_line, verdicts))


def _per_seed(stages: list[Stage], key: str) -> dict:
    """`{seed: metric}` of the finished stages."""
    out = {}
    for s in stages:
        v = _metric(s, key)
        if v is not None and math.isfinite(float(v)):
            out[s.labels["seed"]] = float(v)
    return out


def _seed_stats(per_seed: dict) -> dict:
    return _stats([per_seed[s] for s in sorted(per_seed)])


def _ranked_claims(paper: dict, methods: Iterable[str]) -> list[tuple[str, str]]:
    """The orderings a row of the paper states: each method above the next in the paper's ranking
    (ties state nothing)."""
    order = sorted((m for m in methods if m in paper), key=lambda m: -paper[m])
    return [(a, b) for a, b in zip(order, order[1:]) if paper[a] > paper[b]]


def _metric(stage: Stage, key: str):
    m = RunDir(stage.run_dir).metrics()
    return None if m is None else m.get(key)
