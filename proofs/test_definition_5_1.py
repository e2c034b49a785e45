r"""Definition 5.1: effective rank, and the claim that it is the exponential of the matrix entropy.

**Statement.** For a non-zero $A \in \mathbb{R}^{n\times n}$ with singular values
$\sigma_1,\dots,\sigma_n$, $\mathrm{erank}(A) = \exp H(p)$ with
$p_i = \sigma_i / \sum_k \sigma_k$ and $H$ the Shannon entropy ($0\log 0 = 0$).
Sec. 5 claims: for a positive semi-definite $K$ with unit diagonal,
$\mathrm{erank}(K) = \exp \mathrm{H}_1(K)$.

**Proof.** A positive semi-definite matrix is symmetric with eigenvalues $\lambda_i \ge 0$, so its
singular values are its eigenvalues. The unit diagonal gives $\sum_i\lambda_i = \mathrm{tr}K = n$, so
$p_i = \lambda_i/n$, which are exactly the eigenvalues of $K/n$; hence
$H(p) = -\mathrm{tr}(\tfrac Kn\log\tfrac Kn) = \mathrm{H}_1(K)$. (Only $\mathrm{tr} K = n$ is
used; erank is scale invariant while $\mathrm{H}_1$ is not, so the trace normalisation is needed.)
Consequences checked as well: $1 \le \mathrm{erank}(K) \le \mathrm{rank}(K)$, the right side
with equality if and only if the non-zero eigenvalues are equal (Shannon entropy on
$\mathrm{rank}\,K$ atoms).

Positive semi-definiteness is needed: the symmetric, unit-diagonal but indefinite
$\begin{pmatrix}1 & 2\\ 2 & 1\end{pmatrix}$ has eigenvalues 3 and $-1$, singular values 3 and 1, a finite
effective rank, and no matrix entropy (the log of a negative eigenvalue); this is outside the
claim, which the paper states for positive semi-definite matrices.
"""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given

from proofs._mp import DPS, entropy, matrix
from proofs._strategies import unit_diag_psd
from proofs._tcr import mp_unit_diag_psd, with_fixtures

STATEMENT = "Definition 5.1"
TITLE = "effective rank is the exponential of the matrix entropy"
VERDICT = "holds"


def mp_erank(a):
    """exp of the Shannon entropy of the normalised singular values, via an SVD (not eigsy)."""
    s = mp.svd_r(matrix(a), compute_uv=False)
    s = [abs(x) for x in s]
    tot = mp.fsum(s)
    return mp.exp(-mp.fsum((x / tot) * mp.log(x / tot) for x in s if x > mp.mpf(10) ** -45))


@pytest.mark.check("symbolic")
def test_two_by_two_identity_symbolic():
    a = sp.symbols("a", real=True)
    k = sp.Matrix([[1, a], [a, 1]])
    ev = list(k.eigenvals(multiple=True))  # 1 - a, 1 + a: the singular values too when |a| < 1
    assert sp.simplify(sum(ev) - 2) == 0
    shannon = -sum((x / 2) * sp.log(x / 2) for x in ev)
    h1 = -sum((x / 2) * sp.log(x / 2) for x in [1 - a, 1 + a])
    assert sp.simplify(shannon - h1) == 0
    # scale: erank(cK) = erank(K) but H_1(cK) != H_1(K) -- the unit diagonal fixes the scale
    c = sp.Rational(3)
    h1c = -sum((c * x / 2) * sp.log(c * x / 2) for x in [sp.Rational(1, 2), sp.Rational(3, 2)])
    h1_ = -sum((x / 2) * sp.log(x / 2) for x in [sp.Rational(1, 2), sp.Rational(3, 2)])
    assert abs(sp.N(h1c - h1_, 30)) > sp.Rational(1, 10)
    # indefinite unit-diagonal matrix: singular values != eigenvalues, H_1 undefined
    m = sp.Matrix([[1, 2], [2, 1]])
    assert sorted(m.eigenvals(multiple=True)) == [-1, 3]
    assert sorted(m.singular_values()) == [1, 3]


@pytest.mark.check("high-precision")
def test_erank_is_exp_entropy_and_bounded_by_rank(slack):
    rng = np.random.default_rng(51)
    with mp.workdps(DPS):
        for n, r in [(2, 2), (3, 1), (4, 2), (5, 5), (6, 3)]:
            k = mp_unit_diag_psd(rng, n, r)
            er, h = mp_erank(k), entropy(k, 1)
            assert abs(er - mp.exp(h)) < mp.mpf(10) ** -40
            rank = sum(1 for x in mp.eigsy(k, eigvals_only=True) if abs(x) > mp.mpf(10) ** -40)
            slack(rank - er, "rank(K) - erank(K)")
            slack(er - 1, "erank(K) - 1")
            assert er >= 1 - mp.mpf(10) ** -40 and er <= rank + mp.mpf(10) ** -40
        # equality erank = rank: equal non-zero eigenvalues (identity, all-ones)
        assert abs(mp_erank(mp.eye(4)) - 4) < mp.mpf(10) ** -40
        assert abs(mp_erank(mp.ones(4, 4)) - 1) < mp.mpf(10) ** -40


@pytest.mark.check("randomized")
@with_fixtures
@given(k=unit_diag_psd(max_n=6))
def test_erank_is_exp_entropy_randomized(k, slack):
    s = np.linalg.svd(k, compute_uv=False)
    p = s / s.sum()
    er = np.exp(-np.sum(p[p > 1e-15] * np.log(p[p > 1e-15])))
    lam = np.clip(np.linalg.eigvalsh(k), 0, None) / len(k)
    h1 = -np.sum(lam[lam > 1e-15] * np.log(lam[lam > 1e-15]))
    assert abs(er - np.exp(h1)) <= 1e-9 * er
    slack(np.linalg.matrix_rank(k) - er, "rank(K) - erank(K)")
    assert er <= np.linalg.matrix_rank(k) + 1e-9


@pytest.mark.check("high-precision")
def test_mmae_effective_rank_agrees():
    from mmae import info
    import torch
    rng = np.random.default_rng(52)
    with mp.workdps(DPS):
        for n, r in [(3, 3), (5, 2)]:
            k = mp_unit_diag_psd(rng, n, r)
            t = torch.tensor([[float(k[i, j]) for j in range(n)] for i in range(n)], dtype=torch.float64)
            ref = mp_erank(k)  # on the exact matrix; mmae sees its float64 rounding
            assert abs(float(info.effective_rank(t)) - float(ref)) <= 1e-9 * float(ref)
            assert abs(float(info.effective_rank(t)) - float(mp.exp(entropy(k, 1)))) <= 1e-9 * float(ref)
