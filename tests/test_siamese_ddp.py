"""Two-process (gloo, CPU) Siamese training through mmae.dist: the global batch is split across
ranks, projections are gathered for the batch-level loss, rank 0 logs and checkpoints."""
import json

import pytest
import torch
import torch.multiprocessing as mp

from _dist import as_torchrun, free_port
from test_siamese_engine import _tiny, _tiny_cifar


def _worker(rank, world, port, root, out):
    as_torchrun(rank, world, port)
    import mmae.engine.siamese as S
    from mmae import dist
    cfg = _tiny("simclr", root, epochs=1, linprobe_epochs=0, info_batch=16)
    S.run(cfg, out)
    dist.cleanup()


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_two_ranks_train_and_rank0_logs(tmp_path):
    root = _tiny_cifar(tmp_path / "data")
    out = tmp_path / "run"
    mp.spawn(_worker, args=(2, free_port(), root, str(out)), nprocs=2, join=True)
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1]  # one writer
    assert (out / "metrics.json").exists() and (out / "checkpoint.pt").exists()
