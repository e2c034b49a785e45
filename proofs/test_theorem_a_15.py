r"""Theorem A.15: zero loss maximises the order-2 joint entropy (second proof).

**Statement.** For $\lambda > 0$, at zero Barlow Twins or spectral contrastive loss
$\mathrm H_2(\mathbf K_1, \mathbf K_2) = \log n$ ($n = d$, respectively $B$), the maximum. The second
proof's content:

$$
\mathrm H_2(\mathbf K_1, \mathbf K_2) = \log n
\iff \|\mathbf K_1\odot\mathbf K_2\|_F^2 = n
\iff (\mathbf K_1)_{ij}(\mathbf K_2)_{ij} = 0 \text{ for all } i \ne j,
$$

so the maximisers form the set $\{\mathbf K_1\odot\mathbf K_2 = \mathbf I\}$, not a single pair.

**Verdict: holds under the condition $\lambda > 0$** (as for Theorem 4.14). The printed proof stops
after establishing the zero-loss Gram matrices; the last step
($\mathbf K_1\odot\mathbf K_2 = \mathbf I$, so $\|\mathbf K_1\odot\mathbf K_2\|_F^2 = n$, its minimum since the
diagonal contributes $n$) is left implicit.

**Proof.** By Proposition 4.12,
$\mathrm H_2 = 2\log n - \log\|\mathbf K_1\odot\mathbf K_2\|_F^2$, and
$\|\mathbf K_1\odot\mathbf K_2\|_F^2 = n + \sum_{i\ne j}(\mathbf K_1)_{ij}^2(\mathbf K_2)_{ij}^2 \ge n$, with
equality if and only if every off-diagonal product vanishes. Zero loss with $\lambda > 0$ gives
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

STATEMENT = "Theorem A.15"
TITLE = "zero loss maximises the order-2 joint entropy (second proof)"
VERDICT = "holds under a condition"
CONDITION = r"$\lambda > 0$ in Eqs. (2)-(3)"


@pytest.mark.check("symbolic")
def test_frobenius_of_hadamard_splits_into_diagonal_and_rest():
    a = sp.symbols("a0:3", real=True)
    b = sp.symbols("b0:3", real=True)
    K1 = sp.Matrix([[1, a[0], a[1]], [a[0], 1, a[2]], [a[1], a[2], 1]])
    K2 = sp.Matrix([[1, b[0], b[1]], [b[0], 1, b[2]], [b[1], b[2], 1]])
    fro = sum(v ** 2 for v in K1.multiply_elementwise(K2))
    assert sp.expand(fro - 3 - 2 * sum((a[k] * b[k]) ** 2 for k in range(3))) == 0
    # a maximiser that is not K1 = K2 = I: K1 = I, K2 = 11^T
    assert sp.eye(3).multiply_elementwise(sp.ones(3, 3)) == sp.eye(3)


@pytest.mark.check("high-precision")
def test_zero_loss_and_non_identity_maximisers(slack, counterexample):
    rng = np.random.default_rng(43)
    z = S.zero_loss_views(rng, 2, 3, "sc")
    K = _mp.sample_gram(z)
    assert abs(_mp.joint_entropy(K, K, 2) - mpmath.log(2)) < mpmath.mpf(10) ** -50
    # K1 = [[1,0,c],[0,1,0],[c,0,1]], K2 = [[1,c,0],[c,1,0],[0,0,1]]: disjoint supports, H_2 = log 3
    c = Fraction(3, 5)
    K1 = [[1, 0, c], [0, 1, 0], [c, 0, 1]]
    K2 = [[1, c, 0], [c, 1, 0], [0, 0, 1]]
    assert abs(_mp.joint_entropy(K1, K2, 2) - mpmath.log(3)) < mpmath.mpf(10) ** -50
    K3 = [[1, Fraction(1, 10 ** 20), 0], [Fraction(1, 10 ** 20), 1, 0], [0, 0, 1]]
    gap = mpmath.log(3) - _mp.joint_entropy(K3, K2, 2)
    assert gap > mpmath.mpf(10) ** -42  # log(1 + 2 (3/5 1e-20)^2 / 3), invisible in float64
    slack(_mp.clean(gap), "log n - H_2 for an off-diagonal product of 6e-21")
    z = np.array([[Fraction(0), Fraction(1)]] * 3, dtype=object)
    assert _mp.spectral_contrastive_loss(z, z, 0) == 0
    assert abs(_mp.joint_entropy(_mp.sample_gram(z), _mp.sample_gram(z), 2)) < mpmath.mpf(10) ** -50
    counterexample({"lambda": "0", "z1 = z2": "3 rows (0, 1)", "L_SC": "0", "H_2": "0", "log B": "log 3"},
                   "the lambda > 0 condition is needed")


@pytest.mark.check("randomized")
@given(S.unit_diag_psd_pair(max_n=6, exact=True))
def test_gap_vanishes_exactly_on_disjoint_supports(slack, pair):
    K1, K2 = pair
    n = K1.shape[0]
    gap = mpmath.log(n) - _mp.joint_entropy(K1, K2, 2)
    disjoint = all(K1[i, j] * K2[i, j] == 0 for i in range(n) for j in range(n) if i != j)
    if disjoint:
        assert abs(gap) < mpmath.mpf(10) ** -50
    else:
        assert gap > 0
    slack(_mp.clean(gap), "log n - H_2(K1, K2)")


@pytest.mark.check("randomized")
def test_configurations_the_loss_search_reaches(slack, effort):
    """At the near-zero-loss configurations the loss search reaches (Theorem 4.4's check; nothing
    about the minimiser is built in): ||K1 o K2||_F^2 <= n + offdiag(K1) <= n + eps^2, so
    H_2(K1, K2) >= log n - log(1 + eps^2 / n) -> log n as the loss -> 0."""
    from proofs import _power as P

    for loss, B, d in P.ZERO_LOSS_CASES:
        if not P.zero_loss_possible(loss, B, d):
            continue
        L, k1, k2, eps = P.reached(loss, B, d, 1.0, 2 * effort)
        n = k1.rows
        assert L < mpmath.mpf(10) ** -20
        gap = _mp.joint_entropy(k1, k2, 2) - (mpmath.log(n) - mpmath.log(1 + eps ** 2 / n))
        assert gap >= 0
        slack(gap, f"H_2 - (log n - log(1 + eps^2/n)) at the {loss} loss reached, B={B}, d={d}")
