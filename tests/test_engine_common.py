"""The shared engine machinery: atomic files, checkpoints, schedules, parameter groups, LARS."""
import json
from unittest import mock

import numpy as np
import pytest
import torch

from mmae.engine import common as C
from mmae.methods.byol import cosine_momentum

from _tol import roundoff


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path):
    target = tmp_path / "metrics.json"
    C.write_json_atomic(target, {"acc": 1})
    with mock.patch("os.replace", side_effect=KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            C.write_json_atomic(target, {"acc": 2})
    assert json.loads(target.read_text()) == {"acc": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary left behind


def test_checkpoint_round_trip_and_errors(tmp_path):
    path = tmp_path / "run" / "checkpoint.pt"
    assert C.load_checkpoint(path) is None
    state = {"model": {"w": torch.arange(3.0)}, "epoch": 4}
    C.save_checkpoint(path, state)
    back = C.load_checkpoint(path)
    assert back["epoch"] == 4 and torch.equal(back["model"]["w"], torch.arange(3.0))
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(C.DamagedCheckpoint, match="damaged or no checkpoint"):
        C.load_checkpoint(path)


def test_jsonl_logger_appends(tmp_path):
    log = C.JsonlLogger(tmp_path / "log.jsonl", enabled=True)
    log.log({"epoch": 0, "loss": 1.5})
    log.log({"epoch": 1, "loss": np.float32(0.5)})
    assert log.read() == [{"epoch": 0, "loss": 1.5}, {"epoch": 1, "loss": 0.5}]


def test_run_dir_refuses_a_different_config(tmp_path):
    run = C.RunDir(tmp_path)
    run.save_config({"lr": 0.1, "epochs": 3, "device": "cpu"})
    run.save_config({"lr": 0.1, "epochs": 3, "device": "cuda"}, ignore=("device",))
    run.save_config({"lr": 0.3, "epochs": 3, "device": "cpu"})  # nothing trained under lr 0.1: replaced
    run.save_config({"lr": 0.1, "epochs": 3, "device": "cpu"})
    C.save_checkpoint(run.ckpt_path, {"step": 1})
    with pytest.raises(ValueError, match=r"lr: 0.1 -> 0.2"):
        run.save_config({"lr": 0.2, "epochs": 3, "device": "cpu"})
    assert not run.done
    run.write_metrics({"top1": 50.0})
    assert run.done and run.metrics() == {"top1": 50.0}


def test_lr_schedule_warmup_then_cosine():
    kw = dict(base_lr=1.0, warmup_iters=10, total_iters=110, min_lr=0.1)
    assert C.lr_at(0, **kw) == 0.0
    assert C.lr_at(5, **kw) == pytest.approx(0.5)
    assert C.lr_at(10, **kw) == pytest.approx(1.0)
    assert C.lr_at(60, **kw) == pytest.approx(0.1 + 0.9 * 0.5)  # half way down the cosine
    assert C.lr_at(110, **kw) == pytest.approx(0.1)
    assert C.lr_at(500, **kw) == pytest.approx(0.1)


def test_cosine_momentum_runs_from_base_to_one():
    assert cosine_momentum(0, 100) == pytest.approx(0.996)
    assert cosine_momentum(50, 100) == pytest.approx(0.998)
    assert cosine_momentum(100, 100) == pytest.approx(1.0)


class _TinyViT(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, 4))
        self.pos_embed = torch.nn.Parameter(torch.zeros(1, 3, 4))
        self.patch_embed = torch.nn.Linear(4, 4)
        self.blocks = torch.nn.ModuleList([torch.nn.Sequential(torch.nn.LayerNorm(4), torch.nn.Linear(4, 4)) for _ in range(2)])
        self.head = torch.nn.Linear(4, 2)


def test_param_groups_exclude_norms_biases_and_tokens_from_decay():
    m = _TinyViT()
    groups = C.param_groups(m, 0.05)
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    named = dict(m.named_parameters())
    assert decayed == {id(named[n]) for n in ["patch_embed.weight", "blocks.0.1.weight", "blocks.1.1.weight", "head.weight"]}


def test_param_groups_layer_decay_scales():
    m = _TinyViT()
    groups = C.param_groups(m, 0.05, layer_decay=0.5, num_layers=2)
    scale = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    named = dict(m.named_parameters())
    assert scale[id(named["cls_token"])] == 0.5 ** 3
    assert scale[id(named["blocks.0.1.weight"])] == 0.5 ** 2
    assert scale[id(named["blocks.1.1.weight"])] == 0.5
    assert scale[id(named["head.weight"])] == 1.0
    opt = torch.optim.SGD(groups, lr=0.0)
    C.set_lr(opt, 2.0)
    assert sorted({g["lr"] for g in opt.param_groups}) == [0.25, 0.5, 1.0, 2.0]


def test_lars_step_matches_the_formula():
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))    # ||w|| = 5
    b = torch.nn.Parameter(torch.tensor([1.0]))
    w.grad, b.grad = torch.tensor([[0.6, 0.8]]), torch.tensor([0.5])
    opt = C.LARS([w, b], lr=0.1, weight_decay=0.2, momentum=0.9, trust_coefficient=0.001)
    opt.step()
    u = torch.tensor([[0.6, 0.8]]) + 0.2 * torch.tensor([[3.0, 4.0]])  # ||u|| = 2
    expect_w = torch.tensor([[3.0, 4.0]]) - 0.1 * (0.001 * 5 / 2) * u
    assert torch.allclose(w.data, expect_w)
    assert torch.allclose(b.data, torch.tensor([1.0 - 0.1 * 0.5]))  # no decay, no trust ratio
    with pytest.raises(ValueError, match="invalid LARS"):
        C.LARS([w], lr=-1.0)


def _lars_reference(params, grads, bufs, lr, wd, momentum, eta, ratio="update", clip=False):
    """One LARS step, parameter by parameter, as its definition reads (float64): MAE's trust ratio
    ``eta |w| / |g + wd w|``, or You et al.'s Eq. 6 with solo-learn's lr clipping
    ``min(eta |w| / (|g| + wd |w| + 1e-8) / lr, 1)``."""
    for p, g, buf in zip(params, grads, bufs):
        u = g.clone()
        if p.ndim > 1:
            u = u + wd * p
            wn, un, gn = p.norm(), u.norm(), g.norm()
            if ratio == "update":
                q = eta * wn / un if wn > 0 and un > 0 else 1.0
            else:
                q = eta * wn / (gn + wd * wn + 1e-8) if wn > 0 and gn > 0 else 1.0
                if clip and wn > 0 and gn > 0:
                    q = min(q / lr, 1.0)
            u = u * q
        buf.mul_(momentum).add_(u)
        p.add_(buf, alpha=-lr)


@pytest.mark.parametrize("tensor_lr", [False, True])
@pytest.mark.parametrize("ratio,clip", [("update", False), ("lars", False), ("lars", True)])
def test_foreach_lars_equals_the_per_parameter_definition(ratio, clip, tensor_lr):
    gen = torch.Generator().manual_seed(0)
    shapes = [(8, 5), (5,), (3, 4, 2), (4,), (6, 6)]
    params = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    params[4].zero_()  # ||w|| = 0: trust ratio 1
    ref = [p.clone() for p in params]
    ps = [torch.nn.Parameter(p) for p in params]
    opt = C.LARS(ps, lr=0.3, weight_decay=1e-4, momentum=0.9, trust_coefficient=0.02, trust_ratio=ratio, clip_lr=clip)
    if tensor_lr:  # the rate a CUDA graph reads (mmae.engine.loop.GraphedStep), filled by set_lr
        rate = opt.param_groups[0]["lr"] = torch.zeros((), dtype=torch.float64)
        C.set_lr(opt, 0.3)
        assert opt.param_groups[0]["lr"] is rate and rate.item() == 0.3
    bufs = [torch.zeros_like(p) for p in ref]
    for _ in range(4):
        grads = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
        grads[2] *= 1e-3  # a small gradient: a trust ratio above 1 / lr, which clip_lr caps
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        opt.step()
        _lars_reference(ref, grads, bufs, 0.3, 1e-4, 0.9, 0.02, ratio, clip)
    for p, r in zip(ps, ref):  # the same operations in another order of launches: a few float64 ulps
        torch.testing.assert_close(p.data, r, rtol=0, atol=64 * torch.finfo(torch.float64).eps * (1 + r.abs().max().item()))


@pytest.mark.parametrize("ratio,clip", [("update", False), ("lars", True)])
def test_lars_with_a_tensor_rate_steps_as_with_the_float_rate(ratio, clip):
    """float32, as trained; rates 0 (the first warm-up step: clip_lr then leaves the ratio alone) and
    positive. The trust ratios and buffers are the same numbers; the update `w - lr buf` rounds
    twice where the float rate's fused kernel may round once, so the weights drift by round-off."""
    gen = torch.Generator().manual_seed(1)
    shapes = [(16, 8), (8,), (4, 4, 3)]
    init = [torch.randn(s, generator=gen) for s in shapes]
    a = [torch.nn.Parameter(p.clone()) for p in init]
    b = [torch.nn.Parameter(p.clone()) for p in init]
    kw = dict(lr=0.0, weight_decay=1e-4, momentum=0.9, trust_coefficient=0.02, trust_ratio=ratio, clip_lr=clip)
    opt_a, opt_b = C.LARS(a, **kw), C.LARS(b, **kw)
    opt_b.param_groups[0]["lr"] = torch.zeros(())
    lrs = (0.0, 0.4, 0.25, 0.1)
    for lr in lrs:
        grads = [torch.randn(s, generator=gen) for s in shapes]
        for pa, pb, g in zip(a, b, grads):
            pa.grad, pb.grad = g.clone(), g.clone()
        C.set_lr(opt_a, lr)
        C.set_lr(opt_b, lr)
        opt_a.step()
        opt_b.step()
        if lr == 0:  # the first step: equal buffers, and no weight moves
            assert all(torch.equal(opt_a.state[pa]["mu"], opt_b.state[pb]["mu"]) for pa, pb in zip(a, b))
            assert all(torch.equal(pa, p0) and torch.equal(pb, p0) for pa, pb, p0 in zip(a, b, init))
    scale = max(p.abs().max().item() for p in a) + sum(lrs) * max(opt_a.state[p]["mu"].abs().max().item() for p in a)
    for pa, pb in zip(a, b):
        torch.testing.assert_close(pb.data, pa.data, rtol=0, atol=roundoff(torch.float32, len(lrs), scale))


def test_finite_guard_raises_only_when_checked():
    g = C.FiniteGuard()
    g.update(torch.tensor(1.0))
    g.check()
    g.update(torch.tensor(float("nan")))
    g.update(torch.tensor(2.0))
    with pytest.raises(C.NonFiniteLoss, match="non-finite in epoch 3"):
        g.check("in epoch 3")
    g.check()  # the flag resets after a check


def test_resolve_device():
    assert C.resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            C.resolve_device("cuda")


def test_the_latest_checkpoint_stays_in_place_while_it_becomes_the_previous(tmp_path, monkeypatch):
    # a reader (or a resume after a kill) must find checkpoint.pt at every moment of a rotation
    path = tmp_path / "checkpoint.pt"
    C.save_checkpoint_keeping_previous(path, {"step": 1})
    present, real = [], C.os.replace

    def replace(src, dst):
        present.append(path.exists())
        real(src, dst)

    monkeypatch.setattr(C.os, "replace", replace)
    C.save_checkpoint_keeping_previous(path, {"step": 2})
    assert present and all(present)
    assert C.load_checkpoint(path)["step"] == 2
    assert C.load_checkpoint(tmp_path / "checkpoint.prev.pt")["step"] == 1
    assert not list(tmp_path.glob(".*.tmp"))
