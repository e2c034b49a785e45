"""Randomness keyed by sample (:mod:`mmae.data.keyed`) and the keyed augmentations built on it: a
sample's random numbers, and so its augmented image, depend on (seed, epoch, index) only, never on the
other samples in its batch or their order; the keyed draws have the distributions of the unkeyed ones.

Statistical checks compare with bounds of ``Z`` standard errors computed from the sample size; every
draw is seeded, so each check is deterministic (a ``Z = 5`` bound fails a correct generator with
probability below $10^{-6}$ per check)."""
import math

import numpy as np
import pytest
import torch
from PIL import Image

from mmae.data.imagenet import ImageFolder
from mmae.data.keyed import SampleRandom, python_rng
from mmae.data.transforms import GpuAugment, random_hflip, random_resized_crop, sample_crop_boxes
from mmae import methods
from mmae.data.views import TwoViews

Z = 5.0  # standard errors allowed by the statistical checks


def _draws(g: SampleRandom):
    """One of each kind of draw, in a fixed order (each opens a stream)."""
    return g.rand(3), g.randn(2, 2), g.randint(7, 5), g.bits(4)


def _sub(n=12):
    """Indices of a batch and a permuted sub-batch of it (positions ``pos`` of the batch)."""
    idx = torch.arange(1000, 1000 + n) * 7919  # large, non-contiguous indices
    pos = torch.tensor([9, 2, 11, 0, 5])
    return idx, pos


# ------------------------------------------------------------------------------------------ generator

def test_draws_are_deterministic_and_a_row_depends_only_on_its_sample():
    idx, pos = _sub()
    a = _draws(SampleRandom(3, 1, idx))
    b = _draws(SampleRandom(3, 1, idx))
    c = _draws(SampleRandom(3, 1, idx[pos]))  # a sub-batch in another order
    for u, v, w in zip(a, b, c):
        assert torch.equal(u, v) and torch.equal(u[pos], w)
    assert a[0].shape == (12, 3) and a[1].shape == (12, 2, 2) and a[2].dtype == torch.int64
    assert len(SampleRandom(0, 0, idx)) == 12


def test_epochs_seeds_salts_and_streams_give_unrelated_numbers():
    idx = torch.arange(4096)
    ref = SampleRandom(0, 0, idx).rand(16)
    others = [SampleRandom(1, 0, idx).rand(16), SampleRandom(0, 1, idx).rand(16),
              SampleRandom(0, 0, idx, salt=1).rand(16), SampleRandom(0, 0, idx + 4096).rand(16)]
    g = SampleRandom(0, 0, idx)
    g.rand(16)
    others.append(g.rand(16))  # the next stream
    n = ref.numel()
    for o in others:
        # values on a 2^-24 grid coincide by chance with probability 2^-24 each
        assert (o == ref).sum() <= Z * math.sqrt(n * 2.0**-24) + 1
        # independent uniforms: correlation 0 with standard error 1 / sqrt(n)
        r = torch.corrcoef(torch.stack([ref.flatten(), o.flatten()]))[0, 1]
        assert abs(float(r)) < Z / math.sqrt(n)
    # neighbouring values of one sample and one stream are uncorrelated too
    r = torch.corrcoef(torch.stack([ref[:, :-1].flatten(), ref[:, 1:].flatten()]))[0, 1]
    assert abs(float(r)) < Z / math.sqrt(ref[:, 1:].numel())


def test_uniform_normal_and_integer_moments_match_their_expectations():
    g = SampleRandom(7, 2, torch.arange(50_000))
    u = g.rand(4).double().flatten()
    n = u.numel()
    assert u.min() >= 0 and u.max() < 1
    # U(0, 1): mean 1/2 (variance 1/12); sample variance 1/12 (its variance (mu4 - sigma^4)/n, mu4 = 1/80)
    assert abs(u.mean() - 0.5) < Z * math.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < Z * math.sqrt((1 / 80 - 1 / 144) / n)
    x = g.randn(4).double().flatten()
    # N(0, 1): mean 0 (se 1/sqrt(n)); variance 1 (se sqrt(2/n)); fourth moment 3 (se sqrt(96/n))
    assert abs(x.mean()) < Z / math.sqrt(n)
    assert abs(x.var() - 1) < Z * math.sqrt(2 / n)
    assert abs((x**4).mean() - 3) < Z * math.sqrt(96 / n)
    k = g.randint(7, 4).flatten()
    assert k.min() >= 0 and k.max() < 7
    counts = torch.bincount(k, minlength=7).double()
    p = 1 / 7  # each count is Binomial(n, 1/7)
    assert ((counts - n * p).abs() < Z * math.sqrt(n * p * (1 - p))).all()


def test_a_tensor_key_draws_the_numbers_of_its_int_key():
    """`SampleRandom.from_key` with a 0-d tensor (a CUDA graph's input, refilled in place per step)."""
    idx = torch.tensor([5, 0, 977, 2**40 + 3])
    ref = SampleRandom(7, 3, idx, salt=1)
    key = torch.tensor(0)
    gen = SampleRandom.from_key(key, idx)
    key.fill_(ref.key)  # filled after the generator was made: it reads the tensor when drawing
    assert torch.equal(gen.bits(3), ref.bits(3)) and torch.equal(gen.randn(2), ref.randn(2))
    assert torch.equal(gen.randint(10, 4), ref.randint(10, 4))
    key.fill_(SampleRandom(7, 4, idx).key)  # another epoch: other numbers
    assert not torch.equal(SampleRandom.from_key(key, idx).bits(3), SampleRandom(7, 3, idx).bits(3))
    assert torch.equal(SampleRandom.from_key(key, idx).bits(3), SampleRandom(7, 4, idx).bits(3))
    with pytest.raises(ValueError, match="0-d int64"):
        SampleRandom.from_key(torch.tensor([1]), idx)


def test_bad_keys_raise():
    with pytest.raises(ValueError, match="1-D int64"):
        SampleRandom(0, 0, torch.arange(4, dtype=torch.int32))
    with pytest.raises(ValueError, match="high"):
        SampleRandom(0, 0, torch.arange(4)).randint(0)
    with pytest.raises(ValueError, match="non-negative"):
        SampleRandom(-1, 0, torch.arange(4))
    assert python_rng(1, 2, 3).random() == python_rng(1, 2, 3).random() != python_rng(1, 3, 3).random()


# ------------------------------------------------------------------------------- keyed augmentations

def _images(n, c=3, side=24, seed=0):
    return torch.randint(0, 256, (n, c, side, side), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _batch_independent(fn, x, idx, pos, seed=5, epoch=2):
    """``fn(x, gen)`` on the batch and on a permuted sub-batch: the same samples' rows bit for bit."""
    full = fn(x, SampleRandom(seed, epoch, idx))
    part = fn(x[pos], SampleRandom(seed, epoch, idx[pos]))
    full, part = (full, part) if isinstance(full, tuple) else ((full,), (part,))
    for a, b in zip(full, part):
        assert torch.equal(a[pos], b)
    return full


@pytest.mark.parametrize("kind", ["pretrain", "linprobe", "finetune"])
def test_gpu_augment_rows_do_not_depend_on_the_batch(kind):
    aug = GpuAugment(kind, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3), 16, randaug_ops=2, reprob=0.25)
    idx, pos = _sub()
    x = _images(12)
    (out,) = _batch_independent(lambda x, g: aug(x, gen=g), x, idx, pos)
    assert out.shape == (12, 3, 16, 16) and torch.isfinite(out).all()
    # another epoch augments the same samples differently; the unkeyed path still runs
    other = aug(x, gen=SampleRandom(5, 3, idx))
    assert not torch.equal(out, other)
    assert aug(x).shape == out.shape
    with pytest.raises(ValueError, match="sample indices"):
        aug(x, gen=SampleRandom(5, 2, idx[:3]))


def test_finetune_keyed_randaugment_and_erasing_act_per_sample():
    # many samples so that RandAugment's skipped/applied ops and erasing (p = 0.25) all occur
    aug = GpuAugment("finetune", (0.5,) * 3, (0.25,) * 3, 8, crop=False, flip=False)
    x = torch.full((64, 3, 8, 8), 128, dtype=torch.uint8)
    idx = torch.arange(64)
    (out,) = _batch_independent(lambda x, g: aug(x, gen=g), x, idx, torch.arange(63, -1, -2))
    plain = GpuAugment("eval", (0.5,) * 3, (0.25,) * 3, 8)(x)
    changed = (out != plain).flatten(1).any(1)
    assert 0 < int(changed.sum()) < 64


def test_two_views_rows_do_not_depend_on_the_batch():
    idx, pos = _sub()
    for recipe, c, side in [(methods.get("simclr").views("digits", (0.3,), (0.4,), 8), 1, 8),
                            (methods.get("byol").views("cifar10", (0.5,) * 3, (0.25,) * 3, 16), 3, 20),
                            (methods.get("byol").views("imagenet", (0.5,) * 3, (0.25,) * 3, 40), 3, 48)]:  # with blur
        v = TwoViews(recipe, c)
        x = _images(12, c, side)
        v1, v2 = _batch_independent(lambda x, g, v=v: v(x, gen=g), x, idx, pos)
        assert v1.shape == v2.shape == (12, c, recipe.size, recipe.size)
        assert not torch.equal(v1, v2)  # the views draw from different streams
        assert not torch.equal(v1, v(x, gen=SampleRandom(5, 3, idx))[0])
        with pytest.raises(ValueError, match="sample indices"):
            v(x, gen=SampleRandom(0, 0, idx[:2]))


def test_keyed_two_views_match_the_kornia_pipeline_in_distribution():
    # a colour gradient: per-sample mean, contrast, colour balance and left-right slope respond to
    # the crop, flip, jitter, grayscale and solarisation
    n = 1500
    ramp = torch.linspace(0, 255, 12).view(1, 1, 1, 12) * torch.tensor([1.0, 0.6, 0.2]).view(1, 3, 1, 1)
    x = ramp.expand(n, 3, 12, 12).round().to(torch.uint8)
    v = TwoViews(methods.get("byol").views("cifar10", (0.0,) * 3, (1.0,) * 3, 12), 3)

    def stats(t):
        return torch.stack([t.mean((1, 2, 3)), t.std((1, 2, 3)), (t[:, 0] - t[:, 2]).mean((1, 2)),
                            (t[..., -1] - t[..., 0]).mean((1, 2))], 1).double()

    torch.manual_seed(0)
    kornia_views = v(x)
    keyed_views = v(x, gen=SampleRandom(0, 0, torch.arange(n)))
    for a, b in zip(kornia_views, keyed_views):
        sa, sb = stats(a), stats(b)
        se = torch.sqrt(sa.var(0) / n + sb.var(0) / n)
        assert ((sa.mean(0) - sb.mean(0)).abs() < Z * se).all()


def test_keyed_crop_boxes_and_flips_have_the_unkeyed_distribution():
    n, H, W = 20_000, 32, 48
    torch.manual_seed(0)
    plain = sample_crop_boxes(n, H, W, scale=(0.2, 1.0))
    keyed = sample_crop_boxes(n, H, W, scale=(0.2, 1.0), gen=SampleRandom(0, 0, torch.arange(n)))
    x0, y0, w, h = keyed.unbind(1)
    assert (x0 >= 0).all() and (y0 >= 0).all() and (x0 + w <= W).all() and (y0 + h <= H).all()
    assert torch.equal(keyed, keyed.round())

    def feats(b):  # area fraction, log aspect ratio, horizontal and vertical centre
        x0, y0, w, h = b.double().unbind(1)
        return torch.stack([w * h / (H * W), torch.log(w / h), (x0 + w / 2) / W, (y0 + h / 2) / H], 1)

    fp, fk = feats(plain), feats(keyed)
    se = torch.sqrt(fp.var(0) / n + fk.var(0) / n)
    assert ((fp.mean(0) - fk.mean(0)).abs() < Z * se).all()
    # flip: rate 1/2 with standard error sqrt(1/4 / n)
    img = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2).expand(n, 1, 1, 2)
    flipped = random_hflip(img, gen=SampleRandom(0, 1, torch.arange(n)))[:, 0, 0, 0] == 1.0
    assert abs(flipped.double().mean() - 0.5) < Z * math.sqrt(0.25 / n)
    # keyed crops are batch-independent through the resampling too
    xs = torch.rand(6, 3, 20, 20, generator=torch.Generator().manual_seed(1))
    idx, pos = torch.arange(6), torch.tensor([4, 1])
    full = random_resized_crop(xs, 8, gen=SampleRandom(2, 0, idx))
    assert torch.equal(full[pos], random_resized_crop(xs[pos], 8, gen=SampleRandom(2, 0, idx[pos])))


# ------------------------------------------------------------------------------------------ ImageFolder

def test_image_folder_crop_is_keyed_by_seed_epoch_and_index(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        for i in range(2):
            p = tmp_path / "train" / c / f"{i}.{'jpg' if i else 'png'}"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(p)
    ds = ImageFolder(str(tmp_path), "train", mode="train", size=12, seed=3)
    img, label, skipped = ds[(2, 5)]
    assert img.shape == (3, 12, 12) and img.dtype == torch.uint8 and label == 1 and skipped == 0
    assert torch.equal(ds[(2, 5)][0], img)  # the same (index, epoch): the same crop
    assert not torch.equal(ds[(2, 6)][0], img)  # another epoch: another crop
    assert torch.equal(ds[2][0], ds[(2, 0)][0])  # a plain index is epoch 0
    other_seed = ImageFolder(str(tmp_path), "train", mode="train", size=12, seed=4)
    assert not torch.equal(other_seed[(2, 5)][0], img)
    with pytest.raises(ValueError, match="index, epoch"):
        ds[(1, 2, 3)]
    with pytest.raises(ValueError, match="epoch"):
        ds[(1, -1)]
    with pytest.raises(ValueError, match="seed"):
        ImageFolder(str(tmp_path), seed=-1)
