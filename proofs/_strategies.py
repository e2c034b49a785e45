"""Hypothesis strategies for the proofs.

Matrices are float64 numpy arrays by default; ``unit_diag_psd(exact=True)`` gives the exact
rational matrix (numpy object array of Fractions) that the float one rounds, for checks whose
margin must not depend on round-off (``proofs._mp`` converts both exactly).  Random
structure comes from a drawn seed; the shape, rank and degeneracy are drawn by hypothesis so
that it explores (and shrinks towards) the corner cases: rank 1, rank-deficient, nearly
singular, identity, all-ones.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
# Eigenvalue floors for "nearly singular" matrices: K = (1 - eps) G + eps I with rank(G) < n.
NEAR_SINGULAR_EPS = (1e-10, 1e-7, 1e-4, 1e-2)
# alpha grid of Definition 3.1: small, around 1 (both sides), 2, large and inf.
ALPHA_GRID = (0.01, 0.1, 0.3, 0.5, 0.9, 0.99, 1 - 1e-6, 1.0, 1 + 1e-6, 1.01, 1.5, 2.0, 3.0,
              5.0, 10.0, 30.0, 100.0, math.inf)


def unit_rows(rng: np.random.Generator, n: int, r: int, spread: float = 1.0) -> np.ndarray:
    """n unit vectors in R^r (float64).  ``spread`` < 1 clusters them around one direction."""
    x = rng.standard_normal((n, r))
    if spread < 1.0:
        x = x * spread + rng.standard_normal(r)[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):  # probability zero; keep the contract anyway
        x[norms[:, 0] == 0, 0], norms[norms == 0] = 1.0, 1.0
    return x / norms


def rational_unit_rows(rng: np.random.Generator, n: int, r: int, spread: float = 1.0,
                       denom: int = 64) -> np.ndarray:
    """n EXACT rational unit vectors in Q^r (object array of Fractions), by inverse stereographic
    projection t -> (2t, |t|^2 - 1) / (|t|^2 + 1) of random rational points t in Q^(r-1)."""
    if r == 1:
        return np.array([[Fraction(int(rng.choice((-1, 1))))] for _ in range(n)], dtype=object)
    centre = rng.standard_normal(r - 1) * 1.5
    rows = []
    for _ in range(n):
        t = centre + spread * rng.standard_normal(r - 1) if spread < 1.0 else rng.standard_normal(r - 1) * 1.5
        t = [Fraction(int(round(v * denom)), denom) for v in t]
        s2 = sum(v * v for v in t)
        rows.append([2 * v / (s2 + 1) for v in t] + [(s2 - 1) / (s2 + 1)])
    return np.array(rows, dtype=object)


def least_on_rational_views(values, rng: np.random.Generator, shapes, params, spreads=(1.0, 0.01)):
    """The smallest of ``values(z1, z2, p)`` (an iterable of 60-digit margins) over pairs of EXACT
    rational unit-row views (``rational_unit_rows``) of each (B, d) in ``shapes`` and each spread
    (1: spread out, small: clustered), for every p in ``params``."""
    pairs = ((rational_unit_rows(rng, B, d, s), rational_unit_rows(rng, B, d, s)) for B, d in shapes for s in spreads)
    return min(v for z1, z2 in pairs for p in params for v in values(z1, z2, p))


@st.composite
def unit_diag_psd(draw, n=None, min_n: int = 1, max_n: int = 8, rank=None, special: bool = True,
                  exact: bool = False):
    """A unit-diagonal PSD n x n matrix of any rank 1..n: Gram matrices of unit vectors in R^r
    (r = rank), nearly singular ones (1 - eps) G + eps I, clustered ones (entries near 1), and
    the extremes I and 11^T.

    The matrix is built in exact rational arithmetic (Gram matrix of rational unit vectors), so
    it is exactly PSD with exactly unit diagonal and exactly the drawn rank.  ``exact=True``
    returns that matrix (numpy object array of Fractions; ``proofs._mp`` reads it exactly);
    otherwise its float64 rounding (PSD up to ~1e-16, diagonal exactly 1)."""
    n = draw(st.integers(min_n, max_n)) if n is None else n
    kinds = ["gram", "gram", "near_singular", "clustered"] + (["identity", "ones"] if special else [])
    kind = draw(st.sampled_from(kinds))
    one, zero = Fraction(1), Fraction(0)
    if kind == "identity":
        K = np.array([[one if i == j else zero for j in range(n)] for i in range(n)], dtype=object)
    elif kind == "ones":
        K = np.full((n, n), one, dtype=object)
    else:
        r = draw(st.integers(1, n)) if rank is None else rank
        rng = np.random.default_rng(draw(SEEDS))
        spread = draw(st.sampled_from((1e-2, 0.1, 0.5))) if kind == "clustered" else 1.0
        X = rational_unit_rows(rng, n, r, spread=spread)
        K = X @ X.T
        if kind == "near_singular":
            eps = Fraction(1, draw(st.sampled_from((10**10, 10**7, 10**4, 100))))
            K = (1 - eps) * K + eps * np.array([[one if i == j else zero for j in range(n)]
                                                for i in range(n)], dtype=object)
    assert all(K[i, i] == 1 for i in range(n))
    return K if exact else K.astype(float)


@st.composite
def unit_diag_psd_pair(draw, min_n: int = 1, max_n: int = 8, exact: bool = False):
    """Two unit-diagonal PSD matrices of the same size (independent ranks and kinds)."""
    n = draw(st.integers(min_n, max_n))
    return draw(unit_diag_psd(n=n, exact=exact)), draw(unit_diag_psd(n=n, exact=exact))


@st.composite
def normalised_batch(draw, B=None, d=None, min_B: int = 1, max_B: int = 8, min_d: int = 1, max_d: int = 8):
    """An l2-normalised batch z of shape (B, d) (rows are the samples z_i of the paper's Z),
    possibly clustered (nearly collinear rows) or with repeated rows."""
    B = draw(st.integers(min_B, max_B)) if B is None else B
    d = draw(st.integers(min_d, max_d)) if d is None else d
    rng = np.random.default_rng(draw(SEEDS))
    kind = draw(st.sampled_from(("iid", "iid", "clustered", "repeated", "low_rank")))
    if kind == "clustered":
        return unit_rows(rng, B, d, spread=draw(st.sampled_from((1e-4, 1e-2, 0.3))))
    if kind == "repeated":
        base = unit_rows(rng, max(1, B // 2), d)
        return base[rng.integers(0, len(base), size=B)]
    if kind == "low_rank":
        r = draw(st.integers(1, d))
        x = rng.standard_normal((B, r)) @ rng.standard_normal((r, d))
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        if np.any(norms == 0):
            return unit_rows(rng, B, d)
        return x / norms
    return unit_rows(rng, B, d)


def _orthonormal(rng: np.random.Generator, m: int, k: int) -> np.ndarray:
    """m x k with orthonormal columns (k <= m)."""
    q, r = np.linalg.qr(rng.standard_normal((m, k)))
    return q * np.sign(np.diag(r))[None, :]


@st.composite
def near_zero_loss_pair(draw, kind=None, min_B: int = 1, max_B: int = 8, min_d: int = 1, max_d: int = 8):
    """Two views (z1, z2), each (B, d), near a zero-loss configuration, and that configuration's
    distance ``eps`` (0 = exactly at it).  Returns (z1, z2, kind, eps).

    kind "rows" (spectral contrastive, B <= d): z1 = z2 with orthonormal rows, so z1 z2^T = I_B.
    kind "columns" (Barlow Twins, B = m d): z1 = z2 = m stacked copies of an orthogonal d x d
    matrix (row-permuted): unit rows and orthogonal feature columns, so the per-feature
    normalised cross-correlation of Sec. 3.2 is exactly I_d.
    kind "aligned" (alignment terms): z2 = z1, an arbitrary normalised batch.
    The views are then perturbed independently by eps and re-normalised."""
    kind = draw(st.sampled_from(("rows", "columns", "aligned"))) if kind is None else kind
    rng = np.random.default_rng(draw(SEEDS))
    eps = draw(st.sampled_from((0.0, 1e-10, 1e-6, 1e-3, 1e-1)))
    if kind == "rows":
        d = draw(st.integers(max(min_d, 1), max_d))
        B = draw(st.integers(min(min_B, d), min(max_B, d)))
        z = _orthonormal(rng, d, B).T  # B x d, orthonormal rows
    elif kind == "columns":
        d = draw(st.integers(max(min_d, 1), max_d))
        m = draw(st.integers(1, max(1, max_B // d)))
        B = m * d
        # m stacked copies of one orthogonal d x d matrix Q: unit rows, and the columns are
        # orthogonal with norm sqrt(m) (column i . column j = m (Q^T Q)_ij = m delta_ij)
        Q = _orthonormal(rng, d, d)
        z = np.concatenate([Q] * m, axis=0)
        z = z[rng.permutation(B)]
    elif kind == "aligned":
        z = draw(normalised_batch(min_B=min_B, max_B=max_B, min_d=min_d, max_d=max_d))
    else:
        raise ValueError(f"unknown zero-loss kind {kind!r}")
    z1 = z + eps * rng.standard_normal(z.shape)
    z2 = z + eps * rng.standard_normal(z.shape)
    z1 /= np.linalg.norm(z1, axis=1, keepdims=True)
    z2 /= np.linalg.norm(z2, axis=1, keepdims=True)
    return z1, z2, kind, eps


def alphas(min_value: float = 0.0, include_one: bool = True, include_inf: bool = True,
           max_value: float = 100.0):
    """alpha values: the fixed grid (small, near 1 on both sides, 2, large, inf) and floats in
    between (log-uniform), restricted to [min_value, max_value] (inf kept if include_inf)."""
    grid = [a for a in ALPHA_GRID if (a > min_value or (a == min_value and a > 0))
            and (a <= max_value or (math.isinf(a) and include_inf))]
    if not include_one:
        grid = [a for a in grid if a != 1.0]
    if not include_inf:
        grid = [a for a in grid if not math.isinf(a)]
    lo = max(min_value, 1e-3)
    cont = st.floats(min_value=math.log(lo), max_value=math.log(max_value)).map(math.exp)
    cont = cont.filter(lambda a: a > min_value and (include_one or a != 1.0))
    return st.one_of(st.sampled_from(grid), cont)


def multistart_minimize(fun, sample_x0, starts: int, seed: int = 0, method: str = "L-BFGS-B",
                        maxiter: int = 200):
    """Adversarial local search: minimise ``fun`` (a float64 slack: the inequality's
    right-hand margin) from ``starts`` random points ``sample_x0(rng)``.  Returns the list of
    (value, x) sorted best (smallest slack) first.  A negative float value is only a candidate:
    the caller re-evaluates the best x in high precision before calling it a violation."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(starts):
        x0 = sample_x0(rng)
        try:
            res = minimize(fun, x0, method=method, options={"maxiter": maxiter})
            x, v = res.x, float(res.fun)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            x, v = x0, float(fun(x0))
        if not math.isfinite(v):
            x, v = x0, float(fun(x0))
        out.append((v, x))
    out.sort(key=lambda t: t[0])
    return out


def rational_orthogonal(rng: np.random.Generator, d: int, denom: int = 8) -> np.ndarray:
    """An EXACT rational orthogonal d x d matrix (object array of Fractions): the Cayley
    transform (I - A)(I + A)^-1 of a random rational skew-symmetric A."""
    import sympy as sp

    A = sp.zeros(d, d)
    for i in range(d):
        for j in range(i + 1, d):
            A[i, j] = sp.Rational(int(rng.integers(-2 * denom, 2 * denom + 1)), denom)
            A[j, i] = -A[i, j]
    Q = (sp.eye(d) - A) * (sp.eye(d) + A).inv()
    return np.array([[Fraction(int(Q[i, j].p), int(Q[i, j].q)) for j in range(d)] for i in range(d)], dtype=object)


def zero_loss_views(rng: np.random.Generator, B: int, d: int, loss: str) -> np.ndarray:
    """An exact (rational) batch z (B, d) with unit rows such that (z, z) has zero loss:
    loss "sc" (spectral contrastive, needs B <= d): orthonormal rows, so z z^T = I_B;
    loss "bt" (Barlow Twins, needs B >= d): rows of an orthogonal Q repeated to fill B rows,
    so the feature columns are orthogonal and the normalised cross-correlation is I_d."""
    Q = rational_orthogonal(rng, d)
    if loss == "sc":
        if B > d:
            raise ValueError(f"zero spectral contrastive loss needs B <= d, got B={B}, d={d}")
        return Q[rng.permutation(d)[:B]]
    if loss == "bt":
        if B < d:
            raise ValueError(f"zero Barlow Twins loss needs B >= d, got B={B}, d={d}")
        # whole copies of Q (column Gram reps * I) plus distinct standard-basis rows e_k (adding a
        # diagonal matrix): the column Gram stays diagonal, so the feature columns are orthogonal
        reps, rest = divmod(B, d)
        z = np.concatenate([Q] * reps, axis=0)
        if rest:
            extra = np.array([[Fraction(int(i == k)) for i in range(d)] for k in rng.permutation(d)[:rest]], dtype=object)
            z = np.concatenate([z, extra], axis=0)
        return z[rng.permutation(B)]
    raise ValueError(f"loss must be 'sc' or 'bt', got {loss!r}")
