"""One command-line style for every entry point (the engines and `reproduce.py`).

Bad input is one line on stderr, `PROG: error: MESSAGE`, and exit code 2; a diverged run exits
with 1; a run stopped by SIGTERM or SIGUSR1 after writing its checkpoint exits with
`EXIT_PREEMPTED` (75, `EX_TEMPFAIL`: "try again"), and rerunning the same command resumes it.
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["Parser", "fail", "error_line", "clip", "EXIT_USAGE", "EXIT_DIVERGED", "EXIT_PREEMPTED"]

EXIT_DIVERGED = 1
EXIT_USAGE = 2
EXIT_PREEMPTED = 75


def error_line(e: BaseException) -> str:
    """The message of `e` on one line (a data-loader worker's error arrives wrapped in a
    traceback: its last line is the message)."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else type(e).__name__


def clip(text: str, limit: int = 200) -> str:
    """`text` on one line, at most about `limit` characters, cut between words (`...` marks a cut)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."


def fail(prog: str, message: str, code: int = EXIT_USAGE) -> int:
    """Print `PROG: error: MESSAGE` on one line of stderr and return `code`."""
    sys.stderr.write(f"{prog}: error: {' '.join(message.split())}\n")
    return code


class Parser(argparse.ArgumentParser):
    """argparse with the house error style: one line, exit code 2."""

    def error(self, message):
        raise SystemExit(fail(self.prog, message))
