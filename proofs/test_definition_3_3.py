r"""Definition 3.3: the matrix joint entropy.

**Statement.** For $n\times n$ positive semi-definite $\mathbf K_1, \mathbf K_2$ with unit diagonal and
$\alpha > 0$, the joint entropy is
$\mathrm H_\alpha(\mathbf K_1, \mathbf K_2) = \mathrm H_\alpha(\mathbf K_1\odot\mathbf K_2)$, and

- (a) it is a Definition 3.1 entropy, so $0 \le \mathrm H_\alpha(\mathbf K_1, \mathbf K_2) \le \log n$;
- (b) it is symmetric;
- (c) $\mathrm H_\alpha(\mathbf K, \mathbf 1\mathbf 1^\top) = \mathrm H_\alpha(\mathbf K)$ and
  $\mathrm H_\alpha(\mathbf K, \mathbf I_n) = \log n$;
- (d) it is the Rényi entropy of the state
  $\rho_{12} = \frac1n\sum_i (x_i x_i^\top)\otimes(y_i y_i^\top)$ built from unit vectors with
  $\mathbf K_1 = [\langle x_i, x_j\rangle]$ and $\mathbf K_2 = [\langle y_i, y_j\rangle]$, whose two
  marginals have the spectra of $\mathbf K_1/n$ and $\mathbf K_2/n$.

**Proof.** (a)-(c): the Schur product theorem (see Definition 3.2),
$\mathbf 1\mathbf 1^\top\odot\mathbf K = \mathbf K$ and $\mathbf I_n\odot\mathbf K = \mathbf I_n$.
(d) The Gram matrix $\mathbf G = \mathbf V^\top\mathbf V$ of $n$ vectors and the frame operator
$\mathbf V\mathbf V^\top$ share their nonzero spectrum; with $v_i = x_i\otimes y_i$,
$\frac1n\mathbf V\mathbf V^\top = \rho_{12}$, and its partial trace
$\operatorname{tr}_2\rho_{12} = \frac1n\sum_i x_i x_i^\top$ (because $\|y_i\| = 1$) has the nonzero
spectrum of $\mathbf K_1/n$. This is the reading that makes the inequalities of Proposition 4.7
statements about quantum entropies.
"""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given

from proofs import _mp
from proofs import _strategies as S

STATEMENT = "Definition 3.3"
TITLE = "the matrix joint entropy"
VERDICT = "holds"


def _state(X, Y):
    """rho_12 = (1/n) sum_i (x_i x_i^T) (x) (y_i y_i^T) in mp, X (n, r), Y (n, s) exact unit rows."""
    n = X.shape[0]
    rows = [[_mp.to_mpf(a) * _mp.to_mpf(b) for a in X[i] for b in Y[i]] for i in range(n)]
    V = mpmath.matrix(rows)  # n x (r s), rows x_i (x) y_i
    return V.T * V / n


@pytest.mark.check("symbolic")
def test_gram_and_frame_operator_share_spectrum_symbolically():
    V = sp.Matrix(2, 3, sp.symbols("v0:6", real=True))
    t = sp.symbols("t")
    # det(tI - V V^T) = t det(tI - V^T V) for a 2 x 3 V: same nonzero spectrum
    lhs = (t * sp.eye(3) - V.T * V).det()
    rhs = t * (t * sp.eye(2) - V * V.T).det()
    assert sp.expand(lhs - rhs) == 0


@pytest.mark.check("high-precision")
def test_joint_entropy_is_entropy_of_the_two_view_state(slack):

    rng = np.random.default_rng(3)
    X = S.rational_unit_rows(rng, 4, 2)
    Y = S.rational_unit_rows(rng, 4, 3)
    K1, K2 = X @ X.T, Y @ Y.T
    rho = _state(X, Y)
    p = [e for e in _mp.psd_spectrum(rho) if e > 0]
    for alpha in (mpmath.mpf("0.4"), 1, 2, mpmath.inf):
        h_state = _mp.renyi_from_spectrum(p, alpha)
        h_joint = _mp.joint_entropy(K1, K2, alpha)
        assert abs(h_state - h_joint) < mpmath.mpf(10) ** -45
        slack(mpmath.log(4) - h_joint, f"log n - H at alpha={alpha}")
        assert 0 < h_joint < mpmath.log(4)
    # the marginal over the second factor has the spectrum of K1 / n
    r, s = 2, 3
    marg = mpmath.matrix(r, r)
    for i in range(r):
        for j in range(r):
            marg[i, j] = mpmath.fsum(rho[i * s + k, j * s + k] for k in range(s))
    assert abs(_mp.renyi_from_spectrum(_mp.psd_spectrum(marg), 2) - _mp.entropy(K1, 2)) < mpmath.mpf(10) ** -45


@pytest.mark.check("high-precision")
def test_forced_cases_in_60_digits():
    K = [["1", "1/2", "1/4"], ["1/2", "1", "1/2"], ["1/4", "1/2", "1"]]
    J = [[1] * 3] * 3
    I3 = [[int(i == j) for j in range(3)] for i in range(3)]
    for alpha in (mpmath.mpf("0.3"), 1, 3, mpmath.inf):
        assert abs(_mp.joint_entropy(K, J, alpha) - _mp.entropy(K, alpha)) < mpmath.mpf(10) ** -50
        assert abs(_mp.joint_entropy(K, I3, alpha) - mpmath.log(3)) < mpmath.mpf(10) ** -50


@pytest.mark.check("randomized")
@given(S.unit_diag_psd_pair(max_n=6, exact=True), S.alphas())
def test_range_and_symmetry(slack, pair, alpha):
    E1, E2 = pair
    K1, K2 = E1.astype(float), E2.astype(float)
    n = K1.shape[0]
    h12, h21 = _mp.np_renyi(K1 * K2, alpha), _mp.np_renyi(K2 * K1, alpha)
    assert h12 == h21
    margin = min(h12, math.log(n) - h12)
    if margin < 1e-8:
        hm = _mp.joint_entropy(E1, E2, alpha)
        margin = min(hm, mpmath.log(n) - hm)
    slack(_mp.clean(margin), "min(H(K1,K2), log n - H(K1,K2))")
    assert margin >= -1e-12


@pytest.mark.check("randomized")
@given(S.unit_diag_psd_pair(max_n=6, exact=True), S.alphas())
def test_mmae_joint_entropy_matches_independent_computation(pair, alpha):
    info = pytest.importorskip("mmae.info")
    K1, K2 = pair
    got = float(info.joint_entropy(K1.astype(float), K2.astype(float), alpha))
    want = float(_mp.joint_entropy(K1, K2, alpha))
    # the round-off of a float64 evaluation, conditioning included (K1 o K2 rounds twice: 4 eps covers it)
    assert abs(got - want) <= _mp.float64_entropy_error(_mp.hadamard(K1, K2), alpha), (got, want)
