r"""Definition 4.9: the matrix KL divergence.

**Statement.** For positive semi-definite matrices $K_1, K_2 \in \mathbb{R}^{n\times n}$ with unit
diagonals,

$$
\mathrm{KL}(K_1 \,\|\, K_2) = \mathrm{tr}\big[K_1(\log K_1 - \log K_2)\big],
$$

with $0\log 0 = 0$; the value is $+\infty$ when the range of $K_1$ is not inside the range of $K_2$
(the log of $K_2$ is then $-\infty$ on a direction $K_1$ sees).

The properties the paper uses (Sec. 4.2 and C.3), and their proofs:

1. *Density form.* With $\rho_k = K_k/n$ (trace one, since the diagonals are 1),
   $\mathrm{KL}(K_1\|K_2) = n\, D(\rho_1\|\rho_2)$, $D$ the Umegaki relative entropy:
   the $\log n$ terms cancel because $\mathrm{tr}\rho_1 = 1$.
2. *Non-negativity and identity of indiscernibles* (Klein's inequality):
   $\mathrm{tr}[A\log A - A\log B] \ge \mathrm{tr}(A - B)$, which is 0 here because the traces
   are equal; equality if and only if $K_1 = K_2$. Without equal traces the printed formula can be
   negative, so the unit diagonal is what makes it a divergence.
3. *Asymmetry* (as the paper says in C.3). Exact instance:
   $K_1 = \begin{pmatrix}1 & 1/2\\ 1/2 & 1\end{pmatrix}$ and $K_2 = I_2$:
   $\mathrm{KL}(K_1\|I) = \tfrac32\log\tfrac32 + \tfrac12\log\tfrac12$ and
   $\mathrm{KL}(I\|K_1) = \log\tfrac43$ differ.
4. *Unbounded or undefined* (C.3). $\mathrm{KL}(I_2 \| J_2) = +\infty$ for $J_2$ the all-ones
   matrix, while $\mathrm{KL}(J_2\|I_2) = 2\log 2$.
"""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given

from proofs._mp import DPS, matrix as mp_matrix, matrix_kl as mp_kl
from proofs._strategies import unit_diag_psd_pair
from proofs._tcr import mp_unit_diag_psd, with_fixtures

STATEMENT = "Definition 4.9"
TITLE = "the matrix KL divergence"
VERDICT = "holds"


@pytest.mark.check("symbolic")
def test_asymmetry_and_infinite_value_exact():
    h = sp.Rational(1, 2)
    k1 = sp.Matrix([[1, h], [h, 1]])
    # K1 and I commute: KL(K1||I) = sum lambda log lambda, KL(I||K1) = -sum log lambda
    ev = list(k1.eigenvals(multiple=True))
    kl_fwd = sum(x * sp.log(x) for x in ev)
    kl_bwd = -sum(sp.log(x) for x in ev)
    assert sp.simplify(kl_fwd - (sp.Rational(3, 2) * sp.log(sp.Rational(3, 2)) + h * sp.log(h))) == 0
    assert sp.simplify(kl_bwd - sp.log(sp.Rational(4, 3))) == 0
    assert sp.N(kl_bwd - kl_fwd, 30) > sp.Rational(1, 50)
    # KL(J||I) = 2 log 2 finite, KL(I||J) infinite (J is singular, I is not)
    j = sp.ones(2, 2)
    assert sp.simplify(sum(x * sp.log(x) for x in j.eigenvals(multiple=True) if x != 0) - 2 * sp.log(2)) == 0
    assert j.det() == 0 and sp.eye(2).rank() == 2


@pytest.mark.check("symbolic")
def test_density_form_symbolic():
    # the log n terms cancel: tr[K1 (log K1 - log K2)] = n tr[rho1 (log rho1 - log rho2)] on commuting spectra
    n = 3
    a = sp.symbols("a0:3", positive=True)
    b = sp.symbols("b0:3", positive=True)
    kl = sum(x * (sp.log(x) - sp.log(y)) for x, y in zip(a, b))
    d = n * sum((x / n) * (sp.log(x / n) - sp.log(y / n)) for x, y in zip(a, b))
    assert sp.simplify(sp.expand_log(kl - d, force=True)) == 0


@pytest.mark.check("high-precision")
def test_klein_nonnegativity_and_indiscernibles(slack):
    rng = np.random.default_rng(49)
    with mp.workdps(DPS):
        for n, r1, r2 in [(2, 2, 2), (3, 3, 3), (4, 2, 4), (5, 5, 5), (4, 1, 4)]:
            k1, k2 = mp_unit_diag_psd(rng, n, r1), mp_unit_diag_psd(rng, n, r2)
            kl = mp_kl(k1, k2)
            slack(kl, "KL(K1||K2) >= 0")
            assert kl > mp.mpf(10) ** -20
            assert abs(mp_kl(k1, k1)) < mp.mpf(10) ** -40
            # the density form
            rho1, rho2 = k1 / n, k2 / n
            assert abs(kl - n * mp_kl(rho1, rho2)) < mp.mpf(10) ** -40
        # rank-deficient second argument with first argument not in its range: +inf
        k2 = mp_unit_diag_psd(rng, 3, 1)
        assert mp_kl(mp.eye(3), k2) == mp.inf
        # equal traces are needed: without them the printed formula can go negative
        assert mp_kl(mp.eye(2) / 2, mp.eye(2)) < 0


@pytest.mark.check("randomized")
@with_fixtures
@given(pair=unit_diag_psd_pair(max_n=5, exact=True))
def test_nonnegative_randomized(pair, slack):
    k1, k2 = pair  # exact rationals: the 60-digit value has no float round-off in it
    kl = mp_kl(k1, k2)
    slack(kl, "KL(K1||K2) >= 0")
    assert kl >= -mp.mpf(10) ** -40
    if kl == mp.inf:  # range(K1) not inside range(K2): then K2 must be singular
        assert mp.det(mp_matrix(k2)) < mp.mpf(10) ** -30


@pytest.mark.check("high-precision")
def test_mmae_kl_divergence_agrees():
    from mmae import info
    import torch
    rng = np.random.default_rng(9)
    with mp.workdps(DPS):
        for n in (2, 4):
            k1, k2 = mp_unit_diag_psd(rng, n, n), mp_unit_diag_psd(rng, n, n)
            t1 = torch.tensor([[float(k1[i, j]) for j in range(n)] for i in range(n)], dtype=torch.float64)
            t2 = torch.tensor([[float(k2[i, j]) for j in range(n)] for i in range(n)], dtype=torch.float64)
            ref = mp_kl(mp_matrix(t1.numpy()), mp_matrix(t2.numpy()))
            assert abs(float(info.kl_divergence(t1, t2)) - float(ref)) <= 1e-8 * (1 + abs(float(ref)))
        j = torch.ones(2, 2, dtype=torch.float64)
        assert float(info.kl_divergence(torch.eye(2, dtype=torch.float64), j)) == float("inf")
