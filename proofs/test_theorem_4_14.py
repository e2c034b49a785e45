r"""Theorem 4.14 (twin A.10): zero loss maximises the joint entropy.

**Statement (made precise).** Let $\lambda > 0$ and $\alpha > 0$. At $\mathcal L_{SC} = 0$ ($B \le d$),
$\mathbf K_1\odot\mathbf K_2 = \mathbf I_B$ and $\mathrm H_\alpha(\mathbf K_1, \mathbf K_2) = \log B$; at
$\mathcal L_{BT} = 0$ ($B \ge d$), $\bar{\mathbf K}_1\odot\bar{\mathbf K}_2 = \mathbf I_d$ and
$\mathrm H_\alpha = \log d$. $\log n$ is the largest value of $\mathrm H_\alpha$ on unit-diagonal positive
semi-definite matrices (Proposition 4.15), attained only at $\mathbf I_n$.

**Verdict: holds under the condition $\lambda > 0$.** With $\lambda = 0$,
$\mathbf z^{(1)} = \mathbf z^{(2)}$ with identical rows has zero loss and
$\mathrm H_\alpha(\mathbf K_1, \mathbf K_2) = \mathrm H_\alpha(\mathbf 1\mathbf 1^\top) = 0$.

**Proof.** Zero loss gives $\mathbf K_1 = \mathbf K_2 = \mathbf I$ (see Theorem 4.4), so
$\mathbf K_1\odot\mathbf K_2 = \mathbf I$ and $\mathrm H_\alpha(\mathbf I_n) = \log n$, the maximum by
Proposition 4.15.
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
TITLE = "zero loss maximises the joint entropy"
TWINS = ("Theorem A.10",)
VERDICT = "holds under a condition"
CONDITION = r"$\lambda > 0$ in Eqs. (2)-(3); with $\lambda = 0$ zero loss does not force $\mathbf K_1\odot\mathbf K_2 = \mathbf I$"

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
            slack(_mp.clean(gap), f"log n - H at zero {loss} loss (60 digits)")
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


@pytest.mark.check("randomized")
def test_search_reaches_zero_loss_exactly_when_it_exists(slack, effort):
    """The configurations the loss search reaches (see Theorem 4.4's check; nothing about the
    minimiser is built in): where zero loss exists, L < 1e-20 and ||K1 o K2 - I||_F <=
    ||K1 - I||_F <= eps(L) (|K2_ij| <= 1), so H_alpha(K1, K2) >= log(n / (1 + eps)) for every alpha."""
    from proofs import _power as P

    for loss, B, d in P.ZERO_LOSS_CASES:
        if not P.zero_loss_possible(loss, B, d):
            continue
        L, k1, k2, eps = P.reached(loss, B, d, 1.0, 2 * effort)
        assert L < mpmath.mpf(10) ** -20 and eps < mpmath.mpf(10) ** -4  # eps ~ L^(1/4) for Eq. (3)
        assert P.mp_offdiag2(_mp.hadamard(k1, k2)) <= P.mp_offdiag2(k1) <= eps ** 2
        for alpha in (mpmath.mpf(1) / 2, 1, 2, mpmath.inf):
            gap = _mp.joint_entropy(k1, k2, alpha) - mpmath.log(k1.rows / (1 + eps))
            assert gap >= 0
        slack(gap, f"H_inf - log(n / (1 + eps)) at the {loss} loss reached, B={B}, d={d}")
