"""Training throughput of the Siamese methods on CIFAR-10-shaped data with ResNet-18.

Times the engine's own training step (`mmae.engine.siamese.SiameseTask.step`: keyed two-view augmentation on the device,
forward of both views, loss, backward, LARS step, BYOL's EMA update) on a uint8 dataset held on
the device, and prints a Markdown table: ms per step, images per second (an image counts once,
although each step sees it in two views) and the epoch time on the 50,000 CIFAR-10 training
images, extrapolated from the timed steps. Synthetic pixels by default (the step cost does not
depend on them); `--data-root` uses the real training set.

    python benchmarks/bench_siamese.py                          # GPU if present: batch 256, bf16
    python benchmarks/bench_siamese.py --cuda-graphs             # the step as one captured CUDA graph
    python benchmarks/bench_siamese.py --device cpu --batch-size 32 --steps 3 --threads 2
    python benchmarks/bench_siamese.py --mini --device cpu --threads 2   # the digits recipes, end to end
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from mmae.data.cifar import CIFAR10_MEAN, CIFAR10_STD, load_cifar
from mmae.data.keyed import SampleRandom
from mmae.engine.batches import Batch, Tensors
from mmae.engine.common import resolve_device, set_lr
from mmae.engine.config import base_lr
from mmae.engine.loop import GraphedStep, train_step
from mmae.engine.siamese import METHODS, SiameseTask, recipe, run

CIFAR10_TRAIN = 50_000


def build(method: str, device: torch.device, batch_size: int, amp: bool, compile_: bool, images: torch.Tensor,
          test_images: torch.Tensor | None = None, graphs: bool = False, **overrides):
    """The engine's task on ``images`` (and ``test_images`` for its evaluation) and one training step
    as the loop runs it (`mmae.engine.loop.train_step`: `SiameseTask.step`, keyed two-view
    augmentation, both branches, the loss; backward; the LARS step) and `after_update` (BYOL's
    target); with ``graphs`` all but the last captured as one CUDA graph (`mmae.engine.loop.GraphedStep`, as ``cuda_graphs`` runs it; the first
    calls are its eager warm-up and capture). Returns ``(task, step)``; ``step(i)`` returns the loss."""
    cfg = recipe(method, "cifar10", batch_size=batch_size, amp=amp, compile=compile_, cuda_graphs=graphs,
                 info_batch=min(512, len(images)), **overrides)
    torch.manual_seed(0)
    data = Tensors(images, torch.arange(len(images)) % 10, device)
    test = data if test_images is None else Tensors(test_images, torch.arange(len(test_images)) % 10, device)
    task = SiameseTask(cfg, device, data, test, CIFAR10_MEAN, CIFAR10_STD, 10)
    set_lr(task.optimizer, base_lr(cfg))
    net = torch.compile(task.module) if compile_ else task.module
    task.train()
    n = images.shape[0]

    graphed = GraphedStep(task, net, device, amp) if graphs else None
    if graphed is not None:
        set_lr(task.optimizer, base_lr(cfg))  # into the tensors the graph reads

    def step(i):
        idx = torch.randint(0, n, (batch_size,), device=device)
        batch = Batch(data.x[idx], data.y[idx], idx, SampleRandom(0, 0, idx))
        if graphed is not None:
            loss = graphed(batch)["loss"]
            task.after_update(i, 1000)
            return loss
        loss = train_step(task, net, [batch], device, amp)[0]["loss"]
        task.after_update(i, 1000)
        return loss
    return task, step


def _seconds(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def bench(method: str, device: torch.device, batch_size: int, steps: int, warmup: int, amp: bool,
          compile_: bool, images: torch.Tensor, test_images: torch.Tensor | None = None, graphs: bool = False,
          **overrides) -> dict:
    """Seconds per training step of `build`'s step, and with ``test_images`` the evaluation the loop
    runs every ``eval_every`` epochs (`SiameseTask.evaluate`: kNN over the train and test features,
    the branch monitor), timed once after the steps. With ``graphs`` the untimed steps include the
    graph's warm-up and capture (at least ``GraphedStep.WARMUP + 1`` of them)."""
    task, step = build(method, device, batch_size, amp, compile_, images, test_images, graphs, **overrides)
    if graphs:
        warmup = max(warmup, GraphedStep.WARMUP + 1)
    for i in range(warmup):
        step(i)
    out = {}
    dt = _seconds(lambda: out.update(loss=[step(i) for i in range(steps)][-1]), device) / steps
    if not torch.isfinite(out["loss"].detach()).item():
        raise RuntimeError(f"{method}: non-finite loss in the benchmark")
    row = {"method": method, "batch": batch_size, "step_ms": 1e3 * dt, "images_per_s": batch_size / dt,
           "epoch_s": (CIFAR10_TRAIN // batch_size) * dt}
    if test_images is not None:
        row["eval_s"] = _seconds(lambda: task.evaluate(1), device)
        row["eval_every"] = task.cfg.eval_every
    return row


def mini(methods, device: str) -> None:
    """Full mini-scale runs (digits recipes: pretraining, per-epoch kNN and matrix logging, linear probe)."""
    print("| method | epochs | run, s | training, s | matrix logging, s | kNN top-1 | linear top-1 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for m in methods:
            cfg = recipe(m, "digits", device=device)
            t0 = time.perf_counter()
            out = run(cfg, Path(tmp) / m)
            total = time.perf_counter() - t0
            log = [json.loads(x) for x in (Path(tmp) / m / "log.jsonl").read_text().splitlines()]
            info_s = sum(r.get("info_time_s", 0.0) for r in log)
            print(f"| {m} | {cfg.epochs} | {total:.1f} | {out['train_time_s']:.1f} | {info_s:.1f} | "
                  f"{out['knn_top1']:.1f} | {out['linear_top1']:.1f} |", flush=True)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=None, help="default: 256 on CUDA (the recipe's), 32 on CPU")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default: 50 on CUDA, 3 on CPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 10 on CUDA, 1 on CPU)")
    p.add_argument("--no-amp", action="store_true", help="float32 on CUDA")
    p.add_argument("--compile", action="store_true", help="torch.compile the training forward")
    p.add_argument("--cuda-graphs", action="store_true",
                   help="capture the step as a CUDA graph (the engine's --cuda-graphs; uncaptured on a CPU)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--data-root", default=None, help="time on the real CIFAR-10 training images")
    p.add_argument("--mini", action="store_true", help="time complete runs of the digits (mini-scale) recipes instead")
    a = p.parse_args(argv)
    try:
        device = resolve_device(a.device)
    except ValueError as e:
        p.exit(2, f"bench_siamese: error: {e}\n")
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.mini:
        print(f"device: {_cpu_name() if device.type == 'cpu' else torch.cuda.get_device_name(device)}, "
              f"{torch.get_num_threads()} threads; torch {torch.__version__}\n")
        mini(a.methods, str(device))
        return 0
    cuda = device.type == "cuda"
    bs = a.batch_size or (256 if cuda else 32)
    steps = a.steps or (50 if cuda else 3)
    warmup = a.warmup if a.warmup is not None else (10 if cuda else 1)
    if a.data_root:
        images = load_cifar(a.data_root, "cifar10", "train")[0]
    else:
        images = torch.randint(0, 256, (max(4 * bs, 2048), 3, 32, 32), dtype=torch.uint8,
                               generator=torch.Generator().manual_seed(0))
    images = images.to(device)
    amp = cuda and not a.no_amp
    if a.compile and a.cuda_graphs:
        p.exit(2, "bench_siamese: error: --compile and --cuda-graphs exclude each other\n")
    rows = [bench(m, device, bs, steps, warmup, amp, a.compile, images, graphs=a.cuda_graphs) for m in a.methods]
    dev = torch.cuda.get_device_name(device) if cuda else f"CPU ({_cpu_name()}, {torch.get_num_threads()} threads)"
    print(f"device: {dev}; torch {torch.__version__}; ResNet-18 (CIFAR stem), 32x32, two views per image; "
          f"{'bf16 autocast' if amp else 'float32'}{', compiled' if a.compile else ''}"
          f"{', one CUDA graph per step' if a.cuda_graphs and cuda else ''}; "
          f"{warmup} warm-up + {steps} timed steps\n")
    print("| method | batch | ms / step | images / s | epoch (50k images), s |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['method']} | {r['batch']} | {r['step_ms']:.0f} | {r['images_per_s']:.1f} | {r['epoch_s']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
