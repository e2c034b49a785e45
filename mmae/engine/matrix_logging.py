"""Matrix-information monitoring of the two Siamese branches (Figures 1, 2, 3 and 5).

Once per epoch, a fixed evaluation batch of training images with fixed augmentations goes
through both branches (network in eval mode, float32), giving z^(1), z^(2) of shape (B, d). Rows
are l2-normalised first (Section 3.2 assumes ||z_j|| = 1); then

- feature Gram ("feat_*", d x d): K_k = Zbar_k Zbar_k^T = `feature_gram(z_k)`, the batch-normalised
  feature correlation of Figures 1, 2, 5 and of the Barlow Twins statements;
- sample Gram ("sample_*", B x B): K_k = Z_k^T Z_k = `sample_gram(z_k)`, the matrix of the
  spectral contrastive statements.

For each kind: mutual information I_a(K1; K2) (Definition 3.2) and joint entropy H_a(K1, K2)
(Definition 3.3) for a = 1, 2; the matrix JS divergence JS(K1 || K2) (Definition C.2); the JS
divergence of the normalised spectra (Figure 5b); each branch's entropy H_a(K_k) and the effective
rank of its normalised batch matrix. On the feature Gram also TCR_mu(K1 o K2) (Definition 4.8).

Loss terms in the paper's (summed) form, on the same batch:
  sc_align = sum_i ||z_i^(1) - z_i^(2)||^2, sc_offdiag = sum_{i!=j} (z_i^(1)T z_j^(2))^2,
  sc_loss = sc_align + lam_sc sc_offdiag                                         (Eq. 2)
  bt_ondiag = sum_i (1 - C_ii)^2, bt_offdiag = sum_{i!=j} C_ij^2, C = Zbar_1 Zbar_2^T,
  bt_loss = bt_ondiag + lam_bt bt_offdiag                                        (Eq. 3, "paper")
and the right-hand sides of the bounds, to be read against the measured value next to them:
  bound_4_3_sc   <= sample_mi_a2      log B - 2 log(1 + (2 + 2/(B lam)) L_SC)      Theorem 4.3.1
  bound_4_3_bt   <= feat_mi_a2        log d - 2 log(1 + 2/(d lam) L_BT + 4 sqrt(d L_BT))   4.3.2
  bound_4_13_sc  <= sample_joint_a2   log B - log(1 + (2 + 2/(B lam)) L_SC)        Theorem 4.13.1
  bound_4_13_bt  <= feat_joint_a2     log d - log(1 + 2/(d lam) L_BT + 4 sqrt(d L_BT))     4.13.2
  bound_4_17_bt_mu<m> <= feat_tcr_joint_mu<m>
                    d log(mu + 1) - (2/lam L_BT + 4 (d - 1) sqrt(d L_BT)) / (2 mu^2)  Theorem 4.17
The loss terms are recomputed here on unit rows whatever the training variant (e.g. Barlow Twins
trained with batch standardisation), because the theorems are stated for this form.

All of it runs once per epoch in float64 on the device holding the outputs, never inside the
training step: eight eigendecompositions in all (`_gram_metrics`: four per kind), each quantity
derived from those spectra, and one copy of the results to the host.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mmae import info
from mmae.data.keyed import SampleRandom


def _f(x) -> float:
    return float(x.item()) if isinstance(x, torch.Tensor) else float(x)


def _gram_metrics(prefix: str, K1: torch.Tensor, K2: torch.Tensor, alphas=(1.0, 2.0), mus=()) -> dict:
    r"""Information quantities of one pair of Gram matrices, as 0-d tensors on their device.

    Four eigendecompositions, one per matrix: $K_1$, $K_2$ (validated: unit diagonal, PSD),
    $K_1 \odot K_2$ and $(K_1 + K_2)/2$; every quantity is a function of these spectra (`mmae.info`'s
    `*_from_spectr*`). The effective rank of a branch's normalised batch matrix $A_k$ comes from its
    Gram matrix $K_k = A_k^\top A_k$ (feature) or $A_k A_k^\top$ (sample): $\sigma_i(A_k)^2 = \lambda_i(K_k)$.
    TCR of the joint matrix, $\log\det(\mu I + K_1 \odot K_2)$, is read off the joint spectrum."""
    l1, l2 = info.spectrum(K1), info.spectrum(K2)
    l12 = info.spectrum(K1 * K2, validate=False)
    lm = info.spectrum(0.5 * (K1 + K2), validate=False)
    r = {}
    for a in alphas:
        t = f"a{a:g}"
        r[f"{prefix}_h1_{t}"] = info.entropy_from_spectrum(l1, a)
        r[f"{prefix}_h2_{t}"] = info.entropy_from_spectrum(l2, a)
        r[f"{prefix}_joint_{t}"] = info.entropy_from_spectrum(l12, a)
        r[f"{prefix}_mi_{t}"] = info.mutual_information_from_spectra(l1, l2, l12, a)
    r[f"{prefix}_js"] = info.js_divergence_from_spectra(l1, l2, lm)
    r[f"{prefix}_spectrum_js"] = info.spectrum_js_from_spectra(l1, l2)
    r[f"{prefix}_erank1"] = info.effective_rank_from_gram_spectrum(l1)
    r[f"{prefix}_erank2"] = info.effective_rank_from_gram_spectrum(l2)
    for mu in mus:
        r[f"{prefix}_tcr_joint_mu{mu:g}"] = info.total_coding_rate_from_spectrum(l12, mu)
    return r


def loss_terms(z1: torch.Tensor, z2: torch.Tensor, sc_lam: float, bt_lam: float) -> dict:
    """The summed terms of Eqs. (2) and (3) on unit rows (Section 3.2), as floats."""
    f1, f2 = F.normalize(z1.double(), dim=1), F.normalize(z2.double(), dim=1)
    cross = f1 @ f2.T
    sc_align = (f1 - f2).pow(2).sum()
    sc_off = cross.pow(2).sum() - cross.diagonal().pow(2).sum()
    c = F.normalize(f1, dim=0).T @ F.normalize(f2, dim=0)
    bt_on = (1 - c.diagonal()).pow(2).sum()
    bt_off = c.pow(2).sum() - c.diagonal().pow(2).sum()
    r = {"sc_align": sc_align, "sc_offdiag": sc_off, "sc_loss": sc_align + sc_lam * sc_off,
         "bt_ondiag": bt_on, "bt_offdiag": bt_off, "bt_loss": bt_on + bt_lam * bt_off}
    return {k: _f(v) for k, v in r.items()}


def bounds(B: int, d: int, L_sc: float, L_bt: float, sc_lam: float, bt_lam: float, mus=(1.0,)) -> dict:
    """Right-hand sides of Theorems 4.3, 4.13 and 4.17 (None where lam = 0 makes them vacuous)."""
    r: dict = {}
    if sc_lam > 0:
        s = math.log1p((2 + 2 / (B * sc_lam)) * L_sc)
        r["bound_4_3_sc"] = math.log(B) - 2 * s
        r["bound_4_13_sc"] = math.log(B) - s
    else:
        r["bound_4_3_sc"] = r["bound_4_13_sc"] = None
    if bt_lam > 0:
        t = math.log1p(2 / (d * bt_lam) * L_bt + 4 * math.sqrt(d * L_bt))
        r["bound_4_3_bt"] = math.log(d) - 2 * t
        r["bound_4_13_bt"] = math.log(d) - t
        for mu in mus:
            slack = 2 / bt_lam * L_bt + 4 * (d - 1) * math.sqrt(d * L_bt)
            r[f"bound_4_17_bt_mu{mu:g}"] = d * math.log(mu + 1) - slack / (2 * mu**2)
    else:
        r["bound_4_3_bt"] = r["bound_4_13_bt"] = None
        for mu in mus:
            r[f"bound_4_17_bt_mu{mu:g}"] = None
    return r


@torch.no_grad()
def branch_metrics(z1: torch.Tensor, z2: torch.Tensor, *, sc_lam: float = 1.0, bt_lam: float = 1.0,
                   mus=(1.0,), alphas=(1.0, 2.0)) -> dict:
    """Every quantity of the module docstring for one pair of branch outputs (B, d), as floats.

    A group whose Gram matrices are invalid (e.g. a feature that is 0 on the whole batch, so its
    normalisation is undefined) is recorded as None rather than stopping the training."""
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(f"branch outputs must be two (B, d) batches of one shape, "
                         f"got {tuple(z1.shape)} and {tuple(z2.shape)}")
    B, d = z1.shape
    f1, f2 = F.normalize(z1.double(), dim=1), F.normalize(z2.double(), dim=1)
    rec: dict = {"info_batch": B, "info_dim": d}
    values: dict = {}
    try:
        values.update(_gram_metrics("feat", info.feature_gram(f1), info.feature_gram(f2), alphas, mus))
    except ValueError:
        rec["feat_invalid"] = 1
    try:
        values.update(_gram_metrics("sample", info.sample_gram(f1), info.sample_gram(f2), alphas))
    except ValueError:
        rec["sample_invalid"] = 1
    if values:  # one copy to the host for all of them
        rec.update(zip(values, torch.stack(list(values.values())).tolist()))
    terms = loss_terms(z1, z2, sc_lam, bt_lam)
    rec.update(terms)
    rec.update(bounds(B, d, terms["sc_loss"], terms["bt_loss"], sc_lam, bt_lam, mus))
    rec["bound_sc_lam"], rec["bound_bt_lam"] = sc_lam, bt_lam
    return rec


class BranchMonitor:
    """Holds the fixed evaluation views and measures `branch_metrics` of a Siamese model on them.

    The images are picked once by a generator seeded with `seed` and their views drawn from the
    keyed generator of those images (the training views' code path, `mmae.data.keyed`), so every
    epoch, a resumed run and any number of processes see the same pixels."""

    def __init__(self, images: torch.Tensor, views, batch_size: int, seed: int, *, sc_lam: float, bt_lam: float,
                 mus=(1.0,)):
        n = images.shape[0]
        if batch_size < 2:
            raise ValueError(f"the evaluation batch needs >= 2 images, got {batch_size}")
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: min(batch_size, n)]
        idx = idx.to(images.device)
        self.v1, self.v2 = views(images[idx], gen=SampleRandom(seed, 0, idx))
        self.sc_lam, self.bt_lam, self.mus = sc_lam, bt_lam, tuple(mus)

    @torch.no_grad()
    def measure(self, model) -> dict:
        was_training = model.training
        model.eval()
        try:
            z1, z2 = model.branches(self.v1, self.v2)
        finally:
            model.train(was_training)
        return branch_metrics(z1.float(), z2.float(), sc_lam=self.sc_lam, bt_lam=self.bt_lam, mus=self.mus)
