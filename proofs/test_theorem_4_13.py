r"""Theorem 4.13 (twin A.8): the spectral contrastive and Barlow Twins losses bound the joint entropy.

**Statement.** With the notation of Theorem 4.3 (unit samples, $\lambda > 0$):

1. $\displaystyle \mathrm H_2(\mathbf Z_1^\top\mathbf Z_1, \mathbf Z_2^\top\mathbf Z_2) \ge \log B - \log\Big(1 + \big(2 + \tfrac{2}{B\lambda}\big)\mathcal L_{SC}\Big)$;
2. $\displaystyle \mathrm H_2(\bar{\mathbf Z}_1\bar{\mathbf Z}_1^\top, \bar{\mathbf Z}_2\bar{\mathbf Z}_2^\top) \ge \log d - \log\Big(1 + \tfrac{2}{d\lambda}\mathcal L_{BT} + 4\sqrt{d\,\mathcal L_{BT}}\Big)$.

**Verdict: holds.** In our text copy the proof (A.8) divides by "$R$" where $B$ is meant, twice,
and writes the Lemma 4.2 step for $(\mathbf z_i^{(1)})^\top\mathbf z_i^{(1)}$ (a diagonal entry, equal
to 1) where $(\mathbf z_i^{(1)})^\top\mathbf z_j^{(1)}$ is meant; the errata say which of these could be
damage from the extraction of our copy.

**Proof.** Write $\mathbf K_k = \mathbf Z_k^\top\mathbf Z_k$. By Proposition 4.12,

$$
\mathrm H_2(\mathbf K_1, \mathbf K_2) = 2\log B - \log\|\mathbf K_1\odot\mathbf K_2\|_F^2
= \log B - \log\frac{\|\mathbf K_1\odot\mathbf K_2\|_F^2}{B},
$$

and, since $|(\mathbf K_2)_{ij}| \le 1$ for a unit-diagonal positive semi-definite matrix,

$$
\frac{\|\mathbf K_1\odot\mathbf K_2\|_F^2}{B} = 1 + \frac1B\sum_{i\ne j}(\mathbf K_1)_{ij}^2(\mathbf K_2)_{ij}^2
\le 1 + \frac1B\sum_{i\ne j}(\mathbf K_1)_{ij}^2 \le 1 + \Big(2 + \frac{2}{B\lambda}\Big)\mathcal L_{SC}
$$

by step (c) of Theorem 4.3. Part 2 is the same with the estimate of part 2 of Theorem 4.3. At zero
loss both sides equal $\log n$ (Corollary 4.16).

**Sharp constants (ours).** With the summed Lemma 4.2 in place of the entrywise one (the proof of
Theorem 4.3's sharp constants, which bounds $S_1$ the same way), both parts hold with the allowances

$$
\mathrm H_2(\mathbf K_1, \mathbf K_2) \ge \log B - \log\Big(1 + \frac{B - 1 + 1/\lambda}{B}\,\mathcal L_{SC}\Big),
\qquad
\mathrm H_2(\bar{\mathbf K}_1, \bar{\mathbf K}_2) \ge \log d - \log\Big(1 + \frac1d\Big(\sqrt{\mathcal L_{BT}/\lambda}
+ \sqrt{2(d-1)\sqrt{d\,\mathcal L_{BT}}}\Big)^2\Big),
$$

and these are sharp: on collapsed equal views (all samples, respectively all features, equal; the
Gram matrices are $\mathbf 1\mathbf 1^\top$) the share of the sharp allowance tends to 1 as $\lambda \to 0$
(on the family $(1-\varepsilon)\mathbf I + \varepsilon\mathbf 1\mathbf 1^\top$ it tends to $\varepsilon^2$, derived in sympy and
checked at 60 digits). The printed part 1 therefore uses at most half its allowance (its allowance is
at least twice the sharp one) and reaches $\tfrac12$ in that limit: supremum exactly $\tfrac12$. For part 2
the supremum is at least $\tfrac12$, and $\tfrac12$ is conjectured from the worst-case search.
"""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs import _mp, _sharp
from proofs import _strategies as S
from proofs._power import worst_case_test

STATEMENT = "Theorem 4.13"
TITLE = "the spectral contrastive and Barlow Twins losses bound the joint entropy"
TWINS = ("Theorem A.8",)
VERDICT = "holds"

LAMBDAS = (1e-3, 0.05, 0.5, 1.0, 5.0, 100.0)


def margin1_mp(z1, z2, lam):
    lam = _mp.to_mpf(lam)
    B = z1.shape[0]
    L = _mp.spectral_contrastive_loss(z1, z2, lam)
    return _mp.joint_entropy(_mp.sample_gram(z1), _mp.sample_gram(z2), 2) - (
        mpmath.log(B) - mpmath.log(1 + (2 + 2 / (B * lam)) * L))


def margin2_mp(z1, z2, lam):
    lam = _mp.to_mpf(lam)
    d = z1.shape[1]
    L = _mp.barlow_twins_loss(z1, z2, lam)
    F1, F2 = _mp.feature_gram(_mp.normalise_rows(z1)), _mp.feature_gram(_mp.normalise_rows(z2))
    return _mp.joint_entropy(F1, F2, 2) - (mpmath.log(d) - mpmath.log(1 + 2 * L / (d * lam) + 4 * mpmath.sqrt(d * L)))


def margins_np(z1, z2, lam, only=None):
    """(part-1 margin, part-2 margin) in float64; ``only`` = 0 or 1 computes just that one."""
    a, b = _mp.np_unit_rows(z1), _mp.np_unit_rows(z2)
    B, d = a.shape
    h2 = lambda M: 2 * math.log(M.shape[0]) - math.log((M ** 2).sum())
    m1 = m2 = None
    if only != 1:
        L = _mp.np_sc_loss(a, b, lam)
        m1 = h2((a @ a.T) * (b @ b.T)) - (math.log(B) - math.log(1 + (2 + 2 / (B * lam)) * L))
    if only == 0:
        return m1, m2
    fa, fb = _mp.np_unit_rows(a.T), _mp.np_unit_rows(b.T)
    Lb = _mp.np_bt_loss(a, b, lam)
    m2 = h2((fa @ fa.T) * (fb @ fb.T)) - (math.log(d) - math.log(1 + 2 * Lb / (d * lam) + 4 * math.sqrt(d * Lb)))
    return m1, m2


@pytest.mark.check("symbolic")
def test_hadamard_step_and_algebra():
    x, y = sp.symbols("x y", real=True)
    # x^2 y^2 <= x^2 when y^2 <= 1: x^2 - x^2 y^2 = x^2 (1 - y^2)
    assert sp.factor(x ** 2 - x ** 2 * y ** 2) == -x ** 2 * (y - 1) * (y + 1)
    B, lam, L = sp.symbols("B lambda L", positive=True)
    assert sp.simplify(sp.expand_log(2 * sp.log(B) - sp.log(B * (1 + (2 + 2 / (B * lam)) * L))
                                     - (sp.log(B) - sp.log(1 + (2 + 2 / (B * lam)) * L)), force=True)) == 0


@pytest.mark.check("high-precision")
def test_zero_loss_equality_and_rational_batches(slack):
    rng = np.random.default_rng(23)
    z = S.zero_loss_views(rng, 3, 4, "sc")
    assert abs(margin1_mp(z, z, 1)) < mpmath.mpf(10) ** -50
    z = S.zero_loss_views(rng, 5, 3, "bt")
    assert abs(margin2_mp(z, z, 1)) < mpmath.mpf(10) ** -50
    worst = S.least_on_rational_views(lambda z1, z2, lam: (margin1_mp(z1, z2, lam), margin2_mp(z1, z2, lam)),
                                      rng, ((2, 3), (4, 2), (3, 3)), ("1/1000", "1", "50"))
    assert worst > 0
    slack(_mp.clean(worst), "smallest margin on rational batches")


@pytest.mark.check("randomized")
@given(S.near_zero_loss_pair(max_B=6, max_d=6), st.sampled_from(LAMBDAS))
def test_near_zero_loss_configurations(slack, pair, lam):
    z1, z2, kind, eps = pair
    parts = (0,) if kind == "rows" and z1.shape[0] < z1.shape[1] else (0, 1)
    for part in parts:
        m = margins_np(z1, z2, lam, part)[part]
        if m < 1e-8:
            m = (margin1_mp, margin2_mp)[part](z1, z2, lam)
            assert m >= -mpmath.mpf(10) ** -40
        slack(_mp.clean(m), f"margin near zero loss ({kind})")
        assert m >= -1e-12


test_worst_case_search = worst_case_test(
    "Theorem 4.13 (1)",
    "Theorem 4.13 (2)",
    "Theorem 4.13 (1, sharp)",
    "Theorem 4.13 (2, sharp)",
)


test_sharp_constants_symbolic, test_sharp_constants_60_digits = _sharp.tests("Theorem 4.13 (1)", "Theorem 4.13 (2)")
