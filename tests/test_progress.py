"""What a person watching a run sees (`mmae.engine.progress`): the progress display when stderr is
not a terminal, `--quiet`, and the TensorBoard event files read back with tensorboard's own reader,
also after a crash and a resume."""
import json
import re
from pathlib import Path

import pytest

from mmae.engine import pretrain
from mmae.engine.progress import Display, fmt_duration, tensorboard_available

needs_tb = pytest.mark.skipif(not tensorboard_available(), reason="tensorboard is not installed (extra mmae[tb])")


def _cfg(**kw):
    # 10 optimiser steps per epoch on the digits
    return pretrain.PretrainConfig.mini(method="mae", warmup_epochs=0, device="cpu", **{"epochs": 2, **kw})


def test_the_display_prints_a_few_lines_per_epoch_with_step_loss_lr_rate_and_eta(tmp_path, capsys):
    pretrain.run(_cfg(log_every=3, tensorboard=False), tmp_path / "run")
    err = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert err[0].startswith("pretrain initialisation: erank")
    for epoch in (1, 2):
        lines = [e for e in err if e.startswith(f"pretrain epoch {epoch} ")]
        assert len(lines) == Display.LINES_PER_EPOCH  # three quarters and the epoch's end
        done = lines[-1]
        assert done.startswith(f"pretrain epoch {epoch} done  step {10 * epoch}/20  loss ")
        rec = next(r for r in records if r.get("epoch") == epoch)
        assert f"loss {rec['loss']:.4g} " in done and f"lr {rec['lr']:.3g} " in done
        assert re.search(r" \d+ img/s  ETA \d+:\d\d ", done)
    # a quarter line shows the loss of the last step record before it (log_every=3: step 3 before step 5)
    quarter = next(e for e in err if e.startswith("pretrain epoch 1 5/10"))
    step3 = next(r for r in records if r.get("step") == 3 and "epoch" not in r)
    assert f"step 5/20  loss {step3['loss']:.4g} " in quarter
    assert len(err) == 1 + 2 * Display.LINES_PER_EPOCH


def test_quiet_prints_only_the_final_metrics(tmp_path, capsys):
    from mmae.engine.pretrain import main
    assert main(["--mini", "--out", str(tmp_path / "run"), "--epochs", "1", "--device", "cpu", "--quiet",
                 "--no-tensorboard"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert json.loads(out)["epochs"] == 1 and len(out.splitlines()) == 1
    assert not list((tmp_path / "run").glob("events.out.tfevents.*"))


def test_durations():
    assert [fmt_duration(s) for s in (0, 59.6, 61, 3723, float("inf"))] == ["0:00", "1:00", "1:01", "1:02:03", "?"]


def _events(run: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


@needs_tb
def test_tensorboard_holds_the_logged_scalars(tmp_path):
    import numpy as np
    run = tmp_path / "run"
    pretrain.run(_cfg(log_every=5, quiet=True), run)
    ev = _events(run)
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [s for s, _ in ev["step/loss"]] == [5, 10, 15, 20]
    assert [s for s, _ in ev["epoch/loss"]] == [10, 20]
    assert [s for s, _ in ev["epoch/erank"]] == [0, 10, 20]   # the initialisation's evaluation at step 0
    for r in records:
        prefix = "step" if "epoch" not in r else "epoch"
        for k in ("loss", "lr"):
            if k in r:   # stored as float32
                assert dict(ev[f"{prefix}/{k}"])[r["step"]] == np.float32(r[k])


@needs_tb
def test_a_resumed_run_writes_no_step_twice(tmp_path, monkeypatch):
    """A crash (as SIGKILL leaves it) after records past the last checkpoint: the resumed run starts
    the event files over from the log cut back to the checkpoint, so every step appears once."""
    run, real, calls = tmp_path / "run", pretrain.PretrainTask.step, {"n": 0}

    def step(self, net, batch):
        calls["n"] += 1
        if calls["n"] == 16:   # epoch 2: its checkpoint is at step 10, records at 12 and 14 are logged
            raise RuntimeError("killed")
        return real(self, net, batch)
    monkeypatch.setattr(pretrain.PretrainTask, "step", step)
    with pytest.raises(RuntimeError, match="killed"):
        pretrain.run(_cfg(log_every=2, quiet=True, ckpt_minutes=0.0), run)
    assert [s for s, _ in _events(run)["step/loss"]] == [2, 4, 6, 8, 10, 12, 14]
    monkeypatch.setattr(pretrain.PretrainTask, "step", real)
    pretrain.run(_cfg(log_every=2, quiet=True, ckpt_minutes=0.0), run)
    ev = _events(run)
    assert [s for s, _ in ev["step/loss"]] == list(range(2, 21, 2))
    assert [s for s, _ in ev["epoch/loss"]] == [10, 20]
    assert len(list(run.glob("events.out.tfevents.*"))) == 1


@needs_tb
def test_tensorboard_holds_the_matrix_information_curves(tmp_path):
    """The Siamese epoch records' matrix-information quantities (mmae.engine.matrix_logging), under
    `matrix/`, at the epoch's step, equal to the log's values in float32."""
    import numpy as np
    from mmae.engine import siamese
    run = tmp_path / "run"
    siamese.run(siamese.SiameseConfig.mini(method="barlow", epochs=1, linprobe_epochs=0, device="cpu", quiet=True), run)
    ev = _events(run)
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    keys = [k for k in records[-1] if k.startswith(("feat_", "sample_", "bound_"))]
    assert {"feat_mi_a2", "sample_mi_a2", "feat_js", "bound_4_3_bt"} <= set(keys)
    assert [r["epoch"] for r in records] == [0, 1]   # the initialisation at step 0, the epoch at step 5
    for k in keys:
        assert ev[f"matrix/{k}"] == [(r["step"], np.float32(r[k])) for r in records], k
