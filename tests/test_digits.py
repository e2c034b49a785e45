"""The mini-scale data: scikit-learn's digits with a fixed stratified split."""
import numpy as np
import pytest
import torch

from mmae.data.digits import DIGITS_MEAN, DIGITS_STD, load_digits_split, write_validation_split


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


def test_validation_split_divides_the_training_images_only(tmp_path):
    """`python -m mmae.data.digits --validation-split`: a stratified quarter of the training images as
    the folder's `test` files, the rest as its `train` files in their order; `load_tensors` and the
    command line read it as they read the bundled digits, and the test split is never in it."""
    import subprocess
    import sys
    from pathlib import Path

    from mmae.data import load_tensors
    out = tmp_path / "val"
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "mmae.data.digits", "--validation-split", str(out)], capture_output=True,
                       text=True, env={"PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}, timeout=300)
    assert r.returncode == 0, r.stderr
    x, y = load_digits_split("train")
    (xt, yt), (xv, yv) = (load_tensors("digits", s, str(out)) for s in ("train", "test"))
    assert len(xt) == 1010 and len(xv) == 337 and xv.shape[1:] == (1, 8, 8) and xv.dtype == torch.uint8
    counts = np.bincount(yv.numpy(), minlength=10)
    assert np.all(np.abs(counts - np.bincount(y.numpy()) * 0.25) <= 1)          # stratified
    # a partition of the training split: every (image, label) once, the training part in its order
    rows = [bytes(a) + bytes([b]) for a, b in zip(x.reshape(len(x), -1).numpy(), y.numpy())]
    split = [bytes(a) + bytes([b]) for a, b in zip(torch.cat([xt, xv]).reshape(len(x), -1).numpy(),
                                                   torch.cat([yt, yv]).numpy())]
    assert sorted(rows) == sorted(split)
    pos = {}
    for k, row in enumerate(rows):
        pos.setdefault(row, []).append(k)
    kept = [pos[row].pop(0) for row in split[:1010]]
    assert kept == sorted(kept)
    xtest, _ = load_digits_split("test")
    held = {bytes(a) for a in xv.reshape(len(xv), -1).numpy()}
    assert sum(bytes(a) in held for a in xtest.reshape(len(xtest), -1).numpy()) < 10  # as the bundled split
    # a second call writes the same split; bad input is one line and exit code 2
    write_validation_split(str(tmp_path / "again"))
    assert torch.equal(load_digits_split("test", str(tmp_path / "again"))[0], xv)
    r = subprocess.run([sys.executable, "-m", "mmae.data.digits", "--validation-split", str(tmp_path / "v2"),
                        "--fraction", "1"], capture_output=True, text=True,
                       env={"PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}, timeout=300)
    assert r.returncode == 2 and r.stderr.strip() == "error: the validation split needs 0 < fraction < 1, got 1.0"
    with pytest.raises(ValueError, match="digits file missing: .*train-images-idx3-ubyte.gz \\(write the folder"):
        load_digits_split("train", str(tmp_path))
