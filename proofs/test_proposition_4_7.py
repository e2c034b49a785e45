r"""Proposition 4.7 (twin A.5): the joint entropy against the ranks and the marginal entropies.

**Statement (as printed).** For $n\times n$ positive semi-definite $\mathbf K_1, \mathbf K_2$ with unit
diagonal and $\alpha > 0$:

$$
\begin{aligned}
&\text{(i)} && \mathrm H_1(\mathbf K_1, \mathbf K_2) \le \log\operatorname{rank}(\mathbf K_1\odot\mathbf K_2),\\
&\text{(ii)} && \log\operatorname{rank}(\mathbf K_1\odot\mathbf K_2) \le \log\operatorname{rank}\mathbf K_1 + \log\operatorname{rank}\mathbf K_2,\\
&\text{(iii)} && \max\{\mathrm H_\alpha(\mathbf K_1), \mathrm H_\alpha(\mathbf K_2)\} \le \mathrm H_\alpha(\mathbf K_1, \mathbf K_2),\\
&\text{(iv)} && \mathrm H_\alpha(\mathbf K_1, \mathbf K_2) \le \mathrm H_\alpha(\mathbf K_1) + \mathrm H_\alpha(\mathbf K_2).
\end{aligned}
$$

**Verdict: false as printed.** (i)-(iii) hold for every $\alpha \in (0, \infty]$ ((i) even with
$\mathrm H_\alpha$ in place of $\mathrm H_1$). (iv), subadditivity, holds for $\alpha = 1$ but *fails for
every* $\alpha \ne 1$:

- $\alpha > 1$: take $\mathbf K_1 = \mathbf J_k\oplus\mathbf I_k$ and $\mathbf K_2 = \mathbf I_k\oplus\mathbf J_k$
  ($\mathbf J_k$ the $k\times k$ all-ones block). Then $\mathbf K_1\odot\mathbf K_2 = \mathbf I_{2k}$, so
  $\mathrm H_\alpha(\mathbf K_1, \mathbf K_2) = \log 2k$, while $\mathbf K_1/2k$ has the spectrum $\tfrac12$
  (once), $\tfrac1{2k}$ ($k$ times) and 0 ($k - 1$ times): with $S = 2^{-\alpha} + k(2k)^{-\alpha}$,
  $\mathrm H_\alpha(\mathbf K_1) = \mathrm H_\alpha(\mathbf K_2) = \log S/(1-\alpha)$. (iv) fails if and only if
  $S^2(2k)^{\alpha-1} > 1$, true for all large $k$ because $S \ge 2^{-\alpha}$. The smallest $k$ is 6 at
  $\alpha = 2$ (exactly: $\mathrm H_2(\mathbf K_1) + \mathrm H_2(\mathbf K_2) = \log(576/49) < \log 12 = \mathrm H_2(\mathbf K_1, \mathbf K_2)$),
  12 at $\alpha = 3/2$, and 3 at $\alpha = \infty$ ($\log 4 < \log 6$).
- $\alpha < 1$: classical designs. For labels $a(i)$, $b(i)$ of $n$ samples put
  $\mathbf K_1 = [a(i) = a(j)]$ and $\mathbf K_2 = [b(i) = b(j)]$; then
  $\mathbf K_1\odot\mathbf K_2 = [(a, b)(i) = (a, b)(j)]$. Each is $\mathbf K = \mathbf P\mathbf P^\top$ with
  $\mathbf P$ the 0/1 membership matrix, so the nonzero spectrum of $\mathbf K/n$ is the class
  frequencies and every $\mathrm H_\alpha$ is the classical Rényi entropy of the label distribution.
  Take one class pair $(0, 0)$ of size $N$ and $m^2$ singleton pairs $(i, j)$, $1 \le i, j \le m$
  ($n = N + m^2$). With $S = \sum p^\alpha$, (iv) fails if and only if
  $(N^\alpha + m^2)\,n^\alpha > (N^\alpha + m^{1+\alpha})^2$; with $N^\alpha \approx m^{1+\alpha}$ the left
  side is at least $m^{3+\alpha}$ and the right about $4m^{2+2\alpha}$, so it fails once
  $m^{1-\alpha} > 4$. An instance at $\alpha = 1/2$: $N = 418$, $m = 9$ ($n = 499$).

So the only $\alpha > 0$ with (iv) is $\alpha = 1$ (the limit $\alpha \to 0$ is the rank inequality (ii)).

**Proofs of what holds.** Write $\mathbf K_1 = [\langle x_i, x_j\rangle]$ and
$\mathbf K_2 = [\langle y_i, y_j\rangle]$ with unit vectors.
(i) $\mathrm H_\alpha$ is non-increasing in $\alpha$ and $\mathrm H_0 = \log\operatorname{rank}$ (Definition 3.1),
so $\mathrm H_1 \le \log\operatorname{rank}$.
(ii) $\mathbf K_1\odot\mathbf K_2$ is the Gram matrix of the $x_i\otimes y_i$, vectors in
$\operatorname{span}\{x_i\}\otimes\operatorname{span}\{y_i\}$, a space of dimension
$\operatorname{rank}\mathbf K_1\cdot\operatorname{rank}\mathbf K_2$.
(iii) $\Phi(\mathbf A) = \mathbf A\odot\mathbf K_2$ is a positive (Schur product theorem), unital
($\mathbf I\odot\mathbf K_2 = \mathbf I$) and trace-preserving
($\operatorname{tr}(\mathbf A\odot\mathbf K_2) = \sum_i A_{ii}$) map, so the spectrum of $\Phi(\mathbf K_1)$ is
majorised by that of $\mathbf K_1$ (Uhlmann); Rényi entropies of every order are Schur-concave, hence
$\mathrm H_\alpha(\mathbf K_1\odot\mathbf K_2) \ge \mathrm H_\alpha(\mathbf K_1)$, and symmetrically for
$\mathbf K_2$.
(iv) at $\alpha = 1$: $\mathrm H_1(\mathbf K_1, \mathbf K_2)$ is the von Neumann entropy of
$\rho_{12} = \frac1n\sum_i x_i x_i^\top\otimes y_i y_i^\top$, whose marginals have the spectra of
$\mathbf K_1/n$ and $\mathbf K_2/n$ (Definition 3.3), and von Neumann entropy is subadditive.

The paper's proof cites Giraldo et al. (2014) for (iii) and (iv); (iv) does not follow for
$\alpha \ne 1$ (Rényi entropies are not subadditive, classically or not).
"""
import math

import mpmath
import pytest
import sympy as sp
from hypothesis import given

from proofs import _mp
from proofs import _strategies as S
from proofs._power import worst_case_test

STATEMENT = "Proposition 4.7"
TITLE = "the joint entropy against the ranks and the marginal entropies"
TWINS = ("Proposition A.5",)
VERDICT = "false as printed"
CORRECTED = (r"(i) $\mathrm H_\alpha(\mathbf K_1, \mathbf K_2) \le \log\operatorname{rank}(\mathbf K_1\odot\mathbf K_2)"
             r" \le \log\operatorname{rank}\mathbf K_1 + \log\operatorname{rank}\mathbf K_2$ and "
             r"(iii) $\max\{\mathrm H_\alpha(\mathbf K_1), \mathrm H_\alpha(\mathbf K_2)\} \le \mathrm H_\alpha(\mathbf K_1, \mathbf K_2)$"
             r" hold for every $\alpha \in (0, \infty]$; the upper bound "
             r"$\mathrm H_\alpha(\mathbf K_1, \mathbf K_2) \le \mathrm H_\alpha(\mathbf K_1) + \mathrm H_\alpha(\mathbf K_2)$ "
             r"holds for $\alpha = 1$ only and fails for every $\alpha \in (0, 1)\cup(1, \infty]$.")


def blocks(k):
    """K1 = J_k (+) I_k and K2 = I_k (+) J_k, exact integer matrices."""
    n = 2 * k
    K1 = [[int(i == j or (i < k and j < k)) for j in range(n)] for i in range(n)]
    K2 = [[int(i == j or (i >= k and j >= k)) for j in range(n)] for i in range(n)]
    return K1, K2


def design_entropy(counts, alpha):
    """H_alpha of a label-equality matrix with class sizes ``counts`` (its spectrum / n is the
    class frequencies: see test_label_matrix_spectrum_is_class_frequencies)."""
    n = sum(counts)
    return _mp.renyi_from_spectrum([mpmath.mpf(c) / n for c in counts], alpha)


@pytest.mark.check("symbolic")
def test_label_matrix_spectrum_is_class_frequencies():
    """K = P P^T, P in {0,1}^(n x c) one 1 per row: P^T P = diag(counts), so K's nonzero spectrum
    is the counts; checked symbolically on an example with a parameter-free structure."""
    labels = [0, 0, 1, 2, 2, 2, 1]
    P = sp.Matrix([[int(l == c) for c in range(3)] for l in labels])
    assert P.T * P == sp.diag(2, 2, 3)
    t = sp.symbols("t")
    K = P * P.T
    assert sp.factor(K.charpoly(t).as_expr()) == sp.factor(t ** 4 * (t - 2) ** 2 * (t - 3))


@pytest.mark.check("symbolic")
def test_alpha_2_counterexample_is_exact(counterexample):
    """k = 6: H_2(K1) = H_2(K2) = -log((1/2)^2 + 6 (1/12)^2) = log(24/7); K1 o K2 = I_12."""
    K1, K2 = (sp.Matrix(M) for M in blocks(6))
    assert K1.multiply_elementwise(K2) == sp.eye(12)
    t = sp.symbols("t")
    assert sp.factor(K1.charpoly(t).as_expr()) == sp.factor((t - 6) * t ** 5 * (t - 1) ** 6)
    p = [sp.Rational(1, 2)] + [sp.Rational(1, 12)] * 6
    h2 = -sp.log(sum(q ** 2 for q in p))
    assert sp.simplify(h2 - sp.log(sp.Rational(24, 7))) == 0
    # (iv) would need log(576/49) >= log 12, i.e. 576 >= 588
    assert sp.Rational(24, 7) ** 2 < 12
    counterexample({"alpha": "2", "K1": "J_6 (+) I_6", "K2": "I_6 (+) J_6",
                    "H_alpha(K1)+H_alpha(K2)": "log(576/49)", "H_alpha(K1,K2)": "log(12)"},
                   "(iv) fails at alpha = 2")


@pytest.mark.check("symbolic")
def test_ranks_and_the_2x2_majorisation_symbolically():
    a, b = sp.symbols("a b", real=True)
    K1, K2 = sp.Matrix([[1, a], [a, 1]]), sp.Matrix([[1, b], [b, 1]])
    H = K1.multiply_elementwise(K2)
    t = sp.symbols("t")
    # spectrum of K1 o K2 is 1 +- ab, of K1 is 1 +- a: |ab| <= |a| when |b| <= 1 (majorisation)
    assert sp.expand(H.charpoly(t).as_expr() - ((t - 1) ** 2 - a ** 2 * b ** 2)) == 0
    assert sp.expand(K1.charpoly(t).as_expr() - ((t - 1) ** 2 - a ** 2)) == 0
    Ka = sp.Matrix([[1, 1, 0], [1, 1, 0], [0, 0, 1]])
    Kb = sp.Matrix([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
    assert Ka.multiply_elementwise(Kb).rank() <= Ka.rank() * Kb.rank()


@pytest.mark.check("high-precision")
def test_alpha_above_one_block_counterexamples(slack, counterexample):
    # alpha = inf, k = 3 (n = 6) and alpha = 2, k = 6 (n = 12): eigenvalues in 60 digits
    for alpha, k in ((mpmath.inf, 3), (2, 6)):
        K1, K2 = blocks(k)
        gap = _mp.entropy(K1, alpha) + _mp.entropy(K2, alpha) - _mp.joint_entropy(K1, K2, alpha)
        assert gap < -mpmath.mpf("0.01")
        slack(_mp.clean(gap), f"H(K1)+H(K2)-H(K1,K2) at alpha={alpha}, n={2 * k} (negative: (iv) fails)")
        # the holding inequalities on the same matrices
        assert max(_mp.entropy(K1, alpha), _mp.entropy(K2, alpha)) < _mp.joint_entropy(K1, K2, alpha)
        assert _mp.entropy(K1, 1) + _mp.entropy(K2, 1) > _mp.joint_entropy(K1, K2, 1)  # alpha = 1 holds
    counterexample({"alpha": "inf", "K1": "J_3 (+) I_3", "K2": "I_3 (+) J_3",
                    "H_alpha(K1)+H_alpha(K2)": "log(4)", "H_alpha(K1,K2)": "log(6)"}, "(iv) fails at alpha = inf")
    # alpha = 3/2 needs k = 12 and not 11: closed-form spectra (1/2, 1/2k x k)
    for k, fails in ((11, False), (12, True)):
        a = mpmath.mpf(3) / 2
        s = mpmath.mpf(2) ** -a + k * (2 * k) ** -a
        gap = 2 * mpmath.log(s) / (1 - a) - mpmath.log(2 * k)
        assert (gap < 0) == fails
    counterexample({"alpha": "3/2", "K1": "J_12 (+) I_12", "K2": "I_12 (+) J_12"}, "(iv) fails at alpha = 3/2")


@pytest.mark.check("high-precision")
def test_alpha_below_one_design_counterexample(slack, counterexample):
    """alpha = 1/2: one class pair of size 418 and 81 singleton pairs on a 9 x 9 grid (n = 499)."""
    N, m = 418, 9
    a = mpmath.mpf(1) / 2
    joint = design_entropy([N] + [1] * (m * m), a)
    marg = design_entropy([N] + [m] * m, a)  # both marginals: class 0 of size N, classes 1..m of size m
    gap = 2 * marg - joint
    assert gap < -mpmath.mpf("1e-4")
    slack(_mp.clean(gap), "H(K1)+H(K2)-H(K1,K2) at alpha=1/2, n=499 (negative: (iv) fails)")
    assert 2 * design_entropy([N] + [m] * m, 1) > design_entropy([N] + [1] * (m * m), 1)  # alpha = 1 holds
    counterexample({"alpha": "1/2", "K1": "[a(i)=a(j)]", "K2": "[b(i)=b(j)]",
                    "labels": "418 samples (0,0); one sample (i,j) for each 1<=i,j<=9", "n": "499"},
                   "(iv) fails at alpha = 1/2")
    # the family works for every alpha < 1 once m^(1-alpha) > 4: e.g. alpha = 9/10, m = 4^10 + 1
    a, m = mpmath.mpf(9) / 10, 4 ** 10 + 1
    N = int(mpmath.ceil(mpmath.mpf(m) ** ((1 + a) / a)))
    n = N + m * m
    lhs, rhs = (N ** a + m * m) * mpmath.mpf(n) ** a, (N ** a + mpmath.mpf(m) ** (1 + a)) ** 2
    assert lhs > rhs


@pytest.mark.check("randomized")
@given(S.unit_diag_psd_pair(max_n=6, exact=True), S.alphas())
def test_the_inequalities_that_hold(slack, pair, alpha):
    """Float64 screens; every margin below 1e-8 is re-decided in 60 digits on the exact pair."""
    E1, E2 = pair
    K1, K2 = E1.astype(float), E2.astype(float)
    h1, h2, h12 = (_mp.np_renyi(K, alpha, zero_tol=1e-12) for K in (K1, K2, K1 * K2))
    m_lower = h12 - max(h1, h2)
    if m_lower < 1e-8:
        m_lower = _mp.joint_entropy(E1, E2, alpha) - max(_mp.entropy(E1, alpha), _mp.entropy(E2, alpha))
        assert m_lower >= -mpmath.mpf(10) ** -50
    slack(_mp.clean(m_lower), "(iii) H(K1,K2) - max H(Ki)")
    assert m_lower >= -1e-12
    # (i), (ii): exact ranks (sympy, rational arithmetic) and the 60-digit entropy of the exact pair
    r1, r2, r12 = (sp.Matrix(M.tolist()).rank() for M in (E1, E2, E1 * E2))
    assert r12 <= r1 * r2
    m_rank = mpmath.log(r12) - _mp.joint_entropy(E1, E2, alpha)
    slack(_mp.clean(m_rank), "(i) log rank(K1 o K2) - H_alpha(K1, K2)")
    assert m_rank >= -mpmath.mpf(10) ** -50


@pytest.mark.check("randomized")
@given(S.unit_diag_psd_pair(max_n=6, exact=True))
def test_subadditivity_at_alpha_one(slack, pair):
    E1, E2 = pair
    K1, K2 = E1.astype(float), E2.astype(float)
    m = _mp.np_renyi(K1, 1.0) + _mp.np_renyi(K2, 1.0) - _mp.np_renyi(K1 * K2, 1.0)
    if m < 1e-8:
        m = _mp.entropy(E1, 1) + _mp.entropy(E2, 1) - _mp.joint_entropy(E1, E2, 1)
    slack(_mp.clean(m), "(iv) at alpha=1")
    assert m >= -1e-12


@pytest.mark.check("randomized")
def test_adversarial_search(slack, effort):
    """Local search over unit vectors: (iii) for several alpha and (iv) at alpha = 1 never break;
    the smallest margins are re-evaluated in 60 digits."""
    worst = {}
    for n, r in ((4, 2), (5, 3))[: 1 if effort == 1 else 2]:
        for which, alpha in (("iii", 0.5), ("iii", 2.0), ("iii", math.inf), ("iv", 1.0)):
            def f(x):
                X, Y = _mp.np_unit_rows(x[: n * r].reshape(n, r)), _mp.np_unit_rows(x[n * r:].reshape(n, r))
                K1, K2 = X @ X.T, Y @ Y.T
                h1, h2, h12 = (_mp.np_renyi(K, alpha) for K in (K1, K2, K1 * K2))
                return h12 - max(h1, h2) if which == "iii" else h1 + h2 - h12
            v, x = S.multistart_minimize(f, lambda rng: rng.standard_normal(2 * n * r),
                                         starts=effort, seed=7 * n + r, maxiter=25)[0]
            if v < 1e-6:
                K1 = _mp.sample_gram(x[: n * r].reshape(n, r))
                K2 = _mp.sample_gram(x[n * r:].reshape(n, r))
                h1, h2, h12 = (_mp.entropy(K1, alpha), _mp.entropy(K2, alpha), _mp.joint_entropy(K1, K2, alpha))
                v = h12 - max(h1, h2) if which == "iii" else h1 + h2 - h12
            assert v >= -mpmath.mpf(10) ** -30, (which, alpha, v)
            worst[which] = min(worst.get(which, mpmath.inf), v)
    for which, v in worst.items():
        slack(_mp.clean(v), f"smallest margin of ({which}) found by local search")


test_worst_case_search = worst_case_test("Proposition 4.7 (max)", "Proposition 4.7 (alpha = 1)")
