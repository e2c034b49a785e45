"""What a person watching a run sees: a progress display on stderr and TensorBoard event files.

`RunLog` is the training loop's log (`mmae.engine.loop.fit`): every record goes to `log.jsonl`
(`JsonlLogger`, the run's source of truth), to the `Display` and to the `Board`, all on the main
rank only.

- **`Display`**: per epoch, on a terminal a live tqdm bar (step, the last known loss terms, lr,
  images/s and the run's ETA) and one line when the epoch ends; elsewhere (a log file, a scheduler's
  output) plain lines, a few per epoch: one at each quarter of the epoch and one when it ends.
  `quiet` shows nothing. The display never synchronises with the device: it counts steps and reads
  the clock on the host, and shows loss values only from records the loop has already copied to the
  host (the epoch record, and the step records of `log_every`), so on a GPU images/s and the ETA
  measure the host's issue rate, which the device's queue keeps within a few steps of its own.
- **`Board`**: the logged scalars as TensorBoard event files beside `log.jsonl` (`tensorboard
  --logdir runs/`): step records under `step/`, epoch records under `epoch/`, the matrix-information
  curves of `mmae.engine.matrix_logging` under `matrix/`, each at its record's optimiser step. On
  resume the event files are written again from the log, which the loop has cut back to the
  restored position (`JsonlLogger.truncate`), so no step appears twice in them.
"""
from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

from mmae import dist
from mmae.engine.common import JsonlLogger

__all__ = ["Display", "Board", "RunLog", "tensorboard_available", "display_mode", "fmt_duration"]

# record keys that are positions or bookkeeping, not curves
_NOT_SCALARS = ("epoch", "step")
# the matrix-information monitor's quantities (mmae.engine.matrix_logging)
_MATRIX = ("feat_", "sample_", "bound_", "sc_", "bt_")


def fmt_duration(seconds: float) -> str:
    """`1:02:03` (`h:mm:ss`), `4:05` (`m:ss`); `?` when not known."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    h, m = divmod(s, 3600)
    m, s = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _is_loss(key: str) -> bool:
    return key == "loss" or key.endswith("_loss")


def _terms(record: dict) -> str:
    """The loss terms of a record, `loss 0.1234 reg_loss 0.05`."""
    return " ".join(f"{k} {v:.4g}" for k, v in record.items() if _is_loss(k) and _num(v) is not None)


def display_mode(quiet: bool, bar: bool) -> str:
    """`off` (`quiet`, or a process other than the main one), `bar` (stderr is a terminal, or
    `bar`) or `lines`."""
    if quiet or not dist.is_main():
        return "off"
    return "bar" if bar or sys.stderr.isatty() else "lines"


class Display:
    """The per-epoch progress display of `fit` (see the module docstring). `steps`: optimiser steps
    per epoch; `total`: of the run; `batch`: images per optimiser step (all processes)."""

    LINES_PER_EPOCH = 4   # plain lines: one at each quarter of an epoch (the last is the epoch's own line)

    def __init__(self, desc: str, steps: int, total: int, batch: int, mode: str = "lines", stream=None):
        self.desc, self.steps, self.total, self.batch, self.mode = desc, steps, total, batch, mode
        self.stream = stream or sys.stderr
        self.last: dict = {}          # the latest loss terms and lr seen in a record
        self.bar = None
        self.t_run = self.done = None  # clock and steps at the first step this process ran

    def begin_epoch(self, epoch: int, start: int) -> None:
        """Epoch `epoch` (0-based) starts at its step `start` (> 0 after a mid-epoch resume)."""
        self.epoch, self.s = epoch, start
        self.t0, self.s0 = time.perf_counter(), start
        marks = range(1, self.LINES_PER_EPOCH)
        self.marks = {math.ceil(self.steps * k / self.LINES_PER_EPOCH) for k in marks} - {0, self.steps}
        if self.t_run is None:
            self.t_run, self.done = self.t0, epoch * self.steps + start
        if self.mode == "bar":
            from tqdm.auto import tqdm
            self.close()
            self.bar = tqdm(total=self.steps, initial=start, desc=f"{self.desc} {epoch + 1}", leave=False,
                            dynamic_ncols=True, file=self.stream)

    def _rate_eta(self) -> tuple[float, float]:
        """Images/s in this epoch so far, and the ETA of the run from its mean step time so far."""
        now = time.perf_counter()
        ips = (self.s - self.s0) * self.batch / max(now - self.t0, 1e-9)
        it = self.epoch * self.steps + self.s
        ran = it - self.done
        eta = (now - self.t_run) / ran * (self.total - it) if ran > 0 else math.inf
        return ips, eta

    def _status(self) -> str:
        ips, eta = self._rate_eta()
        it = self.epoch * self.steps + self.s
        lr = f"lr {self.last['lr']:.3g}" if "lr" in self.last else ""
        parts = [f"step {it}/{self.total}", _terms(self.last), lr, f"{ips:.0f} img/s", f"ETA {fmt_duration(eta)}"]
        return "  ".join(p for p in parts if p)

    def tick(self) -> None:
        """After each optimiser step: host counters and the clock only."""
        self.s += 1
        if self.mode == "bar":
            self.bar.update(1)
        elif self.mode == "lines" and self.s in self.marks:
            self._write(f"{self.desc} epoch {self.epoch + 1} {self.s}/{self.steps}  {self._status()}")

    def record(self, record: dict) -> None:
        """A log record (already on the host): its loss terms and lr; an epoch record ends the epoch."""
        if self.mode == "off":
            return
        self.last.update({k: v for k, v in record.items() if k == "lr" or _is_loss(k)})
        if "epoch" not in record:
            if self.bar is not None:
                self.bar.set_postfix_str(self._status(), refresh=False)
            return
        if record["epoch"] == 0:
            self._write(f"{self.desc} initialisation: " + _evaluation(record))
            return
        ev = _evaluation(record)
        line = (f"{self.desc} epoch {record['epoch']} done  {self._status()}  "
                f"{record.get('epoch_s', 0):.1f} s{'  ' + ev if ev else ''}")
        self.close()
        self._write(line)

    def _write(self, line: str) -> None:
        if self.mode == "off":
            return
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _evaluation(record: dict, keys=("acc", "top1", "knn", "erank", "probe")) -> str:
    """A few evaluation values of an epoch record (accuracies, effective rank), for its line."""
    return "  ".join(f"{k} {v:.4g}" for k, v in record.items()
                     if any(k.startswith(p) or k.endswith(p) for p in keys) and _num(v) is not None)


def tensorboard_available() -> bool:
    """Whether the `tensorboard` package (optional extra `mmae[tb]`) is installed."""
    import importlib.util
    return importlib.util.find_spec("tensorboard") is not None


def tag(key: str, record: dict) -> str:
    """A record key's TensorBoard tag (see the module docstring)."""
    if "epoch" not in record:
        return f"step/{key}"
    return f"matrix/{key}" if key.startswith(_MATRIX) else f"epoch/{key}"


class Board:
    """TensorBoard event files of a run directory (see the module docstring)."""

    def __init__(self, run_dir: str | os.PathLike):
        self.dir = Path(run_dir)
        self.writer = None

    def rewrite(self, records: list[dict]) -> None:
        """Start the event files over with `records` (the log as the loop restored it)."""
        from torch.utils.tensorboard import SummaryWriter
        self.close()
        for f in self.dir.glob("events.out.tfevents.*"):
            f.unlink()
        self.writer = SummaryWriter(log_dir=str(self.dir))
        for r in records:
            self.add(r)
        self.writer.flush()

    def add(self, record: dict) -> None:
        step = int(record.get("step", 0))
        for k, v in record.items():
            v = _num(v)
            if k not in _NOT_SCALARS and v is not None:
                self.writer.add_scalar(tag(k, record), v, step)
        self.writer.flush()   # at most a few records per epoch: a crash loses none of them

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class RunLog:
    """The training loop's log: `log.jsonl` (`JsonlLogger`), the `Display` and the `Board`
    (None: no event files), written on the main rank only."""

    def __init__(self, path, display: Display, board: Board | None = None):
        self.jsonl, self.display, self.board = JsonlLogger(path), display, board
        self.enabled = self.jsonl.enabled
        if not self.enabled:
            self.board = None

    def log(self, record: dict) -> None:
        self.jsonl.log(record)
        if self.enabled:
            self.display.record(record)
            if self.board is not None:
                self.board.add(record)

    def truncate(self, step: int | None) -> None:
        """`JsonlLogger.truncate`, and the event files written again from what it keeps."""
        self.jsonl.truncate(step)
        if self.board is not None:
            self.board.rewrite(self.jsonl.read() if step is not None else [])

    def read(self) -> list[dict]:
        return self.jsonl.read()

    def close(self) -> None:
        self.display.close()
        if self.board is not None:
            self.board.close()
