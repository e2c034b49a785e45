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
"""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs import _mp
from proofs import _strategies as S

STATEMENT = "Theorem 4.13"
TITLE = "the spectral contrastive and Barlow Twins losses bound the joint entropy"
TWINS = ("Theorem A.8",)
VERDICT = "holds"
CONDITION = None
CORRECTED = None

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
    worst = mpmath.inf
    for B, d in ((2, 3), (4, 2), (3, 3)):
        for spread in (1.0, 0.01):
            z1, z2 = S.rational_unit_rows(rng, B, d, spread=spread), S.rational_unit_rows(rng, B, d, spread=spread)
            for lam in ("1/1000", "1", "50"):
                for m in (margin1_mp(z1, z2, lam), margin2_mp(z1, z2, lam)):
                    assert m > 0
                    worst = min(worst, m)
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


@pytest.mark.check("randomized")
def test_adversarial_local_search(slack, effort):
    worst = [mpmath.inf, mpmath.inf]
    for part, (B, d) in ((0, (3, 4)), (1, (4, 2)), (0, (4, 4)), (1, (6, 3)))[: 2 if effort == 1 else 4]:
        for lam in (0.01, 20.0) if effort == 1 else (0.01, 1.0, 20.0):
            def f(x):
                return margins_np(x[: B * d].reshape(B, d), x[B * d:].reshape(B, d), lam, part)[part]

            def start(rng):
                if rng.random() < 0.5:
                    return rng.standard_normal(2 * B * d)
                base = np.eye(d)[:B] if part == 0 else np.concatenate([np.eye(d)] * (B // d))
                return np.concatenate([base.ravel(), base.ravel()]) + 0.05 * rng.standard_normal(2 * B * d)
            v, x = S.multistart_minimize(f, start, starts=2 * effort, seed=B + d, maxiter=25)[0]
            if v < 1e-6:
                v = (margin1_mp, margin2_mp)[part](x[: B * d].reshape(B, d), x[B * d:].reshape(B, d), lam)
            assert v >= -mpmath.mpf(10) ** -30
            worst[part] = min(worst[part], v)
    slack(_mp.clean(worst[0]), "part 1: smallest margin found")
    slack(_mp.clean(worst[1]), "part 2: smallest margin found")


@pytest.mark.check("randomized")
def test_worst_case_search(tightness):
    """The largest share of its allowance that the inequality uses, over its whole domain
    (random restarts and local search in proofs._power, re-evaluated in 60 digits)."""
    tightness("Theorem 4.13 (1)")
    tightness("Theorem 4.13 (2)")
    tightness("Theorem 4.13 (1, sharp)")
    tightness("Theorem 4.13 (2, sharp)")
