r"""Remark after Theorem 5.2: "a proof similar to Theorem 4.17 gives a bound relating M-MAE and U-MAE".

**Statement (ours, two-sided; the paper only says that such a bound exists).** Let $F$ be a batch
of $B$ unit-norm samples (rows), $G = FF^\top$ ($B\times B$, unit diagonal, largest eigenvalue
$\nu_{\max} \in [1, B]$), $P = \sum_{i\ne j}G_{ij}^2$ the U-MAE penalty, and $c > 0$ the TCR scale
($c = 1/\mu$ for Definition 4.8 and the proof of Theorem 5.2, $c = \mu/d$ for the public code; see
the Convention for Theorem 5.2). Then

$$
\begin{aligned}
B\log(1+c) - \frac{c^2}{2}P &\le \log\det(I_B + cG)\\
&\le B\log(1+c) - \frac{c^2}{2(1+c\,\nu_{\max})^2}P \le B\log(1+c) - \frac{c^2}{2(1+cB)^2}P .
\end{aligned}
$$

Hence the M-MAE regulariser $R_M = -\lambda\log\det(I + cG)$ (equal to $-\lambda\,\mathrm{TCR}$ up to a
constant, and to $\lambda$ times `tcr_loss` for $c = \mu/d$) is sandwiched between two U-MAE
penalties, with $\gamma = \lambda c^2/2$:

$$
\frac{\gamma}{(1+c\,\nu_{\max})^2}\,P \le R_M + \lambda B\log(1+c) \le \gamma P .
$$

Both sides agree when $P = 0$ (orthonormal samples, $d \ge B$), and their ratio tends to 1 as
$c\,\nu_{\max} \to 0$; at the public code's ViT-B setting ($c = 1/768$) and the spread optimum
($\nu_{\max} = 4/3$) the ratio is $(1 + 1/576)^{-2} = 0.99653$; in the worst case
($\nu_{\max} = B = 1024$) it is $(7/3)^{-2} = 9/49$.

**Proof** (that of Theorem 4.17, around the mean eigenvalue). The eigenvalues $\nu_i \ge 0$ of $G$
sum to $B$ (mean 1). Expand $\log(1+x)$ at $a = c$ with the Lagrange remainder:
$\log(1+x) = \log(1+a) + \frac{x-a}{1+a} - \frac{(x-a)^2}{2(1+\xi)^2}$, with $\xi$ between $a$ and $x$.
Put $x = c\nu_i$ and sum: the linear terms cancel ($\sum_i(c\nu_i - c) = 0$) and
$\sum_i(c\nu_i - c)^2 = c^2(\|G\|_F^2 - B) = c^2P$. $\xi \ge 0$ gives the lower bound (this is
Lemma A.12); $\xi \le \max(c\nu_i, c) \le c\,\nu_{\max}$ (as $\nu_{\max} \ge 1$) gives the upper one,
and $\nu_{\max} \le \mathrm{tr}G = B$ the last. Without the Lagrange form: the scalar functions
$g_\pm$ below have derivative $(x-a)$ times a non-negative bracket, and vanish at $a$.
"""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs._mp import DPS, matrix, normalise_rows, psd_spectrum
from proofs._strategies import normalised_batch
from proofs._tcr import adversarial_min, settle, with_fixtures
from proofs._power import worst_case_test

STATEMENT = "Remark 5.2"
TITLE = "a two-sided bound between the M-MAE and U-MAE regularisers"
VERDICT = "holds"


def sides_mp(f, c):
    """(lower, log det(I + cG), upper(nu_max), upper(B)) at 60 digits for a row-normalised mp batch."""
    b = f.rows
    g = f * f.T
    nu = psd_spectrum(g)
    p = mp.fsum(g[i, j] ** 2 for i in range(b) for j in range(b) if i != j)
    ld = mp.fsum(mp.log1p(c * x) for x in nu)
    base = b * mp.log1p(c)
    return (base - c ** 2 * p / 2, ld, base - c ** 2 * p / (2 * (1 + c * nu[-1]) ** 2),
            base - c ** 2 * p / (2 * (1 + c * b) ** 2))


def sides_np(f, c):
    b = len(f)
    g = f @ f.T
    nu = np.clip(np.linalg.eigvalsh(g), 0, None)
    p = np.sum(g ** 2) - np.sum(np.diag(g) ** 2)
    base = b * np.log1p(c)
    return base - c ** 2 * p / 2, np.sum(np.log1p(c * nu)), base - c ** 2 * p / (2 * (1 + c * nu.max()) ** 2)


@pytest.mark.check("symbolic")
def test_scalar_inequalities_by_derivative():
    x, a, m = sp.symbols("x a M", nonnegative=True)
    g_lo = sp.log(1 + x) - sp.log(1 + a) - (x - a) / (1 + a) + (x - a) ** 2 / 2
    g_hi = sp.log(1 + a) + (x - a) / (1 + a) - (x - a) ** 2 / (2 * (1 + m) ** 2) - sp.log(1 + x)
    assert sp.simplify(sp.diff(g_lo, x) - (x - a) * (1 - 1 / ((1 + x) * (1 + a)))) == 0
    assert sp.simplify(sp.diff(g_hi, x) - (x - a) * (1 / ((1 + a) * (1 + x)) - 1 / (1 + m) ** 2)) == 0
    assert g_lo.subs(x, a) == 0 and sp.simplify(g_hi.subs(x, a)) == 0
    # summing over the spectrum: the linear terms cancel because sum nu = B, the quadratic ones give c^2 P
    c = sp.symbols("c", positive=True)
    nu = sp.symbols("n0:3", nonnegative=True)
    lin = sum((c * n - c) / (1 + c) for n in nu).subs(nu[2], 3 - nu[0] - nu[1])
    assert sp.simplify(lin) == 0
    quad = sp.expand(sum((c * n - c) ** 2 for n in nu) - c ** 2 * (sum(n ** 2 for n in nu) - 3))
    assert sp.simplify(quad.subs(nu[2], 3 - nu[0] - nu[1])) == 0


@pytest.mark.check("symbolic")
def test_equality_at_zero_penalty_and_published_ratio():
    c = sp.symbols("c", positive=True)
    f = sp.Matrix([[sp.Rational(3, 5), sp.Rational(4, 5), 0], [0, 0, 1]])  # B = 2 orthonormal samples
    g = f * f.T
    assert g == sp.eye(2)
    assert sp.factor((sp.eye(2) + c * g).det()) == (c + 1) ** 2  # log det = B log(1+c): all three sides equal
    assert (1 + sp.Rational(1, 768) * sp.Rational(4, 3)) ** -2 == sp.Rational(331776, 332929)
    assert abs(sp.N(sp.Rational(331776, 332929), 10) - sp.Float("0.99653680")) < sp.Float("1e-8")
    assert (1 + sp.Rational(1, 768) * 1024) ** -2 == sp.Rational(9, 49)


@pytest.mark.check("high-precision")
def test_sandwich_60_digits(slack):
    rng = np.random.default_rng(5202)
    with mp.workdps(DPS):
        for b, d in [(2, 3), (4, 2), (5, 5), (8, 3)]:
            f = normalise_rows(matrix(rng.standard_normal((b, d))))
            for c in (mp.mpf(1) / 768, mp.mpf(3) / 1024, mp.mpf(1) / 3, mp.mpf(1), mp.mpf(10)):
                lo, ld, hi, hi_b = sides_mp(f, c)
                slack(ld - lo, "log det - lower")
                slack(hi - ld, "upper(nu_max) - log det")
                assert ld - lo > mp.mpf(10) ** -40 and hi - ld > mp.mpf(10) ** -40 and hi_b >= hi


@pytest.mark.check("randomized")
@with_fixtures
@given(f=normalised_batch(max_B=8, max_d=8), c=st.sampled_from([1 / 768, 3 / 1024, 1 / 3, 1.0, 4.0, 100.0]))
def test_sandwich_randomized(f, c, slack):
    lo, ld, hi = sides_np(f, c)
    tol = 1e-12 * (1 + abs(ld))
    if ld - lo < tol or hi - ld < tol:  # P = 0 (or nearly): judge at 60 digits
        with mp.workdps(DPS):
            lo_, ld_, hi_, _ = sides_mp(normalise_rows(matrix(f)), mp.mpf(c))
            lo_gap, hi_gap = settle(ld_ - lo_), settle(hi_ - ld_)
        slack(lo_gap, "log det - lower (60 digits)")
        slack(hi_gap, "upper - log det (60 digits)")
        assert lo_gap >= 0 and hi_gap >= 0
    else:
        slack(ld - lo, "log det - lower (float64)")
        slack(hi - ld, "upper - log det (float64)")
        assert lo < ld < hi


@pytest.mark.check("randomized")
def test_adversarial_upper_side(slack, effort):
    """The upper side is the new one: search for batches that push log det above it."""
    rng = np.random.default_rng(52020)
    b, d, c = 4, 2, 1.0

    def gap(x):
        f = x.reshape(b, d)
        f = f / np.linalg.norm(f, axis=1, keepdims=True)
        lo, ld, hi = sides_np(f, c)
        return hi - ld

    val, x = adversarial_min(gap, [rng.standard_normal(b * d) for _ in range(2 * effort)], maxiter=100)
    with mp.workdps(DPS):
        _, ld, hi, _ = sides_mp(normalise_rows(matrix(x.reshape(b, d))), mp.mpf(c))
    gap = settle(hi - ld)
    slack(gap, "smallest upper - log det found by local search (60 digits)")
    assert gap >= 0


@pytest.mark.check("high-precision")
def test_mmae_regularisers_obey_the_sandwich():
    from mmae import losses
    import torch
    rng = np.random.default_rng(520200)
    lam = 0.01
    for b, d, mu in [(6, 4, 1.0), (8, 8, 3.0), (5, 12, 1.0)]:
        z = torch.tensor(rng.standard_normal((b, d)))
        c = mu / d
        r_m = lam * float(losses.tcr_loss(z, mu))  # = -lambda log det(I + (mu/d) F^T F)
        p = float(losses.umae_penalty(z))
        f = z.numpy() / np.linalg.norm(z.numpy(), axis=1, keepdims=True)
        nu_max = np.linalg.eigvalsh(f @ f.T).max()
        gamma = lam * c ** 2 / 2
        mid = r_m + lam * b * np.log1p(c)
        assert gamma * p / (1 + c * nu_max) ** 2 - 1e-13 <= mid <= gamma * p + 1e-13


test_worst_case_search = worst_case_test("Remark 5.2 (lower)", "Remark 5.2 (upper)")
