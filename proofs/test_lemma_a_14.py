r"""Lemma A.14: a ratio minimised only at zero.

**Statement.** For positive integers $n$, $m$ and $x, y \in [0, 1]^m$,

$$
F(x, y) = \frac{(n + \sum_i x_i)(n + \sum_i y_i)}{n + \sum_i x_i y_i} \ge n,
$$

with equality only at $x = y = 0$.

**Verdict: holds.** The printed proof is right; it needs $x_i, y_i \in [0, 1]$ for
$x_i \ge x_i^2$.

**Proof.** With $X = \sum_i x_i$, $Y = \sum_i y_i$ and $P = \sum_i x_i y_i$,
$(n + X)(n + Y) - n(n + P) = n(X + Y - P) + XY$. Since $x_i \ge x_i^2$ and $y_i \ge y_i^2$,

$$
X + Y \ge 2\sqrt{XY} \ge 2\sqrt{\textstyle\sum_i x_i^2\sum_i y_i^2} \ge 2P
$$

(the AM-GM inequality, then Cauchy-Schwarz), so the numerator is at least $nP + XY \ge 0$. It is 0
only if $XY = 0$, $P = 0$ and $X + Y = P = 0$, i.e. $x = y = 0$. Outside $[0, 1]$ the claim fails:
with $m = 1$ and $x = y = t$, $F = (n + t)^2/(n + t^2)$ tends to $1 < n$ as $t$ grows, for every
$n \ge 2$ (for example $n = 2$, $t = 10$: $144/102 < 2$). In Theorem A.13 the $x_i$, $y_i$ are squared
entries of unit-diagonal positive semi-definite matrices, so they lie in $[0, 1]$.
"""
import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs import _mp  # noqa: F401  (sets the 60-digit working precision)
from proofs._power import worst_case_test

STATEMENT = "Lemma A.14"
TITLE = "a ratio minimised only at zero"
VERDICT = "holds"


def F(n, x, y):
    return (n + sum(x)) * (n + sum(y)) / (n + sum(a * b for a, b in zip(x, y)))


@pytest.mark.check("symbolic")
def test_numerator_identity_and_bounds():
    n, X, Y, P = sp.symbols("n X Y P", positive=True)
    assert sp.expand((n + X) * (n + Y) - n * (n + P) - (n * (X + Y - P) + X * Y)) == 0
    x = sp.symbols("x0:3", real=True)
    y = sp.symbols("y0:3", real=True)
    # Cauchy-Schwarz via Lagrange's identity
    lag = sum((x[i] * y[j] - x[j] * y[i]) ** 2 for i in range(3) for j in range(i + 1, 3))
    assert sp.expand(sum(a * a for a in x) * sum(b * b for b in y) - sum(a * b for a, b in zip(x, y)) ** 2 - lag) == 0
    # the [0,1] hypothesis is needed: n = 2, x = y = 10 (m = 1) gives 144/102 < 2
    assert F(2, [sp.Integer(10)], [sp.Integer(10)]) == sp.Rational(144, 102) < 2


@pytest.mark.check("high-precision")
def test_margin_at_small_perturbations_of_zero(slack):
    """Near the minimiser the excess is ~ (X + Y): 1e-30 perturbations give excess ~1e-30, far
    above 60-digit round-off and invisible in float64."""
    n = mpmath.mpf(3)
    for eps in (mpmath.mpf(10) ** -30, mpmath.mpf(10) ** -10):
        x = [eps, 0, eps / 2]
        y = [0, eps, eps]
        ex = F(n, x, y) - n
        assert ex > eps  # = n(X + Y - P) + XY over n + P >= about X + Y = 3.5 eps
        slack(_mp.clean(ex), f"F - n at perturbation {mpmath.nstr(eps, 3)}")
    assert F(n, [0] * 4, [0] * 4) == n


@pytest.mark.check("randomized")
@given(st.integers(1, 20), st.integers(1, 8), st.data())
def test_random_points(slack, n, m, data):
    unit = st.one_of(st.floats(0, 1), st.sampled_from((0.0, 1.0, 1e-12)))
    x = data.draw(st.lists(unit, min_size=m, max_size=m))
    y = data.draw(st.lists(unit, min_size=m, max_size=m))
    ex = F(n, x, y) - n
    if ex < 1e-9:
        ex = F(mpmath.mpf(n), [mpmath.mpf(v) for v in x], [mpmath.mpf(v) for v in y]) - n
        assert ex > 0 or (sum(x) == 0 and sum(y) == 0)
    slack(_mp.clean(ex), "F - n")
    assert ex >= 0


@pytest.mark.check("randomized")
def test_adversarial_box_constrained_search(slack, effort):
    from scipy.optimize import minimize

    worst = mpmath.inf
    rng = np.random.default_rng(0)
    for n, m in ((1, 1), (2, 5), (5, 3)):
        for _ in range(3 * effort):
            res = minimize(lambda v: F(n, v[:m], v[m:]) - n, rng.random(2 * m), method="L-BFGS-B",
                           bounds=[(0, 1)] * (2 * m))
            v = res.x
            ex = F(mpmath.mpf(n), [mpmath.mpf(t) for t in v[:m]], [mpmath.mpf(t) for t in v[m:]]) - n
            assert ex >= 0 and (ex > 0 or not np.any(v))
            worst = min(worst, ex)
    slack(_mp.clean(worst), "smallest F - n found (0 only at x = y = 0)")


test_worst_case_search = worst_case_test("Lemma A.14")
