"""mmae.data.cifar on tiny pickles written in exactly the CIFAR python formats."""
import pickle

import numpy as np
import pytest
import torch

from mmae.data.cifar import CIFAR10_MEAN, CIFAR100_STD, cifar_stats, load_cifar, num_classes


def _batch(n, seed, n_cls=10):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), rng.integers(0, n_cls, size=n).tolist()


def write_cifar10(root, sizes=(3, 2, 2, 1, 2), test=4):
    """data_batch_1..5 and test_batch as the original Python 2 pickles: byte-string keys."""
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    out = {}
    for i, n in enumerate(sizes, 1):
        data, labels = _batch(n, i)
        out[f"data_batch_{i}"] = (data, labels)
        with open(d / f"data_batch_{i}", "wb") as f:
            pickle.dump({b"batch_label": f"training batch {i} of 5".encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * n}, f, protocol=2)
    data, labels = _batch(test, 99)
    out["test_batch"] = (data, labels)
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"batch_label": b"testing batch 1 of 1", b"labels": labels, b"data": data,
                     b"filenames": [b"x.png"] * test}, f, protocol=2)
    return out


def write_cifar100(root, n=5):
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    out = {}
    for split, seed in (("train", 1), ("test", 2)):
        data, fine = _batch(n, seed, 100)
        coarse = [x // 5 for x in fine]
        out[split] = (data, fine)
        with open(d / split, "wb") as f:
            pickle.dump({b"filenames": [b"x.png"] * n, b"batch_label": split.encode(), b"fine_labels": fine,
                         b"coarse_labels": coarse, b"data": data}, f, protocol=2)
    return out


def test_cifar10_train_concatenates_the_five_batches_in_order(tmp_path):
    raw = write_cifar10(tmp_path)
    x, y = load_cifar(tmp_path, "cifar10", "train")
    assert x.dtype == torch.uint8 and y.dtype == torch.int64
    assert x.shape == (10, 3, 32, 32) and y.shape == (10,)
    data = np.concatenate([raw[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = sum((raw[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert y.tolist() == labels
    # row layout: 1024 red, then green, then blue values, each 32x32 row-major
    k, c, r, col = 4, 2, 7, 30
    assert x[k, c, r, col].item() == data[k, c * 1024 + r * 32 + col]
    assert np.array_equal(x.reshape(10, -1).numpy(), data)


def test_cifar10_test_split_and_folder_as_root(tmp_path):
    raw = write_cifar10(tmp_path)
    x, y = load_cifar(tmp_path / "cifar-10-batches-py", "cifar10", "test")
    assert x.shape == (4, 3, 32, 32)
    assert y.tolist() == raw["test_batch"][1]


def test_cifar100_uses_fine_labels(tmp_path):
    raw = write_cifar100(tmp_path)
    for split in ("train", "test"):
        x, y = load_cifar(tmp_path, "cifar100", split)
        assert y.tolist() == raw[split][1]
        assert np.array_equal(x.reshape(5, -1).numpy(), raw[split][0])


def test_stats_and_classes():
    assert cifar_stats("cifar10")[0] == CIFAR10_MEAN and cifar_stats("cifar100")[1] == CIFAR100_STD
    assert num_classes("cifar10") == 10 and num_classes("cifar100") == 100


def test_missing_and_malformed_files_name_the_path(tmp_path):
    with pytest.raises(ValueError, match="cifar-10-batches-py"):
        load_cifar(tmp_path, "cifar10")
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(ValueError, match="data_batch_3"):
        load_cifar(tmp_path, "cifar10", "train")
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="malformed.*test_batch"):
        load_cifar(tmp_path, "cifar10", "test")


def test_wrong_shapes_and_labels_are_rejected(tmp_path):
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    with open(d / "train", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"fine_labels": [0, 1]}, f, protocol=2)
    with pytest.raises(ValueError, match="malformed"):
        load_cifar(tmp_path, "cifar100", "train")
    with open(d / "train", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 100]}, f, protocol=2)
    with pytest.raises(ValueError, match="out of range"):
        load_cifar(tmp_path, "cifar100", "train")


def test_bad_names_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="cifar1000"):
        load_cifar(tmp_path, "cifar1000")
    with pytest.raises(ValueError, match="valid"):
        load_cifar(tmp_path, "cifar10", "valid")
