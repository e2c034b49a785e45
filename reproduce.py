#!/usr/bin/env python
"""Regenerate the tables and figures of *Information Flow in Self-Supervised Learning*.

    python reproduce.py --table 1 --scale mini            # minutes on a CPU, bundled data
    python reproduce.py --table 1 --scale small --plan    # Fashion-MNIST: the stages and their cost
    python reproduce.py --table 1 --data /data            # the paper's settings, GPU node
    python reproduce.py --table 1 --recipe paper --data /data   # the objective as the paper writes it
    torchrun --nproc_per_node=8 reproduce.py --table 1 --data /data

Rerunning a command skips the finished stages and resumes an interrupted one (at the step where it
stopped; SIGTERM or SIGUSR1 makes it write its checkpoint and exit with code 75). Everything is
written under --out (default results/): per run its log and metrics, per target a JSON file, a
Markdown table beside the paper's values and, for figures, a PNG and an SVG. While it runs it shows
a line per running stage with an ETA (-v: the plan and every stage's run directory) and ends each
target with a summary; `tensorboard --logdir results/runs/` shows the training curves. The experiments
themselves are defined in mmae.experiments; this file only reads the command line.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path


from mmae.cli import EXIT_DIVERGED, EXIT_PREEMPTED, Parser, error_line, fail

PROG = "reproduce.py"


def _fail(message: str, code: int = 2) -> int:
    return fail(PROG, message, code)


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_argument_group("what to reproduce (at least one)")
    what.add_argument("--table", action="append", default=[], metavar="N", help="1, 2 or 3 (repeatable)")
    what.add_argument("--figure", action="append", default=[], metavar="N", help="1 to 5 (repeatable)")
    what.add_argument("--all", action="store_true", help="every table and figure")
    p.add_argument("--scale", default="paper", help="paper (default), small (Fashion-MNIST) or mini (digits)")
    p.add_argument("--recipe", default=None,
                   help="authors (default: the published code's behaviour, which produced the paper's numbers) or "
                        "paper (the method as the paper writes it); see --plan for the settings that differ")
    p.add_argument("--data", default=None, help="data root for --scale paper (default: $MMAE_DATA); for --scale "
                   "small the folder of Fashion-MNIST's four IDX files (default: /usr/share/datasets/fashion-mnist); "
                   "for --scale mini a validation split's folder (python -m mmae.data.digits --validation-split)")
    p.add_argument("--out", default="results", help="output directory (default: results/)")
    p.add_argument("--only", default=None, help="run only one kind of stage: pretrain, linprobe, finetune or siamese")
    p.add_argument("--methods", default=None, help="comma-separated subset, e.g. mae,mmae or simclr,byol")
    p.add_argument("--models", default=None, help="comma-separated subset of Table 1's models: vit_base, vit_large")
    p.add_argument("--epochs", type=int, default=None, help="the pretraining epochs in place of the scale's (summary: <target>-epN)")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (mini default 3, paper default 1)")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("--jobs", default="auto", help="stages run at a time, each in its own process with an equal share "
                   "of the threads (default auto: one per CPU thread, at most 8, on a CPU; 1 on a GPU or under torchrun)")
    p.add_argument("--plan", action="store_true", help="print the plan (every stage and its run directory) and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print the plan, and each stage's start and end "
                   "with its run directory")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _targets(args) -> list[str]:
    keys = []
    for n in args.table:
        if n not in ("1", "2", "3"):
            raise ValueError(f"unknown table {n!r}: the paper has Tables 1, 2 and 3")
        keys.append(f"table{n}")
    for n in args.figure:
        if n not in ("1", "2", "3", "4", "5"):
            raise ValueError(f"unknown figure {n!r}: the paper has Figures 1 to 5")
        keys.append(f"figure{n}")
    if args.all and keys:
        raise ValueError("--all already includes every table and figure; drop --table/--figure")
    if args.all:  # every target the scale runs
        from mmae.experiments import MIM_TARGETS, SCALES, TARGETS
        scale = SCALES.get(args.scale)
        keys = [k for k in TARGETS if scale is None or scale.siamese_dataset or k in MIM_TARGETS]
    if not keys:
        raise ValueError("nothing to reproduce: give --table N, --figure N or --all")
    return list(dict.fromkeys(keys))


def _jobs(value: str) -> int | None:
    """`--jobs`: a positive integer, or None for auto (decided once the device is known)."""
    if value == "auto":
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"--jobs must be a positive integer or auto, got {value!r}")
    if int(value) > 1 and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError("--jobs runs stages side by side in one process's workers; under torchrun every process "
                         "already works on the same stage: drop --jobs")
    return int(value)


def _check_out(out: str) -> None:
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(f"cannot write to the output directory {out}: {e.strerror or e}") from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        keys = _targets(args)
        if args.scale not in ("paper", "small", "mini", "smoke"):
            raise ValueError(f"unknown scale {args.scale!r}: use paper, small or mini")
        if args.epochs is not None and args.epochs < 1:
            raise ValueError(f"--epochs must be a positive integer, got {args.epochs}")
        if args.seeds is not None and args.seeds < 1:
            raise ValueError(f"--seeds must be a positive integer, got {args.seeds}")
        # small: the folder of Fashion-MNIST's IDX files (default: Debian's dataset-fashion-mnist); mini:
        # the folder of the digits' validation split (default: the bundled digits)
        data = args.data or (os.environ.get("MMAE_DATA") if args.scale == "paper" else None)
        if args.scale == "smoke" and args.data:
            raise ValueError("--data is for --scale paper, small or mini; the smoke scale uses the bundled digits")
        jobs = _jobs(args.jobs)
        _check_out(args.out)

        from mmae import experiments as ex
        from mmae import dist

        split = lambda s: [x.strip() for x in s.split(",") if x.strip()] if s else None  # noqa: E731
        targets = [ex.build_target(k, args.scale, args.out, data_root=data, seeds=args.seeds, epochs=args.epochs,
                                   methods=split(args.methods), models=split(args.models), only=args.only,
                                   recipe=args.recipe or ex.DEFAULT_RECIPE)
                   for k in keys]
        for t in targets:
            if (args.scale in ("paper", "small") or data) and not args.plan:  # a plan needs no data
                ex.check_data(t, data)
    except ValueError as e:
        if args.debug:
            raise
        return _fail(error_line(e))

    # recorded with each stage it runs, and shown on the experiment pages
    # (without -v, which changes only what is shown)
    command = shlex.join(["python", "reproduce.py", *(a for a in (sys.argv[1:] if argv is None else argv)
                                                      if a not in ("-v", "--verbose"))])
    info = dist.init_distributed(None if args.device == "auto" else args.device)
    say = print if info.rank == 0 else (lambda *a, **k: None)
    jobs = jobs or ex.auto_jobs(args.device)
    for t in targets:   # the whole plan with --plan or -v; otherwise its first lines (the target, its stages)
        plan = ex.plan_text(t, info.world_size, jobs)
        say(plan if args.plan or args.verbose else "\n".join(plan.splitlines()[:2]))
        if args.scale in ("paper", "small"):
            say(ex.cost_text(t, info.world_size))
    if args.plan:
        return 0
    from mmae.engine.loop import NonFiniteLoss, Preempted, StopSignals
    together = False  # every process ends here (done, or a stop they agreed on): they leave the group together
    try:
        with StopSignals(immediate=True):  # every phase honours SIGTERM / SIGUSR1 (the training loop's own)
            for t in targets:
                ex.run_target(t, device=args.device, log=say, command=command, jobs=jobs, verbose=args.verbose,
                              live=info.rank == 0 and sys.stdout.isatty())
                if info.rank == 0:
                    report = ex.summarize(t, args.scale, args.out)
                    say("")
                    where = ex.target_dir(args.out, args.scale, t.key, t.epochs)
                    say((where / f"{t.key}.md").read_text())
                    say(ex.tally(report))
                    say(f"written: {where}")
        together = True
    except Preempted as e:  # SIGTERM / SIGUSR1: the stage's checkpoint is written
        together = True
        return _fail(error_line(e), EXIT_PREEMPTED) if info.rank == 0 else EXIT_PREEMPTED
    except NonFiniteLoss as e:
        if args.debug:
            raise
        return _fail(error_line(e), EXIT_DIVERGED)
    except (ValueError, RuntimeError) as e:
        if args.debug:
            raise
        return _fail(error_line(e))
    except KeyboardInterrupt:
        return _fail("interrupted; rerun the same command to resume")
    finally:
        dist.cleanup(wait=together)
    return 0


if __name__ == "__main__":
    sys.exit(main())
