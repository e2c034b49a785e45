r"""Matrix information theory: entropy, mutual information, divergences, TCR, effective rank.

Sections 3-5 and Appendix C of the paper. Notation, used throughout:

- $\mathbf{K}, \mathbf{K}_1, \mathbf{K}_2 \in \mathbb{R}^{n \times n}$: symmetric positive semi-definite
  (PSD) matrices with unit diagonal, as Section 3.1 assumes, so $\operatorname{tr}\mathbf{K} = n$.
  $\lambda_1 \ge \dots \ge \lambda_n \ge 0$ are the eigenvalues of $\mathbf{K}$ and
  $p_i = \lambda_i / n$ those of $\mathbf{K}/n$, a probability vector. Every matrix entropy below is
  a function of $p$ alone; this is how they are computed (one `eigvalsh` per matrix, never a matrix
  logarithm or power).
- $\odot$ is the Hadamard (entrywise) product; $\mathbf{K}_1 \odot \mathbf{K}_2$ is again PSD with
  unit diagonal (Schur product theorem).
- The paper's batch $\mathbf{Z} = [\mathbf{z}_1, \dots, \mathbf{z}_B] \in \mathbb{R}^{d \times B}$ has
  one *column* per sample. Our batches are row-major tensors `z` of shape `(B, d)`, i.e.
  `z` $= \mathbf{Z}^\top$: the sample Gram matrix $\mathbf{Z}^\top\mathbf{Z}$ is `z @ z.T`
  ([`sample_gram`][mmae.info.sample_gram]) and the feature correlation matrix
  $\bar{\mathbf{Z}}\bar{\mathbf{Z}}^\top$ is `zbar.T @ zbar` ([`feature_gram`][mmae.info.feature_gram]).

Conventions shared by every function:

- Inputs are torch tensors (numpy arrays and nested lists are converted); any leading dimensions
  are batch dimensions, and two-matrix functions broadcast them.
- Spectra and factorisations are computed in `compute_dtype` (float64 by default) whatever the
  input dtype; the result has the input's dtype unless `dtype=` is given.
- `validate=True` checks what the definition needs (square, finite, symmetric, PSD, unit diagonal
  where Section 3.1 assumes it) and raises `ValueError` naming the violated condition and the
  offending value, e.g. `K is not positive semi-definite: smallest eigenvalue -0.31`.
  `validate=False` skips every data-dependent check (and its host synchronisation) for hot loops;
  shapes and scalar arguments are always checked.
- Tolerances scale with size and dtype. With $\varepsilon_\mathrm{in}$, $\varepsilon_c$ the machine
  epsilons of the input and compute dtypes and $s = \max_{ij}|K_{ij}|$: entry-wise checks
  (symmetry, unit diagonal) allow $10\,(n + 256)\,\varepsilon_\mathrm{in} s$; eigenvalue-level ones
  (PSD check, clipping) allow $\mathrm{tol} = 10\,\big((\sqrt{n} + 16)\,\varepsilon_\mathrm{in} + n\,\varepsilon_c\big)\, s$.
  That is ten times the eigenvalue shift from rounding the input's entries ($\approx \sqrt{n}\,
  \varepsilon_\mathrm{in} s$, plus $\approx \sqrt{B}\,\varepsilon_\mathrm{in} s / 3$ when the entries are
  sums over a batch of $B \lesssim 10^5$ samples, as in a Gram matrix) plus the eigensolver's
  backward error. A float32 matrix cast to float64 keeps its float32 round-off: pass it as float32.
- Eigenvalues below `tol` (including round-off negatives) are set to zero before any logarithm or
  power: this realises $0 \log 0 = 0$, keeps small $\alpha$ from amplifying round-off
  ($(10^{-16})^{0.01} \approx 0.7$), and keeps gradients finite. Clipping is a `torch.where`, so
  gradients flow through every kept eigenvalue.
- Entropies normalise by the trace, $p = \lambda / \sum_i \lambda_i$: this equals $\lambda / n$
  under the unit diagonal and makes $p$ a probability vector by construction (not only up to the
  round-off in $\operatorname{tr}\mathbf{K}$), which is what lets the Rényi entropy be evaluated
  continuously through $\alpha = 1$ (see [`entropy`][mmae.info.entropy]).
"""
import math

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "entropy", "mutual_information", "joint_entropy", "kl_divergence", "js_divergence",
    "total_coding_rate", "effective_rank", "spectrum_js", "sample_gram", "feature_gram",
    "spectrum", "entropy_from_spectrum", "mutual_information_from_spectra", "js_divergence_from_spectra",
    "spectrum_js_from_spectra", "total_coding_rate_from_spectrum", "effective_rank_from_gram_spectrum",
]

_SAFETY = 10.0  # margin of every tolerance over the round-off it covers (see the module docstring)
_BATCH = 16.0  # ~ sqrt(batch size)/3, the rounding (in eps) of a Gram entry summed over a batch of up to ~1e5
_F64 = torch.float64


# ----------------------------------------------------------------------------- input handling

def _as_tensor(x, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        try:
            x = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"{name} must be a tensor or an array of numbers, got {type(x).__name__}") from e
    if x.is_complex():
        raise ValueError(f"{name} must be real, got dtype {x.dtype}")
    return x if x.is_floating_point() else x.to(_F64)


def _matrix(x, name: str, square: bool = True) -> Tensor:
    x = _as_tensor(x, name)
    if x.ndim < 2 or (square and x.shape[-1] != x.shape[-2]):
        kind = "a square matrix (..., n, n)" if square else "a matrix (..., m, n)"
        raise ValueError(f"{name} must be {kind} or a batch of them, got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")
    return x


def _alpha(alpha) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError) as e:
        raise ValueError(f"alpha must be a positive number or math.inf, got {alpha!r}") from e
    if not a > 0:  # also catches NaN
        raise ValueError(f"alpha must be > 0 (Definition 3.1), got {a}")
    return a


def _raise_if(bad: Tensor, value: Tensor, msg: str) -> None:
    """Raise `msg value` for the first batch element where `bad` holds (one host sync)."""
    if bool(bad.any()):
        i = tuple(bad.nonzero()[0].tolist())
        where = f" (batch index {i})" if i else ""
        raise ValueError(f"{msg} {value[i].item():.3g}{where}")


def _tol(K: Tensor, in_dtype: torch.dtype, n: int | None = None, scale: Tensor | None = None) -> Tensor:
    """Eigenvalue tolerance per matrix (shape K.shape[:-2]); see the module docstring."""
    n = K.shape[-1] if n is None else n
    scale = K.detach().abs().amax((-2, -1)) if scale is None else scale
    eps_c = torch.finfo(K.dtype).eps
    eps_in = max(torch.finfo(in_dtype).eps, eps_c)
    return _SAFETY * ((math.sqrt(n) + _BATCH) * eps_in + n * eps_c) * scale


def _sym(K: Tensor) -> Tensor:
    # eigvalsh/cholesky read one triangle only; symmetrising makes gradients w.r.t. both correct
    return 0.5 * (K + K.mT)


def _load(K, name: str, unit_diag: bool, validate: bool, compute_dtype: torch.dtype):
    """Convert, check (finite, symmetric, unit diagonal) and cast; returns K, input dtype, tol."""
    K = _matrix(K, name)
    in_dtype = K.dtype
    K = K.to(compute_dtype)
    if validate:
        with torch.no_grad():
            finite = torch.isfinite(K)
            if not bool(finite.all()):
                raise ValueError(f"{name} has non-finite entries: {K[~finite][0].item()}")
            n = K.shape[-1]
            eps = max(torch.finfo(in_dtype).eps, torch.finfo(K.dtype).eps)
            tol = _SAFETY * (n + _BATCH ** 2) * eps * K.abs().amax((-2, -1))
            asym = (K - K.mT).abs().amax((-2, -1))
            _raise_if(asym > tol, asym, f"{name} is not symmetric: max |{name} - {name}^T| =")
            if unit_diag:
                diag = K.diagonal(dim1=-2, dim2=-1)
                dev = (diag - 1).abs().amax(-1)
                _raise_if(dev > tol, dev, f"{name} does not have a unit diagonal (Section 3.1): max |diag - 1| =")
    return K, in_dtype, _tol(K, in_dtype)


def _load2(K1, K2, unit_diag: bool, validate: bool, compute_dtype: torch.dtype):
    A, d1, t1 = _load(K1, "K1", unit_diag, validate, compute_dtype)
    B, d2, t2 = _load(K2, "K2", unit_diag, validate, compute_dtype)
    if A.shape[-1] != B.shape[-1]:
        raise ValueError(f"K1 and K2 must have the same size, got shapes {tuple(A.shape)} and {tuple(B.shape)}")
    try:
        torch.broadcast_shapes(A.shape, B.shape)
    except RuntimeError as e:
        raise ValueError(f"K1 and K2 batch shapes do not broadcast: {tuple(A.shape)} and {tuple(B.shape)}") from e
    return A, B, torch.promote_types(d1, d2), t1, t2


def _psd_message(name: str) -> str:
    return f"{name} is not positive semi-definite: smallest eigenvalue"


def _check_psd(K: Tensor, name: str, tol: Tensor) -> None:
    """PSD check without an eigendecomposition: Cholesky of K + 2 tol I, eigvalsh only on failure."""
    with torch.no_grad():
        S = _sym(K.detach())
        eye = torch.eye(S.shape[-1], dtype=S.dtype, device=S.device)
        _, info = torch.linalg.cholesky_ex(S + 2 * tol[..., None, None] * eye)
        if bool((info != 0).any()):
            lmin = torch.linalg.eigvalsh(S)[..., 0]
            _raise_if(lmin < -tol, lmin, _psd_message(name))


def _spectrum(K: Tensor, name: str, tol: Tensor, validate: bool) -> Tensor:
    """Eigenvalues (ascending) with |lambda| <= tol set to 0; checks PSD if asked."""
    lam = torch.linalg.eigvalsh(_sym(K))
    if validate:
        lmin = lam[..., 0].detach()
        _raise_if(lmin < -tol, lmin, _psd_message(name))
    return torch.where(lam > tol[..., None], lam, 0.0)


# ----------------------------------------------------------------------------- spectral kernels

def _safe_log(p: Tensor) -> Tensor:
    """log p where p > 0 and 0 elsewhere, so p * _safe_log(p) realises 0 log 0 = 0 (grad too)."""
    return torch.log(torch.where(p > 0, p, 1.0))


def _exprel(y: Tensor) -> Tensor:
    """(e^y - 1) / y, equal to 1 at y = 0."""
    small = y.abs() < 1e-5
    ys = torch.where(small, 1.0, y)
    return torch.where(small, 1 + y / 2 + y * y / 6, torch.expm1(ys) / ys)


def _log1prel(x: Tensor) -> Tensor:
    """log(1 + x) / x, equal to 1 at x = 0."""
    small = x.abs() < 1e-5
    xs = torch.where(small, 1.0, x)
    return torch.where(small, 1 - x / 2 + x * x / 3, torch.log1p(xs) / xs)


def _normalise(lam: Tensor) -> Tensor:
    return lam / lam.sum(-1, keepdim=True)


def _renyi(lam: Tensor, alpha: float) -> Tensor:
    r"""Rényi entropy of the distribution lam / sum(lam).

    With $\ell_i = \log p_i$ and $\epsilon = \alpha - 1$, $\sum_i p_i^\alpha = 1 + \epsilon T$ where
    $T = \sum_i p_i \ell_i\, \mathrm{exprel}(\epsilon \ell_i)$ is a sum of terms of one sign, so
    $H_\alpha = -T \cdot \log(1 + \epsilon T) / (\epsilon T)$ has no cancellation near $\alpha = 1$
    and equals the von Neumann $-\sum_i p_i \ell_i$ at $\alpha = 1$. Far from 1, a log-sum-exp shifted
    by $\ell_{\max}$ is used instead: it neither loses $\sum_i p_i^\alpha \ll 1$ to rounding nor
    overflows for huge $\alpha$.
    """
    p = _normalise(lam)
    if math.isinf(alpha):
        return -torch.log(p.amax(-1))
    logp = _safe_log(p)
    eps = alpha - 1.0
    if abs(eps) <= 0.5:
        T = (p * logp * _exprel(eps * logp)).sum(-1)
        return -T * _log1prel(eps * T)
    lmax = torch.log(p.amax(-1, keepdim=True))  # shift by the largest log p: safe for any alpha
    lse = torch.logsumexp(torch.where(p > 0, alpha * (logp - lmax), -math.inf), -1)
    return -(alpha / (alpha - 1.0)) * lmax.squeeze(-1) - lse / (alpha - 1.0)


def _shannon(p: Tensor) -> Tensor:
    return -(p * _safe_log(p)).sum(-1)


class _TraceLog(torch.autograd.Function):
    r"""$\operatorname{tr}(\mathbf{A}\log\mathbf{B})$ on the support of $\mathbf{B}$, with a divided-difference backward.

    Returns the value, the eigenvalues $b$ of $\mathbf{B}$ (unclipped) and $w_j = v_j^\top\mathbf{A} v_j$.
    Autograd through `eigh` would divide by $b_i - b_j$ and give NaN at repeated eigenvalues; the
    Fréchet derivative of log needs only $\Gamma_{ij} = (\log b_i - \log b_j)/(b_i - b_j)$ ($1/b_i$ if equal).
    """

    @staticmethod
    def forward(ctx, A, B, tol):
        b, V = torch.linalg.eigh(B)
        logb = _safe_log(torch.where(b > tol[..., None], b, 0.0))
        w = (V * (A @ V)).sum(-2)
        ctx.save_for_backward(A, V, b > tol[..., None], b, logb)
        ctx.mark_non_differentiable(b, w)
        return (w * logb).sum(-1), b, w

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g, _gb, _gw):
        A, V, pos, b, logb = ctx.saved_tensors
        g = g[..., None, None]
        gA = (V * logb[..., None, :]) @ V.mT
        both = pos[..., :, None] & pos[..., None, :]
        bj = torch.where(pos, b, 1.0)[..., None, :]
        x = torch.where(both, (b[..., :, None] - bj) / bj, 0.0)  # log(b_i/b_j) = log1p(x), no cancellation
        gamma = torch.where(both, _log1prel(x) / bj, 0.0)
        gamma = 0.5 * (gamma + gamma.mT)
        gB = V @ (gamma * (V.mT @ A @ V)) @ V.mT
        return g * gA, g * gB, None


# ----------------------------------------------------------------------------- public API

def entropy(K, alpha: float = 1.0, *, validate: bool = True, dtype=None, compute_dtype=_F64) -> Tensor:
    r"""Matrix-based Rényi entropy of order $\alpha$ (Definition 3.1).

    $$\mathrm{H}_\alpha(\mathbf{K}) = \frac{1}{1-\alpha}\log\operatorname{tr}\Big[\big(\tfrac{1}{n}\mathbf{K}\big)^\alpha\Big]
      = \frac{1}{1-\alpha}\log\sum_{i=1}^n p_i^\alpha, \qquad p_i = \lambda_i(\mathbf{K})/n,$$

    with the von Neumann limit $\mathrm{H}_1(\mathbf{K}) = -\operatorname{tr}\big(\tfrac1n\mathbf{K}\log\tfrac1n\mathbf{K}\big)
    = -\sum_i p_i\log p_i$ at `alpha=1` and $\mathrm{H}_\infty(\mathbf{K}) = -\log\lambda_{\max}(\mathbf{K}/n)$
    at `alpha=math.inf`. Any $\alpha > 0$ is accepted; the value is continuous (and smooth) in
    $\alpha$ through 1, evaluated without cancellation there. $0 \le \mathrm{H}_\alpha \le \log n$.

    Gradients are those of $\mathbf{K} \mapsto \mathrm{H}_\alpha(\mathbf{K}/\operatorname{tr}\mathbf{K})$; they
    agree with the printed formula along every direction that keeps the diagonal at 1 (e.g. through
    [`feature_gram`][mmae.info.feature_gram] or [`sample_gram`][mmae.info.sample_gram]).

    Args:
        K: PSD matrix with unit diagonal, shape `(..., n, n)`. With `validate=False` the unit
            diagonal is not checked and $p = \lambda / \operatorname{tr}\mathbf{K}$ is used.
        alpha: order $\alpha > 0$, or `math.inf`.
        validate: check the input (see module docstring).
        dtype: dtype of the result (default: that of `K`).
        compute_dtype: dtype of the eigendecomposition (default float64).

    Returns:
        Tensor of shape `K.shape[:-2]`, in nats.
    """
    alpha = _alpha(alpha)
    K, in_dtype, tol = _load(K, "K", True, validate, compute_dtype)
    return _renyi(_spectrum(K, "K", tol, validate), alpha).to(dtype or in_dtype)


def joint_entropy(K1, K2, alpha: float = 1.0, *, validate: bool = True, dtype=None, compute_dtype=_F64) -> Tensor:
    r"""Matrix-based joint entropy (Definition 3.3): $\mathrm{H}_\alpha(\mathbf{K}_1, \mathbf{K}_2) = \mathrm{H}_\alpha(\mathbf{K}_1 \odot \mathbf{K}_2)$.

    One eigendecomposition (of $\mathbf{K}_1 \odot \mathbf{K}_2$); the PSD checks of
    $\mathbf{K}_1, \mathbf{K}_2$ use a Cholesky factorisation.

    Args:
        K1, K2: PSD matrices with unit diagonal, same `n`, broadcastable batch shapes.
        alpha, validate, dtype, compute_dtype: as in [`entropy`][mmae.info.entropy].
    """
    alpha = _alpha(alpha)
    A, B, in_dtype, t1, t2 = _load2(K1, K2, True, validate, compute_dtype)
    if validate:
        _check_psd(A, "K1", t1)
        _check_psd(B, "K2", t2)
    C = A * B
    return _renyi(_spectrum(C, "K1*K2", _tol(C, in_dtype), False), alpha).to(dtype or in_dtype)


def mutual_information(K1, K2, alpha: float = 1.0, *, validate: bool = True, dtype=None, compute_dtype=_F64) -> Tensor:
    r"""Matrix-based mutual information (Definition 3.2).

    $$\mathrm{I}_\alpha(\mathbf{K}_1; \mathbf{K}_2) = \mathrm{H}_\alpha(\mathbf{K}_1) + \mathrm{H}_\alpha(\mathbf{K}_2)
      - \mathrm{H}_\alpha(\mathbf{K}_1 \odot \mathbf{K}_2).$$

    Three `eigvalsh`, one per matrix. $\mathrm{I}_\alpha \le \log n$ (Proposition 4.5).

    Args:
        K1, K2: PSD matrices with unit diagonal, same `n`, broadcastable batch shapes.
        alpha, validate, dtype, compute_dtype: as in [`entropy`][mmae.info.entropy].
    """
    alpha = _alpha(alpha)
    A, B, in_dtype, t1, t2 = _load2(K1, K2, True, validate, compute_dtype)
    C = A * B
    return mutual_information_from_spectra(_spectrum(A, "K1", t1, validate), _spectrum(B, "K2", t2, validate),
                                           _spectrum(C, "K1*K2", _tol(C, in_dtype), False), alpha).to(dtype or in_dtype)


def kl_divergence(K1, K2, *, validate: bool = True, dtype=None, compute_dtype=_F64) -> Tensor:
    r"""Matrix KL divergence (Definition 4.9): $\mathrm{KL}(\mathbf{K}_1 \,\|\, \mathbf{K}_2) = \operatorname{tr}[\mathbf{K}_1(\log\mathbf{K}_1 - \log\mathbf{K}_2)]$.

    With $\mathbf{K}_1 = \sum_i a_i u_i u_i^\top$ and $\mathbf{K}_2 = \sum_j b_j v_j v_j^\top$,

    $$\mathrm{KL}(\mathbf{K}_1 \,\|\, \mathbf{K}_2) = \sum_i a_i \log a_i - \sum_j w_j \log b_j,
      \qquad w_j = v_j^\top \mathbf{K}_1 v_j \ge 0,$$

    using $0 \log 0 = 0$ in both sums. The value is $+\infty$ when the support of $\mathbf{K}_1$ is
    not contained in that of $\mathbf{K}_2$, i.e. when some $b_j = 0$ has $w_j > 0$ (both
    compared with the tolerances of the module docstring). Note the matrices enter unscaled, so
    $\mathrm{H}_1(\mathbf{K}) = \log n - \mathrm{KL}(\mathbf{K} \,\|\, \mathbf{I}_n)/n$ (Proposition 4.10).

    `eigvalsh` of $\mathbf{K}_1$ and `eigh` of $\mathbf{K}_2$. The gradient with respect to
    $\mathbf{K}_2$ is the Fréchet derivative of the matrix logarithm (Daleckii-Krein divided
    differences), so repeated eigenvalues of $\mathbf{K}_2$ (e.g. $\mathbf{K}_2 = \mathbf{I}$) are
    fine; it is taken on the support of $\mathbf{K}_2$. Not twice differentiable.

    Args:
        K1, K2: PSD matrices with unit diagonal, same `n`, broadcastable batch shapes.
        validate, dtype, compute_dtype: as in [`entropy`][mmae.info.entropy].
    """
    A, B, in_dtype, t1, t2 = _load2(K1, K2, True, validate, compute_dtype)
    a = _spectrum(A, "K1", t1, validate)
    cross, b, w = _TraceLog.apply(A, _sym(B), t2)  # eigh of K2 once, even when K1 is a batch
    if validate:
        _raise_if(b[..., 0] < -t2, b[..., 0], _psd_message("K2"))
    kl = (a * _safe_log(a)).sum(-1) - cross
    outside = ((b <= t2[..., None]) & (w > t1[..., None])).any(-1)
    return torch.where(outside, math.inf, kl).to(dtype or in_dtype)


def js_divergence(K1, K2, *, validate: bool = True, dtype=None, compute_dtype=_F64) -> Tensor:
    r"""Matrix JS divergence (Definition C.2).

    $$\mathrm{JS}(\mathbf{K}_1 \,\|\, \mathbf{K}_2) = \mathrm{H}_1\Big(\frac{\mathbf{K}_1 + \mathbf{K}_2}{2}\Big)
      - \frac{\mathrm{H}_1(\mathbf{K}_1) + \mathrm{H}_1(\mathbf{K}_2)}{2},$$

    symmetric, $\ge 0$ (concavity of $\mathrm{H}_1$) and $\le \log 2$. Three `eigvalsh`.

    Args:
        K1, K2: PSD matrices with unit diagonal, same `n`, broadcastable batch shapes.
        validate, dtype, compute_dtype: as in [`entropy`][mmae.info.entropy].
    """
    A, B, in_dtype, t1, t2 = _load2(K1, K2, True, validate, compute_dtype)
    M = 0.5 * (A + B)
    return js_divergence_from_spectra(_spectrum(A, "K1", t1, validate), _spectrum(B, "K2", t2, validate),
                                      _spectrum(M, "(K1+K2)/2", _tol(M, in_dtype), False)).to(dtype or in_dtype)


def total_coding_rate(K, mu: float, *, validate: bool = True, dtype=None, compute_dtype=_F64) -> Tensor:
    r"""Total coding rate (Definition 4.8, Eq. (6), as printed): $\mathrm{TCR}_\mu(\mathbf{K}) = \log\det(\mu\mathbf{I} + \mathbf{K})$.

    The paper writes $\mathrm{TCR}_\mu(\mathbf{Z}) = \log\det(\mu\mathbf{I}_d + \mathbf{Z}\mathbf{Z}^\top)$ for
    $\mathbf{Z} \in \mathbb{R}^{d \times B}$; pass `K = z.T @ z` for a row-major batch `z` of shape
    `(B, d)` (or any PSD matrix, e.g. a [`feature_gram`][mmae.info.feature_gram]). Computed as
    $2\sum_i \log L_{ii}$ from the Cholesky factor $\mathbf{L}$ of $\mu\mathbf{I} + \mathbf{K}$.

    Args:
        K: PSD matrix, shape `(..., n, n)` (no unit diagonal needed).
        mu: $\mu \ge 0$; $\mu = 0$ needs a positive definite `K` (its smallest eigenvalue must
            exceed the tolerance), otherwise the log-determinant is $-\infty$ or meaningless.
        validate: check the input; with `validate=False` a failed factorisation gives NaN.
        dtype, compute_dtype: as in [`entropy`][mmae.info.entropy].
    """
    try:
        mu = float(mu)
    except (TypeError, ValueError) as e:
        raise ValueError(f"mu must be a non-negative number, got {mu!r}") from e
    if not (mu >= 0 and math.isfinite(mu)):
        raise ValueError(f"mu must be a finite number >= 0 (Definition 4.8), got {mu}")
    K, in_dtype, tol = _load(K, "K", False, validate, compute_dtype)
    if validate:
        if mu == 0:
            with torch.no_grad():
                lmin = torch.linalg.eigvalsh(_sym(K.detach()))[..., 0]
            _raise_if(lmin <= tol, lmin, "K is not positive definite, which mu = 0 requires: smallest eigenvalue")
        else:
            _check_psd(K, "K", tol)
    eye = torch.eye(K.shape[-1], dtype=K.dtype, device=K.device)
    L, info = torch.linalg.cholesky_ex(_sym(K) + mu * eye)
    tcr = 2 * torch.log(L.diagonal(dim1=-2, dim2=-1)).sum(-1)
    return torch.where(info == 0, tcr, math.nan).to(dtype or in_dtype)


def effective_rank(A, *, validate: bool = True, dtype=None, compute_dtype=_F64) -> Tensor:
    r"""Effective rank of Roy & Vetterli (Definition 5.1, Eq. (10)).

    $$\operatorname{erank}(\mathbf{A}) = \exp\Big(-\sum_i p_i \log p_i\Big), \qquad p_i = \frac{\sigma_i}{\sum_k \sigma_k},$$

    with $\sigma_i$ the singular values of $\mathbf{A}$; $1 \le \operatorname{erank} \le \operatorname{rank}$.
    For a PSD $\mathbf{K}$ with unit diagonal, $\operatorname{erank}(\mathbf{K}) = \exp\mathrm{H}_1(\mathbf{K})$.
    Singular values below $10 \max(m, n)\,\varepsilon\,\sigma_{\max}$ count as zero.

    Args:
        A: any non-zero real matrix, shape `(..., m, n)` (need not be square).
        validate, dtype, compute_dtype: as in [`entropy`][mmae.info.entropy].
    """
    A = _matrix(A, "A", square=False)
    in_dtype = A.dtype
    X = A.to(compute_dtype)
    if validate:
        finite = torch.isfinite(X)
        if not bool(finite.all()):
            raise ValueError(f"A has non-finite entries: {X[~finite][0].item()}")
    s = torch.linalg.svdvals(X)  # descending
    smax = s[..., 0]
    if validate:
        _raise_if(smax.detach() == 0, smax.detach(), "A is the zero matrix (Definition 5.1 needs a non-zero one): largest singular value")
    tol = _tol(X, in_dtype, n=max(X.shape[-2:]), scale=smax.detach())
    s = torch.where(s > tol[..., None], s, 0.0)
    return _erank(s).to(dtype or in_dtype)


def _erank(s: Tensor) -> Tensor:
    return torch.exp(_shannon(_normalise(s)))


def spectrum_js(K1, K2, *, validate: bool = True, dtype=None, compute_dtype=_F64) -> Tensor:
    r"""JS divergence between the normalised eigenvalue distributions (Appendix C.3, Figure 5b).

    $p^{(k)}_i = \lambda_i(\mathbf{K}_k) / \operatorname{tr}\mathbf{K}_k$, both sorted in the same
    order, and with $m = (p^{(1)} + p^{(2)})/2$,

    $$\mathrm{JS}(p^{(1)}, p^{(2)}) = \tfrac12\mathrm{KL}(p^{(1)}\,\|\,m) + \tfrac12\mathrm{KL}(p^{(2)}\,\|\,m)
      = \tfrac12\sum_i m_i\,\varphi(d_i), \quad d_i = \frac{p^{(1)}_i - p^{(2)}_i}{p^{(1)}_i + p^{(2)}_i},$$

    $\varphi(d) = (1+d)\log(1+d) + (1-d)\log(1-d) = 2d\,\operatorname{artanh} d + \log(1-d^2)$, which
    keeps full relative accuracy when the two spectra are close. $0 \le \mathrm{JS} \le \log 2$.

    Args:
        K1, K2: PSD matrices (no unit diagonal needed), same `n`, broadcastable batch shapes.
        validate, dtype, compute_dtype: as in [`entropy`][mmae.info.entropy].
    """
    A, B, in_dtype, t1, t2 = _load2(K1, K2, False, validate, compute_dtype)
    la, lb = _spectrum(A, "K1", t1, validate), _spectrum(B, "K2", t2, validate)
    if validate:
        for name, lam in (("K1", la), ("K2", lb)):
            top = lam[..., -1].detach()
            _raise_if(top == 0, top, f"{name} is the zero matrix: largest eigenvalue")
    return spectrum_js_from_spectra(la, lb).to(dtype or in_dtype)


# ----------------------------------------------------------------------------- from spectra
# The quantities above as functions of eigenvalues already computed, for callers that need several
# of them from the same matrices (e.g. the branch monitor): one eigendecomposition per matrix, each
# formula still written once, here.

def spectrum(K, *, unit_diag: bool = True, validate: bool = True, compute_dtype=_F64) -> Tensor:
    r"""The eigenvalues (ascending, in `compute_dtype`) of a PSD matrix, those within the tolerance of
    zero set to 0 (module docstring): the input of the `*_from_spectr*` functions. One `eigvalsh`.

    Args:
        K: PSD matrix, shape `(..., n, n)`; with `unit_diag` its diagonal must be 1 (Section 3.1).
        validate: check the input, the PSD check from these eigenvalues.
    """
    K, in_dtype, tol = _load(K, "K", unit_diag, validate, compute_dtype)
    return _spectrum(K, "K", tol, validate)


def _check_spectrum(lam, name: str = "lam", nonzero: bool = True) -> Tensor:
    """`lam` as the eigenvalues of a PSD matrix, as [`spectrum`][mmae.info.spectrum] returns them:
    finite and >= 0 (and, with `nonzero`, not all 0: the zero matrix has no normalised spectrum);
    otherwise ValueError, where the formulas would return a negative entropy or NaN. One host sync."""
    if not isinstance(lam, Tensor) or lam.ndim < 1 or lam.shape[-1] < 1:
        raise ValueError(f"{name} must be a tensor of eigenvalues of shape (..., n), n >= 1, got "
                         f"{tuple(lam.shape) if isinstance(lam, Tensor) else type(lam).__name__}")
    d = lam.detach()
    finite = torch.isfinite(d).all(-1)
    low, top = torch.where(torch.isfinite(d), d, 0.0).amin(-1), d.amax(-1)
    if bool((~finite | (low < 0) | (nonzero & (top == 0))).any()):
        _raise_if(~finite, d.sum(-1), f"{name} holds a NaN or an infinity: its sum is")
        _raise_if(low < 0, low, f"{name} is no PSD spectrum (eigenvalues are >= 0; `spectrum` sets those within "
                                f"round-off of 0 to 0): smallest eigenvalue")
        _raise_if(top == 0, top, f"{name} is the spectrum of the zero matrix, which has no normalised spectrum: "
                                 f"largest eigenvalue")
    return lam


def entropy_from_spectrum(lam: Tensor, alpha: float = 1.0) -> Tensor:
    r"""$\mathrm{H}_\alpha$ of [`entropy`][mmae.info.entropy] from the eigenvalues $\lambda$ of $\mathbf{K}$ ([`spectrum`][mmae.info.spectrum]).
    Eigenvalues that are no PSD spectrum (negative, non-finite, all 0) raise ValueError, as do
    those of every `*_from_spectr*` function."""
    return _renyi(_check_spectrum(lam), _alpha(alpha))


def mutual_information_from_spectra(lam1: Tensor, lam2: Tensor, lam12: Tensor, alpha: float = 1.0) -> Tensor:
    r"""$\mathrm{I}_\alpha(\mathbf{K}_1; \mathbf{K}_2) = \mathrm{H}_\alpha(\mathbf{K}_1) + \mathrm{H}_\alpha(\mathbf{K}_2) - \mathrm{H}_\alpha(\mathbf{K}_1 \odot \mathbf{K}_2)$
    (Definition 3.2) from the spectra of $\mathbf{K}_1$, $\mathbf{K}_2$ and $\mathbf{K}_1 \odot \mathbf{K}_2$."""
    alpha = _alpha(alpha)
    lam1, lam2, lam12 = _check_spectrum(lam1, "lam1"), _check_spectrum(lam2, "lam2"), _check_spectrum(lam12, "lam12")
    return _renyi(lam1, alpha) + _renyi(lam2, alpha) - _renyi(lam12, alpha)


def js_divergence_from_spectra(lam1: Tensor, lam2: Tensor, lam_mid: Tensor) -> Tensor:
    r"""$\mathrm{JS}(\mathbf{K}_1 \,\|\, \mathbf{K}_2) = \mathrm{H}_1(\tfrac{\mathbf{K}_1 + \mathbf{K}_2}{2}) - \tfrac12(\mathrm{H}_1(\mathbf{K}_1) + \mathrm{H}_1(\mathbf{K}_2))$
    (Definition C.2) from the spectra of $\mathbf{K}_1$, $\mathbf{K}_2$ and $(\mathbf{K}_1 + \mathbf{K}_2)/2$."""
    lam1, lam2, lam_mid = _check_spectrum(lam1, "lam1"), _check_spectrum(lam2, "lam2"), _check_spectrum(lam_mid, "lam_mid")
    return _renyi(lam_mid, 1.0) - 0.5 * (_renyi(lam1, 1.0) + _renyi(lam2, 1.0))


def spectrum_js_from_spectra(lam1: Tensor, lam2: Tensor) -> Tensor:
    r"""[`spectrum_js`][mmae.info.spectrum_js] from the two (ascending) spectra."""
    p1, p2 = _normalise(_check_spectrum(lam1, "lam1")), _normalise(_check_spectrum(lam2, "lam2"))
    m = 0.5 * (p1 + p2)
    inner = (m > 0) & ((p1 - p2).abs() < 2 * m)  # |d| < 1: both positive
    d = torch.where(inner, (p1 - p2) / torch.where(m > 0, 2 * m, 1.0), 0.0)
    phi = torch.where(inner, 2 * d * torch.atanh(d) + torch.log1p(-d * d), 2 * math.log(2))
    return 0.5 * (m * phi).sum(-1)


def total_coding_rate_from_spectrum(lam: Tensor, mu: float) -> Tensor:
    r"""$\mathrm{TCR}_\mu(\mathbf{K}) = \log\det(\mu\mathbf{I} + \mathbf{K}) = \sum_i \log(\mu + \lambda_i)$
    (Definition 4.8) from the eigenvalues of $\mathbf{K}$; $\mu > 0$."""
    if not (float(mu) > 0 and math.isfinite(mu)):
        raise ValueError(f"mu must be a finite number > 0 here (Definition 4.8), got {mu}")
    return torch.log(mu + _check_spectrum(lam, nonzero=False)).sum(-1)


def effective_rank_from_gram_spectrum(lam: Tensor) -> Tensor:
    r"""$\operatorname{erank}(\mathbf{A})$ of [`effective_rank`][mmae.info.effective_rank] from the
    eigenvalues of the Gram matrix $\mathbf{A}^\top\mathbf{A}$ (or $\mathbf{A}\mathbf{A}^\top$), whose
    square roots are the singular values of $\mathbf{A}$, $\sigma_i = \sqrt{\lambda_i}$. Eigenvalues
    clipped to 0 by [`spectrum`][mmae.info.spectrum] (below $\approx n\varepsilon\lambda_{\max}$)
    count as zero singular values."""
    return _erank(_check_spectrum(lam).sqrt())


def _gram(z, name: str, dim: int, validate: bool, dtype) -> Tensor:
    z = _matrix(z, name, square=False)
    if dtype is not None:
        z = z.to(dtype)
    norms = z.norm(dim=dim, keepdim=True)
    if validate:
        finite = torch.isfinite(z)
        if not bool(finite.all()):
            raise ValueError(f"{name} has non-finite entries: {z[~finite][0].item()}")
        zero = (norms == 0).flatten(-2)
        what = "row" if dim == -1 else "column"
        if bool(zero.any()):
            i = tuple(zero.nonzero()[0].tolist())
            raise ValueError(f"{name} has an all-zero {what}, which cannot be l2-normalised: {what} {i[-1]}"
                             + (f" (batch index {i[:-1]})" if i[:-1] else ""))
    return z / norms.clamp_min(torch.finfo(z.dtype).tiny)


def _exact_unit_diag(G: Tensor) -> Tensor:
    # the diagonal is a squared norm of a unit vector, 1 up to ~sqrt(B) eps: make it (and symmetry) exact
    G = 0.5 * (G + G.mT)
    return torch.diagonal_scatter(G, torch.ones_like(G.diagonal(dim1=-2, dim2=-1)), dim1=-2, dim2=-1)


def sample_gram(z, *, validate: bool = True, dtype=None) -> Tensor:
    r"""Batch Gram matrix $\mathbf{Z}^\top\mathbf{Z} \in \mathbb{R}^{B \times B}$ of l2-normalised samples (Section 4.1).

    `z` has shape `(..., B, d)`, one sample per row; each row is divided by its l2 norm (the paper
    assumes $\|\mathbf{z}_j\|_2 = 1$), so the result is PSD with unit diagonal (made exact, as is
    its symmetry):
    $(\mathbf{Z}^\top\mathbf{Z})_{jk} = \mathbf{z}_j^\top\mathbf{z}_k / (\|\mathbf{z}_j\|\|\mathbf{z}_k\|)$.

    Args:
        z: batch of representations, shape `(..., B, d)`. All-zero rows raise with `validate`.
        validate: check finiteness and non-zero rows.
        dtype: dtype of the computation and result (default: that of `z`).

    Returns:
        Tensor of shape `(..., B, B)`.
    """
    f = _gram(z, "z", -1, validate, dtype)
    return _exact_unit_diag(f @ f.mT)


def feature_gram(z, *, validate: bool = True, dtype=None) -> Tensor:
    r"""Feature correlation matrix $\bar{\mathbf{Z}}\bar{\mathbf{Z}}^\top \in \mathbb{R}^{d \times d}$ (Section 3.2).

    `z` has shape `(..., B, d)`; each feature column $i$ is divided by its l2 norm over the batch,
    $\bar{\mathbf{z}}_i(j) = \mathbf{z}_j(i) / \sqrt{\sum_{j'} \mathbf{z}_{j'}(i)^2}$, without
    centring, exactly as Section 3.2 defines it. The result is PSD with an exact unit diagonal; its
    entries are the Barlow Twins cross-correlations $\mathcal{C}_{ij}$ of Eq. (3) when both branches
    coincide. Rows are not normalised here: pass l2-normalised rows for the paper's setting.

    Args:
        z: batch of representations, shape `(..., B, d)`. All-zero columns raise with `validate`.
        validate: check finiteness and non-zero columns.
        dtype: dtype of the computation and result (default: that of `z`).

    Returns:
        Tensor of shape `(..., d, d)`.
    """
    f = _gram(z, "z", -2, validate, dtype)
    return _exact_unit_diag(f.mT @ f)
