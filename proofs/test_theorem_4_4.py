r"""Theorem 4.4 (twin A.4): zero loss maximises the mutual information.

**Statement (made precise).** Let $\lambda > 0$ and $\alpha > 0$.

- (SC) If $\mathbf z^{(1)}, \mathbf z^{(2)}$ are $B$ unit vectors per view with $\mathcal L_{SC} = 0$, then
  $\mathbf K_k = \mathbf Z_k^\top\mathbf Z_k = \mathbf I_B$ and
  $\mathrm I_\alpha(\mathbf K_1;\mathbf K_2) = \log B$, the largest value $\mathrm I_\alpha$ takes on pairs
  of $B\times B$ unit-diagonal positive semi-definite matrices (Proposition 4.5).
- (BT) If $\mathcal L_{BT} = 0$, then $\bar{\mathbf K}_k = \bar{\mathbf Z}_k\bar{\mathbf Z}_k^\top = \mathbf I_d$
  and $\mathrm I_\alpha = \log d$, again the maximum.

Zero spectral contrastive loss is possible only when $B \le d$, zero Barlow Twins loss only when
$B \ge d$.

**Verdict: holds under the condition $\lambda > 0$.** The paper leaves the sign of $\lambda$ open;
with $\lambda = 0$ a zero loss only aligns the two views: $\mathbf z^{(1)} = \mathbf z^{(2)}$ with all
rows equal has $\mathcal L_{SC} = \mathcal L_{BT} = 0$ but
$\mathbf K_1 = \mathbf K_2 = \mathbf 1\mathbf 1^\top$ and $\mathrm I_\alpha = 0$.

**Proof.** Spectral contrastive: $\mathcal L_{SC} = 0$ with $\lambda > 0$ forces
$\mathbf z_i^{(1)} = \mathbf z_i^{(2)}$ and $\mathbf z_i^{(1)\top}\mathbf z_j^{(2)} = 0$ for $i \ne j$, so
$\mathbf z_i^{(1)\top}\mathbf z_j^{(1)} = \mathbf z_i^{(1)\top}\mathbf z_j^{(2)} = 0$ and
$\mathbf K_1 = \mathbf K_2 = \mathbf I_B$. Barlow Twins: $\mathcal L_{BT} = 0$ forces $\mathcal C_{ii} = 1$,
i.e. $\bar{\mathbf z}_i^{(1)} = \bar{\mathbf z}_i^{(2)}$ (unit vectors with inner product 1), and
$\mathcal C_{ij} = 0$, so $\bar{\mathbf K}_1 = \bar{\mathbf K}_2 = \mathcal C = \mathbf I_d$. Then
$\mathrm I_\alpha(\mathbf I;\mathbf I) = \mathrm H_\alpha(\mathbf I) + \mathrm H_\alpha(\mathbf I) - \mathrm H_\alpha(\mathbf I\odot\mathbf I) = \log n$,
the maximum by Proposition 4.5
($\mathrm I_\alpha \le \min\{\mathrm H_\alpha(\mathbf K_1), \mathrm H_\alpha(\mathbf K_2)\} \le \log n$, for every
$\alpha$).
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
TITLE = "zero loss maximises the mutual information"
TWINS = ("Theorem A.4",)
VERDICT = "holds under a condition"
CONDITION = r"$\lambda > 0$ in Eqs. (2)-(3); with $\lambda = 0$ zero loss does not force $\mathbf K_1 = \mathbf K_2 = \mathbf I$"

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
            slack(_mp.clean(gap), f"log n - I at zero {loss} loss (60 digits)")


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


@pytest.mark.check("randomized")
def test_search_reaches_zero_loss_exactly_when_it_exists(slack, effort):
    """Minimise each loss (lambda = 1) from random Gaussian views; nothing about the minimiser is
    built in.  Where zero loss exists (B <= d for Eq. (2), B >= d for Eq. (3)) the search reaches
    L < 1e-20, and there the loss bounds the off-diagonal of both Gram matrices (Theorem 4.3's /
    4.17's chain: ||K_k - I||_F <= eps(L)), hence every eigenvalue is within eps of 1 and
    I_alpha(K1; K2) >= 2 log(n / (1 + eps)) - log n for every alpha (H_alpha >= H_inf, H <= log n).
    Where it does not, the smallest loss found lies between a proven floor and the loss of the
    tight frame with equal views, lambda (n^2/m - n), n = max(B, d), m = min(B, d): the Gram
    matrix's off-diagonal is at least n^2/m - n (||K||_F^2 >= (tr K)^2 / rank K), and the same
    chains bound it by 2 max(1/lambda, B - 1) L_SC (the remark after Theorem 4.17) and by
    2 L_BT/lambda + 4 (d - 1) sqrt(d L_BT) (Theorem 4.17).  Found (lambda = 1): 3/2 for Eq. (2) at
    B = 3, d = 2 (the tight frame); 1.13638 for Eq. (3) at B = 2, d = 3 (the views differing)."""
    from proofs import _power as P

    for loss, B, d in P.ZERO_LOSS_CASES:
        L, k1, k2, eps = P.reached(loss, B, d, 1.0, 2 * effort)
        n = k1.rows
        if not P.zero_loss_possible(loss, B, d):
            big, small = max(B, d), min(B, d)
            off = mpmath.mpf(big) ** 2 / small - big  # the least off-diagonal sum of squares
            if loss == "sc":
                floor = off / (2 * max(1, B - 1))
            else:  # the positive root s = sqrt(L) of 2 s^2 + 4 (d-1) sqrt(d) s = off
                c = 4 * (d - 1) * mpmath.sqrt(d)
                floor = ((mpmath.sqrt(c * c + 8 * off) - c) / 4) ** 2
            assert floor <= L <= off * (1 + 16 * big * big * np.finfo(float).eps)
            slack(L - floor, f"smallest {loss} loss found - its proven floor, B={B}, d={d} (zero loss impossible)")
            continue
        assert L < mpmath.mpf(10) ** -20 and eps < mpmath.mpf(10) ** -4  # eps ~ L^(1/4) for Eq. (3)
        for k in (k1, k2):
            assert P.mp_offdiag2(k) <= eps ** 2
        for alpha in (mpmath.mpf(1) / 2, 1, 2, mpmath.inf):
            gap = _mp.mutual_information(k1, k2, alpha) - (mpmath.log(n) - 2 * mpmath.log(1 + eps))
            assert gap >= 0
        slack(gap, f"I_inf - (log n - 2 log(1 + eps)) at the {loss} loss reached, B={B}, d={d}")
