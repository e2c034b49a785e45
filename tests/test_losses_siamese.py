"""The Siamese losses of mmae.losses against element-by-element transcriptions of the printed
Eqs. (1)-(3) (Section 3.2) and BYOL's loss, and at the zero-loss configurations the theorems use."""
import math

import numpy as np
import pytest
import torch

from mmae import losses as L
from _tol import roundoff

SEEDS = [0, 1, 2]


def _z(b, d, seed):
    return torch.randn(b, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _unit(z):
    z = z.numpy()
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def _eq1(z1, z2, tau):
    """Eq. (1) term by term (rows unit-normalised, similarities divided by the temperature)."""
    a, b = _unit(z1), _unit(z2)
    B = a.shape[0]
    s1 = s2 = 0.0
    for i in range(B):
        s1 += math.log(math.exp(a[i] @ b[i] / tau) / sum(math.exp(a[i] @ b[j] / tau) for j in range(B)))
        s2 += math.log(math.exp(b[i] @ a[i] / tau) / sum(math.exp(b[i] @ a[j] / tau) for j in range(B)))
    return -0.5 * (s1 + s2)


def _eq2(z1, z2, lam):
    a, b = _unit(z1), _unit(z2)
    B = a.shape[0]
    align = sum(float(np.sum((a[i] - b[i]) ** 2)) for i in range(B))
    off = sum(float(a[i] @ b[j]) ** 2 for i in range(B) for j in range(B) if i != j)
    return align + lam * off


def _eq3_paper(z1, z2, lam):
    """Eq. (3) with zbar_i(j) = z_j(i) / sqrt(sum_j z_j(i)^2) and C_ij = zbar_i^(1)T zbar_j^(2)."""
    a, b = z1.numpy(), z2.numpy()
    B, d = a.shape
    zb1 = [[a[j, i] / math.sqrt(sum(a[k, i] ** 2 for k in range(B))) for j in range(B)] for i in range(d)]
    zb2 = [[b[j, i] / math.sqrt(sum(b[k, i] ** 2 for k in range(B))) for j in range(B)] for i in range(d)]
    C = [[sum(zb1[i][k] * zb2[j][k] for k in range(B)) for j in range(d)] for i in range(d)]
    return sum((1 - C[i][i]) ** 2 for i in range(d)) + lam * sum(C[i][j] ** 2 for i in range(d) for j in range(d) if j != i)


def _eq3_standard(z1, z2, lam):
    """The original Barlow Twins code: BatchNorm1d(affine=False) (biased variance, eps 1e-5), C = z1n^T z2n / B."""
    a, b = z1.numpy(), z2.numpy()
    B = a.shape[0]
    an = (a - a.mean(0)) / np.sqrt(a.var(0) + 1e-5)
    bn = (b - b.mean(0)) / np.sqrt(b.var(0) + 1e-5)
    c = an.T @ bn / B
    on = np.sum((1 - np.diag(c)) ** 2)
    off = np.sum(c ** 2) - np.sum(np.diag(c) ** 2)
    return on + lam * off


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tau", [1.0, 0.5, 0.3])
def test_info_nce_is_eq1(seed, tau):
    z1, z2 = _z(6, 5, seed), _z(6, 5, seed + 10)
    want = _eq1(z1, z2, tau)
    assert L.info_nce(z1, z2, temperature=tau).item() == pytest.approx(want, rel=1e-12)
    assert L.info_nce(z1, z2, temperature=tau, reduction="mean").item() == pytest.approx(want / 6, rel=1e-12)
    # symmetric in the branches, as printed
    assert L.info_nce(z2, z1, temperature=tau).item() == pytest.approx(want, rel=1e-12)


def test_info_nce_default_temperature_is_the_printed_equation():
    z1, z2 = _z(5, 4, 3), _z(5, 4, 4)
    assert L.info_nce(z1, z2).item() == pytest.approx(_eq1(z1, z2, 1.0), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("lam", [1.0, 0.3])
def test_spectral_contrastive_is_eq2(seed, lam):
    z1, z2 = _z(7, 4, seed), _z(7, 4, seed + 10)
    want = _eq2(z1, z2, lam)
    assert L.spectral_contrastive_loss(z1, z2, lam=lam).item() == pytest.approx(want, rel=1e-12)
    assert L.spectral_contrastive_loss(z1, z2, lam=lam, reduction="mean").item() == pytest.approx(want / 7, rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("lam", [1.0, 0.0051])
def test_barlow_twins_paper_is_eq3(seed, lam):
    z1, z2 = _z(8, 5, seed), _z(8, 5, seed + 10)
    want = _eq3_paper(z1, z2, lam)
    assert L.barlow_twins_loss(z1, z2, lam, normalize="paper").item() == pytest.approx(want, rel=1e-12)
    assert L.barlow_twins_loss(z1, z2, lam, normalize="paper", reduction="mean").item() == pytest.approx(want / 5, rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_barlow_twins_standard_is_the_original_code(seed):
    z1, z2 = _z(8, 5, seed) * 3 + 1, _z(8, 5, seed + 10) - 2
    assert L.barlow_twins_loss(z1, z2, 0.0051, normalize="standard").item() == pytest.approx(
        _eq3_standard(z1, z2, 0.0051), rel=1e-10)


def test_barlow_twins_paper_does_not_centre():
    # a constant shift changes the uncentred ("paper") loss but not the standardised one
    z1, z2 = _z(8, 4, 5), _z(8, 4, 6)
    assert L.barlow_twins_loss(z1 + 3, z2, 1.0, "standard").item() == pytest.approx(
        L.barlow_twins_loss(z1, z2, 1.0, "standard").item(), rel=1e-9)
    assert abs(L.barlow_twins_loss(z1 + 3, z2, 1.0, "paper").item() - L.barlow_twins_loss(z1, z2, 1.0, "paper").item()) > 1e-3


@pytest.mark.parametrize("seed", SEEDS)
def test_byol_loss_is_two_minus_two_cosine(seed):
    p, z = _z(6, 5, seed), _z(6, 5, seed + 10)
    a, b = _unit(p), _unit(z)
    per = [2 - 2 * float(a[i] @ b[i]) for i in range(6)]
    assert L.byol_loss(p, z).item() == pytest.approx(sum(per) / 6, rel=1e-12)
    assert L.byol_loss(p, z, reduction="sum").item() == pytest.approx(sum(per), rel=1e-12)


def test_byol_loss_stops_the_gradient_of_the_target():
    p = _z(4, 3, 0).requires_grad_()
    z = _z(4, 3, 1).requires_grad_()
    L.byol_loss(p, z).backward()
    assert p.grad is not None and p.grad.abs().sum() > 0
    assert z.grad is None or z.grad.abs().sum() == 0


def _orthogonal(n, seed):
    q, _ = torch.linalg.qr(_z(n, n, seed))
    return q  # rows and columns orthonormal


@pytest.mark.parametrize("n", [2, 4, 7])
def test_identical_orthonormal_branches_give_zero_loss(n):
    # rows unit and mutually orthogonal: Eq. (2) vanishes; columns orthonormal: C = I and Eq. (3) vanishes
    q = _orthogonal(n, n)
    # zero up to round-off: Eqs. (2) and (3) sum the n^2 squared entries of a Gram matrix of unit
    # vectors, which total n, and subtract the diagonal's; BYOL averages n terms 2 - 2 cos of size 2
    gram_sum = roundoff(q.dtype, n * n, scale=n)
    assert L.spectral_contrastive_loss(q, q.clone(), lam=1.0).item() == pytest.approx(0.0, abs=gram_sum)
    assert L.barlow_twins_loss(q, q.clone(), lam=1.0, normalize="paper").item() == pytest.approx(0.0, abs=gram_sum)
    assert L.byol_loss(q, q.clone()).item() == pytest.approx(0.0, abs=roundoff(q.dtype, n, scale=2))
    # InfoNCE has no zero: at orthonormal identical branches it is B log(1 + (B - 1) e^{-1/tau})
    for tau in (1.0, 0.5):
        assert L.info_nce(q, q.clone(), temperature=tau).item() == pytest.approx(n * math.log1p((n - 1) * math.exp(-1 / tau)), rel=1e-12)


def test_standardised_barlow_twins_vanishes_on_hadamard_features():
    # columns 2..8 of the 8x8 Hadamard matrix: mean 0, variance 1, mutually orthogonal -> C = I / (1 + 1e-5)
    h = torch.tensor([[1.0]], dtype=torch.float64)
    for _ in range(3):
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    z = h[:, 1:]
    assert L.barlow_twins_loss(z, z.clone(), 0.0051, normalize="standard").item() == pytest.approx(
        7 * (1 - 1 / (1 + 1e-5)) ** 2, rel=1e-6)


def test_losses_are_positive_away_from_the_optimum():
    z1, z2 = _z(6, 4, 0), _z(6, 4, 1)
    assert L.spectral_contrastive_loss(z1, z2).item() > 0
    assert L.barlow_twins_loss(z1, z2, 1.0).item() > 0


def test_bad_input_is_a_value_error():
    with pytest.raises(ValueError, match="same shape"):
        L.info_nce(_z(4, 3, 0), _z(5, 3, 0))
    with pytest.raises(ValueError, match="temperature"):
        L.info_nce(_z(4, 3, 0), _z(4, 3, 1), temperature=0.0)
    with pytest.raises(ValueError, match="normalize"):
        L.barlow_twins_loss(_z(4, 3, 0), _z(4, 3, 1), 1.0, normalize="bogus")
    with pytest.raises(ValueError, match="reduction"):
        L.spectral_contrastive_loss(_z(4, 3, 0), _z(4, 3, 1), reduction="max")
