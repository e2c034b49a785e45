r"""Definition 3.2: the matrix mutual information.

**Statement.** For $n\times n$ positive semi-definite $\mathbf K_1, \mathbf K_2$ with unit diagonal and
$\alpha > 0$,

$$
\mathrm I_\alpha(\mathbf K_1;\mathbf K_2) = \mathrm H_\alpha(\mathbf K_1) + \mathrm H_\alpha(\mathbf K_2)
- \mathrm H_\alpha(\mathbf K_1\odot\mathbf K_2)
$$

is well defined (finite), and it behaves like a mutual information where the answer is forced:

- (a) $\mathbf K_1\odot\mathbf K_2$ is again positive semi-definite with unit diagonal (Schur product
  theorem), so all three entropies are Definition 3.1 entropies in $[0, \log n]$;
- (b) $\mathrm I_\alpha$ is symmetric;
- (c) $\mathrm I_\alpha(\mathbf K;\mathbf 1\mathbf 1^\top) = 0$: the all-ones matrix is the identity of
  the Hadamard product and carries no information, $\mathrm H_\alpha(\mathbf 1\mathbf 1^\top) = 0$;
- (d) $\mathrm I_\alpha(\mathbf K;\mathbf I_n) = \mathrm H_\alpha(\mathbf K)$, since
  $\mathbf I_n\odot\mathbf K = \mathbf I_n$ and $\mathrm H_\alpha(\mathbf I_n) = \log n$ (one side knows
  everything);
- (e) on independent blocks, $\mathbf K_1 = \mathbf A\oplus\mathbf J$ and
  $\mathbf K_2 = \mathbf J\oplus\mathbf A$, the definition reduces to spectra known in closed form
  (checked in 60 digits).

**Proof.** (a) Write $\mathbf K_1 = \mathbf X\mathbf X^\top$, $\mathbf K_2 = \mathbf Y\mathbf Y^\top$ with
unit rows $x_i$, $y_i$; then
$(\mathbf K_1\odot\mathbf K_2)_{ij} = \langle x_i, x_j\rangle\langle y_i, y_j\rangle
= \langle x_i\otimes y_i, x_j\otimes y_j\rangle$, the Gram matrix of the unit vectors $x_i\otimes y_i$:
positive semi-definite with unit diagonal. (b) $\odot$ is commutative. (c)
$\mathbf 1\mathbf 1^\top\odot\mathbf K = \mathbf K$, and $\mathbf 1\mathbf 1^\top/n$ has the spectrum
$(1, 0, \dots, 0)$, of entropy 0 for every $\alpha$. (d) $\mathbf I_n\odot\mathbf K = \mathbf I_n$ (unit
diagonal), and $\mathbf I_n/n$ has the uniform spectrum, of entropy $\log n$.
"""

import mpmath
import pytest
import sympy as sp
from hypothesis import given

from proofs import _mp
from proofs import _strategies as S

STATEMENT = "Definition 3.2"
TITLE = "the matrix mutual information"
VERDICT = "holds"


@pytest.mark.check("symbolic")
def test_hadamard_of_grams_is_gram_of_tensor_products():
    x = sp.Matrix(3, 2, sp.symbols("x0:6", real=True))
    y = sp.Matrix(3, 2, sp.symbols("y0:6", real=True))
    K1, K2 = x * x.T, y * y.T
    T = sp.Matrix([list(sp.kronecker_product(x[i, :], y[i, :])) for i in range(3)])
    assert sp.expand(K1.multiply_elementwise(K2) - T * T.T) == sp.zeros(3, 3)


@pytest.mark.check("symbolic")
def test_forced_cases_on_a_symbolic_2x2():
    a, b, al = sp.symbols("a b alpha", positive=True)
    K = sp.Matrix([[1, a], [a, 1]])
    J, I2 = sp.ones(2, 2), sp.eye(2)
    assert J.multiply_elementwise(K) == K and I2.multiply_elementwise(K) == I2
    # H_alpha of J/2 (spectrum 1, 0) is 0 and of I/2 (spectrum 1/2, 1/2) is log 2 for every alpha
    assert sp.simplify(sp.log(1 ** al + 0) / (1 - al)) == 0
    assert sp.simplify(sp.expand_log(sp.log(2 * sp.Rational(1, 2) ** al) / (1 - al), force=True) - sp.log(2)) == 0


@pytest.mark.check("high-precision")
def test_forced_cases_in_60_digits(slack):
    K = [["1", "2/3", "-1/3"], ["2/3", "1", "1/6"], ["-1/3", "1/6", "1"]]
    J = [[1] * 3] * 3
    I3 = [[int(i == j) for j in range(3)] for i in range(3)]
    tiny = mpmath.mpf(10) ** -50
    for alpha in (mpmath.mpf("0.2"), 1, 2, 9, mpmath.inf):
        assert abs(_mp.mutual_information(K, J, alpha)) < tiny
        assert abs(_mp.mutual_information(K, I3, alpha) - _mp.entropy(K, alpha)) < tiny
        assert abs(_mp.mutual_information(K, I3, alpha) - _mp.mutual_information(I3, K, alpha)) < tiny
        slack(_mp.entropy(K, alpha), "H(K) = I(K; I), a nontrivial value")


@pytest.mark.check("randomized")
@given(S.unit_diag_psd_pair(max_n=6, exact=True))
def test_hadamard_product_stays_unit_diagonal_psd(slack, pair):
    K1, K2 = pair
    H = _mp.hadamard(K1, K2)
    lo = _mp.psd_spectrum(H)[0]  # raises if a genuinely negative eigenvalue appears
    assert all(H[i, i] == 1 for i in range(H.rows))
    slack(lo, "smallest eigenvalue of K1 o K2")


@pytest.mark.check("randomized")
@given(S.unit_diag_psd_pair(max_n=6, exact=True), S.alphas())
def test_mmae_mutual_information_matches_independent_computation(pair, alpha):
    info = pytest.importorskip("mmae.info")
    K1, K2 = pair
    got = float(info.mutual_information(K1.astype(float), K2.astype(float), alpha))
    want = float(_mp.mutual_information(K1, K2, alpha))
    # the round-off of float64 evaluations of its three entropies, conditioning included
    tol = sum(_mp.float64_entropy_error(K, alpha) for K in (K1, K2, _mp.hadamard(K1, K2)))
    assert abs(got - want) <= tol, (got, want)
