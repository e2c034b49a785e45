r"""Proposition 4.15 (twin A.9): the identity is the unique maximiser of the matrix entropy and of the coding rate.

**Statement.** Over $n\times n$ positive semi-definite matrices $\mathbf K$ with unit diagonal (the
paper: $d\times d$),

- (a) $\operatorname{argmax}\mathrm H_\alpha(\mathbf K) = \{\mathbf I_n\}$ for every $\alpha \in (0, \infty]$;
- (b) $\operatorname{argmax}\mathrm{TCR}_\mu(\mathbf K) = \{\mathbf I_n\}$, where
  $\mathrm{TCR}_\mu(\mathbf K) = \log\det(\mu\mathbf I + \mathbf K)$ (Definition 4.8 as printed), for every
  $\mu \ge 0$, with the maximum $n\log(1 + \mu)$. At $\mu = 0$,
  $\mathrm{TCR}_0(\mathbf K) = \log\det\mathbf K$ is $-\infty$ on singular $\mathbf K$, and the maximiser is
  still $\mathbf I_n$ (value 0).

**Proof.** The spectrum $\lambda$ of $\mathbf K$ is nonnegative with sum $n$ (unit diagonal).
(a) $\mathrm H_\alpha$ is the Rényi entropy of $p = \lambda/n$, maximal ($= \log n$) exactly at the
uniform $p$ (Definition 3.1), i.e. $\lambda = (1, \dots, 1)$, i.e.
$\mathbf K = \mathbf Q\mathbf I\mathbf Q^\top = \mathbf I_n$.
(b) $\mathrm{TCR}_\mu(\mathbf K) = \sum_i\log(\mu + \lambda_i)$ and $\log$ is strictly concave, so by
Jensen's inequality $\sum_i\log(\mu + \lambda_i) \le n\log(\mu + \bar\lambda) = n\log(\mu + 1)$, with
equality if and only if every $\lambda_i = 1$, i.e. $\mathbf K = \mathbf I_n$. (Alternatively, Hadamard's
inequality: $\det(\mu\mathbf I + \mathbf K) \le \prod_i(\mu + K_{ii}) = (1 + \mu)^n$, with equality if and
only if $\mu\mathbf I + \mathbf K$ is diagonal.) The printed proof says "consider the spectrum": it
needs the step "all eigenvalues equal 1 implies $\mathbf K = \mathbf I$", which holds because
$\mathbf K$ is symmetric (diagonalisable).
"""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs import _mp
from proofs import _strategies as S
from proofs._power import worst_case_test

STATEMENT = "Proposition 4.15"
TITLE = "the identity is the unique maximiser of the matrix entropy and of the coding rate"
TWINS = ("Proposition A.9",)
VERDICT = "holds"

MUS = (0, mpmath.mpf("0.01"), 1, 3, 100)


def tcr(K, mu):
    return _mp.tcr(K, mu) if mu > 0 else _mp.logdet(K)


@pytest.mark.check("symbolic")
def test_two_by_two_closed_forms():
    c, mu = sp.symbols("c mu", real=True)
    K = sp.Matrix([[1, c], [c, 1]])
    # det(mu I + K) = (1 + mu)^2 - c^2 <= (1 + mu)^2 with equality iff c = 0
    assert sp.expand((mu * sp.eye(2) + K).det() - ((1 + mu) ** 2 - c ** 2)) == 0
    # Jensen step: sum log(mu + l_i) <= n log(mu + 1) for l = (1 + t, 1 - t): (mu+1)^2 - t^2
    t = sp.symbols("t", real=True)
    assert sp.expand((mu + 1 + t) * (mu + 1 - t) - ((mu + 1) ** 2 - t ** 2)) == 0


@pytest.mark.check("high-precision")
def test_identity_attains_the_maxima_in_60_digits(slack):
    for n in (1, 2, 4, 6):
        I = [[int(i == j) for j in range(n)] for i in range(n)]
        for mu in MUS:
            assert abs(tcr(I, mu) - n * mpmath.log(1 + mu)) < mpmath.mpf(10) ** -50
        for alpha in (mpmath.mpf("0.1"), 1, 2, mpmath.inf):
            assert abs(_mp.entropy(I, alpha) - mpmath.log(n)) < mpmath.mpf(10) ** -50
    # a rational perturbation of I loses strictly, by a margin far above round-off
    eps = mpmath.mpf(10) ** -20
    K = [[1, mpmath.mpf(1) / 10 ** 20, 0], [mpmath.mpf(1) / 10 ** 20, 1, 0], [0, 0, 1]]
    for mu in MUS:
        gap = 3 * mpmath.log(1 + mu) - tcr(K, mu)
        assert gap > eps ** 2 / (2 * (1 + mu) ** 2) * mpmath.mpf("0.99")  # = -log(1 - eps^2/(1+mu)^2)
        slack(_mp.clean(gap), f"TCR gap for a 1e-20 perturbation, mu={mu}")
    for alpha in (mpmath.mpf("0.1"), 1, 2, mpmath.inf):
        assert mpmath.log(3) - _mp.entropy(K, alpha) > eps ** 2 / 100


@pytest.mark.check("randomized")
@given(S.unit_diag_psd(max_n=6, special=False, exact=True), S.alphas(), st.sampled_from(MUS))
def test_random_matrices_lose_to_identity(slack, K, alpha, mu):
    n = K.shape[0]
    Kf = K.astype(float)
    if np.allclose(Kf, np.eye(n)):
        return
    mh = math.log(n) - _mp.np_renyi(Kf, alpha)
    if mh < 1e-8:
        mh = mpmath.log(n) - _mp.entropy(K, alpha)
        assert mh > 0  # K != I exactly, so strictly below
    slack(_mp.clean(mh), "log n - H_alpha(K)")
    assert mh > -1e-12
    lam = np.linalg.eigvalsh(Kf)
    if mu == 0 and lam.min() < 1e-6:
        return  # log det K = -inf (or nearly): trivially below 0
    mt = n * math.log(1 + float(mu)) - float(np.log(float(mu) + lam).sum())
    if mt < 1e-8:
        mt = n * mpmath.log(1 + mu) - tcr(K, mu)
        assert mt > 0
    slack(_mp.clean(mt), "n log(1+mu) - TCR_mu(K)")
    assert mt > -1e-12


@pytest.mark.check("randomized")
def test_adversarial_search_near_identity(slack, effort):
    """Minimise the gaps over Gram matrices of unit vectors started near I: they stay >= 0."""
    worst = mpmath.inf
    for n in (3, 4)[: 1 if effort == 1 else 2]:
        for which in ((1.0, None), (math.inf, None), (None, 0.01), (None, 3.0)):
            alpha, mu = which
            def f(x):
                K = (lambda X: X @ X.T)(_mp.np_unit_rows(x.reshape(n, n)))
                if alpha is not None:
                    return math.log(n) - _mp.np_renyi(K, alpha)
                return n * math.log(1 + mu) - float(np.log(mu + np.linalg.eigvalsh(K)).sum())
            v, x = S.multistart_minimize(f, lambda rng: (np.eye(n) + 0.3 * rng.standard_normal((n, n))).ravel(),
                                         starts=effort, seed=n, maxiter=30)[0]
            K = _mp.sample_gram(x.reshape(n, n))
            v = mpmath.log(n) - _mp.entropy(K, alpha) if alpha is not None else n * mpmath.log(1 + mu) - _mp.tcr(K, mu)
            assert v >= -mpmath.mpf(10) ** -40
            worst = min(worst, v)
    slack(_mp.clean(worst), "smallest gap found by local search")


@pytest.mark.check("randomized")
@given(S.unit_diag_psd(max_n=6, exact=True), st.sampled_from((mpmath.mpf("0.01"), 1, 3)))
def test_mmae_total_coding_rate_matches_independent_computation(K, mu):
    info = pytest.importorskip("mmae.info")
    got = float(info.total_coding_rate(K.astype(float), float(mu)))
    want = float(_mp.tcr(K, mu))
    assert abs(got - want) <= 1e-9 * max(1.0, abs(want)), (got, want)


test_worst_case_search = worst_case_test("Proposition 4.15")
