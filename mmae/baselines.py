"""The reference points every table is read against, run through the same pipeline as the methods.

- **raw pixels**: MAE's linear probe (`mmae.engine.linprobe`: `BatchNorm1d(affine=False)` and a
  linear layer, LARS, the same schedule) on the flattened, normalised pixels instead of an encoder's
  CLS feature ([`run_pixel_probe`][mmae.baselines.run_pixel_probe]);
- **random init**: the same probe on the CLS feature of the masked autoencoder as pretraining
  initialises it, before any step ([`write_random_init`][mmae.baselines.write_random_init] writes
  that checkpoint; the linear-probe engine reads it like a pretrained one);
- **supervised**: the fine-tuning engine with no pretrained weights (`pretrained=""`), the same
  model and recipe.

A pretraining method earns its keep only where its probe beats the random-init probe and its
fine-tuning matches supervised training from scratch; the raw-pixel probe says how far a linear
classifier gets without any representation.

[`sklearn_reference`][mmae.baselines.sklearn_reference] runs classifiers of the Fashion-MNIST
authors' benchmark grid (their `benchmark/baselines.json`) on standardised raw pixels, as an
external reference for the `small` scale.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from mmae import dist
from mmae.data import data_info
from mmae.data.transforms import GpuAugment
from mmae.engine.batches import Batch
from mmae.engine.common import LARS, RunDir, save_checkpoint, seed_everything
from mmae.engine.config import base_lr
from mmae.engine.linprobe import LinProbeConfig, probe_augment, probe_stats
from mmae.engine.loop import Task, fit, open_run
from mmae.engine.mim import evaluate_topk, train_test_data

__all__ = ["PixelProbeConfig", "run_pixel_probe", "write_random_init", "sklearn_reference", "REFERENCE_GRID",
           "REFERENCE_CLASSIFIERS", "write_reference", "reference_path", "reference_md", "main"]


@dataclass
class PixelProbeConfig(LinProbeConfig):
    pretrained: str = "none"          # unused: the probe reads the pixels


class _PixelProbeTask(Task):
    def __init__(self, cfg: PixelProbeConfig, device: torch.device, test):
        info = data_info(cfg.dataset)
        self.cfg, self.device, self.test = cfg, device, test
        d = info.in_chans * info.img_size ** 2
        linear = nn.Linear(d, info.num_classes)
        nn.init.trunc_normal_(linear.weight, std=0.01)  # as the encoder probe's head
        nn.init.zeros_(linear.bias)
        self.model = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(d, affine=False, eps=1e-6), linear).to(device)
        self.optimizer = LARS(self.model.parameters(), lr=base_lr(cfg), weight_decay=cfg.weight_decay)
        self.aug = probe_augment(cfg)
        self.plain = GpuAugment("eval", info.mean, info.std, info.img_size)

    def step(self, net, batch: Batch) -> dict:
        return probe_stats(net(self.aug(batch.x, gen=batch.gen)), batch.y)

    def evaluate(self, epoch: int) -> dict:
        return {f"test_{k}": v for k, v in evaluate_topk(self.model, self.test, self.plain, self.device).items()}


def run_pixel_probe(cfg: PixelProbeConfig, out_dir: str | Path) -> dict:
    """The linear probe on raw pixels (or the metrics of the finished run in `out_dir`)."""
    device, rd, done = open_run(cfg, out_dir)
    if done is not None:
        return done
    data, test = train_test_data(cfg, device)
    task = _PixelProbeTask(cfg, device, test)
    log = fit(task, cfg, data, rd, device, "pixel probe")
    last = next((r for r in reversed(log) if r.get("epoch") == cfg.epochs), {})
    metrics = {"dataset": cfg.dataset, "features": "raw pixels", "epochs": cfg.epochs, "top1": last.get("test_top1"),
               "top5": last.get("test_top5"), "test_loss": last.get("test_loss"), "train_loss": last.get("loss")}
    rd.write_metrics(metrics)
    dist.barrier()
    return metrics


def write_random_init(out_dir: str | Path, *, dataset: str, model: str, patch_size: int, seed: int) -> dict:
    """Write `checkpoint.pt` (`{"model": state}`) of the masked autoencoder that pretraining
    with `seed` starts from, with its `config.json` and `metrics.json`."""
    from mmae.models import mae_vit

    rd = RunDir(out_dir)
    if rd.done:
        return rd.metrics()
    info = data_info(dataset)
    config = {"dataset": dataset, "model": model, "patch_size": patch_size, "seed": seed}
    rd.save_config(config)
    seed_everything(seed)  # as the pretraining run's open_run does before it builds the model
    net = mae_vit(model, img_size=info.img_size, patch_size=patch_size, in_chans=info.in_chans)
    save_checkpoint(Path(out_dir) / "checkpoint.pt", {"model": net.state_dict()})
    metrics = {**config, "epochs": 0}
    rd.write_metrics(metrics)
    return metrics


# ------------------------------------------------------------------ external reference (Fashion-MNIST)

# where Debian's dataset-fashion-mnist puts the authors' benchmark grid
REFERENCE_GRID = "/usr/share/doc/dataset-fashion-mnist/benchmark/baselines.json"
# the fastest classifiers of that grid on 60,000 x 784 pixels, each at the grid's first value of
# every parameter
REFERENCE_CLASSIFIERS = ("GaussianNB", "Perceptron", "PassiveAggressiveClassifier", "SGDClassifier",
                         "DecisionTreeClassifier")


def _first_values(grid: list[dict]) -> dict:
    params = {}
    for block in grid:
        for k, values in block.items():
            params[k] = values[0]
    return params


def sklearn_reference(root: str | None = None, grid_path: str = REFERENCE_GRID,
                      names: tuple[str, ...] = REFERENCE_CLASSIFIERS, seed: int = 0) -> list[dict]:
    """Test accuracy (%) of classifiers of the authors' grid on Fashion-MNIST, trained as their
    `benchmark/runner.py` does: on the pixels standardised with the training set's mean and
    standard deviation (`sklearn.preprocessing.StandardScaler`)."""
    import sklearn.linear_model as lm
    import sklearn.naive_bayes as nb
    import sklearn.tree as tree
    from sklearn.preprocessing import StandardScaler

    from mmae.data.idx import load_fashion_mnist

    try:
        grid = json.loads(Path(grid_path).read_text())["classifiers"]
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"Fashion-MNIST benchmark grid unreadable: {grid_path} ({e})") from None
    (x, y), (xt, yt) = (load_fashion_mnist(root, s) for s in ("train", "test"))
    x, xt = (a.reshape(len(a), -1).numpy().astype("float64") for a in (x, xt))
    y, yt = y.numpy(), yt.numpy()
    scaler = StandardScaler().fit(x)
    x, xt = scaler.transform(x), scaler.transform(xt)
    out = []
    for name in names:
        if name not in grid:
            raise ValueError(f"{name} is not in the benchmark grid {grid_path}")
        params = _first_values(grid[name])
        cls = next(getattr(m, name) for m in (lm, nb, tree) if hasattr(m, name))
        if "random_state" in cls().get_params():
            params["random_state"] = seed
        t0 = time.perf_counter()
        clf = cls(**params).fit(x, y)
        acc = 100.0 * float((clf.predict(xt) == yt).mean())
        out.append({"classifier": name, "params": {k: v for k, v in params.items() if k != "random_state"},
                    "top1": acc, "fit_s": time.perf_counter() - t0})
    return out


def reference_path(out: str | Path) -> Path:
    """Where `write_reference` puts the external reference of the small scale."""
    return Path(out) / "small" / "reference" / "reference.json"


def reference_md(entries: list[dict]) -> str:
    rows = [f"| {e['classifier']} | {', '.join(f'{k}={v}' for k, v in e['params'].items()) or 'defaults'} | "
            f"{e['top1']:.1f} |" for e in entries]
    return "\n".join(["| classifier (raw pixels, standardised) | parameters | test top-1 |", "|---|---|---|"] + rows)


def write_reference(out: str | Path = "results", root: str | None = None) -> list[dict]:
    """Run `sklearn_reference` and write it beside the small scale's results (JSON and Markdown)."""
    from mmae.engine.common import write_json_atomic
    entries = sklearn_reference(root)
    path = reference_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"source": "the Fashion-MNIST authors' benchmark grid (benchmark/baselines.json), "
                                       "first value of each parameter, trained as their runner does",
                             "classifiers": entries})
    path.with_suffix(".md").write_text(reference_md(entries) + "\n")
    return entries


def main(argv=None) -> int:
    from mmae.cli import Parser, error_line, fail
    p = Parser(prog="python -m mmae.baselines",
               description="Run the fastest classifiers of the Fashion-MNIST authors' grid on raw pixels.")
    p.add_argument("--data", default=None, help="folder of the four IDX files (default: Debian's dataset-fashion-mnist)")
    p.add_argument("--out", default="results", help="results folder (default: results/)")
    args = p.parse_args(argv)
    try:
        entries = write_reference(args.out, args.data)
    except ValueError as e:
        return fail(p.prog, error_line(e))
    print(reference_md(entries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
