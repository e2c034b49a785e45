r"""Randomness keyed by sample: every random number a sample sees during training is a pure
function of $(\text{run seed}, \text{epoch}, \text{sample index})$.

Why: a run's masks and augmentations must not depend on how its global batch is split. With
torch's global generator, the noise a sample receives depends on which process draws it and on
what that process drew before, so the same run on 1 GPU, on 8 GPUs or with gradient accumulation
trains on different masks. Here each draw is a counter-based hash (no state to save or restore),
evaluated element-wise on the device that holds the batch:

$$u = h\big(h(h(h(\text{seed}) \oplus \text{epoch}) \oplus \text{stream}) \oplus \text{index}, j\big) / 2^{32},$$

where $h$ is a 32-bit integer mixing function, `stream` counts the calls made on a
`SampleRandom` (so successive draws are independent) and $j$ numbers the values drawn for
one sample in one call. Every operation is an integer tensor op: no host synchronisation, the same
numbers on CPU and CUDA, and the same numbers whichever process or micro-step holds the sample.

The data order is keyed the same way (`epoch_permutation`: a function of seed and epoch only),
which is what makes a run's updates independent of the number of processes and of gradient
accumulation, up to the reassociation of floating-point sums.
"""
from __future__ import annotations

import random

import torch

__all__ = ["SampleRandom", "mix32", "key32", "epoch_permutation", "python_rng"]

_MASK = 0xFFFFFFFF
_MUL = 0x45D9F3B  # < 2^27: a product with a 32-bit value fits in int64 without overflow


def mix32(x):
    """A bijective 32-bit mixing function on int64 tensors holding values in $[0, 2^{32})$, or on
    Python ints (the same operations: keys are mixed on the host, without tensor ops); three
    xor-shift / multiply rounds, every input bit flips about half of the output bits."""
    x = x ^ (x >> 16)
    x = (x * _MUL) & _MASK
    x = x ^ (x >> 16)
    x = (x * _MUL) & _MASK
    return x ^ (x >> 16)


def key32(*parts: int) -> int:
    """A 32-bit key of non-negative integers (the run seed, an epoch, a stream number, ...)."""
    h = 0
    for p in parts:
        if p < 0:
            raise ValueError(f"keys are built from non-negative integers, got {p}")
        h = mix32(h ^ (int(p) & _MASK) ^ ((int(p) >> 32) * 0x9E3779B1 & _MASK))
    return h


class SampleRandom:
    """Random numbers for the samples `index` (int64, shape `(n,)`) of epoch `epoch` of a run
    seeded `seed`. Each call of `rand`, `randn` or `randint` opens a new stream
    and returns a tensor of shape `(n, *shape)` on `index`'s device: row $i$ depends only on
    `(seed, epoch, index[i], stream)`.

    `salt` separates independent uses within one step (e.g. the two views of a Siamese pair).
    """

    def __init__(self, seed: int, epoch: int, index: torch.Tensor, salt: int = 0):
        self._init(key32(seed, epoch, salt), index)

    @classmethod
    def from_key(cls, key, index: torch.Tensor) -> "SampleRandom":
        """The generator whose `key` is `key`: an int, or a 0-d int64 tensor on `index`'s device.
        A tensor key gives the same numbers as the int it holds, computed on the device: a CUDA
        graph (`mmae.engine.loop.GraphedStep`) reads it, and each step refills it in place."""
        self = cls.__new__(cls)
        if isinstance(key, torch.Tensor) and (key.dtype != torch.int64 or key.ndim != 0 or key.device != index.device):
            raise ValueError(f"a tensor key must be a 0-d int64 tensor on {index.device}, got {key.dtype} of shape "
                             f"{tuple(key.shape)} on {key.device}")
        self._init(key, index)
        return self

    def _init(self, key, index: torch.Tensor) -> None:
        if index.dtype != torch.int64 or index.ndim != 1:
            raise ValueError(f"index must be a 1-D int64 tensor, got {index.dtype} of shape {tuple(index.shape)}")
        self.index, self.device = index, index.device
        self._key = key
        self._stream = 0

    @property
    def key(self):
        """The 32-bit key of `(seed, epoch, salt)` that every stream starts from."""
        return self._key

    def __len__(self) -> int:
        return self.index.shape[0]

    def bits(self, *shape: int) -> torch.Tensor:
        """Uniform 32-bit integers (int64 holding $[0, 2^{32})$), shape `(n, *shape)`."""
        self._stream += 1
        # the stream's key mixed once (on the host; on the device for a tensor key), then each index
        base = mix32(mix32(self._key ^ self._stream) ^ (self.index & _MASK))
        m = 1
        for s in shape:
            m *= s
        j = torch.arange(m, dtype=torch.int64, device=self.device)
        # two rounds after mixing in j: neighbouring counters give unrelated values
        out = mix32(mix32(base[:, None] ^ j[None, :]) ^ base[:, None])
        return out.view(len(self), *shape)

    def rand(self, *shape: int) -> torch.Tensor:
        """Uniform float32 in $[0, 1)$ on a grid of $2^{-24}$ (exact in float32)."""
        return (self.bits(*shape) >> 8).to(torch.float32) * (1.0 / 16777216.0)

    def randn(self, *shape: int) -> torch.Tensor:
        """Standard normal float32 by the Box-Muller transform of two uniform streams."""
        u1 = 1.0 - self.rand(*shape)  # (0, 1]: the logarithm is finite
        u2 = self.rand(*shape)
        return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2.0 * torch.pi) * u2)

    def randint(self, high: int, *shape: int) -> torch.Tensor:
        """Uniform integers in `[0, high)` (int64); the bias of the modulo is below $high / 2^{32}$."""
        if not 0 < high <= 2**31:
            raise ValueError(f"high must be in [1, 2^31], got {high}")
        return self.bits(*shape) % high


def epoch_permutation(n: int, seed: int, epoch: int, shuffle: bool = True) -> torch.Tensor:
    """The order in which epoch `epoch` visits `n` samples: a function of `(seed, epoch)` only,
    identical on every process and after a resume (`arange(n)` when `shuffle` is false)."""
    if not shuffle:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(key32(seed, epoch, 0x0DE7)))


def python_rng(seed: int, epoch: int, index: int) -> random.Random:
    """A `random.Random` for one sample (CPU-side augmentation in data-loader workers)."""
    return random.Random(key32(seed, epoch, index, 0xC0DE))
