r"""Theorem 4.4 (twin A.4): at zero loss, Barlow Twins and spectral contrastive learning maximise
the matrix mutual information, for every alpha > 0.

Statement (made precise).  Let lambda > 0.  (SC) If (z^(1), z^(2)) are B unit vectors per view with
L_SC = 0, then K_k = Z_k^T Z_k = I_B and I_alpha(K_1; K_2) = log B, the largest value I_alpha takes
on B x B unit-diagonal PSD pairs (Proposition 4.5).  (BT) If L_BT = 0, then
Kbar_k = Zbar_k Zbar_k^T = I_d and I_alpha = log d, again the maximum.  Zero SC loss is possible
only when B <= d, zero BT loss only when B >= d.

Verdict: holds under the condition lambda > 0 (the paper leaves lambda's sign open; with
lambda = 0 a zero loss only aligns the two views: z^(1) = z^(2) with all rows equal has
L_SC = L_BT = 0 but K_1 = K_2 = 11^T and I_alpha = 0).

Proof.  SC: L_SC = 0 with lambda > 0 forces z_i^(1) = z_i^(2) and z_i^(1).z_j^(2) = 0 (i != j), so
z_i^(1).z_j^(1) = z_i^(1).z_j^(2) = 0 and K_1 = K_2 = I_B.  BT: L_BT = 0 forces C_ii = 1, i.e.
zbar_i^(1) = zbar_i^(2) (unit vectors with inner product 1), and C_ij = 0, so
Kbar_1 = Kbar_2 = C = I_d.  Then I_alpha(I; I) = H(I) + H(I) - H(I o I) = log n, which is the
maximum by Proposition 4.5 (I_alpha <= min(H(K1), H(K2)) <= log n, valid for every alpha).
"""
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs import _mp
from proofs import _strategies as S

STATEMENT = "Theorem 4.4"
TITLE = "zero BT / SC loss => maximal matrix mutual information (all alpha > 0)"
TWINS = ("Theorem A.4",)
VERDICT = "holds under a condition"
CONDITION = "lambda > 0 in Eqs. (2)-(3); with lambda = 0 zero loss does not force K1 = K2 = I"
CORRECTED = None

ALPHAS = (mpmath.mpf("0.05"), mpmath.mpf("0.5"), 1, 2, 7, mpmath.inf)


@pytest.mark.check("symbolic")
def test_zero_loss_forces_identity_grams():
    # BT: C_ii = 1 for unit vectors means |zbar1 - zbar2|^2 = 2 - 2 C_ii = 0
    c = sp.symbols("c", real=True)
    assert sp.solve(sp.Eq(2 - 2 * c, 0), c) == [1]
    # SC on an exact rational orthonormal batch: Gram = identity symbolically
    Q = sp.Matrix([[sp.Rational(3, 5), sp.Rational(4, 5), 0], [sp.Rational(-4, 5), sp.Rational(3, 5), 0]])
    assert Q * Q.T == sp.eye(2)
    # I_alpha(I; I) = log n for symbolic alpha: H(I) = log(n n^-alpha)/(1 - alpha) = log n
    a, n = sp.symbols("alpha n", positive=True)
    h = sp.log(n * n ** (-a)) / (1 - a)
    assert sp.simplify(sp.expand_log(h, force=True) - sp.log(n)) == 0


@pytest.mark.check("high-precision")
def test_exact_zero_loss_configurations_reach_log_n(slack):
    rng = np.random.default_rng(4)
    for B, d, loss in ((2, 3, "sc"), (3, 3, "sc"), (3, 2, "bt"), (5, 3, "bt")):
        z = S.zero_loss_views(rng, B, d, loss)
        lam = Fraction(1, 3)
        if loss == "sc":
            assert _mp.spectral_contrastive_loss(z, z, lam) < mpmath.mpf(10) ** -100
            K = _mp.sample_gram(z)
        else:
            assert _mp.barlow_twins_loss(z, z, lam) < mpmath.mpf(10) ** -100
            K = _mp.feature_gram(z)
        n = K.rows
        for alpha in ALPHAS:
            gap = mpmath.log(n) - _mp.mutual_information(K, K, alpha)
            assert abs(gap) < mpmath.mpf(10) ** -50
            slack(0, f"|I - log n| at zero {loss} loss" + ": bound attained, margin 0 to 50 digits")


@pytest.mark.check("high-precision")
def test_lambda_zero_counterexample(counterexample):
    z = np.array([[Fraction(3, 5), Fraction(4, 5)]] * 3, dtype=object)  # identical rows
    assert _mp.spectral_contrastive_loss(z, z, 0) == 0 and abs(_mp.barlow_twins_loss(z, z, 0)) < mpmath.mpf(10) ** -100
    for alpha in ALPHAS:
        assert abs(_mp.mutual_information(_mp.sample_gram(z), _mp.sample_gram(z), alpha)) < mpmath.mpf(10) ** -50
        assert abs(_mp.mutual_information(_mp.feature_gram(z), _mp.feature_gram(z), alpha)) < mpmath.mpf(10) ** -50
    counterexample({"lambda": "0", "z1 = z2": "3 rows (3/5, 4/5)", "L_SC": "0", "L_BT": "0",
                    "I_alpha": "0", "log B": "log 3"}, "the lambda > 0 condition is needed")


@pytest.mark.check("randomized")
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.integers(1, 5), st.sampled_from(ALPHAS))
def test_zero_loss_value_dominates_random_pairs(slack, seed, B, d, alpha):
    """The zero-loss value log n is >= I_alpha of random views of the same shape."""
    rng = np.random.default_rng(seed)
    z1, z2 = S.unit_rows(rng, B, d), S.unit_rows(rng, B, d)
    for K1, K2 in ((z1 @ z1.T, z2 @ z2.T), (_mp.to_numpy(_mp.feature_gram(z1)), _mp.to_numpy(_mp.feature_gram(z2)))):
        n = K1.shape[0]
        i = _mp.np_renyi(K1, float(alpha)) + _mp.np_renyi(K2, float(alpha)) - _mp.np_renyi(K1 * K2, float(alpha))
        m = math.log(n) - i
        if m < 1e-8:
            m = mpmath.log(n) - _mp.mutual_information(K1, K2, alpha)
        slack(_mp.clean(m), "log n - I_alpha(random views)")
        assert m >= -1e-12
