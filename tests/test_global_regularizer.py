"""The U-MAE / M-MAE regulariser sees exactly the global batch (gradient caching, `mmae.engine.pretrain`).

One optimiser step's gradient is the gradient of ``mae + lam * R(Z)`` with ``Z`` the features of the
whole global batch, computed here independently in one autograd pass over the global batch; it must
not depend on the number of accumulation micro-steps nor on the number of processes (2 gloo
processes). The ``authors`` recipe scales only the regulariser's gradient, by 1/8."""
import contextlib

import pytest
import torch
import torch.multiprocessing as mp

from _dist import as_torchrun, free_port
from mmae.engine import pretrain
from mmae.engine.common import seed_everything
from mmae.engine.loop import wrap_ddp
from mmae.engine.mim import train_test_data
from _tol import roundoff

CPU = torch.device("cpu")
B = 32  # the global batch of the step


def _cfg(method, accum, **kw):
    # lam = 1: the regulariser's gradient is as large as the MAE loss's, so an error in it shows
    return pretrain.PretrainConfig.mini(method=method, batch_size=B, accum_iter=accum, lam=1.0, erank_batch=16, **kw)


def _task(cfg):
    seed_everything(0)
    return pretrain.PretrainTask(cfg, CPU)


def _step_grads(cfg, net=None):
    """The gradients of one optimiser step as the loop computes them (this process's share)."""
    task = _task(cfg)
    net = net(task.model) if net else task.model
    data, _ = train_test_data(cfg, CPU, test=False)
    _, micro = next(data.epoch(0))
    task.begin_step(micro)
    regs = []
    for k, batch in enumerate(micro):
        sync = net.no_sync if hasattr(net, "no_sync") and k < len(micro) - 1 else contextlib.nullcontext
        with sync():
            out = task.step(net, batch)
            (out["loss"] / len(micro)).backward()
        regs.append(out["reg_loss"])
    return {n: p.grad.clone() for n, p in task.model.named_parameters() if p.grad is not None}, torch.stack(regs)


def _direct_grads(cfg, reg_weight):
    """The definition, in one pass: gradient of ``mae + reg_weight * R(Z)`` over the global batch."""
    task = _task(cfg)
    data, _ = train_test_data(cfg, CPU, test=False)
    _, micro = next(data.epoch(0))
    (batch,) = micro
    mae, _, _, z = task.model(*task._inputs(batch.x, batch.gen))[:4]
    r = task.method.regularizer(z, task.params)
    (mae + reg_weight * r).backward()
    return {n: p.grad.clone() for n, p in task.model.named_parameters() if p.grad is not None}, r.detach()


def _close(a: dict, b: dict, terms: int):
    assert a.keys() == b.keys()
    for n in a:
        # float32 sums of `terms` contributions reassociated: a multiple of eps * terms * max |g|
        scale = max(a[n].abs().max().item(), b[n].abs().max().item())
        err = (a[n] - b[n]).abs().max().item()
        assert err <= roundoff(torch.float32, terms, scale, k=16), (n, err, scale)


@pytest.mark.parametrize("method", ["umae", "mmae"])
def test_one_step_with_accumulation_equals_the_global_batch_gradient(method):
    want, r = _direct_grads(_cfg(method, 1), reg_weight=1.0)
    for accum in (1, 4):
        got, regs = _step_grads(_cfg(method, accum))
        _close(got, want, terms=B)
        # every micro-step logs R of the global batch
        assert torch.allclose(regs, r.expand_as(regs), rtol=roundoff(torch.float32, B), atol=0)


def test_the_authors_recipe_scales_only_the_regulariser_gradient():
    cfg = _cfg("mmae", 4, recipe="authors")
    assert cfg.reg_grad_scale == 1 / 8 and cfg.renorm_cls and cfg.online_classifier
    got, regs = _step_grads(cfg)
    want, r = _direct_grads(_cfg("mmae", 1, recipe="authors"), reg_weight=1 / 8)
    # the online classifier trains on detached features: its cross-entropy reaches only `fc`
    _close({n: g for n, g in got.items() if not n.startswith("fc.")}, want, terms=B)
    assert torch.allclose(regs, r.expand_as(regs), rtol=roundoff(torch.float32, B), atol=0)
    assert got["fc.weight"].abs().sum() > 0


def test_the_authors_recipe_normalises_the_cls_token_twice():
    seed_everything(0)
    m = pretrain.mae_vit("mini-b", img_size=8, patch_size=2, in_chans=1, renorm_cls=True)
    with torch.no_grad():  # a trained final norm, so that the second normalisation changes z
        m.norm.weight.uniform_(0.5, 2.0)
        m.norm.bias.uniform_(-1.0, 1.0)
    x = torch.randn(4, 1, 8, 8)
    latent = m.forward_encoder(x, 0.5, torch.rand(4, 16))[0]
    z = m.cls_feature(latent)
    assert torch.equal(z, m.norm(latent[:, 0]))
    assert not torch.allclose(z, latent[:, 0])


def _ddp_worker(rank, world, port, method, out):
    as_torchrun(rank, world, port)
    from mmae import dist
    dist.init_distributed("cpu")
    grads, regs = _step_grads(_cfg(method, 2), net=lambda m: wrap_ddp(m, CPU))
    if rank == 0:
        torch.save((grads, regs), out)
    dist.cleanup()


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
@pytest.mark.parametrize("method", ["umae", "mmae"])
def test_two_processes_with_accumulation_equal_one_process(tmp_path, method):
    out = tmp_path / "grads.pt"
    mp.spawn(_ddp_worker, args=(2, free_port(), method, str(out)), nprocs=2, join=True)
    got, regs = torch.load(out)
    want, r = _direct_grads(_cfg(method, 1), reg_weight=1.0)
    _close(got, want, terms=B)
    assert torch.allclose(regs, r.expand_as(regs), rtol=roundoff(torch.float32, B), atol=0)


class _SliceGather(torch.autograd.Function):
    """The gather of the published U-MAE / M-MAE code, from its definition: forward all-gathers,
    backward hands each process the gradient of its own slice as this process computed it, without
    summing the other processes' contributions."""

    @staticmethod
    def forward(ctx, x):
        out = [torch.zeros_like(x) for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather(out, x.contiguous())
        return torch.cat(out)

    @staticmethod
    def backward(ctx, g):
        n = g.shape[0] // torch.distributed.get_world_size()
        r = torch.distributed.get_rank()
        return g[r * n:(r + 1) * n]


def _published_gather_worker(rank, world, port, out):
    as_torchrun(rank, world, port)
    from mmae import dist
    dist.init_distributed("cpu")
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 5).double()
    x = torch.randn(world * 8, 6, dtype=torch.float64)
    net = wrap_ddp(lin, CPU)
    from mmae.losses import tcr_loss
    tcr_loss(_SliceGather.apply(net(x[rank * 8:(rank + 1) * 8])), 1.0).backward()
    if rank == 0:
        torch.save((lin.weight.grad, x), out)
    dist.cleanup()


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_the_published_gather_scales_the_regulariser_gradient_by_one_over_the_world_size(tmp_path):
    # why the authors recipe's reg_grad_scale is 1/8: their runs had 8 processes
    out = tmp_path / "g.pt"
    mp.spawn(_published_gather_worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    got, x = torch.load(out)
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 5).double()
    from mmae.losses import tcr_loss
    tcr_loss(lin(x), 1.0).backward()  # the gradient of the regulariser of the global batch
    want = lin.weight.grad / 2
    torch.testing.assert_close(got, want, rtol=0, atol=roundoff(torch.float64, 16, want.abs().max().item()))
