"""Distributed helpers: one code path for a single CPU/GPU and for `torchrun` across nodes.

Batch-level regularisers (TCR, uniformity, Barlow Twins, InfoNCE) must see the *global* batch.
[`all_gather_cat`][mmae.dist.all_gather_cat] gathers with `torch.distributed.nn.functional.all_gather`, whose backward
sums the gradients that every rank computes for each slice. Each rank evaluates the same global
loss, so a rank's local features receive `world_size` times their true gradient; DDP's gradient
averaging divides by `world_size` again, and the parameters see exactly the gradient of the
single-process computation on the concatenated batch.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init_distributed", "is_distributed", "get_rank", "get_world_size", "is_main",
           "barrier", "all_gather_cat", "all_reduce_mean", "broadcast_object", "cleanup"]


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return get_rank() == 0


def init_distributed(device: str | None = None) -> DistInfo:
    """Join the process group that `torchrun` describes in `RANK`/`WORLD_SIZE`/`LOCAL_RANK`.

    Uses NCCL on CUDA and gloo on CPU. Without those variables it returns rank 0 of 1 and the
    requested device (`"auto"`/`None`: CUDA when available). Safe to call twice.
    """
    want = device if device not in (None, "auto") else ("cuda" if torch.cuda.is_available() else "cpu")
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistInfo(0, 1, 0, torch.device(want))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", 0))
    if want.startswith("cuda"):
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if not is_distributed():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world)
    return DistInfo(rank, world, local, dev)


def cleanup(wait: bool = True) -> None:
    """Leave the process group. With `wait` (every process got here), first a barrier: a process
    that destroys the group while another still has a message in flight to it can abort the other
    (gloo: "terminate called without an active exception", SIGABRT). Without it (this process is
    leaving on an error the others may not share) no collective is started that could hang."""
    if is_distributed():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_gather_cat(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` from every rank along dim 0, keeping the autograd graph (see module doc).

    All ranks must pass tensors of the same shape. Identity when not distributed.
    """
    if not is_distributed() or get_world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather
    # torch marks this collective deprecated in favour of its functional collectives; it still runs
    # on every backend (gloo included, which the equivalence test uses) and its gradient is exact
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(all_gather(x.contiguous()), dim=0)


@torch.no_grad()
def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean of `t` over ranks (a new tensor; no gradient). Identity when not distributed."""
    if not is_distributed():
        return t
    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / get_world_size()


def broadcast_object(obj):
    """Rank 0's `obj` on every rank (picklable objects)."""
    if not is_distributed():
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]

