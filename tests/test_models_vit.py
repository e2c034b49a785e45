"""The ViT and the masked autoencoder: published parameter layout and counts, masking, patch order,
attention, loss, and the hand-over of pretrained weights to the classifiers."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmae.losses import mae_loss
from mmae.models import (MaskedAutoencoderViT, VisionTransformer, get_2d_sincos_pos_embed, interpolate_pos_embed,
                         load_encoder_weights, mae_vit, mae_vit_base_patch16, mae_vit_large_patch16, build_vit)
from mmae.models.vit import Attention, DropPath
from _tol import roundoff


def _block_layout(prefix, dim, hidden):
    return {
        f"{prefix}.norm1.weight": (dim,), f"{prefix}.norm1.bias": (dim,),
        f"{prefix}.attn.qkv.weight": (3 * dim, dim), f"{prefix}.attn.qkv.bias": (3 * dim,),
        f"{prefix}.attn.proj.weight": (dim, dim), f"{prefix}.attn.proj.bias": (dim,),
        f"{prefix}.norm2.weight": (dim,), f"{prefix}.norm2.bias": (dim,),
        f"{prefix}.mlp.fc1.weight": (hidden, dim), f"{prefix}.mlp.fc1.bias": (hidden,),
        f"{prefix}.mlp.fc2.weight": (dim, hidden), f"{prefix}.mlp.fc2.bias": (dim,),
    }


def official_mae_layout(img=224, p=16, c=3, e=768, depth=12, de=512, ddepth=8, mlp=4):
    """The key -> shape table of the public MAE code's ``models_mae.MaskedAutoencoderViT``, written out
    from its definition (timm ``Block``s, Conv2d patch embedding, fixed position embeddings)."""
    L = (img // p) ** 2
    out = {"cls_token": (1, 1, e), "pos_embed": (1, L + 1, e),
           "patch_embed.proj.weight": (e, c, p, p), "patch_embed.proj.bias": (e,),
           "norm.weight": (e,), "norm.bias": (e,),
           "mask_token": (1, 1, de), "decoder_pos_embed": (1, L + 1, de),
           "decoder_embed.weight": (de, e), "decoder_embed.bias": (de,),
           "decoder_norm.weight": (de,), "decoder_norm.bias": (de,),
           "decoder_pred.weight": (p * p * c, de), "decoder_pred.bias": (p * p * c,)}
    for i in range(depth):
        out.update(_block_layout(f"blocks.{i}", e, mlp * e))
    for i in range(ddepth):
        out.update(_block_layout(f"decoder_blocks.{i}", de, mlp * de))
    return out


def official_vit_layout(img=224, p=16, c=3, e=768, depth=12, classes=1000, global_pool=True, probe=False):
    """``models_vit.VisionTransformer`` (fine-tuning: ``fc_norm``; linear probe: ``norm`` and
    ``head = Sequential(BatchNorm1d(affine=False), Linear)``)."""
    L = (img // p) ** 2
    out = {"cls_token": (1, 1, e), "pos_embed": (1, L + 1, e),
           "patch_embed.proj.weight": (e, c, p, p), "patch_embed.proj.bias": (e,)}
    for i in range(depth):
        out.update(_block_layout(f"blocks.{i}", e, 4 * e))
    norm = "fc_norm" if global_pool else "norm"
    out.update({f"{norm}.weight": (e,), f"{norm}.bias": (e,)})
    if probe:
        out.update({"head.0.running_mean": (e,), "head.0.running_var": (e,), "head.0.num_batches_tracked": (),
                    "head.1.weight": (classes, e), "head.1.bias": (classes,)})
    else:
        out.update({"head.weight": (classes, e), "head.bias": (classes,)})
    return out


def _shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_mae_base_and_large_have_the_public_layout():
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        base, large = mae_vit_base_patch16(), mae_vit_large_patch16()
    assert _shapes(base) == official_mae_layout()
    assert _shapes(large) == official_mae_layout(e=1024, depth=24)


def test_vit_parameter_counts_match_the_published_models():
    # ViT-B/16 and ViT-L/16 at 224 px with a 1000-way head: 86,567,656 and 304,326,632 parameters
    with torch.device("meta"):
        b = build_vit("base", global_pool=True, num_classes=1000, trainable_pos_embed=True)
        l_ = build_vit("large", global_pool=False, num_classes=1000, trainable_pos_embed=True)
    assert sum(p.numel() for p in b.parameters()) == 86_567_656
    assert sum(p.numel() for p in l_.parameters()) == 304_326_632
    assert _shapes(b) == official_vit_layout()
    assert _shapes(l_) == official_vit_layout(e=1024, depth=24, global_pool=False)


def _random_state(layout, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.randn(s, generator=g) if s else torch.tensor(7)) for k, s in layout.items()}


def test_official_layout_state_dicts_load_strictly_both_ways():
    kw = dict(img=16, p=4, c=3, e=32, depth=2, de=16, ddepth=1)
    sd = _random_state(official_mae_layout(**kw))
    mae = MaskedAutoencoderViT(img_size=16, patch_size=4, in_chans=3, embed_dim=32, depth=2, num_heads=2,
                               decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2, norm_pix_loss=True)
    mae.load_state_dict(sd, strict=True)
    assert all(torch.equal(mae.state_dict()[k], v) for k, v in sd.items())
    # the fine-tuned classifier with global pooling, and the linear-probe classifier
    ft_sd = _random_state(official_vit_layout(img=16, p=4, e=32, depth=2, classes=5), 1)
    ft = VisionTransformer(img_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2, num_classes=5,
                           global_pool=True)
    ft.load_state_dict(ft_sd, strict=True)
    from mmae.engine.linprobe import build_probe  # noqa: E402 - the probe head of the linear-probe engine
    probe = build_probe("mini-b", 2, "digits")
    lp_layout = official_vit_layout(img=8, p=2, c=1, e=32, depth=3, classes=10, global_pool=False, probe=True)
    assert _shapes(probe) == lp_layout


def authors_mae_layout(classes=1000, **kw):
    """The U-MAE / M-MAE code's ``MaskedAutoencoderViT``: MAE's layout plus the online classifier,
    ``fc_norm = norm_layer(embed_dim)`` and ``fc = nn.Linear(embed_dim, num_classes)``."""
    out = official_mae_layout(**kw)
    e = out["norm.weight"][0]
    out.update({"fc_norm.weight": (e,), "fc_norm.bias": (e,), "fc.weight": (classes, e), "fc.bias": (classes,)})
    return out


def test_authors_layout_with_the_online_classifier_loads_strictly_both_ways():
    kw = dict(img=16, p=4, c=3, e=32, depth=2, de=16, ddepth=1)
    sd = _random_state(authors_mae_layout(classes=7, **kw))
    args = dict(img_size=16, patch_size=4, in_chans=3, embed_dim=32, depth=2, num_heads=2, decoder_embed_dim=16,
                decoder_depth=1, decoder_num_heads=2, norm_pix_loss=True)
    ours = MaskedAutoencoderViT(num_classes=7, renorm_cls=True, **args)
    ours.load_state_dict(sd, strict=True)  # theirs -> ours
    back = ours.state_dict()
    assert back.keys() == sd.keys() and all(torch.equal(back[k], v) for k, v in sd.items())  # ours -> theirs
    # without the classifier the model is MAE's, and refuses their extra keys when strict
    with pytest.raises(RuntimeError, match="fc"):
        MaskedAutoencoderViT(**args).load_state_dict(sd, strict=True)
    # the online classifier sees the detached feature: its loss reaches only `fc`
    loss, _, _, z, logits = ours(torch.randn(2, 3, 16, 16), 0.5)
    logits.sum().backward()
    assert {n for n, p in ours.named_parameters() if p.grad is not None} == {"fc.weight", "fc.bias"}


@pytest.mark.parametrize("global_pool", [False, True])
def test_probe_and_finetune_load_umae_mmae_checkpoints_ignoring_the_online_classifier(global_pool, caplog):
    # a U-MAE / M-MAE pretraining checkpoint of the mini-b encoder on the digits (8 px, patch 2, 1 channel)
    sd = _random_state(authors_mae_layout(classes=10, img=8, p=2, c=1, e=32, depth=3, de=32, ddepth=2))
    vit = build_vit("mini-b", img_size=8, patch_size=2, in_chans=1, num_classes=10, global_pool=global_pool)
    with caplog.at_level("WARNING"):
        out = load_encoder_weights(vit, {"model": sd})
    assert out["ignored"] == ["fc.bias", "fc.weight", "fc_norm.bias", "fc_norm.weight"]
    assert "online classifier" in caplog.text
    own = vit.state_dict()
    loaded = [k for k in own if k in sd and not k.startswith(("fc_norm.", "head."))]
    assert loaded and all(torch.equal(own[k], sd[k]) for k in loaded)
    # every encoder key must still match: a missing block is an error, not a silent partial load
    del sd["blocks.0.attn.qkv.weight"]
    with pytest.raises(ValueError, match="blocks.0.attn.qkv.weight"):
        load_encoder_weights(build_vit("mini-b", img_size=8, patch_size=2, in_chans=1, num_classes=10,
                                       global_pool=global_pool), sd)


def test_sincos_position_embedding_closed_form():
    e, gh, gw = 8, 2, 3
    pe = get_2d_sincos_pos_embed(e, (gh, gw), cls_token=True)
    assert pe.shape == (1 + gh * gw, e) and np.all(pe[0] == 0)
    w = [1.0, 1.0 / 100.0]  # 10000^(-k / 2), k = 0, 1
    for r in range(gh):
        for c in range(gw):
            want = [math.sin(c * w[0]), math.sin(c * w[1]), math.cos(c * w[0]), math.cos(c * w[1]),
                    math.sin(r * w[0]), math.sin(r * w[1]), math.cos(r * w[0]), math.cos(r * w[1])]
            # the same product pos * w, then numpy's sin/cos against libm's: a few ulp of values <= 1
            np.testing.assert_allclose(pe[1 + r * gw + c], want, rtol=0, atol=roundoff(np.float64, 2))
    with pytest.raises(ValueError, match="multiple of 4"):
        get_2d_sincos_pos_embed(6, 2)
    # interpolation to the same grid is the identity, to a new grid keeps the CLS row
    t = torch.from_numpy(get_2d_sincos_pos_embed(8, 4, True)).float()[None]
    assert interpolate_pos_embed(t, 4) is t
    assert interpolate_pos_embed(t, 6).shape == (1, 37, 8) and torch.equal(interpolate_pos_embed(t, 6)[:, 0], t[:, 0])


def test_patchify_order_and_round_trip():
    m = mae_vit("mini-b", img_size=(4, 6), patch_size=2, in_chans=3)
    x = torch.arange(3 * 4 * 6, dtype=torch.float32).reshape(1, 3, 4, 6)
    p = m.patchify(x)
    assert p.shape == (1, 6, 12)
    # patch 4 = grid row 1, column 1 -> image rows 2-3, columns 2-3; pixel-major, channel-minor
    want = torch.stack([x[0, :, 2, 2], x[0, :, 2, 3], x[0, :, 3, 2], x[0, :, 3, 3]]).reshape(-1)
    assert torch.equal(p[0, 4], want)
    assert torch.equal(m.unpatchify(p), x)


def test_attention_equals_the_explicit_softmax_formula():
    torch.manual_seed(0)
    attn = Attention(16, num_heads=4)
    x = torch.randn(3, 5, 16)
    q, k, v = attn.qkv(x).reshape(3, 5, 3, 4, 4).permute(2, 0, 3, 1, 4)
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(4), dim=-1)
    h = (w @ v).transpose(1, 2).reshape(3, 5, 16)
    want = attn.proj(h)
    # float32 sums of 4 (q k^T), 5 (softmax), 5 (w v) and 16 (proj) terms, of size up to |W| |h| + |b|
    size = (h.abs() @ attn.proj.weight.abs().T + attn.proj.bias.abs()).max().item()
    torch.testing.assert_close(attn(x), want, rtol=0, atol=roundoff(torch.float32, 4 + 5 + 5 + 16, scale=size))


def test_random_masking_keeps_the_smallest_noise_and_the_encoder_ignores_masked_pixels():
    torch.manual_seed(0)
    m = mae_vit("mini-b", img_size=8, patch_size=2, in_chans=1, norm_pix_loss=True)
    x = torch.randn(4, 1, 8, 8)
    noise = torch.rand(4, 16)
    loss, pred, mask, z = m(x, 0.75, noise=noise)
    assert pred.shape == (4, 16, 4) and z.shape == (4, 32)
    kept = noise.argsort(dim=1)[:, :4]
    want = torch.ones(4, 16)
    want.scatter_(1, kept, 0.0)
    assert torch.equal(mask, want) and torch.equal(mask.sum(1), torch.full((4,), 12.0))
    # the loss is the MAE loss on the removed patches with per-patch normalised targets
    torch.testing.assert_close(loss, mae_loss(pred, m.patchify(x), mask, norm_pix=True))
    # changing only removed patches changes neither the representation nor the reconstruction
    x2 = m.unpatchify(torch.where(mask.bool()[..., None], torch.randn(4, 16, 4), m.patchify(x)))
    _, pred2, _, z2 = m(x2, 0.75, noise=noise)
    torch.testing.assert_close(z2, z)
    torch.testing.assert_close(pred2, pred)
    # ... while changing a kept patch does change it
    x3 = m.unpatchify(torch.where(mask.bool()[..., None], m.patchify(x), torch.randn(4, 16, 4)))
    assert not torch.allclose(m(x3, 0.75, noise=noise)[3], z)


def test_mask_ratio_zero_and_feature_hand_over():
    torch.manual_seed(1)
    m = mae_vit("mini-b", img_size=8, patch_size=2, in_chans=1, norm_pix_loss=True)
    x = torch.randn(3, 1, 8, 8)
    state = torch.get_rng_state()
    with torch.no_grad():
        loss, pred, mask, z = m(x, 0.0)
    assert torch.equal(torch.get_rng_state(), state)  # no noise drawn
    assert loss.item() == 0.0 and not mask.any() and pred.shape == (3, 16, 4)
    # the probe classifier computes exactly the MAE encoder's CLS feature
    probe = build_vit("mini-b", img_size=8, patch_size=2, in_chans=1, num_classes=10)
    load_encoder_weights(probe, {"model": m.state_dict()})
    torch.testing.assert_close(probe.forward_features(x), m.features(x))
    torch.testing.assert_close(z, m.features(x))
    # the fine-tuning classifier takes the encoder and a fresh fc_norm
    ft = build_vit("mini-b", img_size=8, patch_size=2, in_chans=1, num_classes=10, global_pool=True, trainable_pos_embed=True)
    missing = load_encoder_weights(ft, m.state_dict())["missing"]
    assert sorted(missing) == ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"]
    assert torch.equal(ft.blocks[2].mlp.fc2.weight, m.blocks[2].mlp.fc2.weight)
    assert ft.pos_embed.requires_grad and not m.pos_embed.requires_grad
    with pytest.raises(ValueError, match="do not fit"):
        load_encoder_weights(build_vit("mini-l", img_size=8, patch_size=2, in_chans=1), {"cls_token": torch.zeros(1, 1, 48)})


def test_drop_path_is_identity_in_eval_and_unbiased_in_training():
    dp = DropPath(0.25)
    x = torch.ones(20000, 3)
    assert torch.equal(dp.eval()(x), x)
    y = dp.train()(x)
    kept = (y[:, 0] > 0).float()
    assert set(torch.unique(y).tolist()) <= {0.0, float(torch.tensor(1.0) / 0.75)}
    assert abs(kept.mean().item() - 0.75) < 0.02  # 0.02 is > 6 standard deviations
    assert torch.equal(y[:, 0], y[:, 2])  # whole sample at once


def test_bad_shapes_raise_value_errors():
    with pytest.raises(ValueError, match="not divisible"):
        build_vit("mini-b", img_size=10, patch_size=4)
    with pytest.raises(ValueError, match="unknown ViT size"):
        mae_vit("gigantic")
    m = mae_vit("mini-b", img_size=8, patch_size=2, in_chans=1)
    with pytest.raises(ValueError, match="expected images of size"):
        m(torch.zeros(1, 1, 16, 16))
    with pytest.raises(ValueError, match="mask_ratio"):
        m(torch.zeros(1, 1, 8, 8), 1.0)


def test_gradients_flow_to_every_trainable_parameter():
    torch.manual_seed(2)
    m = mae_vit("mini-b", img_size=8, patch_size=2, in_chans=1, norm_pix_loss=True)
    loss, _, _, z = m(torch.randn(6, 1, 8, 8), 0.5)
    (loss + z.pow(2).mean()).backward()
    for name, p in m.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert not F.normalize(z, dim=-1).isnan().any()
