"""The masked-image-modeling losses of mmae.losses against direct transcriptions and closed forms.

(The Siamese losses, Eqs. (1)-(3) and BYOL, are checked in test_losses_siamese.py.)
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

from mmae import losses as L
from mmae.methods import mmae as M_MAE, umae as U_MAE
from _tol import roundoff

F64 = torch.float64


def _rows(b, d, seed=0):
    return torch.randn(b, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------ MAE

def test_mae_loss_is_mse_on_masked_patches_with_normalised_targets():
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(2, 5, 12, generator=g, dtype=F64), torch.rand(2, 5, 12, generator=g, dtype=F64)
    mask = torch.tensor([[1, 0, 1, 0, 0], [0, 0, 0, 1, 1]], dtype=torch.float64)
    # by hand, patch by patch
    total, count = 0.0, 0
    for n in range(2):
        for l in range(5):
            if mask[n, l]:
                t = target[n, l]
                t = (t - t.mean()) / math.sqrt(t.var().item() + 1e-6)
                total += ((pred[n, l] - t) ** 2).mean().item()
                count += 1
    assert L.mae_loss(pred, target, mask).item() == pytest.approx(total / count, rel=1e-12)
    raw = ((pred - target) ** 2).mean(-1)
    assert L.mae_loss(pred, target, mask, norm_pix=False).item() == pytest.approx((raw * mask).sum().item() / 4, rel=1e-12)


def test_mae_loss_without_masked_patches_is_zero_not_nan():
    pred = torch.randn(2, 4, 3, dtype=F64)
    assert L.mae_loss(pred, pred + 1, torch.zeros(2, 4)).item() == 0.0


def test_mae_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="pred and target"):
        L.mae_loss(torch.zeros(2, 4, 3), torch.zeros(2, 4, 5), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="mask must be"):
        L.mae_loss(torch.zeros(2, 4, 3), torch.zeros(2, 4, 3), torch.zeros(2, 5))


# ------------------------------------------------------------------ U-MAE

def test_umae_penalty_is_the_printed_off_diagonal_sum():
    z = _rows(7, 4)
    f = z / z.norm(dim=1, keepdim=True)
    expect = sum(float(f[i] @ f[j]) ** 2 for i in range(7) for j in range(7) if i != j)
    assert L.umae_penalty(z).item() == pytest.approx(expect, rel=1e-12)


@given(b=st.integers(2, 12), d=st.integers(1, 9), tau=st.sampled_from([0.1, 0.5, 1.0, 2.0]), seed=st.integers(0, 10**6))
def test_uniformity_loss_relates_to_umae_penalty(b, d, tau, seed):
    z = _rows(b, d, seed)
    lhs = L.uniformity_loss(z, tau).item()
    assert lhs == pytest.approx((L.umae_penalty(z).item() + b) / (b * tau) ** 2, rel=1e-10, abs=1e-12)


def test_uniformity_loss_extremes():
    # all rows equal: every cosine is 1 (float32: a mean of 5 x 5 squared cosines); orthonormal rows:
    # only the diagonal survives
    assert L.uniformity_loss(torch.ones(5, 3)).item() == pytest.approx(1.0, rel=roundoff(torch.float32, 5 * 5))
    assert L.uniformity_loss(torch.eye(4, dtype=F64)).item() == pytest.approx(4 / 16)
    assert L.uniformity_loss(torch.eye(4, dtype=F64), tau=0.1).item() == pytest.approx(4 / 16 / 0.01)


# ------------------------------------------------------------------ M-MAE (TCR)

def _tcr_by_hand(z, mu):
    f = z / z.norm(dim=1, keepdim=True)
    d = f.shape[1]
    return -float(np.linalg.slogdet(np.eye(d) + (mu / d) * (f.T @ f).numpy())[1])


@pytest.mark.parametrize("b,d", [(16, 4), (4, 16), (8, 8), (1, 3)])
@pytest.mark.parametrize("mu", [0.1, 1.0, 3.0])
def test_tcr_loss_matches_logdet_on_both_sides_of_sylvester(b, d, mu):
    z = _rows(b, d, seed=b * 100 + d)
    assert L.tcr_loss(z, mu).item() == pytest.approx(_tcr_by_hand(z, mu), rel=1e-12, abs=1e-12)


def test_tcr_loss_relates_to_definition_4_8():
    # -tcr_loss(z, mu) = TCR_{d/mu}(Z Z^T) - d log(d/mu), TCR_m(K) = log det(m I + K)
    z, mu = _rows(10, 6, seed=3), 1.7
    f = z / z.norm(dim=1, keepdim=True)
    d = 6
    tcr = float(np.linalg.slogdet((d / mu) * np.eye(d) + (f.T @ f).numpy())[1])
    assert -L.tcr_loss(z, mu).item() == pytest.approx(tcr - d * math.log(d / mu), rel=1e-12)


def test_tcr_loss_closed_forms():
    # orthonormal rows (B = d): F^T F = I, so -log det((1 + mu/d) I) = -d log(1 + mu/d)
    d, mu = 5, 2.0
    assert L.tcr_loss(torch.eye(d, dtype=F64), mu).item() == pytest.approx(-d * math.log(1 + mu / d))
    # one direction repeated B times: F^T F = B e e^T, a single eigenvalue B
    b = 9
    z = torch.zeros(b, d, dtype=F64); z[:, 2] = 3.0
    assert L.tcr_loss(z, mu).item() == pytest.approx(-math.log(1 + mu * b / d))
    assert L.tcr_loss(z, 0.0).item() == 0.0


def test_tcr_loss_stays_float32_under_bf16_autocast():
    z = torch.randn(32, 16, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = L.tcr_loss(z.to(torch.bfloat16), 1.0)
    assert out.dtype == torch.float32
    ref = _tcr_by_hand(z.to(torch.bfloat16).double(), 1.0)
    # float32 round-off against float64 on the same bf16 values: Gram entries sum B = 32 products
    assert out.item() == pytest.approx(ref, rel=roundoff(torch.float32, 32))


def test_tcr_loss_gradient_matches_finite_differences():
    z = _rows(6, 4, seed=5).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: L.tcr_loss(t, 1.3), (z,))
    # the regulariser pushes features apart: the uniformity gradient too
    assert torch.autograd.gradcheck(lambda t: L.uniformity_loss(t, 0.5), (z,))


@pytest.mark.parametrize("objective, reg", [
    (lambda mae, z: M_MAE.objective(mae, z, 0.01, 1.0), lambda z: L.tcr_loss(z, 1.0)),
    (lambda mae, z: U_MAE.objective(mae, z, 0.01, 0.1), lambda z: L.uniformity_loss(z, 0.1))])
def test_objectives_are_eq_11_and_umae(objective, reg):
    # the objective as it trains (gradient caching on one process): value and gradient of mae + lam R
    z, mae = _rows(8, 5, seed=9).float().requires_grad_(), torch.tensor(0.25)
    got, want = objective(mae, z), 0.25 + 0.01 * reg(z)
    tol = roundoff(torch.float32, 8 * 5)
    assert got.item() == pytest.approx(want.item(), rel=tol)
    (g_got,), (g_want,) = torch.autograd.grad(got, z), torch.autograd.grad(want, z)
    torch.testing.assert_close(g_got, g_want, rtol=tol, atol=tol * g_want.abs().max().item())


@pytest.mark.parametrize("call,match", [
    (lambda: L.tcr_loss(torch.zeros(3, 2, 2), 1.0), "must be a \\(B, d\\) batch"),
    (lambda: L.tcr_loss(torch.randn(3, 2), -1.0), "mu must be non-negative, got -1.0"),
    (lambda: L.uniformity_loss(torch.randn(3, 2), 0.0), "tau must be positive"),
    (lambda: L.umae_penalty([[1.0]]), "must be a torch.Tensor"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------ SimCLR's NT-Xent

def test_nt_xent_matches_a_transcription_of_simclr():
    z1, z2 = _rows(5, 3, seed=11), _rows(5, 3, seed=12)
    t = 0.5
    v = torch.cat([z1, z2])
    v = v / v.norm(dim=1, keepdim=True)
    total = 0.0
    for i in range(10):
        pos = (i + 5) % 10
        den = sum(math.exp(float(v[i] @ v[k]) / t) for k in range(10) if k != i)
        total += -math.log(math.exp(float(v[i] @ v[pos]) / t) / den)
    assert L.nt_xent(z1, z2, t).item() == pytest.approx(total / 2, rel=1e-12)
    assert L.nt_xent(z1, z2, t, reduction="mean").item() == pytest.approx(total / 10, rel=1e-12)


def test_nt_xent_has_more_negatives_than_eq_1():
    # identical branches: Eq. (1)'s per-row denominator has B terms, NT-Xent's 2B - 1
    z = torch.eye(4, dtype=F64)
    b, e = 4, math.e
    assert L.info_nce(z, z).item() == pytest.approx(b * math.log(e + (b - 1)) - b)
    assert L.nt_xent(z, z, 1.0).item() == pytest.approx(b * math.log(e + 2 * (b - 1)) - b)
