"""The configuration every engine shares, and the command line built from it.

Each engine's configuration is a dataclass derived from `TrainConfig`. Its field defaults are the
`paper` recipe (the method as the paper writes it, with the published protocols); its `AUTHORS`
dict is what the `authors` recipe changes (the behaviour of the authors' published code, which
produced the paper's numbers), and its `MINI` dict what the mini-scale recipe (the digits on a CPU)
changes; `TrainConfig.build` lays them over each other and records the recipe's name in the
configuration. A method's own hyper-parameters and what it changes per data set live in its module
(`mmae.methods`: its `Params` defaults and `RECIPES`), and the small scale's changes in
`mmae.experiments.targets.SMALL_RECIPE`. Those are the only places a recipe's numbers are written:
`mmae.experiments` and `reproduce.py` start from them and state only what a target changes.

`batch_size` is always the **global** batch: the images that one optimiser step averages over,
summed over processes and gradient-accumulation micro-steps. The loop splits it
(`mmae.engine.batches.split_batch`): each of the $W$ processes takes $B / W$ images per step,
in `accum_iter` micro-batches that fit `max_micro_batch` (a per-device memory cap). The learning
rate follows the linear scaling rule `lr = blr * batch_size / 256` unless `lr` is given.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import typing
from dataclasses import dataclass

from mmae.cli import Parser, error_line, fail
from mmae.engine.stop import NonFiniteLoss, Preempted, StopSignals

__all__ = ["TrainConfig", "RECIPES", "RESUMABLE", "IDENTITY", "run_identity", "identity_mismatch", "engine_main",
           "base_lr"]

# the two named recipes (see the module docstring and the "Paper, code and this reproduction" page)
RECIPES = ("paper", "authors")

# fields that may change when a run is resumed: they change neither the samples, nor the masks,
# nor the updates (the split of the global batch changes only the order of floating-point sums)
RESUMABLE = ("data_root", "device", "num_workers", "compile", "cuda_graphs", "progress", "quiet", "tensorboard", "resume", "ckpt_every",
             "ckpt_minutes", "eval_every", "log_every", "accum_iter", "max_micro_batch")


@dataclass
class TrainConfig:
    epochs: int = 100
    warmup_epochs: int = 0          # linear warm-up, then half-cycle cosine to min_lr (per optimiser step)
    batch_size: int = 256           # global batch (all processes and micro-steps together)
    accum_iter: int = 0             # micro-steps per optimiser step; 0: the fewest that respect max_micro_batch
    max_micro_batch: int = 0        # per-process micro-batch cap (device memory); 0: no cap
    blr: float = 1e-3               # lr = blr * batch_size / 256 ...
    lr: float = 0.0                 # ... unless an absolute lr is given here
    min_lr: float = 0.0
    weight_decay: float = 0.0
    clip_grad: float = 0.0          # 0: no clipping
    seed: int = 0                   # data order, masks and augmentations (mmae.data.keyed)
    eval_every: int = 1             # evaluate every N epochs (and after the last)
    ckpt_every: int = 1             # checkpoint every N epochs (and after the last) ...
    ckpt_minutes: float = 30.0      # ... and after this much wall-clock time, mid-epoch (0: never)
    log_every: int = 0              # a step record every N optimiser steps (0: epoch records only)
    device: str = "auto"            # auto | cpu | cuda | cuda:N
    amp: bool = True                # bf16 autocast on CUDA (no effect on a CPU)
    compile: bool = False           # torch.compile the training module
    cuda_graphs: bool = False       # capture the training step as one CUDA graph and replay it (engines whose
                                    # step allows it: Siamese; one process; on a CPU the step runs uncaptured)
    progress: bool = False          # a progress bar even when stderr is not a terminal (else plain lines)
    quiet: bool = False             # no progress display (the command line prints only the final metrics)
    tensorboard: bool = True        # TensorBoard event files beside log.jsonl (when tensorboard is installed)
    resume: bool = True             # resume from the run directory's checkpoint
    recipe: str = "paper"           # paper | authors: the recipe the values were built from (`build`)

    def __post_init__(self):
        self._check_types()
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}, got {self.recipe!r}")
        for name in ("epochs", "batch_size", "eval_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("accum_iter", "max_micro_batch", "log_every", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.warmup_epochs < 0:  # longer than the run: the lr rises until the end (a short trial)
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        for name in ("blr", "lr", "min_lr", "weight_decay", "clip_grad", "ckpt_minutes"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v}")
        if self.cuda_graphs and self.compile:
            raise ValueError("cuda_graphs and compile exclude each other: choose one (torch.compile's "
                             "mode='reduce-overhead' captures graphs of its own)")
        if self.blr == 0 and self.lr == 0:
            raise ValueError("give a learning rate: blr (per 256 images) or lr (absolute) must be > 0")

    def _check_types(self) -> None:
        """Every field holds a value of its annotated type (ints for int fields, not 2.5)."""
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            v, t = getattr(self, f.name), hints[f.name]
            allowed = tuple(a for a in typing.get_args(t) if a is not type(None)) or (t,)
            if v is None and type(None) in typing.get_args(t):
                continue
            ok = any((a is float and isinstance(v, (int, float)) and not isinstance(v, bool))
                     or (a is int and isinstance(v, int) and not isinstance(v, bool))
                     or (a in (str, bool) and isinstance(v, a)) for a in allowed)
            if not ok:
                raise ValueError(f"invalid {f.name}: {v!r} (expected {' or '.join(a.__name__ for a in allowed)})")

    # what the authors' code does differently from the paper recipe (the field defaults)
    AUTHORS: typing.ClassVar[dict] = {}
    # the mini-scale recipe: what differs at the mini scale (laid over either recipe)
    MINI: typing.ClassVar[dict] = {}

    @classmethod
    def defaults(cls, mini: bool = False, name: str = "paper") -> dict:
        """Every field's value in the named recipe (at the mini scale if `mini`), without validation."""
        if name not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}, got {name!r}")
        return {**{f.name: f.default for f in dataclasses.fields(cls)}, **(cls.AUTHORS if name == "authors" else {}),
                **(cls.MINI if mini else {}), "recipe": name}

    @classmethod
    def build(cls, recipe: str = "paper", mini: bool = False, **overrides):
        """The configuration of the named recipe (at the mini scale if `mini`), with `overrides`."""
        cls.defaults(mini, recipe)  # validates the name
        overlay = {**(cls.AUTHORS if recipe == "authors" else {}), **(cls.MINI if mini else {}), "recipe": recipe}
        return cls(**{**overlay, **overrides})

    @classmethod
    def mini(cls, **overrides):
        """The mini-scale recipe, with `overrides` (`recipe=` names the recipe, default `paper`)."""
        return cls.build(overrides.pop("recipe", "paper"), True, **overrides)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def identity(self) -> dict:
        """What makes a checkpoint this run's (`run_identity`)."""
        return run_identity(self.to_dict())


IDENTITY = ("method", "model", "seed", "recipe", "dataset")


def run_identity(config: dict) -> dict:
    """The identity of the run of `config` (a `TrainConfig.to_dict()`), stored in its checkpoints:
    the method, model, seed, recipe and data set, and the SHA-256 of every field a resumed run may
    not change (all but `RESUMABLE`). A checkpoint of another identity is refused on resume."""
    fixed = {k: v for k, v in config.items() if k not in RESUMABLE}
    digest = hashlib.sha256(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()
    return {**{k: config.get(k) for k in IDENTITY}, "config_sha256": digest}


def identity_mismatch(saved: dict, config: dict) -> str | None:
    """`None` when a checkpoint whose `identity` (or, written before identities, `config`) is in
    `saved` belongs to the run of `config`; otherwise the differing fields, `name: saved -> run`."""
    theirs = saved.get("identity") or (run_identity(saved["config"]) if isinstance(saved.get("config"), dict) else None)
    mine = run_identity(config)
    if theirs is None or theirs == mine:
        return None
    old = saved.get("config") if isinstance(saved.get("config"), dict) else theirs
    keys = [k for k in IDENTITY if theirs.get(k) != mine.get(k)] or \
        sorted(k for k in set(old) | set(config) if k not in RESUMABLE and old.get(k) != config.get(k))
    return ", ".join(f"{k}: {old.get(k)!r} -> {config.get(k)!r}" for k in keys) or "its configuration differs"


def base_lr(cfg: TrainConfig) -> float:
    """The peak learning rate: `lr`, or the linear scaling rule `blr * batch_size / 256`."""
    return cfg.lr or cfg.blr * cfg.batch_size / 256


def _flag_type(t):
    args = [a for a in typing.get_args(t) if a is not type(None)]
    t = args[0] if args else t
    return t if t in (int, float, str) else str


def _recipe_help(config_cls, f) -> str:
    """A field's value in the paper recipe, and in the authors' where it differs (for `--help`)."""
    extra = f"; authors recipe: {config_cls.AUTHORS[f.name]!r}" if f.name in config_cls.AUTHORS else ""
    return f"(paper recipe: {f.default!r}{extra})"


def engine_main(config_cls, run_fn, argv=None, prog: str = "", doc: str = "") -> int:
    """The command line of an engine, built from its config dataclass: `--field-name VALUE`
    (booleans as `--flag` / `--no-flag`), `--recipe paper|authors`, `--out` and `--mini`
    (start from the mini-scale recipe). Shows the training's progress on stderr (`mmae.engine.progress`;
    `--quiet`: nothing) and prints the final metrics as JSON on stdout on success.

    Exit codes (`mmae.cli`): 0 done; 1 the loss became non-finite; 2 bad input (one line);
    75 stopped by SIGTERM / SIGUSR1 with its checkpoint written (rerun the command to resume)."""
    from mmae import dist

    p = Parser(prog=prog, description=(doc or "").split("\n\n")[0])
    p.add_argument("--out", required=True, help="run directory (reruns resume from its checkpoint)")
    p.add_argument("--mini", action="store_true", help="start from the mini-scale (digits, CPU) recipe")
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        flag = "--" + f.name.replace("_", "-")
        # only the options given on the command line override the recipe
        if hints[f.name] is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=_recipe_help(config_cls, f))
        else:
            p.add_argument(flag, type=_flag_type(hints[f.name]), default=argparse.SUPPRESS,
                           help=_recipe_help(config_cls, f))
    args = vars(p.parse_args(argv))
    out, mini = args.pop("out"), args.pop("mini")
    main_rank, together = True, False  # together: every process ends here (done, or a stop they agreed on)
    try:
        cfg = config_cls.build(args.pop("recipe", "paper"), mini, **args)
        with StopSignals(immediate=True):  # every phase honours SIGTERM / SIGUSR1 (the training loop's own)
            metrics = run_fn(cfg, out)
        main_rank, together = dist.is_main(), True
    except ValueError as e:
        return fail(prog, error_line(e))
    except NonFiniteLoss as e:
        return fail(prog, error_line(e), e.exit_code)
    except Preempted as e:
        together = True
        return fail(prog, error_line(e), e.exit_code) if dist.is_main() else e.exit_code
    finally:
        dist.cleanup(wait=together)
    if main_rank:
        print(json.dumps(metrics, sort_keys=True))
    return 0
