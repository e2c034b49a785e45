"""mmae.info against closed forms, a 50-digit mpmath computation, limits, gradients and bad input."""
import math
import re

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mmae import info
from _tol import roundoff

F64 = torch.float64
DPS = 50



# ----------------------------------------------------------------------------- inputs

def factor(n: int, r: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, r))


def corr_np(X: np.ndarray) -> np.ndarray:
    """Correlation matrix D^-1/2 X X^T D^-1/2 (unit diagonal, rank = rank X), float64."""
    G = X @ X.T
    d = np.sqrt(np.diag(G))
    K = G / d[:, None] / d[None, :]
    np.fill_diagonal(K, 1.0)
    return (K + K.T) / 2


def corr(n: int, r: int | None = None, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(corr_np(factor(n, r or 2 * n, seed)))


def equicorr(n: int, rho: float) -> torch.Tensor:
    """(1 - rho) I + rho J: eigenvalues 1 + (n - 1) rho (once) and 1 - rho (n - 1 times)."""
    return (1 - rho) * torch.eye(n, dtype=F64) + rho * torch.ones(n, n, dtype=F64)


def blocks(*sizes: int) -> torch.Tensor:
    """Block-diagonal correlation matrix of all-ones blocks: eigenvalues = sizes, then zeros."""
    return torch.block_diag(*[torch.ones(s, s, dtype=F64) for s in sizes])


def renyi_of(p, alpha):
    """Rényi entropy of a probability vector in float arithmetic (for closed forms)."""
    p = np.asarray([x for x in p if x > 0], dtype=float)
    if alpha == 1:
        return float(-(p * np.log(p)).sum())
    if math.isinf(alpha):
        return float(-np.log(p.max()))
    return float(np.log((p ** alpha).sum()) / (1 - alpha))


# ----------------------------------------------------------------------------- 50-digit references

def mp_matrix(K) -> mpmath.matrix:
    K = np.asarray(K, dtype=float)
    return mpmath.matrix([[mpmath.mpf(float(x)) for x in row] for row in K])


def mp_corr(X: np.ndarray) -> mpmath.matrix:
    """The exact-rank correlation matrix of X, formed in 50-digit arithmetic."""
    Xm = mp_matrix(X)
    G = Xm * Xm.T
    n = G.rows
    return mpmath.matrix([[G[i, j] / mpmath.sqrt(G[i, i] * G[j, j]) for j in range(n)] for i in range(n)])


def mp_eigh(A: mpmath.matrix):
    E, Q = mpmath.eigsy(A)
    zero = mpmath.mpf(10) ** (-(DPS - 15))
    lam = [E[i] if E[i] > zero * A.rows else mpmath.mpf(0) for i in range(A.rows)]
    return lam, Q


def mp_entropy(A: mpmath.matrix, alpha) -> mpmath.mpf:
    lam, _ = mp_eigh(A)
    p = [x / A.rows for x in lam if x > 0]
    if alpha == 1:
        return -mpmath.fsum(x * mpmath.log(x) for x in p)
    if math.isinf(alpha):
        return -mpmath.log(max(p))
    a = mpmath.mpf(alpha)
    return mpmath.log(mpmath.fsum(x ** a for x in p)) / (1 - a)


def mp_hadamard(A, B):
    return mpmath.matrix([[A[i, j] * B[i, j] for j in range(A.cols)] for i in range(A.rows)])


def mp_logm_psd(A):
    lam, Q = mp_eigh(A)
    L = mpmath.diag([mpmath.log(x) for x in lam])
    return Q * L * Q.T


def mp_trace(A):
    return mpmath.fsum(A[i, i] for i in range(A.rows))


def close(got, ref, rel=1e-10, abs_=0.0):
    got, ref = float(got), mpmath.mpf(ref)
    assert abs(got - ref) <= rel * abs(ref) + abs_, (got, ref)


# ----------------------------------------------------------------------------- round-off

def spectral_tol(n: int, dtype=F64) -> float:
    """Absolute round-off of an entropy of an n x n PSD matrix K whose spectrum is computed in `dtype`.

    The eigensolver is backward stable: it returns the eigenvalues of K + E with ||E|| ~ n eps ||K||
    <= n^2 eps (||K|| <= tr K = n), so each p_i = lambda_i / tr K moves by ~n eps; the entropy sums
    n terms whose slopes in p_i (|1 + log p_i|, 1 / p_max, ...) are at most ~1 + log n for the
    spectra of the closed forms here. A mutual information or JS divergence combines 2-3 entropies,
    the unnormalised KL divergence n times larger ones. The same holds for singular values (SVD)."""
    return roundoff(dtype, n * n, scale=1 + math.log(n))


def tcr_tol(n: int, cond: float) -> float:
    """Absolute round-off of log det(mu I + K), n x n, by Cholesky: it factors mu I + K + E with
    ||E|| ~ n eps ||mu I + K||, which moves log det by up to n ||E|| / lambda_min = n^2 eps cond."""
    return roundoff(F64, n * n, scale=cond)


# ----------------------------------------------------------------------------- closed forms

ALPHAS = [0.05, 0.5, 0.9, 1.0, 1.1, 1.5, 2.0, 3.0, 10.0, math.inf]


@pytest.mark.parametrize("alpha", ALPHAS)
def test_entropy_closed_forms(alpha):
    for n in (1, 2, 7):
        assert info.entropy(torch.eye(n, dtype=F64), alpha).item() == pytest.approx(math.log(n), abs=spectral_tol(n))
        assert info.entropy(torch.ones(n, n, dtype=F64), alpha).item() == pytest.approx(0.0, abs=spectral_tol(n))
    sizes = (1, 2, 4)  # spectrum (4, 2, 1, 0, ...) / 7
    ref = renyi_of([s / 7 for s in sizes], alpha)
    assert info.entropy(blocks(*sizes), alpha).item() == pytest.approx(ref, abs=spectral_tol(7))
    assert info.entropy(blocks(3, 3, 3), alpha).item() == pytest.approx(math.log(3), abs=spectral_tol(9))
    n, rho = 6, 0.3
    ref = renyi_of([(1 + (n - 1) * rho) / n] + [(1 - rho) / n] * (n - 1), alpha)
    assert info.entropy(equicorr(n, rho), alpha).item() == pytest.approx(ref, abs=spectral_tol(n))


def test_entropy_of_a_prescribed_spectrum_in_any_basis():
    lam = torch.tensor([2.5, 1.5, 1.0, 0.5, 0.5, 0.0], dtype=F64)  # trace 6
    Q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=F64, generator=torch.Generator().manual_seed(1)))
    K = (Q * lam) @ Q.T
    for alpha in (0.5, 1.0, 2.0, math.inf):
        ref = renyi_of((lam / 6).tolist(), alpha)
        # the basis change breaks the unit diagonal: this is H of K / tr K, checked without validation
        assert info.entropy(K, alpha, validate=False).item() == pytest.approx(ref, abs=spectral_tol(6))
        assert info.entropy(torch.diag(lam), alpha, validate=False).item() == pytest.approx(ref, abs=spectral_tol(6))


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0, math.inf])
def test_mutual_information_and_joint_entropy_closed_forms(alpha):
    n = 5
    I, J, K = torch.eye(n, dtype=F64), torch.ones(n, n, dtype=F64), corr(n, seed=3)
    h, mi = spectral_tol(n), 3 * spectral_tol(n)  # I = H(K1) + H(K2) - H(K1 (.) K2): three entropies
    assert info.mutual_information(I, I, alpha).item() == pytest.approx(math.log(n), abs=mi)
    assert info.mutual_information(J, J, alpha).item() == pytest.approx(0.0, abs=mi)
    # K (.) I = I and K (.) J = K
    assert info.mutual_information(K, I, alpha).item() == pytest.approx(info.entropy(K, alpha).item(), abs=mi)
    assert info.mutual_information(K, J, alpha).item() == pytest.approx(0.0, abs=mi)
    assert info.joint_entropy(K, I, alpha).item() == pytest.approx(math.log(n), abs=h)
    B = blocks(2, 3)  # B (.) B = B
    assert info.joint_entropy(B, B, alpha).item() == pytest.approx(renyi_of([0.4, 0.6], alpha), abs=h)
    assert info.mutual_information(B, B, alpha).item() == pytest.approx(renyi_of([0.4, 0.6], alpha), abs=mi)


def test_kl_divergence_closed_forms():
    n = 5
    I, J, K = torch.eye(n, dtype=F64), torch.ones(n, n, dtype=F64), corr(n, seed=4)
    assert info.kl_divergence(I, I).item() == 0.0  # exact: the eigendecomposition of I is exact, log 1 = 0
    # the KL divergence takes unnormalised eigenvalues (n times p): its two sums carry n entropies' round-off
    kl = 2 * n * spectral_tol(n)
    assert info.kl_divergence(J, J).item() == pytest.approx(0.0, abs=kl)
    assert info.kl_divergence(J, I).item() == pytest.approx(n * math.log(n), abs=kl)
    # Proposition 4.10, first identity
    assert info.kl_divergence(K, I).item() == pytest.approx(n * (math.log(n) - info.entropy(K).item()), abs=kl + n * spectral_tol(n))
    rho = 0.4
    lam = [1 + (n - 1) * rho] + [1 - rho] * (n - 1)
    assert info.kl_divergence(equicorr(n, rho), I).item() == pytest.approx(sum(x * math.log(x) for x in lam), abs=kl)
    # support conditions: supp I = R^n is not inside supp J (a line); supp B within supp of a finer block matrix
    assert info.kl_divergence(I, J).item() == math.inf
    assert info.kl_divergence(K, blocks(2, 3)).item() == math.inf
    assert math.isfinite(info.kl_divergence(blocks(2, 3), blocks(1, 1, 3)).item())
    assert info.kl_divergence(blocks(1, 1, 3), blocks(2, 3)).item() == math.inf


def test_js_divergence_closed_forms():
    n = 4
    I, J = torch.eye(n, dtype=F64), torch.ones(n, n, dtype=F64)
    K = corr(n, seed=5)
    js = 2 * spectral_tol(n)  # H((K1 + K2) / 2) - (H(K1) + H(K2)) / 2
    assert info.js_divergence(K, K).item() == pytest.approx(0.0, abs=js)
    # (I + J)/2 has eigenvalues (n + 1)/2 once and 1/2 (n - 1) times
    hm = renyi_of([(n + 1) / (2 * n)] + [1 / (2 * n)] * (n - 1), 1)
    assert info.js_divergence(I, J).item() == pytest.approx(hm - math.log(n) / 2, abs=js)
    # exactly symmetric: floating-point addition commutes, so both orders compute the same numbers
    assert info.js_divergence(J, I).item() == info.js_divergence(I, J).item()


def test_total_coding_rate_closed_forms():
    n = 5
    for mu in (1e-3, 0.5, 1.0, 7.0):
        # (rounding 1 + mu alone costs a relative eps / mu of log(1 + mu): an absolute tolerance)
        assert info.total_coding_rate(torch.eye(n, dtype=F64), mu).item() == pytest.approx(n * math.log1p(mu), abs=tcr_tol(n, 1.0))
        ref = math.log(mu + n) + (n - 1) * math.log(mu)  # eigenvalues mu + n and mu: condition (n + mu) / mu
        assert info.total_coding_rate(torch.ones(n, n, dtype=F64), mu).item() == pytest.approx(ref, abs=tcr_tol(n, (n + mu) / mu))
        lam = torch.tensor([3.0, 0.25, 0.0, 2.0, 9.0], dtype=F64)
        logs = torch.log(mu + lam)
        # a diagonal matrix factors exactly up to one sqrt per entry: only the sum of n logs accumulates
        assert info.total_coding_rate(torch.diag(lam), mu).item() == pytest.approx(logs.sum().item(), abs=roundoff(F64, n, scale=1 + logs.abs().sum().item()))
    assert info.total_coding_rate(torch.diag(torch.tensor([2.0, 3.0], dtype=F64)), 0).item() == pytest.approx(math.log(6), abs=roundoff(F64, 2, scale=1 + math.log(6)))
    # Proposition 4.10, second identity: TCR and the KL's log of (mu I + K) / (1 + mu), condition <= (n + mu) / mu
    K, mu = corr(n, seed=6), 0.7
    rhs = n * math.log1p(mu) - info.kl_divergence(torch.eye(n, dtype=F64), (mu * torch.eye(n, dtype=F64) + K) / (1 + mu)).item()
    assert info.total_coding_rate(K, mu).item() == pytest.approx(rhs, abs=2 * tcr_tol(n, (n + mu) / mu))


def test_effective_rank_closed_forms():
    # erank = exp(H): the round-off of H (spectral_tol, of the SVD of the larger side) is relative
    for n in (1, 3, 8):
        assert info.effective_rank(torch.eye(n, dtype=F64)).item() == pytest.approx(n, rel=spectral_tol(n))
        assert info.effective_rank(torch.ones(n, n, dtype=F64)).item() == pytest.approx(1.0, rel=spectral_tol(n))
    s = np.array([4.0, 3.0, 1.0])
    p = s / s.sum()
    ref = math.exp(-(p * np.log(p)).sum())
    assert info.effective_rank(torch.diag(torch.tensor([-3.0, 1.0, 4.0], dtype=F64))).item() == pytest.approx(ref, rel=spectral_tol(3))
    R = torch.zeros(3, 7, dtype=F64)
    R[0, 0], R[1, 4], R[2, 6] = 4.0, -3.0, 1.0  # rectangular, same singular values
    assert info.effective_rank(R).item() == pytest.approx(ref, rel=spectral_tol(7))
    assert info.effective_rank(R.T).item() == pytest.approx(ref, rel=spectral_tol(7))
    K = corr(6, seed=7)  # PSD with unit diagonal: erank = exp H_1 (Section 5)
    assert info.effective_rank(K).item() == pytest.approx(math.exp(info.entropy(K).item()), rel=2 * spectral_tol(6))


def test_spectrum_js_closed_forms():
    n = 4
    I, J = torch.eye(n, dtype=F64), torch.ones(n, n, dtype=F64)
    K = corr(n, seed=8)
    assert info.spectrum_js(K, K).item() == 0.0  # exact: the same spectrum twice gives d = 0 term by term
    # the spectrum only counts: a rotated copy and a rescaled copy have JS 0 (up to the spectra's round-off)
    Q, _ = torch.linalg.qr(torch.randn(n, n, dtype=F64, generator=torch.Generator().manual_seed(2)))
    assert info.spectrum_js(K, 3 * Q @ K @ Q.T).item() == pytest.approx(0.0, abs=spectral_tol(n))
    p1, p2 = np.full(n, 1 / n), np.array([0, 0, 0, 1.0])
    m = (p1 + p2) / 2
    ref = renyi_of(m, 1) - (renyi_of(p1, 1) + renyi_of(p2, 1)) / 2
    assert info.spectrum_js(I, J).item() == pytest.approx(ref, abs=spectral_tol(n))
    # disjoint supports reach log 2
    assert info.spectrum_js(torch.diag(torch.tensor([1.0, 0.0], dtype=F64)), torch.diag(torch.tensor([0.0, 1.0], dtype=F64))).item() == 0.0
    a = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=F64)
    assert info.spectrum_js(a, torch.eye(2, dtype=F64)).item() == pytest.approx(renyi_of([0.25, 0.75], 1) - math.log(2) / 2, abs=spectral_tol(2))


def test_spectrum_js_keeps_relative_accuracy_for_close_spectra():
    p1 = torch.tensor([0.2, 0.3, 0.5], dtype=F64)
    d = 1e-7
    p2 = p1 + torch.tensor([d, -d, 0.0], dtype=F64)
    with mpmath.workdps(DPS):
        a = [mpmath.mpf(float(x)) for x in p1]
        b = [mpmath.mpf(float(x)) for x in p2]
        ref = sum(0.5 * x * mpmath.log(2 * x / (x + y)) + 0.5 * y * mpmath.log(2 * y / (x + y)) for x, y in zip(a, b))
        # normalising by the trace rounds each p_i by ~eps p_i, a relative eps p_i / d of the differences
        # p1 - p2 = d, which JS (~ d^2) doubles; a difference of entropies would lose all of it (~eps / JS)
        close(info.spectrum_js(torch.diag(p1), torch.diag(p2)), ref, rel=roundoff(F64, 3, scale=p1.max().item() / d))


def test_grams_closed_forms():
    z = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]], dtype=F64)
    S = info.sample_gram(z)
    f = z / z.norm(dim=1, keepdim=True)
    assert S.shape == (4, 4)
    # dot products of d = 3 unit terms; S also has an exact unit diagonal and exact symmetry
    torch.testing.assert_close(S, f @ f.T, rtol=0, atol=roundoff(F64, 3))
    assert S[0, 2].item() == pytest.approx(0.6) and S[0, 3].item() == pytest.approx(-0.8) and S[1, 0].item() == 0
    C = info.feature_gram(z)  # columns normalised over the batch, not centred
    assert C.shape == (3, 3)
    zbar = z / torch.sqrt((z ** 2).sum(0, keepdim=True))
    for i in range(3):
        for j in range(3):
            # sums of B = 4 products of unit-norm columns, each normalised over the 4 samples
            assert C[i, j].item() == pytest.approx(float(sum(zbar[b, i] * zbar[b, j] for b in range(4))), abs=roundoff(F64, 4))
    assert C[0, 1].item() == pytest.approx(12 / (math.sqrt(10) * math.sqrt(17)), rel=roundoff(F64, 4))
    assert torch.equal(torch.diagonal(C), torch.ones(3, dtype=F64))  # the unit diagonal is set exactly
    # orthogonal samples give the identity, duplicated samples the all-ones matrix
    torch.testing.assert_close(info.sample_gram(torch.eye(4, dtype=F64) * 5), torch.eye(4, dtype=F64))
    torch.testing.assert_close(info.sample_gram(torch.ones(3, 2, dtype=F64)), torch.ones(3, 3, dtype=F64))
    # batched, numpy in, dtype out
    zb = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(info.sample_gram(zb)[1], info.sample_gram(zb[1]))
    assert info.feature_gram(zb.numpy()).dtype == torch.float32
    assert info.feature_gram(zb, dtype=F64).dtype == F64


# ----------------------------------------------------------------------------- 50-digit accuracy

WELL = [(4, 0), (6, 1), (8, 2)]  # (n, seed): factors n x 2n, condition numbers ~ 10


@pytest.mark.parametrize("n,seed", WELL)
def test_single_matrix_functions_against_mpmath(n, seed):
    X = factor(n, 2 * n, seed)
    K = torch.from_numpy(corr_np(X))
    with mpmath.workdps(DPS):
        A = mp_matrix(K)
        for alpha in (0.05, 0.5, 0.999, 1.0, 1.001, 2.0, 3.7, math.inf):
            close(info.entropy(K, alpha), mp_entropy(A, alpha))
        for mu in (0.0, 0.1, 1.0):
            close(info.total_coding_rate(K, mu), mpmath.log(mpmath.det(A + mu * mpmath.eye(n))))
        Xm = mp_matrix(X)
        s = mpmath.svd_r(Xm, compute_uv=False)
        p = [x / mpmath.fsum(s) for x in s]
        close(info.effective_rank(torch.from_numpy(X)), mpmath.exp(-mpmath.fsum(x * mpmath.log(x) for x in p)))


@pytest.mark.parametrize("n,seed", WELL)
def test_pair_functions_against_mpmath(n, seed):
    K1 = corr(n, seed=seed)
    K2 = torch.from_numpy(corr_np(factor(n, 2 * n, seed) + 0.7 * factor(n, 2 * n, seed + 100)))
    with mpmath.workdps(DPS):
        A, B = mp_matrix(K1), mp_matrix(K2)
        C = mp_hadamard(A, B)
        for alpha in (0.5, 1.0, 2.0, math.inf):
            hc = mp_entropy(C, alpha)
            close(info.joint_entropy(K1, K2, alpha), hc)
            close(info.mutual_information(K1, K2, alpha), mp_entropy(A, alpha) + mp_entropy(B, alpha) - hc)
        close(info.kl_divergence(K1, K2), mp_trace(A * (mp_logm_psd(A) - mp_logm_psd(B))))
        close(info.kl_divergence(K2, K1), mp_trace(B * (mp_logm_psd(B) - mp_logm_psd(A))))
        M = (A + B) / 2
        close(info.js_divergence(K1, K2), mp_entropy(M, 1) - (mp_entropy(A, 1) + mp_entropy(B, 1)) / 2)
        la, lb = sorted(mp_eigh(A)[0]), sorted(mp_eigh(B)[0])
        p1, p2 = [x / mpmath.fsum(la) for x in la], [x / mpmath.fsum(lb) for x in lb]
        def h(p):
            return -mpmath.fsum(x * mpmath.log(x) for x in p if x > 0)
        ref = h([(x + y) / 2 for x, y in zip(p1, p2)]) - (h(p1) + h(p2)) / 2
        close(info.spectrum_js(K1, K2), ref, rel=1e-9)  # JS ~ 1e-3: a difference of entropies in the reference


@pytest.mark.parametrize("n,r,seed", [(6, 2, 0), (8, 3, 1), (7, 1, 2)])
def test_rank_deficient_inputs_match_the_exact_rank_reference(n, r, seed):
    """Round-off eigenvalues (~1e-16, of either sign) must not count: compare with the exact-rank matrix."""
    X = factor(n, r, seed)
    K = torch.from_numpy(corr_np(X))
    with mpmath.workdps(DPS):
        A = mp_corr(X)
        for alpha in (0.01, 0.5, 1.0, 2.0, math.inf):
            close(info.entropy(K, alpha), mp_entropy(A, alpha), rel=1e-9, abs_=spectral_tol(n))  # rank 1: H = 0
        close(info.effective_rank(K), mpmath.exp(mp_entropy(A, 1)), rel=1e-9)
        close(info.total_coding_rate(K, 0.5), mpmath.log(mpmath.det(A + mpmath.mpf(0.5) * mpmath.eye(n))))
    # small alpha tends to the Hartley entropy log rank, not log n
    assert info.entropy(K, 1e-6).item() == pytest.approx(math.log(r), abs=1e-4)
    # H_1 <= log rank (Proposition 4.7) and gradients stay finite
    Kg = K.clone().requires_grad_()
    for alpha in (0.05, 1.0, 2.0):
        h = info.entropy(Kg, alpha)
        assert h.item() <= math.log(r) + 1e-12
        (g,) = torch.autograd.grad(h, Kg)
        assert torch.isfinite(g).all()
    assert math.isfinite(info.kl_divergence(K, torch.eye(n, dtype=F64)).item())
    assert info.kl_divergence(K, K).item() == pytest.approx(0.0, abs=1e-10)


def test_rank_deficient_float32_gram_is_accepted_and_clipped():
    z = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))  # B = 64 samples in d = 4
    S = info.sample_gram(z)  # float32, rank 4, 60 round-off eigenvalues ~1e-7
    assert S.dtype == torch.float32
    h0 = info.entropy(S, 1e-4)
    assert h0.dtype == torch.float32 and h0.item() == pytest.approx(math.log(4), abs=1e-2)
    # float32 entries of dot products of d = 4 unit terms are off by ~4 eps32; they move each of the
    # 4 kept p_i = lambda_i / B by ~4 eps32 (||E|| <= B max |E_ij|), at slopes <= 1 + log B
    tol = roundoff(torch.float32, 4 * 4, scale=1 + math.log(64))
    assert info.entropy(S).item() == pytest.approx(info.entropy(info.sample_gram(z.double())).item(), abs=tol)
    with pytest.raises(ValueError, match="not positive semi-definite"):  # float32 round-off is not float64 round-off
        info.entropy(S.double())


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_grams_of_large_collapsed_batches_pass_validation(dtype):
    """Entries summed over B = 8192 samples carry ~sqrt(B) eps of round-off; rank 2 of d = 8."""
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(8192, 2, dtype=F64, generator=g) @ torch.randn(2, 8, dtype=F64, generator=g)).to(dtype)
    K = info.feature_gram(z)
    assert torch.equal(torch.diagonal(K), torch.ones(8, dtype=dtype)) and torch.equal(K, K.T)
    assert info.entropy(K, 1e-6).item() == pytest.approx(math.log(2), abs=1e-4)  # round-off eigenvalues clipped
    mi = info.mutual_information(K, K).item()
    # K * K rounded to dtype entry by entry (||E|| <= d eps) moves each of the d p_i by <= eps
    assert mi == pytest.approx(2 * info.entropy(K).item() - info.entropy(K * K).item(), abs=roundoff(dtype, 8, scale=1 + math.log(8)))
    S = info.sample_gram(z[:512])
    assert info.entropy(S, 1e-6).item() == pytest.approx(math.log(2), abs=1e-4)


# ----------------------------------------------------------------------------- limits in alpha

@pytest.mark.parametrize("seed", [0, 1])
def test_alpha_limits_agree_with_special_cases(seed):
    K = corr(7, 3, seed=seed)  # rank deficient on purpose
    h1 = info.entropy(K, 1.0).item()
    for delta in (1e-3, 1e-6, 1e-9, 1e-12, 1e-15):
        for a in (1 - delta, 1 + delta):
            assert abs(info.entropy(K, a).item() - h1) <= 1e-8 + 10 * delta  # Lipschitz: no cliff at 1
    assert abs(info.entropy(K, 1 + 1e-9).item() - h1) <= 1e-8
    hinf = info.entropy(K, math.inf).item()
    assert abs(info.entropy(K, 1e10).item() - hinf) <= 1e-8
    assert info.entropy(K, 1e300).item() == pytest.approx(hinf, rel=1e-14)  # no overflow of alpha * log p
    assert abs(info.entropy(K, 1e3).item() - hinf) <= 1e-2
    K2 = corr(7, seed=seed + 10)
    for f in (info.mutual_information, info.joint_entropy):
        assert abs(f(K, K2, 1 + 1e-9).item() - f(K, K2, 1.0).item()) <= 1e-8
        assert abs(f(K, K2, 1e10).item() - f(K, K2, math.inf).item()) <= 1e-8


def test_entropy_is_smooth_across_internal_branch_points():
    K = corr(6, seed=3)
    for a in (0.5, 1.5):  # the evaluation switches formula here
        lo, hi = info.entropy(K, a - 1e-12).item(), info.entropy(K, a + 1e-12).item()
        assert abs(hi - lo) <= 1e-12
    grid = np.linspace(0.2, 3.0, 57)
    h = np.array([info.entropy(K, a).item() for a in grid])
    assert np.all(np.diff(h) < 0)  # strictly decreasing in alpha for a non-uniform spectrum
    assert np.max(np.abs(np.diff(h, 2))) < 1e-2  # and without jumps


# ----------------------------------------------------------------------------- gradients

def _wc(n, seed):
    return corr(n, seed=seed).requires_grad_()


@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.999, 1.0, 1.2, 2.0, math.inf])
def test_gradcheck_entropy(alpha):
    K = _wc(5, 0)
    assert torch.autograd.gradcheck(lambda k: info.entropy(k, alpha, validate=False), (K,))


def test_gradcheck_total_coding_rate_and_closed_form_gradient():
    K = _wc(5, 1)
    for mu in (0.0, 0.5):
        assert torch.autograd.gradcheck(lambda k: info.total_coding_rate(k, mu, validate=False), (K,))
    (g,) = torch.autograd.grad(info.total_coding_rate(K, 0.5), K)  # d logdet(mu I + K) = (mu I + K)^-1
    torch.testing.assert_close(g, torch.linalg.inv(0.5 * torch.eye(5, dtype=F64) + K.detach()))


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_gradcheck_mutual_information_and_joint_entropy(alpha):
    K1, K2 = _wc(5, 2), _wc(5, 3)
    assert torch.autograd.gradcheck(lambda a, b: info.mutual_information(a, b, alpha, validate=False), (K1, K2))
    assert torch.autograd.gradcheck(lambda a, b: info.joint_entropy(a, b, alpha, validate=False), (K1, K2))


def test_gradcheck_divergences_and_effective_rank():
    K1, K2 = _wc(5, 4), _wc(5, 5)
    kw = dict(validate=False)
    assert torch.autograd.gradcheck(lambda a, b: info.kl_divergence(a, b, **kw), (K1, K2))
    assert torch.autograd.gradcheck(lambda a, b: info.js_divergence(a, b, **kw), (K1, K2))
    assert torch.autograd.gradcheck(lambda a, b: info.spectrum_js(a, b, **kw), (K1, K2))
    A = torch.randn(4, 6, dtype=F64, generator=torch.Generator().manual_seed(0)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: info.effective_rank(a, **kw), (A,))


def test_gradcheck_kl_with_broadcast_batches():
    K1 = torch.stack([corr(4, seed=s) for s in range(3)]).requires_grad_()
    K2 = _wc(4, 9)
    f = lambda a, b: info.kl_divergence(a, b, validate=False)
    assert torch.autograd.gradcheck(f, (K1, K2))
    assert torch.autograd.gradcheck(f, (K2, K1))


def test_kl_gradient_at_repeated_eigenvalues_of_the_second_argument():
    """KL(K || I) and KL(K || K2) with a degenerate K2: the divided-difference backward stays finite."""
    I = torch.eye(5, dtype=F64, requires_grad=True)
    K = _wc(5, 6)
    assert torch.autograd.gradcheck(lambda a, b: info.kl_divergence(a, b, validate=False), (K, I))
    # d/dK2 tr(K1 log K2) at K2 = I is K1 (the Frechet derivative of log at I is the identity map)
    (g,) = torch.autograd.grad(info.kl_divergence(K, I), I)
    torch.testing.assert_close(g, -K.detach())


def test_gradients_are_finite_at_the_identity_and_all_ones():
    for K in (torch.eye(4, dtype=F64), torch.ones(4, 4, dtype=F64), blocks(1, 3)):
        K = K.clone().requires_grad_()
        for alpha in (0.5, 1.0, 2.0, math.inf):
            (g,) = torch.autograd.grad(info.entropy(K, alpha), K)
            assert torch.isfinite(g).all()
        (g,) = torch.autograd.grad(info.total_coding_rate(K, 1.0), K)
        assert torch.isfinite(g).all()


# ----------------------------------------------------------------------------- dtypes, batching, cost

def test_dtypes_numpy_and_devices_of_results():
    K = corr(5, seed=0)
    h = info.entropy(K)
    h32 = info.entropy(K.float())
    assert h32.dtype == torch.float32 and h.dtype == F64
    # the spectrum is computed in float64 even for float32 input
    assert h32.item() == info.entropy(K.float().double()).float().item()
    assert info.entropy(K.float(), dtype=F64).dtype == F64
    assert info.entropy(K, dtype=torch.float32).dtype == torch.float32
    hn = info.entropy(K.numpy())
    assert isinstance(hn, torch.Tensor) and hn.dtype == F64 and hn.item() == h.item()
    assert info.entropy(torch.eye(3, dtype=torch.int64)).dtype == F64
    assert info.entropy(torch.eye(3).tolist()).item() == pytest.approx(math.log(3))
    assert info.mutual_information(K.float(), K).dtype == F64  # promotion
    assert info.entropy(K.to(torch.bfloat16)).dtype == torch.bfloat16
    h_fast = info.entropy(K, compute_dtype=torch.float32)
    assert h_fast.dtype == F64 and h_fast.item() == pytest.approx(h.item(), abs=spectral_tol(5, torch.float32))


def test_batching_and_broadcasting():
    Ks = torch.stack([torch.stack([corr(5, seed=3 * i + j) for j in range(3)]) for i in range(2)])  # (2, 3, 5, 5)
    I = torch.eye(5, dtype=F64)
    X = torch.randn(2, 3, 5, 4, dtype=F64, generator=torch.Generator().manual_seed(0))
    single = {
        "entropy": lambda K: info.entropy(K, 2.0),
        "tcr": lambda K: info.total_coding_rate(K, 0.5),
        "erank": info.effective_rank,
        "mi": lambda K: info.mutual_information(K, Ks[0, 0]),
        "joint": lambda K: info.joint_entropy(Ks[1, 2], K),
        "kl": lambda K: info.kl_divergence(K, Ks[0, 1]),
        "kl_rev": lambda K: info.kl_divergence(Ks[0, 1], K),
        "js": lambda K: info.js_divergence(K, I),
        "sjs": lambda K: info.spectrum_js(I, K),
    }
    for name, f in single.items():
        batched = f(Ks)
        assert batched.shape == (2, 3), name
        loop = torch.stack([torch.stack([f(Ks[i, j]) for j in range(3)]) for i in range(2)])
        torch.testing.assert_close(batched, loop, rtol=1e-12, atol=1e-12, msg=name)
    assert info.effective_rank(X).shape == (2, 3)
    assert info.sample_gram(X).shape == (2, 3, 5, 5) and info.feature_gram(X).shape == (2, 3, 4, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    K1, K2 = corr(16, seed=0), corr(16, seed=1)
    for f in (lambda a, b: info.entropy(a, 0.5), info.mutual_information, info.kl_divergence, info.js_divergence,
              info.spectrum_js, lambda a, b: info.total_coding_rate(a, 1.0), lambda a, b: info.effective_rank(a)):
        got = f(K1.cuda(), K2.cuda())
        assert got.device.type == "cuda"
        assert got.item() == pytest.approx(f(K1, K2).item(), rel=1e-10, abs=1e-12)
    got32 = info.entropy(K1.float().cuda())
    # the float32 input's rounding (||E|| <= eps32 ||K||_F <= n eps32) moves each p_i by <= eps32
    assert got32.dtype == torch.float32 and got32.item() == pytest.approx(info.entropy(K1).item(), abs=roundoff(torch.float32, 16, scale=1 + math.log(16)))


def test_one_decomposition_per_matrix(monkeypatch):
    calls = {}
    for name in ("eigvalsh", "eigh", "cholesky_ex", "svdvals", "eig", "matrix_exp", "matrix_power"):
        real = getattr(torch.linalg, name)
        def counted(*a, _real=real, _name=name, **k):
            calls[_name] = calls.get(_name, 0) + 1
            return _real(*a, **k)
        monkeypatch.setattr(torch.linalg, name, counted)
    K1, K2 = corr(6, seed=0), corr(6, seed=1)
    expected = [
        (lambda: info.entropy(K1), {"eigvalsh": 1}),
        (lambda: info.mutual_information(K1, K2), {"eigvalsh": 3}),
        (lambda: info.joint_entropy(K1, K2, validate=False), {"eigvalsh": 1}),
        (lambda: info.joint_entropy(K1, K2), {"eigvalsh": 1, "cholesky_ex": 2}),
        (lambda: info.js_divergence(K1, K2), {"eigvalsh": 3}),
        (lambda: info.kl_divergence(K1, K2), {"eigvalsh": 1, "eigh": 1}),
        (lambda: info.spectrum_js(K1, K2), {"eigvalsh": 2}),
        (lambda: info.total_coding_rate(K1, 1.0, validate=False), {"cholesky_ex": 1}),
        (lambda: info.effective_rank(K1), {"svdvals": 1}),
    ]
    for f, want in expected:
        calls.clear()
        f()
        assert calls == want


# ----------------------------------------------------------------------------- bad input

NOT_PSD = torch.tensor([[1.0, 1.31], [1.31, 1.0]], dtype=F64)  # eigenvalues 2.31 and -0.31
ASYM = torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=F64)
I2 = torch.eye(2, dtype=F64)
NAN = torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]], dtype=F64)
INF = torch.tensor([[1.0, float("inf")], [float("inf"), 1.0]], dtype=F64)

BAD = [
    (lambda: info.entropy(NOT_PSD), "K is not positive semi-definite: smallest eigenvalue -0.31"),
    (lambda: info.entropy(torch.stack([I2, NOT_PSD])), "K is not positive semi-definite: smallest eigenvalue -0.31 (batch index (1,))"),
    (lambda: info.entropy(ASYM), "K is not symmetric: max |K - K^T| = 0.5"),
    (lambda: info.entropy(2 * I2), "K does not have a unit diagonal (Section 3.1): max |diag - 1| = 1"),
    (lambda: info.entropy(NAN), "K has non-finite entries: nan"),
    (lambda: info.entropy(INF), "K has non-finite entries: inf"),
    (lambda: info.entropy(I2, 0), "alpha must be > 0 (Definition 3.1), got 0.0"),
    (lambda: info.entropy(I2, -1.5), "alpha must be > 0 (Definition 3.1), got -1.5"),
    (lambda: info.entropy(I2, math.nan), "alpha must be > 0 (Definition 3.1), got nan"),
    (lambda: info.entropy(I2, "two"), "alpha must be a positive number or math.inf, got 'two'"),
    (lambda: info.mutual_information(I2, I2, -1), "alpha must be > 0 (Definition 3.1), got -1.0"),
    (lambda: info.entropy(torch.zeros(0, 0)), "K is empty: shape (0, 0)"),
    (lambda: info.entropy(torch.zeros(0, 3, 3)), "K is empty: shape (0, 3, 3)"),
    (lambda: info.entropy(torch.ones(3)), "K must be a square matrix (..., n, n) or a batch of them, got shape (3,)"),
    (lambda: info.entropy(torch.ones(2, 3)), "K must be a square matrix (..., n, n) or a batch of them, got shape (2, 3)"),
    (lambda: info.entropy(torch.eye(2, dtype=torch.complex128)), "K must be real, got dtype torch.complex128"),
    (lambda: info.entropy({"a": 1}), "K must be a tensor or an array of numbers, got dict"),
    (lambda: info.mutual_information(I2, torch.eye(3)), "K1 and K2 must have the same size, got shapes (2, 2) and (3, 3)"),
    (lambda: info.kl_divergence(torch.eye(2).expand(2, 2, 2), torch.eye(2).expand(3, 2, 2)), "K1 and K2 batch shapes do not broadcast: (2, 2, 2) and (3, 2, 2)"),
    (lambda: info.mutual_information(NOT_PSD, I2), "K1 is not positive semi-definite: smallest eigenvalue -0.31"),
    (lambda: info.mutual_information(I2, NOT_PSD), "K2 is not positive semi-definite: smallest eigenvalue -0.31"),
    (lambda: info.joint_entropy(I2, NOT_PSD), "K2 is not positive semi-definite: smallest eigenvalue -0.31"),
    (lambda: info.joint_entropy(I2, ASYM), "K2 is not symmetric: max |K2 - K2^T| = 0.5"),
    (lambda: info.kl_divergence(I2, NOT_PSD), "K2 is not positive semi-definite: smallest eigenvalue -0.31"),
    (lambda: info.kl_divergence(2 * I2, I2), "K1 does not have a unit diagonal (Section 3.1): max |diag - 1| = 1"),
    (lambda: info.js_divergence(I2, NAN), "K2 has non-finite entries: nan"),
    (lambda: info.total_coding_rate(I2, -1), "mu must be a finite number >= 0 (Definition 4.8), got -1.0"),
    (lambda: info.total_coding_rate(I2, math.inf), "mu must be a finite number >= 0 (Definition 4.8), got inf"),
    (lambda: info.total_coding_rate(I2, None), "mu must be a non-negative number, got None"),
    (lambda: info.total_coding_rate(NOT_PSD, 1.0), "K is not positive semi-definite: smallest eigenvalue -0.31"),
    (lambda: info.total_coding_rate(torch.ones(2, 2, dtype=F64), 0), "K is not positive definite, which mu = 0 requires: smallest eigenvalue"),
    (lambda: info.total_coding_rate(torch.ones(2, 3), 1.0), "K must be a square matrix (..., n, n) or a batch of them, got shape (2, 3)"),
    (lambda: info.effective_rank(torch.zeros(3, 2)), "A is the zero matrix (Definition 5.1 needs a non-zero one): largest singular value 0"),
    (lambda: info.effective_rank(torch.ones(3)), "A must be a matrix (..., m, n) or a batch of them, got shape (3,)"),
    (lambda: info.effective_rank(torch.zeros(2, 0)), "A is empty: shape (2, 0)"),
    (lambda: info.effective_rank(NAN), "A has non-finite entries: nan"),
    (lambda: info.spectrum_js(torch.zeros(2, 2), I2), "K1 is the zero matrix: largest eigenvalue 0"),
    (lambda: info.spectrum_js(I2, NOT_PSD), "K2 is not positive semi-definite: smallest eigenvalue -0.31"),
    (lambda: info.sample_gram(torch.tensor([[1.0, 0.0], [0.0, 0.0]])), "z has an all-zero row, which cannot be l2-normalised: row 1"),
    (lambda: info.feature_gram(torch.tensor([[1.0, 0.0], [2.0, 0.0]])), "z has an all-zero column, which cannot be l2-normalised: column 1"),
    (lambda: info.sample_gram(torch.ones(4)), "z must be a matrix (..., m, n) or a batch of them, got shape (4,)"),
    (lambda: info.sample_gram(torch.tensor([[1.0, math.inf]])), "z has non-finite entries: inf"),
]


@pytest.mark.parametrize("call,message", BAD, ids=[m[:50] for _, m in BAD])
def test_bad_input_raises_value_error_naming_the_problem(call, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        call()


def test_validate_false_skips_data_checks_but_not_shape_checks():
    assert math.isfinite(info.entropy(ASYM, validate=False).item())
    assert math.isfinite(info.entropy(NOT_PSD, validate=False).item())  # the negative eigenvalue is clipped
    assert math.isnan(info.total_coding_rate(NOT_PSD, 0.1, validate=False).item())  # failed Cholesky -> NaN
    with pytest.raises(ValueError, match="alpha must be > 0"):
        info.entropy(I2, 0, validate=False)
    with pytest.raises(ValueError, match="same size"):
        info.js_divergence(I2, torch.eye(3), validate=False)


def test_validation_tolerance_scales_with_dtype():
    K = corr(6, seed=0)
    E = torch.zeros(6, 6, dtype=F64)
    E[0, 1] = E[1, 0] = 1e-6
    E[2, 2] = 1e-6
    with pytest.raises(ValueError):  # 1e-6 is far beyond float64 round-off...
        info.entropy(K + E)
    info.entropy((K + E).float())  # ...but within float32's


# ----------------------------------------------------------------------------- properties

@st.composite
def correlation_matrices(draw):
    """float64 correlation matrices of any size <= 8 and any rank, from badly scaled factors."""
    n = draw(st.integers(1, 8))
    r = draw(st.integers(1, 2 * n))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    X = factor(n, r, seed) * np.exp(draw(st.floats(-3, 3, width=32)))
    X[:, 0] *= np.exp(draw(st.floats(-4, 4, width=32)))
    return torch.from_numpy(corr_np(X)), min(n, r)


@given(correlation_matrices(), st.sampled_from([0.1, 0.5, 1.0, 2.0, math.inf]), st.sampled_from([torch.float32, F64]))
def test_valid_matrices_are_accepted_and_entropy_is_bounded_by_log_rank(Kr, alpha, dtype):
    K, rank = Kr[0].to(dtype), Kr[1]
    h = info.entropy(K, alpha).item()
    slack = 1e-9 if K.dtype == F64 else 1e-4
    assert -slack <= h <= math.log(rank) + slack
    assert info.entropy(K, math.inf).item() - slack <= h <= info.entropy(K, 0.05).item() + slack  # monotone in alpha


@given(correlation_matrices(), correlation_matrices())
def test_identities_between_the_quantities(K1r, K2r):
    K1, K2 = K1r[0], K2r[0]
    n = K1.shape[-1]
    h1 = info.entropy(K1).item()
    assert info.effective_rank(K1).item() == pytest.approx(math.exp(h1), rel=1e-9)
    assert info.kl_divergence(K1, torch.eye(n, dtype=F64)).item() == pytest.approx(n * (math.log(n) - h1), abs=1e-9)
    lam = torch.linalg.eigvalsh(K1).clamp_min(0)
    assert info.total_coding_rate(K1, 0.3).item() == pytest.approx(torch.log(0.3 + lam).sum().item(), abs=1e-9)
    if K2.shape == K1.shape:
        mi = info.mutual_information(K1, K2).item()
        assert -1e-9 <= mi <= math.log(n) + 1e-9  # Proposition 4.5
        # any spectrum here: kept p_i are >= ~eps (smaller ones are clipped), slopes <= 1 + log(1 / eps)
        js_tol = 2 * roundoff(F64, n * n, scale=1 + math.log(1 / torch.finfo(F64).eps))
        js = info.js_divergence(K1, K2).item()
        assert -js_tol <= js <= math.log(2) + js_tol
        # spectrum_js sums n non-negative terms <= log 2 in total; swapping the arguments reorders them
        sum_tol = roundoff(F64, n, scale=math.log(2))
        sjs = info.spectrum_js(K1, K2).item()
        assert 0 <= sjs <= math.log(2) + sum_tol
        assert sjs == pytest.approx(info.spectrum_js(K2, K1).item(), abs=sum_tol)


@pytest.mark.parametrize("lam, message", [
    ([0.5, -0.25, 1.0], "no PSD spectrum"),          # H_1 would be log of a negative mass: NaN
    ([0.0, 0.0, 0.0], "the zero matrix"),             # 0 / 0
    ([1.0, float("nan"), 2.0], "a NaN or an infinity"),
    ([1.0, float("inf"), 2.0], "a NaN or an infinity"),
])
def test_from_spectrum_functions_refuse_what_is_no_psd_spectrum(lam, message):
    lam = torch.tensor(lam, dtype=torch.float64)
    ok = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    for call in (lambda: info.entropy_from_spectrum(lam), lambda: info.entropy_from_spectrum(lam, 2.0),
                 lambda: info.mutual_information_from_spectra(ok, ok, lam), lambda: info.js_divergence_from_spectra(lam, ok, ok),
                 lambda: info.spectrum_js_from_spectra(ok, lam), lambda: info.effective_rank_from_gram_spectrum(lam)):
        with pytest.raises(ValueError, match=message):
            call()
    if message != "the zero matrix":  # log det(mu I + 0) is defined
        with pytest.raises(ValueError, match=message):
            info.total_coding_rate_from_spectrum(lam, 1.0)
    else:
        assert info.total_coding_rate_from_spectrum(lam, 2.0).item() == pytest.approx(3 * math.log(2.0), rel=roundoff(torch.float64, 3), abs=0)
