r"""Definition C.2: the matrix Jensen-Shannon divergence, its symmetry and its true bounds.

**Statement.** For positive semi-definite $\mathbf K_1, \mathbf K_2 \in \mathbb{R}^{n\times n}$ with unit diagonals,

$$
\mathrm{JS}(\mathbf K_1\|\mathbf K_2) = \mathrm{H}_1\big(\tfrac{\mathbf K_1+\mathbf K_2}{2}\big) - \tfrac12\big(\mathrm{H}_1(\mathbf K_1) + \mathrm{H}_1(\mathbf K_2)\big).
$$

Sec. C.3 offers it as the symmetric, bounded alternative to the matrix KL divergence.

**Claims checked, with proofs.** Write $\rho_k = \mathbf K_k/n$ (density matrices: positive semi-definite,
trace 1) and $\bar\rho = (\rho_1+\rho_2)/2$; then $\mathrm{H}_1(\mathbf K_k) = S(\rho_k)$, the von Neumann
entropy.

1. *Symmetry*: the formula is symmetric in $\mathbf K_1, \mathbf K_2$.
2. *KL form*: $\mathrm{JS} = \tfrac12[D(\rho_1\|\bar\rho) + D(\rho_2\|\bar\rho)]
   = \tfrac1{2n}[\mathrm{KL}(\mathbf K_1\|\mathbf M) + \mathrm{KL}(\mathbf K_2\|\mathbf M)]$ with $\mathbf M = (\mathbf K_1+\mathbf K_2)/2$ and KL as in
   Definition 4.9 (expand $D(\rho_k\|\bar\rho) = -S(\rho_k) - \mathrm{tr}\rho_k\log\bar\rho$ and add).
   Both terms are finite: the range of each $\rho_k$ lies in that of $\bar\rho$.
3. *Lower bound* $\mathrm{JS} \ge 0$, with equality if and only if $\mathbf K_1 = \mathbf K_2$ (strict concavity of
   $S$, or Klein's inequality on the KL form); sharpened by the quantum Pinsker inequality
   $D(\rho\|\sigma) \ge \tfrac12\|\rho-\sigma\|_1^2$ and $\|\rho_k - \bar\rho\|_1 = \tfrac12\|\rho_1-\rho_2\|_1$
   to $\mathrm{JS} \ge \tfrac18\|\rho_1-\rho_2\|_1^2$.
4. *Upper bound* $\mathrm{JS} \le \log 2$ for every $n$ (Holevo's bound
   $S(\sum_k p_k\rho_k) - \sum_k p_k S(\rho_k) \le H(p)$ with $p = (\tfrac12,\tfrac12)$), and
   trivially $\mathrm{JS} \le \mathrm{H}_1(\mathbf M) \le \log n$, so $\mathrm{JS} = 0$ when $n = 1$.
   The bound $\log 2$ is *attained* for every $n \ge 2$, despite the unit-diagonal constraint,
   exactly when the ranges of $\mathbf K_1$ and $\mathbf K_2$ are orthogonal. For $n = 2$:
   $\mathbf K_1 = \begin{pmatrix}1 & 1\\ 1 & 1\end{pmatrix}$, $\mathbf K_2 = \begin{pmatrix}1 & -1\\ -1 & 1\end{pmatrix}$,
   $\mathbf M = \mathbf I_2$. For $n = 3$: $\mathbf K_1 = \mathbf{1}\mathbf{1}^\top$ and
   $\mathbf K_2 = \tfrac32 (\mathbf I - \tfrac13\mathbf{1}\mathbf{1}^\top)$ (unit diagonal, $\mathbf K_2\mathbf 1 = 0$); the
   eigenvalues of $\mathbf M/3$ are $\tfrac12, \tfrac14, \tfrac14$, so
   $\mathrm{JS} = \tfrac32\log2 - \tfrac12\log 2 = \log 2$.
   So the true range is $[0, \log 2]$ ($n \ge 2$), both ends attained.

A normalisation slip next to the definition (Sec. C.3): the generator
$f(x) = -(x+1)\log\tfrac{x+1}{2} + x\log x$ of Definition C.1 gives
$D_f = \mathrm{KL}(P\|\bar P) + \mathrm{KL}(Q\|\bar P) = 2\,\mathrm{JS}(P,Q)$, twice the Jensen-Shannon
divergence that Definition C.2 generalises (with its factor $\tfrac12$). Checked symbolically below.
"""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given

from proofs._mp import DPS, entropy, js_divergence, matrix, matrix_kl
from proofs._strategies import unit_diag_psd_pair
from proofs._tcr import adversarial_min, mp_unit_diag_psd, with_fixtures
from proofs._power import worst_case_test

STATEMENT = "Definition C.2"
TITLE = "the matrix Jensen-Shannon divergence and its sharp bounds"
VERDICT = "holds"


def _sym_h1(k):
    n = k.shape[0]
    return -sum((x / n) * sp.log(x / n) for x in k.eigenvals(multiple=True) if x != 0)


@pytest.mark.check("symbolic")
def test_log2_attained_exactly(slack):
    k1, k2 = sp.ones(2, 2), sp.Matrix([[1, -1], [-1, 1]])
    js = _sym_h1((k1 + k2) / 2) - (_sym_h1(k1) + _sym_h1(k2)) / 2
    assert sp.simplify(js - sp.log(2)) == 0
    one = sp.ones(3, 1)
    k1, k2 = one * one.T, sp.Rational(3, 2) * (sp.eye(3) - one * one.T / 3)
    assert all(k2[i, i] == 1 for i in range(3)) and k2 * one == sp.zeros(3, 1)
    js3 = _sym_h1((k1 + k2) / 2) - (_sym_h1(k1) + _sym_h1(k2)) / 2
    gap = sp.simplify(sp.expand_log(sp.log(2) - js3, force=True))
    assert gap == 0
    slack(gap, "log 2 - JS at orthogonal ranges (attained exactly)")


@pytest.mark.check("symbolic")
def test_f_divergence_generator_gives_twice_js():
    p, q = sp.symbols("p q", positive=True)
    x = sp.symbols("x", positive=True)
    f = -(x + 1) * sp.log((x + 1) / 2) + x * sp.log(x)
    assert f.subs(x, 1) == 0
    P, Q = [p, 1 - p], [q, 1 - q]
    d_f = sum(qi * f.subs(x, pi / qi) for pi, qi in zip(P, Q))
    m = [(a + b) / 2 for a, b in zip(P, Q)]
    js = sp.Rational(1, 2) * sum(a * sp.log(a / c) + b * sp.log(b / c) for a, b, c in zip(P, Q, m))
    for pv, qv in [(sp.Rational(1, 3), sp.Rational(3, 4)), (sp.Rational(1, 10), sp.Rational(1, 2))]:
        val = sp.N((d_f - 2 * js).subs({p: pv, q: qv}), 40)
        assert abs(val) < sp.Float("1e-35")
        assert sp.N(js.subs({p: pv, q: qv}), 40) > sp.Float("1e-3")


@pytest.mark.check("high-precision")
def test_symmetry_kl_form_and_bounds(slack):
    rng = np.random.default_rng(62)
    with mp.workdps(DPS):
        for n, r1, r2 in [(2, 2, 1), (3, 3, 3), (4, 1, 4), (5, 2, 3), (6, 6, 6)]:
            k1, k2 = mp_unit_diag_psd(rng, n, r1), mp_unit_diag_psd(rng, n, r2)
            js = js_divergence(k1, k2)
            assert abs(js - js_divergence(k2, k1)) < mp.mpf(10) ** -45
            m = (k1 + k2) / 2
            assert abs(js - (matrix_kl(k1, m) + matrix_kl(k2, m)) / (2 * n)) < mp.mpf(10) ** -40
            tr1 = mp.fsum(abs(x) for x in mp.eigsy((k1 - k2) / n, eigvals_only=True))
            slack(js - tr1 ** 2 / 8, "JS - ||rho1 - rho2||_1^2 / 8")
            slack(mp.log(2) - js, "log 2 - JS")
            assert js - tr1 ** 2 / 8 > mp.mpf(10) ** -30
            assert mp.log(2) - js > mp.mpf(10) ** -30
            assert entropy(m, 1) - js >= 0
        assert abs(js_divergence(k1, k1)) < mp.mpf(10) ** -45


@pytest.mark.check("randomized")
@with_fixtures
@given(pair=unit_diag_psd_pair(min_n=2, max_n=5))
def test_bounds_randomized_and_adversarial(pair, slack):
    k1, k2 = pair
    n = len(k1)

    def h1(k):
        lam = np.clip(np.linalg.eigvalsh(k), 0, None) / n
        lam = lam[lam > 1e-300]
        return -np.sum(lam * np.log(lam))

    def js(a, b):
        return h1((a + b) / 2) - (h1(a) + h1(b)) / 2

    v = js(k1, k2)
    slack(np.log(2) - v, "log 2 - JS (float64)")
    assert -1e-12 <= v <= np.log(2) + 1e-12


@pytest.mark.check("randomized")
def test_upper_bound_adversarial(slack, effort):
    """Maximise JS over pairs of Gram matrices of unit rows (n = 3): the search climbs to log 2,
    and the best point re-evaluated at 60 digits stays below it."""
    rng = np.random.default_rng(7)
    n, r = 3, 3

    def grams(x):
        f = x.reshape(2, n, r)
        f = f / np.linalg.norm(f, axis=2, keepdims=True)
        return f[0] @ f[0].T, f[1] @ f[1].T

    def h1(k):
        lam = np.clip(np.linalg.eigvalsh(k), 0, None) / n
        lam = lam[lam > 1e-300]
        return -np.sum(lam * np.log(lam))

    def neg_gap(x):
        a, b = grams(x)
        return np.log(2) - (h1((a + b) / 2) - (h1(a) + h1(b)) / 2)

    val, x = adversarial_min(neg_gap, [rng.standard_normal(2 * n * r) for _ in range(2 * effort)], maxiter=150)
    assert val < 0.05  # the search does approach the bound ...
    with mp.workdps(DPS):
        f = matrix(x.reshape(2 * n, r))
        from proofs._mp import normalise_rows
        f = normalise_rows(f)
        a = matrix([[mp.fsum(f[i, k] * f[j, k] for k in range(r)) for j in range(n)] for i in range(n)])
        b = matrix([[mp.fsum(f[n + i, k] * f[n + j, k] for k in range(r)) for j in range(n)] for i in range(n)])
        gap = mp.log(2) - js_divergence(a, b)
    slack(gap, "log 2 - JS at the adversarial optimum (60 digits)")
    assert gap >= 0  # ... but never crosses it


@pytest.mark.check("high-precision")
def test_mmae_js_divergence_agrees():
    from mmae import info
    import torch
    rng = np.random.default_rng(63)
    with mp.workdps(DPS):
        k1, k2 = mp_unit_diag_psd(rng, 4, 4), mp_unit_diag_psd(rng, 4, 2)
        t1, t2 = (torch.tensor([[float(k[i, j]) for j in range(4)] for i in range(4)], dtype=torch.float64) for k in (k1, k2))
        ref = js_divergence(k1, k2)  # on the exact matrices; mmae sees their float64 rounding
        assert abs(float(info.js_divergence(t1, t2)) - float(ref)) <= 1e-9
        assert abs(float(info.js_divergence(t1, t2)) - float(info.js_divergence(t2, t1))) <= 1e-12
        o = torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
        p = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
        assert abs(float(info.js_divergence(o, p)) - float(mp.log(2))) <= 1e-9


test_worst_case_search = worst_case_test("Definition C.2 (Pinsker)", "Definition C.2 (log 2)")
