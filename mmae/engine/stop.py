"""How a run stops before its end: the exceptions that end it, each with its exit code on the
command line (`mmae.cli`), and the handler that turns SIGTERM / SIGUSR1 into a request to stop.

It sits below the modules that raise them (`mmae.engine.common`'s guard, `mmae.engine.loop`) and
those that turn them into exit codes (`mmae.engine.config.engine_main`, `reproduce.py`), so that
none of those imports another for them.
"""
from __future__ import annotations

import contextlib
import signal

from mmae.cli import EXIT_DIVERGED, EXIT_PREEMPTED

__all__ = ["NonFiniteLoss", "Preempted", "StopSignals"]


class NonFiniteLoss(RuntimeError):
    """The loss, the weights or the optimiser's state became non-finite; no checkpoint was written
    over the last good one."""
    exit_code = EXIT_DIVERGED


class Preempted(BaseException):
    """The run stopped on SIGTERM / SIGUSR1 after writing its checkpoint; rerun to resume. Like
    `KeyboardInterrupt`, not an `Exception`: no handler of errors takes a stop for one."""
    exit_code = EXIT_PREEMPTED


class StopSignals:
    """Turns SIGTERM and SIGUSR1 into a request to stop after the current step (a context manager;
    the previous handlers come back on exit). Outside the main thread it does nothing.

    `immediate`: raise `Preempted` at once instead, where no step is under way and nothing is left
    to write (a run's start, its final evaluation): what the command line wraps a whole run in, so
    that every phase of it ends with the preemption contract's exit code, not the signal's."""

    SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGUSR1", None)) if s is not None)

    def __init__(self, immediate: bool = False):
        self.received: int | None = None
        self.immediate = immediate
        self._old: dict = {}

    def _handle(self, signum, frame):
        self.received = signum
        if self.immediate:
            raise Preempted(f"stopped by {signal.Signals(signum).name} outside the training steps; every checkpoint "
                            f"written is kept; rerun the same command to resume")

    def __enter__(self):
        with contextlib.suppress(ValueError):  # not the main thread: no handlers
            for s in self.SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        return False
