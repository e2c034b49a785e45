r"""Theorem 4.14 (twin A.10): at zero loss, Barlow Twins and spectral contrastive learning maximise
the matrix joint entropy, for every alpha > 0.

Statement (made precise).  Let lambda > 0.  At L_SC = 0 (B <= d), K_1 o K_2 = I_B and
H_alpha(K_1, K_2) = log B; at L_BT = 0 (B >= d), Kbar_1 o Kbar_2 = I_d and H_alpha = log d.  log n
is the largest value of H_alpha on unit-diagonal PSD matrices (Proposition 4.15), attained only
at I_n.

Verdict: holds under the condition lambda > 0 (with lambda = 0, z^(1) = z^(2) with identical rows
has zero loss and H_alpha(K_1, K_2) = H_alpha(11^T) = 0).

Proof.  Zero loss gives K_1 = K_2 = I (see Theorem 4.4), so K_1 o K_2 = I and H_alpha(I_n) = log n,
the maximum by Proposition 4.15.
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

STATEMENT = "Theorem 4.14"
TITLE = "zero BT / SC loss => maximal matrix joint entropy (all alpha > 0)"
TWINS = ("Theorem A.10",)
VERDICT = "holds under a condition"
CONDITION = "lambda > 0 in Eqs. (2)-(3); with lambda = 0 zero loss does not force K1 o K2 = I"
CORRECTED = None

ALPHAS = (mpmath.mpf("0.05"), mpmath.mpf("0.5"), 1, 2, 7, mpmath.inf)


@pytest.mark.check("symbolic")
def test_identity_is_hadamard_idempotent_and_has_entropy_log_n():
    a = sp.symbols("alpha", positive=True)
    for n in (2, 3, 5):
        I = sp.eye(n)
        assert I.multiply_elementwise(I) == I
        assert sp.simplify(sp.expand_log(sp.log(n * sp.Rational(1, n) ** a) / (1 - a), force=True) - sp.log(n)) == 0


@pytest.mark.check("high-precision")
def test_exact_zero_loss_configurations(slack, counterexample):
    rng = np.random.default_rng(8)
    for B, d, loss in ((2, 2, "sc"), (2, 4, "sc"), (4, 3, "bt"), (6, 2, "bt")):
        z = S.zero_loss_views(rng, B, d, loss)
        K = _mp.sample_gram(z) if loss == "sc" else _mp.feature_gram(z)
        for alpha in ALPHAS:
            gap = mpmath.log(K.rows) - _mp.joint_entropy(K, K, alpha)
            assert abs(gap) < mpmath.mpf(10) ** -50
            slack(0, f"|H - log n| at zero {loss} loss" + ": bound attained, margin 0 to 50 digits")
    z = np.array([[Fraction(5, 13), Fraction(12, 13)]] * 2, dtype=object)
    assert _mp.spectral_contrastive_loss(z, z, 0) == 0
    assert abs(_mp.joint_entropy(_mp.sample_gram(z), _mp.sample_gram(z), 2)) < mpmath.mpf(10) ** -50
    counterexample({"lambda": "0", "z1 = z2": "2 rows (5/13, 12/13)", "L_SC": "0", "H_2(K1,K2)": "0",
                    "log B": "log 2"}, "the lambda > 0 condition is needed")


@pytest.mark.check("randomized")
@given(S.unit_diag_psd_pair(max_n=6, exact=True), st.sampled_from(ALPHAS))
def test_log_n_dominates_every_joint_entropy(slack, pair, alpha):
    E1, E2 = pair
    K1, K2 = E1.astype(float), E2.astype(float)
    n = K1.shape[0]
    m = math.log(n) - _mp.np_renyi(K1 * K2, float(alpha))
    if m < 1e-8:
        m = mpmath.log(n) - _mp.joint_entropy(E1, E2, alpha)
    slack(_mp.clean(m), "log n - H_alpha(K1, K2)")
    assert m >= -1e-12
