r"""Theorem A.13: zero loss maximises the order-2 mutual information (second proof).

**Statement.** For $\lambda > 0$, at zero Barlow Twins loss
$\mathrm I_2(\bar{\mathbf K}_1;\bar{\mathbf K}_2) = \log d$, and at zero spectral contrastive loss
$\mathrm I_2(\mathbf K_1;\mathbf K_2) = \log B$. Moreover (the content of the second proof), for
$n\times n$ unit-diagonal positive semi-definite $\mathbf K_1, \mathbf K_2$,
$\mathrm I_2(\mathbf K_1;\mathbf K_2) = \log n$ holds if and only if $\mathbf K_1 = \mathbf K_2 = \mathbf I_n$.

**Verdict: holds under the condition $\lambda > 0$** (as for Theorem 4.4).

**Proof.** By Proposition 4.1,
$\mathrm I_2 = 2\log n - \log\big(\|\mathbf K_1\|_F^2\,\|\mathbf K_2\|_F^2/\|\mathbf K_1\odot\mathbf K_2\|_F^2\big)$.
With $x_{ij} = (\mathbf K_1)_{ij}^2$ and $y_{ij} = (\mathbf K_2)_{ij}^2$ for $i \ne j$ (so $m = n^2 - n$
entries in $[0, 1]$),

$$
\frac{\|\mathbf K_1\|_F^2\,\|\mathbf K_2\|_F^2}{\|\mathbf K_1\odot\mathbf K_2\|_F^2}
= \frac{(n + \sum x)(n + \sum y)}{n + \sum xy} \ge n,
$$

with equality only at $x = y = 0$ (Lemma A.14). So $\mathrm I_2 \le \log n$, with equality if and only
if $\mathbf K_1 = \mathbf K_2 = \mathbf I_n$. Zero loss with $\lambda > 0$ gives
$\mathbf K_1 = \mathbf K_2 = \mathbf I$ (Theorem 4.4).
"""
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given

from proofs import _mp
from proofs import _strategies as S

STATEMENT = "Theorem A.13"
TITLE = "zero loss maximises the order-2 mutual information (second proof)"
VERDICT = "holds under a condition"
CONDITION = r"$\lambda > 0$ in Eqs. (2)-(3)"


@pytest.mark.check("symbolic")
def test_frobenius_ratio_is_lemma_a14_ratio():
    n = 3
    a = sp.symbols("a0:3", real=True)
    b = sp.symbols("b0:3", real=True)
    K1 = sp.Matrix([[1, a[0], a[1]], [a[0], 1, a[2]], [a[1], a[2], 1]])
    K2 = sp.Matrix([[1, b[0], b[1]], [b[0], 1, b[2]], [b[1], b[2], 1]])
    fro = lambda M: sum(v ** 2 for v in M)
    x = [K1[i, j] ** 2 for i in range(n) for j in range(n) if i != j]
    y = [K2[i, j] ** 2 for i in range(n) for j in range(n) if i != j]
    ratio = fro(K1) * fro(K2) / fro(K1.multiply_elementwise(K2))
    lemma = (n + sum(x)) * (n + sum(y)) / (n + sum(p * q for p, q in zip(x, y)))
    assert sp.simplify(ratio - lemma) == 0


@pytest.mark.check("high-precision")
def test_equality_only_at_identity(slack, counterexample):
    rng = np.random.default_rng(41)
    z = S.zero_loss_views(rng, 4, 2, "bt")
    K = _mp.feature_gram(z)
    assert abs(_mp.mutual_information(K, K, 2) - mpmath.log(2)) < mpmath.mpf(10) ** -50
    # one view at the identity is not enough: I_2(I; K2) = H_2(K2) < log n unless K2 = I
    K2 = [[1, Fraction(1, 10 ** 15), 0], [Fraction(1, 10 ** 15), 1, 0], [0, 0, 1]]
    I3 = [[int(i == j) for j in range(3)] for i in range(3)]
    gap = mpmath.log(3) - _mp.mutual_information(I3, K2, 2)
    assert gap > mpmath.mpf(10) ** -31  # = log(1 + 2e-30/3): invisible in float64
    slack(_mp.clean(gap), "log n - I_2(I; K2) for K2 = I + 1e-15 off-diagonal")
    z = np.array([[Fraction(1)], [Fraction(1)]], dtype=object)  # lambda = 0 zero loss, K = 11^T
    assert _mp.spectral_contrastive_loss(z, z, 0) == 0
    assert abs(_mp.mutual_information(_mp.sample_gram(z), _mp.sample_gram(z), 2)) < mpmath.mpf(10) ** -50
    counterexample({"lambda": "0", "z1 = z2": "rows (1), (1)", "L_SC": "0", "I_2": "0", "log B": "log 2"},
                   "the lambda > 0 condition is needed")


@pytest.mark.check("randomized")
@given(S.unit_diag_psd_pair(max_n=6, exact=True))
def test_gap_is_positive_unless_both_identity(slack, pair):
    K1, K2 = pair
    n = K1.shape[0]
    gap = mpmath.log(n) - _mp.mutual_information(K1, K2, 2)
    both_identity = all(K1[i, j] == (i == j) and K2[i, j] == (i == j) for i in range(n) for j in range(n))
    if both_identity:
        assert abs(gap) < mpmath.mpf(10) ** -50
    else:
        assert gap > 0
    slack(_mp.clean(gap), "log n - I_2")


@pytest.mark.check("randomized")
def test_configurations_the_loss_search_reaches(slack, effort):
    """At the near-zero-loss configurations the loss search reaches (Theorem 4.4's check; nothing
    about the minimiser is built in): ||K_k||_F^2 = n + offdiag_k <= n + eps^2 and ||K1 o K2||_F^2 >= n,
    so I_2 >= log n - 2 log(1 + eps^2 / n) -> log n as the loss -> 0."""
    from proofs import _power as P

    for loss, B, d in P.ZERO_LOSS_CASES:
        if not P.zero_loss_possible(loss, B, d):
            continue
        L, k1, k2, eps = P.reached(loss, B, d, 1.0, 2 * effort)
        n = k1.rows
        assert L < mpmath.mpf(10) ** -20
        gap = _mp.mutual_information(k1, k2, 2) - (mpmath.log(n) - 2 * mpmath.log(1 + eps ** 2 / n))
        assert gap >= 0
        slack(gap, f"I_2 - (log n - 2 log(1 + eps^2/n)) at the {loss} loss reached, B={B}, d={d}")
