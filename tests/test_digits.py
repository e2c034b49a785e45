"""The mini-scale data: scikit-learn's digits with a fixed stratified split."""
import numpy as np
import pytest
import torch

from mmae.data.digits import DIGITS_MEAN, DIGITS_STD, load_digits_split


def test_split_sizes_dtypes_and_range():
    x, y = load_digits_split("train")
    xt, yt = load_digits_split("test")
    assert x.shape == (1347, 1, 8, 8) and xt.shape == (450, 1, 8, 8)
    assert x.dtype == torch.uint8 and y.dtype == torch.int64
    assert int(x.max()) == 255 and int(x.min()) == 0
    # 17 grey levels survive the rescaling exactly
    assert len(torch.unique(torch.cat([x.flatten(), xt.flatten()]))) == 17


def test_split_is_stratified_disjoint_and_fixed():
    from sklearn.datasets import load_digits

    x, y = load_digits_split("train")
    xt, yt = load_digits_split("test")
    full = np.bincount(load_digits().target)
    test_counts = np.bincount(yt.numpy(), minlength=10)
    assert np.all(np.abs(test_counts - full * 0.25) <= 1)          # stratified
    assert np.array_equal(np.bincount(y.numpy()) + test_counts, full)
    train_rows = {bytes(r) for r in x.reshape(len(x), -1).numpy()}
    overlap = sum(bytes(r) in train_rows for r in xt.reshape(len(xt), -1).numpy())
    assert overlap < 10  # a handful of identical digits exist in the data set itself
    x2, _ = load_digits_split("train")
    assert torch.equal(x, x2)


def test_statistics_are_those_of_the_training_split():
    x, _ = load_digits_split("train")
    v = x.double() / 255
    assert DIGITS_MEAN[0] == pytest.approx(v.mean().item()) and DIGITS_STD[0] == pytest.approx(v.std(unbiased=False).item())


def test_bad_split():
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        load_digits_split("val")
