"""The figures' curves: a logged quantity per epoch of a group of stages, plotted with its spread
over seeds beside the summary, and listed in Markdown.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .targets import read_log, Stage

__all__ = []


def _curves(stages: list[Stage], key: str, by: str) -> dict:
    """Per group (method or temperature): epochs and the mean/std over seeds of `key`."""
    out = {}
    for label in sorted({s.labels[by] for s in stages}, key=str):
        logs = [[r for r in read_log(s) if key in r and r[key] is not None] for s in stages if s.labels[by] == label]
        n = min((len(l) for l in logs), default=0)
        if n == 0:
            continue
        ep = [r["epoch"] for r in logs[0][:n]]
        vals = np.array([[r[key] for r in l[:n]] for l in logs], dtype=float)
        seeds = [s.labels["seed"] for s in stages if s.labels[by] == label]
        out[str(label)] = {"epoch": ep, "mean": vals.mean(0).tolist(),
                           "std": (vals.std(0, ddof=1) if len(vals) > 1 else np.zeros(n)).tolist(), "seeds": len(vals),
                           "per_seed": {str(sd): v.tolist() for sd, v in zip(seeds, vals)}}
    return out


def _plot(out_dir: Path, name: str, panels: list[tuple], label: Callable[[str], str], note: str = "") -> list[str]:
    """Panels `(title, curves, ylabel[, {"vacuous_below": y}])`: mean over seeds, a band of ± one
    standard deviation when there are several; `vacuous_below` shades where a lower bound says nothing."""
    # a bare Figure renders without pyplot, so no global backend is switched (notebooks keep theirs)
    from matplotlib.figure import Figure

    import textwrap
    note = textwrap.fill(note, width=int(80 * len(panels))) if note else ""
    lines = note.count("\n") + 1 if note else 0
    fig = Figure(figsize=(5.2 * len(panels), 3.8 + 0.22 * lines))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (title, curves, ylabel, *opts) in zip(axes[0], panels):
        for key, c in curves.items():
            x, m, s = np.array(c["epoch"]), np.array(c["mean"]), np.array(c["std"])
            ax.plot(x, m, label=label(key))
            if c["seeds"] > 1:
                ax.fill_between(x, m - s, m + s, alpha=0.2)
        if opts and "vacuous_below" in opts[0]:
            y0 = opts[0]["vacuous_below"]
            lo = min([y0] + [min(c["mean"]) for c in curves.values()])
            ax.axhspan(lo - 0.05 * (abs(lo) + 1), y0, color="0.85", zorder=0, label="bound vacuous (< 0)")
            ax.axhline(y0, color="0.4", lw=0.8)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if curves:
            ax.legend(fontsize="small")
    if note:
        fig.text(0.01, 0.01, note, fontsize="small", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.055 * lines, 1, 1))
    paths = []
    for ext in ("png", "svg"):
        p = out_dir / f"{name}.{ext}"
        fig.savefig(p, dpi=150)
        paths.append(str(p))
    return paths


def _curve_md(curves: dict, label: Callable[[str], str], what: str) -> str:
    # epoch 0 of the logs is the initialisation; epoch e is the state after e epochs
    rows = [f"| {label(k)} | {c['mean'][0]:.4f} (epoch {c['epoch'][0]}) | {c['mean'][-1]:.4f} (epoch {c['epoch'][-1]}) |"
            for k, c in curves.items()]
    return "\n".join([f"| run | {what}, first logged | {what}, last logged |", "|---|---|---|"] + rows)
