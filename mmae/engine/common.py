"""The building blocks of the training engines: run directories, atomic checkpoints, JSON-lines
logs, schedules, parameter groups, LARS, autocast and the non-finite-loss guard (the loop that
uses them is [`mmae.engine.loop`][mmae.engine.loop]).

One mechanism for both method families (masked image modeling and the Siamese methods), so a run
of either kind looks the same on disk::

    out_dir/config.json     the run's configuration (a rerun with a different one is refused)
    out_dir/log.jsonl       one JSON object per epoch (and per step with `log_every`)
    out_dir/checkpoint.pt   model, optimiser, position (epoch, step), config (written atomically;
                            the one before is kept as checkpoint.prev.pt)
    out_dir/metrics.json    final metrics; its presence means the run is finished
    out_dir/run.lock        the id of the process that holds the directory (an exclusive flock)
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pickle
import random
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

try:
    import fcntl
except ImportError:  # not POSIX: runs are not locked
    fcntl = None

from .. import dist
from .stop import NonFiniteLoss

__all__ = [
    "seed_everything", "atomic_write_bytes", "write_json_atomic", "save_checkpoint", "load_checkpoint",
    "save_checkpoint_keeping_previous", "load_latest", "UnsafeCheckpoint", "DamagedCheckpoint", "check_integrity",
    "WriteFailed", "OFFICIAL_GLOBALS",
    "convert_legacy_checkpoint", "JsonlLogger", "lr_at", "param_groups",
    "LARS", "set_lr", "autocast", "NonFiniteLoss", "FiniteGuard", "RunDir",
    "resolve_device", "count_parameters",
]


# ------------------------------------------------------------------ randomness

def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ------------------------------------------------------------------ files

class WriteFailed(ValueError):
    """A file of the run could not be written (a full disk, a directory without write permission);
    what was written before it is intact."""


def _write_failed(e: OSError, path: Path) -> WriteFailed:
    return WriteFailed(f"cannot write {path}: {e.strerror or e}; the files written before are kept")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _atomic_file(path: Path, previous: Path | None = None):
    """A binary file whose bytes replace `path` when the block ends, so that a reader sees the old
    file or the new one, never half: they go to a temporary file in the same directory, are flushed
    to disk and replace the target with `os.replace` (atomic on POSIX and Windows). The file gets the
    permissions `open` would give it (the user's umask, not the temporary file's 0600); an OSError
    (a full disk) becomes `WriteFailed` naming `path`. With `previous`, the file at `path` is moved
    there once the new one is whole, just before it takes its place: a failed write moves nothing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    except OSError as e:
        raise _write_failed(e, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), 0o666 & ~_umask())
            yield f
            f.flush()
            os.fsync(f.fileno())
        if previous is not None and path.exists():
            _keep_as(path, previous)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _write_failed(e, path) from None
        raise


TMP_SUFFIX = ".tmp"  # the temporary files of `_atomic_file`: `.NAME.RANDOM.tmp`


def _keep_as(path: Path, previous: Path) -> None:
    """Make `previous` a copy of `path` while `path` stays in place: a hard link under a temporary
    name replaces `previous` atomically, so a reader (or a resume after a kill) finds `path` at every
    moment. Where the file system has no hard links, `path` is moved (a moment without it)."""
    link = previous.with_name(f".{previous.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.link(path, link)
    except OSError:
        os.replace(path, previous)
        return
    os.replace(link, previous)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` so that a reader sees the old file or the new one, never half."""
    with _atomic_file(Path(path)) as f:
        f.write(data)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode())


def _json_default(o):
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, torch.Tensor) and o.numel() == 1:
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """`torch.save` through [`atomic_write_bytes`][mmae.engine.common.atomic_write_bytes]: an interrupted save leaves the previous
    checkpoint intact."""
    with _atomic_file(Path(path)) as f:
        torch.save(state, f)


# What an official MAE / U-MAE / M-MAE checkpoint holds besides tensors, numbers, strings, lists and
# dicts: the training script's arguments (`args`, an argparse Namespace of plain values)
OFFICIAL_GLOBALS = (argparse.Namespace,)
# what checkpoints of earlier versions of this package held besides those: numpy RNG states
_LEGACY_GLOBALS = {"numpy.ndarray", "numpy.dtype", "numpy.core.multiarray._reconstruct",
                   "numpy._core.multiarray._reconstruct"}


class UnsafeCheckpoint(ValueError):
    """A checkpoint that asks the unpickler for something a file of weights never needs."""


class DamagedCheckpoint(ValueError):
    """A checkpoint that fails its integrity check: truncated, bytes changed, or no checkpoint at all."""


def _unsafe_globals(path: Path) -> list[str]:
    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # noqa: BLE001 - not a readable zip checkpoint: no names to report
        return []


def check_integrity(path: str | os.PathLike) -> None:
    """Raise `DamagedCheckpoint` unless `path` is whole. `torch.save` writes a zip archive whose
    members are stored (not compressed), each with its CRC-32: the file is whole when the archive
    opens, every member is stored and every CRC matches. No member is ever inflated, so a crafted
    archive cannot expand beyond its own size (a zip bomb is refused by its header). An OSError (an
    unreadable disk) is not damage: it propagates."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            packed = [i.filename for i in infos if i.compress_type != zipfile.ZIP_STORED or i.file_size != i.compress_size]
            if packed:
                raise DamagedCheckpoint(f"{path} is not a torch checkpoint: its member {packed[0]} is compressed "
                                        f"(torch.save stores its members; a compressed one could expand without bound)")
            if sum(i.file_size for i in infos) > path.stat().st_size:
                raise DamagedCheckpoint(f"{path} is damaged: its directory lists more bytes than the file holds")
            bad = z.testzip()
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise DamagedCheckpoint(f"{path} is damaged or no checkpoint (not a whole zip archive: {e})") from None
    if bad is not None:
        raise DamagedCheckpoint(f"{path} is damaged: the CRC of its member {bad} does not match")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
                    official: bool = False) -> dict | None:
    """The checkpoint at `path`, or `None` if there is none.

    First the integrity check (`check_integrity`: `DamagedCheckpoint` when it fails), then always
    `torch.load(weights_only=True)`: tensors, numbers, strings, lists and dicts, plus
    `OFFICIAL_GLOBALS` when `official` (a checkpoint downloaded from the MAE / U-MAE / M-MAE
    releases), and nothing else, so a crafted file cannot run code. A file that asks for anything
    else raises `UnsafeCheckpoint` naming what it asked for. Any other error (memory, the disk) is
    no property of the file: a ValueError that says the file was left as it is."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        check_integrity(path)
        with torch.serialization.safe_globals(list(OFFICIAL_GLOBALS) if official else []):
            return torch.load(path, map_location=map_location, weights_only=True)
    except DamagedCheckpoint:
        raise
    except pickle.UnpicklingError as e:
        names = _unsafe_globals(path)
        if names and set(names) <= _LEGACY_GLOBALS:
            raise UnsafeCheckpoint(
                f"{path} was written by an earlier version of mmae (it holds numpy RNG states); if you trust "
                f"it, convert it once with: python -m mmae.engine.common convert {path}") from None
        if names:
            raise UnsafeCheckpoint(f"refusing to load {path}: it asks for {', '.join(names)}, which a checkpoint "
                                   f"of weights does not need (its code was not run)") from None
        raise ValueError(f"checkpoint {path} cannot be read ({' '.join(str(e).split())})") from e
    except Exception as e:  # noqa: BLE001 - re-raised with the path
        raise ValueError(f"checkpoint {path} could not be loaded ({type(e).__name__}: {' '.join(str(e).split())}); "
                         f"it was left as it is: rerun once the cause is fixed") from e


def _prev(path: Path) -> Path:
    return path.with_name(path.stem + ".prev" + path.suffix)


def save_checkpoint_keeping_previous(path: Path, state: dict, rotate: bool = True) -> None:
    """Write the new checkpoint atomically and, once it is whole, keep the current one as `*.prev.pt`
    (unless not `rotate`: the current one is damaged, and the previous one is the good one)."""
    with _atomic_file(Path(path), previous=_prev(Path(path)) if rotate else None) as f:
        torch.save(state, f)


def load_latest(path: Path, map_location="cpu") -> tuple[dict | None, bool]:
    """`(checkpoint, rotate)`: the newest whole checkpoint among `path` and `*.prev.pt` (None when
    there is none), and whether the next save may keep `path` as the previous one (not when it is
    damaged). A damaged latest one is reported in one line on stderr and the previous one is used;
    when no whole one is left, `DamagedCheckpoint` (the run refuses to start over silently; the
    command line's `--no-resume` starts over). Any other error stops the run and touches nothing."""
    prev, damaged = _prev(path), []
    for candidate in (path, prev):
        try:
            ckpt = load_checkpoint(candidate, map_location=map_location)
        except DamagedCheckpoint as e:
            damaged.append(str(e))
            continue
        if ckpt is not None:
            if damaged and dist.is_main():
                sys.stderr.write(f"warning: {damaged[0]}; resuming from {candidate.name}\n")
            return ckpt, not damaged
    if damaged:
        raise DamagedCheckpoint(f"no whole checkpoint is left in {path.parent} ({'; '.join(damaged)}); to start over, "
                                f"rerun with --no-resume")
    return None, True


def convert_legacy_checkpoint(path: str | os.PathLike) -> None:
    """Rewrite a checkpoint of an earlier version of this package (numpy RNG states, no step) in the
    current format, in place and atomically. Only numpy's array constructors are allowed while
    reading it, so even this step runs no code from the file; the RNG states are dropped (the loop
    reseeds per step)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint to convert at {path}")
    check_integrity(path)
    names = set(_unsafe_globals(path))
    if not names <= _LEGACY_GLOBALS:
        raise UnsafeCheckpoint(f"{path} asks for {', '.join(sorted(names - _LEGACY_GLOBALS))}: not a checkpoint "
                               f"of an earlier mmae version")
    try:  # numpy >= 2; files written with numpy 1 name the function numpy.core.multiarray._reconstruct
        from numpy._core.multiarray import _reconstruct
    except ImportError:
        from numpy.core.multiarray import _reconstruct
    dtype_classes = [getattr(np.dtypes, n) for n in getattr(getattr(np, "dtypes", None), "__all__", [])]
    allowed = [np.ndarray, np.dtype, *dtype_classes, _reconstruct,
               (_reconstruct, "numpy.core.multiarray._reconstruct"), (_reconstruct, "numpy._core.multiarray._reconstruct")]
    with torch.serialization.safe_globals(allowed):
        state = torch.load(path, map_location="cpu", weights_only=True)
    state.pop("rng", None)
    save_checkpoint(path, state)


class JsonlLogger:
    """Appends one JSON object per line and flushes, so a crash loses at most the line in flight.

    Only the main rank writes. Values must already be Python numbers: convert tensors once per
    epoch, never inside the training step.
    """

    def __init__(self, path: str | os.PathLike, enabled: bool | None = None):
        self.path = Path(path)
        self.enabled = dist.is_main() if enabled is None else enabled
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, record: dict) -> None:
        if self.enabled:
            try:
                with open(self.path, "a") as f:
                    f.write(json.dumps(record, default=_json_default) + "\n")
            except OSError as e:  # a full disk: what was cut short is dropped on resume (`read`)
                raise _write_failed(e, self.path) from None

    def read(self) -> list[dict]:
        """The records. A last line that is not a whole record (a disk that filled up during the
        append, a kill mid-write) is dropped, and the writer says so in one line; a damaged line
        before it is a ValueError naming the file and the line."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(errors="replace").splitlines()
        records = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError as e:
                if n < len(lines):
                    raise ValueError(f"{self.path}, line {n}, is not a JSON record ({e}); the log is damaged") from None
                if self.enabled:
                    sys.stderr.write(f"note: dropped the incomplete last line of {self.path} (an append that was "
                                     f"cut short); its record is written again\n")
        return records

    def truncate(self, step: int | None) -> None:
        """Keep the records written up to optimiser step `step` (a resumed run trains the rest
        again; `None`: a fresh start keeps none), rewriting the file atomically."""
        if self.enabled and self.path.exists():
            kept = [r for r in self.read() if r.get("step", 0) <= step] if step is not None else []
            atomic_write_bytes(self.path, "".join(json.dumps(r, default=_json_default) + "\n" for r in kept).encode())


_LOCKS: dict[str, int] = {}  # run directory -> the descriptor of its lock file, while this process holds it


class RunDir:
    """The directory of one run (see the module docstring for its files)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.config_path = self.root / "config.json"
        self.log_path = self.root / "log.jsonl"
        self.ckpt_path = self.root / "checkpoint.pt"
        self.metrics_path = self.root / "metrics.json"
        self.lock_path = self.root / "run.lock"

    def lock(self) -> None:
        """Take the directory for this process: an exclusive `flock` on `run.lock`, which then holds
        the process id. Two runs writing one directory would double the log's records and race the
        checkpoints' rotation, so a directory another process holds is a ValueError naming it. The
        lock goes with the process (even one killed by SIGKILL) or with `unlock`. Holding it, the
        temporary files that an interrupted write left are removed (no other process writes here)."""
        key = str(self.root.resolve())
        if key in _LOCKS or fcntl is None:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise ValueError(f"cannot use {self.root} as the run directory: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ValueError(f"{self.root} is in use by another run (process {holder}); wait for it to end or "
                             f"use another output directory") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _LOCKS[key] = fd
        for tmp in self.root.glob(f".*{TMP_SUFFIX}"):  # `.NAME.RANDOM.tmp` of `_atomic_file`
            tmp.unlink(missing_ok=True)

    def unlock(self) -> None:
        fd = _LOCKS.pop(str(self.root.resolve()), None)
        if fd is not None:
            os.close(fd)

    @property
    def done(self) -> bool:
        return self.metrics_path.exists()

    def metrics(self) -> dict | None:
        return json.loads(self.metrics_path.read_text()) if self.done else None

    @property
    def trained(self) -> bool:
        """Whether the directory holds work of its configuration: a checkpoint or final metrics."""
        return self.done or self.ckpt_path.exists() or _prev(self.ckpt_path).exists()

    def save_config(self, cfg: dict, ignore: Iterable[str] = ()) -> None:
        """Record `cfg`; if the directory already holds a different one and work done under it
        (`trained`), refuse to mix them. A different configuration with nothing trained under it (an
        attempt that failed before its first checkpoint) is replaced, so that the corrected command
        runs. `new_config` says whether this call wrote the first configuration of the directory.

        Fields in `ignore` (device, logging cadence, ...) may change between a run and its resumption.
        """
        cfg = json.loads(json.dumps(cfg, default=_json_default))
        self.new_config = not self.config_path.exists()
        if not self.new_config and self.trained:
            old = json.loads(self.config_path.read_text())
            skip = set(ignore)
            diff = sorted(k for k in set(old) | set(cfg) if k not in skip and old.get(k) != cfg.get(k))
            if diff:
                detail = ", ".join(f"{k}: {old.get(k)!r} -> {cfg.get(k)!r}" for k in diff)
                raise ValueError(f"{self.root} holds a run with a different configuration ({detail}); "
                                 "use another output directory")
        if dist.is_main():
            write_json_atomic(self.config_path, cfg)

    def forget_config(self) -> None:
        """Remove the configuration that `save_config` wrote first, when the run is refused before
        training (a checkpoint of another run): the directory is as it was before the attempt."""
        if getattr(self, "new_config", False) and dist.is_main():
            self.config_path.unlink(missing_ok=True)

    def write_metrics(self, metrics: dict) -> None:
        """Write the final metrics (the run is finished) and let go of the directory."""
        if dist.is_main():
            write_json_atomic(self.metrics_path, metrics)
            self.unlock()


# ------------------------------------------------------------------ schedules

def lr_at(it: float, *, base_lr: float, warmup_iters: float, total_iters: float, min_lr: float = 0.0) -> float:
    """Linear warmup from 0 over `warmup_iters`, then half-cycle cosine to `min_lr` at
    `total_iters` (the MAE recipe, evaluated per iteration; `it` may be fractional)."""
    if it < warmup_iters:
        return base_lr * it / warmup_iters
    span = max(total_iters - warmup_iters, 1e-12)
    t = min(max((it - warmup_iters) / span, 0.0), 1.0)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))


# ------------------------------------------------------------------ optimisation

def _vit_layer_id(name: str, num_layers: int) -> int:
    # MAE's layer-wise decay: embeddings are layer 0, block i is layer i + 1, the head is last
    if name.startswith(("cls_token", "pos_embed", "patch_embed", "mask_token", "dist_token")):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return num_layers + 1


def param_groups(model: torch.nn.Module, weight_decay: float,
                 no_decay_names: Iterable[str] = ("cls_token", "pos_embed", "mask_token", "dist_token"),
                 layer_decay: float | None = None, num_layers: int | None = None) -> list[dict]:
    """Optimiser parameter groups: no weight decay on biases, norms (every parameter with
    `ndim <= 1`) and the named tokens; with `layer_decay` (ViT fine-tuning) each group also
    carries `lr_scale = layer_decay ** (num_layers + 1 - layer_id)`, applied by [`set_lr`][mmae.engine.common.set_lr]."""
    if layer_decay is not None and num_layers is None:
        raise ValueError("layer_decay needs num_layers (the number of transformer blocks)")
    skip = tuple(no_decay_names)
    groups: dict[tuple, dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim <= 1 or name.endswith(".bias") or name.split(".")[-1] in skip or name in skip
        layer = _vit_layer_id(name, num_layers) if layer_decay is not None else 0
        key = (no_decay, layer)
        if key not in groups:
            g = {"params": [], "weight_decay": 0.0 if no_decay else weight_decay}
            if layer_decay is not None:
                g["lr_scale"] = layer_decay ** (num_layers + 1 - layer)
            groups[key] = g
        groups[key]["params"].append(p)
    return list(groups.values())


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Every group's rate: `lr` times its `lr_scale`. A group whose rate is a 0-d tensor (the input of
    a CUDA graph, `mmae.engine.loop.GraphedStep`) is filled in place: no host copy."""
    for g in optimizer.param_groups:
        v = lr * g.get("lr_scale", 1.0)
        if isinstance(g["lr"], torch.Tensor):
            g["lr"].fill_(v)
        else:
            g["lr"] = v


class LARS(torch.optim.Optimizer):
    """LARS (You et al., 2017) as used by MAE's linear probe and SimCLR/BYOL/Barlow Twins.

    For a weight matrix (`ndim > 1`): $u = g + \\text{wd}\\, w$, scaled by the trust ratio $q$,
    then heavy-ball momentum. Biases and norms (`ndim <= 1`) get neither weight decay nor the
    trust ratio. Two published forms of $q$ (1 where a norm is 0):

    - `trust_ratio="update"` (MAE's linear probe): $q = \\eta \\|w\\| / \\|u\\|$;
    - `trust_ratio="lars"` (You et al., Eq. 6; solo-learn):
      $q = \\eta \\|w\\| / (\\|g\\| + \\text{wd} \\|w\\| + \\epsilon)$, $\\epsilon = 10^{-8}$.

    `clip_lr` (solo-learn's `clip_lr`) caps the layer's rate at the global one:
    $q \\leftarrow \\min(q / \\text{lr}, 1)$. Each group is updated with `torch._foreach_*`
    kernels (a handful of launches for all its parameters, not several per parameter), and
    `torch.where` keeps the step free of host synchronisation. A group's `lr` may be a 0-d tensor
    on the parameters' device (what a captured CUDA graph reads; `set_lr` fills it): the step then
    takes it from there, computing $\\text{lr} \\cdot \\text{buf}$ and the sum in two roundings
    where a float rate takes one fused kernel.
    """

    RATIOS = ("update", "lars")

    def __init__(self, params, lr: float = 0.0, weight_decay: float = 0.0, momentum: float = 0.9,
                 trust_coefficient: float = 0.001, trust_ratio: str = "update", clip_lr: bool = False):
        if (lr < 0 or weight_decay < 0 or not 0 <= momentum < 1 or trust_coefficient <= 0
                or trust_ratio not in self.RATIOS):
            raise ValueError(f"invalid LARS hyper-parameters: lr={lr}, weight_decay={weight_decay}, "
                             f"momentum={momentum}, trust_coefficient={trust_coefficient}, trust_ratio={trust_ratio!r}")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum,
                                      trust_coefficient=trust_coefficient, trust_ratio=trust_ratio, clip_lr=clip_lr))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for g in self.param_groups:
            params = [p for p in g["params"] if p.grad is not None]
            if not params:
                continue
            updates = [p.grad for p in params]
            lr = g["lr"]
            tensor_lr = isinstance(lr, torch.Tensor)
            mats = [i for i, p in enumerate(params) if p.ndim > 1]
            if mats:
                w = [params[i] for i in mats]
                u = torch._foreach_add([updates[i] for i in mats], w, alpha=g["weight_decay"])
                w_norm = torch.stack(torch._foreach_norm(w))
                if g.get("trust_ratio", "update") == "lars":
                    g_norm = torch.stack(torch._foreach_norm([updates[i] for i in mats]))
                    ok = (w_norm > 0) & (g_norm > 0)
                    q = g["trust_coefficient"] * w_norm / (g_norm + g["weight_decay"] * w_norm + 1e-8)
                else:
                    u_norm = torch.stack(torch._foreach_norm(u))
                    ok = (w_norm > 0) & (u_norm > 0)
                    q = g["trust_coefficient"] * w_norm / u_norm
                if g.get("clip_lr", False) and tensor_lr:
                    q = torch.where(lr > 0, torch.clamp(q / lr, max=1.0), q)
                elif g.get("clip_lr", False) and lr > 0:
                    q = torch.clamp(q / lr, max=1.0)
                q = torch.where(ok, q, torch.ones_like(w_norm))
                torch._foreach_mul_(u, list(q.unbind()))
                for i, ui in zip(mats, u):
                    updates[i] = ui
            bufs = []
            for p in params:
                state = self.state[p]
                if "mu" not in state:
                    state["mu"] = torch.zeros_like(p)
                bufs.append(state["mu"])
            torch._foreach_mul_(bufs, g["momentum"])
            torch._foreach_add_(bufs, updates)
            if tensor_lr:
                torch._foreach_add_(params, torch._foreach_mul(bufs, -lr))
            else:
                torch._foreach_add_(params, bufs, alpha=-lr)
        return loss


def autocast(device: torch.device | str, enabled: bool = True, cache: bool = True):
    """bf16 autocast on CUDA; a no-op on CPU, where bf16 matmuls are slower than float32 on most
    machines and the tiny models of the mini scale gain nothing from it. `cache=False` inside a
    CUDA graph capture: the weights' bf16 copies must be made by the graph, on every replay."""
    device = torch.device(device)
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


class FiniteGuard:
    """Accumulates `isfinite(loss)` on the device at every step (no host sync) and checks it
    only when asked, typically before a checkpoint, so a non-finite model is never saved."""

    def __init__(self):
        self._ok: torch.Tensor | None = None

    def update(self, loss: torch.Tensor) -> None:
        ok = torch.isfinite(loss.detach()).all()
        self._ok = ok if self._ok is None else self._ok & ok

    def check(self, where: str = "") -> None:
        ok, self._ok = self._ok, None
        if ok is not None and not bool(ok):
            raise NonFiniteLoss(f"the loss became non-finite{(' ' + where) if where else ''}; "
                                "stopping without saving (the last checkpoint is intact); "
                                "lower the learning rate or check the data")

    @staticmethod
    def check_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, where: str = "") -> None:
        """Raise `NonFiniteLoss` if a floating tensor of `model` (parameters, buffers) or of the
        optimiser's state holds a NaN or an infinity: a finite loss does not make finite weights (an
        infinite gradient on the last step before a save does not show in its loss). One host sync."""
        named = [(f"parameter {k}", t) for k, t in model.state_dict().items()]
        named += [(f"optimizer state {k}", t) for st in optimizer.state.values() for k, t in st.items()]
        named = [(n, t) for n, t in named if isinstance(t, torch.Tensor) and t.is_floating_point()]
        if not named:
            return
        ok = torch.stack([torch.isfinite(t).all() for _, t in named]).cpu()
        if not bool(ok.all()):
            bad = named[int((~ok).nonzero()[0])][0]
            raise NonFiniteLoss(f"{bad} became non-finite{(' ' + where) if where else ''}; stopping without saving "
                                "(the last checkpoint is intact); lower the learning rate or check the data")


# ------------------------------------------------------------------ misc

def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """`"auto"`: CUDA if available, else CPU. Anything but `cpu`, `cuda` and `cuda:N` of an existing
    GPU raises ValueError."""
    if spec in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {spec!r}: use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} was requested but CUDA is not available; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {spec!r} was requested but this machine has {torch.cuda.device_count()} GPU(s)")
    return dev


def count_parameters(model: torch.nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


if __name__ == "__main__":  # python -m mmae.engine.common convert FILE
    import sys
    if len(sys.argv) != 3 or sys.argv[1] != "convert":
        raise SystemExit("usage: python -m mmae.engine.common convert CHECKPOINT")
    try:
        convert_legacy_checkpoint(sys.argv[2])
    except ValueError as e:
        sys.stderr.write(f"python -m mmae.engine.common: error: {e}\n")
        raise SystemExit(2) from None
    print(f"converted {sys.argv[2]}")
