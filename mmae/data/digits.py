"""The `mini` data: scikit-learn's bundled handwritten digits (UCI optdigits test set).

1,797 real 8x8 grayscale images of the digits 0-9 with 17 grey levels (0-16). They ship with
scikit-learn, so the mini scale runs anywhere without a download. The split is fixed and
stratified: 1,347 training and 450 test images (`test_size=0.25, random_state=0`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

__all__ = ["load_digits_split", "DIGITS_MEAN", "DIGITS_STD", "NUM_CLASSES"]

NUM_CLASSES = 10


@lru_cache(maxsize=None)
def _split() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    # 0..16 grey levels -> 0..255 uint8, the storage format of every other data set here
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    return tuple(train_test_split(images, bunch.target.astype(np.int64), test_size=0.25,
                                  random_state=0, stratify=bunch.target))


def load_digits_split(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """`(images, labels)`: uint8 `(N, 1, 8, 8)` on the 0-255 scale and int64 `(N,)`."""
    x_tr, x_te, y_tr, y_te = _split()
    if split == "train":
        x, y = x_tr, y_tr
    elif split == "test":
        x, y = x_te, y_te
    else:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())


def _stats() -> tuple[tuple[float], tuple[float]]:
    x = _split()[0].astype(np.float64) / 255.0
    return (float(x.mean()),), (float(x.std()),)


# per-channel statistics of the training split on the 0-1 scale (computed, not typed in)
DIGITS_MEAN, DIGITS_STD = _stats()
