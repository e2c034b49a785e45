"""Self-supervised losses of the paper, each as printed, on row-major batches.

Notation. The paper stacks a batch as columns, `Z = [z_1, ..., z_B]` in R^{d x B}; here a batch
is a tensor `z` of shape `(B, d)` whose rows are the samples, so the paper's `Z Z^T` (d x d)
is `z.T @ z` and its `Z^T Z` (B x B) is `z @ z.T`. `F` denotes a batch whose rows have been
l2-normalised, the assumption `||z_j|| = 1` of Section 3.2.

Batch-level losses (every one here except [`mae_loss`][mmae.losses.mae_loss] and [`byol_loss`][mmae.losses.byol_loss]) must see the
*global* batch when training on several processes: gather the features first with
[`mmae.dist.all_gather_cat`][mmae.dist.all_gather_cat], which keeps the gradient exact.

`reduction="sum"` returns the printed quantity (the paper sums over samples or entries);
`reduction="mean"` divides it by the batch size `B` (by `d` for Barlow Twins, whose sums run
over features).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F_

__all__ = [
    "mae_loss", "uniformity_loss", "umae_penalty", "tcr_loss",
    "info_nce", "nt_xent", "spectral_contrastive_loss", "barlow_twins_loss", "byol_loss",
]


def _batch(z: torch.Tensor, name: str = "z", min_rows: int = 1) -> torch.Tensor:
    if not isinstance(z, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(z).__name__}")
    if z.ndim != 2 or z.shape[0] < min_rows or z.shape[1] < 1:
        raise ValueError(f"{name} must be a (B, d) batch with B >= {min_rows}, d >= 1; got shape {tuple(z.shape)}")
    return z


def _pair(z1: torch.Tensor, z2: torch.Tensor, min_rows: int = 1) -> None:
    _batch(z1, "z1", min_rows), _batch(z2, "z2", min_rows)
    if z1.shape != z2.shape:
        raise ValueError(f"the two branches must have the same shape; got {tuple(z1.shape)} and {tuple(z2.shape)}")


def _reduce(total: torch.Tensor, n: int, reduction: str) -> torch.Tensor:
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / n
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")


def _unit_rows(z: torch.Tensor) -> torch.Tensor:
    return F_.normalize(z, dim=-1)


# --------------------------------------------------------------------------------------------
# Masked image modeling: MAE, U-MAE, M-MAE (Sections 3.2 and 5)
# --------------------------------------------------------------------------------------------

def mae_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, norm_pix: bool = True) -> torch.Tensor:
    """MAE reconstruction loss: per-patch mean squared error, averaged over the masked patches.

    `pred` and `target` are patch tensors of shape `(N, L, p*p*C)` (`target` is the
    patchified image), `mask` is `(N, L)` with 1 for a masked (removed) patch. With
    `norm_pix` each target patch is standardised by its own mean and variance (eps 1e-6), the
    target of the MAE recipe. This is the paper's `sum_i ||g(z_i) - x_i^(2)||^2` (Eq. 4 and
    below) up to the per-pixel mean. With no masked patch (`mask_ratio = 0`) the loss is 0.
    """
    if pred.shape != target.shape or pred.ndim != 3:
        raise ValueError(f"pred and target must both be (N, L, D); got {tuple(pred.shape)} and {tuple(target.shape)}")
    if mask.shape != pred.shape[:2]:
        raise ValueError(f"mask must be (N, L) = {tuple(pred.shape[:2])}; got {tuple(mask.shape)}")
    if norm_pix:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1e-6) ** 0.5
    per_patch = (pred - target).pow(2).mean(dim=-1)
    mask = mask.to(per_patch.dtype)
    # clamp instead of a branch: no host sync, and 0 / 1 = 0 when nothing is masked
    return (per_patch * mask).sum() / mask.sum().clamp_min(1.0)


def uniformity_loss(z: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """U-MAE's uniformity regulariser as its public code computes it: `mean((F F^T / tau)^2)`.

    The mean runs over all `B^2` entries of the Gram matrix of the l2-normalised rows `F`
    (diagonal included). `tau = 1` is the "square" uniformity loss used as the U-MAE baseline of
    the M-MAE paper; an earlier U-MAE code divided by `tau = 0.1`. In terms of the paper's
    penalty ([`umae_penalty`][mmae.losses.umae_penalty]): `uniformity_loss(z, tau) = (umae_penalty(z) + B) / (B tau)^2`,
    so the two differ by a constant and the factor `1 / (B tau)^2` on the coefficient gamma.
    """
    _batch(z)
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    f = _unit_rows(z)
    return ((f @ f.T) / tau).pow(2).mean()


def umae_penalty(z: torch.Tensor) -> torch.Tensor:
    """The U-MAE penalty as the paper prints it (Section 3.2): `sum_{i != j} (z_i^T z_j)^2`.

    Rows are l2-normalised first (Section 3.2 assumes `||z_i|| = 1`).
    """
    _batch(z)
    f = _unit_rows(z)
    gram = f @ f.T
    return gram.pow(2).sum() - torch.diagonal(gram).pow(2).sum()


def tcr_loss(z: torch.Tensor, mu: float) -> torch.Tensor:
    """M-MAE's regulariser as the authors' public code computes it: `-log det(I_d + (mu/d) F^T F)`.

    `F` is the `(B, d)` batch with l2-normalised rows, so `F^T F` is the paper's `Z Z^T`.
    Relation to Definition 4.8 ([`mmae.info.total_coding_rate`][mmae.info.total_coding_rate], `TCR_m(K) = log det(m I + K)`)::

        -tcr_loss(z, mu) = TCR_{d/mu}(Z Z^T) - d log(d/mu)

    i.e. the paper's TCR with `m = d / mu` up to a constant, and Eq. (11)
    `L_M-MAE = L_MAE - lambda TCR` is `mae + lambda * tcr_loss`, as M-MAE trains it ([`mmae.methods.mmae`][mmae.methods.mmae]).

    Evaluated in float32 (float64 for float64 input) with autocast disabled, because a bf16
    log-determinant loses most of its digits. Cost: one Cholesky factorisation of the smaller of
    the `d x d` matrix `I + c F^T F` and the `B x B` matrix `I + c F F^T`, which have the
    same determinant (Sylvester's identity). Both are `I` plus a PSD matrix, so positive
    definite: the factorisation cannot fail for finite input.
    """
    _batch(z)
    if not mu >= 0:
        raise ValueError(f"mu must be non-negative, got {mu}")
    dtype = torch.float64 if z.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=z.device.type, enabled=False):
        f = _unit_rows(z.to(dtype))
        b, d = f.shape
        small = f.T @ f if d <= b else f @ f.T
        eye = torch.eye(small.shape[0], dtype=dtype, device=f.device)
        # cholesky_ex: no error check, hence no host sync; I + PSD is positive definite
        chol, _ = torch.linalg.cholesky_ex(eye + (mu / d) * small)
        return -2.0 * torch.log(torch.diagonal(chol)).sum()


# --------------------------------------------------------------------------------------------
# Siamese methods: InfoNCE, spectral contrastive, Barlow Twins, BYOL (Section 3.2)
# --------------------------------------------------------------------------------------------

def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 1.0, reduction: str = "sum") -> torch.Tensor:
    """Eq. (1): the symmetric InfoNCE loss over the cross-branch similarities `z_i^(1)T z_j^(2)`.

    `-(1/2) [sum_i log softmax_j(S)_ii + sum_i log softmax_j(S^T)_ii]` with
    `S_ij = z_i^(1)T z_j^(2) / temperature` on l2-normalised rows. `temperature = 1` is the
    printed equation; SimCLR divides the similarities by its temperature. Negatives are the other
    samples of the *other* branch, as printed (SimCLR's NT-Xent also uses the same branch).
    """
    _pair(z1, z2)
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    s = (_unit_rows(z1) @ _unit_rows(z2).T) / temperature
    total = -0.5 * (torch.diagonal(F_.log_softmax(s, dim=1)).sum() + torch.diagonal(F_.log_softmax(s, dim=0)).sum())
    return _reduce(total, z1.shape[0], reduction)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, reduction: str = "sum") -> torch.Tensor:
    """SimCLR's NT-Xent loss (Chen et al., 2020, Eq. 1): InfoNCE over all `2B` views.

    Each of the `2B` l2-normalised views is classified against the other `2B - 1`: its
    positive (the other view of its sample) and `2B - 2` negatives from *both* branches. The
    total is the sum of the `2B` cross-entropies divided by 2, so that it is on the scale of
    [`info_nce`][mmae.losses.info_nce] (Eq. 1 of the paper), which keeps only the `B - 1` cross-branch negatives.
    """
    _pair(z1, z2)
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    b = z1.shape[0]
    f = _unit_rows(torch.cat([z1, z2]))
    s = (f @ f.T) / temperature
    s = s.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=s.device), float("-inf"))
    target = (torch.arange(2 * b, device=s.device) + b) % (2 * b)  # the other view; built on the device
    total = 0.5 * F_.cross_entropy(s, target, reduction="sum")
    return _reduce(total, b, reduction)


def spectral_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, lam: float = 1.0, reduction: str = "sum") -> torch.Tensor:
    """Eq. (2): `sum_i ||z_i^(1) - z_i^(2)||^2 + lambda sum_{i != j} (z_i^(1)T z_j^(2))^2`.

    Rows are l2-normalised first (Section 3.2). `lam = 1` is HaoChen et al.'s original loss.
    """
    _pair(z1, z2)
    f1, f2 = _unit_rows(z1), _unit_rows(z2)
    cross = f1 @ f2.T
    align = (f1 - f2).pow(2).sum()
    off = cross.pow(2).sum() - torch.diagonal(cross).pow(2).sum()
    return _reduce(align + lam * off, z1.shape[0], reduction)


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, lam: float, normalize: str = "paper",
                      reduction: str = "sum") -> torch.Tensor:
    """Eq. (3): `sum_i (1 - C_ii)^2 + lambda sum_i sum_{j != i} C_ij^2`.

    `normalize="paper"`: `C_ij = zbar_i^(1)T zbar_j^(2)` with each feature column l2-normalised
    over the batch *without centring* (Section 3.2), the form the theorems are stated for.
    `normalize="standard"`: the original Barlow Twins code, which standardises each feature over
    the batch (mean 0, biased variance 1, eps 1e-5 as `BatchNorm1d(affine=False)`) and divides
    `z1n^T z2n` by `B`. `reduction="mean"` divides by `d`.
    """
    _pair(z1, z2, min_rows=2 if normalize == "standard" else 1)
    if normalize == "paper":
        a, b = F_.normalize(z1, dim=0), F_.normalize(z2, dim=0)
        c = a.T @ b
    elif normalize == "standard":
        def std(z):
            return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + 1e-5)
        c = std(z1).T @ std(z2) / z1.shape[0]
    else:
        raise ValueError(f"normalize must be 'paper' or 'standard', got {normalize!r}")
    diag = torch.diagonal(c)
    total = (1 - diag).pow(2).sum() + lam * (c.pow(2).sum() - diag.pow(2).sum())
    return _reduce(total, z1.shape[1], reduction)


def byol_loss(p: torch.Tensor, z: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """BYOL's regression loss `2 - 2 cos(p_i, z_i)` (Grill et al., 2020, Eq. 2), per sample.

    `p` is the online prediction, `z` the target projection; the target is treated as a
    constant (stop-gradient), so no gradient reaches `z`. The symmetrised BYOL loss is
    `byol_loss(p1, z2) + byol_loss(p2, z1)`.
    """
    _pair(p, z)
    per_sample = 2 - 2 * (_unit_rows(p) * _unit_rows(z.detach())).sum(dim=-1)
    return _reduce(per_sample.sum(), p.shape[0], reduction)

