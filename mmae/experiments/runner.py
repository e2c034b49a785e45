"""Running a target's stages: one at a time or several in parallel worker processes (each stage
after those it reads), every finished stage recorded with where, by which command and in how long
it ran (`provenance.json`). A finished stage (its `metrics.json` exists) is never redone; an
interrupted one resumes from its checkpoint.

What the person running it sees is `Status`: on a terminal one live line per running stage and one
for the target (stages finished of all, elapsed time, and an ETA from the cost model,
`mmae.experiments.cost.stage_seconds`, scaled by how long the stages run so far took against it);
elsewhere one plain line per finished stage, and a line every ten minutes while a stage runs. The
engines' own displays are off (their logs and TensorBoard files are in the run directories). A
warning of mmae's loggers is shown the first time, and how many stages repeated it in the summary
that ends the target (stages run, kept, failed, the time, and where the run directories are).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from ..engine.common import RunDir, write_json_atomic
from ..engine.stop import Preempted, StopSignals
from .cost import stage_seconds
from .targets import _engine_class, imagenet_root, Stage, Target

__all__ = ["PROVENANCE", "machine", "source_revision", "environment", "provenance", "run_target", "dependencies", "auto_jobs", "run_stage", "Status"]


PROVENANCE = "provenance.json"   # in a run directory: where, by which command and in how long it ran


def machine(device: str = "auto", jobs: int = 1) -> str:
    """The hardware a stage runs on, in words: the GPU's name and how many processes, or the CPU's
    model, the threads torch uses and how many stages ran at a time (`run_target`'s `jobs`)."""
    import platform
    import torch
    from .. import dist
    world = dist.get_world_size()
    procs = f", {world} processes" if world > 1 else ""
    if device != "cpu" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()}{procs}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    threads = torch.get_num_threads()
    at_once = f", {jobs} stages at a time" if jobs > 1 else ""
    return f"CPU {cpu}, {threads} thread{'s' if threads > 1 else ''}{procs}{at_once}"


def source_revision() -> dict:
    """The git revision of the code that runs and whether its tree had uncommitted changes
    (`{"revision": None}` outside a git checkout, e.g. an installed wheel)."""
    import subprocess
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        changes = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"revision": None, "dirty": None}
    return {"revision": rev, "dirty": bool(changes.strip())}


def environment(device: str = "auto", jobs: int = 1) -> dict:
    """What a result depends on besides its configuration: the code's revision, the library
    versions, the hardware and the threads (see "Determinism" in `docs/reproducing.md`)."""
    import platform
    import numpy
    import torch
    return {"machine": machine(device, jobs), **source_revision(), "python": platform.python_version(),
            "torch": torch.__version__, "numpy": numpy.__version__, "threads": torch.get_num_threads(),
            "device": "cuda" if device != "cpu" and torch.cuda.is_available() else "cpu",
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def _utc(t: float) -> str:
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _record_provenance(stage: Stage, seconds: float, device: str, command: str | None, jobs: int = 1) -> None:
    from .. import dist
    if dist.is_main():
        stage.run_dir.mkdir(parents=True, exist_ok=True)
        end = time.time()
        write_json_atomic(stage.run_dir / PROVENANCE, {
            **environment(device, jobs), "command": command, "seconds": round(seconds, 1),
            "started": _utc(end - seconds), "finished": _utc(end)})


def provenance(target: Target) -> dict:
    """Where, with which code and by which commands the target's stages ran, and their summed
    wall-clock time, from the run directories' records (a stage run before records were kept counts
    as unrecorded; older records lack the revision and versions)."""
    recs = []
    for s in target.stages:
        path = s.run_dir / PROVENANCE
        if path.exists():
            recs.append(json.loads(path.read_text()))
    uniq = lambda key: list(dict.fromkeys(r[key] for r in recs if r.get(key) is not None))  # noqa: E731
    return {"machines": uniq("machine"), "commands": uniq("command"), "revisions": uniq("revision"),
            "dirty": any(r.get("dirty") for r in recs), "torch": uniq("torch"), "numpy": uniq("numpy"),
            "threads": uniq("threads"), "devices": uniq("device"), "cpu_capability": uniq("cpu_capability"),
            "seconds": round(sum(r["seconds"] for r in recs), 1), "recorded": len(recs), "stages": len(target.stages),
            "started": min((r["started"] for r in recs if r.get("started")), default=None),
            "finished": max((r["finished"] for r in recs), default=None)}


def _hms(seconds: float) -> str:
    from ..engine.progress import fmt_duration
    return fmt_duration(seconds)


def stage_label(stage: Stage) -> str:
    """A stage in a few words: its kind and what it measures (`pretrain mmae vit_base seed 0`)."""
    words = [str(v) if k != "seed" else f"seed {v}" for k, v in stage.labels.items()
             if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
    return " ".join([stage.kind, *words])


class Status:
    """What `run_target` shows of a target's stages (see the module docstring). `live`: redraw the
    lines in place (default: when `log` is `print` and stdout is a terminal); `verbose`: every
    stage's start and end with its run directory, as plain lines."""

    HEARTBEAT_S = 600.0   # plain lines: a line this often while a stage runs

    def __init__(self, target: Target, log: Callable[[str], None] = print, live: bool | None = None,
                 verbose: bool = False, jobs: int = 1, gpu: bool = False, world_size: int = 1):
        self.target, self.log, self.verbose, self.jobs = target, log, verbose, jobs
        self.live = (log is print and sys.stdout.isatty()) if live is None else live
        self.cost = [stage_seconds(st, gpu, world_size) for st in target.stages]
        self.t0 = time.monotonic()
        self.running: dict[int, float] = {}        # stage -> when it started
        self.ran, self.kept, self.failed, self.took = [], [], [], []
        self.warnings: dict[str, list] = {}        # a warning's text (without its details) -> [first line, count]
        self.drawn, self.lock, self.stop = 0, threading.Lock(), threading.Event()
        self.thread = threading.Thread(target=self._refresh, daemon=True, name="mmae-status")
        self.thread.start()

    def head(self, i: int) -> str:
        return f"[{self.target.key} {i + 1}/{len(self.target.stages)}] {stage_label(self.target.stages[i])}"

    def eta(self) -> float:
        """Seconds left: the cost model's estimate of the stages not finished, scaled by the time the
        stages run so far took against their estimate, less what the running ones have done, over
        `jobs` stages at a time."""
        est = sum(self.cost[i] for i in self.ran)
        ratio = sum(self.took) / est if est > 0 and sum(self.took) > 0 else 1.0
        now = time.monotonic()
        left = sum(c for i, c in enumerate(self.cost) if i not in self.ran and i not in self.kept) * ratio
        return max(0.0, left - sum(now - t for t in self.running.values())) / self.jobs

    def overall(self) -> str:
        n = len(self.target.stages)
        return (f"[{self.target.key}] {len(self.ran) + len(self.kept)}/{n} stages done"
                f"{f', {len(self.running)} running' if self.running else ''}  elapsed "
                f"{_hms(time.monotonic() - self.t0)}  ETA ~{_hms(self.eta())}")

    def _print(self, line: str) -> None:
        with self.lock:
            if self.live:
                self._clear()
                sys.stdout.write(line + "\n")
                self._draw()
            else:
                self.log(line)

    def _clear(self) -> None:
        """Erase the live lines (the cursor is at the end of the last)."""
        if self.drawn:
            sys.stdout.write("\r" + (f"\x1b[{self.drawn - 1}A" if self.drawn > 1 else "") + "\x1b[J")
        self.drawn = 0

    def _draw(self) -> None:
        now = time.monotonic()
        lines = [f"  {self.head(i)}  running {_hms(now - t)}" for i, t in self.running.items()] + [self.overall()]
        sys.stdout.write("\n".join(lines))
        sys.stdout.flush()
        self.drawn = len(lines)

    def _refresh(self) -> None:
        last = time.monotonic()
        while not self.stop.wait(1.0):
            if self.live:
                with self.lock:
                    self._clear()
                    self._draw()
            elif self.running and time.monotonic() - last >= self.HEARTBEAT_S:
                last = now = time.monotonic()
                with self.lock:   # `running` changes in the thread that runs the stages
                    self.log("  ".join(f"{self.head(i)} running {_hms(now - t)}" for i, t in self.running.items())
                             + "  " + self.overall())

    def started(self, i: int) -> None:
        with self.lock:
            self.running[i] = time.monotonic()
        if self.verbose:
            self._print(f"{self.head(i)} {self.target.stages[i].run_dir}: running")

    def finished(self, i: int, seconds: float, warnings: list[tuple[str, str]] = ()) -> None:
        with self.lock:
            self.running.pop(i, None)
            self.ran.append(i)
            self.took.append(seconds)
        for key, text in warnings:
            if key not in self.warnings:
                self._print(f"warning: {text}  (shown once; the summary counts the stages that repeat it)")
                self.warnings[key] = [text, 0]
            self.warnings[key][1] += 1
        where = f" {self.target.stages[i].run_dir}" if self.verbose else ""
        self._print(f"{self.head(i)}{where}: done in {_hms(seconds)}  " + self.overall().split("] ", 1)[1])

    def skipped(self, i: int) -> None:
        self.kept.append(i)
        if self.verbose:
            self._print(f"{self.head(i)} {self.target.stages[i].run_dir}: finished earlier, kept")

    def close(self, error: BaseException | None = None) -> None:
        """End the live lines and print the summary (after an error: the stages that were running
        failed, or, after a stop signal, were interrupted)."""
        self.stop.set()
        self.thread.join()
        if error is not None:
            self.failed = sorted(self.running)
        self.running.clear()
        with self.lock:
            if self.live:
                self._clear()
        for text, count in self.warnings.values():
            self.log(f"warning in {count} stage{'s' if count > 1 else ''}: {text}")
        dirs = [st.run_dir for st in self.target.stages]
        root = os.path.commonpath([str(d) for d in dirs]) if dirs else ""
        how = "interrupted" if isinstance(error, (Preempted, KeyboardInterrupt)) else "failed"
        failed = f", {len(self.failed)} {how} ({', '.join(stage_label(self.target.stages[i]) for i in self.failed)})" \
            if self.failed else ""
        self.log(f"[{self.target.key}] {len(self.ran)} stage{'s' if len(self.ran) != 1 else ''} run, {len(self.kept)} "
                 f"kept from earlier runs{failed}, in {_hms(time.monotonic() - self.t0)}; run directories under {root}")


class _Warnings(logging.Handler):
    """Collects the warnings of mmae's loggers while a stage runs, as (template, text) pairs."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((str(record.msg), record.getMessage()))


@contextlib.contextmanager
def _collect_warnings():
    logger, handler = logging.getLogger("mmae"), _Warnings()
    propagate, logger.propagate = logger.propagate, False
    logger.addHandler(handler)
    try:
        yield handler.seen
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate



def run_target(target: Target, *, device: str = "auto", log: Callable[[str], None] = print,
               runner: Callable[[Stage, str], dict] | None = None, command: str | None = None,
               jobs: int = 1, verbose: bool = False, live: bool | None = None) -> list[dict]:
    """Run every unfinished stage and return the metrics of all of them, in the target's order; each
    stage run records its machine, `command` and wall-clock time in its run directory (`PROVENANCE`).
    What it shows goes through `log` (`Status`: `verbose`, `live`).

    `jobs > 1` runs up to that many stages at a time, each in its own worker process with an equal
    share of torch's threads, and a stage only once the stages it reads have finished
    (`dependencies`). On a CPU the small models of the mini and small scales spend much of a step
    in per-operation overhead that a second thread barely shortens, so two one-thread stages on two
    cores finish about 1.5 times sooner than two two-thread stages one after the other. A stage's
    result does not depend on which worker runs it. SIGTERM or SIGUSR1 to this process reaches every
    running stage, which writes its checkpoint; the first error of a stage stops the others the same
    way and is raised here. `runner` must then be a module-level function (it is pickled)."""
    import torch
    from .. import dist
    runner = runner or run_stage
    n = len(target.stages)
    results: list[dict | None] = [None] * n
    gpu = device != "cpu" and torch.cuda.is_available()
    status = Status(target, log, live, verbose, jobs, gpu, dist.get_world_size())
    error = None
    try:
        if jobs > 1 and sum(not st.done for st in target.stages) > 1:
            _run_parallel(target, results, status, device, runner, command, jobs)
            return results
        for i, st in enumerate(target.stages):
            if st.done:
                status.skipped(i)
                results[i] = RunDir(st.run_dir).metrics()
                continue
            status.started(i)
            results[i], seconds, warnings = _run_recorded(runner, st, device, command)
            status.finished(i, seconds, warnings)
        return results
    except BaseException as e:
        error = e
        raise
    finally:
        status.close(error)


def _run_recorded(runner, stage: Stage, device: str, command: str | None,
                  jobs: int = 1) -> tuple[dict, float, list[tuple[str, str]]]:
    """Run one stage and record where and in how long (in the process that ran it); with the
    warnings of mmae's loggers it raised (`Status` shows them)."""
    t0 = time.perf_counter()
    with _collect_warnings() as warnings:
        metrics = runner(stage, device)
    seconds = time.perf_counter() - t0
    _record_provenance(stage, seconds, device, command, jobs)
    return metrics, seconds, warnings


def dependencies(stages: list[Stage]) -> list[set[int]]:
    """For each stage, the indices of the stages whose run directories its configuration names (a
    probe or a fine-tuning reads its pretraining's checkpoint, a probe of the random encoder its
    initialisation): those must finish first."""
    dirs = [Path(s.run_dir) for s in stages]
    out = []
    for s in stages:
        paths = [Path(v) for v in s.config.values() if isinstance(v, str) and v]
        out.append({j for j, d in enumerate(dirs) if any(p == d or d in p.parents for p in paths)})
    return out


def auto_jobs(device: str) -> int:
    """How many stages `reproduce.py --jobs auto` runs at a time: one per thread torch would use
    (at most 8) on a CPU, one on a GPU or under `torchrun`."""
    import torch
    from .. import dist
    if dist.get_world_size() > 1 or (device != "cpu" and torch.cuda.is_available()):
        return 1
    return max(1, min(8, torch.get_num_threads()))


_WORKER = {"stop": False, "busy": False}   # in a stage worker: a stop was asked; a stage is running


def _worker_init(threads: int, parent: int) -> None:
    """A stage worker: its share of the threads; Ctrl-C is the parent's to handle (it asks the
    running stages to checkpoint); a stop signal outside a stage's training loop is remembered (the
    worker then starts no stage, and ends when the parent shuts the pool down); and a watch on the
    parent, so that no orphan keeps writing a run directory that a rerun resumes."""
    import signal
    import threading
    import torch
    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for s in StopSignals.SIGNALS:
        signal.signal(s, lambda signum, frame: _WORKER.update(stop=True))
    threading.Thread(target=_end_with, args=(parent,), daemon=True, name="mmae-parent-watch").start()


def _in_worker(runner, stage: Stage, device: str, command: str | None, jobs: int) -> tuple[dict, float, list]:
    if _WORKER["stop"]:
        raise Preempted(f"stopped by signal before {stage.run_dir} started")
    _WORKER["busy"] = True
    try:
        return _run_recorded(runner, stage, device, command, jobs)
    finally:
        _WORKER["busy"] = False


def _end_with(parent: int, period: float = 0.5) -> None:
    """Once `parent` has died (even by SIGKILL), SIGTERM this worker every `period` seconds until its
    stage, if one runs, has written its checkpoint and returned; then end the worker."""
    import signal
    while os.getppid() == parent:
        time.sleep(period)
    while True:
        if not _WORKER["busy"]:
            os._exit(1)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(period)


class _Relay(StopSignals):
    """In the parent of the stage workers, `StopSignals` that also pass SIGTERM / SIGUSR1 on to
    every worker: a stage in its training loop then writes its checkpoint and raises `Preempted`;
    elsewhere the worker remembers it (so the signal is sent again until the stage has ended)."""

    @staticmethod
    def stop_workers(signum: int | None = None) -> None:
        import multiprocessing
        import signal
        for proc in multiprocessing.active_children():
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signum or signal.SIGTERM)

    def _handle(self, signum, frame):
        super()._handle(signum, frame)
        self.stop_workers(signum)


def _run_parallel(target: Target, results: list, status: Status, device: str, runner, command, jobs: int) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    import torch
    stages, deps = target.stages, dependencies(target.stages)
    pending, running, finished = list(range(len(stages))), {}, set()
    threads = max(1, torch.get_num_threads() // jobs)
    # spawn, not fork: a forked child of a process whose OpenMP threads have run can deadlock
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(threads, os.getpid()))
    error: BaseException | None = None
    with pool, _Relay() as relay:
        try:
            while pending or running:
                for i in [i for i in pending if deps[i] <= finished]:
                    if relay.received is not None or len(running) >= jobs:
                        break
                    pending.remove(i)
                    if stages[i].done:
                        status.skipped(i)
                        results[i] = RunDir(stages[i].run_dir).metrics()
                        finished.add(i)
                        continue
                    status.started(i)
                    running[pool.submit(_in_worker, runner, stages[i], device, command, jobs)] = i
                if relay.received is not None and not running:
                    raise Preempted("stopped by signal between stages; every finished stage is kept; rerun the same command "
                                    "to resume")
                if not running:
                    if pending:   # cannot happen: dependencies point to earlier stages of the target
                        raise RuntimeError(f"no stage of {target.key} can start: {status.head(pending[0])} waits "
                                           f"for a stage that never runs")
                    break
                done, _ = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
                for f in done:
                    i = running.pop(f)
                    results[i], seconds, warnings = f.result()
                    finished.add(i)
                    status.finished(i, seconds, warnings)
        except BaseException as e:   # a stage failed, a signal, or Ctrl-C: the others checkpoint and stop
            error = e
            while running:   # until every running stage has checkpointed and returned
                relay.stop_workers()
                done, _ = wait(running, timeout=1.0)
                for f in done:
                    running.pop(f)
            if relay.received is not None:   # whichever stage answered first, or a pool broken by it
                error = Preempted(f"stopped by signal {relay.received}: the running stages wrote their checkpoints; rerun "
                                  f"the same command to resume")
    if error is not None:
        raise error


def run_stage(stage: Stage, device: str = "auto") -> dict:
    """Hand one stage to its engine (each engine resumes from the run directory's checkpoint)."""
    import importlib
    from .. import baselines
    if stage.kind == "init":
        return baselines.write_random_init(stage.run_dir, **{k: stage.config[k] for k in ("dataset", "model",
                                                                                         "patch_size", "seed")})
    config = _engine_config(stage, device)   # quiet: `Status` shows the stages
    if stage.kind == "pixels":
        return baselines.run_pixel_probe(config, stage.run_dir)
    return importlib.import_module(f"mmae.engine.{stage.kind}").run(config, stage.run_dir)


def _engine_config(stage: Stage, device: str):
    """The engine's config dataclass for a stage (`batch_size` is the global batch everywhere)."""
    cfg = dict(stage.config, device=device, quiet=True)
    root = cfg.get("data_root") or ""
    if cfg["dataset"] == "imagenet" and root:
        root = str(imagenet_root(root))
    cfg["data_root"] = root
    cls = _engine_class(stage.kind)
    return cls.build(cfg.pop("recipe", "paper"), cfg["dataset"] == "digits", **cfg)
