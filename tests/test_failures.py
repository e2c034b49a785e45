"""What happens when things go wrong (docs/failures.md): faults injected into real runs (a torn log
line, a checkpoint that fails to load, non-finite weights, a full disk, two runs in one directory,
signals in every phase) and what each leaves behind."""
import json
import signal
from pathlib import Path

import pytest
import torch

from mmae.engine import pretrain
from mmae.engine.common import load_checkpoint


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


def test_a_crash_before_the_first_checkpoint_leaves_one_epoch_0_record(tmp_path, monkeypatch):
    run = tmp_path / "run"
    real, calls = pretrain.PretrainTask.step, {"n": 0}

    def crash_at_3(self, net, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the node went away")
        return real(self, net, batch)
    for _ in range(2):  # two crashes in the first epoch, after the evaluation of the initialisation
        calls["n"] = 0
        with monkeypatch.context() as m, pytest.raises(RuntimeError, match="went away"):
            m.setattr(pretrain.PretrainTask, "step", crash_at_3)
            pretrain.run(_cfg(), run)
        assert _epochs(run) == [0] and not (run / "checkpoint.pt").exists()
    pretrain.run(_cfg(), run)
    assert _epochs(run) == [0, 1, 2]
