"""High-precision matrix information quantities, computed with mpmath alone (never mmae).

Everything here works at ``DPS`` = 60 significant digits unless ``dps`` is given, takes
square matrices as numpy arrays, nested lists, mpmath or sympy matrices (entries: ints,
floats -- converted exactly --, fractions, decimal strings, sympy rationals) and returns
mpmath numbers.  Spectra come from ``mpmath.eigsy`` (symmetric Jacobi), so no float64
round-off enters a margin.

Notation (Definition 3.1): for an n x n PSD K, H_alpha(K) = log tr((K/n)^alpha) / (1 - alpha),
alpha = 1 the von Neumann limit -tr(K/n log K/n), alpha = inf the limit -log lambda_max(K/n),
alpha = 0 the Hartley limit log rank(K).

Importing this module sets mpmath's global precision to DPS digits, so that margins computed
from the returned numbers keep their precision.
"""
from __future__ import annotations

import math
from fractions import Fraction

import mpmath
from mpmath import mp, mpf

DPS = 60
# Arithmetic on the returned numbers happens at the global precision, so the proofs run at
# DPS digits throughout (importing this module sets it); ``hp(d)`` raises it locally.
mp.dps = DPS


def hp(dps: int = DPS):
    """Context manager: ``with hp(80): ...`` computes at 80 significant digits."""
    return mp.workdps(dps)


def _tol(dps: int):
    return mpf(10) ** (-(dps - 12))


def to_mpf(x):
    """Exact conversion of a scalar to mpf at the current precision."""
    if isinstance(x, (mpf, int)) and not isinstance(x, bool):
        return mpf(x)
    if isinstance(x, Fraction):
        return mpf(x.numerator) / x.denominator
    if isinstance(x, float):
        return mpf(x)  # binary64 -> exact mpf
    if isinstance(x, str):
        if "/" in x:
            p, q = x.split("/")
            return mpf(int(p)) / int(q)
        return mpf(x)
    try:  # sympy numbers and numpy scalars
        import sympy

        if isinstance(x, sympy.Basic):
            if x.is_Rational:
                return mpf(int(x.p)) / int(x.q)
            return mpf(sympy.N(x, mp.dps + 10))
    except ImportError:  # pragma: no cover
        pass
    return mpf(float(x)) if not hasattr(x, "item") else to_mpf(x.item())


def matrix(A):
    """An mpmath matrix from any 2-D array-like (entries converted exactly)."""
    if isinstance(A, mpmath.matrix):
        return A.copy()
    if hasattr(A, "tolist"):
        A = A.tolist()
    elif hasattr(A, "shape") and hasattr(A, "__getitem__") and not isinstance(A, list):  # sympy
        A = [[A[i, j] for j in range(A.shape[1])] for i in range(A.shape[0])]
    rows = [[to_mpf(x) for x in row] for row in A]
    return mpmath.matrix(rows)


PSD_TOL = mpf("1e-12")  # float64 inputs are symmetric / PSD only up to round-off


def _square_symmetric(K, what="matrix"):
    K = matrix(K)
    if K.rows != K.cols:
        raise ValueError(f"{what} must be square, got {K.rows}x{K.cols}")
    n = K.rows
    scale = max([abs(K[i, j]) for i in range(n) for j in range(n)] + [mpf(1)])
    for i in range(n):
        for j in range(i + 1, n):
            if abs(K[i, j] - K[j, i]) > PSD_TOL * scale:
                raise ValueError(f"{what} must be symmetric, entry ({i},{j}) differs by {K[i, j] - K[j, i]}")
            K[i, j] = K[j, i] = (K[i, j] + K[j, i]) / 2  # exact for exactly symmetric input
    return K


def eigh(K, dps: int = DPS):
    """(eigenvalues ascending, eigenvector matrix Q with K = Q diag(E) Q^T)."""
    with mp.workdps(dps):
        K = _square_symmetric(K)
        E, Q = mpmath.eigsy(K)
        order = sorted(range(K.rows), key=lambda i: E[i])
        Es = [E[i] for i in order]
        Qs = mpmath.matrix(K.rows, K.rows)
        for c, i in enumerate(order):
            for r in range(K.rows):
                Qs[r, c] = Q[r, i]
        return Es, Qs


def eigvalsh(K, dps: int = DPS):
    """Eigenvalues of a symmetric matrix, ascending, as mpf at ``dps`` digits."""
    with mp.workdps(dps):
        K = _square_symmetric(K)
        E = mpmath.eigsy(K, eigvals_only=True)
        return sorted(E[i] for i in range(K.rows))


def is_exact(K) -> bool:
    """True unless K holds float64 numbers (a numpy float array or floats in nested lists).
    mpmath matrices count as exact: they were computed at DPS digits."""
    if hasattr(K, "dtype"):
        return K.dtype.kind not in "fc"
    if isinstance(K, (list, tuple)):
        return not any(isinstance(x, float) for row in K for x in (row if isinstance(row, (list, tuple)) else [row]))
    return True


def psd_spectrum(K, dps: int = DPS, psd_tol=None):
    """Eigenvalues of a PSD matrix, ascending, with |lambda| <= tol * scale set to exactly 0.

    tol is 1e-(dps-12) for exact input (rationals, mp matrices) and PSD_TOL = 1e-12 for float64
    input, whose rank deficiency is only known up to round-off (a float64 rounding of a rank-r
    matrix has eigenvalues ~1e-16 where the exact one has zeros; they matter for alpha < 1).
    A more negative eigenvalue raises ValueError."""
    with mp.workdps(dps):
        tol = (_tol(dps) if is_exact(K) else PSD_TOL) if psd_tol is None else to_mpf(psd_tol)
        E = eigvalsh(K, dps)
        scale = max(abs(E[0]), abs(E[-1]), mpf(1))
        if E[0] < -tol * scale:
            raise ValueError(f"matrix is not PSD: smallest eigenvalue {mpmath.nstr(E[0], 10)}")
        return [e if e > tol * scale else mpf(0) for e in E]


def _alpha(alpha):
    if alpha in (math.inf, mpmath.inf) or (isinstance(alpha, str) and alpha == "inf"):
        return mpmath.inf
    a = to_mpf(alpha)
    if a < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    return a


def renyi_from_spectrum(p, alpha, dps: int = DPS, zero_tol=None):
    """Renyi entropy of a nonnegative vector p (a spectrum, usually summing to 1):
    log(sum p^alpha) / (1 - alpha); alpha=1 Shannon, alpha=inf -log max p, alpha=0 log #support."""
    with mp.workdps(dps):
        p = [to_mpf(x) for x in p]
        if any(x < 0 for x in p):
            raise ValueError(f"spectrum must be nonnegative, got {min(p)}")
        a = _alpha(alpha)
        if a == mpmath.inf:
            return -mpmath.log(max(p))
        if a == 1:
            return -mpmath.fsum(x * mpmath.log(x) for x in p if x > 0)
        if a == 0:
            tol = _tol(dps) if zero_tol is None else to_mpf(zero_tol)
            return mpmath.log(sum(1 for x in p if x > tol))
        total = mpmath.fsum(p)
        if abs(total - 1) < mpf(10) ** -30 and abs(a - 1) < mpf(1) / 4:
            # A density (sum 1 up to round-off) and alpha near 1: log sum q^a =
            # log1p(sum q (q^(a-1) - 1)) with q = p / sum p, so that the round-off in sum p is not
            # divided by the small 1 - a.  (Far from 1 the direct formula is the accurate one.)
            q = [x / total for x in p if x > 0]
            s1 = mpmath.fsum(x * mpmath.expm1((a - 1) * mpmath.log(x)) for x in q)
            return mpmath.log1p(s1) / (1 - a)
        return mpmath.log(mpmath.fsum(x ** a for x in p if x > 0)) / (1 - a)


def normalised_spectrum(K, dps: int = DPS, psd_tol=None):
    """Spectrum of K / n (n = size), the density of Definition 3.1."""
    with mp.workdps(dps):
        E = psd_spectrum(K, dps, psd_tol)
        n = len(E)
        return [e / n for e in E]


def entropy(K, alpha=1, dps: int = DPS, psd_tol=None):
    """H_alpha(K) of Definition 3.1 (any alpha >= 0, including 1 and inf)."""
    with mp.workdps(dps):
        return renyi_from_spectrum(normalised_spectrum(K, dps, psd_tol), alpha, dps)


EPS64 = 2.0 ** -52  # float64 machine epsilon


def float64_entropy_error(K, alpha, dps: int = DPS) -> float:
    """How far a float64 evaluation of H_alpha(K) may be from the exact value: its round-off.

    A float64 computation sees K rounded entry by entry and factors it with a backward-stable
    eigensolver, i.e. it gets the eigenvalues of K + E with ||E|| ~ n eps lambda_max, so each
    p_i = lambda_i / n moves by ~eps lambda_max, along the simplex (p is normalised by its sum).
    To first order H_alpha then moves by eps lambda_max sum_i |dH/dp_i - c| (c removes the
    component along (1, ..., 1)), evaluated here at the exact spectrum; summing the n terms of
    the formula adds ~n eps (1 + |H|).  The result is 4 eps times that.  For a nearly singular K
    and alpha < 1 it is large: p_i^alpha amplifies the rounding of K itself by alpha / p_i^(1 - alpha).
    Exact zero eigenvalues are zero in both computations (float64 clips its round-off ones)."""
    with mp.workdps(dps):
        lam = psd_spectrum(K, dps)
        n, top = len(lam), max(lam)
        p = [x / mpmath.fsum(lam) for x in lam if x > 0]
        a = _alpha(alpha)
        h = renyi_from_spectrum(p, a, dps)
        if a == mpmath.inf:
            slopes = (len(p) - 1) + (1 / max(p) - 1)
        elif a == 1:
            slopes = mpmath.fsum(abs(mpmath.log(x) + h) for x in p)
        else:
            s = mpmath.fsum(x ** a for x in p)
            slopes = abs(a / (1 - a)) * mpmath.fsum(abs(x ** (a - 1) / s - 1) for x in p)
        return float(4 * EPS64 * (top * slopes + n * (1 + abs(h))))


def hadamard(A, B):
    A, B = matrix(A), matrix(B)
    if (A.rows, A.cols) != (B.rows, B.cols):
        raise ValueError(f"shapes differ: {A.rows}x{A.cols} vs {B.rows}x{B.cols}")
    C = mpmath.matrix(A.rows, A.cols)
    for i in range(A.rows):
        for j in range(A.cols):
            C[i, j] = A[i, j] * B[i, j]
    return C


def joint_entropy(K1, K2, alpha=1, dps: int = DPS):
    """Definition 3.3: H_alpha(K1 o K2)."""
    with mp.workdps(dps):
        tol = None if (is_exact(K1) and is_exact(K2)) else PSD_TOL
        return entropy(hadamard(K1, K2), alpha, dps, tol)


def mutual_information(K1, K2, alpha=1, dps: int = DPS):
    """Definition 3.2: H_alpha(K1) + H_alpha(K2) - H_alpha(K1 o K2)."""
    with mp.workdps(dps):
        return entropy(K1, alpha, dps) + entropy(K2, alpha, dps) - joint_entropy(K1, K2, alpha, dps)


def frobenius_sq(A, dps: int = DPS):
    with mp.workdps(dps):
        A = matrix(A)
        return mpmath.fsum(A[i, j] ** 2 for i in range(A.rows) for j in range(A.cols))


def frobenius(A, dps: int = DPS):
    with mp.workdps(dps):
        return mpmath.sqrt(frobenius_sq(A, dps))


def trace(A, dps: int = DPS):
    with mp.workdps(dps):
        A = matrix(A)
        return mpmath.fsum(A[i, i] for i in range(A.rows))


def logdet(A, dps: int = DPS):
    """log det of a symmetric positive definite matrix (ValueError when not positive definite)."""
    with mp.workdps(dps):
        E = eigvalsh(A, dps)
        if E[0] <= 0:
            raise ValueError(f"log det needs a positive definite matrix, smallest eigenvalue {mpmath.nstr(E[0], 10)}")
        return mpmath.fsum(mpmath.log(e) for e in E)


def tcr(K, mu, dps: int = DPS):
    """Definition 4.8 as printed: log det(mu I + K)."""
    with mp.workdps(dps):
        K = matrix(K)
        return logdet(K + to_mpf(mu) * mpmath.eye(K.rows), dps)


def matrix_function(K, f, dps: int = DPS):
    """Q diag(f(lambda)) Q^T for a symmetric K."""
    with mp.workdps(dps):
        E, Q = eigh(K, dps)
        D = mpmath.diag([f(e) for e in E])
        return Q * D * Q.T


def kl_spectra(p, q, dps: int = DPS):
    """sum p log(p / q) over the support of p; +inf when q vanishes where p does not."""
    with mp.workdps(dps):
        p, q = [to_mpf(x) for x in p], [to_mpf(x) for x in q]
        if len(p) != len(q):
            raise ValueError(f"spectra have different lengths {len(p)} and {len(q)}")
        total = mpf(0)
        for a, b in zip(p, q):
            if a > 0:
                if b <= 0:
                    return mpmath.inf
                total += a * mpmath.log(a / b)
        return total


def matrix_kl(A, B, dps: int = DPS, zero_tol=None):
    """Quantum relative entropy tr[A (log A - log B)] of PSD A, B, via the two eigenbases:
    sum_ij a_i (log a_i - log b_j) <u_i, v_j>^2; +inf when range(A) is not inside range(B)."""
    with mp.workdps(dps):
        tol = _tol(dps) if zero_tol is None else to_mpf(zero_tol)
        a, U = eigh(A, dps)
        b, V = eigh(B, dps)
        n = len(a)
        total = mpf(0)
        for i in range(n):
            if a[i] <= tol:
                continue
            for j in range(n):
                w = mpmath.fsum(U[k, i] * V[k, j] for k in range(n)) ** 2
                if w <= tol:
                    continue
                if b[j] <= tol:
                    return mpmath.inf
                total += a[i] * w * (mpmath.log(a[i]) - mpmath.log(b[j]))
        return total


def js_divergence(K1, K2, dps: int = DPS):
    """H_1((K1+K2)/2) - (H_1(K1) + H_1(K2)) / 2."""
    with mp.workdps(dps):
        K1, K2 = matrix(K1), matrix(K2)
        return entropy((K1 + K2) / 2, 1, dps) - (entropy(K1, 1, dps) + entropy(K2, 1, dps)) / 2


def normalise_rows(z, dps: int = DPS):
    """Each row divided by its l2 norm (ValueError on a zero row)."""
    with mp.workdps(dps):
        z = matrix(z)
        out = mpmath.matrix(z.rows, z.cols)
        for i in range(z.rows):
            r = mpmath.sqrt(mpmath.fsum(z[i, j] ** 2 for j in range(z.cols)))
            if r == 0:
                raise ValueError(f"row {i} is zero and cannot be normalised")
            for j in range(z.cols):
                out[i, j] = z[i, j] / r
        return out


def sample_gram(z, dps: int = DPS):
    """Rows l2-normalised, then z z^T (B x B, unit diagonal) -- the paper's Z^T Z."""
    with mp.workdps(dps):
        f = normalise_rows(z, dps)
        G = f * f.T
        for i in range(G.rows):
            G[i, i] = mpf(1)
        return G


def feature_gram(z, dps: int = DPS):
    """Each feature column l2-normalised over the batch (no centring), then Zbar Zbar^T (d x d)."""
    with mp.workdps(dps):
        return sample_gram(matrix(z).T, dps)


def to_numpy(A):
    import numpy as np

    A = matrix(A)
    return np.array([[float(A[i, j]) for j in range(A.cols)] for i in range(A.rows)])


# ---------------------------------------------------------------- the losses of Sec. 3.2, in mp
# z1, z2 are (B, d) batches whose rows are the samples z_i (the paper's Z is d x B).

def cross_correlation(z1, z2, dps: int = DPS):
    """Barlow Twins' C (d x d): C_ij = zbar_i^(1) . zbar_j^(2), each feature column l2-normalised
    over the batch without centring (Sec. 3.2), after the rows (samples) are l2-normalised."""
    with mp.workdps(dps):
        a = normalise_rows(normalise_rows(z1, dps).T, dps)
        b = normalise_rows(normalise_rows(z2, dps).T, dps)
        return a * b.T


def barlow_twins_loss(z1, z2, lam, dps: int = DPS):
    """Eq. (3): sum_i (1 - C_ii)^2 + lam * sum_{i != j} C_ij^2."""
    with mp.workdps(dps):
        C = cross_correlation(z1, z2, dps)
        d = C.rows
        on = mpmath.fsum((1 - C[i, i]) ** 2 for i in range(d))
        off = mpmath.fsum(C[i, j] ** 2 for i in range(d) for j in range(d) if i != j)
        return on + to_mpf(lam) * off


def spectral_contrastive_loss(z1, z2, lam, dps: int = DPS):
    """Eq. (2) on l2-normalised rows: sum_i |z_i1 - z_i2|^2 + lam * sum_{i != j} (z_i1 . z_j2)^2."""
    with mp.workdps(dps):
        a, b = normalise_rows(z1, dps), normalise_rows(z2, dps)
        B, d = a.rows, a.cols
        align = mpmath.fsum((a[i, k] - b[i, k]) ** 2 for i in range(B) for k in range(d))
        G = a * b.T
        off = mpmath.fsum(G[i, j] ** 2 for i in range(B) for j in range(B) if i != j)
        return align + to_mpf(lam) * off


# ------------------------------------------------ float64 mirrors, only for optimisers' objectives

def np_renyi(K, alpha, zero_tol: float = 0.0) -> float:
    """H_alpha(K) in float64 (search objective and float pre-screen; margins near 0 are recomputed
    in mp), accurate to its round-off for every alpha (Definition 3.1's checks compare it with the
    60-digit value).  Eigenvalues of K up to zero_tol count as 0 (round-off of a rank-deficient K)."""
    import numpy as np

    n = K.shape[0]
    p = np.clip(np.linalg.eigvalsh((K + K.T) / 2) / n, 0.0, None)
    p = p[p > max(1e-300, zero_tol / n)]
    if math.isinf(alpha):
        return float(-np.log(p.max()))
    if alpha == 1:
        return float(-(p * np.log(p)).sum())
    if abs(alpha - 1) < 0.5:  # log(sum p^alpha) = log1p(sum p (p^(alpha-1) - 1)): no cancellation near alpha = 1
        return float(np.log1p((p * np.expm1((alpha - 1) * np.log(p))).sum()) / (1 - alpha))
    return float(np.log((p ** alpha).sum()) / (1 - alpha))


def np_unit_rows(x):
    import numpy as np

    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def np_sc_loss(z1, z2, lam) -> float:
    import numpy as np

    a, b = np_unit_rows(z1), np_unit_rows(z2)
    G = a @ b.T
    off = ~np.eye(len(G), dtype=bool)  # sum over i != j directly: a difference of sums can go negative
    return float(((a - b) ** 2).sum() + lam * (G[off] ** 2).sum())


def np_cross_correlation(z1, z2):
    return np_unit_rows(z1.T) @ np_unit_rows(z2.T).T


def np_bt_loss(z1, z2, lam) -> float:
    import numpy as np

    C = np_cross_correlation(np_unit_rows(z1), np_unit_rows(z2))
    off = ~np.eye(len(C), dtype=bool)
    return float(((1 - np.diag(C)) ** 2).sum() + lam * (C[off] ** 2).sum())


def clean(v, digits: int = DPS - 10):
    """A margin for the report: |v| < 10^-digits is round-off of the 60-digit evaluation of a
    quantity that is exactly 0 (an attained bound) and is recorded as 0."""
    try:
        small = abs(v) < mpf(10) ** -digits
    except TypeError:
        return v
    return mpf(0) if small else v
