"""MAE pretraining throughput and model FLOPs utilisation, ours against Hugging Face transformers.

    python benchmarks/bench_mae.py                      # GPU: ViT-B/16 and ViT-L/16, 224 px, batch 256
    python benchmarks/bench_mae.py --device cpu         # CPU: a small configuration, the same ratios
    python benchmarks/bench_mae.py --compile --json out.json
    python benchmarks/bench_mae.py --mini --threads 1   # mini scale: whole digits pipelines, timed

For each encoder size it times full training steps (forward, backward, fused AdamW step; bf16
autocast on CUDA, float32 on CPU) at mask ratio 0.75 with normalised-pixel targets, of

- ``mmae``:      :class:`mmae.models.MaskedAutoencoderViT` with the MAE loss only;
- ``mmae+tcr``:  the same plus M-MAE's regulariser (Eq. (11)) as the engine computes it at the real
                 global batch (``--global-batch``, 1024 in the paper): ``tcr_loss`` and its gradient on
                 1024 gathered features (this device's rows and, standing in for the other devices',
                 fixed unit vectors), then ``<G, z>`` backpropagated through this device's rows;
- ``mmae+tcr+cache``: the same with gradient caching's first pass (the encoder over the visible
                 patches without autograd), which a step pays when it accumulates micro-batches;
- ``hf``:        transformers' ``ViTMAEForPreTraining`` with the same configuration (SDPA attention,
                 LayerNorm eps 1e-6), when transformers is installed (``pip install mmae[bench]``);

and prints images/s, model TFLOP/s, MFU, our speed-up over transformers and the regulariser's
overhead. Model FLOPs are counted analytically (matmuls and attention, forward + 2x backward) on
the tokens each part really processes: the encoder sees ``1 + L (1 - mask_ratio)`` tokens, the
decoder ``1 + L``. MFU is against the device's dense bf16 peak (``--peak-tflops``; known GPUs are
looked up; on CPU the peak is measured with a large float32 matmul). On a CPU, times are the
process's CPU time (robust to other jobs on the machine; use ``--threads 1`` to make it equal to
the idle machine's wall time). Implementations are timed in interleaved rounds; the best round counts.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import re
import sys
import time

import torch

from mmae.engine.loop import Task, train_step
from mmae.methods import mmae as mmae_method
from mmae.models import VIT_SIZES, MaskedAutoencoderViT

# dense bf16 tensor-core peaks (TFLOP/s, without sparsity: half the data sheets' "with sparsity"
# figures), keyed by a pattern of the name CUDA reports. Only names that identify the board count:
# the SXM H100 ("NVIDIA H100 80GB HBM3") and H200 ("NVIDIA H200") have 1,979 sparse = 989 dense;
# the H100 PCIe 1,513 sparse = 756 dense (NVIDIA H100 Tensor Core GPU data sheet, SXM and PCIe
# columns); other variants (H100 / H200 NVL, GH200) fall back to a measured matmul.
KNOWN_PEAKS = {r"H100 (SXM|80GB HBM3$)": 989.0, r"H200( SXM)?$": 989.0, r"H100 PCIe": 756.0, r"A100": 312.0,
               r"L40S": 362.0, r"A10$": 125.0}


def mae_flops_per_image(img: int, patch: int, chans: int, e: int, depth: int, de: int, ddepth: int,
                        mask_ratio: float, mlp_ratio: float = 4.0) -> float:
    """Training FLOPs (3 x forward: the backward costs twice the forward) of one image."""
    L = (img // patch) ** 2
    n_enc = 1 + int(L * (1 - mask_ratio))
    n_dec = 1 + L

    def blocks(n, d, k):
        # per token: qkv 3d^2, proj d^2, mlp 2 r d^2 multiply-adds; attention scores and values 2 n d
        return k * n * (2 * (4 + 2 * mlp_ratio) * d * d + 2 * 2 * n * d)

    fwd = 2 * L * patch * patch * chans * e            # patch embedding (all patches, before masking)
    fwd += blocks(n_enc, e, depth)
    fwd += 2 * n_enc * e * de                          # decoder embedding
    fwd += blocks(n_dec, de, ddepth)
    fwd += 2 * n_dec * de * patch * patch * chans      # pixel prediction
    return 3.0 * fwd


def spec_peak_tflops(name: str) -> float | None:
    """The data-sheet dense bf16 peak of the GPU CUDA calls ``name``, None when the name does not identify one."""
    return next((peak for key, peak in KNOWN_PEAKS.items() if re.search(key, name)), None)


def device_peak_tflops(device: torch.device, override: float | None) -> tuple[float, str]:
    if override:
        return override, "given"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = spec_peak_tflops(name)
        if peak:
            return peak, f"{name} bf16 dense spec"
        return measured_matmul_tflops(device, torch.bfloat16), f"{name} measured bf16 matmul"
    return measured_matmul_tflops(device, torch.float32), "measured float32 matmul"


def measured_matmul_tflops(device: torch.device, dtype: torch.dtype, n: int = 2048, reps: int = 5,
                           rounds: int = 5) -> float:
    """The best of ``rounds`` timings of a square matmul: the machine's attainable peak."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best, clock = math.inf, _clock(device)
    for _ in range(rounds):
        _sync(device)
        t = clock()
        for _ in range(reps):
            a @ b
        _sync(device)
        best = min(best, clock() - t)
    return 2 * n ** 3 * reps / best / 1e12


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    import contextlib
    return contextlib.nullcontext()


def _clock(device):
    # on a CPU the process's own CPU time: jobs sharing the machine do not inflate it (with one
    # thread it equals the wall time of an idle machine); on a GPU the wall clock after a sync
    return time.process_time if device.type == "cpu" else time.perf_counter


def time_steps(step, device, steps: int, warmup: int) -> float:
    """Seconds per call of ``step`` (after ``warmup`` untimed calls)."""
    for _ in range(warmup):
        step()
    _sync(device)
    if steps == 0:
        return 0.0
    clock = _clock(device)
    t = clock()
    for _ in range(steps):
        step()
    _sync(device)
    return (clock() - t) / steps


class _MAEStep(Task):
    """`ours`' step as the loop runs it (`mmae.engine.loop.train_step`): MAE's loss on a fixed batch and,
    with `tcr_lam` > 0, M-MAE's training objective, the other processes' rows stood in for by `others`;
    with `cache`, the gradient-caching pass without autograd first (`begin_step`)."""

    def __init__(self, model, optimizer, mask_ratio: float, noise, others, tcr_lam: float, cache: bool):
        self.model, self.optimizer, self.mask_ratio, self.noise = model, optimizer, mask_ratio, noise
        self.others, self.cache = others, cache
        self.params = mmae_method.Params(lam=tcr_lam, mu=1.0) if tcr_lam else None

    def begin_step(self, micro):
        if self.cache:
            with torch.no_grad():
                self.model.masked_feature(micro[0], self.mask_ratio, self.noise)

    def step(self, net, x):
        loss, _, _, z = net(x, self.mask_ratio, self.noise)
        if self.params is not None:
            m = mmae_method.METHOD
            r, g = m.regularizer_grad(torch.cat([z.detach().float(), self.others]), self.params)
            loss, _ = m.objective(loss, z, self.params, (r, g[:len(x)]))
        return {"loss": loss}


def ours(cfg, device, tcr_lam: float, compile_: bool | str, global_batch: int = 0, cache: bool = False):
    model = MaskedAutoencoderViT(img_size=cfg["img"], patch_size=cfg["patch"], in_chans=3, embed_dim=cfg["e"],
                                 depth=cfg["depth"], num_heads=cfg["heads"], decoder_embed_dim=cfg["de"],
                                 decoder_depth=cfg["ddepth"], decoder_num_heads=cfg["dheads"],
                                 norm_pix_loss=True).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), fused=device.type == "cuda")
    fwd = _compiled(model, compile_)
    x = torch.randn(cfg["batch"], 3, cfg["img"], cfg["img"], device=device)
    n = cfg["batch"]
    others = torch.nn.functional.normalize(torch.randn(global_batch - n, cfg["e"], device=device), dim=1)
    noise = torch.rand(n, model.patch_embed.num_patches, device=device)
    task = _MAEStep(model, opt, cfg["mask_ratio"], noise, others, tcr_lam, cache)
    return lambda: train_step(task, fwd, [x], device)


def _compiled(model, compile_):
    """``model`` itself, or compiled (``compile_``: True for inductor, or a torch.compile backend name)."""
    if not compile_:
        return model
    return torch.compile(model, backend=compile_ if isinstance(compile_, str) else "inductor")


def huggingface(cfg, device, compile_: bool | str = False):
    from transformers import ViTMAEConfig, ViTMAEForPreTraining
    hc = ViTMAEConfig(image_size=cfg["img"], patch_size=cfg["patch"], num_channels=3, hidden_size=cfg["e"],
                      num_hidden_layers=cfg["depth"], num_attention_heads=cfg["heads"], intermediate_size=4 * cfg["e"],
                      decoder_hidden_size=cfg["de"], decoder_num_hidden_layers=cfg["ddepth"],
                      decoder_num_attention_heads=cfg["dheads"], decoder_intermediate_size=4 * cfg["de"],
                      mask_ratio=cfg["mask_ratio"], norm_pix_loss=True, layer_norm_eps=1e-6, qkv_bias=True,
                      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, attn_implementation="sdpa")
    model = ViTMAEForPreTraining(hc).to(device)
    fwd = _compiled(model, compile_)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), fused=device.type == "cuda")
    x = torch.randn(cfg["batch"], 3, cfg["img"], cfg["img"], device=device)

    def step():
        with _autocast(device):
            loss = fwd(pixel_values=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def mini_pipelines(sizes, methods, seed: int, root: str | None) -> list[dict]:
    """Time complete mini-scale pipelines (pretrain -> linear probe -> fine-tune on the digits, the
    recipes of ``Config.mini()``), one per (size, method), and report their accuracies."""
    import tempfile

    import mmae.data.digits  # noqa: F401 - load scikit-learn outside the timings
    from mmae.engine import finetune, linprobe, pretrain

    root = root or tempfile.mkdtemp(prefix="bench_mae_mini_")
    rows = []
    for size in sizes:
        for method in methods:
            out = f"{root}/{size}_{method}_s{seed}"
            t0 = time.perf_counter()
            pre = pretrain.run(pretrain.PretrainConfig.mini(model=size, method=method, seed=seed), f"{out}/pre")
            t1 = time.perf_counter()
            lin = linprobe.run(linprobe.LinProbeConfig.mini(pretrained=f"{out}/pre", seed=seed), f"{out}/lin")
            t2 = time.perf_counter()
            ft = finetune.run(finetune.FinetuneConfig.mini(pretrained=f"{out}/pre", seed=seed), f"{out}/ft")
            t3 = time.perf_counter()
            row = {"model": size, "method": method, "seed": seed, "pretrain_s": t1 - t0, "linprobe_s": t2 - t1,
                   "finetune_s": t3 - t2, "pipeline_s": t3 - t0, "erank": pre["erank"], "linprobe_top1": lin["top1"],
                   "finetune_top1": ft["top1"]}
            rows.append(row)
            print(f"{size:>6} {method:>5}: pipeline {row['pipeline_s']:5.1f} s (pretrain {row['pretrain_s']:5.1f}, "
                  f"linear probe {row['linprobe_s']:4.1f}, fine-tune {row['finetune_s']:5.1f})  erank "
                  f"{row['erank']:.2f}  linear top-1 {row['linprobe_top1']:5.1f}  fine-tune top-1 "
                  f"{row['finetune_top1']:5.1f}", flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--models", default=None, help="comma-separated encoder sizes (GPU: base,large; CPU: tiny,small)")
    p.add_argument("--img-size", type=int, default=None, help="GPU: 224; CPU: 32")
    p.add_argument("--patch-size", type=int, default=None, help="GPU: 16; CPU: 4")
    p.add_argument("--batch-size", type=int, default=None, help="per device; GPU: 256; CPU: 32")
    p.add_argument("--decoder", default=None, help="width,depth,heads of the decoder (GPU: 512,8,16; CPU: 128,2,4)")
    p.add_argument("--mask-ratio", type=float, default=0.75)
    p.add_argument("--steps", type=int, default=None, help="timed steps (GPU 20, CPU 5)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (GPU 5, CPU 2)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds; the best round counts")
    p.add_argument("--tcr-lam", type=float, default=0.01)
    p.add_argument("--global-batch", type=int, default=1024, help="gathered features of the regulariser (paper: 1024)")
    p.add_argument("--peak-tflops", type=float, default=None)
    p.add_argument("--compile", action="store_true", help="torch.compile both models (ours and transformers')")
    p.add_argument("--no-hf", action="store_true", help="skip transformers")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--mini", action="store_true", help="time whole mini-scale pipelines instead (CPU)")
    p.add_argument("--mini-models", default="mini-b,mini-l")
    p.add_argument("--mini-methods", default="mae,umae,mmae")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.mini:
        if a.threads:
            torch.set_num_threads(a.threads)
        print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
        rows = mini_pipelines(a.mini_models.split(","), a.mini_methods.split(","), a.seed, None)
        print(f"# total {sum(r['pipeline_s'] for r in rows):.1f} s for {len(rows)} pipelines")
        if a.json:
            with open(a.json, "w") as f:
                json.dump(rows, f, indent=2)
        return 0
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if a.device == "auto" else a.device))
    gpu = device.type == "cuda"
    if a.threads:
        torch.set_num_threads(a.threads)
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    models = (a.models or ("base,large" if gpu else "tiny,small")).split(",")
    img = a.img_size or (224 if gpu else 32)
    patch = a.patch_size or (16 if gpu else 4)
    batch = a.batch_size or (256 if gpu else 32)
    dec = tuple(int(v) for v in (a.decoder or ("512,8,16" if gpu else "128,2,4")).split(","))
    steps, warmup = a.steps or (20 if gpu else 5), a.warmup or (5 if gpu else 2)
    peak, peak_src = device_peak_tflops(device, a.peak_tflops)
    have_hf = not a.no_hf
    if have_hf:
        try:
            import transformers  # noqa: F401
        except ImportError:
            print("transformers is not installed: skipping the comparison (pip install mmae[bench])", file=sys.stderr)
            have_hf = False
    machine = torch.cuda.get_device_name(device) if gpu else f"{platform.processor() or platform.machine()}, " \
                                                              f"{torch.get_num_threads()} threads"
    print(f"# device: {machine}; torch {torch.__version__}; peak {peak:.2f} TFLOP/s ({peak_src})")
    print(f"# img {img}, patch {patch}, batch {batch}, mask {a.mask_ratio}, decoder {dec}, "
          f"{'bf16 autocast' if gpu else 'float32'}, {steps} timed steps after {warmup}")
    results = []
    for size in models:
        if size not in VIT_SIZES:
            p.error(f"unknown model size {size!r}; expected one of {sorted(VIT_SIZES)}")
        e, depth, heads = VIT_SIZES[size]
        cfg = dict(img=img, patch=patch, e=e, depth=depth, heads=heads, de=dec[0], ddepth=dec[1], dheads=dec[2],
                   batch=batch, mask_ratio=a.mask_ratio)
        flops = mae_flops_per_image(img, patch, 3, e, depth, dec[0], dec[1], a.mask_ratio)
        row = {"model": size, **cfg, "gflops_per_image": flops / 1e9, "device": machine, "peak_tflops": peak}
        if a.global_batch < batch:
            p.error(f"--global-batch ({a.global_batch}) must be at least the per-device batch ({batch})")
        runs = [("mmae", lambda: ours(cfg, device, 0.0, a.compile, a.global_batch)),
                ("mmae+tcr", lambda: ours(cfg, device, a.tcr_lam, a.compile, a.global_batch)),
                ("mmae+tcr+cache", lambda: ours(cfg, device, a.tcr_lam, a.compile, a.global_batch, cache=True))]
        if have_hf:
            runs.append(("hf", lambda: huggingface(cfg, device, a.compile)))  # equal compilation
        built = {}
        for name, build in runs:
            torch.manual_seed(0)
            built[name] = build()
            time_steps(built[name], device, 0, warmup)
        # interleaved rounds, best round per implementation: fair under background load and clock drift
        best = {name: math.inf for name in built}
        for _ in range(a.rounds):
            for name, step in built.items():
                best[name] = min(best[name], time_steps(step, device, steps, 0))
        del built
        if gpu:
            torch.cuda.empty_cache()
        for name, sec in best.items():
            ips = batch / sec
            row[name] = {"images_per_s": ips, "step_ms": 1e3 * sec, "tflops": ips * flops / 1e12,
                         "mfu": ips * flops / 1e12 / peak}
        row["regulariser_overhead"] = row["mmae+tcr"]["step_ms"] / row["mmae"]["step_ms"] - 1.0
        row["caching_overhead"] = row["mmae+tcr+cache"]["step_ms"] / row["mmae+tcr"]["step_ms"] - 1.0
        if have_hf:
            row["speedup_vs_hf"] = row["mmae"]["images_per_s"] / row["hf"]["images_per_s"]
        results.append(row)
        line = (f"{size:>6}: ours {row['mmae']['images_per_s']:9.1f} img/s  MFU {100 * row['mmae']['mfu']:5.1f}%  | "
                f"+TCR (global batch {a.global_batch}) {100 * row['regulariser_overhead']:+5.1f}%  | "
                f"+caching pass {100 * row['caching_overhead']:+5.1f}%")
        if have_hf:
            line += (f"  | transformers {row['hf']['images_per_s']:9.1f} img/s  MFU {100 * row['hf']['mfu']:5.1f}%"
                     f"  | speed-up {row['speedup_vs_hf']:.2f}x")
        print(line, flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
