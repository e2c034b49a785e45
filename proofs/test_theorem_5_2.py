r"""Theorem 5.2: U-MAE is a second-order approximation of M-MAE -- the Taylor step made exact.

**Statement (made exact).** Let $\mathbf Z \in \mathbb{R}^{d\times B}$ have unit columns $\mathbf z_i$ (Sec. 3.2),
$\mathbf G = \mathbf Z^\top \mathbf Z$ ($B\times B$, unit diagonal, eigenvalues $\nu_i \ge 0$), $\mu > 0$, and
$P(\mathbf Z) = \sum_{i\ne j}(\mathbf z_i^\top \mathbf z_j)^2$ (the U-MAE penalty). Then, exactly,

$$
\begin{aligned}
-\lambda\,\mathrm{TCR}_\mu(\mathbf Z) &= \underbrace{-\lambda d\log\mu - \tfrac{\lambda B}{\mu} + \tfrac{\lambda B}{2\mu^2}}_{\text{constant}}
+ \frac{\lambda}{2\mu^2}P(\mathbf Z) - \lambda R,\\
R &= \sum_i\Big[\log\big(1+\tfrac{\nu_i}{\mu}\big) - \tfrac{\nu_i}{\mu} + \tfrac{\nu_i^2}{2\mu^2}\Big],
\qquad 0 \le R \le \frac{\mathrm{tr}(\mathbf G^3)}{3\mu^3},
\end{aligned}
$$

so $\mathcal L_{\text{M-MAE}} = \mathcal L_{\text{U-MAE}}\big|_{\gamma = \lambda/(2\mu^2)} + \text{const} - \lambda R$,
and $\mu^3 R \to \mathrm{tr}(\mathbf G^3)/3$ as $\mu\to\infty$: U-MAE is the second-order Taylor polynomial of
M-MAE in $1/\mu$, with coefficient $\gamma = \lambda/(2\mu^2)$ (the paper does not say which
$\gamma$).

**Proof.** (1) $\log\det(\mu \mathbf I_d + \mathbf Z\mathbf Z^\top) = d\log\mu + \log\det(\mathbf I_d + \mathbf Z\mathbf Z^\top/\mu)$, the "+ Const"
of the printed first line. (2) Sylvester's identity: $\det(\mathbf I_d + \mathbf Z\mathbf Z^\top/\mu) = \det(\mathbf I_B + \mathbf Z^\top \mathbf Z/\mu)$.
(3) $\log\det = \mathrm{tr}\log = \sum_i\log(1+\nu_i/\mu)$. (4) Taylor's theorem with remainder,
valid for *every* $x \ge 0$: $0 \le \log(1+x) - x + x^2/2 \le x^3/3$ (the derivatives of the two
differences are $x^2/(1+x)$ and $x^3/(1+x)$, both $\ge 0$, and both differences vanish at 0).
(5) Unit columns: $\mathrm{tr}\mathbf G = B$ and $\mathrm{tr}\mathbf G^2 = \|\mathbf G\|_F^2 = B + P(\mathbf Z)$.

**Gap in the printed proof.** It writes the infinite series
$\mathrm{tr}(\tfrac1\mu \mathbf G - \tfrac1{2\mu^2}\mathbf G^2 + \cdots)$, which converges only if
$\lambda_{\max}(\mathbf G) \le \mu$ (for $x > 1$ the terms $x^k/k$ do not even tend to 0). Since
$\mathrm{tr}\mathbf G = B$ and $\mathrm{rank}\,\mathbf G \le \min(B,d)$, $\lambda_{\max}(\mathbf G) \ge B/\min(B,d)$: at the
published ViT-B setting ($B = 1024 > d = 768$, $\mu = 1$) the series diverges for *every* batch.
The statement survives in the finite form above (Taylor's theorem needs no convergence); how good
the approximation is at the published settings is quantified by the Convention for Theorem 5.2
(`test_convention_5_2.py`).
"""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs._mp import DPS, matrix, normalise_rows, psd_spectrum
from proofs._strategies import normalised_batch
from proofs._tcr import with_fixtures
from proofs._power import worst_case_test

STATEMENT = "Theorem 5.2"
TITLE = "U-MAE is the second-order approximation of M-MAE"
VERDICT = "holds under a condition"
CONDITION = (r"as a Taylor expansion in $1/\mu$ with remainder $0 \le R \le \mathrm{tr}((Z^\top Z)^3)/(3\mu^3)$ "
             r"and U-MAE weight $\gamma = \lambda/(2\mu^2)$; the printed infinite series converges only when "
             r"$\lambda_{\max}(Z^\top Z) \le \mu$, which fails for every batch when $B > d$ and $\mu = 1$ "
             r"($\lambda_{\max} \ge B/d$)")


def _parts(f, mu):
    """(TCR_mu(Z Z^T), constant, P, R, tr G^3) at 60 digits for a row-normalised mp batch f (B x d)."""
    b, d = f.rows, f.cols
    g = f * f.T
    nu = psd_spectrum(g)
    tcr = d * mp.log(mu) + mp.fsum(mp.log(1 + x / mu) for x in nu)
    p = mp.fsum(g[i, j] ** 2 for i in range(b) for j in range(b) if i != j)
    r = mp.fsum(mp.log1p(x / mu) - x / mu + x ** 2 / (2 * mu ** 2) for x in nu)
    const = d * mp.log(mu) + b / mu - b / (2 * mu ** 2)
    return tcr, const, p, r, mp.fsum(x ** 3 for x in nu)


@pytest.mark.check("symbolic")
def test_sylvester_and_constant():
    mu = sp.symbols("mu", positive=True)
    z = sp.Matrix(2, 3, sp.symbols("z0:6", real=True))  # d = 2, B = 3
    assert sp.expand((sp.eye(2) + z * z.T / mu).det() - (sp.eye(3) + z.T * z / mu).det()) == 0
    assert sp.simplify((mu * sp.eye(2) + z * z.T).det() - mu ** 2 * (sp.eye(2) + z * z.T / mu).det()) == 0


@pytest.mark.check("symbolic")
def test_taylor_coefficients_of_log_det():
    c = sp.symbols("c")
    g = sp.Matrix(3, 3, lambda i, j: sp.Symbol(f"g{min(i, j)}{max(i, j)}") if i != j else 1)
    series = sp.series(sp.log((sp.eye(3) + c * g).det()), c, 0, 4).removeO()
    target = c * g.trace() - c ** 2 / 2 * (g * g).trace() + c ** 3 / 3 * (g ** 3).trace()
    assert sp.expand(series - target) == 0
    # unit diagonal: tr G = B and tr G^2 = B + sum_{i != j} G_ij^2 -- the U-MAE penalty
    assert g.trace() == 3
    off = sum(g[i, j] ** 2 for i in range(3) for j in range(3) if i != j)
    assert sp.expand((g * g).trace() - (3 + off)) == 0


@pytest.mark.check("symbolic")
def test_remainder_bounds_and_divergence():
    x = sp.symbols("x", nonnegative=True)
    r2 = sp.log(1 + x) - x + x ** 2 / 2
    assert sp.simplify(sp.diff(r2, x) - x ** 2 / (1 + x)) == 0 and r2.subs(x, 0) == 0
    assert sp.simplify(sp.diff(x ** 3 / 3 - r2, x) - x ** 3 / (1 + x)) == 0
    k = sp.symbols("k", positive=True, integer=True)
    assert sp.limit(sp.Rational(4, 3) ** k / k, k, sp.oo) == sp.oo  # ViT-B, mu = 1: nu >= 4/3, terms blow up
    assert sp.limit(sp.Rational(1, 3) ** k / k, k, sp.oo) == 0


@pytest.mark.check("high-precision")
def test_exact_decomposition_and_third_order_remainder(slack):
    rng = np.random.default_rng(52)
    with mp.workdps(DPS):
        for b, d in [(3, 2), (4, 4), (6, 3), (2, 5)]:
            f = normalise_rows(matrix(rng.standard_normal((b, d))))
            for mu in (mp.mpf("0.5"), mp.mpf(1), mp.mpf(3), mp.mpf(768)):
                tcr, const, p, r, tr3 = _parts(f, mu)
                assert abs(tcr - (const - p / (2 * mu ** 2) + r)) < mp.mpf(10) ** -45
                slack(r, "R >= 0")
                slack(tr3 / (3 * mu ** 3) - r, "tr G^3 / (3 mu^3) - R")
                assert r > 0 and tr3 / (3 * mu ** 3) - r > 0
            # second order in 1/mu: R mu^3 -> tr(G^3) / 3
            big = mp.mpf(10) ** 12
            _, _, _, r, tr3 = _parts(f, big)
            assert abs(r * big ** 3 - tr3 / 3) < mp.mpf(10) ** -9 * tr3


@pytest.mark.check("high-precision")
def test_series_converges_iff_spectral_radius_at_most_mu():
    with mp.workdps(DPS):
        def partial(xv, n):
            return mp.fsum((-1) ** (k + 1) * xv ** k / k for k in range(1, n + 1))
        for xv in (mp.mpf("0.3"), mp.mpf("0.9")):
            assert abs(partial(xv, 2000) - mp.log1p(xv)) < mp.mpf(10) ** -40
        assert abs(partial(mp.mpf(1), 4001) - mp.log(2)) < mp.mpf(10) ** -3  # conditionally, at the boundary
        big = mp.mpf(4) / 3  # the smallest possible largest eigenvalue at B = 1024, d = 768, mu = 1
        assert abs(partial(big, 400) - mp.log1p(big)) > mp.mpf(10) ** 40


@pytest.mark.check("randomized")
@with_fixtures
@given(f=normalised_batch(max_B=8, max_d=8), mu=st.sampled_from([0.1, 0.5, 1.0, 3.0, 100.0]))
def test_remainder_bounds_randomized(f, mu, slack):
    g = f @ f.T
    nu = np.clip(np.linalg.eigvalsh(g), 0, None) / mu
    r = np.sum(np.log1p(nu) - nu + nu ** 2 / 2)
    upper = np.sum(nu ** 3) / 3
    slack(upper - r, "tr G^3/(3 mu^3) - R (float64)")
    tol = 1e-12 * (1 + np.sum(nu ** 2))
    assert -tol <= r <= upper + tol


@pytest.mark.check("high-precision")
def test_mmae_tcr_and_umae_penalty_satisfy_the_decomposition():
    from mmae import info
    from mmae import losses
    import torch
    rng = np.random.default_rng(5200)
    z = rng.standard_normal((6, 4))
    f = z / np.linalg.norm(z, axis=1, keepdims=True)
    with mp.workdps(DPS):
        for mu in (1.0, 3.0):
            tcr, const, p, r, _ = _parts(normalise_rows(matrix(z)), mp.mpf(mu))
            got_tcr = float(info.total_coding_rate(torch.tensor(f.T @ f), mu))
            got_p = float(losses.umae_penalty(torch.tensor(z)))
            assert abs(got_p - float(p)) <= 1e-12
            assert abs(got_tcr - float(const - mp.mpf(got_p) / (2 * mu ** 2) + r)) <= 1e-11


test_worst_case_search = worst_case_test("Theorem 5.2 (remainder)", "Theorem 5.2 (lambda_max)")


@pytest.mark.check("high-precision")
def test_series_on_actual_batches(slack):
    """The printed series tr(G/mu - G^2/(2 mu^2) + ...) = sum_k (-1)^(k+1) tr(G^k)/(k mu^k) on actual
    batches (Gaussian samples, rows normalised, converted exactly).  With B = 6 > d = 4 and mu = 1,
    lambda_max(G) >= B/min(B, d) = 3/2 > mu: the k-th term is at least (lambda_max/mu)^k / k in size
    and the partial sums run off; with mu = 2 lambda_max the partial sums after K terms are within
    B 2^-(K+1) of log det(I + G/mu) (alternating terms of decreasing size, per eigenvalue)."""
    rng = np.random.default_rng(52)
    with mp.workdps(DPS):
        for b, d in ((6, 4), (9, 3), (4, 2)):
            f = normalise_rows(matrix(rng.standard_normal((b, d))))
            nu = psd_spectrum(f * f.T)
            assert nu[-1] >= mp.mpf(b) / min(b, d) - mp.mpf(10) ** -50
            logdet = lambda mu, nu=nu: mp.fsum(mp.log1p(v / mu) for v in nu)
            terms = lambda mu, n, nu=nu: [(-1) ** (k + 1) * mp.fsum(v ** k for v in nu) / (k * mu ** k)
                                          for k in range(1, n + 1)]
            t = terms(mp.mpf(1), 120)
            assert all(abs(t[k]) >= nu[-1] ** (k + 1) / (k + 1) for k in range(120))
            assert abs(mp.fsum(t) - logdet(mp.mpf(1))) > mp.mpf(10) ** 15  # 1.5^120 / 120 ~ 1e19
            mu = 2 * nu[-1]
            err = abs(mp.fsum(terms(mu, 60)) - logdet(mu))
            assert err <= b * mp.mpf(2) ** -61
            slack(b * mp.mpf(2) ** -61 - err, "convergent case: B 2^-61 - |partial sum - log det|")
    # float64 at a larger batch, B > d: lambda_max >= B / d > 1 = mu, so the series diverges there
    z = rng.standard_normal((96, 64))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    top = np.linalg.eigvalsh(z @ z.T)[-1]
    assert top >= 96 / 64 * (1 - 96 * np.finfo(float).eps)
    slack(top - 96 / 64, "lambda_max - B/d on a 96 x 64 batch (float64)")
