"""VICReg (Bardes et al., 2022) added as one method module: its loss against independent float64
transcriptions of the published formula (Eq. (6), whose terms Algorithm 1 computes) and of the
authors' code's (`main_vicreg.py`), a closed-form zero, and a short run in the Siamese engine with the
matrix-information logging at the mini scale."""
import json
import math

import numpy as np
import pytest
import torch

from mmae import methods
from mmae.methods.vicreg import vicreg_loss
from mmae.engine import siamese as S
from _tol import roundoff

SEEDS = [0, 1, 2]


def _z(b, d, seed):
    return torch.randn(b, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _algorithm_1(za, zb, lam=25.0, mu=25.0, nu=1.0, gamma=1.0, eps=1e-4):
    """Eq. (6), `lam s(Z, Z') + mu [v(Z) + v(Z')] + nu [c(Z) + c(Z')]`, entry by entry in float64,
    with the invariance `s` as Algorithm 1 computes it (the mean squared error over all entries)."""
    za, zb = za.numpy(), zb.numpy()
    n, d = za.shape
    s = sum((za[i, j] - zb[i, j]) ** 2 for i in range(n) for j in range(d)) / (n * d)

    def v(z):  # (1/d) sum_j max(0, gamma - S(z^j, eps)), S the regularised standard deviation
        total = 0.0
        for j in range(d):
            mean = sum(z[i, j] for i in range(n)) / n
            var = sum((z[i, j] - mean) ** 2 for i in range(n)) / (n - 1)
            total += max(0.0, gamma - math.sqrt(var + eps))
        return total / d

    def c(z):  # (1/d) sum_{i != j} C(Z)_ij^2, C(Z) = 1/(n-1) sum_k (z_k - zbar)(z_k - zbar)^T
        zbar = [sum(z[k, j] for k in range(n)) / n for j in range(d)]
        total = 0.0
        for a in range(d):
            for b in range(d):
                if a != b:
                    cab = sum((z[k, a] - zbar[a]) * (z[k, b] - zbar[b]) for k in range(n)) / (n - 1)
                    total += cab ** 2
        return total / d

    return lam * s + mu * (v(za) + v(zb)) + nu * (c(za) + c(zb))


def _authors_code(x, y, sim=25.0, std=25.0, cov=1.0):
    """The formula of the authors' code (facebookresearch/vicreg, `main_vicreg.py`, `VICReg.forward`),
    in numpy: the invariance on the raw projections, then both branches centred; the two variance
    hinges averaged; the covariances over the batch (B - 1) and their off-diagonal squares over d."""
    x, y = x.numpy(), y.numpy()
    n, d = x.shape
    repr_loss = np.mean((x - y) ** 2)
    x, y = x - x.mean(0), y - y.mean(0)
    std_x, std_y = np.sqrt(x.var(0, ddof=1) + 1e-4), np.sqrt(y.var(0, ddof=1) + 1e-4)
    std_loss = np.mean(np.maximum(0, 1 - std_x)) / 2 + np.mean(np.maximum(0, 1 - std_y)) / 2
    off = ~np.eye(d, dtype=bool)
    cov_x, cov_y = x.T @ x / (n - 1), y.T @ y / (n - 1)
    cov_loss = (cov_x[off] ** 2).sum() / d + (cov_y[off] ** 2).sum() / d
    return sim * repr_loss + std * std_loss + cov * cov_loss


def _tol(za, zb, ref):
    # sums of n*d (invariance) and n terms per covariance entry: float64 round-off of that size
    n, d = za.shape
    return roundoff(torch.float64, n * d, max(1.0, abs(ref)), k=8)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("scale", [0.3, 1.0, 3.0])  # the hinge active, mixed, inactive
def test_vicreg_is_eq_6_as_algorithm_1_computes_it(seed, scale):
    za, zb = scale * _z(12, 5, seed), scale * _z(12, 5, seed + 10)
    ref = _algorithm_1(za, zb)
    got = vicreg_loss(za, zb, branches="sum").item()
    assert got == pytest.approx(ref, rel=0, abs=_tol(za, zb, ref))
    # other weights, margin and eps
    ref = _algorithm_1(za, zb, lam=2.0, mu=3.0, nu=0.5, gamma=1.5, eps=1e-2)
    got = vicreg_loss(za, zb, inv=2.0, var=3.0, cov=0.5, gamma=1.5, eps=1e-2, branches="sum").item()
    assert got == pytest.approx(ref, rel=0, abs=_tol(za, zb, ref))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("scale", [0.3, 1.0, 3.0])
def test_vicreg_mean_is_the_authors_code(seed, scale):
    za, zb = scale * _z(16, 6, seed), scale * _z(16, 6, seed + 20)
    ref = _authors_code(za, zb)
    got = vicreg_loss(za, zb, branches="mean").item()
    assert got == pytest.approx(ref, rel=0, abs=_tol(za, zb, ref))
    # the two forms differ exactly by half the variance terms (zero once the hinge is inactive)
    half_var = 25.0 * (_algorithm_1(za, zb, lam=0, mu=1, nu=0)) / 2
    assert vicreg_loss(za, zb, branches="sum").item() - got == pytest.approx(half_var, rel=0,
                                                                               abs=_tol(za, zb, ref))


def test_vicreg_is_zero_on_identical_whitened_branches():
    # columns of +-1 over 4 samples: mean 0, unbiased variance 4/3 (std above gamma = 1, eps included),
    # orthogonal (no covariance); identical branches (no invariance term)
    z = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    assert vicreg_loss(z, z.clone(), branches="sum").item() == 0.0
    # a collapsed batch pays the full hinge on both branches: 25 * 2 * (1 - sqrt(eps))
    c = torch.zeros(4, 2, dtype=torch.float64)
    assert vicreg_loss(c, c, branches="sum").item() == pytest.approx(50 * (1 - math.sqrt(1e-4)), rel=1e-15)


def test_vicreg_gradient_and_bad_input():
    za, zb = _z(6, 3, 0).requires_grad_(), _z(6, 3, 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: vicreg_loss(a, b, branches="mean"), (za, zb))
    with pytest.raises(ValueError, match="branches"):
        vicreg_loss(za, zb, branches="max")
    with pytest.raises(ValueError, match="B >= 2"):
        vicreg_loss(za[:1], zb[:1])
    with pytest.raises(ValueError, match="vic_var"):
        S.recipe("vicreg", "digits", vic_var=-1.0)


def test_the_method_trains_the_authors_form_with_the_published_weights():
    m = methods.get("vicreg")
    assert m.family == "siamese" and m.asymmetric_views
    p = m.Params()
    assert (p.vic_inv, p.vic_var, p.vic_cov, p.vic_branches) == (25.0, 25.0, 1.0, "mean")
    torch.manual_seed(0)
    from mmae.models.resnet import convnet_small
    model = m.build(convnet_small(1, 8), S.recipe("vicreg", "digits", proj_hidden=16, proj_out=8)).train()
    x1, x2 = torch.randn(6, 1, 8, 8), torch.randn(6, 1, 8, 8)
    loss = model(x1, x2)
    with torch.no_grad():  # same batch-norm statistics: the projections as forward computes them
        z1, z2 = model.project_views(x1, x2)
    assert loss.item() == pytest.approx(_authors_code(z1.double(), z2.double()), rel=roundoff(torch.float32, 6 * 8))


def test_vicreg_runs_in_the_siamese_engine_with_matrix_information_logging(tmp_path):
    cfg = S.recipe("vicreg", "digits", epochs=1, linprobe_epochs=1, info_batch=128, device="cpu")
    metrics = S.run(cfg, tmp_path / "vicreg")
    records = [json.loads(line) for line in (tmp_path / "vicreg" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1]
    last = records[-1]
    assert math.isfinite(last["loss"]) and last["step"] == 5  # 1,347 images, batch 256
    assert last["info_batch"] == 128 and last["info_dim"] == cfg.proj_out
    assert all(math.isfinite(last[k]) for k in ("feat_mi_a2", "feat_joint_a2", "bt_loss", "sc_loss"))
    assert metrics["method"] == "vicreg" and 0 <= metrics["knn_top1"] <= 100
