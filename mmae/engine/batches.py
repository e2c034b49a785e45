"""Global batches, split across processes and micro-steps without changing what is trained.

Epoch $e$ visits the training set in the order `epoch_permutation(n, seed, e)` (a function of the
run seed and the epoch only, `mmae.data.keyed`). Optimiser step $s$ of the epoch averages over
the global batch `order[s B:(s + 1) B]`; process $r$ of $W$ takes the slice
`[r B / W, (r + 1) B / W)` of it, in `accum` consecutive micro-batches. Every micro-batch carries
the dataset indices of its samples, which key their masks and augmentations. So the samples of a
step, and the random numbers each of them sees, are the same on one process, on $W$ processes and
with any gradient accumulation: only the order of the floating-point sums differs.

Two sources: tensors held whole on the device (digits, CIFAR; indexed there) and an image folder
decoded by DataLoader workers, or read by them and decoded batched on the GPU (ImageNet; the index
lists are fixed in the main process, so the workers' scheduling cannot change the order).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from mmae import dist
from mmae.data.keyed import SampleRandom, epoch_permutation

__all__ = ["Split", "split_batch", "Batch", "TrainBatches", "EvalBatches", "Tensors", "Folder"]


@dataclass(frozen=True)
class Split:
    """How a global batch of `global_batch` images is computed: `world` processes, each doing
    `accum` micro-steps of `micro` images."""
    global_batch: int
    world: int
    accum: int
    micro: int

    @property
    def per_process(self) -> int:
        return self.accum * self.micro


def split_batch(global_batch: int, world: int, accum_iter: int = 0, max_micro_batch: int = 0) -> Split:
    """Split `global_batch` over `world` processes: `accum_iter` micro-steps if given (it must
    divide the per-process batch), else the fewest whose micro-batches fit `max_micro_batch`."""
    if global_batch % world:
        raise ValueError(f"the global batch {global_batch} is not divisible by the {world} processes")
    per = global_batch // world
    if accum_iter:
        if per % accum_iter:
            raise ValueError(f"accum_iter={accum_iter} does not divide the per-process batch {per} "
                             f"(global batch {global_batch} on {world} process(es))")
        accum = accum_iter
    else:
        cap = max_micro_batch or per
        accum = next(a for a in range(math.ceil(per / cap), per + 1) if per % a == 0)
    return Split(global_batch, world, accum, per // accum)


@dataclass
class Batch:
    """One micro-batch: uint8 images, labels, the samples' dataset indices (int64, on the device)
    and their keyed random numbers (`gen`)."""
    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor
    gen: SampleRandom


class Tensors:
    """A data set held whole on the device: uint8 images `x` and int64 labels `y`."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, device: torch.device):
        self.x, self.y, self.device = x.to(device), y.to(device), device
        self.classes = None
        self.skipped = 0

    def __len__(self) -> int:
        return len(self.x)

    def stream(self, index_lists, epoch: int):
        """`(indices, (images, labels))` per index list (`epoch` matters only to decoded folders)."""
        for idx in index_lists:
            yield idx, (self.x[idx], self.y[idx])


class Folder:
    """An image folder (`mmae.data.imagenet.ImageFolder`) decoded by DataLoader workers.

    The batches' index lists are decided here, in the main process, and handed to the loader as a
    batch sampler, so decoding in parallel never changes which image lands in which micro-batch.
    Training crops are keyed by `(seed, epoch, index)` inside the dataset.

    `gpu_decode`: the workers only read the files and the crop boxes, and each batch is decoded,
    cropped and resized on `device` (`mmae.data.imagenet.decode_crops`: nvJPEG on CUDA). None
    (default) chooses it for training crops when `gpu_decode_reason(device)` is None (CUDA and
    torchvision), else the Pillow workers; True forces it (on a CPU: Pillow in the main process)."""

    def __init__(self, dataset, device: torch.device, num_workers: int, gpu_decode: bool | None = None):
        from mmae.data.imagenet import collate_encoded, gpu_decode_reason
        if gpu_decode is None:
            gpu_decode = dataset.mode == "train" and gpu_decode_reason(device) is None
        self.dataset, self.device, self.gpu_decode = dataset, device, gpu_decode
        if gpu_decode:
            dataset = copy.copy(dataset)
            dataset.encoded = True
        self.classes = dataset.classes
        self.skipped = 0  # unreadable images replaced during the current epoch (skip_corrupt)
        self._plan = _Planned()
        self.loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=self._plan, num_workers=num_workers, pin_memory=device.type == "cuda",
            persistent_workers=num_workers > 0, collate_fn=collate_encoded if gpu_decode else None)

    def __len__(self) -> int:
        return len(self.dataset)

    def stream(self, index_lists, epoch: int):
        self._plan.lists = [[(int(i), epoch) for i in idx.tolist()] for idx in index_lists]
        self.skipped = 0
        for idx, (x, y, skipped) in zip(index_lists, self.loader):
            self.skipped += int(skipped.sum())  # a CPU tensor: no device sync
            if self.gpu_decode:
                from mmae.data.imagenet import decode_crops
                data, boxes, paths = x
                x = decode_crops(data, boxes, self.dataset.size, self.device, paths=paths)
            yield idx, (x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True))


class _Planned:
    """A batch sampler that replays the planned `(index, epoch)` lists."""
    lists: list = []

    def __iter__(self):
        return iter(self.lists)

    def __len__(self) -> int:
        return len(self.lists)


class TrainBatches:
    """The training micro-batches of this process, step by step (see the module docstring)."""

    def __init__(self, source, split: Split, seed: int):
        self.source, self.split, self.seed = source, split, seed
        self.steps_per_epoch = len(source) // split.global_batch  # the last incomplete batch is dropped
        if self.steps_per_epoch == 0:
            raise ValueError(f"the training set has {len(source)} images: fewer than one global batch of "
                             f"{split.global_batch}")

    def epoch(self, epoch: int, start: int = 0):
        """Yield `(step, [Batch] * accum)` for the steps `start, start + 1, ...` of `epoch`."""
        sp, rank = self.split, dist.get_rank()
        order = epoch_permutation(len(self.source), self.seed, epoch)
        lo = rank * sp.per_process
        lists = []
        for s in range(start, self.steps_per_epoch):
            mine = order[s * sp.global_batch + lo: s * sp.global_batch + lo + sp.per_process]
            lists += [mine[k * sp.micro:(k + 1) * sp.micro] for k in range(sp.accum)]
        device = self.source.device
        micro = []
        for n, (idx, (x, y)) in enumerate(self.source.stream(lists, epoch)):
            index = idx.to(device, non_blocking=True)
            micro.append(Batch(x, y, index, SampleRandom(self.seed, epoch, index)))
            if len(micro) == sp.accum:
                yield start + n // sp.accum, micro
                micro = []


class EvalBatches:
    """Evaluation batches of this process: the split's images in order, process $r$ of $W$ taking
    the indices $r, r + W, \\ldots$, so every image is counted exactly once over the processes."""

    def __init__(self, source, batch_size: int):
        self.source, self.batch_size = source, batch_size

    def __iter__(self):
        mine = torch.arange(dist.get_rank(), len(self.source), dist.get_world_size())
        lists = list(mine.split(self.batch_size))
        for _, (x, y) in self.source.stream(lists, 0):
            yield x, y
