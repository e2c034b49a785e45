r"""Definition 3.1: the matrix Renyi entropy, its alpha -> 1 (von Neumann) limit and its range.

**Statement.** For an $n\times n$ positive semi-definite matrix $\mathbf K$ with unit diagonal and
$\alpha > 0$, $\alpha \ne 1$,

$$
\mathrm H_\alpha(\mathbf K) = \frac{1}{1-\alpha}\log\operatorname{tr}\Big(\big(\tfrac1n\mathbf K\big)^\alpha\Big),
\qquad
\mathrm H_1(\mathbf K) = -\operatorname{tr}\Big(\tfrac1n\mathbf K\log\tfrac1n\mathbf K\Big)\ \text{(von Neumann)}.
$$

Consequences checked here:

- (a) $\mathrm H_\alpha \to \mathrm H_1$ as $\alpha \to 1$ (so the case $\alpha = 1$ is the continuous
  extension, not a separate definition), and $\mathrm H_\alpha \to -\log\lambda_{\max}(\mathbf K/n)$
  as $\alpha \to \infty$;
- (b) $0 \le \mathrm H_\alpha(\mathbf K) \le \log n$ for every $\alpha \in (0, \infty]$, with
  $\mathrm H_\alpha = 0$ exactly when $\operatorname{rank}\mathbf K = 1$ and $\mathrm H_\alpha = \log n$
  exactly when $\mathbf K = \mathbf I_n$.

**Proof.** $\mathbf K$ is symmetric positive semi-definite with $\operatorname{tr}\mathbf K = n$ (unit
diagonal), so $\mathbf K/n = \mathbf Q\operatorname{diag}(p)\mathbf Q^\top$ with $p_i \ge 0$ and
$\sum_i p_i = 1$: $\operatorname{tr}\big((\mathbf K/n)^\alpha\big) = \sum_i p_i^\alpha$, and
$\mathrm H_\alpha(\mathbf K)$ is the Rényi entropy of the probability vector $p$ (with $0^\alpha = 0$).

(a) $N(\alpha) = \log\sum_i p_i^\alpha$ has $N(1) = \log 1 = 0$ and $N'(1) = \sum_i p_i\log p_i$, so by
l'Hôpital $N(\alpha)/(1-\alpha) \to -\sum_i p_i\log p_i = \mathrm H_1(\mathbf K)$, which is
$-\operatorname{tr}\big(\tfrac1n\mathbf K\log\tfrac1n\mathbf K\big)$ in the eigenbasis. As
$\alpha \to \infty$, $\sum_i p_i^\alpha = p_{\max}^\alpha\,(m + o(1))$ with $m$ the multiplicity of the
maximum, so $N(\alpha)/(1-\alpha) \to -\log p_{\max}$.

(b) For $\alpha < 1$, $p_i^\alpha \ge p_i$ gives $\sum_i p_i^\alpha \ge 1$ and $\mathrm H_\alpha \ge 0$;
for $\alpha > 1$, $p_i^\alpha \le p_i$ gives $\sum_i p_i^\alpha \le 1$ and again $\mathrm H_\alpha \ge 0$;
equality in either case if and only if $p$ is a point mass, i.e. $\operatorname{rank}\mathbf K = 1$.
Upper bound: $t \mapsto t^\alpha$ is concave ($\alpha < 1$) or convex ($\alpha > 1$), so by Jensen's
inequality $\sum_i p_i^\alpha = n\,\mathbb E_u[p_u^\alpha]$ is $\le n\,(1/n)^\alpha$ (respectively
$\ge$), $u$ uniform on the $n$ indices, which gives $\mathrm H_\alpha \le \log n$ in both cases, with
equality if and only if $p$ is uniform, i.e. $\mathbf K/n = \mathbf I_n/n$. The cases $\alpha = 1$ and
$\alpha = \infty$ follow by the limits (or directly: Gibbs' inequality, and $p_{\max} \ge 1/n$).
"""
import math

import mpmath
import pytest
import sympy as sp
from hypothesis import given

from proofs import _mp
from proofs import _strategies as S
from proofs._power import worst_case_test

STATEMENT = "Definition 3.1"
TITLE = "the matrix Rényi entropy, its von Neumann limit and its range"
VERDICT = "holds"


@pytest.mark.check("symbolic")
def test_lhopital_limit_is_von_neumann_on_a_symbolic_spectrum():
    a = sp.symbols("alpha", positive=True)
    p1, p2 = sp.symbols("p1 p2", positive=True)
    p = [p1, p2, 1 - p1 - p2]
    N = sp.log(sum(q ** a for q in p))
    assert sp.simplify(N.subs(a, 1)) == 0  # numerator vanishes at alpha = 1 because sum p = 1
    # l'Hopital: lim N/(1-alpha) = -N'(1)
    lim = -sp.diff(N, a).subs(a, 1)
    shannon = -sum(q * sp.log(q) for q in p)
    assert sp.simplify(lim - shannon) == 0


@pytest.mark.check("symbolic")
def test_limits_on_an_exact_spectrum():
    a = sp.symbols("alpha", positive=True)
    p = [sp.Rational(1, 2), sp.Rational(1, 3), sp.Rational(1, 6)]
    H = sp.log(sum(q ** a for q in p)) / (1 - a)
    assert sp.simplify(sp.limit(H, a, 1) - (-sum(q * sp.log(q) for q in p))) == 0
    assert sp.simplify(sp.limit(H, a, sp.oo) - sp.log(2)) == 0  # -log max p


@pytest.mark.check("symbolic")
def test_matrix_power_of_a_2x2_correlation_matrix():
    """tr((K/n)^alpha) is the power sum of the spectrum: checked on K = [[1, c], [c, 1]]."""
    c = sp.symbols("c", real=True)
    a = sp.Integer(3)
    K = sp.Matrix([[1, c], [c, 1]]) / 2
    assert sp.expand((K ** a).trace() - (((1 + c) / 2) ** a + ((1 - c) / 2) ** a)) == 0
    P, D = (2 * K).diagonalize()
    assert {sp.expand(D[i, i]) for i in range(2)} == {1 - c, 1 + c}


@pytest.mark.check("high-precision")
def test_alpha_to_one_convergence_in_60_digits(slack):
    K = [["1", "1/3", "-1/5"], ["1/3", "1", "1/2"], ["-1/5", "1/2", "1"]]
    h1 = _mp.entropy(K, 1)
    errs = []
    for k in range(3, 13, 3):
        h = mpmath.mpf(10) ** -k
        lo, hi = _mp.entropy(K, 1 - h), _mp.entropy(K, 1 + h)
        assert lo > h1 > hi  # strictly decreasing in alpha through 1 (K is not I or rank 1)
        errs.append(max(lo - h1, h1 - hi))
        assert errs[-1] < 10 * h  # first-order convergence: |H_{1+-h} - H_1| = O(h)
    for e0, e1 in zip(errs, errs[1:]):
        assert e1 < e0 / 100  # each step of 10^-3 shrinks the error by about 10^3
    slack(_mp.clean(h1), "H_1 of a 3x3 rational correlation matrix")


@pytest.mark.check("high-precision")
def test_range_and_equality_cases_exact(slack):
    for n in (1, 2, 3, 5):
        eye = [[1 if i == j else 0 for j in range(n)] for i in range(n)]
        ones = [[1] * n for _ in range(n)]
        for alpha in (mpmath.mpf("0.01"), mpmath.mpf("0.5"), 1, 2, 7, 100, mpmath.inf):
            assert abs(_mp.entropy(eye, alpha) - mpmath.log(n)) < mpmath.mpf(10) ** -55
            assert abs(_mp.entropy(ones, alpha)) < mpmath.mpf(10) ** -55
    K = [["1", "1/2", "1/2"], ["1/2", "1", "1/2"], ["1/2", "1/2", "1"]]  # spectrum (2, 1/2, 1/2)/3
    for alpha in (mpmath.mpf("0.01"), mpmath.mpf("0.5"), 1, 2, 7, 100, mpmath.inf):
        h = _mp.entropy(K, alpha)
        slack(min(h, mpmath.log(3) - h), f"margin inside (0, log 3) at alpha={alpha}")
        assert mpmath.mpf("0.1") < h < mpmath.log(3) - mpmath.mpf("0.001")
    # alpha = 2 in closed form: -log tr((K/3)^2) = -log((4 + 1/4 + 1/4)/9) = log 2
    assert abs(_mp.entropy(K, 2) - mpmath.log(2)) < mpmath.mpf(10) ** -55


def float64_matches_reference(K, alpha):
    """The float64 H_alpha -- mmae's (``mmae.info.entropy``) and the checks' own (``_mp.np_renyi``) --
    against the 60-digit value on the exact K, within the round-off of a float64 evaluation (which
    sees K rounded): returns the float64 value of ``_mp.np_renyi``."""
    want, tol = _mp.entropy(K, alpha), _mp.float64_entropy_error(K, alpha)
    h = _mp.np_renyi(K.astype(float), alpha, zero_tol=1e-12)
    assert abs(h - want) <= tol, ("proofs._mp.np_renyi", alpha, h, want)
    info = pytest.importorskip("mmae.info")
    got = float(info.entropy(K.astype(float), alpha))
    assert abs(got - want) <= tol, ("mmae.info.entropy", alpha, got, want)
    return h


@pytest.mark.check("randomized")
@given(S.unit_diag_psd(max_n=6, exact=True), S.alphas())
def test_range_on_random_unit_diagonal_psd(slack, K, alpha):
    n = K.shape[0]
    h = float64_matches_reference(K, alpha)
    margin = min(h, math.log(n) - h)
    if margin < 1e-8:  # a float64 verdict near the boundary is re-decided in 60 digits on the exact K
        hm = _mp.entropy(K, alpha)
        margin = min(hm, mpmath.log(n) - hm)
        assert margin >= -mpmath.mpf(10) ** -50
    slack(_mp.clean(margin), "min(H, log n - H)")
    assert margin >= -1e-12


@pytest.mark.check("randomized")
@given(S.unit_diag_psd(max_n=5, exact=True), S.alphas(include_inf=False), S.alphas(include_inf=False))
def test_monotone_in_alpha_in_60_digits(slack, K, a, b):
    """A consistency check of the definition's family: H_alpha is non-increasing in alpha."""
    lo, hi = sorted((a, b))
    for alpha in (lo, hi):
        float64_matches_reference(K, alpha)
    d = _mp.entropy(K, lo) - _mp.entropy(K, hi)
    slack(_mp.clean(d), "H_lo - H_hi")
    assert d >= -mpmath.mpf(10) ** -40


@pytest.mark.check("randomized")
def test_adversarial_search_for_entropy_outside_range(slack, effort):
    """Minimise H and log n - H over Gram matrices of unit vectors from many starts."""
    worst = mpmath.inf
    for n, r in ((3, 2), (4, 3))[: 1 if effort == 1 else 2]:
        for alpha in (0.3, 2.0, math.inf):
            for sign in (1, -1):
                def f(x):
                    K = (lambda X: X @ X.T)(_mp.np_unit_rows(x.reshape(n, r)))
                    h = _mp.np_renyi(K, alpha)
                    return h if sign == 1 else math.log(n) - h
                v, x = S.multistart_minimize(f, lambda rng: rng.standard_normal(n * r),
                                             starts=effort, seed=n + r, maxiter=30)[0]
                m = v
                if v < 1e-6:  # near the boundary: decide in 60 digits on the exact Gram matrix
                    hm = _mp.entropy(_mp.sample_gram(x.reshape(n, r)), alpha)
                    m = hm if sign == 1 else mpmath.log(n) - hm
                    assert m >= -mpmath.mpf(10) ** -40
                worst = min(worst, m)
    slack(_mp.clean(worst), "smallest min(H, log n - H) found by local search")


@pytest.mark.check("randomized")
@given(S.unit_diag_psd(min_n=2, max_n=6, exact=True, special=False), S.alphas())
def test_mmae_entropy_matches_independent_computation(K, alpha):
    """mmae sees the float64 rounding; the reference is the exact matrix (its true rank).  Every
    test here that draws an alpha makes the same comparison; this one on generic matrices only."""
    float64_matches_reference(K, alpha)


test_worst_case_search = worst_case_test("Definition 3.1")
