r"""Proposition 4.5 (twin A.3): the matrix mutual information is at most the log of the size.

**Statement.** For $n\times n$ positive semi-definite $\mathbf K_1, \mathbf K_2$ with unit diagonal and
every $\alpha > 0$ (the paper writes $d\times d$),
$\mathrm I_\alpha(\mathbf K_1;\mathbf K_2) \le \log n$.

**Proof.** Proposition 4.7 (iii), which holds for every $\alpha$ (majorisation: the spectrum of
$\mathbf K_1\odot\mathbf K_2$ is majorised by those of $\mathbf K_1$ and $\mathbf K_2$), gives
$\mathrm H_\alpha(\mathbf K_1\odot\mathbf K_2) \ge \max\{\mathrm H_\alpha(\mathbf K_1), \mathrm H_\alpha(\mathbf K_2)\}$, so

$$
\mathrm I_\alpha \le \mathrm H_\alpha(\mathbf K_1) + \mathrm H_\alpha(\mathbf K_2) - \max\{\mathrm H_\alpha(\mathbf K_1), \mathrm H_\alpha(\mathbf K_2)\}
= \min\{\mathrm H_\alpha(\mathbf K_1), \mathrm H_\alpha(\mathbf K_2)\} \le \log n
$$

(Definition 3.1). The printed proof is this chain with "Giraldo et al. (2014)" for the first step;
that step is correct for every $\alpha$, unlike the other inequality of Proposition 4.7 cited
from the same source. Equality: $\mathrm I_\alpha = \log n$ forces $\mathrm H_\alpha(\mathbf K_1) = \log n$,
i.e. $\mathbf K_1 = \mathbf I_n$, and then
$\mathrm I_\alpha(\mathbf I;\mathbf K_2) = \mathrm H_\alpha(\mathbf K_2) = \log n$ forces $\mathbf K_2 = \mathbf I_n$
too: the maximiser is unique. There is no matching lower bound $\mathrm I_\alpha \ge 0$ for
$\alpha \ne 1$: subadditivity fails there (Proposition 4.7), and
$\mathrm I_\infty = \log(2/3) < 0$ on its counterexample at $\alpha = \infty$.
"""
import math

import mpmath
import pytest
import sympy as sp
from hypothesis import given

from proofs import _mp
from proofs import _strategies as S
from proofs._power import worst_case_test

STATEMENT = "Proposition 4.5"
TITLE = "the matrix mutual information is at most the log of the size"
TWINS = ("Proposition A.3",)
VERDICT = "holds"


@pytest.mark.check("symbolic")
def test_bound_for_2x2_in_closed_form():
    """n = 2, alpha = 2: I_2 = 2 log 2 - log((2+2a^2)(2+2b^2)/(2+2a^2 b^2)) <= log 2
    <=> (1+a^2)(1+b^2) >= 1 + a^2 b^2."""
    a, b = sp.symbols("a b", real=True)
    lhs = (1 + a ** 2) * (1 + b ** 2) - (1 + a ** 2 * b ** 2)
    assert sp.expand(lhs - a ** 2 - b ** 2) == 0  # a sum of squares >= 0, zero only at a = b = 0


@pytest.mark.check("high-precision")
def test_negative_mutual_information_and_the_bound(slack):
    """I_alpha can be negative for alpha != 1 (Proposition 4.7's counterexample), but never exceeds log n."""
    k = 3
    n = 2 * k
    K1 = [[int(i == j or (i < k and j < k)) for j in range(n)] for i in range(n)]
    K2 = [[int(i == j or (i >= k and j >= k)) for j in range(n)] for i in range(n)]
    i_inf = _mp.mutual_information(K1, K2, mpmath.inf)
    assert abs(i_inf - (mpmath.log(4) - mpmath.log(6))) < mpmath.mpf(10) ** -50  # = log(2/3) < 0
    for alpha in (mpmath.mpf("0.3"), 1, 2, mpmath.inf):
        slack(mpmath.log(n) - _mp.mutual_information(K1, K2, alpha), f"log n - I at alpha={alpha}")
    I = [[int(i == j) for j in range(4)] for i in range(4)]
    for alpha in (mpmath.mpf("0.3"), 1, 2, mpmath.inf):
        assert abs(_mp.mutual_information(I, I, alpha) - mpmath.log(4)) < mpmath.mpf(10) ** -50


@pytest.mark.check("randomized")
@given(S.unit_diag_psd_pair(max_n=6, exact=True), S.alphas())
def test_random_pairs(slack, pair, alpha):
    E1, E2 = pair
    K1, K2 = E1.astype(float), E2.astype(float)
    n = K1.shape[0]
    m = math.log(n) - (_mp.np_renyi(K1, alpha) + _mp.np_renyi(K2, alpha) - _mp.np_renyi(K1 * K2, alpha))
    if m < 1e-8:
        m = mpmath.log(n) - _mp.mutual_information(E1, E2, alpha)
    slack(_mp.clean(m), "log n - I_alpha")
    assert m >= -1e-12


@pytest.mark.check("randomized")
def test_adversarial_search(slack, effort):
    worst = mpmath.inf
    for n, r in ((3, 3), (4, 2))[: 1 if effort == 1 else 2]:
        for alpha in (0.2, 1.0, 3.0, math.inf):
            def f(x):
                X, Y = _mp.np_unit_rows(x[: n * r].reshape(n, r)), _mp.np_unit_rows(x[n * r:].reshape(n, r))
                K1, K2 = X @ X.T, Y @ Y.T
                return math.log(n) - (_mp.np_renyi(K1, alpha) + _mp.np_renyi(K2, alpha) - _mp.np_renyi(K1 * K2, alpha))
            v, x = S.multistart_minimize(f, lambda rng: rng.standard_normal(2 * n * r), starts=effort,
                                         seed=n, maxiter=30)[0]
            if v < 1e-6:
                K1, K2 = _mp.sample_gram(x[: n * r].reshape(n, r)), _mp.sample_gram(x[n * r:].reshape(n, r))
                v = mpmath.log(n) - _mp.mutual_information(K1, K2, alpha)
            assert v >= -mpmath.mpf(10) ** -30
            worst = min(worst, v)
    slack(_mp.clean(worst), "smallest log n - I found by local search")


test_worst_case_search = worst_case_test("Proposition 4.5")
