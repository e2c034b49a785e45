"""Worst-case searches for the inequalities of the paper, and the power self-test.

Every inequality is written as ``need <= allowance`` (both sides computed from one configuration)
so that its **share** ``need / allowance`` is at most 1 exactly when the inequality holds there, and
the statement with its constant scaled by ``f`` (the term the constant multiplies, the "allowance")
holds exactly when every share is at most ``f``.  The search maximises the share by L-BFGS-B from
random restarts over the statement's whole domain (the batch or matrices, and the log of lambda,
mu, alpha or c inside a box reaching their extremes), from starts on the edges: equal rows,
nearly equal views or matrices, zero-loss configurations, ``B < d`` and ``B > d``.  The best point
is re-evaluated in 60 digits (``proofs._mp``): that value is the measured **tightness** ``T``.

Power: the statement check with the constant moved just past the supremum of the share
(``Bound.sup``, where the statement's file proves it or proves a lower bound and conjectures it;
else past the measured tightness),
``f = sup (1 - POWER_STEP)``, is false; ``pytest proofs --power`` reruns the check with that ``f``
from fresh random starts and requires it to find a share above ``f``, and requires the search to
refute the false variants of another form listed in ``MUTANTS``.  Where the supremum is known, the
plain run already requires the measured tightness to be within ``POWER_STEP`` of it and not above it.

The six loss bounds (Theorems 4.3, 4.13, 4.17 and the remark after it) are searched over the views
alone: the worst lambda for given views is found inside the share (``_profile``), so every lambda in
(0, inf) and the limit lambda -> 0 are covered; mu enters as t = 1/mu in [0, T_MAX], t = 0 the limit
mu -> inf.

Shares are 0/0 where both sides vanish (zero loss, equal matrices): there float64 measures
round-off, so a point whose allowance is below ``FLOOR`` counts as share 0 for the search (unless its
need is far above round-off: then its share is at least ``need / FLOOR``).
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import mpmath as mp
import numpy as np
from scipy.optimize import minimize

from proofs import _mp
from proofs._strategies import zero_loss_views
from proofs._tcr import mp_bt, mp_logdet_shift, mp_offdiag2, mp_sc, mp_unit_cols, np_bt, np_sc, np_unit_cols

POWER_STEP = 0.01  # the just-false variant moves the constant 1% past the measured tightness
FLOOR = 1e-10  # below this allowance the float64 share is off by about eps / FLOOR > 1e-6: not searched
NEED_FLOOR = 1e-6  # ... unless the need is far above round-off: then the share is at least need / FLOOR
SUP_TOL = mp.mpf(10) ** -50  # a 60-digit share at a supremum attained in a limit differs from it by round-off
STARTS = 3  # local searches per unit of effort (x1 ci, x4 dev, x50 thorough)
SCREEN = 12  # random points screened per local search
MAXITER = 30
LOG_MU, LOG_ALPHA = (math.log(1e-3), math.log(1e3)), \
    (math.log(0.05), math.log(50.0))
T_MAX = 1e3  # t = 1/mu in [0, T_MAX]: mu from 1e-3 to infinity
SHAPES = ((2, 3), (3, 2), (3, 3), (2, 4), (4, 2))  # (B, d): B < d, B = d, B > d


@dataclass
class Bound:
    """One inequality: ``need(x) <= allowance(x)``; ``terms`` in float64, ``terms_mp`` in 60 digits,
    both from the same flat vector ``x`` (float64 entries, converted exactly) and shape ``p``."""
    key: str
    statement: str
    text: str  # the inequality with "{f}" where the scale of the allowance goes
    terms: Callable
    terms_mp: Callable
    sample: Callable  # (rng, i) -> (p, x0, box) for the i-th start
    describe: Callable = None  # (p, x) -> dict of the witness's readable parameters
    known: tuple = None  # (p, x): an edge configuration the search must at least match
    weight: int = 1  # local searches per unit of effort, in units of STARTS (a harder landscape: more)
    sup: mp.mpf = None  # the supremum of the share (proofs/test_*.py): the search must reach it, never pass it
    sup_proved: bool = True  # False: proved only a lower bound on the supremum, the value is conjectured
    tex: str = None  # the same inequality in LaTeX, as printed (the allowance unscaled), for the documentation


@dataclass
class Result:
    share: mp.mpf  # 60-digit share at the best point
    p: dict
    x: np.ndarray
    need: mp.mpf
    allowance: mp.mpf
    starts: int = 0


def share_float(b: Bound, p, x) -> float:
    with np.errstate(all="ignore"):
        try:
            need, allow = b.terms(p, x)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError, ZeroDivisionError):
            return 0.0
    if not (math.isfinite(need) and math.isfinite(allow)):
        return 0.0
    if allow < FLOOR:  # 0/0 is round-off; a need far above round-off over a vanishing allowance is not
        return need / FLOOR if need > NEED_FLOOR else 0.0
    return need / allow


def share_mp(b: Bound, p, x):
    with mp.workdps(_mp.DPS):
        need, allow = b.terms_mp(p, np.asarray(x, dtype=float))
        share = need / allow if allow > 0 else (mp.mpf(0) if need <= 0 else mp.inf)
    return share, need, allow


def search(b: Bound, starts: int, seed: int, maxiter: int = MAXITER) -> Result:
    """Screen ``SCREEN * starts`` random points of the domain (cycling through the kinds of start and
    the edges of the log-parameters), run L-BFGS-B on the share from ``starts`` of them -- the best
    of each kind of start in turn, so that no edge of the domain is crowded out -- and re-evaluate
    the best point found in 60 digits."""
    rng = np.random.default_rng(seed)
    pool = [b.sample(rng, i) for i in range(SCREEN * starts)]
    scored = sorted(((share_float(b, p, x0), i) for i, (p, x0, _) in enumerate(pool)), reverse=True)
    by_kind: dict = {}  # the best screened points of each kind of start, kinds by their best share
    for _, i in scored:
        by_kind.setdefault(pool[i][0].get("start"), []).append(i)
    rounds = max(len(v) for v in by_kind.values())
    chosen = [v[j] for j in range(rounds) for v in by_kind.values() if j < len(v)][:starts]
    best = (-math.inf, None, None)
    for i in chosen:
        p, x0, box = pool[i]
        fun = lambda x, p=p: -share_float(b, p, x)
        cand = [(-fun(x0), x0)]
        try:
            r = minimize(fun, x0, method="L-BFGS-B", bounds=box, options={"maxiter": maxiter})
            cand.append((float(-r.fun), r.x))
        except (ValueError, np.linalg.LinAlgError):
            pass
        for v, x in cand:
            if v > best[0]:
                best = (v, p, np.array(x))
    _, p, x = best
    s, need, allow = share_mp(b, p, x)
    return Result(s, p, x, need, allow, starts)


def witness(b: Bound, p, x) -> dict:
    """The configuration as a JSON-able dict: its parameters and the flat vector (exact floats)."""
    out = {k: v for k, v in p.items()}
    if b.describe:
        out.update(b.describe(p, x))
    out["vector"] = [float(v) for v in x]
    return out


# ------------------------------------------------------------------------- parametrisations

def _log_start(rng, box, j):
    """The low edge, the high edge or an interior point of a parameter's box, by turns (log-uniform
    inside a box [0, hi])."""
    inner = 10 ** rng.uniform(-4, math.log10(box[1])) if box[0] == 0 else rng.uniform(*box)
    return (box[0], box[1], inner)[j % 3]


def _orth(rng, m, k):
    q, r = np.linalg.qr(rng.standard_normal((m, k)))
    return q * np.sign(np.diag(r))


def _views_start(rng, B, d, kind, loss):
    """Two (B, d) views, by kind of start (the edges of the domain)."""
    g = rng.standard_normal
    if kind == "equal rows":  # all samples nearly one vector: K1 = K2 ~ 11^T
        z1 = np.ones((B, 1)) * g(d) + 1e-3 * g((B, d))
        return z1, z1 + 1e-3 * g((B, d))
    if kind == "collapsed":  # equal views, all samples (sc) or all features (bt) equal: Grams 11^T
        z = np.ones((B, d)) if loss == "bt" else np.outer(np.ones(B), g(d))
        return z, z.copy()
    if kind == "no cross term":  # the edge lam -> inf: the off-diagonal cross term of the loss vanishes,
        # each sample (sc) or feature (bt) of view 2 orthogonal to the other ones of view 1, where it can be
        u = g((B, d)) if loss == "sc" else g((d, B))
        v = u + 0.3 * g(u.shape)
        if len(u) - 1 < u.shape[1]:
            for j in range(len(u)):
                q = np.linalg.qr(np.delete(u, j, 0).T)[0]
                v[j] -= q @ (q.T @ v[j])
        return (u, v) if loss == "sc" else (u.T, v.T)
    if kind == "near-equal views":
        z1 = g((B, d))
        return z1, z1 + 1e-2 * g((B, d))
    if kind == "equal views":  # the views coincide (no alignment loss); by symmetry the search keeps them so
        z1 = _views_start(rng, B, d, "zero loss", loss)[0] + 10 ** rng.uniform(-3, 0) * g((B, d))
        return z1, z1.copy()
    if kind == "zero loss":
        if loss == "sc":  # orthonormal rows where B <= d, else a tight frame
            z = _orth(rng, d, B).T if B <= d else _orth(rng, B, d)
        else:  # orthogonal feature columns where B >= d, else a tight frame of features
            z = _orth(rng, B, d) if B >= d else _orth(rng, d, B).T
        return z + 1e-2 * g((B, d)), z + 1e-2 * g((B, d))
    return g((B, d)), g((B, d))


VIEW_KINDS = ("random", "equal rows", "near-equal views", "equal views", "zero loss", "collapsed", "no cross term")


def views_space(loss, extra=()):
    """Sampler over two views of every shape in SHAPES plus parameters in boxes: log mu, or
    t = 1/mu in [0, T_MAX] (t = 0: the limit mu -> inf)."""
    boxes = {"mu": LOG_MU, "t": (0.0, T_MAX)}

    def sample(rng, i):
        kind = VIEW_KINDS[i % len(VIEW_KINDS)]  # every edge in every batch of len(VIEW_KINDS) starts,
        B, d = SHAPES[(i // len(VIEW_KINDS)) % len(SHAPES)]  # every edge with every shape in turn
        z1, z2 = _views_start(rng, B, d, kind, loss)
        logs = [_log_start(rng, boxes[e], i // 3 + j) for j, e in enumerate(extra)]
        x0 = np.concatenate([z1.ravel(), z2.ravel(), logs])
        return {"B": B, "d": d, "start": kind}, x0, [(None, None)] * (2 * B * d) + [boxes[e] for e in extra]
    return sample


def split_views(p, x, exp=True):
    """The two views and the parameters that follow them (exponentiated where ``exp``: log-parameters)."""
    B, d = p["B"], p["d"]
    n = B * d
    rest = x[2 * n:]
    return x[:n].reshape(B, d), x[n:2 * n].reshape(B, d), [math.exp(v) for v in rest] if exp else list(rest)


def _mp_exp(v):
    return mp.exp(_mp.to_mpf(v))


def mp_views(p, x):
    z1, z2, _ = split_views(p, x)
    return z1, z2, [_mp_exp(v) for v in x[2 * p["B"] * p["d"]:]]  # lam, mu from the same float logs


KERNEL_KINDS = ("random", "near-equal", "rank one", "identity", "low rank")
KERNEL_SHAPES = ((2, 2), (3, 3), (3, 2), (4, 4), (4, 2))  # (n, r)


def kernels_space(extra=(), count=2):
    """``count`` unit-diagonal PSD n x n matrices K = X X^T, X (n x r) with rows normalised, plus logs."""
    boxes = {"alpha": LOG_ALPHA, "mu": LOG_MU}

    def sample(rng, i):
        n, r = KERNEL_SHAPES[rng.integers(len(KERNEL_SHAPES))]
        kind = KERNEL_KINDS[i % len(KERNEL_KINDS)]
        g = rng.standard_normal
        if kind == "near-equal":
            x1 = g((n, r))
            x2 = x1 + 10.0 ** -rng.integers(2, 5) * g((n, r))
        elif kind == "rank one":
            x1, x2 = np.ones((n, 1)) * g(r) + 1e-3 * g((n, r)), g((n, r))
        elif kind == "identity":
            r = n
            x1, x2 = np.eye(n) + 1e-2 * g((n, n)), np.eye(n) + 1e-2 * g((n, n))
        elif kind == "low rank":
            x1, x2 = g((n, 1)) @ g((1, r)) + 1e-2 * g((n, r)), g((n, r))
        else:
            x1, x2 = g((n, r)), g((n, r))
        logs = [_log_start(rng, boxes[e], i // 3 + j) for j, e in enumerate(extra)]
        xs = [x1.ravel(), x2.ravel()][:count]
        return ({"n": n, "r": r, "k": count, "start": kind}, np.concatenate(xs + [logs]),
                [(None, None)] * (count * n * r) + [boxes[e] for e in extra])
    return sample


def _kernel_parts(p, x):
    n, r, k = p["n"], p["r"], p["k"]
    return [x[i * n * r:(i + 1) * n * r].reshape(n, r) for i in range(k)] + [None] * (2 - k), x[k * n * r:]


def np_kernels(p, x):
    (a, b), logs = _kernel_parts(p, x)
    gram = lambda y: None if y is None else _mp.np_unit_rows(y) @ _mp.np_unit_rows(y).T
    return gram(a), gram(b), [math.exp(v) for v in logs]


def mp_kernels(p, x):
    (a, b), logs = _kernel_parts(p, x)

    def gram(y):
        if y is None:
            return None
        y = _mp.normalise_rows(_mp.matrix(y))
        return y * y.T
    return gram(a), gram(b), [_mp_exp(v) for v in logs]


def describe_kernels(names):
    def describe(p, x):
        return {k: float(math.exp(v)) for k, v in zip(names, _kernel_parts(p, x)[1])}
    return describe


def batch_space(extra=("mu",), shapes=SHAPES + ((6, 2), (5, 3))):
    """One batch (B, d) of samples (rows normalised by the caller) plus logs."""
    boxes = {"mu": LOG_MU, "c": LOG_MU}

    def sample(rng, i):
        B, d = shapes[rng.integers(len(shapes))]
        kind = ("random", "equal rows", "zero loss")[i % 3]
        z, _ = _views_start(rng, B, d, kind, "sc")
        logs = [_log_start(rng, boxes[e], i // 3 + j) for j, e in enumerate(extra)]
        return ({"B": B, "d": d, "start": kind}, np.concatenate([z.ravel(), logs]),
                [(None, None)] * (B * d) + [boxes[e] for e in extra])
    return sample


def split_batch(p, x):
    n = p["B"] * p["d"]
    return x[:n].reshape(p["B"], p["d"]), x[n:]


def describe_batch(names):
    def describe(p, x):
        return {k: float(math.exp(v)) for k, v in zip(names, split_batch(p, x)[1])}
    return describe


# ------------------------------------------------------------------------- float64 quantities

def np_frob2(k):
    return float(np.sum(k * k))


def np_g(k, m):
    """log det(I + K / m) = TCR_m(K) - n log m (>= 0 for PSD K)."""
    return float(np.sum(np.log1p(np.clip(np.linalg.eigvalsh(k), 0.0, None) / m)))


def np_vn(k):
    return _mp.np_renyi(k, 1)


def mp_g(k, m):
    return mp.fsum(mp.log1p(v / m) for v in _mp.psd_spectrum(k))


def np_js(k1, k2):
    return np_vn((k1 + k2) / 2) - (np_vn(k1) + np_vn(k2)) / 2


def np_trace_norm(a):
    return float(np.sum(np.abs(np.linalg.eigvalsh(a))))


def mp_trace_norm(a):
    return mp.fsum(abs(v) for v in _mp.eigvalsh(a))


# ------------------------------------------------------------------------- the bounds

def _sc_parts(z1, z2, lam):
    a, b = _mp.np_unit_rows(z1), _mp.np_unit_rows(z2)
    loss, g1, g2 = np_sc(a, b, lam)
    return loss, g1, g2


def _mp_sc_parts(z1, z2, lam):
    return mp_sc(_mp.normalise_rows(_mp.matrix(z1)), _mp.normalise_rows(_mp.matrix(z2)), lam)


# ------------------------------------------------------------------------- the six loss bounds
#
# Each loss is L = A + lam S: A its alignment part (sum_i |z_i^(1) - z_i^(2)|^2 for Eq. (2),
# sum_j (1 - C_jj)^2 for Eq. (3)) and S the squared off-diagonal of the cross matrix.  Every allowance
# is a function of n (B or d), L and L / lam = A / lam + S, so the worst lambda for given views is a
# one-dimensional minimisation done inside the share (``_profile``): the search runs over the views
# alone and covers every lambda in (0, inf), its limit lambda -> 0 included (reached exactly where
# A = 0: L / lam -> S).  mu enters through t = 1/mu in [0, T_MAX], t = 0 being the limit mu -> inf;
# the coding-rate bounds are compared after multiplying both sides by mu^2 (both vanish like 1/mu^2).

LOG_PROFILE = (-40.0, 40.0)  # the log-lambda interval of the float profile (plus the limit lambda -> 0)


def _over(A, S, lam):
    """L / lam = A / lam + S, with its limit S at lam = 0 when A = 0."""
    return S if A == 0 else (A / lam + S if lam > 0 else math.inf)


def _profile(allow, n, A, S, lib=math, steps=200, box=LOG_PROFILE):
    """min over lam in {0} u [e^box0, e^box1] of ``allow(n, L, L/lam, lib)``: at the closed-form
    minimiser ``allow.argmin`` where there is one, else (each allowance here is unimodal in log lam:
    an increasing function of L plus, or max, a decreasing one of L / lam) in float64 on a grid of
    log lam refined by a parabola through the best three points, in mpmath by ``steps`` of golden
    section.  Returns (the smallest allowance, its lam)."""
    f = lambda lam: allow(n, A + lam * S, _over(A, S, lam), lib)
    lo, hi = (mp.mpf(box[0]), mp.mpf(box[1])) if lib is mp else box
    cands = [lib.exp(lo), lib.exp(hi)]
    if hasattr(allow, "argmin"):
        lam = allow.argmin(n, A, S, lib)
        if lam is not None and 0 < lam < lib.exp(hi):
            cands.append(lam)
    elif lib is math:
        u = np.linspace(lo, hi, 81)
        lam = np.exp(u)
        with np.errstate(all="ignore"):
            v = allow(n, A + lam * S, A / lam + S, np)
        i = int(np.clip(np.nanargmin(v), 1, len(u) - 2))
        y0, y1, y2 = v[i - 1:i + 2]
        h, curv = u[1] - u[0], y0 - 2 * y1 + y2
        cands.append(math.exp(u[i]))
        if curv > 0:
            cands.append(math.exp(u[i] + h * (y0 - y2) / (2 * curv)))
    else:
        g = (lib.sqrt(5) - 1) / 2
        c, d = hi - g * (hi - lo), lo + g * (hi - lo)
        fc, fd = f(lib.exp(c)), f(lib.exp(d))
        for _ in range(steps):
            if fc <= fd:
                hi, d, fd = d, c, fc
                c = hi - g * (hi - lo)
                fc = f(lib.exp(c))
            else:
                lo, c, fc = c, d, fd
                d = lo + g * (hi - lo)
                fd = f(lib.exp(d))
        cands += [lib.exp(c), lib.exp(d)]
    if A == 0:  # the limit lam -> 0: L = 0, L / lam = S; listed first, so that ties go to it
        cands.insert(0, 0 * S)
    return min(((f(lam), lam) for lam in cands), key=lambda t: t[0])


def _argmin_sqrt(m):
    """argmin of m lam S + A / lam (+ terms free of lam): sqrt(A / (m S))."""
    return lambda n, A, S, lib: lib.sqrt(A / (m(n) * S)) if A > 0 and S > 0 and m(n) > 0 else None


def _phi(x):
    """(log(1 + x) - x) / x^2 in float64 (an array), with its value -1/2 at 0 (a series below 1e-3,
    where the difference cancels)."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 1e-3
    xs = np.where(small, x, 1.0)
    series = sum((-1) ** (k + 1) * x ** (k - 2) / k for k in range(2, 9))
    return np.where(small, series, (np.log1p(xs) - xs) / xs ** 2)


def _mp_phi(x):
    if abs(x) < mp.mpf(10) ** -6:
        return mp.fsum((-1) ** (k + 1) * x ** (k - 2) / k for k in range(2, 14))
    return (mp.log(1 + x) - x) / x ** 2


def _np_loss_parts(loss, z1, z2, unit_rows):
    """(A, S, n, K1, K2) in float64: the sample Grams (``sc``, rows normalised) or the feature Grams
    (``bt``: rows normalised first where the statement assumes unit samples, then the features)."""
    if loss == "sc":
        a, b = _mp.np_unit_rows(z1), _mp.np_unit_rows(z2)
        c = a @ b.T
        return float(np.sum((a - b) ** 2)), np_frob2(c) - float(np.sum(np.diag(c) ** 2)), a.shape[0], a @ a.T, b @ b.T
    if unit_rows:
        z1, z2 = _mp.np_unit_rows(z1), _mp.np_unit_rows(z2)
    _, c, k1, k2 = np_bt(z1, z2, 0.0)
    dg = np.diag(c)
    gap = np.sum((np_unit_cols(z1) - np_unit_cols(z2)) ** 2, axis=0) / 2  # 1 - C_jj, exactly 0 for equal features
    return float(np.sum(gap ** 2)), np_frob2(c) - float(np.sum(dg ** 2)), c.shape[0], k1, k2


def _mp_loss_parts(loss, z1, z2, unit_rows):
    if loss == "sc":
        a, b = _mp.normalise_rows(_mp.matrix(z1)), _mp.normalise_rows(_mp.matrix(z2))
        A, k1, k2 = mp_sc(a, b, 0)
        return A, mp_offdiag2(a * b.T), k1.rows, k1, k2
    if unit_rows:
        z1, z2 = _mp.normalise_rows(_mp.matrix(z1)), _mp.normalise_rows(_mp.matrix(z2))
    _, c, k1, k2 = mp_bt(z1, z2, 0)
    a, b = mp_unit_cols(z1), mp_unit_cols(z2)
    gap = [mp.fsum((a[i, j] - b[i, j]) ** 2 for i in range(a.rows)) / 2 for j in range(a.cols)]  # 1 - C_jj
    return mp.fsum(g * g for g in gap), mp_offdiag2(c), c.rows, k1, k2


def _np_need(kind, n, k1, k2, t):
    if kind == "I2":  # exp((log n - I_2) / 2) - 1
        return math.sqrt(np_frob2(k1) * np_frob2(k2) / (n * np_frob2(k1 * k2))) - 1
    if kind == "H2":  # exp(log n - H_2(K1, K2)) - 1
        return np_frob2(k1 * k2) / n - 1
    # mu^2 (n log(1 + 1/mu) - log det(I + K/mu)), K = K1 o K2: sum_i phi(t) - nu_i^2 phi(nu_i t), as sum nu_i = n
    nu = np.clip(np.linalg.eigvalsh(k1 * k2), 0.0, None)
    return float(np.sum(_phi(t) - nu * nu * _phi(nu * t)))


def _mp_need(kind, n, k1, k2, t):
    if kind == "I2":
        return mp.exp((mp.log(n) - _mp.mutual_information(k1, k2, 2)) / 2) - 1
    if kind == "H2":
        return mp.exp(mp.log(n) - _mp.joint_entropy(k1, k2, 2)) - 1
    return mp.fsum(_mp_phi(t) - v * v * _mp_phi(v * t) for v in _mp.psd_spectrum(_mp.hadamard(k1, k2)))


def _loss_bound(loss, kind, allow, unit_rows=True):
    """(terms, terms_mp, describe) of ``need <= allowance`` for a bound on the matrix information of two
    views from the loss ``loss`` ("sc", Eq. (2); "bt", Eq. (3)), its need ``kind`` ("I2", "H2" or "TCR",
    the last with mu = 1/t the final coordinate and both sides times mu^2), the allowance at its worst
    lambda."""
    def split(p, x):
        z1, z2, rest = split_views(p, x, exp=False)
        return z1, z2, (rest[0] if kind == "TCR" else 0.0)

    def terms(p, x):
        z1, z2, t = split(p, x)
        A, S, n, k1, k2 = _np_loss_parts(loss, z1, z2, unit_rows)
        return _np_need(kind, n, k1, k2, t), _profile(allow, n, A, S)[0]

    def terms_mp(p, x):
        z1, z2, t = split(p, x)
        A, S, n, k1, k2 = _mp_loss_parts(loss, z1, z2, unit_rows)
        return _mp_need(kind, n, k1, k2, _mp.to_mpf(t)), _profile(allow, n, A, S, mp, box=(-300, 60))[0]

    def describe(p, x):
        z1, z2, t = split(p, x)
        A, S, n, _, _ = _np_loss_parts(loss, z1, z2, unit_rows)
        out = {"lam": float(_profile(allow, n, A, S)[1])}  # the worst lambda (0: the limit lambda -> 0)
        if kind == "TCR":
            out["mu"] = math.inf if t == 0 else 1 / t
        return out
    return terms, terms_mp, describe


# The allowances, as functions of n, L and L / lam (``lib``: math or mpmath), times mu^2 for the coding rates.
def _sc_printed(n, L, Ll, lib):  # Theorems 4.3 (1), 4.13 (1): (2 + 2/(n lam)) L
    return 2 * L + 2 * Ll / n


def _sc_sharp(n, L, Ll, lib):  # (n - 1 + 1/lam) L / n
    return ((n - 1) * L + Ll) / n


def _bt_printed(n, L, Ll, lib):  # Theorems 4.3 (2), 4.13 (2): 2 L/(n lam) + 4 sqrt(n L)
    return 2 * Ll / n + 4 * lib.sqrt(n * L)


def _bt_stronger(n, L, Ll, lib):  # the printed proof's own constant: 2 L/(n lam) + 4 ((n-1)/n) sqrt(n L)
    return 2 * Ll / n + 4 * (n - 1) * lib.sqrt(n * L) / n


def _bt_sharp(n, L, Ll, lib):  # (sqrt(L/lam) + sqrt(2 (n-1) sqrt(n L)))^2 / n
    return (lib.sqrt(Ll) + lib.sqrt(2 * (n - 1) * lib.sqrt(n * L))) ** 2 / n


def _t417_printed(n, L, Ll, lib):  # mu^2 (2 L/lam + 4 (n-1) sqrt(n L)) / (2 mu^2)
    return Ll + 2 * (n - 1) * lib.sqrt(n * L)


def _t417_sharp(n, L, Ll, lib):
    return (lib.sqrt(Ll) + lib.sqrt(2 * (n - 1) * lib.sqrt(n * L))) ** 2 / 2


def _r417_printed(n, L, Ll, lib):  # mu^2 max(1/lam, n - 1) L / mu^2
    return max(Ll, (n - 1) * L)


def _r417_sharp(n, L, Ll, lib):  # (1/lam + n - 1) L / 2
    return (Ll + (n - 1) * L) / 2


def _r417_b_minus_2(n, L, Ll, lib):  # a false variant: n - 2 for n - 1
    return max(Ll, (n - 2) * L)


_sc_printed.argmin = _argmin_sqrt(lambda n: n)  # 2 lam S + 2 A / (n lam)
_sc_sharp.argmin = _r417_sharp.argmin = _argmin_sqrt(lambda n: n - 1)  # ((n-1) lam S + A / lam) / n
_r417_printed.argmin = lambda n, A, S, lib: 1 / lib.mpf(n - 1) if lib is mp else 1 / (n - 1)  # where the max switches
_r417_b_minus_2.argmin = lambda n, A, S, lib: None if n == 2 else (1 / lib.mpf(n - 2) if lib is mp else 1 / (n - 2))


def _collapsed(loss, B, d, mu=False):
    """Collapsed views z1 = z2, all samples (``sc``: copies of e_1) or all features (``bt``: the
    all-ones batch) equal: the Grams are 11^T, A = 0, S = n (n - 1)."""
    z = np.ones((B, d))
    if loss == "sc":
        z[:, 1:] = 0.0
    return {"B": B, "d": d, "start": "known"}, np.concatenate([z.ravel(), z.ravel()] + ([[0.0]] if mu else []))


def _c2_pinsker(p, x):
    k1, k2, _ = np_kernels(p, x)
    n = p["n"]
    return np_trace_norm((k1 - k2) / n) ** 2 / 8, np_js(k1, k2)


def _c2_pinsker_mp(p, x):
    k1, k2, _ = mp_kernels(p, x)
    n = p["n"]
    return mp_trace_norm((k1 - k2) / n) ** 2 / 8, _mp.js_divergence(k1, k2)


def _c2_log2(p, x):
    k1, k2, _ = np_kernels(p, x)
    return np_js(k1, k2), math.log(2)


def _c2_log2_mp(p, x):
    k1, k2, _ = mp_kernels(p, x)
    return _mp.js_divergence(k1, k2), mp.log(2)


def _renyi(k, alpha):
    return _mp.np_renyi(k, alpha, zero_tol=1e-12)


def _p45(p, x):
    k1, k2, (alpha,) = np_kernels(p, x)
    return _renyi(k1, alpha) + _renyi(k2, alpha) - _renyi(k1 * k2, alpha), math.log(p["n"])


def _p45_mp(p, x):
    k1, k2, (alpha,) = mp_kernels(p, x)
    return _mp.mutual_information(k1, k2, alpha), mp.log(p["n"])


def _p47_max(p, x):
    k1, k2, (alpha,) = np_kernels(p, x)
    return max(_renyi(k1, alpha), _renyi(k2, alpha)), _renyi(k1 * k2, alpha)


def _p47_max_mp(p, x):
    k1, k2, (alpha,) = mp_kernels(p, x)
    return max(_mp.entropy(k1, alpha), _mp.entropy(k2, alpha)), _mp.joint_entropy(k1, k2, alpha)


def _p47_sub(p, x):
    k1, k2, _ = np_kernels(p, x)
    return np_vn(k1 * k2), np_vn(k1) + np_vn(k2)


def _p47_sub_mp(p, x):
    k1, k2, _ = mp_kernels(p, x)
    return _mp.joint_entropy(k1, k2, 1), _mp.entropy(k1, 1) + _mp.entropy(k2, 1)


# Proposition 4.11 with g(K, m) = log det(I + K/m) = TCR_m(K) - n log m >= 0 and nu = mu^2 + 2 mu:
# printed   TCR_nu(K1 o K2) >= TCR_mu(K1) + TCR_mu(K2)  <=>  g1 + g2 - n log((mu+2)/mu) <= g(K1 o K2, nu);
# stronger  ... >= n log(1+mu) + max TCR_mu(Kk)          <=>  max(g1, g2) - n log((mu+2)/(mu+1)) <= g(K1 o K2, nu).
def _p411(strong):
    def terms(p, x):
        k1, k2, (mu,) = np_kernels(p, x)
        n, g1, g2 = p["n"], np_g(k1, mu), np_g(k2, mu)
        need = max(g1, g2) - n * math.log((mu + 2) / (mu + 1)) if strong else g1 + g2 - n * math.log1p(2 / mu)
        return need, np_g(k1 * k2, mu * mu + 2 * mu)

    def terms_mp(p, x):
        k1, k2, (mu,) = mp_kernels(p, x)
        n, g1, g2 = p["n"], mp_g(k1, mu), mp_g(k2, mu)
        need = max(g1, g2) - n * mp.log((mu + 2) / (mu + 1)) if strong else g1 + g2 - n * mp.log(1 + 2 / mu)
        return need, mp_g(_mp.hadamard(k1, k2), mu * mu + 2 * mu)
    return terms, terms_mp


def _one_kernel(p, x):  # K1 only, for the single-matrix statements
    k1, _, logs = np_kernels(p, x)
    return k1, logs


def _d31(p, x):
    k, (alpha,) = _one_kernel(p, x)
    return _renyi(k, alpha), math.log(p["n"])


def _d31_mp(p, x):
    k1, _, (alpha,) = mp_kernels(p, x)
    return _mp.entropy(k1, alpha), mp.log(p["n"])


def _p415(p, x):
    k, (mu,) = _one_kernel(p, x)
    return np_g(k, mu), p["n"] * math.log1p(1 / mu)


def _p415_mp(p, x):
    k1, _, (mu,) = mp_kernels(p, x)
    return mp_g(k1, mu), p["n"] * mp.log(1 + 1 / mu)


def _lemma42_sample(rng, i):
    m = int(rng.integers(2, 5))
    kind = ("random", "near-equal")[i % 2]
    b = rng.standard_normal(m)
    bp = b + (1e-2 * rng.standard_normal(m) if kind == "near-equal" else rng.standard_normal(m))
    return {"m": m, "start": kind}, np.concatenate([rng.standard_normal(m), b, bp]), [(None, None)] * (3 * m)


def _lemma42_split(p, x, norm):
    m = p["m"]
    a, b, bp = x[:m], x[m:2 * m], x[2 * m:]
    return a / max(1, norm(a)), b / norm(b), bp / norm(bp)


def _lemma42(p, x):
    a, b, bp = _lemma42_split(p, x, np.linalg.norm)
    return abs(a @ b) - abs(a @ bp), float(np.linalg.norm(b - bp))


def _lemma42_mp(p, x):
    v = [_mp.to_mpf(t) for t in x]
    norm = lambda u: mp.sqrt(mp.fsum(t * t for t in u))
    m = p["m"]
    a, b, bp = v[:m], v[m:2 * m], v[2 * m:]
    a = [t / max(1, norm(a)) for t in a]
    b, bp = [t / norm(b) for t in b], [t / norm(bp) for t in bp]
    dot = lambda u, w: mp.fsum(s * t for s, t in zip(u, w))
    return abs(dot(a, b)) - abs(dot(a, bp)), norm([s - t for s, t in zip(b, bp)])


def _a12_sample(rng, i):
    kind = ("random", "near a", "small")[i % 3]
    if kind == "small":
        u, v = 10.0 ** rng.uniform(-3, -1, 2)
    else:
        u, v = np.abs(rng.standard_normal(2)) * 2
        if kind == "near a":
            v = u + 1e-2
    return {"start": kind}, np.array([u, v]), [(0, None), (0, None)]


def _a12(p, x):
    xv, a = x[0] ** 2, x[1] ** 2
    return math.log1p(a) + (xv - a) / (1 + a) - math.log1p(xv), (xv - a) ** 2 / 2


def _a12_mp(p, x):
    xv, a = _mp.to_mpf(x[0]) ** 2, _mp.to_mpf(x[1]) ** 2
    return mp.log(1 + a) + (xv - a) / (1 + a) - mp.log(1 + xv), (xv - a) ** 2 / 2


def _a14_sample(rng, i):
    n, m = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    kind = ("random", "near 0", "ones")[i % 3]
    x = rng.uniform(0, 1, 2 * m) * (1e-2 if kind == "near 0" else 1)
    if kind == "ones":
        x = 1 - 1e-2 * x
    return {"n": n, "m": m, "start": kind}, x, [(0, 1)] * (2 * m)


def _a14(p, x):
    n, m = p["n"], p["m"]
    a, b = x[:m], x[m:]
    return n * (n + a @ b), (n + a.sum()) * (n + b.sum())


def _a14_mp(p, x):
    n, m = p["n"], p["m"]
    v = [_mp.to_mpf(t) for t in x]
    a, b = v[:m], v[m:]
    return n * (n + mp.fsum(s * t for s, t in zip(a, b))), (n + mp.fsum(a)) * (n + mp.fsum(b))


def _gram(z):
    a = _mp.np_unit_rows(z)
    return a @ a.T


def _mp_gram(z):
    a = _mp.normalise_rows(_mp.matrix(z))
    return a * a.T


def _t52_rem(p, x):
    z, (lmu,) = split_batch(p, x)
    mu = math.exp(lmu)
    nu = np.clip(np.linalg.eigvalsh(_gram(z)), 0.0, None) / mu
    return float(np.sum(np.log1p(nu) - nu + nu ** 2 / 2)), float(np.sum(nu ** 3)) / 3


def _t52_rem_mp(p, x):
    z, (lmu,) = split_batch(p, x)
    mu = _mp_exp(lmu)
    nu = [v / mu for v in _mp.psd_spectrum(_mp_gram(z))]
    return mp.fsum(mp.log1p(v) - v + v ** 2 / 2 for v in nu), mp.fsum(v ** 3 for v in nu) / 3


def _t52_lmax(p, x):
    z, _ = split_batch(p, x)
    B, d = p["B"], p["d"]
    return B / min(B, d), float(np.linalg.eigvalsh(_gram(z))[-1])


def _t52_lmax_mp(p, x):
    z, _ = split_batch(p, x)
    B, d = p["B"], p["d"]
    return mp.mpf(B) / min(B, d), _mp.eigvalsh(_mp_gram(z))[-1]


# Remark 5.2, with L(c) = log det(I + cG) and P = sum_{i != j} G_ij^2:
# lower  B log(1+c) - c^2 P / 2 <= L(c);  upper  L(c) <= B log(1+c) - c^2 P / (2 (1 + c nu_max)^2).
def _r52(side):
    def terms(p, x):
        z, (lc,) = split_batch(p, x)
        c, g, B = math.exp(lc), _gram(z), p["B"]
        nu = np.clip(np.linalg.eigvalsh(g), 0.0, None)
        gap, P = B * math.log1p(c) - float(np.sum(np.log1p(c * nu))), np_frob2(g) - B
        return (gap, c * c * P / 2) if side == "lower" else (c * c * P / (2 * (1 + c * nu[-1]) ** 2), gap)

    def terms_mp(p, x):
        z, (lc,) = split_batch(p, x)
        c, g, B = _mp_exp(lc), _mp_gram(z), p["B"]
        nu = _mp.psd_spectrum(g)
        gap = B * mp.log(1 + c) - mp.fsum(mp.log(1 + c * v) for v in nu)
        P = mp_offdiag2(g)
        return (gap, c * c * P / 2) if side == "lower" else (c * c * P / (2 * (1 + c * nu[-1]) ** 2), gap)
    return terms, terms_mp


BOUNDS: dict[str, Bound] = {}


def _add(*args, **kw):
    b = Bound(*args, **kw)
    BOUNDS[b.key] = b


_NEED_TEX = {  # the same in LaTeX, with "@" where the allowance goes
    ("I2", "sc"): r"\mathrm I_2(\mathbf Z_1^\top\mathbf Z_1; \mathbf Z_2^\top\mathbf Z_2) \ge \log B - 2\log(1 + @)",
    ("I2", "bt"): r"\mathrm I_2(\bar{\mathbf Z}_1\bar{\mathbf Z}_1^\top; \bar{\mathbf Z}_2\bar{\mathbf Z}_2^\top) \ge \log d - 2\log(1 + @)",
    ("H2", "sc"): r"\mathrm H_2(\mathbf Z_1^\top\mathbf Z_1, \mathbf Z_2^\top\mathbf Z_2) \ge \log B - \log(1 + @)",
    ("H2", "bt"): r"\mathrm H_2(\bar{\mathbf Z}_1\bar{\mathbf Z}_1^\top, \bar{\mathbf Z}_2\bar{\mathbf Z}_2^\top) \ge \log d - \log(1 + @)",
    ("TCR", "sc"): r"\mathrm{TCR}_\mu(\mathbf G_1 \odot \mathbf G_2) \ge B\log(1 + \mu) - @",
    ("TCR", "bt"): r"\mathrm{TCR}_\mu(\mathbf K_1 \odot \mathbf K_2) \ge d\log(\mu + 1) - @",
}
_NEED_TEXT = {  # the inequality with "{a}" where the allowance goes
    ("I2", "sc"): "I_2(Z1^T Z1; Z2^T Z2) >= log B - 2 log(1 + {a})",
    ("I2", "bt"): "I_2(Zbar1 Zbar1^T; Zbar2 Zbar2^T) >= log d - 2 log(1 + {a})",
    ("H2", "sc"): "H_2(Z1^T Z1, Z2^T Z2) >= log B - log(1 + {a})",
    ("H2", "bt"): "H_2(Zbar1 Zbar1^T, Zbar2 Zbar2^T) >= log d - log(1 + {a})",
    ("TCR", "sc"): "TCR_mu(G1 o G2) >= B log(1 + mu) - {a}",
    ("TCR", "bt"): "TCR_mu(K1 o K2) >= d log(mu + 1) - {a}",
}
_BT_SHARP = "(sqrt(L_BT/lam) + sqrt(2 (d-1) sqrt(d L_BT)))^2"
_BT_SHARP_TEX = r"\big(\sqrt{\mathcal L_{\mathrm{BT}}/\lambda} + \sqrt{2(d-1)\sqrt{d\,\mathcal L_{\mathrm{BT}}}}\big)^2"
_SC, _BT = r"\mathcal L_{\mathrm{SC}}", r"\mathcal L_{\mathrm{BT}}"
_LOSS_BOUNDS = (  # key, need, loss, allowance and its text, supremum of the share
    ("Theorem 4.3 (1)", "I2", "sc", _sc_printed, "(2 + 2/(B lam)) L_SC", 0.5),
    ("Theorem 4.3 (2)", "I2", "bt", _bt_printed, "(2 L_BT/(d lam) + 4 sqrt(d L_BT))", 0.5),
    ("Theorem 4.3 (2, stronger)", "I2", "bt", _bt_stronger, "(2 L_BT/(d lam) + 4 ((d-1)/d) sqrt(d L_BT))", 0.5),
    ("Theorem 4.13 (1)", "H2", "sc", _sc_printed, "(2 + 2/(B lam)) L_SC", 0.5),
    ("Theorem 4.13 (2)", "H2", "bt", _bt_printed, "(2 L_BT/(d lam) + 4 sqrt(d L_BT))", 0.5),
    ("Theorem 4.17", "TCR", "bt", _t417_printed, "(2 L_BT/lam + 4 (d-1) sqrt(d L_BT)) / (2 mu^2)", 0.5),
    ("Remark 4.17", "TCR", "sc", _r417_printed, "max(1/lam, B - 1) L_SC / mu^2", 0.5),
    ("Theorem 4.3 (1, sharp)", "I2", "sc", _sc_sharp, "(B - 1 + 1/lam) L_SC / B", 1),
    ("Theorem 4.3 (2, sharp)", "I2", "bt", _bt_sharp, _BT_SHARP + " / d", 1),
    ("Theorem 4.13 (1, sharp)", "H2", "sc", _sc_sharp, "(B - 1 + 1/lam) L_SC / B", 1),
    ("Theorem 4.13 (2, sharp)", "H2", "bt", _bt_sharp, _BT_SHARP + " / d", 1),
    ("Theorem 4.17 (sharp)", "TCR", "bt", _t417_sharp, _BT_SHARP + " / (2 mu^2)", 1),
    ("Remark 4.17 (sharp)", "TCR", "sc", _r417_sharp, "(1/lam + B - 1) L_SC / (2 mu^2)", 1),
)
_LOSS_TEX = {  # the allowance of each, in LaTeX
    "Theorem 4.3 (1)": rf"\big(2 + \tfrac{{2}}{{B\lambda}}\big){_SC}",
    "Theorem 4.3 (2)": rf"\tfrac{{2{_BT}}}{{d\lambda}} + 4\sqrt{{d\,{_BT}}}",
    "Theorem 4.3 (2, stronger)": rf"\tfrac{{2{_BT}}}{{d\lambda}} + 4\,\tfrac{{d-1}}{{d}}\sqrt{{d\,{_BT}}}",
    "Theorem 4.13 (1)": rf"\big(2 + \tfrac{{2}}{{B\lambda}}\big){_SC}",
    "Theorem 4.13 (2)": rf"\tfrac{{2{_BT}}}{{d\lambda}} + 4\sqrt{{d\,{_BT}}}",
    "Theorem 4.17": rf"\frac{{2{_BT}/\lambda + 4(d-1)\sqrt{{d\,{_BT}}}}}{{2\mu^2}}",
    "Remark 4.17": rf"\max(1/\lambda, B - 1)\,{_SC}/\mu^2",
    "Theorem 4.3 (1, sharp)": rf"(B - 1 + 1/\lambda)\,{_SC}/B",
    "Theorem 4.3 (2, sharp)": _BT_SHARP_TEX + "/d",
    "Theorem 4.13 (1, sharp)": rf"(B - 1 + 1/\lambda)\,{_SC}/B",
    "Theorem 4.13 (2, sharp)": _BT_SHARP_TEX + "/d",
    "Theorem 4.17 (sharp)": _BT_SHARP_TEX + r"/(2\mu^2)",
    "Remark 4.17 (sharp)": rf"(1/\lambda + B - 1)\,{_SC}/(2\mu^2)",
}
for _key, _kind, _loss, _allow, _text, _sup in _LOSS_BOUNDS:
    _t, _tm, _desc = _loss_bound(_loss, _kind, _allow, unit_rows=not _key.startswith("Theorem 4.17"))
    _mu = _kind == "TCR"
    _add(_key, _key.split(" (")[0], _NEED_TEXT[_kind, _loss].format(a="{f} " + _text), _t, _tm,
         views_space(_loss, ("t",) if _mu else ()), _desc, _collapsed(_loss, 3, 3, _mu),
         weight=2 if _kind == "I2" and "stronger" not in _key else 1,  # I_2's supremum is not at a start
         sup=mp.mpf(_sup), sup_proved=_sup == 1 or (_loss == "sc" and _kind != "TCR"),  # else 1/2 is conjectured
         tex=_NEED_TEX[_kind, _loss].replace("@", _LOSS_TEX[_key]))
# A false variant the search must refute (``--power``): B - 2 for B - 1 in the remark after Theorem 4.17.
_t, _tm, _desc = _loss_bound("sc", "TCR", _r417_b_minus_2)
MUTANTS = {"Remark 4.17": [Bound("Remark 4.17 (B - 2 for B - 1)", "Remark 4.17",
                                 _NEED_TEXT["TCR", "sc"].format(a="{f} max(1/lam, B - 2) L_SC / mu^2"),
                                 _t, _tm, views_space("sc", ("t",)), _desc, weight=2)]}

_add("Definition C.2 (Pinsker)", "Definition C.2", "||K1/n - K2/n||_1^2 / 8 <= {f} JS(K1, K2)",
     _c2_pinsker, _c2_pinsker_mp, kernels_space(), describe_kernels(()),
     tex=r"\tfrac18\big\Vert \mathbf K_1/n - \mathbf K_2/n\big\Vert_1^2 \le \mathrm{JS}(\mathbf K_1, \mathbf K_2)")
_add("Definition C.2 (log 2)", "Definition C.2", "JS(K1, K2) <= {f} log 2",
     _c2_log2, _c2_log2_mp, kernels_space(), describe_kernels(()),
     tex=r"\mathrm{JS}(\mathbf K_1, \mathbf K_2) \le \log 2")
_add("Proposition 4.5", "Proposition 4.5", "I_alpha(K1; K2) <= {f} log n",
     _p45, _p45_mp, kernels_space(("alpha",)), describe_kernels(("alpha",)),
     tex=r"\mathrm I_\alpha(\mathbf K_1; \mathbf K_2) \le \log n")
_add("Proposition 4.7 (max)", "Proposition 4.7", "max(H_alpha(K1), H_alpha(K2)) <= {f} H_alpha(K1, K2)",
     _p47_max, _p47_max_mp, kernels_space(("alpha",)), describe_kernels(("alpha",)),
     tex=r"\max\{\mathrm H_\alpha(\mathbf K_1), \mathrm H_\alpha(\mathbf K_2)\} \le \mathrm H_\alpha(\mathbf K_1, \mathbf K_2)")
_add("Proposition 4.7 (alpha = 1)", "Proposition 4.7", "H_1(K1, K2) <= {f} (H_1(K1) + H_1(K2))",
     _p47_sub, _p47_sub_mp, kernels_space(), describe_kernels(()),
     tex=r"\mathrm H_1(\mathbf K_1, \mathbf K_2) \le \mathrm H_1(\mathbf K_1) + \mathrm H_1(\mathbf K_2)")
_add("Proposition 4.11", "Proposition 4.11",
     "TCR_mu(K1) + TCR_mu(K2) - n log(mu^2+2mu) <= {f} (TCR_(mu^2+2mu)(K1 o K2) - n log(mu^2+2mu))",
     *_p411(False), kernels_space(("mu",)), describe_kernels(("mu",)),
     tex=r"\mathrm{TCR}_\mu(\mathbf K_1) + \mathrm{TCR}_\mu(\mathbf K_2) - n\log(\mu^2 + 2\mu) \le \mathrm{TCR}_{\mu^2+2\mu}(\mathbf K_1 \odot \mathbf K_2) - n\log(\mu^2 + 2\mu)")
_add("Proposition 4.11 (stronger)", "Proposition 4.11",
     "n log(1+mu) + max_k TCR_mu(Kk) - n log(mu^2+2mu) <= {f} (TCR_(mu^2+2mu)(K1 o K2) - n log(mu^2+2mu))",
     *_p411(True), kernels_space(("mu",)), describe_kernels(("mu",)),
     tex=r"n\log(1+\mu) + \max_k \mathrm{TCR}_\mu(\mathbf K_k) - n\log(\mu^2 + 2\mu) \le \mathrm{TCR}_{\mu^2+2\mu}(\mathbf K_1 \odot \mathbf K_2) - n\log(\mu^2 + 2\mu)")
_add("Definition 3.1", "Definition 3.1", "H_alpha(K) <= {f} log n",
     _d31, _d31_mp, kernels_space(("alpha",), 1), describe_kernels(("alpha",)),
     tex=r"\mathrm H_\alpha(\mathbf K) \le \log n")
_add("Proposition 4.15", "Proposition 4.15", "TCR_mu(K) - n log mu <= {f} n log(1 + 1/mu)",
     _p415, _p415_mp, kernels_space(("mu",), 1), describe_kernels(("mu",)),
     tex=r"\mathrm{TCR}_\mu(\mathbf K) - n\log\mu \le n\log(1 + 1/\mu)")
_add("Lemma 4.2", "Lemma 4.2", "|a.b| - |a.b'| <= {f} ||b - b'||  (||a|| <= 1, ||b|| = ||b'|| = 1)",
     _lemma42, _lemma42_mp, _lemma42_sample,
     tex=r"\vert\mathbf a^\top\mathbf b\vert - \vert\mathbf a^\top\mathbf b'\vert \le \Vert\mathbf b - \mathbf b'\Vert \quad (\Vert\mathbf a\Vert \le 1,\ \Vert\mathbf b\Vert = \Vert\mathbf b'\Vert = 1)")
_add("Lemma A.12", "Lemma A.12", "log(1+a) + (x-a)/(1+a) - log(1+x) <= {f} (x-a)^2/2  (x, a >= 0)",
     _a12, _a12_mp, _a12_sample, lambda p, v: {"x": float(v[0] ** 2), "a": float(v[1] ** 2)},
     tex=r"\log(1+a) + \tfrac{x-a}{1+a} - \log(1+x) \le \tfrac12(x-a)^2 \quad (x, a \ge 0)")
_add("Lemma A.14", "Lemma A.14", "n (n + sum xy) <= {f} (n + sum x)(n + sum y)  (x, y in [0,1]^m)",
     _a14, _a14_mp, _a14_sample,
     tex=r"n\big(n + \textstyle\sum_i x_i y_i\big) \le \big(n + \sum_i x_i\big)\big(n + \sum_i y_i\big) \quad (x, y \in [0, 1]^m)")
_add("Theorem 5.2 (remainder)", "Theorem 5.2", "R = sum_i [log(1+nu_i/mu) - nu_i/mu + nu_i^2/(2mu^2)] <= {f} tr(G^3)/(3 mu^3)",
     _t52_rem, _t52_rem_mp, batch_space(), describe_batch(("mu",)),
     tex=r"R = \sum_i\big[\log(1 + \nu_i/\mu) - \nu_i/\mu + \nu_i^2/(2\mu^2)\big] \le \operatorname{tr}(\mathbf G^3)/(3\mu^3)")
_add("Theorem 5.2 (lambda_max)", "Theorem 5.2", "B / min(B, d) <= {f} lambda_max(Z^T Z)  (unit rows)",
     _t52_lmax, _t52_lmax_mp, batch_space(()),
     tex=r"B/\min(B, d) \le \lambda_{\max}(\mathbf Z^\top\mathbf Z) \quad \text{(unit rows)}")
_add("Remark 5.2 (lower)", "Remark 5.2", "B log(1+c) - log det(I + cG) <= {f} c^2 P / 2",
     *_r52("lower"), batch_space(("c",)), describe_batch(("c",)),
     tex=r"B\log(1+c) - \log\det(\mathbf I + c\mathbf G) \le c^2 P/2")
_add("Remark 5.2 (upper)", "Remark 5.2", "c^2 P / (2 (1 + c nu_max)^2) <= {f} (B log(1+c) - log det(I + cG))",
     *_r52("upper"), batch_space(("c",)), describe_batch(("c",)),
     tex=r"\frac{c^2 P}{2(1 + c\,\nu_{\max})^2} \le B\log(1+c) - \log\det(\mathbf I + c\mathbf G)")


# ------------------------------------------------------------------------- minimising the losses

def np_loss(loss, z1, z2, lam):
    """Eq. (2) on rows normalised (``sc``) or Eq. (3) on features normalised (``bt``), float64."""
    return _sc_parts(z1, z2, lam)[0] if loss == "sc" else np_bt(z1, z2, lam)[0]


def _loss_and_grad(loss, z1, z2, lam):
    """Eq. (2) / Eq. (3) and its exact gradient in (z1, z2): the normalisation (rows for ``sc``,
    feature columns for ``bt``) is differentiated through, g_z = (g_u - (g_u . u) u) / |z|."""
    ax = 1 if loss == "sc" else 0
    n1, n2 = np.linalg.norm(z1, axis=ax, keepdims=True), np.linalg.norm(z2, axis=ax, keepdims=True)
    a, b = z1 / n1, z2 / n2
    if loss == "sc":
        m = a @ b.T
        np.fill_diagonal(m, 0.0)
        val = float(((a - b) ** 2).sum() + lam * (m ** 2).sum())
        ga, gb = 2 * (a - b) + 2 * lam * m @ b, 2 * (b - a) + 2 * lam * m.T @ a
    else:
        c = a.T @ b
        D = 2 * lam * c
        np.fill_diagonal(D, -2 * (1 - np.diag(c)))
        val = float(((1 - np.diag(c)) ** 2).sum() + lam * ((c ** 2).sum() - (np.diag(c) ** 2).sum()))
        ga, gb = b @ D.T, a @ D
    back = lambda g, u, nrm: (g - (g * u).sum(axis=ax, keepdims=True) * u) / nrm
    return val, back(ga, a, n1), back(gb, b, n2)


def minimise_loss(loss, B, d, lam, starts, seed, maxiter=300):
    """The smallest loss L-BFGS-B (exact gradients) reaches from ``starts`` random Gaussian pairs
    of views -- nothing about the minimiser is built in: (value, z1, z2) of the best run."""
    def fun(x):
        v, g1, g2 = _loss_and_grad(loss, x[:B * d].reshape(B, d), x[B * d:].reshape(B, d), lam)
        return v, np.concatenate([g1.ravel(), g2.ravel()])

    rng = np.random.default_rng(seed)
    best = (math.inf, None, None)
    for _ in range(starts):
        r = minimize(fun, rng.standard_normal(2 * B * d), jac=True, method="L-BFGS-B",
                     options={"maxiter": maxiter, "ftol": 1e-26, "gtol": 1e-14})
        v = np_loss(loss, r.x[:B * d].reshape(B, d), r.x[B * d:].reshape(B, d), lam)
        if v < best[0]:
            best = (v, r.x[:B * d].reshape(B, d), r.x[B * d:].reshape(B, d))
    return best


def mp_loss_and_grams(loss, z1, z2, lam):
    """60 digits: (L, K1, K2, eps) with eps^2 >= the squared off-diagonal of K1 and of K2, the
    bound the loss puts on it (Theorem 4.3's chain for ``sc``, Theorem 4.17's for ``bt``)."""
    lam = _mp.to_mpf(lam)
    if loss == "sc":
        L, k1, k2 = _mp_sc_parts(z1, z2, lam)
        eps2 = (2 / lam + 2 * (k1.rows - 1)) * L
    else:
        L, _, k1, k2 = mp_bt(z1, z2, lam)
        d = k1.rows
        eps2 = 2 * L / lam + 4 * (d - 1) * mp.sqrt(d * L)
    return L, k1, k2, mp.sqrt(eps2)


ZERO_LOSS_CASES = (("sc", 2, 3), ("sc", 3, 3), ("sc", 3, 2), ("bt", 3, 2), ("bt", 3, 3), ("bt", 2, 3))


def zero_loss_possible(loss, B, d):
    """Zero loss needs B orthonormal samples in R^d (Eq. 2) or d orthonormal features in R^B (Eq. 3)."""
    return B <= d if loss == "sc" else B >= d


@cache
def reached(loss, B, d, lam, starts):
    """``minimise_loss`` from a fixed seed, re-evaluated in 60 digits: (L, K1, K2, eps), cached so
    that the statements checked on the same reached configurations share one search."""
    _, z1, z2 = minimise_loss(loss, B, d, lam, starts, seed=B * 10 + d + (loss == "bt") * 100)
    with mp.workdps(_mp.DPS):
        return mp_loss_and_grams(loss, z1, z2, lam)


def attained_where_the_search_reaches(kind, slack, effort):
    """Corollaries 4.6 and 4.16 at the near-zero-loss configurations the loss search reaches (Theorem
    4.4's check; nothing about the minimiser is built in): log n - c log(1 + A) <= Q <= log n for
    Q = I_2 (c = 2, Theorem 4.3 and Proposition 4.5) or H_2 (c = 1, Theorem 4.13 and Definition 3.1),
    A the printed allowance at lambda = 1: Q is within c A of the bound, attained in the limit."""
    c, quantity = (2, _mp.mutual_information) if kind == "I2" else (1, _mp.joint_entropy)
    for loss, B, d in ZERO_LOSS_CASES:
        if not zero_loss_possible(loss, B, d):
            continue
        L, k1, k2, _ = reached(loss, B, d, 1.0, 2 * effort)
        n = k1.rows
        with mp.workdps(_mp.DPS):
            allow = (_sc_printed if loss == "sc" else _bt_printed)(n, L, L, mp)  # L / lam = L at lam = 1
            q = quantity(k1, k2, 2)
            gap = q - (mp.log(n) - c * mp.log(1 + allow))
            assert L < mp.mpf(10) ** -20 and 0 <= gap <= c * allow + mp.mpf(10) ** -50  # 60-digit round-off
            assert q <= mp.log(n) + mp.mpf(10) ** -50
        slack(gap, f"{kind} - bound at the {loss} loss reached, B={B}, d={d} (at most {c} x allowance)")


def exact_zero_loss_gap(kind, seed, B, d, loss):
    """Q - log n at an exact rational zero-loss batch (``_strategies.zero_loss_views``), Q = I_2 or H_2
    of its Gram matrix with itself, at 60 digits."""
    z = zero_loss_views(np.random.default_rng(seed), B, d, loss)
    K = _mp.sample_gram(z) if loss == "sc" else _mp.feature_gram(z)
    return (_mp.mutual_information if kind == "I2" else _mp.joint_entropy)(K, K, 2) - mp.log(K.rows)


# ------------------------------------------------------------------------- Garrido et al.'s criteria

def _ra11_tcr(p, x):
    z, (lmu,) = split_batch(p, x)
    mu, g, B = math.exp(lmu), _gram(z), p["B"]
    return B * math.log1p(1 / mu) - np_g(g, mu), (np_frob2(g) - B) / (2 * mu ** 2)


def _ra11_tcr_mp(p, x):
    z, (lmu,) = split_batch(p, x)
    mu, g, B = _mp_exp(lmu), _mp_gram(z), p["B"]
    return B * mp.log(1 + mu) - mp_logdet_shift(g, mu), mp_offdiag2(g) / (2 * mu ** 2)


def _ra11_h2(p, x):
    z1, z2, _ = split_views(p, x)
    _, _, k1, k2 = np_bt(z1, z2, 1.0)
    d = p["d"]
    return np_frob2(k1 * k2) / d - 1, min(np_frob2(k1), np_frob2(k2)) / d - 1


def _ra11_h2_mp(p, x):
    z1, z2, _ = mp_views(p, x)
    _, _, k1, k2 = mp_bt(z1, z2, 1)
    d = p["d"]
    return mp.exp(mp.log(d) - _mp.joint_entropy(k1, k2, 2)) - 1, min(mp_offdiag2(k1), mp_offdiag2(k2)) / d


_add("Remark A.11 (sample TCR)", "Remark A.11", "B log(1 + mu) - TCR_mu(G) <= {f} L_c / (2 mu^2)",
     _ra11_tcr, _ra11_tcr_mp, batch_space(), describe_batch(("mu",)),
     tex=r"B\log(1+\mu) - \mathrm{TCR}_\mu(\mathbf G) \le \mathcal L_c/(2\mu^2)")
_add("Remark A.11 (dimension H_2)", "Remark A.11",
     "H_2(K1, K2) >= log d - log(1 + {f} min(L_nc(Z1), L_nc(Z2)) / d)",
     _ra11_h2, _ra11_h2_mp, views_space("bt", ()),
     tex=r"\mathrm H_2(\mathbf K_1, \mathbf K_2) \ge \log d - \log\big(1 + \min(\mathcal L_{nc}(\mathbf Z_1), \mathcal L_{nc}(\mathbf Z_2))/d\big)")


def criterion_and_grad(z, side):
    """Garrido et al.'s criterion on the normalised embedding, sum_{i != j} K_ij^2 with K the sample
    Gram (``side`` "sample": rows of z normalised) or the feature Gram ("dimension": columns
    normalised), and its exact gradient in z."""
    u = z if side == "sample" else z.T
    nrm = np.linalg.norm(u, axis=1, keepdims=True)
    a = u / nrm
    m = a @ a.T
    np.fill_diagonal(m, 0.0)
    g = 4 * m @ a
    g = (g - (g * a).sum(axis=1, keepdims=True) * a) / nrm
    return float((m ** 2).sum()), (g if side == "sample" else g.T)


def minimise_criterion(side, B, d, starts, seed, maxiter=300):
    """The smallest criterion L-BFGS-B reaches from random Gaussian batches: (value, z)."""
    def fun(x):
        v, g = criterion_and_grad(x.reshape(B, d), side)
        return v, g.ravel()

    rng = np.random.default_rng(seed)
    runs = [minimize(fun, rng.standard_normal(B * d), jac=True, method="L-BFGS-B",
                     options={"maxiter": maxiter, "ftol": 1e-26, "gtol": 1e-14}) for _ in range(starts)]
    r = min(runs, key=lambda r: r.fun)
    return float(r.fun), r.x.reshape(B, d)


# ------------------------------------------------------------------------- Eq. (5), InfoNCE

def _eq5_sample(rng, i):
    """A joint law p = softmax(u) on an nx x ny grid, a critic f = exp(v), and B: the law is random,
    nearly independent (a product of marginals) or nearly diagonal (identical variables), the
    critic random, nearly constant or the density ratio p / (px py) (the optimal one)."""
    nx, ny, B = int(rng.integers(2, 4)), int(rng.integers(2, 4)), int(rng.integers(2, 4))
    kind = ("random", "independent", "identical")[i % 3]
    g = rng.standard_normal
    if kind == "independent":
        u = (g((nx, 1)) + g((1, ny))) + 1e-2 * g((nx, ny))
    elif kind == "identical":
        u = 8 * np.eye(nx, ny) + g((nx, ny))
    else:
        u = g((nx, ny))
    critic = ("random", "constant", "ratio")[(i // 3) % 3]
    p = np.exp(u - u.max())
    p /= p.sum()
    v = {"random": g((nx, ny)), "constant": 1e-2 * g((nx, ny)),
         "ratio": np.log(p / (p.sum(1, keepdims=True) * p.sum(0, keepdims=True)))}[critic]
    return ({"nx": nx, "ny": ny, "B": B, "start": f"{kind} law, {critic} critic"},
            np.concatenate([u.ravel(), v.ravel()]), [(-30, 30)] * (2 * nx * ny))


def _eq5(p, x):
    nx, ny, B = p["nx"], p["ny"], p["B"]
    u, logf = x[:nx * ny].reshape(nx, ny), x[nx * ny:].reshape(nx, ny)
    q = np.exp(u - u.max())
    q /= q.sum()
    px, py = q.sum(1, keepdims=True), q.sum(0, keepdims=True)
    mi = float(np.sum(q * np.log(q / (px * py))))
    f, loss = np.exp(logf), 0.0
    for negs in itertools.product(range(ny), repeat=B - 1):  # every draw of the B - 1 negatives
        w = float(np.prod(py[0, list(negs)]))
        loss += w * float(np.sum(q * (np.log(f + f[:, list(negs)].sum(1, keepdims=True)) - logf)))
    return math.log(B) - mi, loss


def _eq5_mp(p, x):
    nx, ny, B = p["nx"], p["ny"], p["B"]
    u = [[_mp.to_mpf(x[i * ny + j]) for j in range(ny)] for i in range(nx)]
    logf = [[_mp.to_mpf(x[nx * ny + i * ny + j]) for j in range(ny)] for i in range(nx)]
    e = [[mp.exp(t) for t in r] for r in u]
    z = mp.fsum(t for r in e for t in r)
    q = [[t / z for t in r] for r in e]
    px, py = [mp.fsum(r) for r in q], [mp.fsum(q[i][j] for i in range(nx)) for j in range(ny)]
    mi = mp.fsum(q[i][j] * mp.log(q[i][j] / (px[i] * py[j])) for i in range(nx) for j in range(ny))
    f = [[mp.exp(t) for t in r] for r in logf]
    loss = mp.fsum(mp.fprod(py[k] for k in negs) * q[i][j] * (mp.log(f[i][j] + mp.fsum(f[i][k] for k in negs)) - logf[i][j])
                   for negs in itertools.product(range(ny), repeat=B - 1) for i in range(nx) for j in range(ny))
    return mp.log(B) - mi, loss


_add("Equation 5", "Equation 5", "log B - I(X; Y) <= {f} E[l_B]  (per-anchor mean, B - 1 independent negatives)",
     _eq5, _eq5_mp, _eq5_sample,
     tex=r"\log B - I(X; Y) \le \mathbb E[\ell_B] \quad \text{(per-anchor mean, } B - 1 \text{ independent negatives)}")


# ------------------------------------------------------------------------- ER bound, Gaussian case

def _er_sample(rng, i):
    """(Z1, Z2) ~ N(0, Sigma) in R^k x R^l, Sigma = L L^T + 1e-3 I, and q(z2 | z1) = N(A z1 + b, S),
    S = M M^T + 1e-3 I: random, or near the true conditional (where the bound is attained)."""
    k, l = ((1, 1), (1, 2), (2, 1), (2, 2))[rng.integers(4)]
    kind = ("random", "near the true conditional")[i % 2]
    g = rng.standard_normal
    L = g((k + l, k + l))
    x = np.concatenate([L.ravel(), g(l * k), g(l), g((l, l)).ravel()])
    if kind != "random":
        sig = L @ L.T + 1e-3 * np.eye(k + l)
        s11, s21, s22 = sig[:k, :k], sig[k:, :k], sig[k:, k:]
        a = s21 @ np.linalg.inv(s11)
        m = np.linalg.cholesky(s22 - a @ s21.T - 1e-3 * np.eye(l) + 1e-9 * np.eye(l))
        x = np.concatenate([L.ravel(), a.ravel(), np.zeros(l), m.ravel()]) + 1e-3 * g(len(x))
    return {"k": k, "l": l, "start": kind}, x, [(None, None)] * len(x)


def _er_split(p, x):
    k, l = p["k"], p["l"]
    n = k + l
    cut = np.cumsum([n * n, l * k, l])
    return (k, l, x[:cut[0]].reshape(n, n), x[cut[0]:cut[1]].reshape(l, k), x[cut[1]:cut[2]].reshape(l, 1),
            x[cut[2]:].reshape(l, l))


def _er(p, x):
    """(H(Z2) + E log q, I(Z1; Z2)) by the closed forms in test_er_bound's docstring (means 0, so
    delta = -b), float64."""
    k, l, L, A, b, Mh = _er_split(p, x)
    sig = L @ L.T + 1e-3 * np.eye(k + l)
    s11, s21, s22 = sig[:k, :k], sig[k:, :k], sig[k:, k:]
    S = Mh @ Mh.T + 1e-3 * np.eye(l)
    a_star = s21 @ np.linalg.inv(s11)
    M = s22 - a_star @ s21.T + (A - a_star) @ s11 @ (A - a_star).T + b @ b.T
    logdet = lambda m: float(np.linalg.slogdet(m)[1])
    mi = (logdet(s11) + logdet(s22) - logdet(sig)) / 2
    h2 = (l * math.log(2 * math.pi * math.e) + logdet(s22)) / 2
    elogq = -(l * math.log(2 * math.pi) + logdet(S)) / 2 - float(np.trace(np.linalg.solve(S, M))) / 2
    return h2 + elogq, mi


def _er_mp(p, x):
    k, l, L, A, b, Mh = (v if isinstance(v, int) else _mp.matrix(v) for v in _er_split(p, x))
    sig = L * L.T + mp.eye(k + l) / 1000
    s11, s21, s22 = sig[:k, :k], sig[k:, :k], sig[k:, k:]
    S = Mh * Mh.T + mp.eye(l) / 1000
    a_star = s21 * s11 ** -1
    M = s22 - a_star * s21.T + (A - a_star) * s11 * (A - a_star).T + b * b.T
    mi = mp.log(mp.det(s11) * mp.det(s22) / mp.det(sig)) / 2
    h2 = (l * mp.log(2 * mp.pi * mp.e) + mp.log(mp.det(s22))) / 2
    sm = S ** -1 * M
    elogq = -(l * mp.log(2 * mp.pi) + mp.log(mp.det(S))) / 2 - mp.fsum(sm[i, i] for i in range(l)) / 2
    return h2 + elogq, mi


_add("ER bound", "ER bound", "H(Z2) + E log q(Z2 | Z1) <= {f} I(Z1; Z2)  (Gaussian (Z1, Z2), Gaussian q)",
     _er, _er_mp, _er_sample,
     tex=r"H(Z_2) + \mathbb E\log q(Z_2 \mid Z_1) \le I(Z_1; Z_2) \quad \text{(Gaussian } (Z_1, Z_2) \text{ and } q\text{)}")


def _hadamard(p, x):
    k, _, _ = np_kernels(p, x)
    return float(np.linalg.det(k)), 1.0


def _hadamard_mp(p, x):
    k, _, _ = mp_kernels(p, x)
    return mp.det(k), mp.mpf(1)


_add("Barlow Twins IB (Hadamard)", "Barlow Twins IB", "det K <= {f} prod_i K_ii  (K PSD with unit diagonal: the product is 1)",
     _hadamard, _hadamard_mp, kernels_space((), 1),
     tex=r"\det\mathbf K \le \textstyle\prod_i K_{ii} = 1 \quad (\mathbf K \succeq 0 \text{ with unit diagonal})")


# ------------------------------------------------------------------------- corrected statements (ERRATA)

def _a12_ext_sample(rng, i):
    p, x, _ = _a12_sample(rng, i)
    return p, x, [(None, None), (0, None)]


def _a12_ext_x(x, a, sq=lambda t: t * t):
    return -a / (1 + a) + sq(x)  # the whole domain x >= -a/(1+a) where ERRATA says the lemma holds


def _a12_ext(p, v):
    a = v[1] ** 2
    x = _a12_ext_x(v[0], a)
    return math.log1p(a) + (x - a) / (1 + a) - math.log1p(x), (x - a) ** 2 / 2


def _a12_ext_mp(p, v):
    a = _mp.to_mpf(v[1]) ** 2
    x = _a12_ext_x(_mp.to_mpf(v[0]), a)
    return mp.log(1 + a) + (x - a) / (1 + a) - mp.log(1 + x), (x - a) ** 2 / 2


_add("Lemma A.12 (x >= -a/(1+a))", "Lemma A.12",
     "log(1+a) + (x-a)/(1+a) - log(1+x) <= {f} (x-a)^2/2  (a >= 0, x >= -a/(1+a))",
     _a12_ext, _a12_ext_mp, _a12_ext_sample, lambda p, v: {"x": float(_a12_ext_x(v[0], v[1] ** 2)), "a": float(v[1] ** 2)},
     tex=r"\log(1+a) + \tfrac{x-a}{1+a} - \log(1+x) \le \tfrac12(x-a)^2 \quad (a \ge 0,\ x \ge -\tfrac{a}{1+a})")


# ------------------------------------------------------------------------- the statements' search test

def worst_case_test(*keys):
    """A statement file's worst-case check of the inequalities ``keys`` of ``BOUNDS``:
    ``test_worst_case_search = worst_case_test(...)`` (the ``tightness`` fixture, proofs/conftest.py)."""
    import pytest

    @pytest.mark.check("randomized")
    def test_worst_case_search(tightness):
        """The largest share of its allowance that each inequality uses, over its whole domain
        (random restarts and local search in proofs._power, re-evaluated in 60 digits)."""
        for key in keys:
            tightness(key)
    return test_worst_case_search
