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
from proofs import _strategies as S

STATEMENT = "Corollary 4.16"
TITLE = "Theorem 4.13's bounds are attained at zero loss"
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
        slack(_mp.clean(gap), f"H_2 - bound at zero {loss} loss (60 digits)")


@pytest.mark.check("randomized")
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.integers(1, 5), st.sampled_from(("sc", "bt")))
def test_random_zero_loss_configurations(slack, seed, B, d, loss):
    if (loss == "sc" and B > d) or (loss == "bt" and B < d):
        return
    z = S.zero_loss_views(np.random.default_rng(seed), B, d, loss)
    K = _mp.sample_gram(z) if loss == "sc" else _mp.feature_gram(z)
    gap = _mp.joint_entropy(K, K, 2) - mpmath.log(K.rows)
    slack(_mp.clean(gap), "H_2 - log n at zero loss (60 digits)")
    assert abs(gap) < mpmath.mpf(10) ** -50


@pytest.mark.check("randomized")
def test_bound_attained_at_configurations_the_search_reaches(slack, effort):
    """At the near-zero-loss configurations the loss search reaches (Theorem 4.4's check; nothing
    about the minimiser is built in): log n - log(1 + A) <= H_2 <= log n (Theorem 4.13,
    Definition 3.1) with A = Theorem 4.13's allowance at lambda = 1, so H_2 is within A of the bound."""
    from proofs import _power as P

    for loss, B, d in P.ZERO_LOSS_CASES:
        if not P.zero_loss_possible(loss, B, d):
            continue
        L, k1, k2, _ = P.reached(loss, B, d, 1.0, 2 * effort)
        n = k1.rows
        allow = (2 + mpmath.mpf(2) / B) * L if loss == "sc" else 2 * L / n + 4 * mpmath.sqrt(n * L)
        h2 = _mp.joint_entropy(k1, k2, 2)
        gap = h2 - (mpmath.log(n) - mpmath.log(1 + allow))
        assert L < mpmath.mpf(10) ** -20 and 0 <= gap <= allow + mpmath.mpf(10) ** -50  # 60-digit round-off
        assert h2 <= mpmath.log(n) + mpmath.mpf(10) ** -50
        slack(gap, f"H_2 - bound at the {loss} loss reached, B={B}, d={d} (at most the allowance)")
