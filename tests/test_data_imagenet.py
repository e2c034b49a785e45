"""Image-folder data (real JPEG/PNG files written here) and the batched device-side augmentations."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mmae.data.imagenet import ImageFolder, decode_center_crop, decode_resized_crop, imagenet_loader, rrc_box
from mmae.data.transforms import (GpuAugment, mixup_cutmix, normalize, one_hot_smooth, rand_augment, random_erasing,
                                  random_hflip, resized_crop, sample_crop_boxes, soft_target_cross_entropy)



def _jpeg(path, w=40, h=30, seed=0):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, "JPEG", quality=90)


def _folder(root, classes=("n01", "n02"), per_class=3, splits=("train", "val")):
    for split in splits:
        for c in classes:
            for i in range(per_class):
                _jpeg(root / split / c / f"{c}_{i}.JPEG", seed=hash((split, c, i)) % 1000)
    return root


def test_folder_layout_labels_and_uint8_crops(tmp_path):
    root = _folder(tmp_path / "imagenet")
    (root / "train" / "n02" / "notes.txt").write_text("not an image")  # ignored: not an image extension
    tr = ImageFolder(str(root), "train", mode="train", size=24)
    va = ImageFolder(str(root), "val", mode="eval", size=24, resize=28, classes=tr.classes)
    assert tr.classes == ["n01", "n02"] and len(tr) == 6 and tr.targets == [0, 0, 0, 1, 1, 1]
    img, label, skipped = tr[4]
    assert img.dtype == torch.uint8 and img.shape == (3, 24, 24) and label == 1 and skipped == 0
    assert va[0][0].shape == (3, 24, 24)
    loader = imagenet_loader(tr, batch_size=4, shuffle=True, num_workers=0)
    x, y, s = next(iter(loader))
    assert x.shape == (4, 3, 24, 24) and x.dtype == torch.uint8 and y.dtype == torch.int64 and s.sum() == 0


def test_center_crop_resizes_the_shorter_side_then_crops_the_middle(tmp_path):
    # 100 x 50 image: left half red, right half blue (PNG: lossless)
    a = np.zeros((50, 100, 3), np.uint8)
    a[:, :50, 0] = 255
    a[:, 50:, 2] = 255
    Image.fromarray(a).save(tmp_path / "x.png")
    out = decode_center_crop(str(tmp_path / "x.png"), size=40, resize=50)  # no resize; crop x 30..70, y 5..45
    assert out.shape == (3, 40, 40)
    assert (out[0, :, :20] == 255).all() and (out[2, :, :20] == 0).all()
    assert (out[2, :, 20:] == 255).all() and (out[0, :, 20:] == 0).all()
    # resize 25 (shorter side 50 -> 25, so 100 -> 50), crop 20: x 15..35 of the resized image
    out = decode_center_crop(str(tmp_path / "x.png"), size=20, resize=25)
    assert (out[0, :, :8] > 250).all() and (out[2, :, 12:] > 250).all()


def test_jpeg_draft_decoding_matches_a_full_decode(tmp_path):
    # a smooth 512 x 512 JPEG: draft mode decodes at 1/8 scale before resizing to 32 px
    yy, xx = np.mgrid[0:512, 0:512]
    a = np.stack([xx / 2, yy / 2, (xx + yy) / 4], -1).astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "big.jpg", quality=95)
    fast = decode_resized_crop(str(tmp_path / "big.jpg"), 32, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    with Image.open(tmp_path / "big.jpg") as im:
        full = torch.from_numpy(np.array(im.convert("RGB").resize((32, 32), Image.BICUBIC))).permute(2, 0, 1)
    assert (fast.float() - full.float()).abs().mean() < 2.0


def test_rrc_box_respects_scale_and_ratio():
    import random
    rng = random.Random(0)
    for _ in range(200):
        x0, y0, w, h = rrc_box(64, 48, (0.2, 1.0), (3 / 4, 4 / 3), rng)
        assert 0 <= x0 and x0 + w <= 64 and 0 <= y0 and y0 + h <= 48
        assert 0.2 * 64 * 48 * 0.9 <= w * h <= 64 * 48


def test_layout_errors_name_the_path(tmp_path):
    with pytest.raises(ValueError, match="root not found: .*nowhere"):
        ImageFolder(str(tmp_path / "nowhere"))
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match=r"split folder not found: .*a/train"):
        ImageFolder(str(tmp_path / "a"))
    _jpeg(tmp_path / "b" / "train" / "loose.JPEG")
    with pytest.raises(ValueError, match=r"wrong layout: .*b/train has no class folders.*1 loose files"):
        ImageFolder(str(tmp_path / "b"))
    root = _folder(tmp_path / "c", splits=("train",))
    (root / "train" / "n03").mkdir()
    with pytest.raises(ValueError, match=r"class folder .*c/train/n03 holds no images"):
        ImageFolder(str(root))
    root = _folder(tmp_path / "d")
    (root / "val" / "n09").mkdir()
    _jpeg(root / "val" / "n09" / "x.JPEG")
    with pytest.raises(ValueError, match=r"differ from the expected classes \(extra \['n09'\]"):
        ImageFolder(str(root), "val", classes=["n01", "n02"])


def test_corrupt_image_raises_or_is_skipped_and_counted(tmp_path):
    root = _folder(tmp_path / "e", splits=("train",))
    bad = root / "train" / "n01" / "n01_1.JPEG"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    ds = ImageFolder(str(root), size=16)
    with pytest.raises(ValueError, match=r"corrupt or unreadable image .*n01_1\.JPEG"):
        ds[1]
    # inside a loader worker the message still names the file
    loader = imagenet_loader(ds, batch_size=6, shuffle=False, num_workers=1)
    with pytest.raises(ValueError, match=r"n01_1\.JPEG"):
        next(iter(loader))
    skip = ImageFolder(str(root), mode="eval", size=16, resize=18, skip_corrupt=True)
    img, label, skipped = skip[1]
    # replaced by the next readable image (deterministic in eval mode), and counted
    assert skipped == 1 and label == 0 and torch.equal(img, skip[2][0]) and skip[2][2] == 0


# ----------------------------------------------------------------------------- device-side transforms

def test_crop_boxes_follow_the_random_resized_crop_distribution():
    torch.manual_seed(0)
    b = sample_crop_boxes(4000, 32, 48, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3))
    x0, y0, w, h = b.unbind(1)
    assert (x0 >= 0).all() and (y0 >= 0).all() and (x0 + w <= 48).all() and (y0 + h <= 32).all()
    assert (x0 == x0.round()).all() and (w == w.round()).all()
    frac = w * h / (32 * 48)
    assert frac.min() >= 0.2 * 0.9 and frac.max() <= 1.0
    r = w / h
    assert (r >= 0.75 * 0.9).all() and (r <= 4 / 3 * 1.1).all()
    # impossible aspect ratios fall back to the centred crop of the clamped ratio
    fb = sample_crop_boxes(5, 10, 40, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert torch.equal(fb, torch.tensor([[15.0, 0.0, 10.0, 10.0]] * 5))


def test_resized_crop_is_exact_on_pixel_aligned_boxes():
    x = torch.rand(3, 2, 16, 16)
    whole = torch.tensor([[0.0, 0.0, 16.0, 16.0]] * 3)
    torch.testing.assert_close(resized_crop(x, whole, 16, "bilinear"), x, rtol=0, atol=1e-5)
    box = torch.tensor([[4.0, 2.0, 8.0, 8.0], [0.0, 0.0, 8.0, 8.0], [8.0, 8.0, 8.0, 8.0]])
    out = resized_crop(x, box, 8, "bilinear")
    torch.testing.assert_close(out[0], x[0, :, 2:10, 4:12], rtol=0, atol=1e-5)
    torch.testing.assert_close(out[2], x[2, :, 8:16, 8:16], rtol=0, atol=1e-5)
    # 2x downscale of a box: bilinear at pixel-edge alignment averages 2x2 blocks
    down = resized_crop(x, whole, 8, "bilinear")
    torch.testing.assert_close(down, F.avg_pool2d(x, 2), rtol=0, atol=1e-5)


def test_flip_normalize_and_eval_recipe():
    x = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    assert torch.equal(random_hflip(x.float(), p=1.0), x.float().flip(-1))
    assert torch.equal(random_hflip(x.float(), p=0.0), x.float())
    ev = GpuAugment("eval", (0.5, 0.4, 0.3), (0.2, 0.2, 0.1), 5)
    want = (x.float() / 255 - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.2, 0.2, 0.1]).view(1, 3, 1, 1)
    torch.testing.assert_close(ev(x), want)
    torch.testing.assert_close(normalize(x.float() / 255, (0.5, 0.4, 0.3), (0.2, 0.2, 0.1)), want)
    with pytest.raises(ValueError, match="unknown augmentation kind"):
        GpuAugment("weird", (0.5,), (0.5,), 5)


def test_label_smoothing_and_soft_cross_entropy_match_torch():
    torch.manual_seed(0)
    y = torch.randint(0, 7, (9,))
    t = one_hot_smooth(y, 7, 0.1)
    torch.testing.assert_close(t.sum(1), torch.ones(9))
    assert torch.allclose(t.gather(1, y[:, None]), torch.full((9, 1), 0.9 + 0.1 / 7))
    logits = torch.randn(9, 7)
    torch.testing.assert_close(soft_target_cross_entropy(logits, t), F.cross_entropy(logits, y, label_smoothing=0.1))


def test_mixup_and_cutmix_mix_images_and_targets_consistently():
    torch.manual_seed(1)
    x = torch.stack([torch.full((1, 8, 8), float(i)) for i in range(4)])  # image i is constant i
    y = torch.arange(4)
    # mixup only: every pixel of image i is lam*i + (1-lam)*(3-i); the target weights agree
    xm, t = mixup_cutmix(x, y, 4, mixup_alpha=0.8, cutmix_alpha=0.0, smoothing=0.0)
    lam = t[0, 0].item()
    torch.testing.assert_close(xm[0], torch.full((1, 8, 8), 3 * (1 - lam)))
    torch.testing.assert_close(t[0], torch.tensor([lam, 0, 0, 1 - lam]))
    # cutmix only: the fraction of pixels taken from the partner is the partner's target weight
    for _ in range(5):
        xc, t = mixup_cutmix(x, y, 4, mixup_alpha=0.0, cutmix_alpha=1.0, smoothing=0.0)
        frac = (xc[0] == 3.0).float().mean().item()
        assert math.isclose(t[0, 3].item(), frac, abs_tol=1e-6) and math.isclose(t[0, 0].item(), 1 - frac, abs_tol=1e-6)
    # with smoothing the targets still sum to one
    _, t = mixup_cutmix(x, y, 4, smoothing=0.1)
    torch.testing.assert_close(t.sum(1), torch.ones(4))


def test_random_erasing_replaces_one_rectangle_of_the_right_size():
    torch.manual_seed(2)
    x = torch.full((64, 3, 20, 20), 100.0)  # far from any standard-normal fill value
    out = random_erasing(x, p=1.0)
    changed = (out != x).all(dim=1)  # erased pixels change in every channel
    for m in changed:
        rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        area = m.sum().item()
        if area == 0:
            continue  # no attempt fitted (rare)
        assert area == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # a full rectangle
        assert 0.02 * 400 * 0.5 <= area <= 400 / 3 * 1.3
    assert (changed.flatten(1).sum(1) > 0).float().mean() > 0.9
    assert torch.equal(random_erasing(x, p=0.0), x)


def test_rand_augment_per_sample_ops_stay_in_range():
    torch.manual_seed(3)
    x = torch.rand(64, 3, 16, 16)
    assert torch.equal(rand_augment(x, num_ops=2, prob=0.0), x)
    out = rand_augment(x, num_ops=2, magnitude=9, mstd=0.5)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    changed = (out - x).abs().flatten(1).amax(1) > 1e-6
    # each of 2 layers applies an op with probability 0.5: about 75% of samples change
    assert 0.5 < changed.float().mean() < 0.95
    # single-channel images work too (Color is then the identity)
    g = rand_augment(torch.rand(8, 1, 8, 8))
    assert g.shape == (8, 1, 8, 8) and torch.isfinite(g).all()


def test_recipes_without_randomness_are_marked_deterministic():
    x = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8)
    still = GpuAugment("linprobe", (0.3,), (0.4,), 8, flip=False, scale=(1.0, 1.0))
    assert still.deterministic and torch.equal(still(x), still(x))
    torch.testing.assert_close(still(x), GpuAugment("eval", (0.3,), (0.4,), 8)(x))
    for moving in (GpuAugment("linprobe", (0.3,), (0.4,), 8, flip=True, scale=(1.0, 1.0)),
                   GpuAugment("pretrain", (0.3,), (0.4,), 8, flip=False, scale=(0.2, 1.0)),
                   GpuAugment("finetune", (0.3,), (0.4,), 8, flip=False, scale=(1.0, 1.0))):
        assert not moving.deterministic


def test_finetune_recipe_end_to_end_shapes():
    torch.manual_seed(4)
    aug = GpuAugment("finetune", (0.5, 0.5, 0.5), (0.2, 0.2, 0.2), 16)
    out = aug(torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8))
    assert out.shape == (8, 3, 16, 16) and torch.isfinite(out).all()
