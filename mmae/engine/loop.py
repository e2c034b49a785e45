"""The one training loop of every engine: steps, schedule, accumulation, checkpoints, resume.

An engine builds its model, optimiser and data and describes its own work in a `Task`: one forward
pass on a micro-batch (`Task.step`), what follows an optimiser update (`Task.after_update`, e.g.
BYOL's target), its evaluation and its final metrics. `fit` owns the rest:

- **steps**: the global batches of `mmae.engine.batches.TrainBatches`, split over processes
  and micro-steps; one optimiser step is `train_step` (forward, backward, clipping, update), the
  same function `GraphedStep` captures and the benchmarks time; DDP all-reduces gradients only on
  the last micro-step (`no_sync`, also when the module is compiled); the learning rate is set per
  optimiser step (linear warm-up, half-cycle cosine);
  torch's global generator is reseeded per micro-step from `(seed, step, rank, micro-step)`, so what
  still draws from it (drop path, mixup) needs no saved state to resume exactly;
- **CUDA graphs** (`cuda_graphs`, tasks whose step allows it): the whole optimiser step, from the
  batch to the parameter update, is captured once and replayed (`GraphedStep`);
- **the non-finite guard**: `isfinite(loss)` accumulates on the device and is checked (one sync)
  before every log record and checkpoint, and the weights and the optimiser's state before every
  epoch's evaluation and every checkpoint (an infinite gradient leaves a finite loss), so a diverged
  model is never saved;
- **evaluation and logging**: one JSON record per epoch (`"epoch"`, `"step"`, the mean of each
  statistic over the epoch, the lr, images/s, the task's evaluation every `eval_every` epochs),
  optionally a record every `log_every` steps, and an initial record (epoch 0) if the task evaluates
  its initialisation; every record also goes to the progress display and the TensorBoard event
  files (`mmae.engine.progress.RunLog`), whose per-step tick reads only host counters;
- **checkpoints**: every `ckpt_every` epochs, after the last, every `ckpt_minutes` of wall-clock
  time (mid-epoch), and when the process receives SIGTERM or SIGUSR1 (what cluster schedulers send
  before preempting a job or at the time limit). Every process finishes its current step, rank 0
  writes the checkpoint atomically, and `fit` raises `Preempted` (the command line exits with 75).
  The previous checkpoint is kept as `checkpoint.prev.pt`; a damaged latest checkpoint (one that
  fails its integrity check) is reported in one line and the run resumes from the previous one,
  which the next save keeps; with no whole checkpoint left the run refuses to start (`--no-resume`
  starts over), and any other error while loading (memory, the disk) stops it and changes nothing;
- **resume**: rerunning the same command restores model, optimiser, the task's state and the
  position (epoch and step, also mid-epoch, with the epoch's running sums), rewrites the log to that
  position (every epoch and step record appears exactly once) and continues with the same data order
  and the same masks and augmentations, so the final weights are bit-identical to an uninterrupted
  run on the same machine.
"""
from __future__ import annotations

import contextlib
import os
import time

import torch
import torch.nn as nn

from mmae import dist
from mmae.data.keyed import SampleRandom, key32
from mmae.engine.batches import Batch, TrainBatches
from mmae.engine.common import (FiniteGuard, RunDir, autocast, load_latest, lr_at, resolve_device,
                                save_checkpoint_keeping_previous, seed_everything, set_lr)
from mmae.cli import clip, error_line
from mmae.engine.progress import Board, Display, RunLog, display_mode, tensorboard_available
from mmae.engine.config import RESUMABLE, TrainConfig, base_lr, identity_mismatch
from mmae.engine.stop import NonFiniteLoss, Preempted, StopSignals

__all__ = ["Task", "fit", "train_step", "open_run", "Preempted", "NonFiniteLoss", "wrap_ddp", "StopSignals",
           "GraphedStep"]


class Task:
    """What an engine gives the loop. `model` is what the checkpoint holds; `module` (default:
    `model`) is what DDP wraps and `step` calls as `net`."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    evaluates_at_start = False    # log the evaluation of the initialisation as epoch 0
    # `step` may be captured as a CUDA graph (`GraphedStep`): the same kernels on every step, whose
    # only inputs are the batch's tensors, its `gen` and the learning rate (no global-generator draws,
    # no Python decisions on the step number), with an optimiser that reads a tensor `lr`
    graphable = False

    @property
    def module(self) -> nn.Module:
        return self.model

    def begin_step(self, micro: list[Batch]) -> None:
        """Before the micro-steps of an optimiser step, with all of this process's micro-batches of it
        (under autocast), e.g. the first pass of gradient caching of a batch-level regulariser."""

    def step(self, net: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        """The forward pass on one micro-batch: `{"loss": scalar, ...}`; every value a 0-d tensor
        (its epoch mean is logged). Runs under autocast; the loop calls `backward`."""
        raise NotImplementedError

    def train(self) -> None:
        """Put the modules in training mode (before every epoch: an evaluation may change it)."""
        self.model.train()

    def after_update(self, it: int, total: int) -> dict:
        """After optimiser step `it` of `total` (e.g. BYOL's target update); returns values to log."""
        return {}

    def evaluate(self, epoch: int) -> dict:
        """Called on every rank after `epoch` epochs (0: the initialisation); returns floats."""
        return {}

    def state_dict(self) -> dict:
        """What the task keeps across a resume besides model and optimiser (e.g. the best accuracy)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def open_run(cfg: TrainConfig, out_dir) -> tuple[torch.device, RunDir, dict | None]:
    """The start of every engine's run: the device, the process group (under `torchrun`), the run
    directory, locked for this process (one another process holds is refused), with its
    configuration recorded (a directory holding work of another configuration is refused) and, when
    the run is already finished, its metrics."""
    resolve_device(cfg.device)  # a CUDA request on a machine without CUDA is a ValueError
    device = dist.init_distributed(None if cfg.device == "auto" else cfg.device).device
    if device.type == "cuda":  # the fastest convolution algorithms for the fixed shapes of a run
        torch.backends.cudnn.benchmark = True
    rd, refused = RunDir(out_dir), None
    if dist.is_main():  # one process writes the directory
        try:
            rd.lock()
        except ValueError as e:
            refused = str(e)
    refused = dist.broadcast_object(refused)
    if refused:
        raise ValueError(refused)
    rd.save_config(cfg.to_dict(), ignore=RESUMABLE)
    dist.barrier()
    if rd.done:
        rd.unlock()
        return device, rd, rd.metrics()
    seed_everything(cfg.seed)  # the initial weights (DDP then broadcasts rank 0's)
    return device, rd, None


def wrap_ddp(module: nn.Module, device: torch.device) -> nn.Module:
    if not dist.is_distributed():
        return module
    return nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def train_step(task: Task, net: nn.Module, micro: list[Batch], device: torch.device, amp: bool = True,
               clip_grad: float = 0.0, no_sync=contextlib.nullcontext, reseed=None,
               cache: bool = True) -> list[dict[str, torch.Tensor]]:
    """One optimiser step of `task`, as the eager loop, `GraphedStep` and the benchmarks run it.

    The gradients are cleared; the task's `begin_step` sees this process's micro-batches; each
    micro-batch's forward pass (`Task.step`, called with `net`) and the backward pass of its share
    of the loss follow (`reseed(k)` first, if given; DDP's all-reduce only on the last, `no_sync`
    before); then the gradients are clipped to norm `clip_grad` if > 0 and the optimiser updates.
    Everything but the update runs under autocast (`cache=False` inside a CUDA graph capture).
    Returns each micro-step's values."""
    task.optimizer.zero_grad(set_to_none=True)  # backward writes new gradients (in a capture: the graph's)
    with autocast(device, amp, cache=cache):
        task.begin_step(micro)
    outs = []
    for k, batch in enumerate(micro):
        if reseed is not None:
            reseed(k)
        with (no_sync() if k < len(micro) - 1 else contextlib.nullcontext()), autocast(device, amp, cache=cache):
            out = task.step(net, batch)
            (out["loss"] / len(micro)).backward()
        outs.append(out)
    if clip_grad > 0:
        torch.nn.utils.clip_grad_norm_(task.module.parameters(), clip_grad)
    task.optimizer.step()
    return outs


# ------------------------------------------------------------------ CUDA graphs

class GraphedStep:
    """One optimiser step of `task` (forward, backward, gradient clipping, the optimiser's update)
    captured once as a CUDA graph and replayed on every later step (`TrainConfig.cuda_graphs`).

    A small step (a ResNet-18 at batch 256 with its two-view augmentation and LARS) makes 2,600-2,750
    operator calls, views included, over a thousand of them kernel launches, and the host's time to
    issue them can rival the GPU's time to run them; a replay is one launch. What changes from step
    to step reaches the graph through tensors it reads in place: the batch is copied into static
    buffers, the key of its samples' random numbers into a 0-d tensor (`SampleRandom.from_key`: the same numbers as the int key) and each parameter group's
    learning rate becomes a 0-d tensor that `set_lr` fills. The first `WARMUP` steps run eagerly on a
    side stream (cuDNN's autotuning, cuBLAS's workspace and the optimiser's state are set up outside
    the capture, as CUDA graphs require), the next is captured and replayed, and every later step is a
    replay. The gradients live in the graph's memory and each replay overwrites them.

    On a CPU, which has no graphs, every step runs eagerly on the same static inputs, so all but the
    capture itself is what the CPU tests run. One process (DDP's all-reduce is not captured), no
    gradient accumulation, not with `torch.compile`."""

    WARMUP = 3

    def __init__(self, task: Task, net: nn.Module, device: torch.device, amp: bool = True, clip_grad: float = 0.0):
        if not task.graphable:
            raise ValueError(f"cuda_graphs: the step of {type(task).__name__} cannot be captured as a CUDA graph")
        if dist.is_distributed():
            raise ValueError("cuda_graphs runs on one process: DDP's gradient all-reduce is not captured")
        self.task, self.net, self.device, self.amp, self.clip_grad = task, net, device, amp, clip_grad
        self.capture = device.type == "cuda"
        self.side = torch.cuda.Stream(device) if self.capture else None  # the warm-up's stream
        self.graph = None
        self.calls = 0
        self.static: Batch | None = None
        self.key = torch.zeros((), dtype=torch.int64, device=device)
        self.out: dict[str, torch.Tensor] = {}
        for g in task.optimizer.param_groups:  # the rate the graph reads, filled by `set_lr`
            dtype = g["params"][0].dtype if g["params"] else torch.float32
            g["lr"] = torch.tensor(float(g["lr"]), dtype=dtype).to(device)

    def _run(self) -> dict[str, torch.Tensor]:
        """The step on the static inputs: what the graph records, and what runs eagerly."""
        b = self.static
        batch = Batch(b.x, b.y, b.index, SampleRandom.from_key(self.key, b.index))  # its streams start afresh
        return train_step(self.task, self.net, [batch], self.device, self.amp, self.clip_grad,
                          cache=not self.capture)[0]

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Run the step on `batch`; returns the task's values (in the graph's memory when replayed:
        read them before the next call)."""
        if self.static is None:
            self.static = Batch(torch.empty_like(batch.x), torch.empty_like(batch.y), torch.empty_like(batch.index),
                                batch.gen)
        elif batch.x.shape != self.static.x.shape:
            raise ValueError(f"cuda_graphs needs one batch shape, got {tuple(batch.x.shape)} after "
                             f"{tuple(self.static.x.shape)}")
        self.static.x.copy_(batch.x)
        self.static.y.copy_(batch.y)
        self.static.index.copy_(batch.index)
        self.key.fill_(batch.gen.key)
        self.calls += 1
        if self.graph is not None:
            self.graph.replay()
            return self.out
        if not self.capture:
            return self._run()
        if self.calls <= self.WARMUP:
            self.side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(self.side):
                out = self._run()
            torch.cuda.current_stream(self.device).wait_stream(self.side)
            return out
        mode = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode(0)  # the capture itself synchronises, once
        try:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.out = self._run()
        finally:
            torch.cuda.set_sync_debug_mode(mode)
        self.graph.replay()  # a capture records the kernels without running them
        return self.out


class _Control:
    """Agreement of all processes, after each step, on whether to stop (a signal reached any of
    them) and whether a timed checkpoint is due (rank 0's clock). Across processes it is one small
    all-reduce on a CPU (gloo) group, which never waits for the GPU."""

    def __init__(self, signals: StopSignals, ckpt_minutes: float):
        self.signals, self.period = signals, ckpt_minutes * 60.0
        self.last_save = time.monotonic()
        self.group = torch.distributed.new_group(backend="gloo") if dist.is_distributed() else None

    def poll(self) -> tuple[bool, bool]:
        stop = self.signals.received is not None
        due = self.period > 0 and dist.is_main() and time.monotonic() - self.last_save >= self.period
        if self.group is None:
            return stop, due
        flags = torch.tensor([stop, due], dtype=torch.int32)
        torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX, group=self.group)
        return bool(flags[0]), bool(flags[1])


# ------------------------------------------------------------------ the loop

def fit(task: Task, cfg: TrainConfig, data: TrainBatches, rd: RunDir, device: torch.device, desc: str) -> list[dict]:
    """Train `task` for `cfg.epochs` epochs (resuming from `rd`'s checkpoint); returns the
    main rank's log records (empty on the other ranks)."""
    split, steps = data.split, data.steps_per_epoch
    total, rank = cfg.epochs * steps, dist.get_rank()
    peak = base_lr(cfg)
    ddp = wrap_ddp(task.module, device)
    net = torch.compile(ddp) if cfg.compile else ddp
    no_sync = ddp.no_sync if isinstance(ddp, nn.parallel.DistributedDataParallel) else contextlib.nullcontext
    # the progress display and TensorBoard (mmae.engine.progress): what a person watching the run sees
    log = RunLog(rd.log_path, Display(desc, steps, total, split.global_batch, display_mode(cfg.quiet, cfg.progress)),
                 Board(rd.root) if cfg.tensorboard and tensorboard_available() else None)
    guard = FiniteGuard()
    # MMAE_SYNC_DEBUG=1 on CUDA: any host synchronisation inside a training step raises (a test sets it)
    sync_debug = device.type == "cuda" and os.environ.get("MMAE_SYNC_DEBUG") == "1"

    ckpt, rotate = load_latest(rd.ckpt_path, map_location=device) if cfg.resume else (None, True)
    it, sums, elapsed = 0, None, 0.0
    if ckpt is not None:
        mismatch = identity_mismatch(ckpt, cfg.to_dict())
        if mismatch:
            rd.forget_config()
            raise ValueError(f"{rd.ckpt_path} is a checkpoint of another run ({mismatch}); use another output "
                             f"directory, or --no-resume to start over in this one")
        try:
            task.model.load_state_dict(ckpt["model"])
        except RuntimeError as e:  # a checkpoint without an identity, of another architecture
            raise ValueError(f"{rd.ckpt_path} does not fit this model ({clip(error_line(e), 300)})") from None
        task.optimizer.load_state_dict(ckpt["optimizer"])
        task.load_state_dict(ckpt.get("task", {}))
        # a checkpoint of an earlier version has no step: it was written at the end of an epoch
        it, elapsed = int(ckpt.get("step", ckpt["epoch"] * steps)), float(ckpt.get("epoch_s", 0.0))
        if ckpt.get("sums") is not None:  # a mid-epoch checkpoint: the epoch's sums so far
            sums = ckpt["sums"].to(device) if dist.is_main() else torch.zeros_like(ckpt["sums"], device=device)
    log.truncate(it if ckpt is not None else None)  # a fresh start empties the log (no second epoch 0)
    if cfg.cuda_graphs and split.accum > 1:
        raise ValueError(f"cuda_graphs needs the step in one micro-batch; this one takes {split.accum}")
    # after the checkpoint is loaded: the graph reads the optimiser's rate and state where they now are
    graphed = GraphedStep(task, net, device, cfg.amp, cfg.clip_grad) if cfg.cuda_graphs else None
    dist.barrier()

    def save(step: int, epoch_sums, epoch_s: float, state_checked: bool = False) -> None:
        nonlocal rotate
        guard.check(f"before the checkpoint at step {step}")  # raises before anything is written
        if not state_checked:  # an epoch's end checked the state already, before its evaluation
            guard.check_state(task.model, task.optimizer, f"before the checkpoint at step {step}")
        if epoch_sums is not None and dist.is_distributed():
            epoch_sums = epoch_sums.clone()
            torch.distributed.all_reduce(epoch_sums)  # kept by rank 0 on resume
        if dist.is_main():
            save_checkpoint_keeping_previous(rd.ckpt_path, {
                "model": task.model.state_dict(), "optimizer": task.optimizer.state_dict(), "task": task.state_dict(),
                "epoch": step // steps, "step": step, "sums": None if epoch_sums is None else epoch_sums.cpu(),
                "epoch_s": epoch_s, "world_size": split.world, "config": cfg.to_dict(),
                "identity": cfg.identity()}, rotate=rotate)
            rotate = True  # from now on the latest checkpoint is whole
        dist.barrier()
        control.last_save = time.monotonic()

    try:
        with StopSignals() as signals:
            control = _Control(signals, cfg.ckpt_minutes)
            if it == 0 and task.evaluates_at_start:
                log.log({"epoch": 0, "step": 0, **task.evaluate(0)})
                if control.poll()[0]:  # nothing trained yet: nothing to save
                    raise Preempted(f"stopped by signal during the evaluation of the initialisation, before the first "
                                    f"step of {total}; rerun the same command to resume")
            for epoch in range(it // steps, cfg.epochs):
                task.train()
                start = it - epoch * steps
                keys: list[str] = []
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter() - elapsed
                lr, extra = 0.0, {}
                log.display.begin_epoch(epoch, start)
                for s, micro in data.epoch(epoch, start):
                    if sync_debug:
                        torch.cuda.set_sync_debug_mode("error")
                    it = epoch * steps + s
                    lr = lr_at(it, base_lr=peak, warmup_iters=cfg.warmup_epochs * steps, total_iters=total,
                               min_lr=cfg.min_lr)
                    set_lr(task.optimizer, lr)
                    def reseed(k, it=it):
                        torch.manual_seed(key32(cfg.seed, it, rank, k))
                    if graphed is not None:  # the whole step, update included, one micro-batch
                        reseed(0)
                        outs = [graphed(micro[0])]
                    else:
                        outs = train_step(task, net, micro, device, cfg.amp, cfg.clip_grad, no_sync, reseed)
                    step_sum = None
                    for out in outs:
                        guard.update(out["loss"])
                        keys = keys or list(out)
                        vals = torch.stack([out[key].detach().float() for key in keys])
                        step_sum = vals if step_sum is None else step_sum + vals
                    sums = step_sum if sums is None else sums + step_sum
                    extra = task.after_update(it, total)
                    log.display.tick()
                    if sync_debug:
                        torch.cuda.set_sync_debug_mode("default")
                    it += 1
                    if cfg.log_every and it % cfg.log_every == 0:
                        guard.check(f"at step {it}")
                        mean = dist.all_reduce_mean(step_sum) / split.accum
                        log.log({"step": it, "lr": lr, **dict(zip(keys, mean.tolist()))})
                    if s + 1 < steps:  # the epoch's last step is handled with the epoch record below
                        stop, due = control.poll()
                        if stop or due:
                            save(it, sums, time.perf_counter() - t0)
                        if stop:
                            raise Preempted(f"stopped by signal at epoch {epoch + 1}, step {it} of {total}; "
                                            f"checkpoint written to {rd.ckpt_path}; rerun the same command to resume")
                guard.check(f"in epoch {epoch + 1} of {desc}")
                guard.check_state(task.model, task.optimizer, f"in epoch {epoch + 1} of {desc}")  # before its evaluation
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - t0
                n_micro = steps * split.accum * split.world
                sums = sums if sums is not None else torch.zeros(len(keys), device=device)
                if dist.is_distributed():
                    torch.distributed.all_reduce(sums)
                record = {"epoch": epoch + 1, "step": it, **dict(zip(keys, (sums / n_micro).tolist())), "lr": lr, **extra,
                          "images_per_s": steps * split.global_batch / max(seconds, 1e-9), "epoch_s": seconds}
                if getattr(data.source, "skipped", 0):
                    record["skipped_images"] = data.source.skipped  # this rank's
                sums, elapsed = None, 0.0
                if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
                    record.update(task.evaluate(epoch + 1))
                log.log(record)
                stop, due = control.poll()
                if stop or due or (epoch + 1) % cfg.ckpt_every == 0 or epoch + 1 == cfg.epochs:
                    save(it, None, 0.0, state_checked=True)
                if stop:  # the last epoch too: the rerun resumes after it, with the final evaluation
                    raise Preempted(f"stopped by signal after epoch {epoch + 1} (step {it} of {total}); checkpoint "
                                    f"written to {rd.ckpt_path}; rerun the same command to resume")
    finally:
        log.close()
    return log.read() if log.enabled else []
