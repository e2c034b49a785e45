"""CIFAR-10 / CIFAR-100 from the standard python pickles (Krizhevsky, 2009).

Layout under `root` (either `root` itself or the folder inside it):
  cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch   keys data (N, 3072) uint8, labels
  cifar-100-python/train, test                                   keys data, fine_labels (used), coarse_labels
Each row of `data` is 1024 red, 1024 green, 1024 blue values of a 32x32 image in row-major order.
The pickles were written by Python 2, hence `encoding="bytes"` and byte-string keys. A pickle can
name any function for the unpickler to call; these files are read with `SafeUnpickler`, which
admits only what the official files hold (dicts, lists, bytes, str, int and numpy arrays with their
dtypes) and refuses anything else before it runs.
"""
from __future__ import annotations

import os
import pickle

import numpy as np
import torch

# Per-channel mean/std of the training split on the 0..1 scale.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
                "labels", 10),
    "cifar100": ("cifar-100-python", {"train": ["train"], "test": ["test"]}, "fine_labels", 100),
}


def cifar_stats(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if name == "cifar10":
        return CIFAR10_MEAN, CIFAR10_STD
    if name == "cifar100":
        return CIFAR100_MEAN, CIFAR100_STD
    raise ValueError(f"unknown CIFAR name {name!r}; expected 'cifar10' or 'cifar100'")


def num_classes(name: str) -> int:
    cifar_stats(name)
    return _LAYOUT[name][3]


class SafeUnpickler(pickle.Unpickler):
    """Resolves only the globals of the official CIFAR pickles: numpy's array and scalar
    constructors and dtypes (under numpy 1's and numpy 2's module names), and `_codecs.encode`,
    which Python 3 writes for bytes in protocol 2. Everything else raises `UnsafePickle`."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")} | {
        (m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickle(f"{module}.{name}")


class UnsafePickle(pickle.UnpicklingError):
    pass


def _read(path: str, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    if not os.path.isfile(path):
        raise ValueError(f"CIFAR file missing: {path}")
    try:
        with open(path, "rb") as f:
            d = SafeUnpickler(f, encoding="bytes").load()
    except UnsafePickle as e:
        raise ValueError(f"refusing to read {path}: it asks for {e}, which a CIFAR file does not contain "
                         f"(its code was not run)") from None
    except Exception as e:  # truncated or not a pickle
        raise ValueError(f"CIFAR file malformed: {path} ({type(e).__name__}: {e})") from None
    if not isinstance(d, dict):
        raise ValueError(f"CIFAR file malformed: {path} (expected a dict, got {type(d).__name__})")
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
    if "data" not in d or label_key not in d:
        raise ValueError(f"CIFAR file malformed: {path} (keys {sorted(d)} lack 'data' or {label_key!r})")
    data = np.asarray(d["data"])
    labels = np.asarray(d[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.shape[0]:
        raise ValueError(f"CIFAR file malformed: {path} (data {data.dtype} {data.shape}, {labels.shape[0]} labels)")
    return data, labels


def load_cifar(root: str, name: str = "cifar10", split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Return (images uint8 (N, 3, 32, 32), labels int64 (N,)) of one split."""
    if name not in _LAYOUT:
        raise ValueError(f"unknown CIFAR name {name!r}; expected 'cifar10' or 'cifar100'")
    folder, files, label_key, n_cls = _LAYOUT[name]
    if split not in files:
        raise ValueError(f"unknown split {split!r}; expected 'train' or 'test'")
    root = os.fspath(root)
    base = root if os.path.basename(os.path.normpath(root)) == folder else os.path.join(root, folder)
    if not os.path.isdir(base):
        raise ValueError(f"CIFAR folder missing: {base}")
    parts = [_read(os.path.join(base, f), label_key) for f in files[split]]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if labels.size and (labels.min() < 0 or labels.max() >= n_cls):
        raise ValueError(f"CIFAR labels out of range 0..{n_cls - 1} in {base}: min {labels.min()}, max {labels.max()}")
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return images, torch.from_numpy(labels)
