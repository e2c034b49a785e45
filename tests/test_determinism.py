"""The determinism guarantee of docs/reproducing.md ("Determinism").

On one machine, with one torch build and one thread count, a run repeats bit for bit: its weights,
its metrics and its log (the log's wall-clock fields aside). Across thread counts it does not: a
reduction split over more threads adds in another order and rounds differently, and training
amplifies those differences (the guide gives their measured size at the mini scale). What holds
across thread counts is the size of one step's difference: the loss and every gradient of one
M-MAE step computed with one and with two threads agree within float32 round-off for the step's
largest sum, as each agrees with the same step computed in float64.
"""
import json

import torch

from _tol import roundoff
from mmae.engine import pretrain
from mmae.engine.common import load_checkpoint, seed_everything
from mmae.engine.mim import train_test_data

CPU = torch.device("cpu")


def _log(run_dir):
    """The log's records without their wall-clock fields (`images_per_s`, `epoch_s`)."""
    return [{k: v for k, v in json.loads(line).items() if not k.endswith("_s")}
            for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_a_pretraining_repeats_bit_for_bit(tmp_path):
    # M-MAE: random crops and masks, the regulariser and the online classifier all in the step
    cfg = pretrain.PretrainConfig.mini(method="mmae", epochs=2, erank_batch=16)
    a, b = (pretrain.run(cfg, tmp_path / d) for d in ("a", "b"))
    assert a == b
    wa, wb = (load_checkpoint(tmp_path / d / "checkpoint.pt")["model"] for d in ("a", "b"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    la, lb = _log(tmp_path / "a"), _log(tmp_path / "b")
    assert la == lb and [r["epoch"] for r in la] == [0, 1, 2] and la[-1]["loss"] != la[1]["loss"]


def _step(cfg, threads: int, dtype):
    """The loss, its two terms and the gradients of one M-MAE step on the first batch of epoch 0."""
    seed_everything(0)
    task = pretrain.PretrainTask(cfg, CPU)
    task.model.to(dtype)
    data, _ = train_test_data(cfg, CPU, test=False)
    _, (batch,) = next(data.epoch(0))
    x, ratio, noise = task._inputs(batch.x, batch.gen)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        mae, _, _, z = task.model(x.to(dtype), ratio, noise)[:4]
        reg = task.method.regularizer(z, task.params)
        (mae + reg).backward()
    finally:
        torch.set_num_threads(before)
    grads = {n: p.grad.double() for n, p in task.model.named_parameters() if p.grad is not None}
    return (mae + reg).item(), abs(mae.item()) + abs(reg.item()), grads, task.num_patches, x.numel()


def test_one_step_differs_across_thread_counts_only_by_round_off():
    # lam = 1: the regulariser's gradient is as large as the reconstruction's, so an error in it shows
    cfg = pretrain.PretrainConfig.mini(method="mmae", lam=1.0, erank_batch=16)
    exact, _, g64, patches, pixels = _step(cfg, 1, torch.float64)
    one, scale, g1, _, _ = _step(cfg, 1, torch.float32)
    many, _, gn, _, _ = _step(cfg, 2, torch.float32)
    # the loss: a mean over the batch's pixels (at most), of terms of size |mae| + |reg|
    for loss in (one, many):
        assert abs(loss - exact) <= roundoff(torch.float32, pixels, scale)
    assert abs(one - many) <= 2 * roundoff(torch.float32, pixels, scale)
    # a weight's gradient: the largest sum is over the batch's tokens (its patches and the CLS token)
    tokens = cfg.batch_size * (patches + 1)
    assert g1.keys() == gn.keys() == g64.keys()
    for name, ref in g64.items():
        tol = roundoff(torch.float32, tokens, ref.abs().max().item())
        assert (g1[name] - ref).abs().max().item() <= tol, name
        assert (gn[name] - ref).abs().max().item() <= tol, name
        assert (g1[name] - gn[name]).abs().max().item() <= 2 * tol, name
