r"""Corollary 4.16: for alpha = 2 the bounds of Theorem 4.13 are tight at zero loss.

Statement (made precise).  At L_SC = 0 (lambda > 0, B <= d) both sides of Theorem 4.13.1 equal
log B; at L_BT = 0 (lambda > 0, B >= d) both sides of 4.13.2 equal log d.

Proof.  At L = 0 the right-hand sides are log n.  Zero loss gives K1 = K2 = I (Theorem 4.4), so
K1 o K2 = I and H_2(I) = log n.  Remark: tightness at zero loss only needs K1 o K2 = I, which is
weaker than K1 = K2 = I (e.g. K1 = I with any K2): the joint entropy is maximal on a larger set
than the mutual information.
"""
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs import _mp
from proofs import _strategies as S

STATEMENT = "Corollary 4.16"
TITLE = "Theorem 4.13's bounds are attained at zero loss (alpha = 2)"
TWINS = ()
VERDICT = "holds"
CONDITION = None
CORRECTED = None


@pytest.mark.check("symbolic")
def test_exact_equality_on_a_rational_zero_loss_batch():
    z = sp.Matrix([[sp.Rational(5, 13), sp.Rational(12, 13), 0], [sp.Rational(-12, 13), sp.Rational(5, 13), 0]])
    K = z * z.T
    assert K == sp.eye(2)
    H2 = 2 * sp.log(2) - sp.log(sum(x ** 2 for x in K.multiply_elementwise(K)))
    assert sp.simplify(H2 - (sp.log(2) - sp.log(1 + 0))) == 0
    # joint entropy is maximal whenever K1 o K2 = I, e.g. K1 = I and K2 = 11^T
    assert sp.eye(2).multiply_elementwise(sp.ones(2, 2)) == sp.eye(2)


@pytest.mark.check("high-precision")
def test_tightness_in_60_digits(slack):
    rng = np.random.default_rng(37)
    for B, d, loss in ((2, 2, "sc"), (2, 5, "sc"), (3, 3, "bt"), (5, 2, "bt")):
        z = S.zero_loss_views(rng, B, d, loss)
        lam = Fraction(5, 2)
        if loss == "sc":
            L, K, n = _mp.spectral_contrastive_loss(z, z, lam), _mp.sample_gram(z), B
            rhs = mpmath.log(n) - mpmath.log(1 + (2 + 2 / (B * _mp.to_mpf(lam))) * L)
        else:
            L, K, n = _mp.barlow_twins_loss(z, z, lam), _mp.feature_gram(z), d
            rhs = mpmath.log(n) - mpmath.log(1 + 2 * L / (d * _mp.to_mpf(lam)) + 4 * mpmath.sqrt(d * L))
        gap = _mp.joint_entropy(K, K, 2) - rhs
        assert abs(gap) < mpmath.mpf(10) ** -50
        slack(0, f"|H_2 - bound| at zero {loss} loss" + ": bound attained, margin 0 to 50 digits")


@pytest.mark.check("randomized")
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.integers(1, 5), st.sampled_from(("sc", "bt")))
def test_random_zero_loss_configurations(slack, seed, B, d, loss):
    if (loss == "sc" and B > d) or (loss == "bt" and B < d):
        return
    z = S.zero_loss_views(np.random.default_rng(seed), B, d, loss)
    K = _mp.sample_gram(z) if loss == "sc" else _mp.feature_gram(z)
    gap = _mp.joint_entropy(K, K, 2) - mpmath.log(K.rows)
    slack(0, "|H_2 - log n| at zero loss" + ": bound attained, margin 0 to 50 digits")
    assert abs(gap) < mpmath.mpf(10) ** -50
