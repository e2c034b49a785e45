"""Private helpers of the checks of Sections 4.3-5 (TCR, Barlow Twins and spectral contrastive
losses in 60 digits, float64 twins for the local search, the search itself).

Independent of ``mmae``. Generic matrix quantities (spectra, entropy, KL, TCR, Hadamard
products) come from :mod:`proofs._mp`; this module only adds the loss-specific pieces.

Batches are row-major as in ``mmae``: ``z`` has shape ``(B, d)``, a row per sample. In the
paper's column notation ``Z = z^T``: the sample Gram matrix ``Z^T Z`` is ``z z^T`` (B x B) and the
feature matrix ``Zbar Zbar^T`` is ``zbar^T zbar`` (d x d) with each column of ``z`` l2-normalised
over the batch (Section 3.2, no centring).
"""
from __future__ import annotations

import mpmath
import numpy as np
from hypothesis import HealthCheck, settings
from scipy.optimize import minimize

from proofs._mp import hadamard, matrix, normalise_rows, psd_spectrum
from proofs._strategies import rational_unit_rows


def mp_logdet_shift(k, mu):
    """``log det(mu I + K) = sum_i log(mu + lambda_i)`` (Definition 4.8) for PSD K, mu >= 0."""
    return mpmath.fsum(mpmath.log(mu + x) for x in psd_spectrum(k))


def settle(x, tol=mpmath.mpf(10) ** -50):
    """0 for a 60-digit difference below ``tol``: round-off of an exact equality (a zero-loss
    configuration sits exactly on its bound), so that the recorded slack is not a spurious -1e-61."""
    return mpmath.mpf(0) if abs(x) < tol else x


def mp_unit_cols(z):
    return normalise_rows(matrix(z).T).T


def mp_offdiag2(a):
    return mpmath.fsum(a[i, j] ** 2 for i in range(a.rows) for j in range(a.cols) if i != j)


def mp_unit_diag_psd(rng, n, r):
    """An exact (rational) n x n unit-diagonal PSD matrix of rank <= r, as an mp matrix."""
    x = rational_unit_rows(rng, n, r)
    return matrix(x @ x.T)


def mp_bt(z1, z2, lam):
    """Barlow Twins, Eq. (3), on the paper's normalisation: (L_BT, C, K1, K2), all d x d.

    ``C = zbar1^T zbar2`` with every feature column l2-normalised over the batch (no centring)."""
    a, b = mp_unit_cols(z1), mp_unit_cols(z2)
    c, k1, k2 = a.T * b, a.T * a, b.T * b
    inv = mpmath.fsum((1 - c[i, i]) ** 2 for i in range(c.rows))
    return inv + lam * mp_offdiag2(c), c, k1, k2


def mp_sc(f1, f2, lam):
    """Spectral contrastive loss, Eq. (2), on l2-normalised rows: (L_SC, G1, G2), B x B Grams."""
    f1, f2 = matrix(f1), matrix(f2)
    align = mpmath.fsum((f1[i, j] - f2[i, j]) ** 2 for i in range(f1.rows) for j in range(f1.cols))
    return align + lam * mp_offdiag2(f1 * f2.T), f1 * f1.T, f2 * f2.T


# ---------------------------------------------------------------------------- float64 search

def np_unit_rows(z):
    return z / np.linalg.norm(z, axis=-1, keepdims=True)


def np_unit_cols(z):
    return z / np.linalg.norm(z, axis=-2, keepdims=True)


def np_logdet_shift(k, mu):
    return float(np.sum(np.log(mu + np.clip(np.linalg.eigvalsh(k), 0.0, None))))


def np_bt(z1, z2, lam):
    a, b = np_unit_cols(z1), np_unit_cols(z2)
    c = a.T @ b
    dg = np.diag(c)
    return float(np.sum((1 - dg) ** 2) + lam * (np.sum(c ** 2) - np.sum(dg ** 2))), c, a.T @ a, b.T @ b


def np_sc(f1, f2, lam):
    cross = f1 @ f2.T
    off = np.sum(cross ** 2) - np.sum(np.diag(cross) ** 2)
    return float(np.sum((f1 - f2) ** 2) + lam * off), f1 @ f1.T, f2 @ f2.T


def adversarial_min(fun, starts, maxiter=200):
    """Local search (L-BFGS-B, then a Nelder-Mead polish) from every start: (best value, its x).

    ``fun`` returns the slack of an inequality; a negative value found here is only a candidate
    until the caller re-evaluates it at 60 digits."""
    best = (np.inf, None)
    for x0 in starts:
        for method, opts in (("L-BFGS-B", {"maxiter": maxiter}),
                             ("Nelder-Mead", {"maxiter": maxiter, "xatol": 1e-10, "fatol": 1e-14})):
            with np.errstate(all="ignore"):
                try:
                    r = minimize(fun, x0, method=method, options=opts)
                except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                    continue
            if np.isfinite(r.fun) and r.fun < best[0]:
                best = (float(r.fun), np.array(r.x))
            x0 = r.x
    return best


def with_fixtures(test):
    """Let a @given test use the function-scoped ``slack`` fixture (it only appends records)."""
    return settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])(test)


def check_mmae_loss_and_tcr(loss, z1, z2, lam):
    """mmae's loss (``sc``: Eq. (2) on rows normalised; ``bt``: Eq. (3) on features normalised) and
    TCR_1 of the Hadamard product of its Gram matrices (sample Grams for ``sc``, feature Grams for
    ``bt``) against the 60-digit values (``mpmath`` on the same float64 batches)."""
    import torch
    from mmae import info, losses

    with mpmath.workdps(60):
        if loss == "sc":
            L, k1, k2 = mp_sc(normalise_rows(matrix(z1)), normalise_rows(matrix(z2)), mpmath.mpf(lam))
        else:
            L, _, k1, k2 = mp_bt(matrix(z1), matrix(z2), mpmath.mpf(lam))
        tcr = mp_logdet_shift(hadamard(k1, k2), mpmath.mpf(1))
    t1, t2 = torch.tensor(z1), torch.tensor(z2)
    got = (losses.spectral_contrastive_loss(t1, t2, lam=lam) if loss == "sc"
           else losses.barlow_twins_loss(t1, t2, lam, normalize="paper"))
    assert abs(float(got) - float(L)) <= 1e-12
    gram = info.sample_gram if loss == "sc" else info.feature_gram
    assert abs(float(info.total_coding_rate(gram(t1) * gram(t2), 1.0)) - float(tcr)) <= 1e-11
