r"""Proposition 4.1 (twin A.1): the order-2 mutual information through Frobenius norms.

**Statement.** For $n\times n$ positive semi-definite $\mathbf K_1, \mathbf K_2$ with unit diagonal (the
paper writes $d$ for the size),

$$
\mathrm I_2(\mathbf K_1;\mathbf K_2) = 2\log n - \log\frac{\|\mathbf K_1\|_F^2\,\|\mathbf K_2\|_F^2}{\|\mathbf K_1\odot\mathbf K_2\|_F^2}.
$$

**Proof.** For symmetric $\mathbf K$, $\operatorname{tr}(\mathbf K^2) = \operatorname{tr}(\mathbf K^\top\mathbf K) = \|\mathbf K\|_F^2$,
so $\mathrm H_2(\mathbf K) = -\log\operatorname{tr}\big((\mathbf K/n)^2\big) = 2\log n - \log\|\mathbf K\|_F^2$.
$\mathbf K_1\odot\mathbf K_2$ is symmetric (and nonzero: unit diagonal), so

$$
\mathrm I_2 = \big(2\log n - \log\|\mathbf K_1\|_F^2\big) + \big(2\log n - \log\|\mathbf K_2\|_F^2\big)
- \big(2\log n - \log\|\mathbf K_1\odot\mathbf K_2\|_F^2\big),
$$

which is the claim. Only symmetry and a nonzero Hadamard product are used; positive
semi-definiteness is not needed.
"""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given

from proofs import _mp
from proofs import _strategies as S

STATEMENT = "Proposition 4.1"
TITLE = "the order-2 mutual information through Frobenius norms"
TWINS = ("Proposition A.1",)
VERDICT = "holds"


def _sym(name, n):
    s = sp.symbols(f"{name}0:{n * n}", real=True)
    return sp.Matrix(n, n, lambda i, j: 1 if i == j else s[min(i, j) * n + max(i, j)])


@pytest.mark.check("symbolic")
def test_trace_of_square_is_frobenius_and_the_identity():
    n = 3
    K1, K2 = _sym("a", n), _sym("b", n)
    fro = lambda M: sum(M[i, j] ** 2 for i in range(n) for j in range(n))
    H2 = lambda M: -sp.log((M * M).trace() / n ** 2)
    for M in (K1, K2, K1.multiply_elementwise(K2)):
        assert sp.expand((M * M).trace() - fro(M)) == 0
    I2 = H2(K1) + H2(K2) - H2(K1.multiply_elementwise(K2))
    rhs = 2 * sp.log(n) - sp.log(fro(K1) * fro(K2) / fro(K1.multiply_elementwise(K2)))
    assert sp.simplify(sp.expand_log(I2 - rhs, force=True)) == 0


@pytest.mark.check("high-precision")
def test_identity_in_60_digits(slack):
    rng = np.random.default_rng(11)
    for n, r in ((3, 2), (5, 3), (6, 6)):
        X, Y = S.rational_unit_rows(rng, n, r), S.rational_unit_rows(rng, n, r)
        K1, K2 = X @ X.T, Y @ Y.T
        lhs = _mp.mutual_information(K1, K2, 2)
        rhs = 2 * mpmath.log(n) - mpmath.log(_mp.frobenius_sq(K1) * _mp.frobenius_sq(K2)
                                             / _mp.frobenius_sq(_mp.hadamard(K1, K2)))
        assert abs(lhs - rhs) < mpmath.mpf(10) ** -50


@pytest.mark.check("randomized")
@given(S.unit_diag_psd_pair(max_n=7))
def test_identity_on_random_pairs(slack, pair):
    K1, K2 = pair
    n = K1.shape[0]
    lhs = _mp.np_renyi(K1, 2) + _mp.np_renyi(K2, 2) - _mp.np_renyi(K1 * K2, 2)
    rhs = 2 * math.log(n) - math.log((K1 ** 2).sum() * (K2 ** 2).sum() / ((K1 * K2) ** 2).sum())
    assert abs(lhs - rhs) <= 1e-10
