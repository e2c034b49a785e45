"""What happens when things go wrong (docs/failures.md): faults injected into real runs (a torn log
line, a checkpoint that fails to load, non-finite weights, a full disk, two runs in one directory,
signals in every phase) and what each leaves behind."""
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mmae.engine import pretrain
from mmae.engine.common import NonFiniteLoss, RunDir, load_checkpoint

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _cfg(**kw):
    return pretrain.PretrainConfig.mini(**{"method": "mae", "epochs": 2, "warmup_epochs": 0, "erank_batch": 16, **kw})


def _epochs(run: Path) -> list:
    return [json.loads(x).get("epoch") for x in (run / "log.jsonl").read_text().splitlines() if x.strip()]


# ------------------------------------------------------------------ the log

def test_a_torn_last_log_line_is_dropped_in_one_line_and_the_run_resumes(tmp_path, capsys):
    run = tmp_path / "run"
    done = pretrain.run(_cfg(), run)
    (run / "metrics.json").unlink()
    with open(run / "log.jsonl", "a") as f:  # an append cut short: the disk filled up, or a kill mid-write
        f.write('{"epoch": 3, "step": 30, "loss": 0.12')
    capsys.readouterr()
    assert pretrain.run(_cfg(), run) == done
    notes = [ln for ln in capsys.readouterr().err.splitlines() if "log.jsonl" in ln]
    assert len(notes) == 1 and "incomplete last line" in notes[0]
    assert _epochs(run) == [0, 1, 2]


def test_a_damaged_line_inside_the_log_is_named(tmp_path):
    run = tmp_path / "run"
    pretrain.run(_cfg(), run)
    (run / "metrics.json").unlink()
    lines = (run / "log.jsonl").read_text().splitlines()
    (run / "log.jsonl").write_text("\n".join([lines[0], lines[1][:20], *lines[2:]]) + "\n")
    with pytest.raises(ValueError, match=r"log\.jsonl, line 2, is not a JSON record"):
        pretrain.run(_cfg(), run)


def _crash_at(monkeypatch, n: int, cfg, run):
    """Run `cfg` in `run` until its `n`-th training step of this call raises, as a crash would."""
    real, calls = pretrain.PretrainTask.step, {"n": 0}

    def step(self, net, batch):
        calls["n"] += 1
        if calls["n"] == n:
            raise RuntimeError("the node went away")
        return real(self, net, batch)
    with monkeypatch.context() as m, pytest.raises(RuntimeError, match="went away"):
        m.setattr(pretrain.PretrainTask, "step", step)
        pretrain.run(cfg, run)


def test_a_crash_before_the_first_checkpoint_leaves_one_epoch_0_record(tmp_path, monkeypatch):
    run = tmp_path / "run"
    for _ in range(2):  # two crashes in the first epoch, after the evaluation of the initialisation
        _crash_at(monkeypatch, 3, _cfg(), run)
        assert _epochs(run) == [0] and not (run / "checkpoint.pt").exists()
    pretrain.run(_cfg(), run)
    assert _epochs(run) == [0, 1, 2]


# ------------------------------------------------------------------ checkpoints

MINI = ["--mini", "--method", "mae", "--epochs", "3", "--warmup-epochs", "0", "--erank-batch", "16",
        "--ckpt-minutes", "0", "--ckpt-every", "1", "--quiet"]   # --quiet: stderr holds only the error line


def _main(run: Path, *extra: str) -> int:
    return pretrain.main(["--out", str(run), *MINI, *extra])


def _cli_cfg():
    return _cfg(epochs=3, ckpt_minutes=0.0, ckpt_every=1)


def _files(run: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.name.startswith("checkpoint")}


def test_a_transient_error_while_loading_stops_the_run_and_touches_nothing(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    _crash_at(monkeypatch, 25, _cli_cfg(), run)  # in epoch 3: checkpoints after epochs 1 and 2
    before = _files(run)
    assert set(before) == {"checkpoint.pt", "checkpoint.prev.pt"}
    for error in (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                  OSError(5, "Input/output error")):
        capsys.readouterr()
        with monkeypatch.context() as m:
            m.setattr(torch, "load", lambda *a, **k: (_ for _ in ()).throw(error))
            assert _main(run) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "could not be loaded" in err[0] and "left as it is" in err[0], err
        assert _files(run) == before and not (run / "metrics.json").exists()
    assert _main(run) == 0  # the cause gone, the run resumes from the checkpoint of epoch 2
    assert load_checkpoint(run / "checkpoint.prev.pt")["step"] == 20


def test_a_damaged_latest_checkpoint_falls_back_and_the_good_one_is_kept(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    _crash_at(monkeypatch, 25, _cli_cfg(), run)
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[:-1000])  # truncated
    capsys.readouterr()
    _crash_at(monkeypatch, 15, _cli_cfg(), run)  # resumes from epoch 1, saves epoch 2, crashes in epoch 3
    err = [ln for ln in capsys.readouterr().err.splitlines() if "damaged" in ln]
    assert len(err) == 1 and "resuming from checkpoint.prev.pt" in err[0]
    assert f"warning: {run / 'checkpoint.pt'} is damaged" in err[0]  # the whole path: no message cut mid-word
    # the save after the fallback replaced the damaged file, not the good one
    steps = [load_checkpoint(run / name)["step"] for name in ("checkpoint.pt", "checkpoint.prev.pt")]
    assert steps == [20, 10]


def test_with_both_checkpoints_damaged_the_run_refuses_unless_asked_to_start_over(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    _crash_at(monkeypatch, 25, _cli_cfg(), run)
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        data = bytearray((run / name).read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte: the CRC finds it
        (run / name).write_bytes(bytes(data))
    before = _files(run)
    capsys.readouterr()
    assert _main(run) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no whole checkpoint" in err[0] and "--no-resume" in err[0], err
    assert _files(run) == before
    assert _main(run, "--no-resume") == 0
    assert _epochs(run) == [0, 1, 2, 3]


@pytest.mark.parametrize("what", ["parameter", "optimizer state"])
def test_non_finite_weights_are_never_saved(tmp_path, monkeypatch, what):
    """An infinite gradient on an epoch's last step leaves a finite loss and non-finite weights."""
    run = tmp_path / "run"
    real = pretrain.PretrainTask.after_update

    def after_update(self, it, total):
        if it == 19:  # the last step of epoch 2, right before its checkpoint
            with torch.no_grad():
                if what == "parameter":
                    next(self.model.parameters()).fill_(float("nan"))
                else:
                    next(iter(self.optimizer.state.values()))["exp_avg_sq"].fill_(float("inf"))
        return real(self, it, total)
    monkeypatch.setattr(pretrain.PretrainTask, "after_update", after_update)
    with pytest.raises(NonFiniteLoss, match=f"{what} .* became non-finite in epoch 2"):
        pretrain.run(_cfg(epochs=3, ckpt_every=1), run)
    ckpt = load_checkpoint(run / "checkpoint.pt")
    assert ckpt["step"] == 10 and not (run / "checkpoint.prev.pt").exists()
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values())


@pytest.mark.parametrize("change, named", [
    (["--method", "umae"], "method: 'mae' -> 'umae'"),
    (["--seed", "1"], "seed: 0 -> 1"),
    (["--model", "mini-l"], "model: 'mini-b' -> 'mini-l'"),
    (["--blr", "0.002"], "blr: 0.0015 -> 0.002"),
])
def test_a_checkpoint_of_another_run_is_refused_in_one_line(tmp_path, monkeypatch, capsys, change, named):
    mine, other = tmp_path / "mine", tmp_path / "other"
    _crash_at(monkeypatch, 15, _cli_cfg(), mine)
    other.mkdir()
    (other / "checkpoint.pt").write_bytes((mine / "checkpoint.pt").read_bytes())  # no config.json to compare
    capsys.readouterr()
    assert _main(other, *change) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a checkpoint of another run" in err[0] and named in err[0], err


def test_a_checkpoint_written_before_identities_is_still_compared_by_its_config(tmp_path, monkeypatch, capsys):
    mine, other = tmp_path / "mine", tmp_path / "other"
    _crash_at(monkeypatch, 15, _cli_cfg(), mine)
    ckpt = load_checkpoint(mine / "checkpoint.pt")
    del ckpt["identity"]
    other.mkdir()
    torch.save(ckpt, other / "checkpoint.pt")
    assert _main(other, "--seed", "3") == 2 and "seed: 0 -> 3" in capsys.readouterr().err
    assert _main(other) == 0  # the same run resumes


def test_a_failed_first_attempt_does_not_block_the_corrected_command(tmp_path, capsys):
    run = tmp_path / "run"
    assert pretrain.main(["--out", str(run), *MINI, "--dataset", "cifar10", "--data-root", str(tmp_path / "none")]) == 2
    assert (run / "config.json").exists()  # written before the data was found missing
    assert _main(run, "--epochs", "1") == 0


# ------------------------------------------------------------------ the run directory

def test_a_second_run_into_the_same_directory_is_refused_naming_the_first(tmp_path, capsys):
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "mmae.engine.pretrain", "--out", str(run), *MINI, "--epochs", "40"],
                             env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        while not (run / "log.jsonl").exists():  # the first run is training
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() - t0 < 120
            time.sleep(0.05)
        capsys.readouterr()
        assert pretrain.main(["--out", str(run), *MINI, "--epochs", "40"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"in use by another run (process {first.pid})" in err[0], err
    finally:
        first.kill()
        first.wait(timeout=30)
    rd = RunDir(run)  # a killed holder's lock goes with it
    rd.lock()
    rd.unlock()


def test_temporary_files_of_an_interrupted_write_are_removed_and_files_follow_the_umask(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    orphan = run / ".checkpoint.pt.k3j_x9a2.tmp"  # what a kill during a save leaves
    orphan.write_bytes(b"\0" * 100)
    old = os.umask(0o022)
    try:
        pretrain.run(_cfg(epochs=1), run)
    finally:
        os.umask(old)
    assert not orphan.exists()
    for name in ("checkpoint.pt", "config.json", "metrics.json", "log.jsonl"):
        assert stat.S_IMODE((run / name).stat().st_mode) == 0o644, name


# ------------------------------------------------------------------ signals in every phase

class _Killed(Exception):
    pass


@pytest.fixture
def sigterm_kills():
    """SIGTERM's default action, as an exception: the test process survives a run that ignores the contract."""
    def default(signum, frame):
        raise _Killed("SIGTERM's default action: the run would have died with exit code 143")
    old = signal.signal(signal.SIGTERM, default)
    yield
    signal.signal(signal.SIGTERM, old)


def _sigterm_in(monkeypatch, owner, name: str, when=lambda *a: True):
    """Deliver SIGTERM to this process when `owner.name(...)` is called and `when(*args)` holds."""
    real = getattr(owner, name)

    def wrapped(*args, **kw):
        if when(*args):
            signal.raise_signal(signal.SIGTERM)
        return real(*args, **kw)
    monkeypatch.setattr(owner, name, wrapped)


@pytest.mark.parametrize("phase", ["startup", "epoch-0 evaluation", "last epoch"])
def test_sigterm_in_every_phase_of_a_pretraining_run_exits_75_and_resumes(tmp_path, monkeypatch, capsys, sigterm_kills,
                                                                          phase):
    run, calls = tmp_path / "run", {"n": 0}
    with monkeypatch.context() as m:
        if phase == "startup":  # while the data loads
            _sigterm_in(m, pretrain, "train_test_data")
        elif phase == "epoch-0 evaluation":
            _sigterm_in(m, pretrain.PretrainTask, "evaluate", lambda self, epoch: epoch == 0)
        else:  # the last step of the last epoch
            _sigterm_in(m, pretrain.PretrainTask, "step", lambda *a: calls.update(n=calls["n"] + 1) or calls["n"] == 30)
        capsys.readouterr()
        assert _main(run) == 75
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rerun the same command to resume" in err[0], err
    assert not (run / "metrics.json").exists()
    if phase == "last epoch":
        assert load_checkpoint(run / "checkpoint.pt")["step"] == 30
    else:
        assert not (run / "checkpoint.pt").exists()
    assert _main(run) == 0
    assert _epochs(run) == [0, 1, 2, 3]


def test_sigterm_during_the_final_probe_exits_75_and_the_rerun_finishes(tmp_path, monkeypatch, capsys, sigterm_kills):
    from mmae.engine import siamese
    run = tmp_path / "run"
    args = ["--out", str(run), "--method", "simclr", "--dataset", "digits", "--epochs", "1", "--linprobe-epochs", "1",
            "--quiet"]
    with monkeypatch.context() as m:
        _sigterm_in(m, siamese, "linear_probe")
        capsys.readouterr()
        assert siamese.main(args) == 75
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rerun the same command to resume" in err[0], err
    assert (run / "checkpoint.pt").exists() and not (run / "metrics.json").exists()
    assert siamese.main(args) == 0 and (run / "metrics.json").exists()


# ------------------------------------------------------------------ one line and exit code 2

def _one_line(capsys, *needles: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(n in err[0] for n in needles), err


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "meta"])
def test_a_bad_device_is_one_line(tmp_path, capsys, device):
    assert _main(tmp_path / "run", "--device", device) == 2
    _one_line(capsys, f"unknown device {device!r}")


def test_an_output_directory_that_is_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for out in (blocker, blocker / "sub"):
        capsys.readouterr()
        assert _main(out) == 2
        _one_line(capsys, f"cannot use {out} as the run directory")


def test_pretrained_weights_of_another_model_size_are_one_line(tmp_path, capsys):
    from mmae.engine import linprobe
    pretrain.run(_cfg(epochs=1), tmp_path / "pre")
    capsys.readouterr()
    assert linprobe.main(["--out", str(tmp_path / "probe"), "--mini", "--epochs", "1", "--model", "mini-l",
                          "--pretrained", str(tmp_path / "pre" / "checkpoint.pt")]) == 2
    _one_line(capsys, "pretrained weights do not fit the model", "size mismatch")


@pytest.mark.parametrize("victim", ["torch.save", "os.fsync"])
def test_a_full_disk_is_one_line_naming_the_file_and_keeps_the_checkpoint(tmp_path, monkeypatch, capsys, victim):
    import errno
    from mmae.engine import common
    run = tmp_path / "run"
    _crash_at(monkeypatch, 15, _cli_cfg(), run)  # a checkpoint after epoch 1
    before = _files(run)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with monkeypatch.context() as m:
        m.setattr(common.torch, "save", full) if victim == "torch.save" else m.setattr(common.os, "fsync", full)
        capsys.readouterr()
        assert _main(run) == 2
    # fsync fails first on config.json (rewritten at every start), torch.save on the next checkpoint
    failed = run / ("checkpoint.pt" if victim == "torch.save" else "config.json")
    _one_line(capsys, "No space left on device", str(failed))
    assert _files(run) == before and not list(run.glob(".*.tmp"))
    assert _main(run) == 0


def test_convert_names_a_missing_or_damaged_file_in_one_line(tmp_path):
    (tmp_path / "text.pt").write_text("not a checkpoint")
    for path, message in ((tmp_path / "missing.pt", "no checkpoint to convert"), (tmp_path / "text.pt", "damaged")):
        r = subprocess.run([sys.executable, "-m", "mmae.engine.common", "convert", str(path)], env=ENV,
                           capture_output=True, text=True, timeout=120)
        err = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(err) == 1 and message in err[0], r.stderr


# ------------------------------------------------------------------ minor

def test_patch_size_1_with_per_patch_normalisation_is_refused_with_the_reason(tmp_path, capsys):
    assert _main(tmp_path / "run", "--patch-size", "1") == 2
    _one_line(capsys, "patch_size 1", "variance", "0/0")
    assert not (tmp_path / "run").exists()


def test_a_zip_bomb_checkpoint_is_refused_by_its_header_without_inflating(tmp_path):
    import zipfile
    from mmae.engine.common import DamagedCheckpoint
    bomb = tmp_path / "checkpoint.pt"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("archive/data.pkl", "w", force_zip64=True) as f:
            for _ in range(64):
                f.write(bytes(1 << 20))  # 64 MiB of zeros in 64 KiB
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(DamagedCheckpoint, match="member archive/data.pkl is compressed"):
        load_checkpoint(bomb)


def test_a_gzip_idx_file_is_not_inflated_beyond_its_header(tmp_path, monkeypatch):
    import gzip
    from mmae.data import idx
    path = tmp_path / "labels.gz"
    with gzip.open(path, "wb") as f:  # a header for 10 labels, then 256 MiB
        f.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big"))
        for _ in range(256):
            f.write(bytes(1 << 20))
    asked = []
    real = gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, "read", lambda self, n=-1: asked.append(n) or real(self, n))
    with pytest.raises(ValueError, match="longer than its header says: more than 10 data bytes"):
        idx.read_idx(str(path))
    assert all(0 <= n <= 11 for n in asked), asked  # never the whole stream


def test_warnings_are_cut_between_words():
    from mmae.cli import clip
    text = "checkpoint " + "x" * 30 + " is damaged: the CRC of its member archive/data/17 does not match"
    cut = clip(text, 60)
    assert cut.endswith(" ...") and len(cut) <= 64 and text.startswith(cut[:-4])
    assert text.split()[: len(cut[:-4].split())] == cut[:-4].split()  # whole words only
    assert clip(text, 500) == text
