"""One GPU check: every speed figure of the package in one run, as a JSON report and a Markdown table.

    python benchmarks/gpu_check.py --out gpu_check            # one GPU (H200: at most 8 minutes)
    python benchmarks/gpu_check.py --smoke --device cpu --out gpu_check_smoke   # every section, tiny shapes

Sections (each a table; a section or a row that cannot run says why, the rest still run):

- ``matmul``: the device's bf16 (and float32) matmul ceiling, TFLOP/s, best of a few rounds;
- ``syncs``: host synchronisations per training step, counted under
  ``torch.cuda.set_sync_debug_mode("warn")`` on the engines' own steps (`PretrainTask` with M-MAE's
  regulariser, `SiameseTask` of each method, eager and replayed as a CUDA graph); the target is 0;
- ``regulariser``: U-MAE's and M-MAE's regulariser with its gradient (`MIMMethod.global_regularizer`) on the
  real global batch of 1024 gathered features of width d = 768 and 1024, alone, and as a share of
  the ViT-B / ViT-L step of the ``mae`` section;
- ``loader``: the ImageNet loader's ceiling on generated JPEGs of ImageNet-like sizes: Pillow decode +
  keyed crop in one process (images/s per core), the DataLoader workers of `Folder` on every core,
  and the GPU decode path (`mmae.data.imagenet.gpu_decode_reason`);
- ``siamese``: each Siamese method's CIFAR-10 training epoch (batch 256, the engine's step, extrapolated
  to 50,000 images) and its evaluation (kNN over 50k + 10k images and the branch monitor) per epoch at
  the recipe's ``eval_every`` (`benchmarks/bench_siamese.py`), then the same step captured as one CUDA
  graph (``cuda_graphs``, `mmae.engine.loop.GraphedStep`) and its speed-up over the eager step;
- ``mae``: MAE ViT-B/16 and ViT-L/16 pretraining steps, 224 px, batch 256, bf16, eager and compiled,
  ours (with and without M-MAE's regulariser at the global batch 1024) against transformers'
  ``ViTMAEForPreTraining`` at equal compilation (`benchmarks/bench_mae.py`): images/s and MFU.

The cheap sections run first and the report is rewritten after each one, so a run stopped by its
time budget (``--budget-s``, 480 s) still leaves every finished figure. ``--smoke`` runs every
section on tiny shapes (CPU: under 3 minutes; compilation with the ``eager`` backend, which traces
the model as inductor would but generates no kernels).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmarks
import bench_mae  # noqa: E402

SECTIONS = ("matmul", "syncs", "regulariser", "loader", "siamese", "mae")
TITLES = {"matmul": "(e) Matmul ceiling", "syncs": "(e) Host syncs per training step",
          "regulariser": "(b) U-MAE / M-MAE regulariser at the global batch",
          "loader": "(d) ImageNet loader ceiling", "siamese": "(c) Siamese methods, CIFAR-10 epoch",
          "mae": "(a) MAE pretraining step"}


class Skip(Exception):
    """A section or row that cannot run here; the message says why."""


def _missing(module: str) -> str | None:
    try:
        __import__(module)
        return None
    except ImportError as e:
        return f"{module} is not installed ({e})"


def _need(*modules: str) -> None:
    for m in modules:
        if (why := _missing(m)):
            raise Skip(why)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _free(device):
    if device.type == "cuda":
        torch.cuda.empty_cache()


class Check:
    """The run's shapes, time budget and report."""

    def __init__(self, a, device: torch.device):
        self.a, self.device, self.smoke, self.cuda = a, device, a.smoke, device.type == "cuda"
        self.t0 = time.monotonic()
        self.out = Path(a.out)
        self.out.mkdir(parents=True, exist_ok=True)
        name = torch.cuda.get_device_name(device) if self.cuda else f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
        self.report = {"meta": {"device": name, "torch": torch.__version__, "python": platform.python_version(),
                                "smoke": a.smoke, "command": " ".join(["python", *sys.argv]),
                                "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                                "budget_s": a.budget_s},
                       "sections": {}}

    def left(self) -> float:
        return self.a.budget_s - (time.monotonic() - self.t0)

    def budget(self, what: str) -> None:
        if self.left() <= 0:
            raise Skip(f"time budget of {self.a.budget_s:.0f} s spent before {what}")

    def run(self, name: str, fn) -> None:
        t = time.monotonic()
        try:
            self.budget(f"the {name} section")
            sec = {"rows": fn()}
        except Skip as e:
            sec = {"skipped": str(e)}
        except ImportError as e:  # e.g. the engines need kornia
            sec = {"skipped": f"{e.name or 'a module'} is not installed ({e})"}
        except Exception as e:  # a failure is reported, and the remaining sections still run
            traceback.print_exc()
            sec = {"error": f"{type(e).__name__}: {e}"}
        sec["seconds"] = round(time.monotonic() - t, 2)
        self.report["sections"][name] = {"title": TITLES[name], **sec}
        _free(self.device)
        self.write()
        print(f"# {name}: {'skipped: ' + sec['skipped'] if 'skipped' in sec else sec.get('error', 'done')} "
              f"({sec['seconds']:.1f} s)", flush=True)

    def write(self) -> None:
        self.report["meta"]["elapsed_s"] = round(time.monotonic() - self.t0, 1)
        (self.out / "gpu_check.json").write_text(json.dumps(self.report, indent=2))
        (self.out / "gpu_check.md").write_text(markdown(self.report))


def _row(name: str, fn) -> dict:
    """A row measured by ``fn`` (a dict), or ``{"name", "skipped": why}``."""
    try:
        return {"name": name, **fn()}
    except Skip as e:
        return {"name": name, "skipped": str(e)}


# ------------------------------------------------------------------ (e) matmul ceiling and host syncs

def matmul(c: Check) -> list[dict]:
    n = 256 if c.smoke else 8192
    rows = []
    for dtype in (torch.bfloat16, torch.float32):
        # on a GPU float32 matmuls may use TF32: the row says which
        tf = c.cuda and dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32
        rows.append({"name": str(dtype).replace("torch.", "") + (" (TF32)" if tf else ""), "n": n,
                     "tflops": bench_mae.measured_matmul_tflops(c.device, dtype, n=n, reps=3 if c.smoke else 20)})
    if c.cuda:
        spec = bench_mae.spec_peak_tflops(c.report["meta"]["device"])
        rows[0]["spec_tflops"] = spec if spec else "unknown"
    return rows


def count_syncs(step, device, steps: int, warmup: int) -> float:
    """Host synchronisations per call of ``step``: the warnings of CUDA's sync-debug mode, counted."""
    for i in range(warmup):
        step(i)
    torch.cuda.synchronize(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for i in range(steps):
                step(warmup + i)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught) / steps


def syncs(c: Check) -> list[dict]:
    if not c.cuda:
        raise Skip("needs CUDA (torch.cuda.set_sync_debug_mode); tests/test_gpu_syncs.py checks the same on CUDA")
    _need("kornia")
    from mmae.data.keyed import SampleRandom
    from mmae.engine.batches import Batch
    from mmae.engine.common import autocast
    from mmae.engine.pretrain import PretrainConfig, PretrainTask

    rows = []
    cfg = PretrainConfig.mini(method="mmae", device="cuda")  # the digits: their held-out batch is bundled
    task = PretrainTask(cfg, c.device)
    x = torch.randint(0, 256, (cfg.batch_size, 1, 8, 8), dtype=torch.uint8, device=c.device)
    y = torch.zeros(cfg.batch_size, dtype=torch.long, device=c.device)

    def mim_step(i):  # the loop's step (mmae.engine.loop.fit) with one micro-batch
        idx = torch.arange(cfg.batch_size, device=c.device)
        b = Batch(x, y, idx, SampleRandom(0, i, idx))
        with autocast(c.device, cfg.amp):
            task.begin_step([b])
            task.step(task.module, b)["loss"].backward()
        task.optimizer.step()
        task.optimizer.zero_grad(set_to_none=True)
        task.after_update(i, 100)
    rows.append({"name": "pretrain (M-MAE, mini)", "syncs_per_step": count_syncs(mim_step, c.device, 5, 2)})
    import bench_siamese
    images = torch.randint(0, 256, (2048, 3, 32, 32), dtype=torch.uint8, device=c.device)
    for m in bench_siamese.METHODS:
        for graphs in (False, True):  # with graphs, 4 untimed calls: the eager warm-up and the capture
            _, step = bench_siamese.build(m, c.device, 256, True, False, images, graphs=graphs)
            rows.append({"name": f"siamese {m} (CIFAR shapes{', CUDA graph' if graphs else ''})",
                         "syncs_per_step": count_syncs(step, c.device, 5, 4 if graphs else 2)})
    return rows


# ------------------------------------------------------------------ (b) regulariser

def _widths(c: Check) -> dict[str, int]:
    return {m: bench_mae.VIT_SIZES[m][0] for m in c.models}


def regulariser(c: Check) -> list[dict]:
    from mmae import methods
    n = 64 if c.smoke else 1024
    rows = []
    for method in ("umae", "mmae"):
        m = methods.get(method)
        p = m.Params()
        for model, d in _widths(c).items():
            z = torch.nn.functional.normalize(torch.randn(n, d, device=c.device), dim=1)
            sec = _best_seconds(lambda: m.global_regularizer(z, p), c.device, c.steps, c.warmup, c.rounds)
            rows.append({"name": f"{method} d={d}", "method": method, "model": model, "global_batch": n, "d": d,
                         "ms": 1e3 * sec})
    return rows


def _best_seconds(fn, device, steps: int, warmup: int, rounds: int) -> float:
    return min(bench_mae.time_steps(fn, device, steps, warmup if r == 0 else 0) for r in range(rounds))


# ------------------------------------------------------------------ (d) ImageNet loader

def write_jpegs(root: Path, n: int, seed: int = 0) -> Path:
    """``n`` JPEGs (quality 90) in the ImageNet layout, of ImageNet's typical sizes (500 x 375, 375 x
    500, 500 x 333, 500 x 500, ...), with smooth content plus noise so that they compress like photos."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image
    sizes = [(500, 375), (375, 500), (500, 333), (500, 500), (400, 300), (640, 480)]
    for k in range(2):
        (root / "train" / f"n{k:08d}").mkdir(parents=True, exist_ok=True)

    def one(i):
        rng = np.random.default_rng([seed, i])
        w, h = sizes[i % len(sizes)]
        coarse = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((w, h), Image.BICUBIC)
        px = np.clip(np.asarray(img, np.int16) + rng.integers(-12, 13, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(px).save(root / "train" / f"n{i % 2:08d}" / f"{i}.JPEG", quality=90)
    with ThreadPoolExecutor(os.cpu_count() or 1) as ex:  # Pillow releases the GIL while it encodes
        list(ex.map(one, range(n)))
    return root


def loader(c: Check) -> list[dict]:
    from mmae.data.imagenet import ImageFolder, gpu_decode_reason
    from mmae.engine.batches import Folder
    # enough batches for every worker to take two; the files sit in the page cache (a decode ceiling)
    n, batch = (24, 8) if c.smoke else (1536, 48)
    workers = min(os.cpu_count() or 1, 2 if c.smoke else 16)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = write_jpegs(Path(tmp), n)
        ds = ImageFolder(str(root), "train", mode="train", size=224)
        one = min(n, 256)
        t = time.perf_counter()
        for i in range(one):
            ds[(i, 0)]
        dt = time.perf_counter() - t
        rows.append({"name": "Pillow decode + crop, one process", "images": one, "images_per_s": one / dt,
                     "images_per_s_per_core": one / dt})

        def stream(src, epoch):
            lists = list(torch.randperm(n).split(batch))
            t = time.perf_counter()
            for _, (x, _) in src.stream(lists, epoch):
                pass
            _sync(c.device)
            return {"images": n, "images_per_s": n / (time.perf_counter() - t)}

        def workers_row():
            src = Folder(ds, c.device, workers, gpu_decode=False)
            stream(src, 0)  # starts the persistent workers
            r = stream(src, 1)
            return {**r, "workers": workers, "images_per_s_per_core": r["images_per_s"] / workers}
        rows.append(_row(f"Folder, {workers} Pillow workers", workers_row))

        def gpu_row():
            if (why := gpu_decode_reason(c.device)):
                raise Skip(why)
            src = Folder(ds, c.device, workers, gpu_decode=True)
            stream(src, 0)
            return {**stream(src, 1), "workers": workers}
        rows.append(_row(f"Folder, GPU decode ({workers} reader workers)", gpu_row))
    return rows


# ------------------------------------------------------------------ (c) Siamese epochs

def siamese(c: Check) -> list[dict]:
    _need("kornia")
    import bench_siamese
    g = torch.Generator().manual_seed(0)
    # smoke: 16 px images (the CIFAR stem takes any size) and a few of them
    (n_train, n_test), px = ((32, 16), 16) if c.smoke else ((50_000, 10_000), 32)
    train = torch.randint(0, 256, (n_train, 3, px, px), dtype=torch.uint8, generator=g).to(c.device)
    test = torch.randint(0, 256, (n_test, 3, px, px), dtype=torch.uint8, generator=g).to(c.device)
    small = dict(proj_hidden=64, proj_out=32, pred_hidden=64, knn_k=10) if c.smoke else {}
    rows = []
    for m in bench_siamese.METHODS:
        if c.left() <= 0:
            rows.append({"name": m, "skipped": "time budget spent"})
            continue
        r = bench_siamese.bench(m, c.device, 8 if c.smoke else 256, 1 if c.smoke else 30, c.warmup, c.cuda, False,
                                train, test, **small)
        r["eval_share"] = r["eval_s"] / r["eval_every"] / r["epoch_s"]
        rows.append({"name": m, **r})
        _free(c.device)
        # the same step captured as one CUDA graph (`cuda_graphs`; on a CPU it runs uncaptured)
        g = bench_siamese.bench(m, c.device, 8 if c.smoke else 256, 1 if c.smoke else 30, c.warmup, c.cuda, False,
                                train, graphs=True, **small)
        rows.append({"name": f"{m}, CUDA graph" if c.cuda else f"{m}, graph step uncaptured (CPU)", **g,
                     "speedup_vs_eager": r["step_ms"] / g["step_ms"]})
        _free(c.device)
    return rows


# ------------------------------------------------------------------ (a) MAE steps

def mae(c: Check) -> list[dict]:
    from mmae.models import DECODER_SIZES
    no_hf = _missing("transformers")  # the reason, when it is missing
    img, patch, batch = (32, 4, 8) if c.smoke else (224, 16, 256)
    rows = []
    for compiled in (False, True):
        comp = (c.compile_backend if compiled else False)
        label = "compiled" if compiled else "eager"
        for size in c.models:
            if c.left() <= 0:
                rows.append({"name": f"{size} ({label})", "skipped": "time budget spent"})
                continue
            e, depth, heads = bench_mae.VIT_SIZES[size]
            de, ddepth, dheads = DECODER_SIZES[size] if c.smoke else (512, 8, 16)
            cfg = dict(img=img, patch=patch, e=e, depth=depth, heads=heads, de=de, ddepth=ddepth, dheads=dheads,
                       batch=batch, mask_ratio=0.75)
            flops = bench_mae.mae_flops_per_image(img, patch, 3, e, depth, de, ddepth, 0.75)
            variants = {"ours": lambda: bench_mae.ours(cfg, c.device, 0.0, comp, c.global_batch)}
            if not compiled:  # the regulariser's share of the step, and gradient caching's first pass
                variants["ours + M-MAE reg."] = lambda: bench_mae.ours(cfg, c.device, 0.01, comp, c.global_batch)
                variants["ours + M-MAE reg. + caching pass"] = lambda: bench_mae.ours(cfg, c.device, 0.01, comp,
                                                                                      c.global_batch, cache=True)
            if not no_hf:
                variants["transformers"] = lambda: bench_mae.huggingface(cfg, c.device, comp)
            built = {}
            for name, build in variants.items():
                torch.manual_seed(0)
                built[name] = build()
                bench_mae.time_steps(built[name], c.device, 0, c.warmup)  # compiles, warms up
            best = {name: math.inf for name in built}
            for _ in range(c.rounds):  # interleaved: fair under drifting clocks and background load
                for name, step in built.items():
                    best[name] = min(best[name], bench_mae.time_steps(step, c.device, c.steps, 0))
            del built
            _free(c.device)
            for name, sec in best.items():
                ips = batch / sec
                rows.append({"name": f"{size} {name}", "model": size, "impl": name,
                             "mode": label, "batch": batch, "img": img, "step_ms": 1e3 * sec,
                             "images_per_s": ips, "mfu": ips * flops / 1e12 / c.peak})
            if no_hf:
                rows.append({"name": f"{size} transformers", "model": size, "impl": "transformers",
                             "mode": label, "skipped": no_hf})
    return rows


def _derive(report: dict) -> None:
    """Cross-section figures: the regulariser's share of the step and ours over transformers."""
    secs = report["sections"]
    steps = {(r["model"], r["impl"], r["mode"]): r for r in secs.get("mae", {}).get("rows", [])
             if "step_ms" in r}
    for r in secs.get("regulariser", {}).get("rows", []):
        for mode in ("eager", "compiled"):
            s = steps.get((r["model"], "ours", mode))
            if s:
                r[f"share_of_{mode}_step"] = r["ms"] / s["step_ms"]
    for (model, impl, comp), r in steps.items():
        hf = steps.get((model, "transformers", comp))
        if impl == "ours" and hf:
            r["speedup_vs_transformers"] = r["images_per_s"] / hf["images_per_s"]
        base = steps.get((model, "ours", comp))
        if impl.startswith("ours + M-MAE reg.") and base:
            r["overhead_vs_ours"] = r["step_ms"] / base["step_ms"] - 1.0


# ------------------------------------------------------------------ report

def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return "" if v is None else str(v)


def markdown(report: dict) -> str:
    m = report["meta"]
    lines = [f"# GPU check: {m['device']}", "",
             f"torch {m['torch']}, {m['date']}, {m.get('elapsed_s', 0):.0f} s{' (smoke: tiny shapes)' if m['smoke'] else ''}; "
             f"`{m['command']}`", ""]
    for name in SECTIONS:
        s = report["sections"].get(name)
        if s is None:
            continue
        lines += [f"## {s['title']}", ""]
        if "skipped" in s or "error" in s:
            lines += [f"skipped: {s['skipped']}" if "skipped" in s else f"error: {s['error']}", ""]
            continue
        cols = [k for r in s["rows"] for k in r if k != "name"]
        cols = list(dict.fromkeys(cols))
        lines += ["| " + " | ".join(["", *cols]) + " |", "|---" * (len(cols) + 1) + "|"]
        for r in s["rows"]:
            lines.append("| " + " | ".join([r["name"], *(_fmt(r.get(k)) for k in cols)]) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--smoke", action="store_true", help="every section on tiny shapes")
    p.add_argument("--out", default="gpu_check", help="folder for gpu_check.json and gpu_check.md")
    p.add_argument("--budget-s", type=float, default=480.0, help="sections and rows past it are skipped")
    p.add_argument("--sections", default=",".join(SECTIONS))
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device)
    if a.threads:
        torch.set_num_threads(a.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    c = Check(a, device)
    c.models = ["mini-b"] if a.smoke else ["base", "large"]
    c.global_batch = 64 if a.smoke else 1024
    c.steps, c.warmup, c.rounds = (2, 1, 2) if a.smoke else (10, 5, 3)
    c.compile_backend = "eager" if a.smoke else True
    c.report["meta"]["compile_backend"] = "eager" if a.smoke else "inductor"
    c.peak, c.report["meta"]["peak_source"] = bench_mae.device_peak_tflops(device, None)
    c.report["meta"]["peak_tflops"] = c.peak
    wanted = a.sections.split(",")
    for name in SECTIONS:
        if name in wanted:
            c.run(name, lambda: globals()[name](c))
            _derive(c.report)
            c.write()
    print(markdown(c.report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
