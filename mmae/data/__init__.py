"""Data: ImageNet-style folders ([`mmae.data.imagenet`][mmae.data.imagenet]), CIFAR pickles ([`mmae.data.cifar`][mmae.data.cifar]),
the bundled digits of the mini scale ([`mmae.data.digits`][mmae.data.digits]), Fashion-MNIST's IDX files of the
small scale ([`mmae.data.idx`][mmae.data.idx]) and batched device-side
augmentations ([`mmae.data.transforms`][mmae.data.transforms], [`mmae.data.views`][mmae.data.views]).

Loaders are imported lazily, so `import mmae.data` stays cheap (scikit-learn, Pillow and kornia
load on first use). [`load_tensors`][mmae.data.load_tensors] gives the small data sets as whole uint8 tensors, meant
to be held on the training device.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["load_digits_split", "load_cifar", "ImageFolder", "imagenet_loader", "DataInfo", "data_info",
           "load_tensors", "IN_MEMORY", "DATASETS"]

IN_MEMORY = ("digits", "fashion-mnist", "cifar10", "cifar100")
DATASETS = IN_MEMORY + ("imagenet",)

_LAZY = {
    "load_digits_split": "digits",
    "load_cifar": "cifar",
    "ImageFolder": "imagenet",
    "imagenet_loader": "imagenet",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class DataInfo:
    """What a model and an augmentation recipe need to know about a data set."""
    name: str
    img_size: int
    in_chans: int
    num_classes: int
    mean: tuple
    std: tuple
    flip: bool  # is a mirror image the same class?


def data_info(name: str) -> DataInfo:
    if name == "digits":
        from .digits import DIGITS_MEAN, DIGITS_STD, NUM_CLASSES
        return DataInfo("digits", 8, 1, NUM_CLASSES, tuple(DIGITS_MEAN), tuple(DIGITS_STD), flip=False)
    if name == "fashion-mnist":  # every shoe faces left: a mirror image is off the data's distribution
        from .idx import FASHION_MEAN, FASHION_STD, NUM_CLASSES
        return DataInfo(name, 28, 1, NUM_CLASSES, (FASHION_MEAN,), (FASHION_STD,), flip=False)
    if name in ("cifar10", "cifar100"):
        from .cifar import cifar_stats, num_classes
        mean, std = cifar_stats(name)
        return DataInfo(name, 32, 3, num_classes(name), tuple(mean), tuple(std), flip=True)
    if name == "imagenet":
        from .imagenet import IMAGENET_MEAN, IMAGENET_STD
        return DataInfo("imagenet", 224, 3, 1000, IMAGENET_MEAN, IMAGENET_STD, flip=True)
    raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")


def load_tensors(name: str, split: str, root: str | None = None):
    """`(images uint8 (N, C, H, W), labels int64 (N,))` of a small data set; `split` is
    "train" or "test" (for CIFAR, `root` holds the python pickles; for Fashion-MNIST the four
    IDX files, by default `mmae.data.idx.DEFAULT_ROOT`; for the digits, a validation split's
    folder, `mmae.data.digits.write_validation_split`, by default the bundled split)."""
    if name == "digits":
        from .digits import load_digits_split
        return load_digits_split(split, root or None)
    if name == "fashion-mnist":
        from .idx import load_fashion_mnist
        return load_fashion_mnist(root or None, split)
    if name in ("cifar10", "cifar100"):
        if not root:
            raise ValueError(f"dataset {name!r} needs data_root (the folder holding the python pickles)")
        from .cifar import load_cifar
        return load_cifar(root, name, split)
    raise ValueError(f"dataset {name!r} is not held in memory; expected one of {IN_MEMORY}")
