"""Running a target's stages: one at a time or several in parallel worker processes (each stage
after those it reads), every finished stage recorded with where, by which command and in how long
it ran (`provenance.json`). A finished stage (its `metrics.json` exists) is never redone; an
interrupted one resumes from its checkpoint.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Callable

from ..engine.common import RunDir, write_json_atomic
from ..engine.stop import Preempted, StopSignals
from .targets import _engine_class, imagenet_root, Stage, Target

__all__ = ["PROVENANCE", "machine", "provenance", "run_target", "dependencies", "auto_jobs", "run_stage"]


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


def _record_provenance(stage: Stage, seconds: float, device: str, command: str | None, jobs: int = 1) -> None:
    import datetime
    import torch
    from .. import dist
    if dist.is_main():
        stage.run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(stage.run_dir / PROVENANCE, {
            "machine": machine(device, jobs), "torch": torch.__version__, "command": command,
            "seconds": round(seconds, 1),
            "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")})


def provenance(target: Target) -> dict:
    """Where the target's stages ran, by which commands, and their summed wall-clock time, from the
    run directories' records (a stage run before records were kept counts as unrecorded)."""
    recs = []
    for s in target.stages:
        path = s.run_dir / PROVENANCE
        if path.exists():
            recs.append(json.loads(path.read_text()))
    uniq = lambda key: list(dict.fromkeys(r[key] for r in recs if r.get(key)))  # noqa: E731
    return {"machines": uniq("machine"), "commands": uniq("command"), "torch": uniq("torch"),
            "seconds": round(sum(r["seconds"] for r in recs), 1), "recorded": len(recs), "stages": len(target.stages),
            "finished": max((r["finished"] for r in recs), default=None)}


def run_target(target: Target, *, device: str = "auto", log: Callable[[str], None] = print,
               runner: Callable[[Stage, str], dict] | None = None, command: str | None = None,
               jobs: int = 1) -> list[dict]:
    """Run every unfinished stage and return the metrics of all of them, in the target's order; each
    stage run records its machine, `command` and wall-clock time in its run directory (`PROVENANCE`).

    `jobs > 1` runs up to that many stages at a time, each in its own worker process with an equal
    share of torch's threads, and a stage only once the stages it reads have finished
    (`dependencies`). On a CPU the small models of the mini and small scales spend much of a step
    in per-operation overhead that a second thread barely shortens, so two one-thread stages on two
    cores finish about 1.5 times sooner than two two-thread stages one after the other. A stage's
    result does not depend on which worker runs it. SIGTERM or SIGUSR1 to this process reaches every
    running stage, which writes its checkpoint; the first error of a stage stops the others the same
    way and is raised here. `runner` must then be a module-level function (it is pickled)."""
    runner = runner or run_stage
    n = len(target.stages)
    results: list[dict | None] = [None] * n
    head = lambda i: f"[{target.key} {i + 1}/{n}] {target.stages[i].kind} {target.stages[i].run_dir}"  # noqa: E731
    if jobs > 1 and sum(not st.done for st in target.stages) > 1:
        _run_parallel(target, results, head, device, log, runner, command, jobs)
        return results
    for i, st in enumerate(target.stages):
        if st.done:
            log(f"{head(i)}: finished earlier, kept")
            results[i] = RunDir(st.run_dir).metrics()
            continue
        log(f"{head(i)}: running")
        results[i], seconds = _run_recorded(runner, st, device, command)
        log(f"{head(i)}: done in {seconds:.1f} s")
    return results


def _run_recorded(runner, stage: Stage, device: str, command: str | None, jobs: int = 1) -> tuple[dict, float]:
    """Run one stage and record where and in how long (in the process that ran it)."""
    t0 = time.perf_counter()
    metrics = runner(stage, device)
    seconds = time.perf_counter() - t0
    _record_provenance(stage, seconds, device, command, jobs)
    return metrics, seconds


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


def _in_worker(runner, stage: Stage, device: str, command: str | None, jobs: int) -> tuple[dict, float]:
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


def _run_parallel(target: Target, results: list, head, device: str, log, runner, command, jobs: int) -> None:
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
                        log(f"{head(i)}: finished earlier, kept")
                        results[i] = RunDir(stages[i].run_dir).metrics()
                        finished.add(i)
                        continue
                    log(f"{head(i)}: running")
                    running[pool.submit(_in_worker, runner, stages[i], device, command, jobs)] = i
                if relay.received is not None and not running:
                    raise Preempted("stopped by signal between stages; every finished stage is kept; rerun the same command "
                                    "to resume")
                if not running:
                    if pending:   # cannot happen: dependencies point to earlier stages of the target
                        raise RuntimeError(f"no stage of {target.key} can start: {head(pending[0])} waits for a stage "
                                           f"that never runs")
                    break
                done, _ = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
                for f in done:
                    i = running.pop(f)
                    results[i], seconds = f.result()
                    finished.add(i)
                    log(f"{head(i)}: done in {seconds:.1f} s")
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
    config = _engine_config(stage, device)
    if stage.kind == "pixels":
        return baselines.run_pixel_probe(config, stage.run_dir)
    return importlib.import_module(f"mmae.engine.{stage.kind}").run(config, stage.run_dir)


def _engine_config(stage: Stage, device: str):
    """The engine's config dataclass for a stage (`batch_size` is the global batch everywhere)."""
    cfg = dict(stage.config, device=device)
    root = cfg.get("data_root") or ""
    if cfg["dataset"] == "imagenet" and root:
        root = str(imagenet_root(root))
    cfg["data_root"] = root
    cls = _engine_class(stage.kind)
    return cls.build(cfg.pop("recipe", "paper"), cfg["dataset"] == "digits", **cfg)
