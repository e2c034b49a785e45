r"""Definition C.1 (f-divergence), Eq. (15), and its clause "$f(x) = x\log x$ gives the KL divergence".

**Statement.** For probability laws $P \ll Q$ with densities $p, q$ and a convex
$f : [0, \infty) \to \mathbb{R}$, right-continuous at 0, with $f(1) = 0$,
$D_f(P\,\|\,Q) = \int f\big(p(x)/q(x)\big)\, q(x)\,dx$ (Eq. 15).  The clause after it: $f(x) = x\log x$
recovers $\mathrm{KL}(P\,\|\,Q) = \int p \log(p/q)\,dx$.

**Verdict: holds**, with the convention $0\log 0 = 0$: $x\log x$ is not defined at 0, and the value
$f(0) = 0$ that right-continuity asks for is its limit $\lim_{x\to0^+} x\log x = 0$.

**Proof.** *The clause:* $q\, f(p/q) = q \cdot (p/q)\log(p/q) = p\log(p/q)$ wherever $q > 0$; where
$q = 0$ we also have $p = 0$ ($P \ll Q$), so the set adds nothing to either integral.  $x\log x$ is
convex ($f'' = 1/x > 0$) with $f(1) = 0$.  *Non-negativity* (which makes $D_f$ a divergence):
Jensen's inequality for the law $Q$, $D_f = \mathbb{E}_Q[f(p/q)] \ge f(\mathbb{E}_Q[p/q]) = f(1) = 0$,
with equality at $P = Q$.  *Why $P \ll Q$ is needed:* for $x\log x$ the integrand at a point with
$q \to 0^+$, $p > 0$ is $q f(p/q) = p\log(p/q) \to +\infty$, i.e. $D_f = \infty$ (the usual
$0 \cdot f(p/0) = p \lim_{t\to\infty} f(t)/t$).  The JS generator of the same section gives twice the
Jensen-Shannon divergence, not JS itself: see Definition C.2 (`test_definition_c_2.py`).
"""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from proofs._mp import DPS

STATEMENT = "Definition C.1"
TITLE = "f-divergence; f(x) = x log x gives the KL divergence"
VERDICT = "holds"

x = sp.symbols("x", positive=True)
F_KL = x * sp.log(x)


@pytest.mark.check("symbolic")
def test_generator_is_admissible_and_gives_kl(slack):
    assert sp.diff(F_KL, x, 2) == 1 / x and F_KL.subs(x, 1) == 0  # convex on (0, inf), f(1) = 0
    assert sp.limit(F_KL, x, 0, "+") == 0  # right-continuous at 0 once f(0) := 0
    p = sp.symbols("p0:3", positive=True)
    q = sp.symbols("q0:3", positive=True)
    d_f = sum(qi * F_KL.subs(x, pi / qi) for pi, qi in zip(p, q))
    kl = sum(pi * sp.log(pi / qi) for pi, qi in zip(p, q))
    assert sp.simplify(d_f - kl) == 0  # term by term, for every positive p_i, q_i
    # P not << Q: the term p log(p/q) of a point where q -> 0+ and p > 0 grows without bound
    assert sp.limit(q[0] * F_KL.subs(x, p[0] / q[0]), q[0], 0, "+") == sp.oo
    # an exact value: P = (1/2, 1/2), Q = (1/4, 3/4): D_f = (1/2) log 2 + (1/2) log(2/3) = log(4/3) / 2
    half, Q2 = sp.Rational(1, 2), (sp.Rational(1, 4), sp.Rational(3, 4))
    exact = sum(qi * F_KL.subs(x, half / qi) for qi in Q2)
    assert sp.simplify(sp.expand_log(exact - sp.log(sp.Rational(4, 3)) / 2, force=True)) == 0
    slack(sp.N(exact, 30), "D_f(P||Q) = KL at P = (1/2, 1/2), Q = (1/4, 3/4), exact: log(4/3)/2 > 0")


@pytest.mark.check("high-precision")
def test_eq_15_integral_is_kl_for_gaussians(slack):
    """Eq. (15) as an integral, evaluated by 60-digit quadrature, against the closed form
    KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2/s1) + (s1^2 + (m1 - m2)^2)/(2 s2^2) - 1/2."""
    def density(t, m, s):
        return mp.exp(-(t - m) ** 2 / (2 * s * s)) / (s * mp.sqrt(2 * mp.pi))

    def integrand(t, m1, s1, m2, s2):  # f(p/q) q with f(u) = u log u
        r = density(t, m1, s1) / density(t, m2, s2)
        return r * mp.log(r) * density(t, m2, s2)

    with mp.workdps(DPS):
        for m1, s1, m2, s2 in ((0, 1, 0, 1), (0, 1, 1, 2), (mp.mpf("0.5"), mp.mpf("0.3"), -1, 1)):
            m1, s1, m2, s2 = map(mp.mpf, (m1, s1, m2, s2))
            d_f = mp.quad(lambda t, a=(m1, s1, m2, s2): integrand(t, *a), [-mp.inf, m1 - 8 * s1, m1, m1 + 8 * s1, mp.inf])
            closed = mp.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - mp.mpf(1) / 2
            assert abs(d_f - closed) < mp.mpf(10) ** -40
            slack(d_f, f"D_f = KL >= 0 for N({mp.nstr(m1, 3)}, {mp.nstr(s1, 3)}^2) || N({mp.nstr(m2, 3)}, {mp.nstr(s2, 3)}^2)")
            if (m1, s1) == (m2, s2):
                assert abs(d_f) < mp.mpf(10) ** -40  # equality at P = Q


GENERATORS = {  # admissible generators (convex, f(1) = 0) with the divergence each gives
    "x log x (KL)": lambda u: u * np.log(u),
    "-log x (reverse KL)": lambda u: -np.log(u),
    "(x - 1)^2 (chi^2)": lambda u: (u - 1) ** 2,
    "|x - 1| / 2 (total variation)": lambda u: np.abs(u - 1) / 2,
}


@pytest.mark.check("randomized")
@given(st.integers(2, 8), st.integers(0, 2 ** 32 - 1), st.sampled_from((1.0, 1e-2, 1e-6)))
def test_discrete_laws_kl_and_jensen(slack, m, seed, spread):
    """On random discrete laws with full support (``spread`` small: P nearly Q): D_f with
    x log x equals sum p log(p/q) (each term, to the round-off of one log), and every admissible
    generator gives D_f >= 0 (Jensen) up to the round-off of an m-term sum."""
    rng = np.random.default_rng(seed)
    q = rng.dirichlet(np.ones(m))
    p = q * np.exp(spread * rng.standard_normal(m))
    p /= p.sum()
    eps = np.finfo(float).eps
    d_kl = float(np.sum(q * GENERATORS["x log x (KL)"](p / q)))
    kl = float(np.sum(p * np.log(p / q)))
    assert abs(d_kl - kl) <= 8 * m * eps * float(np.sum(p * (1 + np.abs(np.log(p / q)))))
    for name, f in GENERATORS.items():
        d = float(np.sum(q * f(p / q)))
        assert d >= -8 * m * eps * float(np.sum(q * (1 + np.abs(f(p / q))))), name
    slack(kl, "KL(P||Q) = D_f with f = x log x, discrete laws (float64)")
