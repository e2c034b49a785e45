"""Fashion-MNIST's IDX files: generated files in exactly that format, every malformation named in
one clear error, and the real files when Debian's dataset-fashion-mnist is installed."""
import gzip
import os

import numpy as np
import pytest
import torch

from mmae.data.idx import (DEFAULT_ROOT, FASHION_MEAN, FASHION_STD, FILES, load_fashion_mnist, read_idx, write_idx,
                           write_validation_split)


def _idx_bytes(a: np.ndarray, magic: bytes | None = None) -> bytes:
    head = magic if magic is not None else bytes([0, 0, 0x08, a.ndim])
    return head + b"".join(int(d).to_bytes(4, "big") for d in a.shape) + a.astype(np.uint8).tobytes()


def _write(root, n_train=12, n_test=5, gz=True, **corrupt):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    data = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n).astype(np.uint8)
        data[split] = (x, y)
        for name, a in zip(FILES[split], (x, y)):
            raw = corrupt.get(name, lambda b: b)(_idx_bytes(a))
            if gz:
                with gzip.open(root / f"{name}.gz", "wb") as f:
                    f.write(raw)
            else:
                (root / name).write_bytes(raw)
    return data


@pytest.mark.parametrize("gz", [True, False])
def test_generated_idx_files_load_exactly(tmp_path, gz):
    data = _write(tmp_path / "fm", gz=gz)
    for split in ("train", "test"):
        x, y = load_fashion_mnist(str(tmp_path / "fm"), split)
        assert x.dtype == torch.uint8 and x.shape == (len(data[split][0]), 1, 28, 28) and y.dtype == torch.int64
        assert np.array_equal(x[:, 0].numpy(), data[split][0]) and np.array_equal(y.numpy(), data[split][1])


@pytest.mark.parametrize("name, corrupt, match", [
    ("train-images-idx3-ubyte", lambda b: b"\x00\x00\x0d\x03" + b[4:], "magic number 00000d03"),  # float data
    ("train-images-idx3-ubyte", lambda b: b[:-7], "truncated: 9401 data bytes for shape \\(12, 28, 28\\)"),
    ("train-labels-idx1-ubyte", lambda b: b + b"\x01", "longer than its header says"),
    ("t10k-labels-idx1-ubyte", lambda b: b[:6], "truncated header"),
])
def test_malformed_files_are_named(tmp_path, name, corrupt, match):
    _write(tmp_path / "fm", **{name: corrupt})
    split = "train" if name.startswith("train") else "test"
    with pytest.raises(ValueError, match=match) as e:
        load_fashion_mnist(str(tmp_path / "fm"), split)
    assert name in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["a.gz", "a"])
def test_write_idx_is_the_format_read_idx_reads(tmp_path, name):
    a = np.random.default_rng(2).integers(0, 256, (3, 5, 7), dtype=np.uint8)
    write_idx(str(tmp_path / name), a)
    raw = (gzip.open if name.endswith(".gz") else open)(tmp_path / name, "rb").read()
    assert raw == _idx_bytes(a) and np.array_equal(read_idx(str(tmp_path / name)), a)


def test_validation_split_divides_the_training_images_only(tmp_path):
    data = _write(tmp_path / "fm", n_train=12, n_test=5)
    write_validation_split(str(tmp_path / "val"), n_val=4, root=str(tmp_path / "fm"), seed=3)
    (xt, yt), (xv, yv) = (load_fashion_mnist(str(tmp_path / "val"), s) for s in ("train", "test"))
    assert len(xt) == 8 and len(xv) == 4
    x, y = data["train"]
    rows = {bytes(r): lab for r, lab in zip(x.reshape(12, -1), y)}
    seen = [bytes(r) for r in torch.cat([xt, xv]).reshape(12, -1).numpy()]
    assert sorted(seen) == sorted(rows)                         # a partition of the training images
    assert all(rows[bytes(r)] == lab for r, lab in zip(torch.cat([xt, xv]).reshape(12, -1).numpy(),
                                                        torch.cat([yt, yv]).numpy()))
    kept = [seen.index(bytes(r)) for r in x.reshape(12, -1) if bytes(r) in seen[:8]]
    assert kept == sorted(kept)                                  # the training part keeps its order
    test_rows = {bytes(r) for r in data["test"][0].reshape(5, -1)}
    assert not test_rows & set(seen)                             # the test split is never read
    with pytest.raises(ValueError, match="0 < n_val < 12"):
        write_validation_split(str(tmp_path / "v2"), n_val=12, root=str(tmp_path / "fm"))


def test_mismatched_counts_missing_files_and_bad_labels(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "fm"
    _write(root)
    (root / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="file missing: .*train-labels-idx1-ubyte.gz"):
        load_fashion_mnist(str(root), "train")
    with gzip.open(root / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(_idx_bytes(rng.integers(0, 10, 11).astype(np.uint8)))  # 11 labels for 12 images
    with pytest.raises(ValueError, match="disagree: .* holds \\(11,\\) labels for 12 images"):
        load_fashion_mnist(str(root), "train")
    other = tmp_path / "fm2"
    _write(other, **{"t10k-labels-idx1-ubyte": lambda b: b[:-1] + b"\x0a"})  # label 10 of 0..9
    with pytest.raises(ValueError, match="labels out of range 0..9"):
        load_fashion_mnist(str(other), "test")
    with pytest.raises(ValueError, match="folder missing"):
        load_fashion_mnist(str(tmp_path / "nowhere"), "train")
    with pytest.raises(ValueError, match="split must be"):
        load_fashion_mnist(str(root), "val")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(_idx_bytes(np.zeros(5, np.uint8)))[:-6])
    with pytest.raises(ValueError, match="unreadable"):
        read_idx(str(tmp_path / "cut.gz"))


@pytest.mark.skipif(not os.path.isdir(DEFAULT_ROOT), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_real_files_from_the_debian_package():
    for split, n in (("train", 60_000), ("test", 10_000)):
        x, y = load_fashion_mnist(split=split)
        assert x.shape == (n, 1, 28, 28)
        assert torch.equal(torch.bincount(y), torch.full((10,), n // 10))  # balanced classes
    # the typed-in normalisation constants are the training images' (8 digits: half a unit in the last place)
    x = load_fashion_mnist(split="train")[0].double() / 255
    assert abs(x.mean().item() - FASHION_MEAN) <= 5e-9 and abs(x.std(unbiased=False).item() - FASHION_STD) <= 5e-9
