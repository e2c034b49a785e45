r"""Theorem 4.3: the spectral contrastive and Barlow Twins losses bound the mutual information.

**Statement.** Let $\mathbf z_i^{(1)}, \mathbf z_i^{(2)}$ ($i = 1, \dots, B$) be unit vectors in
$\mathbb R^d$, the samples of the two views, and $\lambda > 0$.

1. Spectral contrastive loss (Eq. (2)), with the $B\times B$ Gram matrices
   $\mathbf K_k = \mathbf Z_k^\top\mathbf Z_k = \big[\mathbf z_i^{(k)\top}\mathbf z_j^{(k)}\big]$:

    $$
    \mathrm I_2(\mathbf K_1;\mathbf K_2) \ge \log B - 2\log\Big(1 + \big(2 + \tfrac{2}{B\lambda}\big)\mathcal L_{SC}\Big).
    $$

2. Barlow Twins loss (Eq. (3)) with the uncentred per-feature normalisation of Sec. 3.2
   ($\bar{\mathbf z}_i^{(k)}$ is the $i$-th feature over the batch, $\ell_2$-normalised), the
   $d\times d$ matrices $\bar{\mathbf K}_k = \bar{\mathbf Z}_k\bar{\mathbf Z}_k^\top$ and the
   cross-correlation $\mathcal C_{ij} = \bar{\mathbf z}_i^{(1)\top}\bar{\mathbf z}_j^{(2)}$:

    $$
    \mathrm I_2(\bar{\mathbf K}_1;\bar{\mathbf K}_2) \ge \log d - 2\log\Big(1 + \tfrac{2}{d\lambda}\mathcal L_{BT} + 4\sqrt{d\,\mathcal L_{BT}}\Big).
    $$

**Verdict: holds** (both parts), for every $\lambda > 0$. The printed proof has slips, listed in
the errata: in our text copy, $\|\mathbf Z_1^\top\mathbf Z_2\|_F^2$ stands for
$\|\mathbf Z_2^\top\mathbf Z_2\|_F^2$ in the first display and
$\|\mathbf z_j^{(1)} - \mathbf z_i^{(2)}\|$ for $\|\mathbf z_j^{(1)} - \mathbf z_j^{(2)}\|$; a strict
"$<$" between $(B-1)\sum_j\|\mathbf z_j^{(1)} - \mathbf z_j^{(2)}\|^2$ and $B\sum_j\|\mathbf z_j^{(1)} - \mathbf z_j^{(2)}\|^2$
fails whenever the two views coincide, at any loss (both sides are then equal); and the $\mathbf K_2$ half of the argument is not
written. Corrected proof of part 1:

- (a) Proposition 4.1 and $\|\mathbf K_1\odot\mathbf K_2\|_F^2 \ge B$ (its diagonal is 1):

    $$
    \mathrm I_2 \ge 2\log B - \log\frac{\|\mathbf K_1\|_F^2\,\|\mathbf K_2\|_F^2}{B}
    = \log B - \log\frac{\|\mathbf K_1\|_F^2}{B} - \log\frac{\|\mathbf K_2\|_F^2}{B}.
    $$

- (b) $\|\mathbf K_1\|_F^2/B = 1 + S_1/B$ with
  $S_1 = \sum_{i\ne j}\big(\mathbf z_i^{(1)\top}\mathbf z_j^{(1)}\big)^2$.
- (c) Lemma 4.2 with $\mathbf a = \mathbf z_i^{(1)}$, $\mathbf b = \mathbf z_j^{(1)}$,
  $\mathbf b' = \mathbf z_j^{(2)}$, then $(x + y)^2 \le 2x^2 + 2y^2$:
  $\big(\mathbf z_i^{(1)\top}\mathbf z_j^{(1)}\big)^2 \le 2\big(\mathbf z_i^{(1)\top}\mathbf z_j^{(2)}\big)^2 +
  2\|\mathbf z_j^{(1)} - \mathbf z_j^{(2)}\|^2$. Summing over $i \ne j$:

    $$
    \begin{aligned}
    S_1 &\le 2\sum_{i\ne j}\big(\mathbf z_i^{(1)\top}\mathbf z_j^{(2)}\big)^2 + 2(B-1)\sum_j\|\mathbf z_j^{(1)} - \mathbf z_j^{(2)}\|^2\\
    &\le \tfrac{2}{\lambda}\mathcal L_{SC} + 2(B-1)\,\mathcal L_{SC} \le 2\big(\tfrac1\lambda + B\big)\mathcal L_{SC},
    \end{aligned}
    $$

    since $\mathcal L_{SC}$ is the sum of the nonnegative alignment term and $\lambda$ times the
    off-diagonal term.

- (d) The same with the views swapped ($\mathbf a = \mathbf z_i^{(2)}$, $\mathbf b = \mathbf z_j^{(2)}$,
  $\mathbf b' = \mathbf z_j^{(1)}$) bounds $S_2$ by the same quantity (the off-diagonal sum is
  symmetric under $(i, j) \mapsto (j, i)$ together with swapping the views).

- (e) So $\|\mathbf K_k\|_F^2/B \le 1 + \big(2 + \tfrac{2}{B\lambda}\big)\mathcal L_{SC}$ for $k = 1, 2$,
  and (a) gives the bound.

Part 2 is the same on the $d\times d$ matrices: Lemma 4.2 with $\mathbf a = \bar{\mathbf z}_i^{(1)}$,
$\mathbf b = \bar{\mathbf z}_j^{(1)}$, $\mathbf b' = \bar{\mathbf z}_j^{(2)}$ gives
$(\bar{\mathbf K}_1)_{ij}^2 \le 2\,\mathcal C_{ij}^2 + 4(1 - \mathcal C_{jj})$; summing,
$\sum_{i\ne j}(\bar{\mathbf K}_1)_{ij}^2 \le \tfrac2\lambda\mathcal L_{BT} + 4(d-1)\sum_j(1 - \mathcal C_{jj})$,
and by the Cauchy-Schwarz inequality and $0 \le 1 - \mathcal C_{jj}$,
$\sum_j(1 - \mathcal C_{jj}) \le \sqrt{d\sum_j(1 - \mathcal C_{jj})^2} \le \sqrt{d\,\mathcal L_{BT}}$.
Dividing by $d$:

$$
\frac{\|\bar{\mathbf K}_k\|_F^2}{d} \le 1 + \frac{2}{d\lambda}\mathcal L_{BT} + 4\,\frac{d-1}{d}\sqrt{d\,\mathcal L_{BT}},
$$

slightly stronger than the printed bound. Equality (margin 0) holds at zero loss (Corollary 4.6).

**Sharp constants (ours).** Both parts hold with smaller allowances, and these are sharp:

$$
\mathrm I_2(\mathbf K_1;\mathbf K_2) \ge \log B - 2\log\Big(1 + \frac{B - 1 + 1/\lambda}{B}\,\mathcal L_{SC}\Big),
\qquad
\mathrm I_2(\bar{\mathbf K}_1;\bar{\mathbf K}_2) \ge \log d - 2\log\Big(1 + \frac1d\Big(\sqrt{\mathcal L_{BT}/\lambda}
+ \sqrt{2(d-1)\sqrt{d\,\mathcal L_{BT}}}\Big)^2\Big).
$$

*Proof.* Step (c) bounds each entry by Lemma 4.2 and squares with $(u+v)^2 \le 2u^2 + 2v^2$, which
loses a factor 2 wherever one of the two terms dominates. Summed first instead (the summed Lemma 4.2
of `proofs/_sharp.py`: the Frobenius triangle inequality, and $\|\sum_{i\ne j}\mathbf x_i\mathbf x_i^\top\| \le n - 1$
for unit $\mathbf x_i$), $\sqrt{S_1} \le \sqrt S + \sqrt{(B-1)A}$, with $A$ the alignment term and $S$ the
off-diagonal term of $\mathcal L_{SC} = A + \lambda S$; Cauchy-Schwarz in the plane,
$(\sqrt S + \sqrt{(B-1)A})^2 \le (1/\lambda + B - 1)(\lambda S + A)$, gives
$S_1 \le (B - 1 + 1/\lambda)\,\mathcal L_{SC}$, the same for $S_2$, and (a), (b), (e) conclude. Part 2 on
the unit features: $\sum_j\|\bar{\mathbf z}_j^{(1)} - \bar{\mathbf z}_j^{(2)}\|^2 = 2\sum_j(1 - \mathcal C_{jj}) \le 2\sqrt{d\,\mathcal L_{BT}}$
(Cauchy-Schwarz, as above) and $S \le \mathcal L_{BT}/\lambda$. Each step is checked in sympy where it is
an identity and at 60 digits on rational batches.

*Tightness.* On equal views whose Gram matrix is $(1-\varepsilon)\mathbf I + \varepsilon\mathbf 1\mathbf 1^\top$
($n = B$ or $d$) the share of the sharp allowance tends, as $\lambda \to 0$, to
$\big[(1 + (n-1)\varepsilon^2)/\sqrt{1 + (n-1)\varepsilon^4} - 1\big]/\big((n-1)\varepsilon^2\big)$ (derived in sympy,
checked at 60 digits), which tends to 1 as $\varepsilon \to 0$: no smaller constant holds. The printed
allowance of part 1 is at least twice the sharp one (the difference is $2\mathcal L_{SC}/B$ more than
twice), so the printed part 1 uses at most half its allowance, and the same family brings it to
$\tfrac12$: its supremum is exactly $\tfrac12$, approached as $\lambda \to 0$, never reached. Part 2's
printed allowance exceeds the sharp one by
$\big((\sqrt{\mathcal L_{BT}/\lambda} - \sqrt{2(d-1)\sqrt{d\mathcal L_{BT}}})^2 + 4\sqrt{d\mathcal L_{BT}}\big)/d$:
the family gives its supremum $\ge \tfrac12$, and that it is $\tfrac12$ is a conjecture the worst-case
search supports (it finds no share above $\tfrac12$ over the whole domain).
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

STATEMENT = "Theorem 4.3"
TITLE = "the spectral contrastive and Barlow Twins losses bound the mutual information"
VERDICT = "holds"

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


@pytest.mark.check("symbolic")
def test_printed_strict_inequality_fails_whenever_the_views_coincide():
    """The printed step compares sum_{i != j} |z_j^(1) - z_j^(2)|^2 = (B - 1) A with B A, where
    A = sum_j |z_j^(1) - z_j^(2)|^2: the gap is exactly A, so "<" fails exactly when A = 0, i.e. when
    the views coincide, whatever the loss: z1 = z2 = B copies of one unit vector has
    L_SC = lambda B (B - 1) > 0 and both sides 0."""
    B = 3
    a = sp.symbols("a0:3", nonnegative=True)  # a_j = |z_j^(1) - z_j^(2)|^2
    lhs = sum(a[j] for i in range(B) for j in range(B) if i != j)
    assert sp.expand(B * sum(a) - lhs) == sum(a)
    lam = sp.symbols("lambda", positive=True)
    z = sp.Matrix([[sp.Rational(3, 5), sp.Rational(4, 5)]] * B)  # coinciding views, identical rows
    align = [((z[j, :] - z[j, :]) * (z[j, :] - z[j, :]).T)[0] for j in range(B)]
    loss = sum(align) + lam * sum(((z[i, :] * z[j, :].T)[0]) ** 2 for i in range(B) for j in range(B) if i != j)
    assert sp.expand(loss) == lam * B * (B - 1)
    assert sum(align[j] for i in range(B) for j in range(B) if i != j) == B * sum(align) == 0


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
        slack(_mp.clean(m2), "part 2: margin at exact zero loss (60 digits)")
    slack(_mp.clean(m1), "part 1: margin at exact zero loss (60 digits)")


@pytest.mark.check("high-precision")
def test_rational_batches_in_60_digits(slack):
    rng = np.random.default_rng(17)
    worst = S.least_on_rational_views(margins_mp, rng, ((2, 3), (4, 2), (3, 3), (5, 4)), ("1/1000", "1", "50"))
    assert worst > 0
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


test_worst_case_search = worst_case_test(
    "Theorem 4.3 (1)",
    "Theorem 4.3 (2)",
    "Theorem 4.3 (2, stronger)",
    "Theorem 4.3 (1, sharp)",
    "Theorem 4.3 (2, sharp)",
)


test_sharp_constants_symbolic, test_sharp_constants_60_digits = _sharp.tests("Theorem 4.3 (1)", "Theorem 4.3 (2)")
