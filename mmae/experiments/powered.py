"""A powered test of Table 1's linear-probe ordering, M-MAE > U-MAE > MAE, at the small scale.

    python -m mmae.experiments.powered --out results            # 10 seeds, Fashion-MNIST, two CPU cores
    python -m mmae.experiments.powered --out results --seeds 12 --data DIR

Table 1 at the small scale has three seeds per method, too few to tell differences of a few tenths
of a point apart. Here MAE, U-MAE and M-MAE (`mini-b`, the small recipe's 20 epochs) are each
pretrained with ten seeds: the pretraining stages of `reproduce.py --table 1 --scale small --seeds
10`, in the same run directories, so either command reuses the other's runs and resumes them.
Seed $k$ of every method starts from the same initialisation and sees the same data order, so the
runs of one seed form a pair.

The probe is the one the linear-probe engine ([`mmae.engine.linprobe`][mmae.engine.linprobe])
trains, solved exactly: its head, `BatchNorm1d(affine=False)` and a linear layer on the frozen CLS
feature, is a multinomial logistic regression on standardised features. The feature is computed
once per encoder by the engine's own functions (cached beside the run directory under the
checkpoint's SHA-256), and scikit-learn's Newton-CG solves the convex problem to a tight
tolerance: no learning rate, no schedule, no seed, every fit's convergence checked. The baselines
are probed the same way: the encoder at each seed's initialisation (the random-init stage of
[`mmae.baselines`][mmae.baselines]), the raw pixels, and their principal components to the
feature's width, fitted on the training split.

The one setting, the inverse regularisation strength $C$, is chosen with MAE alone on the
repository's validation split ([`validation_mask`][mmae.data.idx.validation_mask]: 10,000 of the
training images held out, the probe fitted on the other 50,000), by the mean validation accuracy
over MAE's seeds. Every probe is then fitted with it on the whole training split and scored once on
the test split, which no choice reads. The paper's claims are decided as every summary's
([`stats`][mmae.experiments.stats]: paired two-sided t-tests over seeds, Holm within the family,
the paper's differences as the effect sizes), the comparisons with the baselines in a second family.

Paths and commands in the record name the output folder as given, except that an absolute one is
written `results` (the repository's folder, where the committed summary lives): the record holds
no path of the machine it ran on.
"""
from __future__ import annotations

import hashlib
import io
import json
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ..engine.common import atomic_write_bytes, write_json_atomic
from .claims import WORDING, _SCALE_NOTE, _seeds, _setup
from .runner import (_collect_warnings, _engine_config, _utc, auto_jobs, dependencies, environment, provenance,
                     run_target)
from .stats import CHECKS, _fmt, _seed_stats, _verdict_md, judge, ordering, tally
from .targets import METHOD_LABEL, METHODS_MIM, PAPER, Stage, Target, build_target, check_data, target_dir

__all__ = ["KEY", "SEEDS", "C_GRID", "TOL", "MAX_ITER", "PIXEL_MAX_ITER", "SOLVER", "N_VAL", "PAIRS", "plan", "Data",
           "cache_path", "encoder_features", "fit_probe", "logistic_probe", "choose_c", "compare", "claims", "report_of",
           "summary", "write", "main"]

KEY, SCALE, MODEL = "powered", "small", "mini-b"   # Table 1's ViT-Base column at the small scale
TITLE = "Table 1, powered: the linear-probe ordering over {} seeds, probed by logistic regression"
SEEDS = 10
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
# Newton-CG stops when the largest component of the objective's gradient is below TOL. On one MAE
# encoder's features L-BFGS needed 60 times as many iterations to reach the same tolerance and
# stopped farther from the optimum (its coefficients 4e-3 away); on the standardised pixels, 10,000
# images, 3,982 iterations against Newton-CG's 35. The solver changes how exactly, not what, is
# fitted (the problem is convex): it was not chosen on any accuracy.
TOL, MAX_ITER, SOLVER = 1e-6, 1000, "newton-cg"
# The raw pixels (784 of them) with a weakly regularised C are ill-conditioned: at C = 100 Newton-CG
# took about 20 s per iteration on two cores and was still at max |gradient| 1.5e-5 to 2.7e-5 after
# 76 iterations. Their fit stops after PIXEL_MAX_ITER iterations and is recorded as not converged.
PIXEL_MAX_ITER = 15
N_VAL = 10_000                                      # the images `validation_mask` holds out
PAIRS = (("mmae", "umae"), ("mmae", "mae"), ("umae", "mae"))   # Table 1's probe orderings (`claims.WORDING`)


def plan(out: str | Path, *, seeds: int = SEEDS, data_root: str | None = None,
         epochs: int | None = None) -> tuple[Target, list[Stage], Stage]:
    """`(target, probes, pixels)`: the target of the stages that write an encoder (each method's
    pretraining, each seed's random initialisation), Table 1's linear-probe stages that read them
    (their configuration is the probe's: model, patch, augmentation) and its raw-pixel probe stage,
    from `build_target("table1", "small", ...)`: the run directories are Table 1's."""
    t1 = build_target("table1", SCALE, out, data_root=data_root, seeds=seeds, epochs=epochs, models=("vit_base",))
    deps = dependencies(t1.stages)
    for i, st in enumerate(t1.stages):
        if st.kind == "linprobe" and len(deps[i]) != 1:
            raise RuntimeError(f"the probe {st.run_dir} reads {len(deps[i])} stages, expected its encoder's alone")
    sources = [st for st in t1.stages if st.kind in ("pretrain", "init")]
    target = Target(KEY, TITLE.format(seeds), sources, recipe=t1.recipe, epochs=epochs)
    return (target, [st for st in t1.stages if st.kind == "linprobe"],
            next(st for st in t1.stages if st.kind == "pixels"))


# ------------------------------------------------------------------------------------ features

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Data:
    """Both splits of a data set as uint8 tensors, and one digest of their images (a feature cache
    of other images is not reused; the labels play no part in a feature)."""

    def __init__(self, dataset: str, root: str | None = None):
        from ..data import load_tensors
        (self.x, self.y), (self.xt, self.yt) = (load_tensors(dataset, s, root) for s in ("train", "test"))
        h = hashlib.sha256()
        for a in (self.x, self.xt):
            h.update(a.numpy().tobytes())
        self.digest = h.hexdigest()


def cache_path(checkpoint: Path) -> Path:
    """`features/features.npz` beside the run directory that wrote `checkpoint` (a seed's
    `pretrain/` or `init/`): the seed's folder holds its encoder and what is computed from it."""
    return Path(checkpoint).parent.parent / "features" / "features.npz"


def encoder_features(probe: Stage, data: Data, device: str = "cpu") -> tuple[np.ndarray, np.ndarray, bool]:
    """`(train, test, cached)`: the float32 features the linear-probe stage `probe` feeds its head,
    of every training and test image, computed by the engine's own functions
    (`mmae.engine.linprobe.probe_encoder`, `probe_augment`, `frozen_features`) and cached in
    `cache_path`, keyed by the checkpoint's SHA-256 and the images' digest (another checkpoint or
    other images are computed again; the file is replaced atomically)."""
    from ..engine.common import resolve_device
    from ..engine.linprobe import frozen_features, probe_augment, probe_encoder
    cfg = _engine_config(probe, device)
    ckpt = Path(cfg.pretrained)
    if not ckpt.is_file():
        raise ValueError(f"no checkpoint to probe: {ckpt} does not exist (its stage has not run)")
    path, key = cache_path(ckpt), json.dumps({"checkpoint_sha256": _sha256(ckpt), "images_sha256": data.digest})
    if path.exists():
        with np.load(path) as z:
            if str(z["key"]) == key:
                return z["train"], z["test"], True
    aug = probe_augment(cfg)
    if not aug.deterministic:   # only then is the feature a function of the image, computed once
        raise ValueError(f"the probe of {ckpt} augments at random (crop_scale_min {cfg.crop_scale_min}): an image "
                         f"has no single feature")
    dev = resolve_device(device)
    model, _ = probe_encoder(cfg, dev)
    model.eval()
    train, test = (frozen_features(model, aug, x.to(dev), dev).cpu().numpy() for x in (data.x, data.xt))
    buf = io.BytesIO()
    np.savez(buf, train=train, test=test, key=np.array(key))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    return train, test, False


def _pixels(pixels: Stage, data: Data) -> tuple[np.ndarray, np.ndarray]:
    """The raw-pixel probe's input (`mmae.baselines`): the images normalised as every probe sees
    them (its augmentation, deterministic here), flattened."""
    from ..engine.linprobe import probe_augment
    aug = probe_augment(_engine_config(pixels, "cpu"))
    return tuple(aug(x).flatten(1).numpy() for x in (data.x, data.xt))


def _pca(x: np.ndarray, xt: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The first `width` principal components of `x` and `xt` (the eigenvectors of `x`'s
    covariance: exact and deterministic), and the share of `x`'s variance they keep."""
    from sklearn.decomposition import PCA
    pca = PCA(width, svd_solver="covariance_eigh").fit(np.asarray(x, np.float64))
    return (pca.transform(np.asarray(x, np.float64)), pca.transform(np.asarray(xt, np.float64)),
            float(pca.explained_variance_ratio_.sum()))


# ------------------------------------------------------------------------------------ the probe

def fit_probe(x: np.ndarray, y: np.ndarray, c: float, max_iter: int = MAX_ITER):
    """`(scaler, model, iterations, converged)`: multinomial logistic regression with inverse
    regularisation strength `c` (scikit-learn's objective: the mean cross-entropy
    $+ \\lVert W \\rVert^2 / (2 c n)$, the intercepts unpenalised) on the features `x` standardised
    with their own mean and standard deviation (what the probe head's `BatchNorm1d(affine=False)`
    does), in float64. Converged: stopped by `TOL` before `MAX_ITER`, without a warning."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    x = np.asarray(x, np.float64)
    scaler = StandardScaler().fit(x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model = LogisticRegression(C=c, solver=SOLVER, tol=TOL, max_iter=max_iter).fit(scaler.transform(x), y)
    n_iter = int(np.max(model.n_iter_))
    return scaler, model, n_iter, n_iter < max_iter and not any(issubclass(w.category, ConvergenceWarning)
                                                                for w in caught)


def logistic_probe(x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray, c: float,
                   max_iter: int = MAX_ITER) -> dict:
    """The probe (`fit_probe`) fitted on `x, y`: its top-1 (%) on `xt, yt`, its iterations and
    whether it converged."""
    scaler, model, n_iter, converged = fit_probe(x, y, c, max_iter)
    pred = model.predict(scaler.transform(np.asarray(xt, np.float64)))
    return {"top1": 100.0 * float(np.mean(pred == yt)), "n_iter": n_iter, "converged": converged}


def choose_c(train: dict, y: np.ndarray, *, grid=C_GRID, n_val: int = N_VAL) -> dict:
    """The choice of $C$ from training features alone (`{seed: features}` of MAE's encoders) and
    the training labels: each $C$ of `grid` fitted on the images `validation_mask` keeps and scored
    on those it holds out; the best mean accuracy over the seeds wins (a tie: the smaller $C$, the
    stronger regularisation). Returns the grid, every accuracy, their means, the choice and the fits."""
    from ..data.idx import validation_mask
    held = validation_mask(len(y), n_val)
    fits = {f"{c:g}": {str(s): logistic_probe(f[~held], y[~held], f[held], y[held], c)
                       for s, f in sorted(train.items())} for c in grid}
    mean = {c: float(np.mean([r["top1"] for r in v.values()])) for c, v in fits.items()}
    best = max(grid, key=lambda c: (mean[f"{c:g}"], -c))
    return {"grid": list(grid), "n_val": n_val, "n_fit": int((~held).sum()), "seeds": sorted(train),
            "accuracy": {c: {s: r["top1"] for s, r in v.items()} for c, v in fits.items()}, "mean": mean,
            "chosen": best, "fits": [r for v in fits.values() for r in v.values()]}


# ------------------------------------------------------------------------------------ the comparison

def compare(probes: list[Stage], pixels: Stage, *, data_root: str | None = None, n_val: int = N_VAL,
            device: str = "cpu", log=print) -> dict:
    """The probe step on finished encoders: their features, the choice of $C$, every probe's test
    top-1 per seed, the two seed-free baselines, every fit's convergence and the step's timing."""
    wall0, t0 = time.time(), time.perf_counter()
    data = Data(pixels.config["dataset"], data_root)
    y, yt = data.y.numpy(), data.yt.numpy()
    feats, cached = {}, 0
    with _collect_warnings() as warned:   # the same warning of every checkpoint's loading, shown once
        for st in probes:
            tr, te, hit = encoder_features(st, data, device)
            feats[st.labels["method"], st.labels["seed"]] = (tr, te)
            cached += hit
    for text in dict.fromkeys(text for _, text in warned):
        log(f"[{KEY}] warning: {text}")
    features_s = time.perf_counter() - t0
    log(f"[{KEY}] features of {len(feats)} encoders ({cached} from the cache) in {features_s:.0f} s")

    t1 = time.perf_counter()
    val = choose_c({s: tr for (m, s), (tr, _) in feats.items() if m == "mae"}, y, n_val=n_val)
    fits, c = val.pop("fits"), val["chosen"]
    log(f"[{KEY}] C = {c:g}, chosen with MAE on the validation split (mean top-1 per C: "
        + ", ".join(f"{k} {v:.2f}" for k, v in val["mean"].items()) + ")")
    per_seed: dict = {}
    for (m, s), (tr, te) in sorted(feats.items()):
        r = logistic_probe(tr, y, te, yt, c)
        fits.append(r)
        per_seed.setdefault(m, {})[s] = r["top1"]
    width = next(iter(feats.values()))[0].shape[1]
    px, pxt = _pixels(pixels, data)
    zx, zxt, kept = _pca(px, pxt, width)
    fixed = {"raw_pixels": {**logistic_probe(px, y, pxt, yt, c, PIXEL_MAX_ITER), "width": px.shape[1]},
             "pca": {**logistic_probe(zx, y, zxt, yt, c), "width": width, "variance_kept": kept}}
    fits += fixed.values()
    end = time.time()
    log(f"[{KEY}] {len(fits)} fits in {time.perf_counter() - t1:.0f} s")
    return {"c": c, "validation": val, "per_seed": per_seed, "fixed": fixed,
            "convergence": {"solver": SOLVER, "tol": TOL, "max_iter": MAX_ITER, "pixel_max_iter": PIXEL_MAX_ITER,
                            "fits": len(fits),
                            "converged": sum(r["converged"] for r in fits),
                            "most_iterations": max(r["n_iter"] for r in fits)},
            "timing": {"started": _utc(wall0), "finished": _utc(end), "seconds": round(end - wall0, 1),
                       "features_seconds": round(features_s, 1), "fits_seconds": round(time.perf_counter() - t1, 1),
                       "encoders": len(feats), "features_cached": cached}}


def claims(report: dict) -> tuple[list[dict], list[dict]]:
    """`(verdicts, baseline_checks)` from the report's stored per-seed values alone, judged (Holm
    within each family): Table 1's probe orderings (`PAIRS`, the paper's ViT-Base differences as
    the effect sizes), and each method against the random-init encoder (paired by seed), the
    pixels' principal components and the raw pixels (one value each: a one-sample test)."""
    m, base, paper = report["measured"], report["baselines"], PAPER["table1"]["linprobe_top1"]
    verdicts = [ordering(f"Logistic-regression probe top-1, {MODEL}: {METHOD_LABEL[a]} > {METHOD_LABEL[b]}", SCALE,
                         _seeds(m[a]), _seeds(m[b]), kind="accuracy",
                         paper_effect=paper[a]["vit_base"] - paper[b]["vit_base"],
                         paper_wording=WORDING["table1" if a == "mmae" else "table1-umae"])
                for a, b in PAIRS if a in m and b in m]
    refs = {"the random-init encoder's": _seeds(base["random_init"])}
    for key, what in (("pca", f"the pixels' {base['pca']['width']} principal components'"),
                      ("raw_pixels", "the raw pixels'")):
        refs[what] = {s: base[key]["top1"] for s in _seeds(base["random_init"])}
    checks = [ordering(f"{MODEL}: {METHOD_LABEL[x]} probe above {what}", SCALE, _seeds(m[x]), ref, kind="baseline")
              for x in METHODS_MIM if x in m for what, ref in refs.items()]
    return judge(verdicts), judge(checks, CHECKS)


def _portable(text: str, out: str | Path) -> str:
    """`text` with an absolute output folder written `results` (the module docstring)."""
    for form in sorted({str(Path(out).resolve()), str(out)}, key=len, reverse=True):
        if Path(form).is_absolute():
            text = text.replace(form, "results")
    return text


def _span(start: str | None, end: str | None) -> float | None:
    """Seconds between two provenance times (`runner._utc`; older records give minutes)."""
    import datetime
    def parse(s):
        for fmt in ("%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%d %H:%M UTC"):
            try:
                return datetime.datetime.strptime(s or "", fmt)
            except ValueError:
                pass
        return None
    a, b = parse(start), parse(end)
    return None if a is None or b is None else (b - a).total_seconds()


def report_of(target: Target, r: dict, *, out: str | Path, command: str, device: str = "cpu") -> dict:
    """The summary: setup, per-seed values of every method and baseline, their spread, the
    verdicts and the provenance of the pretraining (`runner.provenance`) and of the probe step."""
    seeds = sorted(r["per_seed"]["mae"])
    pre = provenance(target)
    pre["commands"] = [_portable(c, out) for c in pre["commands"]]
    probe = {**environment(device), "command": command, **r["timing"]}
    def cell(per_seed):
        return {**_seed_stats(per_seed), "per_seed": {str(s): v for s, v in sorted(per_seed.items())}}
    report = {
        "target": KEY, "title": target.title, "scale": SCALE, "recipe": target.recipe, "command": command,
        "paper": {"linprobe_top1": {m: v["vit_base"] for m, v in PAPER["table1"]["linprobe_top1"].items()},
                  "caption": PAPER["table1"]["caption"]},
        "runs": [_portable(str(s.run_dir), out) for s in target.stages],
        "setup": {**_setup(target, SCALE),
                  "probe": {"what": "multinomial logistic regression on the standardised frozen CLS feature "
                                    "(scikit-learn LogisticRegression)", "solver": SOLVER, "tol": TOL,
                            "max_iter": MAX_ITER, "C": r["c"], "feature": "mmae.engine.linprobe.frozen_features"},
                  "validation": r["validation"]},
        "measured": {m: cell(v) for m, v in r["per_seed"].items() if m in METHODS_MIM},
        "baselines": {"random_init": cell(r["per_seed"]["random_init"]), **r["fixed"]},
        "convergence": r["convergence"],
        "provenance": {**pre, "probe": probe, "total_seconds": round(pre["seconds"] + probe["seconds"], 1),
                       "wall_clock_seconds": _span(pre["started"], probe["finished"])},
    }
    if target.epochs is not None:
        report["setup"]["epochs"] = target.epochs
    report["verdicts"], report["baseline_checks"] = claims(report)
    report["summary"] = summary(report)
    report["markdown"] = _markdown(report, seeds)
    return report


def summary(report: dict) -> str:
    """What the comparison shows, in two sentences of numbers (the page's opening)."""
    m, base = report["measured"], report["baselines"]
    n = len(report["setup"]["seeds"])
    means = ", ".join(f"{METHOD_LABEL[k]} {m[k]['mean']:.2f}" for k in METHODS_MIM if k in m)
    vs = "; ".join(f"{v['claim'].split(': ', 1)[1].replace(' > ', ' − ')} = {v['difference']:+.2f} points (95% CI "
                   f"{v['ci95'][0]:+.2f} to {v['ci95'][1]:+.2f}; the paper's {v['paper_effect']:+.1f}), "
                   f"*{v['verdict']}*" for v in report["verdicts"] if v["ci95"])
    names = {"random_init": "the random-init encoder",
             "pca": f"the pixels' {base['pca']['width']} principal components", "raw_pixels": "the raw pixels"}
    ref = {"random_init": base["random_init"]["mean"], "pca": base["pca"]["top1"],
           "raw_pixels": base["raw_pixels"]["top1"]}
    means_m = [m[x]["mean"] for x in m]
    against = ", ".join(f"{min(means_m) - ref[k]:+.2f} to {max(means_m) - ref[k]:+.2f} points against {names[k]}"
                        for k in names)
    return (f"Mean test top-1 over {n} seeds: {means}%. {vs}. The three methods' means lie {against}.")


def _markdown(report: dict, seeds: list) -> str:
    """Per-seed table, the seed-free baselines, the choice of $C$, convergence, the verdicts, the
    comparisons with the baselines and the time, each a paragraph headed in bold."""
    m, base, val, conv = report["measured"], report["baselines"], report["setup"]["validation"], report["convergence"]
    c, paper = report["setup"]["probe"]["C"], report["paper"]["linprobe_top1"]

    def row(name, cell, ref=""):
        ci = "{:.2f} to {:.2f}".format(*cell["ci95"]) if cell["ci95"] else "—"
        return (f"| {name} | " + " | ".join(f"{cell['per_seed'][str(s)]:.2f}" for s in seeds)
                + f" | {_fmt(cell)} | {ci} | {ref} |")
    head = ("| probe on | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± sd | 95% CI | paper (ViT-B) |\n|"
            + "---|" * (len(seeds) + 4))
    rows = [row(METHOD_LABEL[k], m[k], f"{paper[k]:.1f}") for k in METHODS_MIM if k in m]
    rows.append(row("random-init encoder", base["random_init"]))
    vhead = ("| $C$ | " + " | ".join(f"seed {s}" for s in val["seeds"]) + " | mean | |\n|"
             + "---|" * (len(val["seeds"]) + 3))
    vrows = [f"| {k} | " + " | ".join(f"{v[str(s)]:.2f}" for s in val["seeds"]) + f" | {val['mean'][k]:.2f} | "
             + ("chosen" if float(k) == c else "") + " |" for k, v in val["accuracy"].items()]
    t = report["provenance"]
    wall = (f", {t['wall_clock_seconds'] / 60:.1f} min from the first pretraining's start to the probe step's end"
            if t.get("wall_clock_seconds") else "")
    return "\n".join([
        f"**Per seed**: test top-1 (%) of the logistic-regression probe on each encoder's frozen CLS feature, "
        f"$C = {c:g}$; seed $k$ of every row starts from the same initialisation and sees the same data order.", "",
        head, *rows, "",
        f"**Seed-free baselines**, the same probe: the raw pixels ({base['raw_pixels']['width']} of them) "
        f"{base['raw_pixels']['top1']:.2f}%, their first {base['pca']['width']} principal components "
        f"(fitted on the training split, {100 * base['pca']['variance_kept']:.1f}% of its variance) "
        f"{base['pca']['top1']:.2f}%.", "",
        f"**Choosing $C$**, with MAE alone: validation top-1 (%) of the probe fitted on {val['n_fit']:,} training "
        f"images and scored on the {val['n_val']:,} that `mmae.data.idx.validation_mask` holds out; the test split "
        f"is not read. The best mean wins.", "", vhead, *vrows, "",
        f"**Convergence**: {conv['converged']} of {conv['fits']} fits stopped at {conv['solver']}'s tolerance "
        f"({conv['tol']:g}), the longest after {conv['most_iterations']} of at most {conv['max_iter']:,} iterations"
        + ("" if base["raw_pixels"]["converged"] else
           f"; the raw pixels' fit (ill-conditioned) stopped at its cap of {base['raw_pixels']['n_iter']} iterations "
           f"short of the tolerance") + ".",
        "", _verdict_md(report["verdicts"]), "", _verdict_md(report["baseline_checks"], "Against the baselines"), "",
        f"**Time**: the probe step {t['probe']['seconds'] / 60:.1f} min (features "
        f"{t['probe']['features_seconds']:.0f} s, fits {t['probe']['fits_seconds']:.0f} s), the pretraining "
        f"{t['seconds'] / 60:.1f} min summed over its {t['recorded']} stages{wall}."])


def write(report: dict, out: str | Path) -> Path:
    """Write `<out>/small/powered/powered.json` and `powered.md`; return the folder."""
    where = target_dir(out, SCALE, KEY, report["setup"].get("epochs"))
    where.mkdir(parents=True, exist_ok=True)
    write_json_atomic(where / f"{KEY}.json", report)
    length = "" if "epochs" not in report["setup"] else f"Pretraining: {report['setup']['epochs']} epochs. "
    (where / f"{KEY}.md").write_text(f"# {report['title']}\n\nScale: `{SCALE}`. Recipe: `{report['recipe']}`. "
                                     f"{length}{_SCALE_NOTE[SCALE]}\n\n{report['summary']}\n\n{report['markdown']}\n")
    return where


def main(argv: list[str] | None = None) -> int:
    from ..cli import EXIT_PREEMPTED, Parser, error_line, fail
    from ..engine.stop import Preempted, StopSignals
    prog = "python -m mmae.experiments.powered"
    p = Parser(prog=prog, description="Table 1's linear-probe ordering at the small scale with ten seeds per method "
                                      "and a logistic-regression probe (see the module's documentation).")
    p.add_argument("--out", default="results", help="output folder, shared with reproduce.py (default: results/)")
    p.add_argument("--seeds", type=int, default=SEEDS, help=f"seeds per method (default {SEEDS})")
    p.add_argument("--data", default=None, help="folder of Fashion-MNIST's four IDX files (default: Debian's "
                                                "dataset-fashion-mnist)")
    p.add_argument("--epochs", type=int, default=None, help="pretraining epochs in place of the small recipe's "
                                                            "(summary: powered-epN)")
    p.add_argument("--n-val", type=int, default=N_VAL, help=f"training images held out to choose C (default {N_VAL:,})")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("--jobs", type=int, default=None, help="pretraining stages at a time (default: reproduce.py's auto)")
    args = p.parse_args(argv)
    try:
        if args.seeds < 2:
            raise ValueError(f"--seeds must be at least 2 for a paired test, got {args.seeds}")
        if args.jobs is not None and args.jobs < 1:
            raise ValueError(f"--jobs must be a positive integer, got {args.jobs}")
        target, probes, pixels = plan(args.out, seeds=args.seeds, data_root=args.data, epochs=args.epochs)
        check_data(target, args.data)   # reads both splits (kept in memory for the probe step)
        from ..data import load_tensors
        from ..data.idx import validation_mask
        validation_mask(len(load_tensors("fashion-mnist", "train", args.data)[1]), args.n_val)
    except ValueError as e:
        return fail(prog, error_line(e))
    command = _portable(shlex.join(["python", "-m", "mmae.experiments.powered",
                                    *(sys.argv[1:] if argv is None else argv)]), args.out)
    try:
        with StopSignals(immediate=True):
            run_target(target, device=args.device, command=command, jobs=args.jobs or auto_jobs(args.device))
            r = compare(probes, pixels, data_root=args.data, n_val=args.n_val, device=args.device)
    except Preempted as e:
        return fail(prog, error_line(e), EXIT_PREEMPTED)
    except (ValueError, RuntimeError) as e:
        return fail(prog, error_line(e))
    report = report_of(target, r, out=args.out, command=command, device=args.device)
    where = write(report, args.out)
    print((where / f"{KEY}.md").read_text())
    print(tally(report))
    print(f"written: {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
