"""The statistics behind the verdicts on the paper's claims.

A claim is tested as the paper states it, in one of two forms:

- an **ordering** ("M-MAE outperforms U-MAE"): the final values of two settings, paired by seed (a
  seed fixes the data order, the masks and the augmentations, so the two runs of a seed form a
  pair), by a paired t-test of the mean difference $\\bar d$ with $t = \\bar d / (s_d / \\sqrt n)$
  and $n - 1$ degrees of freedom;
- a **trend** ("the mutual information increases during training"): per seed, Spearman's rank
  correlation $\\rho$ of the logged curve with the epoch, and a one-sample t-test of the mean $\\rho$
  over seeds. A curve that rises and then falls has a smaller $\\rho$ than one that keeps rising, and
  the drop from the seed-mean curve's peak to its end is reported beside it: a trend never passes
  by comparing the last point with the first alone.

All the claims of one summary (a target at one scale and pretraining length) form a family: their
two-sided p-values are adjusted by Holm's step-down method, and a claim is decided at level
`ALPHA` on its adjusted p-value, in the direction of its mean. Four outcomes (`OUTCOMES`):

- *reproduced*: significant, in the paper's direction;
- *contradicted*: significant, against it;
- *effect smaller than the paper's*: not significant, and the 95% interval's upper end lies below
  the difference the paper reports (an equivalence-style reading: the paper's effect size is
  excluded at this scale);
- *inconclusive*: otherwise, and always with fewer than two seeds.

Beside the t-test each claim carries the exact two-sided sign-flip permutation p-value of the same
differences ($2^n$ sign patterns), which assumes only that a difference is as likely negative as
positive under no effect. With $n$ seeds it is at least $2^{1-n}$ (0.25 with three), so it can
only confirm a verdict where there are enough seeds. Comparisons with a baseline (`CHECKS`) are
decided the same way in their own family.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..engine.common import RunDir
from .targets import Stage

__all__ = ["ALPHA", "OUTCOMES", "CHECKS", "METHOD", "paired_test", "sign_flip_p", "holm", "ordering", "trend",
           "judge", "verdict_counts", "tally"]


ALPHA = 0.05   # family-wise level of the verdicts (Holm), and 1 - the intervals' coverage
OUTCOMES = ("reproduced", "contradicted", "effect smaller than the paper's", "inconclusive")
CHECKS = ("yes", "no", "inconclusive")   # the outcomes of a comparison with a baseline
METHOD = (f"paired t-test over seeds, two-sided, Holm-adjusted within the family at level {ALPHA:g}; "
          "exact sign-flip permutation p beside")


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


def sign_flip_p(d: Iterable[float]) -> float | None:
    """Exact two-sided sign-flip permutation p-value of the mean of the differences `d`: the share
    of the $2^n$ sign patterns whose mean is at least as far from 0 as the observed one (the
    observed pattern included, so never 0). A pattern ties the observed one within a few units of
    round-off of the sum. None with fewer than two differences; n is at most 20 (a million patterns)."""
    d = np.asarray(list(d), dtype=float)
    n = len(d)
    if n < 2:
        return None
    if n > 20:
        raise ValueError(f"sign_flip_p enumerates 2^n sign patterns; n = {n} is more than 20")
    signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)
    sums = np.abs(signs @ d)
    tol = 8 * n * np.finfo(float).eps * float(np.abs(d).sum())
    return float(np.mean(sums >= abs(d.sum()) - tol))


def paired_test(a: dict, b: dict) -> dict:
    """The paired t-test of $a - b$ over the seeds both have (`{seed: value}`): the mean
    difference, its 95% interval, $t$, its degrees of freedom, the two-sided p-value and the
    one-sided ones of "greater" and "less", and the sign-flip p-value. Differences that are all
    equal give $t = \\pm\\infty$ (two-sided p 0) or, all zero, $t = 0$ (p 1)."""
    from scipy.stats import t as student
    seeds = sorted(set(a) & set(b), key=str)
    d = np.array([a[s] - b[s] for s in seeds], dtype=float)
    n = len(d)
    out = {"n": n, "difference": float(d.mean()) if n else None, "ci95": None, "statistic": None, "df": None,
           "p_two_sided": None, "p_greater": None, "p_less": None, "p_permutation": sign_flip_p(d),
           "per_seed": {str(s): [float(a[s]), float(b[s])] for s in seeds}}
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        tval = math.copysign(math.inf, d.mean()) if d.mean() != 0 else 0.0
        p_gt, p_lt = (0.0 if tval > 0 else 1.0), (0.0 if tval < 0 else 1.0)
    else:
        tval = float(d.mean() / (sd / math.sqrt(n)))
        p_gt, p_lt = float(student.sf(tval, n - 1)), float(student.cdf(tval, n - 1))
    half = _t_quantile(n) * sd / math.sqrt(n)
    out.update(statistic=tval, df=n - 1, p_greater=p_gt, p_less=p_lt, p_two_sided=min(1.0, 2 * min(p_gt, p_lt)),
               ci95=[float(d.mean()) - half, float(d.mean()) + half])
    return out


def holm(ps: list[float]) -> list[float]:
    """Holm's step-down adjustment: the $i$-th smallest of $m$ p-values becomes
    $\\max_{j \\le i} \\min(1, (m - j + 1) p_{(j)})$; rejecting the adjusted values below $\\alpha$
    keeps the family-wise error rate at $\\alpha$."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


def _claim(claim: str, scale: str, kind: str, test: str, unit: str, paper_wording: str | None,
           paper_effect: float | None, r: dict) -> dict:
    return {"claim": claim, "paper_wording": paper_wording, "kind": kind, "test": test, "scale": scale, "unit": unit,
            "paper_effect": paper_effect, "verdict": None, **r, "p_holm": None, "family": None, "method": METHOD}


def ordering(claim: str, scale: str, a: dict, b: dict, *, kind: str, paper_effect: float | None = None,
             unit: str = "points", paper_wording: str | None = None) -> dict:
    """The claim "a > b" on per-seed final values (`{seed: value}`), undecided until `judge`.
    `paper_effect`: the difference the paper reports (same unit), for *effect smaller than the paper's*."""
    return _claim(claim, scale, kind, "ordering", unit, paper_wording, paper_effect, paired_test(a, b))


def _spearman(epochs: np.ndarray, values: np.ndarray) -> float:
    from scipy.stats import spearmanr
    if len(values) < 2 or np.ptp(values) == 0:
        return 0.0   # a flat curve has no trend
    return float(spearmanr(epochs, values).statistic)


def trend(claim: str, scale: str, curves: dict, *, kind: str, unit: str = "", paper_wording: str | None = None) -> dict:
    """The claim "the quantity rises during training" on per-seed curves `{seed: [(epoch, value), ...]}`:
    each seed's Spearman $\\rho$ with the epoch, tested against 0 over seeds; beside it each seed's
    first, peak and final values and the relative drop from the seed-mean curve's peak to its end."""
    per_seed, rho = {}, {}
    for s, curve in sorted(curves.items(), key=lambda kv: str(kv[0])):
        ep, v = (np.array(x, dtype=float) for x in zip(*curve))
        rho[s] = _spearman(ep, v)
        k = int(np.argmax(v))
        per_seed[str(s)] = {"rho": rho[s], "first": float(v[0]), "peak": float(v[k]), "peak_epoch": int(ep[k]),
                            "final": float(v[-1])}
    r = paired_test(rho, {s: 0.0 for s in rho})
    r["per_seed"] = per_seed
    n = min((len(c) for c in curves.values()), default=0)
    drop = None
    if n:
        mean = np.mean([[v for _, v in c[:n]] for c in curves.values()], axis=0)
        peak = float(mean.max())
        drop = (peak - float(mean[-1])) / abs(peak) if peak else None
    out = _claim(claim, scale, kind, "trend", "Spearman rho", paper_wording, None, r)
    out["peak_drop"] = drop
    return out


def judge(claims: list[dict], words: tuple[str, ...] = OUTCOMES) -> list[dict]:
    """Decide a family of claims: Holm over the two-sided p-values of those with a test, then each
    claim's outcome (the module docstring). `words` = `CHECKS` for comparisons with a baseline
    (yes / no / inconclusive: no effect size to compare with). Returns `claims`, updated."""
    tested = [c for c in claims if c["p_two_sided"] is not None]
    for c, p in zip(tested, holm([c["p_two_sided"] for c in tested])):
        c["p_holm"], c["family"] = p, len(tested)
    for c in claims:
        significant = c["p_holm"] is not None and c["p_holm"] < ALPHA
        if significant and c["difference"] > 0:
            c["verdict"] = words[0]
        elif significant and c["difference"] < 0:
            c["verdict"] = words[1]
        elif len(words) == 4 and c.get("paper_effect") is not None and c["ci95"] and c["ci95"][1] < c["paper_effect"]:
            c["verdict"] = words[2]
        else:
            c["verdict"] = words[-1]
    return claims


def verdict_counts(claims: Iterable[dict], words: tuple[str, ...] = OUTCOMES) -> dict:
    """`{outcome: count}` in the order of `words` (outcomes that do not occur omitted)."""
    claims = list(claims)
    return {w: n for w in words if (n := sum(c["verdict"] == w for c in claims))}


def tally(report: dict) -> str:
    """A summary's verdicts in one line: the count of each outcome among the paper's claims (by
    kind), and among the comparisons with the baselines."""
    def counts(claims, words):
        return ", ".join(f"{n} {w}" for w, n in verdict_counts(claims, words).items()) or "none"
    vs, checks = report.get("verdicts") or [], report.get("baseline_checks") or []
    kinds = [(k, [v for v in vs if v.get("kind") == k]) for k in ("accuracy", "mechanism")]
    parts = [f"{k} claims: {counts(c, OUTCOMES)}" for k, c in kinds if c]
    if checks:
        parts.append(f"against the baselines: {counts(checks, CHECKS)}")
    return f"Verdicts ({len(vs)} claims of the paper, Holm within them): " + "; ".join(parts) + "." if vs else \
        "No claim of the paper tested here."


def _p(p: float | None) -> str:
    return "—" if p is None else f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def _verdict_line(v: dict) -> str:
    """One claim in words: its outcome, the estimate with its interval, the paper's effect, and
    the tests (raw and Holm-adjusted p, the sign-flip p)."""
    if v["statistic"] is None:
        return f"- **{v['verdict']}** — {v['claim']} (n = {v['n']}: no test with fewer than two seeds)"
    lo, hi = v["ci95"]
    unit = f" {v['unit']}" if v["unit"] and v["test"] == "ordering" else ""
    what = "mean Spearman ρ with the epoch" if v["test"] == "trend" else "difference"
    paper = f"; the paper's {v['paper_effect']:+.2f}" if v.get("paper_effect") is not None else ""
    drop = ""
    if v["test"] == "trend" and v.get("peak_drop") is not None:
        drop = (f"; the seed-mean curve ends {100 * v['peak_drop']:.0f}% below its peak" if v["peak_drop"] > 0.005
                else "; the seed-mean curve ends at its peak")
    return (f"- **{v['verdict']}** — {v['claim']}: {what} {v['difference']:+.2f}{unit} (95% CI {lo:+.2f} to "
            f"{hi:+.2f}{paper}), t({v['df']}) = {v['statistic']:.2f}, p = {_p(v['p_two_sided'])}, Holm p = "
            f"{_p(v['p_holm'])} (family of {v['family']}), sign-flip p = {_p(v['p_permutation'])}, n = {v['n']} "
            f"seeds{drop}")


def _verdict_md(verdicts: list[dict], title: str = "Verdicts on the paper's claims") -> str:
    if not verdicts:
        return ""
    head = f"**{title}** ({METHOD})"
    groups = [(k, [v for v in verdicts if v.get("kind") == k]) for k in ("accuracy", "mechanism", "baseline")]
    groups = [(k, vs) for k, vs in groups if vs]
    if len(groups) == 1:
        return head + "\n\n" + "\n".join(map(_verdict_line, verdicts))
    names = {"accuracy": "Accuracy", "mechanism": "Mechanism (the quantities the method acts on)"}
    return head + "\n\n" + "\n\n".join(f"*{names.get(k, k)}*\n\n" + "\n".join(map(_verdict_line, vs))
                                       for k, vs in groups)


def _per_seed(stages: list[Stage], key: str) -> dict:
    """`{seed: metric}` of the finished stages."""
    out = {}
    for s in stages:
        v = _metric(s, key)
        if v is not None and math.isfinite(float(v)):
            out[s.labels["seed"]] = float(v)
    return out


def _seed_stats(per_seed: dict) -> dict:
    return {**_stats([per_seed[s] for s in sorted(per_seed)]), "seeds": sorted(per_seed)}


def _metric(stage: Stage, key: str):
    m = RunDir(stage.run_dir).metrics()
    return None if m is None else m.get(key)
