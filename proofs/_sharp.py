r"""The sharp forms of the six loss bounds (Theorems 4.3, 4.13, 4.17 and the remark after it): the
steps of their proof at 60 digits, the printed and sharp allowances in sympy, and the families of
views along which the shares reach their suprema.

Notation of ``proofs._power``: a loss is $L = A + \lambda S$ ($A$ its alignment part, $S$ the
squared off-diagonal of the cross matrix); $n$ is $B$ (spectral contrastive, Eq. (2), samples) or
$d$ (Barlow Twins, Eq. (3), features); $\mathbf x_j$, $\mathbf y_j$ are the unit samples or features
of the two views, $S_k$ the squared off-diagonal of the Gram matrix $\mathbf K_k$.

**Summed Lemma 4.2.** $\sqrt{S_1} \le \sqrt S + \sqrt{(n-1)\sum_j\|\mathbf x_j - \mathbf y_j\|^2}$.
*Proof.* Let $M_{ij} = \mathbf x_i^\top\mathbf x_j$ and $N_{ij} = \mathbf x_i^\top\mathbf y_j$ for $i \ne j$
(zero diagonals). The Frobenius norm's triangle inequality gives $\|M\| \le \|N\| + \|M - N\|$, and
column $j$ of $M - N$ has squared norm
$\sum_{i\ne j}(\mathbf x_i^\top\boldsymbol\delta_j)^2 = \boldsymbol\delta_j^\top\mathbf G_j\boldsymbol\delta_j
\le \|\mathbf G_j\|\,\|\boldsymbol\delta_j\|^2 \le (n-1)\|\boldsymbol\delta_j\|^2$, with
$\boldsymbol\delta_j = \mathbf x_j - \mathbf y_j$ and $\mathbf G_j = \sum_{i\ne j}\mathbf x_i\mathbf x_i^\top$, whose
largest eigenvalue is at most its trace $n - 1$. Lemma 4.2 bounds each entry
($|M_{ij}| \le |N_{ij}| + \|\boldsymbol\delta_j\|$) and squares the sum with $(u+v)^2 \le 2u^2 + 2v^2$, losing a
factor 2 where one of the two terms dominates; the norms above lose nothing there.

**Cauchy-Schwarz in the plane.** For $\lambda > 0$, $m \ge 0$:
$(\sqrt S + \sqrt{mA})^2 \le (1/\lambda + m)(\lambda S + A)$, the difference being
$(\sqrt{A/\lambda} - \sqrt{m\lambda S})^2$.
"""
from __future__ import annotations

from functools import cache

import mpmath as mp
import numpy as np
import sympy as sp

from proofs import _mp
from proofs import _power as P
from proofs._tcr import mp_offdiag2

SHARP = {"Theorem 4.3 (1)": "Theorem 4.3 (1, sharp)", "Theorem 4.3 (2)": "Theorem 4.3 (2, sharp)",
         "Theorem 4.13 (1)": "Theorem 4.13 (1, sharp)", "Theorem 4.13 (2)": "Theorem 4.13 (2, sharp)",
         "Theorem 4.17": "Theorem 4.17 (sharp)", "Remark 4.17": "Remark 4.17 (sharp)"}
ROWS = {r[0]: r for r in P._LOSS_BOUNDS}  # key -> (key, need, loss, allowance, text, sup)


def _units(loss, z1, z2, unit_rows):
    """The unit vectors x_j, y_j (rows of the returned mp matrices): samples (sc) or features (bt)."""
    if loss == "sc":
        return _mp.normalise_rows(_mp.matrix(z1)), _mp.normalise_rows(_mp.matrix(z2))
    if unit_rows:
        z1, z2 = _mp.normalise_rows(_mp.matrix(z1)), _mp.normalise_rows(_mp.matrix(z2))
    return _mp.normalise_rows(_mp.matrix(z1).T), _mp.normalise_rows(_mp.matrix(z2).T)


def chain(key, z1, z2, lam, t=0):
    """The proof of the sharp form of ``key`` (a printed bound) at 60 digits, step by step:
    a list of (step, left, right), each claiming left <= right, at loss weight ``lam`` and t = 1/mu."""
    _, kind, loss, printed, _, _ = ROWS[key]
    sharp = ROWS[SHARP[key]][3]
    unit_rows = not key.startswith("Theorem 4.17")
    lam, t = _mp.to_mpf(lam), _mp.to_mpf(t)
    x, y = _units(loss, z1, z2, unit_rows)
    n = x.rows
    A, S, _, k1, k2 = P._mp_loss_parts(loss, z1, z2, unit_rows)
    L = A + lam * S
    moved = mp.fsum((x[j, i] - y[j, i]) ** 2 for j in range(n) for i in range(x.cols))  # sum_j |x_j - y_j|^2
    s1, s2 = mp_offdiag2(k1), mp_offdiag2(k2)
    steps = [("summed Lemma 4.2, view 1", mp.sqrt(s1), mp.sqrt(S) + mp.sqrt((n - 1) * moved)),
             ("summed Lemma 4.2, view 2", mp.sqrt(s2), mp.sqrt(S) + mp.sqrt((n - 1) * moved))]
    if loss == "sc":  # moved = A
        steps.append(("Cauchy-Schwarz in the plane", (mp.sqrt(S) + mp.sqrt((n - 1) * A)) ** 2, (1 / lam + n - 1) * L))
        bound = (1 / lam + n - 1) * L
    else:  # moved = 2 sum_j (1 - C_jj) <= 2 sqrt(d A) <= 2 sqrt(d L), and S <= L / lam
        steps.append(("sum_j |x_j - y_j|^2 <= 2 sqrt(d L)", moved, 2 * mp.sqrt(n * L)))
        steps.append(("S <= L / lam", S, L / lam))
        bound = (mp.sqrt(L / lam) + mp.sqrt(2 * (n - 1) * mp.sqrt(n * L))) ** 2
    steps.append(("S_k <= the bound", max(s1, s2), bound))
    need = P._mp_need(kind, n, k1, k2, t)
    had = mp_offdiag2(_mp.hadamard(k1, k2))
    if kind == "TCR":  # Lemma A.12 summed, then |K2(i,j)| <= 1
        steps += [("Lemma A.12 (times mu^2)", need, had / 2), ("|K2(i,j)| <= 1", had, s1)]
    elif kind == "H2":
        steps += [("H_2 need is the Hadamard off-diagonal", need, had / n), ("|K2(i,j)| <= 1", had, s1)]
    else:
        steps.append(("Proposition 4.1 and |(K1 o K2)_ii| = 1", need, max(s1, s2) / n))
    if kind == "H2":  # the need is the Hadamard product's off-diagonal over n, exactly
        assert abs(need - had / n) <= mp.mpf(10) ** -50 * (1 + had)
        steps = [s for s in steps if s[0] != "H_2 need is the Hadamard off-diagonal"]
    sharp_allow = sharp(n, L, L / lam, mp)  # the bound / n (/ 2 for the coding rates)
    assert abs(sharp_allow - bound / (2 if kind == "TCR" else n)) <= mp.mpf(10) ** -50 * (1 + bound)
    steps.append(("need <= the sharp allowance", need, sharp_allow))
    factor = 2 if loss == "sc" and kind != "TCR" else 1  # (2 + 2/(n lam)) / ((n - 1 + 1/lam)/n) >= 2
    steps.append((f"{factor} x the sharp allowance is at most the printed one", factor * sharp_allow,
                  printed(n, L, L / lam, mp)))
    return steps


# ------------------------------------------------------------------------- sympy: allowances and limits

lam, L, n, eps = sp.symbols("lambda L n epsilon", positive=True)


def allowances(key):
    """(printed, sharp) allowances of ``key`` in sympy (times mu^2 for the coding rates)."""
    loss, kind = ROWS[key][2], ROWS[key][1]
    if loss == "sc":
        printed = sp.Max(1 / lam, n - 1) * L if kind == "TCR" else (2 + 2 / (n * lam)) * L
        sharp = (1 / lam + n - 1) * L / (2 if kind == "TCR" else n)
        return printed, sharp
    a2, b2 = L / lam, 2 * (n - 1) * sp.sqrt(n * L)
    if kind == "TCR":
        return (2 * a2 + 2 * b2) / 2, (sp.sqrt(a2) + sp.sqrt(b2)) ** 2 / 2
    return 2 * a2 / n + 4 * sp.sqrt(n * L), (sp.sqrt(a2) + sp.sqrt(b2)) ** 2 / n


def family_share(key, sharp=False):
    """The share of ``key`` (or its sharp form) on equal views whose Gram matrix is
    (1 - eps) I + eps 11^T (n x n), as an expression in n, eps and lambda (the coding rates at
    mu -> inf): A = 0 and S = n (n - 1) eps^2, so L = lambda S; eps = 1 is the collapsed views."""
    kind = ROWS[key][1]
    S = n * (n - 1) * eps ** 2
    if kind == "I2":  # exp((log n - I_2)/2) - 1 = ||K||_F^2 / sqrt(n ||K o K||_F^2) - 1
        need = (1 + (n - 1) * eps ** 2) / sp.sqrt(1 + (n - 1) * eps ** 4) - 1
    elif kind == "H2":
        need = (n - 1) * eps ** 4
    else:  # mu^2 (n log(1 + 1/mu) - log det(I + K o K / mu)) as mu = 1/t -> inf (the series in t to t^2),
        # K o K with eigenvalues 1 - eps^2 (n - 1 times) and 1 + (n - 1) eps^2
        t = sp.symbols("t", positive=True)
        gap = n * sp.log(1 + t) - (n - 1) * sp.log(1 + (1 - eps ** 2) * t) - sp.log(1 + (1 + (n - 1) * eps ** 2) * t)
        need = sp.expand(sp.series(gap, t, 0, 3).removeO() / t ** 2)
    allow = sp.expand(allowances(key)[1 if sharp else 0].subs(L, lam * S))
    return need / allow


@cache
def family_limit(key, sharp=False):
    """The share's limit as lambda -> 0 (and mu -> inf), as an expression in n and eps."""
    s = family_share(key, sharp).subs(sp.Max(1 / lam, n - 1), 1 / lam)  # max(1/lam, n - 1) = 1/lam once lam <= 1/(n-1)
    return sp.simplify(s.subs(lam, 0))  # L / lam = S cancelled already: continuous at lam = 0


def family_views(key, n_, a, b):
    """Views of the family in the layout of ``proofs._power`` (equal views, A = 0), exact in float64,
    and the exact eps the normalisations give: (p, x, eps).  Spectral contrastive: the n samples
    e_i + (a/b) e_(n+1) (a/b dyadic), eps = r^2 / (1 + r^2), r = a/b.  Barlow Twins: a copies of
    I_n and b rows of ones (B = a n + b samples, n features), eps = b / (a + b), or b / (a n + b)
    where the samples are normalised first (the rows of ones become 1/sqrt(n))."""
    kind, loss = ROWS[key][1], ROWS[key][2]
    if loss == "sc":
        r = sp.Rational(a, b)
        z = np.concatenate([np.eye(n_), np.full((n_, 1), a / b)], axis=1)
        e = r ** 2 / (1 + r ** 2)
    else:
        z = np.concatenate([np.eye(n_)] * a + [np.ones((b, n_))])
        e = sp.Rational(b, a + b) if key.startswith("Theorem 4.17") else sp.Rational(b, a * n_ + b)
    t = [0.0] if kind == "TCR" else []
    return {"B": z.shape[0], "d": z.shape[1], "start": "family"}, np.concatenate([z.ravel(), z.ravel(), t]), e


# ------------------------------------------------------------------------- the checks each statement's file runs

def check_symbolic(key):
    """sympy: Cauchy-Schwarz in the plane as an identity; the printed allowance minus the sharp one
    (twice the sharp one for the spectral contrastive I_2 and H_2 bounds) as a sum of nonnegative terms;
    the family's share as lambda -> 0 (mu -> inf): printed 1/2 and sharp 1 at its extreme eps."""
    A, S, m = sp.symbols("A S m", nonnegative=True)
    cs = (1 / lam + m) * (lam * S + A) - (sp.sqrt(S) + sp.sqrt(m * A)) ** 2
    assert sp.expand(cs - (sp.sqrt(A / lam) - sp.sqrt(m * lam * S)) ** 2) == 0
    printed, sharp = allowances(key)
    loss, kind = ROWS[key][2], ROWS[key][1]
    a2, b2 = L / lam, 2 * (n - 1) * sp.sqrt(n * L)
    if loss == "sc" and kind != "TCR":
        assert sp.simplify(printed - 2 * sharp - 2 * L / n) == 0
    elif loss == "sc":  # max(x, y) - (x + y)/2 = |x - y| / 2
        x, u = sp.symbols("x u", nonnegative=True)  # max(x, x + u) - (2x + u)/2 = u/2 (either order)
        assert sp.simplify(sp.Max(x, x + u) - (2 * x + u) / 2 - u / 2) == 0
        assert sp.simplify(printed - sp.Max(1 / lam, n - 1) * L) == 0
        assert sp.simplify(sharp - (1 / lam + n - 1) * L / 2) == 0
    elif kind == "TCR":
        assert sp.simplify(printed - sharp - (sp.sqrt(a2) - sp.sqrt(b2)) ** 2 / 2) == 0
    else:
        assert sp.simplify(printed - sharp - ((sp.sqrt(a2) - sp.sqrt(b2)) ** 2 + 4 * sp.sqrt(n * L)) / n) == 0
    for is_sharp, sup in ((False, sp.Rational(1, 2)), (True, 1)):
        lim = family_limit(key, is_sharp)
        edge = sp.limit(lim, eps, 0) if kind == "I2" else lim.subs(eps, 1)  # near the identity / collapsed
        assert sp.simplify(edge - sup) == 0, (key, is_sharp, lim)


FAMILY = {"sc": ((3, 1, 2), (2, 1, 4)), "bt": ((2, 2, 1), (3, 1, 2))}  # (n, a, b) of ``family_views``


def check_60_digits(key, slack, rng, effort=1):
    """60 digits: the share that ``proofs._power`` computes (its lambda profile and mu -> inf limit
    included) equals the sympy closed form on the family; every step of the sharp form's proof holds on
    rational batches of every shape (slack: the smallest right - left)."""
    from proofs._strategies import least_on_rational_views

    loss = ROWS[key][2]
    with mp.workdps(_mp.DPS):
        for n_, a, b in FAMILY[loss]:
            for k in (key, SHARP[key]):
                p, x, e = family_views(key, n_, a, b)
                got = P.share_mp(P.BOUNDS[k], p, x)[0]
                want = family_limit(key, k != key).subs({eps: e, n: n_})
                assert abs(got - mp.mpf(sp.N(want, 70))) < mp.mpf(10) ** -50, (k, n_, a, b, got, want)
        steps = lambda z1, z2, p: (right - left for _, left, right in chain(key, z1, z2, *p))
        worst = least_on_rational_views(steps, rng, ((2, 3), (4, 2), (3, 3), (5, 3))[:2 + 2 * (effort > 1)],
                                        (("1/1000", 0), ("1", "1/2"), ("100", 3)), (1.0, 0.05))
        assert worst >= -mp.mpf(10) ** -50, (key, worst)  # 60-digit round-off of the steps that are equalities
    slack(_mp.clean(worst), f"{key}, sharp form: smallest step margin of its proof (60 digits)")


def tests(*keys):
    """The two checks of the sharp forms of ``keys`` for a statement's file:
    ``test_sharp_constants_symbolic, test_sharp_constants_60_digits = _sharp.tests(...)``."""
    import pytest

    @pytest.mark.check("symbolic")
    def test_sharp_constants_symbolic():
        for key in keys:
            check_symbolic(key)

    @pytest.mark.check("high-precision")
    def test_sharp_constants_60_digits(slack, effort):
        for key in keys:
            check_60_digits(key, slack, np.random.default_rng(29), effort)
    return test_sharp_constants_symbolic, test_sharp_constants_60_digits
