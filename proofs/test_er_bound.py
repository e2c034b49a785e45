r"""The entropy-reconstruction (ER) bound of Rodriguez-Galvez et al. (ICML 2023), on jointly Gaussian
variables.

**Statement.** For random vectors $Z_1, Z_2$ and any conditional density $q(z_2\mid z_1)$,

$$
I(Z_1; Z_2) \ge H(Z_2) + \mathbb E\,[\log q(Z_2\mid Z_1)],
$$

with equality if and only if $q = p(z_2\mid z_1)$ almost everywhere.

**Proof.** $I = H(Z_2) - H(Z_2\mid Z_1)$ and

$$
-H(Z_2\mid Z_1) = \mathbb E\log p(Z_2\mid Z_1)
= \mathbb E\log q(Z_2\mid Z_1) + \mathbb E_{Z_1}\mathrm{KL}\big(p(\cdot\mid Z_1)\,\|\,q(\cdot\mid Z_1)\big);
$$

the gap is an expected KL divergence, $\ge 0$, and 0 if and only if $q$ is the true conditional.

**Gaussian closed form (what is checked).** $(Z_1, Z_2) \sim \mathcal N(m, \Sigma)$ with
$Z_1\in\mathbb R^k$, $Z_2\in\mathbb R^l$, and $q(z_2\mid z_1) = \mathcal N(Az_1 + b, S)$. With
$A^* = \Sigma_{21}\Sigma_{11}^{-1}$ and $S^* = \Sigma_{22} - \Sigma_{21}\Sigma_{11}^{-1}\Sigma_{12}$ (the
true conditional), $\delta = m_2 - Am_1 - b$ and
$M = \mathbb E[(Z_2 - AZ_1 - b)(Z_2 - AZ_1 - b)^\top] = S^* + (A-A^*)\Sigma_{11}(A-A^*)^\top + \delta\delta^\top$:

$$
\begin{aligned}
I &= \tfrac12\log\frac{\det\Sigma_{11}\det\Sigma_{22}}{\det\Sigma}, \qquad
H(Z_2) = \tfrac12\log\det(2\pi e\Sigma_{22}),\\
\mathbb E\log q &= -\tfrac12\log\det(2\pi S) - \tfrac12\mathrm{tr}(S^{-1}M),
\end{aligned}
$$

and the gap is
$\tfrac12[\mathrm{tr}(S^{-1}M) - l - \log\det(S^{-1}S^*)] \ge \tfrac12\sum_i(\theta_i - 1 - \log\theta_i) \ge 0$
($\theta_i$ the eigenvalues of $S^{-1}S^*$), zero exactly at $A = A^*$, $b = m_2 - A^*m_1$, $S = S^*$
(using $\det\Sigma = \det\Sigma_{11}\det S^*$). The expectations are computed independently of these
formulas by Gauss-Hermite quadrature, which is exact for the quadratic integrands $\log q$ and
$\log p$.
"""
import itertools

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs._mp import DPS, logdet, matrix
from proofs._tcr import adversarial_min, settle, with_fixtures
from proofs._power import worst_case_test

STATEMENT = "ER bound"
TITLE = "the entropy-reconstruction lower bound on mutual information, Gaussian case"
VERDICT = "holds"

NODES = [(-mp.sqrt(3), mp.mpf(1) / 6), (mp.mpf(0), mp.mpf(2) / 3), (mp.sqrt(3), mp.mpf(1) / 6)]  # exact to degree 5


def gauss_expect(fn, mean, cov):
    """E[fn(z)] for z ~ N(mean, cov) by a tensor 3-point Gauss-Hermite rule (exact for polynomials of
    degree <= 5 in z, in particular for quadratics)."""
    n = cov.rows
    chol = mp.cholesky(cov)
    total = mp.mpf(0)
    for pts in itertools.product(NODES, repeat=n):
        u = matrix([[p[0]] for p in pts])
        w = mp.fprod(p[1] for p in pts)
        total += w * fn(mean + chol * u)
    return total


def er_parts(sig, m, k, a, b, s, quadrature=True):
    """(I, H(Z2), E log q, closed-form gap, A*, S*); sig is (k+l)x(k+l), a is l x k. E log q by
    Gauss-Hermite quadrature, or (quadrature=False) from the raw second moments of Z2 - A Z1 - b."""
    n = sig.rows
    l_ = n - k
    s11, s22 = sig[:k, :k], sig[k:, k:]
    s12, s21 = sig[:k, k:], sig[k:, :k]
    mi = (logdet(s11) + logdet(s22) - logdet(sig)) / 2
    h2 = (l_ * mp.log(2 * mp.pi * mp.e) + logdet(s22)) / 2
    sinv = s ** -1

    def logq(z):
        r = z[k:, 0] - a * z[:k, 0] - b
        return -(l_ * mp.log(2 * mp.pi) + logdet(s)) / 2 - (r.T * sinv * r)[0] / 2

    delta = m[k:, 0] - a * m[:k, 0] - b
    if quadrature:
        elq = gauss_expect(logq, m, sig)
    else:
        raw = s22 - a * s12 - s21 * a.T + a * s11 * a.T + delta * delta.T
        elq = -(l_ * mp.log(2 * mp.pi) + logdet(s)) / 2 - mp.fsum((sinv * raw)[i, i] for i in range(l_)) / 2
    astar = s21 * s11 ** -1
    sstar = s22 - s21 * s11 ** -1 * s12
    mm = sstar + (a - astar) * s11 * (a - astar).T + delta * delta.T
    tr = mp.fsum((sinv * mm)[i, i] for i in range(l_))
    gap = (tr - l_ - (logdet(sstar) - logdet(s))) / 2
    return mi, h2, elq, gap, astar, sstar


def random_problem(rng, k, l_):
    n = k + l_
    x = rng.standard_normal((n, n))
    sig = matrix(x @ x.T + 0.2 * np.eye(n))
    m = matrix(rng.standard_normal((n, 1)))
    return sig, m


@pytest.mark.check("symbolic")
def test_scalar_case_exact():
    rho = sp.symbols("rho", real=True)
    s1, s2, a, b, s, m1, m2 = sp.symbols("s1 s2 a b s m1 m2", real=True)
    sp_pos = {s1: sp.Symbol("s1", positive=True), s2: sp.Symbol("s2", positive=True), s: sp.Symbol("s", positive=True)}
    # moments of (Z1, Z2): E[Z1]=m1, E[Z2]=m2, Var = s1^2, s2^2, Cov = rho s1 s2
    e_r2 = (s2 ** 2 - 2 * a * rho * s1 * s2 + a ** 2 * s1 ** 2) + (m2 - a * m1 - b) ** 2
    elq = -sp.log(2 * sp.pi * s) / 2 - e_r2 / (2 * s)
    h2 = sp.log(2 * sp.pi * sp.E * s2 ** 2) / 2
    mi = -sp.log(1 - rho ** 2) / 2
    # at the true conditional the bound is an equality
    true = {a: rho * s2 / s1, b: m2 - rho * s2 / s1 * m1, s: s2 ** 2 * (1 - rho ** 2)}
    gap_true = (mi - h2 - elq.subs(true)).subs(sp_pos)
    assert sp.simplify(sp.expand_log(gap_true, force=True)) == 0
    # otherwise the gap is KL-shaped: (theta - 1 - log theta)/2 + (mean/regression error)/(2 s) >= 0
    theta = s2 ** 2 * (1 - rho ** 2) / s
    extra = ((a - rho * s2 / s1) ** 2 * s1 ** 2 + (m2 - a * m1 - b) ** 2) / (2 * s)
    gap = mi - h2 - elq
    assert sp.simplify(sp.expand_log((gap - ((theta - 1 - sp.log(theta)) / 2 + extra)).subs(sp_pos), force=True)) == 0
    t = sp.symbols("t", positive=True)
    assert sp.simplify(sp.diff(t - 1 - sp.log(t), t) - (t - 1) / t) == 0  # min at t = 1, value 0


@pytest.mark.check("high-precision")
def test_gaussian_bound_and_equality_60_digits(slack):
    rng = np.random.default_rng(2023)
    with mp.workdps(DPS):
        for k, l_ in [(1, 1), (2, 1), (1, 2), (2, 2)]:
            sig, m = random_problem(rng, k, l_)
            for trial in range(3):
                a = matrix(rng.standard_normal((l_, k)))
                b = matrix(rng.standard_normal((l_, 1)))
                y = rng.standard_normal((l_, l_))
                s = matrix(y @ y.T + 0.3 * np.eye(l_))
                mi, h2, elq, gap, astar, sstar = er_parts(sig, m, k, a, b, s)
                assert abs((mi - h2 - elq) - gap) < mp.mpf(10) ** -40  # quadrature = closed form
                slack(gap, "I - (H(Z2) + E log q)")
                assert gap > mp.mpf(10) ** -20
            bstar = m[k:, 0] - astar * m[:k, 0]
            mi, h2, elq, gap, _, _ = er_parts(sig, m, k, astar, bstar, sstar)
            assert abs(mi - h2 - elq) < mp.mpf(10) ** -45  # equality at the true conditional


@pytest.mark.check("randomized")
@with_fixtures
@given(seed=st.integers(0, 2 ** 32 - 1), k=st.integers(1, 3), l_=st.integers(1, 3),
       near=st.sampled_from([0.0, 1e-8, 1e-3, 1.0]))
def test_randomized_near_the_true_conditional(seed, k, l_, near, slack):
    rng = np.random.default_rng(seed)
    with mp.workdps(DPS):
        sig, m = random_problem(rng, k, l_)
        s11, s21, s22 = sig[:k, :k], sig[k:, :k], sig[k:, k:]
        astar = s21 * s11 ** -1
        sstar = s22 - astar * sig[:k, k:]
        a = astar + matrix(near * rng.standard_normal((l_, k)))
        b = m[k:, 0] - astar * m[:k, 0] + matrix(near * rng.standard_normal((l_, 1)))
        s = sstar * (1 + near)
        mi, h2, elq, gap, _, _ = er_parts(sig, m, k, a, b, s, quadrature=False)
        assert abs(mi - h2 - elq - gap) < mp.mpf(10) ** -40
        g = settle(mi - h2 - elq, mp.mpf(10) ** -40)
        slack(g, "I - ER bound")
        assert g >= 0


@pytest.mark.check("randomized")
def test_adversarial_maximisation_of_the_bound(slack, effort):
    """Maximise H(Z2) + E log q over Gaussian q (k = l = 1): the search reaches I from below."""
    rng = np.random.default_rng(77)
    with mp.workdps(30):
        sig, m = random_problem(rng, 1, 1)
        s_np = np.array(sig.tolist(), dtype=float)
        m_np = np.array(m.tolist(), dtype=float).ravel()
        mi = float((logdet(sig[:1, :1]) + logdet(sig[1:, 1:]) - logdet(sig)) / 2)

    def neg_bound(x):
        a, b, log_s = x
        s = np.exp(log_s)
        e_r2 = s_np[1, 1] - 2 * a * s_np[0, 1] + a * a * s_np[0, 0] + (m_np[1] - a * m_np[0] - b) ** 2
        return mi - (0.5 * np.log(2 * np.pi * np.e * s_np[1, 1]) - 0.5 * np.log(2 * np.pi * s) - e_r2 / (2 * s))

    val, x = adversarial_min(neg_bound, [rng.standard_normal(3) for _ in range(2 * effort)], maxiter=200)
    with mp.workdps(DPS):
        sig60, m60 = matrix(s_np), matrix(m_np.reshape(2, 1))
        mi60, h2, elq, gap, _, _ = er_parts(sig60, m60, 1, matrix([[x[0]]]), matrix([[x[1]]]), matrix([[mp.exp(mp.mpf(x[2]))]]))
    slack(gap, "smallest I - ER bound found by local search (60 digits)")
    assert gap >= 0 and val < 1e-8


test_worst_case_search = worst_case_test("ER bound")
