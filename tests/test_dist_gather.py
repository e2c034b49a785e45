"""Two CPU processes (gloo) training one MAE with DDP: the U-MAE / M-MAE regulariser on the batch
gathered by ``mmae.dist.all_gather_cat`` gives the same loss and the same parameter gradients as one
process on the concatenated batch (the regulariser is not separable over samples, so a rank-local
regulariser, or a gather that drops the gradient, would not)."""
import os

import pytest
import torch
import torch.multiprocessing as mp

LAM = 0.5  # large, so that the regulariser's share of the gradient is far above the tolerance
METHODS = ("mmae", "umae")


def _setup():
    from mmae.models import mae_vit
    torch.manual_seed(0)
    model = mae_vit("mini-b", img_size=8, patch_size=2, in_chans=1, norm_pix_loss=True)
    g = torch.Generator().manual_seed(1)
    return model, torch.randn(8, 1, 8, 8, generator=g), torch.rand(8, 16, generator=g)


def _loss(model, x, noise, method, lam=LAM):
    from mmae.dist import all_gather_cat
    from mmae import methods
    mae, _, _, z = model(x, 0.75, noise=noise)
    # the autograd gather of mmae.dist (identity in one process); the engine's gradient caching
    # is checked in test_global_regularizer.py
    m = methods.get(method)
    reg = m.regularizer(all_gather_cat(z), m.Params(lam=lam, **({"mu": 1.0} if method == "mmae" else {"tau": 1.0})))
    return mae, reg, mae + lam * reg


def _worker(rank: int, world: int, init_file: str, out_dir: str):
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        model, x, noise = _setup()
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        part = slice(rank * 8 // world, (rank + 1) * 8 // world)
        out = {}
        for method in METHODS:
            model.zero_grad(set_to_none=True)
            mae, reg, loss = _loss(ddp, x[part], noise[part], method)
            loss.backward()
            out[method] = {"mae": mae.detach(), "reg": reg.detach(),
                           "grads": {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}}
        torch.save(out, os.path.join(out_dir, f"rank{rank}.pt"))
        dist.barrier()  # no rank tears the group down while the other still talks to it (SIGABRT)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    d = tmp_path_factory.mktemp("gloo")
    mp.start_processes(_worker, args=(2, str(d / "store"), str(d)), nprocs=2, join=True, start_method="spawn")
    return [torch.load(d / f"rank{r}.pt") for r in range(2)]


@pytest.mark.parametrize("method", METHODS)
def test_global_regulariser_loss_and_gradients_match_one_process(method, two_ranks):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, x, noise = _setup()
        mae, reg, loss = _loss(model, x, noise, method)
        loss.backward()
        full = {n_: p.grad.clone() for n_, p in model.named_parameters() if p.grad is not None}
        model.zero_grad(set_to_none=True)
        _loss(model, x, noise, method, lam=0.0)[2].backward()
        mae_only = {n_: p.grad.clone() for n_, p in model.named_parameters() if p.grad is not None}
    finally:
        torch.set_num_threads(n)
    r0, r1 = two_ranks[0][method], two_ranks[1][method]
    # every rank evaluates the regulariser of the whole batch
    torch.testing.assert_close(r0["reg"], reg.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(r1["reg"], reg.detach(), rtol=1e-5, atol=1e-6)
    # equal numbers of masked patches per rank: the mean of the rank MAE losses is the full MAE loss
    torch.testing.assert_close((r0["mae"] + r1["mae"]) / 2, mae.detach(), rtol=1e-5, atol=1e-6)
    assert full.keys() == r0["grads"].keys() == r1["grads"].keys()
    for name, g in full.items():
        torch.testing.assert_close(r0["grads"][name], g, rtol=1e-4, atol=1e-6, msg=lambda m: f"{name}: {m}")
        torch.testing.assert_close(r1["grads"][name], g, rtol=1e-4, atol=1e-6, msg=lambda m: f"{name}: {m}")
    # the regulariser moves the encoder's gradient well beyond the tolerance used above
    diff = max((full[k] - mae_only[k]).abs().max().item() for k in full if k.startswith("blocks."))
    assert diff > 1e-3
