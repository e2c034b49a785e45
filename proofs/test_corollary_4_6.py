r"""Corollary 4.6: Theorem 4.3's bounds are attained at zero loss.

**Statement (made precise).** For $\alpha = 2$: at any configuration with $\mathcal L_{SC} = 0$
($\lambda > 0$, $B \le d$) both sides of part 1 of Theorem 4.3 equal $\log B$; at any configuration
with $\mathcal L_{BT} = 0$ ($\lambda > 0$, $B \ge d$) both sides of part 2 equal $\log d$. Such
configurations exist exactly when $B \le d$ (spectral contrastive), respectively $B \ge d$ (Barlow
Twins): orthonormal samples, respectively unit samples with orthogonal feature columns.

**Proof.** The right-hand sides at zero loss: $\log n - 2\log 1 = \log n$. The left-hand sides: zero
loss forces $\mathbf K_1 = \mathbf K_2 = \mathbf I$ (Theorem 4.4), and
$\mathrm I_2(\mathbf I;\mathbf I) = \log n$. Existence: $B$ orthonormal vectors need $B \le d$; $d$
orthogonal nonzero feature columns in $\mathbb R^B$ need $B \ge d$ (stacked orthogonal matrices plus
basis rows, for example, realise every $B \ge d$).
"""
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs import _mp
from proofs import _power as P
from proofs import _strategies as S

STATEMENT = "Corollary 4.6"
TITLE = "Theorem 4.3's bounds are attained at zero loss"
VERDICT = "holds"


@pytest.mark.check("symbolic")
def test_exact_equality_on_a_rational_zero_loss_batch():
    """Everything in exact arithmetic: z1 = z2 = rows of a rational rotation."""
    z = sp.Matrix([[sp.Rational(3, 5), sp.Rational(4, 5)], [sp.Rational(-4, 5), sp.Rational(3, 5)]])
    lam = sp.Rational(1, 7)
    K = z * z.T
    assert K == sp.eye(2)
    L_sc = sum(((z[i, :] - z[i, :]) * (z[i, :] - z[i, :]).T)[0] for i in range(2)) + lam * sum(
        K[i, j] ** 2 for i in range(2) for j in range(2) if i != j)
    assert L_sc == 0
    fro = lambda M: sum(x ** 2 for x in M)
    I2 = 2 * sp.log(2) - sp.log(fro(K) * fro(K) / fro(K.multiply_elementwise(K)))
    rhs = sp.log(2) - 2 * sp.log(1 + (2 + 2 / (2 * lam)) * L_sc)
    assert sp.simplify(I2 - rhs) == 0
    # Barlow Twins: columns of z are orthonormal too (z is orthogonal), so C = z^T z = I
    C = z.T * z
    assert C == sp.eye(2)


@pytest.mark.check("high-precision")
def test_tightness_in_60_digits(slack):
    rng = np.random.default_rng(31)
    for B, d, loss in ((1, 1, "sc"), (3, 5, "sc"), (4, 4, "bt"), (7, 3, "bt")):
        z = S.zero_loss_views(rng, B, d, loss)
        lam = Fraction(2, 3)
        if loss == "sc":
            L, K, n = _mp.spectral_contrastive_loss(z, z, lam), _mp.sample_gram(z), B
            rhs = mpmath.log(n) - 2 * mpmath.log(1 + (2 + 2 / (B * _mp.to_mpf(lam))) * L)
        else:
            L, K, n = _mp.barlow_twins_loss(z, z, lam), _mp.feature_gram(z), d
            rhs = mpmath.log(n) - 2 * mpmath.log(1 + 2 * L / (d * _mp.to_mpf(lam)) + 4 * mpmath.sqrt(d * L))
        gap = _mp.mutual_information(K, K, 2) - rhs
        # sqrt(d L) turns a 1e-123 round-off loss into 1e-61: still far below the 1e-50 check
        assert abs(gap) < mpmath.mpf(10) ** -50
        slack(_mp.clean(gap), f"I_2 - bound at zero {loss} loss (60 digits)")


@pytest.mark.check("randomized")
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.integers(1, 5), st.sampled_from(("sc", "bt")))
def test_random_zero_loss_configurations(slack, seed, B, d, loss):
    if (loss == "sc" and B > d) or (loss == "bt" and B < d):
        with pytest.raises(ValueError):
            S.zero_loss_views(np.random.default_rng(seed), B, d, loss)
        return
    gap = P.exact_zero_loss_gap("I2", seed, B, d, loss)
    slack(_mp.clean(gap), "I_2 - log n at zero loss (60 digits)")
    assert abs(gap) < mpmath.mpf(10) ** -50


@pytest.mark.check("randomized")
def test_bound_attained_at_configurations_the_search_reaches(slack, effort):
    """At the near-zero-loss configurations the loss search reaches, I_2 is within 2A of the bound
    (A the allowance at lambda = 1): the bound is attained in the limit the search approaches."""
    P.attained_where_the_search_reaches("I2", slack, effort)
