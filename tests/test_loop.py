"""The shared training loop: the split of the global batch, keyed samples and masks whatever the
split (1 process with and without accumulation, 2 gloo processes), preemption by SIGTERM and
SIGKILL with bit-identical resumption through the command line, and the checkpoint fallback."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from _images import write_image_folder
from _tol import roundoff
from _dist import as_torchrun, free_port
from mmae.cli import EXIT_PREEMPTED
from mmae.engine import pretrain
from mmae.engine.batches import split_batch
from mmae.engine.common import load_checkpoint, seed_everything
from mmae.engine.pretrain import PretrainTask

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_split_batch_covers_the_global_batch_exactly():
    assert split_batch(1024, 1, 0, 256) == split_batch(1024, 1, 4, 0)  # 4 micro-steps of 256
    sp = split_batch(1024, 8, 0, 256)
    assert (sp.accum, sp.micro) == (1, 128) and sp.world * sp.per_process == 1024
    with pytest.raises(ValueError, match="not divisible by the 6 processes"):
        split_batch(16384, 6)
    with pytest.raises(ValueError, match="accum_iter=3 does not divide"):
        split_batch(128, 2, 3)
    sp = split_batch(96, 1, 0, 40)  # the fewest micro-steps with micro-batches <= 40 that divide 96
    assert (sp.accum, sp.micro) == (3, 32)


# ------------------------------------------------------------------ the same samples and masks, whatever the split

def _recording_step(records: list):
    real = pretrain.PretrainTask.step

    def step(self, net, batch):
        def spy(x, ratio, noise):
            records.append((batch.index.cpu().clone(), x.detach().cpu().clone(), noise.cpu().clone()))
            return net(x, ratio, noise)
        return real(self, spy, batch)
    return step


def _cfg(accum: int, method: str = "mae"):
    return pretrain.PretrainConfig.mini(method=method, epochs=1, warmup_epochs=0, batch_size=128, accum_iter=accum,
                                        erank_batch=16)


def _worker(rank, world, port, out, method):
    as_torchrun(rank, world, port)
    from mmae import dist
    records = []
    pretrain.PretrainTask.step = _recording_step(records)
    pretrain.run(_cfg(2, method), out)
    torch.save(records, Path(out) / f"records{rank}.pt")
    dist.cleanup()


def _preempted_worker(rank, world, port, out, signal_at):
    """Rank 1 alone receives SIGTERM during its ``signal_at``-th step (0: never): both ranks must stop
    after the same step, with one checkpoint, and exit as preempted."""
    as_torchrun(rank, world, port)
    from mmae import dist
    from mmae.engine.loop import Preempted
    real, calls = pretrain.PretrainTask.step, {"n": 0}

    def step(self, net, batch):
        calls["n"] += 1
        if rank == 1 and calls["n"] == signal_at:
            signal.raise_signal(signal.SIGTERM)
        return real(self, net, batch)
    pretrain.PretrainTask.step = step
    try:
        pretrain.run(pretrain.PretrainConfig.mini(method="umae", epochs=3, warmup_epochs=1, batch_size=128, erank_batch=16,
                                            ckpt_every=1), out)
        outcome = "finished"
    except Preempted:
        outcome = f"preempted after {calls['n']} steps"
    Path(out, f"outcome{rank}").write_text(outcome)
    dist.cleanup()


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_sigterm_on_one_of_two_processes_stops_both_and_resumes_exactly(tmp_path):
    full, cut = str(tmp_path / "full"), str(tmp_path / "cut")
    mp.spawn(_preempted_worker, args=(2, free_port(), full, 0), nprocs=2, join=True)
    mp.spawn(_preempted_worker, args=(2, free_port(), cut, 14), nprocs=2, join=True)  # in epoch 2 of 10 steps
    assert [Path(cut, f"outcome{r}").read_text() for r in (0, 1)] == ["preempted after 14 steps"] * 2
    assert load_checkpoint(Path(cut) / "checkpoint.pt")["step"] == 14
    mp.spawn(_preempted_worker, args=(2, free_port(), cut, 0), nprocs=2, join=True)
    assert [Path(cut, f"outcome{r}").read_text() for r in (0, 1)] == ["finished"] * 2
    a, b = load_checkpoint(Path(full) / "checkpoint.pt")["model"], load_checkpoint(Path(cut) / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [json.loads(x)["epoch"] for x in (Path(cut) / "log.jsonl").read_text().splitlines()] == [0, 1, 2, 3]


def _counting_worker(rank, world, port, out, compiled):
    """Counts the gradient all-reduces DDP issues (a comm hook); ``compiled`` wraps the DDP module in
    ``torch.compile`` (the eager backend: the wrapping is what matters, not the code generation)."""
    import functools

    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    from mmae.engine import loop
    as_torchrun(rank, world, port)
    from mmae import dist
    count, real_wrap = {"n": 0}, loop.wrap_ddp

    def counted(state, bucket):
        count["n"] += 1
        return allreduce_hook(state, bucket)

    def wrap(module, device):
        ddp = real_wrap(module, device)
        ddp.register_comm_hook(None, counted)
        return ddp
    loop.wrap_ddp = wrap
    torch.compile = functools.partial(torch.compile, backend="eager")
    pretrain.run(pretrain.PretrainConfig.mini(method="mae", epochs=1, warmup_epochs=0, batch_size=128, accum_iter=2,
                                              erank_batch=16, compile=compiled), out)
    Path(out, f"allreduces{rank}").write_text(str(count["n"]))
    dist.cleanup()


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_compiled_ddp_still_all_reduces_only_on_the_last_micro_step(tmp_path):
    counts = {}
    for compiled in (False, True):
        out = tmp_path / f"compiled{compiled}"
        mp.spawn(_counting_worker, args=(2, free_port(), str(out), compiled), nprocs=2, join=True)
        counts[compiled] = [int((out / f"allreduces{r}").read_text()) for r in (0, 1)]
    buckets = counts[False][0] // 10
    assert buckets >= 1 and counts[False] == [10 * buckets] * 2  # 10 steps of 2 micro-steps: one sync per step
    assert counts[True] == counts[False]


def _by_sample(records) -> dict:
    out = {}
    for index, x, noise in records:
        for i, k in enumerate(index.tolist()):
            assert k not in out, "a sample was seen twice in one epoch"
            out[k] = (x[i], noise[i])
    return out


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
@pytest.mark.parametrize("method", ["mae", "mmae", "umae"])
def test_accumulation_and_processes_train_on_the_same_samples_and_masks(tmp_path, monkeypatch, method):
    runs = {}
    for accum in (1, 4):
        records = []
        with monkeypatch.context() as m:
            m.setattr(pretrain.PretrainTask, "step", _recording_step(records))
            pretrain.run(_cfg(accum, method), tmp_path / f"accum{accum}")
        runs[f"accum{accum}"] = _by_sample(records)
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path / "ddp"), method), nprocs=2, join=True)
    runs["ddp"] = _by_sample(torch.load(tmp_path / "ddp" / "records0.pt") + torch.load(tmp_path / "ddp" / "records1.pt"))
    ref = runs["accum1"]
    assert len(ref) == 10 * 128  # 10 steps of the global batch; the last 67 digits are dropped
    for name, seen in runs.items():
        assert seen.keys() == ref.keys(), name
        for k in ref:  # the augmented image and the mask noise of every sample: bit-identical
            assert torch.equal(seen[k][0], ref[k][0]) and torch.equal(seen[k][1], ref[k][1]), (name, k)
    # The weights agree up to the reassociation of the gradient sums. Not elementwise to a few eps:
    # Adam's first updates are sign(g) * lr, so a gradient component within float32 round-off of zero
    # can move its weight by 2 lr either way. What is bounded is the relative size of the difference
    # of the trained weights against the training movement ||w_T - w_0|| (measured: 1e-3); training on
    # other samples or masks changes the movement by O(1).
    seed_everything(0)
    w0 = PretrainTask(_cfg(1), torch.device("cpu")).model.state_dict()  # the initialisation of every run

    def flat(name):
        w = load_checkpoint(tmp_path / name / "checkpoint.pt")["model"] if name else w0
        return torch.cat([w[k].double().flatten() for k in w0])
    ref, init = flat("accum1"), flat(None)
    for name in ("accum4", "ddp"):
        rel = ((flat(name) - ref).norm() / (ref - init).norm()).item()
        assert rel < 1e-2, (name, rel)
    # the logged regulariser is R of the global batch, however the batch is split
    reg = {name: [json.loads(x)["reg_loss"] for x in (tmp_path / name / "log.jsonl").read_text().splitlines()
                  if "reg_loss" in x] for name in runs}
    for name in ("accum4", "ddp"):
        assert reg[name] == pytest.approx(reg["accum1"], rel=roundoff(torch.float32, 128), abs=0), name


# ------------------------------------------------------------------ preemption through the command line

def _cli(engine: str, out: Path, *args: str):
    return [sys.executable, "-m", f"mmae.engine.{engine}", "--out", str(out), *args]


def _wait_for(pred, proc, timeout=120):
    t0 = time.monotonic()
    while not pred():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before it could be interrupted: {proc.stderr.read()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.05)


def _log_epochs(out: Path) -> list:
    if not (out / "log.jsonl").exists():
        return []
    return [json.loads(x).get("epoch") for x in (out / "log.jsonl").read_text().splitlines() if x.strip()]


@pytest.mark.slow
@pytest.mark.parametrize("engine, args", [
    ("pretrain", ["--mini", "--method", "mae", "--epochs", "6", "--ckpt-every", "1", "--quiet"]),
    ("siamese", ["--method", "simclr", "--dataset", "digits", "--epochs", "5", "--ckpt-every", "1",
                 "--linprobe-epochs", "0", "--quiet"]),
])
def test_sigterm_then_sigkill_then_resume_gives_the_uninterrupted_weights(tmp_path, engine, args):
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert subprocess.run(_cli(engine, full, *args), env=ENV, capture_output=True, timeout=600).returncode == 0
    # SIGTERM in the second epoch: the current step finishes, the checkpoint is written, exit code 75
    p = subprocess.Popen(_cli(engine, cut, *args), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: 1 in _log_epochs(cut), p)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == EXIT_PREEMPTED and time.monotonic() - t0 < 30
    err = p.stderr.read().strip().splitlines()
    assert len(err) == 1 and "rerun the same command to resume" in err[0], err
    stopped_at = load_checkpoint(cut / "checkpoint.pt")["step"]
    # SIGKILL later on: nothing is written; the rerun resumes from the last checkpoint and rewrites the log
    p = subprocess.Popen(_cli(engine, cut, *args), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (cut / "checkpoint.pt").exists() and load_checkpoint(cut / "checkpoint.pt")["step"] > stopped_at
              and max(_log_epochs(cut)) >= 3, p)
    p.kill()
    p.wait(timeout=30)
    r = subprocess.run(_cli(engine, cut, *args), env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    a, b = load_checkpoint(full / "checkpoint.pt"), load_checkpoint(cut / "checkpoint.pt")
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])  # bit-identical on a CPU
    epochs = int(args[args.index("--epochs") + 1])
    assert _log_epochs(cut) == list(range(epochs + 1))  # epoch 0 (the initialisation) and every epoch once
    assert json.loads((cut / "metrics.json").read_text()) == json.loads((full / "metrics.json").read_text()) or \
        engine == "siamese"  # the Siamese metrics hold the wall-clock training time


def test_timed_mid_epoch_checkpoint_and_fallback_from_a_corrupt_one(tmp_path, capsys):
    # ckpt_minutes ~ 0: a checkpoint after every step, mid-epoch included; the previous one is kept
    cfg = pretrain.PretrainConfig.mini(method="mae", epochs=2, warmup_epochs=0, ckpt_every=5, ckpt_minutes=1e-9,
                                       erank_batch=16)
    full = pretrain.run(cfg, tmp_path / "full")
    run = tmp_path / "full"
    last, prev = load_checkpoint(run / "checkpoint.pt"), load_checkpoint(run / "checkpoint.prev.pt")
    assert (last["step"], prev["step"]) == (20, 19) and prev["sums"] is not None  # mid-epoch: the epoch's sums
    # a truncated latest checkpoint: one line, then the run resumes from the previous one
    (run / "metrics.json").unlink()
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    again = pretrain.run(cfg, run)
    err = [ln for ln in capsys.readouterr().err.splitlines() if "damaged" in ln]
    assert len(err) == 1 and "resuming from checkpoint.prev.pt" in err[0]
    assert again == full
    assert [r.get("epoch") for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())] == [0, 1, 2]


def test_image_folder_runs_do_not_depend_on_the_number_of_decoding_workers(tmp_path):
    write_image_folder(tmp_path / "in", {"train": 8, "val": 2})
    weights = []
    for workers in (0, 2):  # crops keyed by (seed, epoch, index) in the workers; order fixed by the main process
        cfg = pretrain.PretrainConfig(dataset="imagenet", data_root=str(tmp_path / "in"), model="mini-b", epochs=2,
                                      warmup_epochs=0, batch_size=8, num_workers=workers, device="cpu", erank_batch=4)
        pretrain.run(cfg, tmp_path / f"w{workers}")
        weights.append(load_checkpoint(tmp_path / f"w{workers}" / "checkpoint.pt")["model"])
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
