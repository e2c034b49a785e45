r"""Corollary 4.16: Theorem 4.13's bounds are attained at zero loss.

**Statement (made precise).** For $\alpha = 2$: at $\mathcal L_{SC} = 0$ ($\lambda > 0$, $B \le d$) both
sides of part 1 of Theorem 4.13 equal $\log B$; at $\mathcal L_{BT} = 0$ ($\lambda > 0$, $B \ge d$) both
sides of part 2 equal $\log d$.

**Proof.** At zero loss the right-hand sides are $\log n$. Zero loss gives
$\mathbf K_1 = \mathbf K_2 = \mathbf I$ (Theorem 4.4), so $\mathbf K_1\odot\mathbf K_2 = \mathbf I$ and
$\mathrm H_2(\mathbf I) = \log n$. Tightness at zero loss only needs $\mathbf K_1\odot\mathbf K_2 = \mathbf I$,
which is weaker than $\mathbf K_1 = \mathbf K_2 = \mathbf I$ ($\mathbf K_1 = \mathbf I$ with any $\mathbf K_2$, for
example): the joint entropy is maximal on a larger set than the mutual information.
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

STATEMENT = "Corollary 4.16"
TITLE = "Theorem 4.13's bounds are attained at zero loss"
VERDICT = "holds"


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
        slack(_mp.clean(gap), f"H_2 - bound at zero {loss} loss (60 digits)")


@pytest.mark.check("randomized")
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.integers(1, 5), st.sampled_from(("sc", "bt")))
def test_random_zero_loss_configurations(slack, seed, B, d, loss):
    if (loss == "sc" and B > d) or (loss == "bt" and B < d):
        return
    gap = P.exact_zero_loss_gap("H2", seed, B, d, loss)
    slack(_mp.clean(gap), "H_2 - log n at zero loss (60 digits)")
    assert abs(gap) < mpmath.mpf(10) ** -50


@pytest.mark.check("randomized")
def test_bound_attained_at_configurations_the_search_reaches(slack, effort):
    """At the near-zero-loss configurations the loss search reaches, H_2 is within A of the bound
    (A the allowance at lambda = 1): the bound is attained in the limit the search approaches."""
    P.attained_where_the_search_reaches("H2", slack, effort)
