r"""Lemma A.12: a quadratic lower bound on the logarithm, the engine of Theorem 4.17.

**Statement (as printed).** For all $x, a \ge 0$,

$$
\log(1+x) \ge \log(1+a) + \frac{x-a}{1+a} - \frac12(x-a)^2 .
$$

**Verdict: holds as printed.** The printed proof ("take the derivative; $x = a$ is the minimal
point") is right but skips the step that needs the hypothesis; here it is in full. Let
$g(x) = \log(1+x) - \log(1+a) - \frac{x-a}{1+a} + \frac12(x-a)^2$, so $g(a) = 0$ and

$$
g'(x) = \frac1{1+x} - \frac1{1+a} + (x-a) = (x-a)\Big(1 - \frac{1}{(1+x)(1+a)}\Big).
$$

For $x, a \ge 0$ the bracket is $\ge 0$, so $g' \le 0$ on $[0,a]$ and $g' \ge 0$ on $[a,\infty)$:
$x = a$ is the global minimum on $x \ge 0$, and $g \ge 0$. (Equivalently, by Taylor's theorem with
the Lagrange remainder, $g(x) = \tfrac12(x-a)^2\big(1 - (1+\xi)^{-2}\big)$ for some $\xi$ between $a$
and $x$, and $\xi \ge 0$ makes the bracket non-negative.)

**How far the hypothesis can be relaxed.** The bracket is non-negative if and only if
$(1+x)(1+a) \ge 1$, i.e. $x \ge -a/(1+a)$; the same argument proves the inequality for all
$x \ge -a/(1+a)$. Below that, $g$ is increasing and tends to $-\infty$ as $x\to -1$, so the
inequality fails near $-1$ for every $a$. At $a = 0$ it fails for every $x < 0$: exact instance
$x = -1/2$, where $\log\tfrac12 < -\tfrac58$ because $e^5 < 2^8 = 256$. Only $x = \lambda_i/\mu \ge 0$
and $a = 1/\mu > 0$ are used in Theorem 4.17, so the printed hypothesis suffices there.
"""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs._mp import DPS
from proofs._tcr import with_fixtures
from proofs._power import worst_case_test

STATEMENT = "Lemma A.12"
TITLE = "a quadratic lower bound on the logarithm"
VERDICT = "holds"

x, a = sp.symbols("x a", nonnegative=True)
G = sp.log(1 + x) - sp.log(1 + a) - (x - a) / (1 + a) + (x - a) ** 2 / 2


def g_mp(xv, av):
    """g(x; a) with enough digits for its cancellation: the four terms are of size max(x, a, 1) and
    g of size (x - a)^2 min(1, max(x, a)), so 60 digits plus the orders of magnitude lost."""
    xv, av = mp.mpf(xv), mp.mpf(av)
    lost = 0
    if xv != av:
        lost = 2 * max(0, -int(mp.floor(mp.log10(abs(xv - av))))) + max(0, int(mp.log10(max(xv, av, 1))))
        lost += max(0, -int(mp.floor(mp.log10(max(abs(xv), abs(av), mp.mpf(10) ** -300)))))
    with mp.workdps(DPS + lost + 10):
        return +(mp.log1p(xv) - mp.log1p(av) - (xv - av) / (1 + av) + (xv - av) ** 2 / 2)


@pytest.mark.check("symbolic")
def test_derivative_factorisation_and_minimum():
    gp = sp.diff(G, x)
    assert sp.simplify(gp - (x - a) * (1 - 1 / ((1 + x) * (1 + a)))) == 0
    assert G.subs(x, a) == 0
    assert sp.simplify(sp.diff(G, x, 2).subs(x, a) - (1 - 1 / (1 + a) ** 2)) == 0
    # the bracket is >= 0 exactly when (1 + x)(1 + a) >= 1; for x, a >= 0 it is (x + a + x a) / ((1+x)(1+a)) >= 0
    bracket = sp.together(1 - 1 / ((1 + x) * (1 + a)))
    num, den = sp.fraction(bracket)
    assert sp.expand(num - (x + a + x * a)) == 0 and den.is_positive


@pytest.mark.check("symbolic")
def test_negative_x_is_needed_exact():
    # a = 0, x = -1/2: log(1/2) >= 0 - 1/2 - 1/8 would need e^(5/8) >= 2, i.e. e^5 >= 256
    lhs, rhs = sp.log(sp.Rational(1, 2)), -sp.Rational(1, 2) - sp.Rational(1, 8)
    assert sp.exp(5) < 256  # sympy decides this exactly (e^5 = 148.41...)
    assert sp.N(lhs - rhs, 50) < 0
    # and the relaxed domain x >= -a/(1+a) is exact: at a = 1, x = -1/2 the bracket vanishes and g > 0
    assert sp.N(G.subs({a: 1}).subs(x, sp.Rational(-1, 2)), 50) > 0


@pytest.mark.check("high-precision")
def test_grid_60_digits(slack):
    with mp.workdps(DPS):
        vals = [mp.mpf(0), mp.mpf("1e-20"), mp.mpf("1e-6"), mp.mpf("0.3"), mp.mpf(1), mp.mpf(3),
                mp.mpf(10), mp.mpf("1e3"), mp.mpf("1e8")]
        for av in vals:
            for xv in vals + [av * (1 + mp.mpf("1e-10"))]:
                g = g_mp(xv, av)
                if xv != av:
                    slack(g, "g(x) for x != a")
                assert g >= 0
                if abs(xv - av) > mp.mpf("1e-3") * (1 + av):
                    assert g > mp.mpf(10) ** -15
            # relaxed domain: x in [-a/(1+a), 0) still fine
            if av > 0:
                for t in (mp.mpf("0.25"), mp.mpf("0.5"), mp.mpf(1)):
                    assert g_mp(-t * av / (1 + av), av) >= 0
        # below -a/(1+a) it eventually fails, for every a
        for av in (mp.mpf(0), mp.mpf(1), mp.mpf(10)):
            assert g_mp(mp.mpf(-1) + mp.mpf(10) ** -30, av) < 0


@pytest.mark.check("randomized")
@with_fixtures
@given(xv=st.floats(0, 1e6), av=st.floats(0, 1e6))
def test_randomized(xv, av, slack):
    g = g_mp(mp.mpf(xv), mp.mpf(av))  # exact inputs, 60-digit evaluation: no float cancellation
    slack(g, "g(x; a)")
    assert g >= 0


@pytest.mark.check("randomized")
def test_adversarial_minimisation(slack, effort):
    from scipy.optimize import minimize_scalar
    rng = np.random.default_rng(12)
    for av in list(rng.uniform(0, 20, 3 * effort)) + [0.0, 1.0]:
        r = minimize_scalar(lambda t: float(g_mp(mp.mpf(t), mp.mpf(av))), bounds=(0.0, 100.0), method="bounded",
                            options={"xatol": 1e-12})
        g = g_mp(mp.mpf(r.x), mp.mpf(av))
        slack(g, "min over x >= 0 of g(x; a)")
        assert g >= 0 and abs(r.x - av) < 1e-3 * (1 + av)  # the minimiser is x = a


test_worst_case_search = worst_case_test("Lemma A.12", "Lemma A.12 (x >= -a/(1+a))")
