"""Every table and figure of the paper as a list of resumable stages, at four scales (`paper`,
`mini`, `small` and the test-only `smoke`), run, summarised against the paper's claims and costed.

One module per job:

- [`targets`][mmae.experiments.targets]: the scales and every target's stages (which engine runs, with
  what, in which run directory), the data check and the plan;
- [`runner`][mmae.experiments.runner]: running the stages, one at a time or in parallel, resumably,
  with their provenance;
- [`stats`][mmae.experiments.stats]: seeds' spread, paired tests and trend tests, Holm, the four outcomes;
- [`claims`][mmae.experiments.claims]: each target's summary (its table or figure beside the paper's
  values) and the verdicts on the paper's claims;
- [`plots`][mmae.experiments.plots]: the figures' curves;
- [`cost`][mmae.experiments.cost]: what a target costs before it runs;
- [`powered`][mmae.experiments.powered]: Table 1's linear-probe ordering at the small scale over ten
  seeds, probed by logistic regression (`python -m mmae.experiments.powered`).

`reproduce.py` is the command line over them.
"""
from __future__ import annotations

from .targets import (PAPER, TARGETS, MIM_TARGETS, METHODS_MIM, METHODS_SIAMESE, METHOD_LABEL, Scale, DEFAULT_RECIPE,
                      MU_GRID, TEMPERATURES, SMALL_PATCH, SMALL_RECIPE, SCALES, Stage, Target, with_epochs, BASELINES,
                      build_target, check_data, imagenet_root, RECIPE_KINDS, recipe_text, plan_text, config_value,
                      stage_value, read_log, target_dir)
from .runner import PROVENANCE, machine, environment, provenance, run_target, dependencies, auto_jobs, run_stage
from .stats import (ALPHA, OUTCOMES, CHECKS, METHOD, paired_test, sign_flip_p, holm, ordering, trend, judge,
                    verdict_counts, tally)
from .claims import summarize
from .cost import (ASSUMED_GPU_STEP_S, CPU_FLOPS_MEASURED, CPU_STAGE_OVERHEAD_S, H200_BF16_PEAK, ASSUMED_MFU,
                   RESNET18_CIFAR_FLOPS, stage_flops, stage_steps, cost_text)

__all__ = ["PAPER", "TARGETS", "MIM_TARGETS", "METHODS_MIM", "METHODS_SIAMESE", "METHOD_LABEL", "Scale",
           "DEFAULT_RECIPE", "MU_GRID", "TEMPERATURES", "SMALL_PATCH", "SMALL_RECIPE", "SCALES", "Stage",
           "Target", "with_epochs", "BASELINES", "build_target", "check_data", "imagenet_root", "RECIPE_KINDS",
           "recipe_text", "plan_text", "config_value", "stage_value", "read_log", "target_dir", "PROVENANCE",
           "machine", "environment", "provenance", "run_target", "dependencies", "auto_jobs", "run_stage", "ALPHA", "OUTCOMES",
           "CHECKS", "METHOD", "paired_test", "sign_flip_p", "holm", "ordering", "trend", "judge", "verdict_counts", "tally",
           "summarize", "ASSUMED_GPU_STEP_S", "CPU_FLOPS_MEASURED",
           "CPU_STAGE_OVERHEAD_S", "H200_BF16_PEAK", "ASSUMED_MFU", "RESNET18_CIFAR_FLOPS", "stage_flops",
           "stage_steps", "cost_text"]
