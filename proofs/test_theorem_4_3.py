r"""Theorem 4.3: matrix mutual information (alpha = 2) is bounded below by the loss.

Statement.  Let z_i^(1), z_i^(2) (i = 1..B) be unit vectors in R^d, the rows of two (B, d) views,
and lambda > 0.
1. Spectral contrastive loss (Eq. 2), K_k = Z_k^T Z_k = [z_i^(k) . z_j^(k)] (B x B):
   I_2(K_1; K_2) >= log B - 2 log(1 + (2 + 2/(B lambda)) L_SC).
2. Barlow Twins loss (Eq. 3) with the uncentred per-feature normalisation of Sec. 3.2
   (zbar_i^(k) = i-th feature column over the batch, l2-normalised), Kbar_k = Zbar_k Zbar_k^T
   (d x d) and C_ij = zbar_i^(1) . zbar_j^(2):
   I_2(Kbar_1; Kbar_2) >= log d - 2 log(1 + 2 L_BT/(d lambda) + 4 sqrt(d L_BT)).

Verdict: holds (both parts), for every lambda > 0.  The printed proof has typos (listed in
ERRATA.md): ||Z1^T Z2||_F^2 for ||Z2^T Z2||_F^2 in the first display, ||z_j^(1) - z_i^(2)|| for
||z_j^(1) - z_j^(2)||, a strict "<" that fails at zero loss (both sides 0), and the K_2 half of
the argument is not written.  Corrected proof (part 1):

(a) Proposition 4.1 and ||K1 o K2||_F^2 >= B (its diagonal is 1):
    I_2 >= 2 log B - log(||K1||^2 ||K2||^2 / B) = log B - log(||K1||^2/B) - log(||K2||^2/B).
(b) ||K1||^2 / B = 1 + S_1/B with S_1 = sum_{i != j} (z_i^(1).z_j^(1))^2.
(c) Lemma 4.2 with a = z_i^(1), b = z_j^(1), b' = z_j^(2), then (x + y)^2 <= 2x^2 + 2y^2:
    (z_i^(1).z_j^(1))^2 <= 2 (z_i^(1).z_j^(2))^2 + 2 ||z_j^(1) - z_j^(2)||^2.
    Summing over i != j: S_1 <= 2 sum_{i!=j}(z_i^(1).z_j^(2))^2 + 2 (B-1) sum_j ||z_j^(1)-z_j^(2)||^2
    <= (2/lambda) L_SC + 2 (B-1) L_SC <= 2 (1/lambda + B) L_SC, since L_SC is the sum of the
    nonnegative alignment term and lambda times the off-diagonal term.
(d) The same with the views swapped (a = z_i^(2), b = z_j^(2), b' = z_j^(1)) bounds S_2 by the
    same quantity (the off-diagonal sum is symmetric under (i, j) -> (j, i) and swapping views).
(e) So ||Kk||^2/B <= 1 + (2 + 2/(B lambda)) L_SC for k = 1, 2, and (a) gives the bound.
Part 2 is the same on the d x d matrices: Lemma 4.2 with a = zbar_i^(1), b = zbar_j^(1),
b' = zbar_j^(2) gives (Kbar_1)_ij^2 <= 2 C_ij^2 + 4 (1 - C_jj); summing,
sum_{i!=j} <= (2/lambda) L_BT + 4 (d-1) sum_j (1 - C_jj) and, by Cauchy-Schwarz and
0 <= 1 - C_jj, sum_j (1 - C_jj) <= sqrt(d sum_j (1 - C_jj)^2) <= sqrt(d L_BT).  Dividing by d:
||Kbar_k||^2/d <= 1 + 2 L_BT/(d lambda) + 4 ((d-1)/d) sqrt(d L_BT), which is slightly stronger
than the printed bound.  Equality (margin 0) holds at zero loss (Corollary 4.6).
"""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs import _mp
from proofs import _strategies as S

STATEMENT = "Theorem 4.3"
TITLE = "I_2 >= log B - 2 log(1 + (2 + 2/(B lam)) L_SC); I_2 >= log d - 2 log(1 + 2 L_BT/(d lam) + 4 sqrt(d L_BT))"
TWINS = ()
VERDICT = "holds"
CONDITION = None
CORRECTED = None

LAMBDAS = (1e-3, 0.05, 0.5, 1.0, 5.0, 100.0)


def margins_mp(z1, z2, lam):
    """(part-1 margin, part-2 margin) in 60 digits."""
    return margin1_mp(z1, z2, lam), margin2_mp(z1, z2, lam)


def margin1_mp(z1, z2, lam):
    lam = _mp.to_mpf(lam)
    B = z1.shape[0]
    K1, K2 = _mp.sample_gram(z1), _mp.sample_gram(z2)
    L = _mp.spectral_contrastive_loss(z1, z2, lam)
    return _mp.mutual_information(K1, K2, 2) - (mpmath.log(B) - 2 * mpmath.log(1 + (2 + 2 / (B * lam)) * L))


def margin2_mp(z1, z2, lam):
    lam = _mp.to_mpf(lam)
    d = z1.shape[1]
    F1, F2 = _mp.feature_gram(_mp.normalise_rows(z1)), _mp.feature_gram(_mp.normalise_rows(z2))
    Lb = _mp.barlow_twins_loss(z1, z2, lam)
    m2 = _mp.mutual_information(F1, F2, 2) - (mpmath.log(d) - 2 * mpmath.log(
        1 + 2 * Lb / (d * lam) + 4 * mpmath.sqrt(d * Lb)))
    return m2


def _i2(K1, K2):
    f = lambda M: (M ** 2).sum()
    n = K1.shape[0]
    return 2 * math.log(n) - math.log(f(K1) * f(K2) / f(K1 * K2))


def margins_np(z1, z2, lam, only=None):
    """(part-1 margin, part-2 margin) in float64; ``only`` = 0 or 1 computes just that one."""
    a, b = _mp.np_unit_rows(z1), _mp.np_unit_rows(z2)
    B, d = a.shape
    m1 = m2 = None
    if only != 1:
        L = _mp.np_sc_loss(a, b, lam)
        m1 = _i2(a @ a.T, b @ b.T) - (math.log(B) - 2 * math.log(1 + (2 + 2 / (B * lam)) * L))
    if only == 0:
        return m1, m2
    fa, fb = _mp.np_unit_rows(a.T), _mp.np_unit_rows(b.T)
    Lb = _mp.np_bt_loss(a, b, lam)
    m2 = _i2(fa @ fa.T, fb @ fb.T) - (math.log(d) - 2 * math.log(1 + 2 * Lb / (d * lam) + 4 * math.sqrt(d * Lb)))
    return m1, m2


@pytest.mark.check("symbolic")
def test_algebra_of_the_proof():
    B, d, lam, L, S1 = sp.symbols("B d lambda L S_1", positive=True)
    # (c)+(e): S_1 <= 2 (1/lambda + B) L  =>  1 + S_1/B <= 1 + (2 + 2/(B lambda)) L
    assert sp.simplify(2 * (1 / lam + B) * L / B - (2 + 2 / (B * lam)) * L) == 0
    # (a): 2 log B - log(x y / B) = log B - log(x/B) - log(y/B)
    x, y = sp.symbols("x y", positive=True)
    assert sp.simplify(sp.expand_log(2 * sp.log(B) - sp.log(x * y / B) - (sp.log(B) - sp.log(x / B) - sp.log(y / B)),
                                     force=True)) == 0
    # (x + y)^2 <= 2 x^2 + 2 y^2
    assert sp.expand(2 * x ** 2 + 2 * y ** 2 - (x + y) ** 2 - (x - y) ** 2) == 0
    # part 2: Cauchy-Schwarz sum_j u_j <= sqrt(d sum u_j^2), as Lagrange's identity for d = 3
    u = sp.symbols("u0:3", real=True)
    lag = sum((u[i] - u[j]) ** 2 for i in range(3) for j in range(i + 1, 3))
    assert sp.expand(3 * sum(v ** 2 for v in u) - sum(u) ** 2 - lag) == 0
    # dividing by d: (2/lambda) L + 4 (d-1) sqrt(d L) over d is at most the printed term
    gap = (2 * L / (d * lam) + 4 * sp.sqrt(d * L)) - (2 * L / lam + 4 * (d - 1) * sp.sqrt(d * L)) / d
    assert sp.simplify(gap - 4 * sp.sqrt(d * L) / d) == 0


@pytest.mark.check("symbolic")
def test_printed_strict_inequality_fails_at_zero_loss():
    """The proof's '<' between the two sums is an equality 0 = 0 at z1 = z2 = orthonormal rows."""
    z = sp.eye(2)
    off = sum((z[i, :] * z[j, :].T)[0] ** 2 for i in range(2) for j in range(2) if i != j)
    align = sum(((z[j, :] - z[j, :]) * (z[j, :] - z[j, :]).T)[0] for j in range(2))
    lhs = off + sum(align for i in range(2) for j in range(2) if i != j)
    rhs = off + 2 * align
    assert lhs == rhs == 0  # so "lhs < rhs" is false; "<=" is what holds


@pytest.mark.check("high-precision")
def test_exact_zero_loss_gives_margin_zero_in_60_digits(slack):
    for B, d in ((2, 2), (3, 5)):  # part 1 at zero SC loss: orthonormal rows, z1 = z2
        z = np.eye(d)[:B]
        m1 = margin1_mp(z, z, 1)
        assert abs(m1) < mpmath.mpf(10) ** -50
    for m, d in ((1, 3), (2, 2)):  # part 2 at zero BT loss: stacked identity rows
        z = np.concatenate([np.eye(d)] * m)
        m2 = margin2_mp(z, z, "1/2")
        assert abs(m2) < mpmath.mpf(10) ** -50
    slack(0, "margin at exact zero loss")


@pytest.mark.check("high-precision")
def test_rational_batches_in_60_digits(slack):
    rng = np.random.default_rng(17)
    worst = mpmath.inf
    for B, d in ((2, 3), (4, 2), (3, 3), (5, 4)):
        for spread in (1.0, 0.01):
            z1 = S.rational_unit_rows(rng, B, d, spread=spread)
            z2 = S.rational_unit_rows(rng, B, d, spread=spread)
            for lam in ("1/1000", "1", "50"):
                for m in margins_mp(z1, z2, lam):
                    assert m > 0
                    worst = min(worst, m)
    slack(_mp.clean(worst), "smallest margin on rational batches")


@pytest.mark.check("randomized")
@given(S.near_zero_loss_pair(max_B=6, max_d=6), st.sampled_from(LAMBDAS))
def test_near_zero_loss_configurations(slack, pair, lam):
    z1, z2, kind, eps = pair
    parts = (0,) if kind == "rows" and z1.shape[0] < z1.shape[1] else (0, 1)  # part 2 needs nonzero features
    for part in parts:
        m = margins_np(z1, z2, lam, part)[part]
        if m < 1e-8:
            m = (margin1_mp, margin2_mp)[part](z1, z2, lam)
            assert m >= -mpmath.mpf(10) ** -40
        slack(_mp.clean(m), f"margin near zero loss ({kind})")
        assert m >= -1e-12


@pytest.mark.check("randomized")
@given(S.normalised_batch(min_B=2, max_B=6, min_d=2, max_d=6), st.data(), st.sampled_from(LAMBDAS))
def test_arbitrary_batches(slack, z1, data, lam):
    z2 = data.draw(S.normalised_batch(B=z1.shape[0], d=z1.shape[1]))
    if np.any(np.abs(z1).sum(0) == 0) or np.any(np.abs(z2).sum(0) == 0):
        return  # a feature that is zero on the whole batch has no Sec. 3.2 normalisation
    for m in margins_np(z1, z2, lam):
        slack(_mp.clean(m), "margin on arbitrary batches")
        assert m >= -1e-12


@pytest.mark.check("randomized")
def test_adversarial_local_search(slack, effort):
    """Minimise each margin over raw (z1, z2) from random starts and from perturbed zero-loss
    configurations; the best points are re-evaluated in 60 digits."""
    worst = [mpmath.inf, mpmath.inf]
    for part, (B, d) in ((0, (3, 4)), (1, (4, 2)), (0, (4, 4)), (1, (6, 3)))[: 2 if effort == 1 else 4]:
        for lam in (0.01, 20.0) if effort == 1 else (0.01, 1.0, 20.0):
            def f(x):
                z1, z2 = x[: B * d].reshape(B, d), x[B * d:].reshape(B, d)
                return margins_np(z1, z2, lam, part)[part]

            def start(rng):
                if rng.random() < 0.5:
                    return rng.standard_normal(2 * B * d)
                base = np.eye(d)[:B] if part == 0 else np.concatenate([np.eye(d)] * (B // d))
                return np.concatenate([base.ravel(), base.ravel()]) + 0.05 * rng.standard_normal(2 * B * d)
            v, x = S.multistart_minimize(f, start, starts=2 * effort, seed=B * d, maxiter=25)[0]
            if v < 1e-6:
                v = (margin1_mp, margin2_mp)[part](x[: B * d].reshape(B, d), x[B * d:].reshape(B, d), lam)
            assert v >= -mpmath.mpf(10) ** -30
            worst[part] = min(worst[part], v)
    slack(_mp.clean(worst[0]), "part 1: smallest margin found")
    slack(_mp.clean(worst[1]), "part 2: smallest margin found")


@pytest.mark.check("randomized")
@given(S.normalised_batch(min_B=2, max_B=6, min_d=2, max_d=6), st.data(), st.sampled_from(LAMBDAS))
def test_mmae_losses_and_grams_match_independent_computation(z1, data, lam):
    torch = pytest.importorskip("torch")
    losses = pytest.importorskip("mmae.losses")
    info = pytest.importorskip("mmae.info")
    z2 = data.draw(S.normalised_batch(B=z1.shape[0], d=z1.shape[1]))
    if np.any(np.abs(z1).sum(0) == 0) or np.any(np.abs(z2).sum(0) == 0):
        return
    t1, t2 = torch.tensor(z1), torch.tensor(z2)
    close = lambda got, want: abs(float(got) - float(want)) <= 1e-9 * max(1.0, abs(float(want)))
    assert close(losses.spectral_contrastive_loss(t1, t2, lam=lam), _mp.spectral_contrastive_loss(z1, z2, lam))
    assert close(losses.barlow_twins_loss(t1, t2, lam, normalize="paper"), _mp.barlow_twins_loss(z1, z2, lam))
    assert np.allclose(info.sample_gram(t1).numpy(), _mp.to_numpy(_mp.sample_gram(z1)), atol=1e-12)
    assert np.allclose(info.feature_gram(t1).numpy(), _mp.to_numpy(_mp.feature_gram(z1)), atol=1e-12)
