r"""Remark after Theorem A.11: the results extend to sample- and dimension-contrastive methods.

**The remark** (Appendix A, after the proof of Theorem A.11) says that, following the proofs of
"Theorem 4.6", Theorem 4.14 and Theorem 4.17, the results generalise to the sample-contrastive and
dimension-contrastive methods of Garrido et al. (2022), which contain many well-known methods.  It
states no formula; there is no Theorem 4.6 in the paper (see `proofs/ERRATA.md`).

**What extends, stated precisely (ours).**  Garrido et al. (2022) call a criterion
*sample-contrastive* when it penalises the off-diagonal of the sample Gram matrix and
*dimension-contrastive* when it penalises the off-diagonal of the feature Gram matrix.  The matrix
quantities of the paper need unit diagonals, so take the samples (rows of the batch $z \in
\mathbb{R}^{B\times d}$) l2-normalised, $G = zz^\top$ ($B\times B$), resp. the features (columns)
normalised over the batch, $K = \bar z^\top\bar z$ ($d\times d$), and
$L_c = \sum_{i\ne j} G_{ij}^2$, $L_{nc} = \sum_{i\ne j} K_{ij}^2$.  With $M$ either Gram matrix, $n$
its size and $L$ its criterion:

1. (alpha = 2, Proposition 4.12 with one branch) $H_2(M) = 2\log n - \log\|M\|_F^2 = \log n - \log(1 + L/n)$,
   an identity; for two branches $M_1, M_2$ (as in Theorems 4.3 / 4.13),
   $H_2(M_1, M_2) \ge \log n - \log(1 + \min(L(M_1), L(M_2))/n)$ (as $|M_{k,ij}| \le 1$) and
   $I_2(M_1; M_2) \ge \log n - \log(1 + L(M_1)/n) - \log(1 + L(M_2)/n)$ (Proposition 4.1 and
   $\|M_1\odot M_2\|_F^2 \ge n$).
2. (Theorems 4.4 / 4.14) $L = 0 \iff M = I_n \implies H_\alpha(M) = \log n$, the maximum
   (Proposition 4.15), for every alpha; zero criterion needs $B \le d$ (sample) resp. $B \ge d$
   (dimension), and otherwise $L \ge n_{\max}^2/n_{\min} - n_{\max}$ with $n_{\max} = \max(B, d)$,
   $n_{\min} = \min(B, d)$ (from $\|M\|_F^2 \ge (\mathrm{tr} M)^2/\mathrm{rank} M$), attained by tight frames.
3. (Theorem 4.17 / the remark after it, steps 1-2) $\mathrm{TCR}_\mu(M) \ge n\log(1+\mu) - L/(2\mu^2)$.

What does *not* carry over as such: the constants of Theorems 4.3, 4.13 and 4.17 come from the
alignment term of Eqs. (2)-(3), which a pure sample- or dimension-contrastive criterion does not
have; with it removed, the bounds above are the ones that remain (their constants are 1, and they
are sharp).  Unnormalised embeddings (as in Garrido et al.'s criteria) must be normalised first;
$L = 0$ on unnormalised non-zero samples still forces the normalised Gram matrix to be $I$.

**Proof.** 1: $\|M\|_F^2 = n + L$ since the diagonal is 1; then Propositions 4.12 and 4.1.
2: $L = 0$ says the off-diagonal vanishes.  $\mathrm{rank}\,M \le \min(B, d)$ and
$\mathrm{tr}\,M = n$ give $\|M\|_F^2 \ge n^2/\min(B, d)$ by Cauchy-Schwarz on the eigenvalues.
3: Lemma A.12 summed over the eigenvalues $\nu_i$ of $M$ at $a = 1/\mu$ ($\sum_i \nu_i = n$,
$\sum_i \nu_i^2 = n + L$), exactly as in step 2 of Theorem 4.17.
"""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp

from proofs import _mp
from proofs import _strategies as S
from proofs._power import worst_case_test

STATEMENT = "Remark A.11"
TITLE = "Extension to sample- and dimension-contrastive criteria (Garrido et al., 2022)"
VERDICT = "holds under a condition"
CONDITION = (r"samples (sample-contrastive) or features (dimension-contrastive) $\ell_2$-normalised, so that the "
             r"Gram matrices have unit diagonals; the results are the $\alpha = 2$ identities and bounds, the "
             r"zero-criterion maximality ($B \le d$, respectively $B \ge d$) and the TCR bound stated in the module")


def _criterion(m):
    return mp.fsum(m[i, j] ** 2 for i in range(m.rows) for j in range(m.cols) if i != j)


@pytest.mark.check("symbolic")
def test_alpha_2_identity_symbolically():
    a, b, c = sp.symbols("a b c", real=True)
    m = sp.Matrix([[1, a, b], [a, 1, c], [b, c, 1]])
    crit = 2 * (a ** 2 + b ** 2 + c ** 2)
    frob = sum(t ** 2 for t in m)
    assert sp.expand(frob - (3 + crit)) == 0  # ||M||_F^2 = n + L
    assert sp.simplify(sp.expand_log(2 * sp.log(3) - sp.log(frob) - (sp.log(3) - sp.log(1 + crit / 3)), force=True)) == 0


@pytest.mark.check("high-precision")
def test_identities_and_bounds_on_rational_batches(slack):
    rng = np.random.default_rng(1111)
    worst = mp.inf
    with mp.workdps(_mp.DPS):
        for B, d in ((3, 4), (4, 2), (3, 3)):
            z1, z2 = S.rational_unit_rows(rng, B, d), S.rational_unit_rows(rng, B, d)
            for grams in ((_mp.sample_gram(z1), _mp.sample_gram(z2)), (_mp.feature_gram(z1), _mp.feature_gram(z2))):
                m1, m2 = grams
                n = m1.rows
                l1, l2 = _criterion(m1), _criterion(m2)
                assert abs(_mp.entropy(m1, 2) - (mp.log(n) - mp.log(1 + l1 / n))) < mp.mpf(10) ** -50
                h = _mp.joint_entropy(m1, m2, 2) - (mp.log(n) - mp.log(1 + min(l1, l2) / n))
                i = _mp.mutual_information(m1, m2, 2) - (mp.log(n) - mp.log(1 + l1 / n) - mp.log(1 + l2 / n))
                for mu in (mp.mpf("0.1"), mp.mpf(1), mp.mpf(30)):
                    t = _mp.tcr(m1, mu) - (n * mp.log(1 + mu) - l1 / (2 * mu ** 2))
                    assert t > 0
                    worst = min(worst, t)
                assert h > 0 and i > 0
                worst = min(worst, h, i)
        # zero criterion: orthonormal samples (B <= d) / orthogonal features (B >= d) give M = I
        for B, d, loss in ((2, 3, "sc"), (3, 3, "sc"), (4, 2, "bt")):
            z = S.zero_loss_views(rng, B, d, loss)
            m = _mp.sample_gram(z) if loss == "sc" else _mp.feature_gram(z)
            assert _criterion(m) < mp.mpf(10) ** -100  # 0 up to the 60-digit square roots
            for alpha in (mp.mpf(1) / 2, 1, 2, mp.inf):
                assert abs(_mp.entropy(m, alpha) - mp.log(m.rows)) < mp.mpf(10) ** -50
    slack(_mp.clean(worst), "smallest margin of the alpha = 2 and TCR bounds (60 digits)")


@pytest.mark.check("randomized")
def test_search_reaches_zero_criterion_exactly_when_it_exists(slack, effort):
    """Minimise each criterion from random Gaussian batches (exact gradients; nothing about the
    minimiser built in): it reaches 0 where B <= d (sample) / B >= d (dimension); elsewhere its
    minimum is the proven n_max^2/n_min - n_max, to the float64 round-off of a sum of B^2 terms."""
    from proofs import _power as P

    for side, B, d in (("sample", 2, 3), ("sample", 3, 3), ("sample", 4, 2), ("dimension", 3, 2),
                       ("dimension", 2, 3), ("dimension", 3, 5)):
        v, z = P.minimise_criterion(side, B, d, 2 * effort, seed=B * 10 + d)
        big, small = (B, d) if side == "sample" else (d, B)
        floor = big * big / small - big if big > small else 0.0
        tol = 16 * big * big * np.finfo(float).eps * max(1.0, floor)
        assert floor - tol <= v <= floor + tol
        with mp.workdps(_mp.DPS):
            m = _mp.sample_gram(z) if side == "sample" else _mp.feature_gram(z)
            gap = _criterion(m) - (mp.mpf(big) ** 2 / small - big if big > small else 0)
        assert gap >= -mp.mpf(10) ** -45
        slack(_mp.clean(gap), f"{side} criterion found - its proven minimum, B={B}, d={d} (60 digits)")


test_worst_case_search = worst_case_test("Remark A.11 (sample TCR)", "Remark A.11 (dimension H_2)")
