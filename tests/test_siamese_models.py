"""Backbones, Siamese heads, BYOL's EMA target, two-view augmentation, weighted kNN, the linear
probe and the matrix-information monitor, against published numbers and closed forms."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from types import SimpleNamespace

from mmae import info, losses, methods
from mmae.data.views import TwoViews
from mmae.engine.knn import knn_accuracy, knn_predict
from mmae.engine.matrix_logging import BranchMonitor, bounds, branch_metrics, loss_terms
from mmae.engine.siamese import linear_probe
from mmae.models.resnet import build_backbone, convnet_small, resnet18
from mmae.methods import barlow, byol, simclr, spectral
from mmae.models.siamese import mlp
from _tol import roundoff


def build_siamese(method, backbone, *, proj_hidden, proj_out, proj_layers=2, batch_size=256, **params):
    """The method's model from the fields the engine reads (every other hyper-parameter at its default)."""
    cfg = SimpleNamespace(proj_hidden=proj_hidden, proj_out=proj_out, proj_layers=proj_layers, batch_size=batch_size,
                          **{**methods.param_defaults("siamese"), **params})
    return methods.get(method, "siamese").build(backbone, cfg)



# ------------------------------------------------------------------ backbones

def test_resnet18_cifar_has_the_published_size_and_stem():
    net = resnet18()
    # the CIFAR ResNet-18 of the SimCLR/solo-learn literature: 11,173,962 parameters with a 10-way
    # classifier (512 * 10 + 10 of them), so 11,168,832 without it
    assert sum(p.numel() for p in net.parameters()) == 11_168_832
    conv = net.stem[0]
    assert conv.kernel_size == (3, 3) and conv.stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in net.modules())
    with torch.no_grad():
        assert net.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 512)
        # stride-1 stem, no pool: 32 -> 32 -> 16 -> 8 -> 4 spatially before the global pool
        assert net.blocks(net.stem(torch.zeros(1, 3, 32, 32))).shape == (1, 512, 4, 4)


def test_imagenet_stem_and_small_convnet():
    net = resnet18(stem="imagenet")
    assert net.stem[0].kernel_size == (7, 7) and isinstance(net.stem[-1], nn.MaxPool2d)
    small = convnet_small(1)
    with torch.no_grad():
        assert small.eval()(torch.zeros(3, 1, 8, 8)).shape == (3, small.num_features)
    with pytest.raises(ValueError, match="vit_huge"):
        build_backbone("vit_huge", 3)
    with pytest.raises(ValueError, match="stem"):
        resnet18(stem="tiny")


# ------------------------------------------------------------------ heads and methods

def test_projector_layout():
    p = mlp(512, 2048, 128, 2)
    assert [type(m) for m in p] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    p3 = mlp(512, 2048, 2048, 3, last_bn=True)
    assert sum(isinstance(m, nn.Linear) for m in p3) == 3 and not p3[-1].affine


@pytest.mark.parametrize("method, cls, simclr_loss", [
    ("simclr", simclr.SimCLRModel, "nt_xent"), ("simclr", simclr.SimCLRModel, "info_nce"),
    ("spectral", spectral.SpectralModel, None), ("barlow", barlow.BarlowModel, None), ("byol", byol.BYOLModel, None)])
def test_methods_compute_their_printed_loss_from_two_views(method, cls, simclr_loss):
    torch.manual_seed(0)
    m = build_siamese(method, convnet_small(1, 8), proj_hidden=16, proj_out=8, pred_hidden=16,
                      temperature=0.3, simclr_loss=simclr_loss or "nt_xent", sc_lam=0.25, bt_lam=0.01,
                      bt_scale=1.0)
    assert isinstance(m, cls)
    x1, x2 = torch.randn(6, 1, 8, 8), torch.randn(6, 1, 8, 8)
    m.train()
    loss = m(x1, x2)
    loss.backward()
    assert loss.ndim == 0 and math.isfinite(loss.item())
    assert all(p.grad is not None for p in m.backbone.parameters())
    with torch.no_grad():  # same batch-norm statistics: recompute the projections the way forward does
        z1, z2 = m.project_views(x1, x2)
        if method == "simclr":
            want = getattr(losses, simclr_loss)(z1, z2, temperature=0.3) / 6
        elif method == "spectral":
            want = losses.spectral_contrastive_loss(z1, z2, lam=0.25) / 6
        elif method == "barlow":
            want = losses.barlow_twins_loss(z1, z2, 0.01, normalize="standard")
        else:
            p1, p2 = m.predictor(m.projector(m.backbone(torch.cat([x1, x2])))).chunk(2)
            t1, t2 = m._target(torch.cat([x1, x2])).chunk(2)
            want = losses.byol_loss(p1, t2) + losses.byol_loss(p2, t1)
    assert loss.item() == pytest.approx(want.item(), rel=1e-5)


def test_byol_target_is_an_ema_outside_the_gradient():
    torch.manual_seed(0)
    m = build_siamese("byol", convnet_small(1, 8), proj_hidden=16, proj_out=8, pred_hidden=16)
    assert all(not p.requires_grad for p in m._target_params())
    online0 = [p.detach().clone() for p in m._online_params()]
    with torch.no_grad():
        for p in m._online_params():
            p.add_(torch.randn_like(p))
    target0 = [p.detach().clone() for p in m._target_params()]
    for t, o in zip(target0, online0):
        assert torch.equal(t, o)  # the target starts as a copy
    m.update_target(0.9)
    for t, t0, o in zip(m._target_params(), target0, m._online_params()):
        torch.testing.assert_close(t, 0.9 * t0 + 0.1 * o)
    before = [p.clone() for p in m._target_params()]
    m.update_target(1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, m._target_params()))
    m(torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)).backward()
    assert all(p.grad is None for p in m._target_params())


def test_bad_method_arguments():
    with pytest.raises(ValueError, match="moco"):
        build_siamese("moco", convnet_small(1, 8), proj_hidden=8, proj_out=8)
    with pytest.raises(ValueError, match="temperature"):
        build_siamese("simclr", convnet_small(1, 8), proj_hidden=8, proj_out=8, temperature=0)
    with pytest.raises(ValueError, match="normalize"):
        build_siamese("barlow", convnet_small(1, 8), proj_hidden=8, proj_out=8, bt_normalize="zca")


# ------------------------------------------------------------------ views

def test_views_shapes_ranges_and_independence():
    torch.manual_seed(0)
    r = methods.get("byol").views("cifar10", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 32)
    assert r.solarize_p == (0.0, 0.2) and r.blur_p == (0.0, 0.0) and r.crop_scale == (0.08, 1.0)
    v = TwoViews(r, 3)
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    a, b = v(x)
    assert a.shape == b.shape == (16, 3, 32, 32) and a.dtype == torch.float32
    # values are (p - 0.5) / 0.25 for p in [0, 1]
    assert a.min() >= -2 - 1e-5 and a.max() <= 2 + 1e-5
    assert not torch.allclose(a, b)
    torch.testing.assert_close(v.plain(x), (x.float() / 255 - 0.5) / 0.25)
    assert methods.get("simclr").views("cifar10", (0,) * 3, (1,) * 3, 32).solarize_p == (0.0, 0.0)
    assert methods.get("byol").views("imagenet", (0,) * 3, (1,) * 3, 224).blur_p == (1.0, 0.1)


def test_digits_views_keep_orientation_and_are_seeded():
    r = methods.get("simclr").views("digits", (0.3,), (0.4,), 8)
    assert r.flip_p == 0.0 and r.gray_p == 0.0
    v = TwoViews(r, 1)
    x = torch.randint(0, 256, (10, 1, 8, 8), dtype=torch.uint8)
    torch.manual_seed(3)
    a1, b1 = v(x)
    torch.manual_seed(3)
    a2, b2 = v(x)
    assert torch.equal(a1, a2) and torch.equal(b1, b2)
    with pytest.raises(ValueError, match="channels"):
        TwoViews(r, 3)


# ------------------------------------------------------------------ kNN and linear probe

def test_weighted_knn_matches_a_brute_force_vote():
    g = torch.Generator().manual_seed(0)
    tr, te = torch.randn(30, 5, generator=g), torch.randn(7, 5, generator=g)
    ytr = torch.randint(0, 3, (30,), generator=g)
    scores = knn_predict(tr, ytr, te, 3, k=4, temperature=0.1)
    trn = tr / tr.norm(dim=1, keepdim=True)
    for i in range(7):
        q = te[i] / te[i].norm()
        sims = [(float(q @ trn[j]), j) for j in range(30)]
        top = sorted(sims, reverse=True)[:4]
        want = [sum(math.exp(s / 0.1) for s, j in top if ytr[j] == c) for c in range(3)]
        np.testing.assert_allclose(scores[i].numpy(), want, rtol=1e-4)
    assert knn_accuracy(tr, ytr, tr, ytr, 3, k=1) == 100.0  # each point is its own nearest neighbour


def test_knn_rejects_bad_arguments():
    with pytest.raises(ValueError, match="k must"):
        knn_predict(torch.randn(3, 2), torch.zeros(3, dtype=torch.long), torch.randn(1, 2), 2, k=0)


def test_linear_probe_separates_separable_classes():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(4, 16, generator=g) * 4
    y = torch.arange(200) % 4
    x = centers[y] + 0.3 * torch.randn(200, 16, generator=g)
    r = linear_probe(x[:150], y[:150], x[150:], y[150:], 4, epochs=20)
    assert r["linear_top1"] == 100.0 and r["linear_top4"] == 100.0


# ------------------------------------------------------------------ matrix-information monitor

def test_monitor_at_the_zero_loss_configuration_meets_the_bounds():
    # identical orthonormal branches (Corollaries 4.6 and 4.16, Remark after Theorem 4.17):
    # both Gram matrices are I, both losses 0, and every bound is attained
    n = 8
    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    r = branch_metrics(q, q.clone(), sc_lam=0.5, bt_lam=0.02, mus=(1.0, 3.0))
    for kind in ("feat", "sample"):
        for a in ("a1", "a2"):
            assert r[f"{kind}_mi_{a}"] == pytest.approx(math.log(n), abs=1e-9)
            assert r[f"{kind}_joint_{a}"] == pytest.approx(math.log(n), abs=1e-9)
        assert r[f"{kind}_js"] == pytest.approx(0, abs=1e-9) and r[f"{kind}_spectrum_js"] == pytest.approx(0, abs=1e-9)
        assert r[f"{kind}_erank1"] == pytest.approx(n)
    # zero up to round-off: each loss sums the n^2 squared entries of a Gram matrix of unit vectors
    # (n of them ~1) and subtracts the diagonal's
    gram_sum = roundoff(torch.float64, n * n, scale=n)
    assert r["sc_loss"] == pytest.approx(0, abs=gram_sum) and r["bt_loss"] == pytest.approx(0, abs=gram_sum)
    assert r["bound_4_3_sc"] == pytest.approx(r["sample_mi_a2"]) and r["bound_4_13_sc"] == pytest.approx(r["sample_joint_a2"])
    assert r["bound_4_3_bt"] == pytest.approx(r["feat_mi_a2"]) and r["bound_4_13_bt"] == pytest.approx(r["feat_joint_a2"])
    for mu in (1, 3):
        assert r[f"bound_4_17_bt_mu{mu}"] == pytest.approx(n * math.log(mu + 1))
        assert r[f"feat_tcr_joint_mu{mu}"] == pytest.approx(n * math.log(mu + 1))


def _frob2(K):
    return float((K ** 2).sum())


def test_monitor_on_random_branches_matches_closed_forms():
    g = torch.Generator().manual_seed(2)
    z1 = torch.randn(12, 5, dtype=torch.float64, generator=g)
    z2 = z1 + 0.3 * torch.randn(12, 5, dtype=torch.float64, generator=g)
    r = branch_metrics(z1, z2, sc_lam=0.7, bt_lam=0.05)
    f1, f2 = z1 / z1.norm(dim=1, keepdim=True), z2 / z2.norm(dim=1, keepdim=True)
    # Propositions 4.1 and 4.12 (alpha = 2 through Frobenius norms)
    for kind, K1, K2 in (("feat", info.feature_gram(f1), info.feature_gram(f2)),
                         ("sample", f1 @ f1.T, f2 @ f2.T)):
        n = K1.shape[0]
        H = _frob2(K1 * K2)
        assert r[f"{kind}_mi_a2"] == pytest.approx(2 * math.log(n) - math.log(_frob2(K1) * _frob2(K2) / H), rel=1e-9)
        assert r[f"{kind}_joint_a2"] == pytest.approx(2 * math.log(n) - math.log(H), rel=1e-9)
        assert r[f"{kind}_h1_a2"] == pytest.approx(2 * math.log(n) - math.log(_frob2(K1)), rel=1e-9)
        assert r[f"{kind}_mi_a1"] == pytest.approx(info.mutual_information(K1, K2, 1.0).item(), rel=1e-9)
        assert r[f"{kind}_js"] == pytest.approx(info.js_divergence(K1, K2).item(), rel=1e-9)
    # loss terms are the printed losses (Eq. (2); Eq. (3) on unit rows)
    assert r["sc_loss"] == pytest.approx(losses.spectral_contrastive_loss(z1, z2, lam=0.7).item(), rel=1e-12)
    assert r["bt_loss"] == pytest.approx(losses.barlow_twins_loss(f1, f2, 0.05, normalize="paper").item(), rel=1e-12)
    # bound formulas, transcribed from Theorems 4.3, 4.13 and 4.17
    B, d, Ls, Lb = 12, 5, r["sc_loss"], r["bt_loss"]
    assert r["bound_4_3_sc"] == pytest.approx(math.log(B) - 2 * math.log(1 + (2 + 2 / (B * 0.7)) * Ls))
    assert r["bound_4_13_bt"] == pytest.approx(math.log(d) - math.log(1 + 2 / (d * 0.05) * Lb + 4 * math.sqrt(d * Lb)))
    assert r["bound_4_17_bt_mu1"] == pytest.approx(d * math.log(2) - 0.5 * (2 / 0.05 * Lb + 4 * (d - 1) * math.sqrt(d * Lb)))
    assert set(loss_terms(z1, z2, 0.7, 0.05)) == {"sc_align", "sc_offdiag", "sc_loss", "bt_ondiag", "bt_offdiag", "bt_loss"}
    assert bounds(B, d, Ls, Lb, 0.0, 0.0)["bound_4_3_sc"] is None


def test_monitor_survives_a_dead_feature_and_rejects_bad_shapes():
    z = torch.randn(6, 4, dtype=torch.float64)
    z[:, 2] = 0  # a feature that is 0 on the whole batch: its normalisation is undefined
    r = branch_metrics(z, z.clone())
    assert r.get("feat_invalid") == 1 and "sample_mi_a1" in r
    with pytest.raises(ValueError, match="branch outputs"):
        branch_metrics(torch.randn(4, 3), torch.randn(4, 2))


def test_branch_monitor_fixes_its_batch_without_touching_the_global_rng():
    v = TwoViews(methods.get("simclr").views("digits", (0.3,), (0.4,), 8), 1)
    x = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8)
    torch.manual_seed(5)
    state = torch.get_rng_state()
    m1 = BranchMonitor(x, v, 16, seed=7, sc_lam=1.0, bt_lam=1.0)
    assert torch.equal(torch.get_rng_state(), state)
    m2 = BranchMonitor(x, v, 16, seed=7, sc_lam=1.0, bt_lam=1.0)
    assert torch.equal(m1.v1, m2.v1) and torch.equal(m1.v2, m2.v2) and m1.v1.shape == (16, 1, 8, 8)
    model = build_siamese("simclr", convnet_small(1, 8), proj_hidden=16, proj_out=8).train()
    rec = m1.measure(model)
    assert model.training and rec["info_batch"] == 16 and rec["info_dim"] == 8
