"""Fashion-MNIST (Xiao et al., 2017) from its four standard IDX files.

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz   60,000 images
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz    10,000 images

70,000 real 28x28 grayscale images of 10 clothing classes. Debian's package
`dataset-fashion-mnist` installs the files in `DEFAULT_ROOT`; any folder holding them (gzipped or
not) works. The IDX format (LeCun et al.'s MNIST files): a big-endian header of two zero bytes, a
type code (`0x08` = unsigned byte), the number of dimensions, then each dimension as a 32-bit
unsigned integer, then the data in row-major order. A file that breaks it (another magic number, a
truncated or over-long body, labels that do not match the images) is a `ValueError` naming it.

Recipes are chosen on a validation split, never on the test split: `write_validation_split` holds
out part of the *training* images as a folder of the same four files, which any command reads
in place of the real ones (`--data`):

    python -m mmae.data.idx --validation-split fm-val   # 50,000 train, 10,000 validation
"""
from __future__ import annotations

import gzip
import os
from functools import lru_cache

import numpy as np
import torch

__all__ = ["DEFAULT_ROOT", "FILES", "read_idx", "write_idx", "validation_mask", "write_validation_split", "write_split",
           "read_split", "load_fashion_mnist", "NUM_CLASSES", "FASHION_MEAN", "FASHION_STD"]

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"  # where Debian's dataset-fashion-mnist puts the files
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
NUM_CLASSES = 10
# mean and (population) standard deviation of the 60,000 training images on the 0-1 scale; typed in
# so that the data's description needs no file, checked against the files by the tests
FASHION_MEAN, FASHION_STD = 0.28604060, 0.35302424
_UBYTE = 0x08


def read_idx(path: str) -> np.ndarray:
    """The array of an unsigned-byte IDX file (`path` may end in `.gz`). No more than the header's
    size (and one byte, to see a longer file) is read, so a gzip stream that expands beyond what its
    header promises is refused without being inflated."""
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != _UBYTE or not 1 <= magic[3] <= 4:
                raise ValueError(f"IDX file malformed: {path} (magic number {magic.hex() or 'missing'}, expected "
                                 f"0000080N: unsigned bytes in N = 1..4 dimensions)")
            ndim = magic[3]
            shape = f.read(4 * ndim)
            if len(shape) < 4 * ndim:
                raise ValueError(f"IDX file malformed: {path} (truncated header)")
            dims = tuple(int.from_bytes(shape[4 * i: 4 + 4 * i], "big") for i in range(ndim))
            size = int(np.prod(dims))
            data = f.read(size + 1)
    except (OSError, EOFError) as e:  # unreadable, or a gzip stream cut short
        raise ValueError(f"IDX file unreadable: {path} ({type(e).__name__}: {e})") from None
    if len(data) < size:
        raise ValueError(f"IDX file malformed: {path} (truncated: {len(data)} data bytes for shape {dims})")
    if len(data) > size:
        raise ValueError(f"IDX file malformed: {path} (longer than its header says: more than {size} data bytes for "
                         f"shape {dims})")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


_FASHION_HINT = "install Debian's dataset-fashion-mnist, or give the folder holding the four IDX files"


def _find(root: str, name: str, what: str = "Fashion-MNIST", hint: str = _FASHION_HINT) -> str:
    for candidate in (os.path.join(root, name + ".gz"), os.path.join(root, name)):
        if os.path.isfile(candidate):
            return candidate
    raise ValueError(f"{what} file missing: {os.path.join(root, name)}.gz ({hint})")


@lru_cache(maxsize=4)
def read_split(root: str, split: str, size: int = 28, what: str = "Fashion-MNIST",
          hint: str = _FASHION_HINT) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of `split` from the four files in `root`, checked (images `size` x `size`,
    one label in 0..9 per image); errors name the data set `what`."""
    images_path, labels_path = (_find(root, n, what, hint) for n in FILES[split])
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (size, size):
        raise ValueError(f"{what} file malformed: {images_path} (shape {images.shape}, expected (N, {size}, {size}))")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{what} files disagree: {labels_path} holds {labels.shape} labels for "
                         f"{images.shape[0]} images in {images_path}")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise ValueError(f"{what} labels out of range 0..{NUM_CLASSES - 1} in {labels_path}: max {labels.max()}")
    return images, labels


def load_fashion_mnist(root: str | None = None, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """`(images uint8 (N, 1, 28, 28), labels int64 (N,))` of `split` ("train" or "test"), from
    `root` (default `DEFAULT_ROOT`)."""
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = os.fspath(root or DEFAULT_ROOT)
    if not os.path.isdir(root):
        raise ValueError(f"Fashion-MNIST folder missing: {root} (install Debian's dataset-fashion-mnist, "
                         f"or give the folder holding the four IDX files)")
    images, labels = read_split(os.path.abspath(root), split)
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def write_idx(path: str, array: np.ndarray) -> None:
    """Write an unsigned-byte IDX file (gzipped when `path` ends in `.gz`), the inverse of `read_idx`."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    if not 1 <= a.ndim <= 4:
        raise ValueError(f"an IDX array has 1 to 4 dimensions, got shape {a.shape}")
    head = bytes([0, 0, _UBYTE, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    with (gzip.open if path.endswith(".gz") else open)(path, "wb") as f:
        f.write(head + a.tobytes())


def validation_mask(n: int, n_val: int = 10_000, seed: int = 0) -> np.ndarray:
    """Which of `n` training images the validation split holds out: `n_val` of them drawn at random
    (`seed`), as a boolean mask (`write_validation_split` writes the same split as files)."""
    if not 0 < n_val < n:
        raise ValueError(f"the validation split needs 0 < n_val < {n} images, got {n_val}")
    held = np.zeros(n, bool)
    held[np.random.default_rng(seed).permutation(n)[:n_val]] = True
    return held


def write_validation_split(out: str, n_val: int = 10_000, root: str | None = None, seed: int = 0) -> None:
    """Divide the training split of the files in `root` (default `DEFAULT_ROOT`): `n_val` images
    drawn at random (`seed`) become the `test` files of the folder `out`, the rest its `train` files,
    in their original order. The real test split is not read."""
    images, labels = read_split(os.path.abspath(os.fspath(root or DEFAULT_ROOT)), "train")
    write_split(out, images, labels, validation_mask(len(labels), n_val, seed))


def write_split(out: str, images: np.ndarray, labels: np.ndarray, held: np.ndarray) -> None:
    """The folder `out` of four IDX files: the images and labels where `held` is true as its `test`
    split, the others as its `train` split, each in their original order."""
    os.makedirs(out, exist_ok=True)
    for split, keep in (("train", ~held), ("test", held)):
        for name, a in zip(FILES[split], (images[keep], labels[keep])):
            write_idx(os.path.join(out, name + ".gz"), a)


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser(prog="python -m mmae.data.idx", description=write_validation_split.__doc__)
    p.add_argument("--validation-split", required=True, metavar="OUT", help="folder to write the four files to")
    p.add_argument("--n-val", type=int, default=10_000)
    p.add_argument("--data", default=None, help=f"folder of the original files (default {DEFAULT_ROOT})")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    try:
        write_validation_split(a.validation_split, a.n_val, a.data, a.seed)
    except ValueError as e:  # one line, exit code 2, as every command of the package
        import sys
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
