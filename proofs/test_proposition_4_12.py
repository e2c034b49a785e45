r"""Proposition 4.12: the order-2 joint entropy through the Frobenius norm.

**Statement.** For $n\times n$ positive semi-definite $\mathbf K_1, \mathbf K_2$ with unit diagonal (the
paper: "$\mathbf K_1, \mathbf K_2 \in \mathbb R^{d\times d}$"; symmetry is what is used),

$$
\mathrm H_2(\mathbf K_1, \mathbf K_2) = 2\log n - \log\|\mathbf K_1\odot\mathbf K_2\|_F^2.
$$

**Proof.** $\mathrm H_2(\mathbf K_1, \mathbf K_2) = \mathrm H_2(\mathbf K_1\odot\mathbf K_2)
= -\log\operatorname{tr}\big(((\mathbf K_1\odot\mathbf K_2)/n)^2\big)$, and
$\operatorname{tr}(\mathbf M^2) = \|\mathbf M\|_F^2$ for the symmetric $\mathbf M = \mathbf K_1\odot\mathbf K_2$.
For non-symmetric matrices $\operatorname{tr}(\mathbf M^2) \ne \|\mathbf M\|_F^2$ in general (for
$\mathbf M = \begin{pmatrix}1 & 1\\ 0 & 1\end{pmatrix}$, $\operatorname{tr}\mathbf M^2 = 2$ and
$\|\mathbf M\|_F^2 = 3$), which is why the symmetric (positive semi-definite) setting of Sec. 3.1 is
needed: the printed "$\mathbf K_1, \mathbf K_2 \in \mathbb R^{d\times d}$" inherits it from the section's
standing assumption.
"""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given

from proofs import _mp
from proofs import _strategies as S

STATEMENT = "Proposition 4.12"
TITLE = "the order-2 joint entropy through the Frobenius norm"
VERDICT = "holds"


@pytest.mark.check("symbolic")
def test_identity_on_symbolic_symmetric_matrices():
    n = 3
    a = sp.symbols("a0:3", real=True)
    b = sp.symbols("b0:3", real=True)
    K1 = sp.Matrix([[1, a[0], a[1]], [a[0], 1, a[2]], [a[1], a[2], 1]])
    K2 = sp.Matrix([[1, b[0], b[1]], [b[0], 1, b[2]], [b[1], b[2], 1]])
    M = K1.multiply_elementwise(K2)
    h2 = -sp.log((M / n * M / n).trace())
    rhs = 2 * sp.log(n) - sp.log(sum(x ** 2 for x in M))
    assert sp.simplify(sp.expand_log(h2 - rhs, force=True)) == 0
    N = sp.Matrix([[1, 1], [0, 1]])  # why symmetry matters
    assert (N * N).trace() == 2 and sum(x ** 2 for x in N) == 3


@pytest.mark.check("high-precision")
def test_identity_in_60_digits(slack):
    rng = np.random.default_rng(5)
    for n, r in ((2, 1), (4, 2), (6, 4)):
        X, Y = S.rational_unit_rows(rng, n, r), S.rational_unit_rows(rng, n, r)
        K1, K2 = X @ X.T, Y @ Y.T
        lhs = _mp.joint_entropy(K1, K2, 2)
        rhs = 2 * mpmath.log(n) - mpmath.log(_mp.frobenius_sq(_mp.hadamard(K1, K2)))
        assert abs(lhs - rhs) < mpmath.mpf(10) ** -50


@pytest.mark.check("randomized")
@given(S.unit_diag_psd_pair(max_n=7))
def test_identity_on_random_pairs(slack, pair):
    K1, K2 = pair
    n = K1.shape[0]
    lhs = _mp.np_renyi(K1 * K2, 2)
    rhs = 2 * math.log(n) - math.log(((K1 * K2) ** 2).sum())
    assert abs(lhs - rhs) <= 1e-10
