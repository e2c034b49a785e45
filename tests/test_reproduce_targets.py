"""reproduce.py end to end, every target, at the test-only ``smoke`` scale (one epoch per stage).

The runs share one output directory, as a user's would: later targets reuse the stages of earlier
ones (Table 3 and Figure 4 reuse Table 1's digits runs at this scale) and the rerun at the end
must skip every finished stage.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("results")


def run(out, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(ROOT / "reproduce.py"), *args, "--scale", "smoke", "--device", "cpu",
                        "--out", str(out)], capture_output=True, text=True, env=env, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def load(out, key):
    data = json.loads((out / "smoke" / key / f"{key}.json").read_text())
    md = (out / "smoke" / key / f"{key}.md").read_text()
    assert data["target"] == key and data["scale"] == "smoke"
    return data, md


def test_table1(out):
    r = run(out, "--table", "1")
    data, md = load(out, "table1")
    for task in ("linprobe_top1", "finetune_top1"):
        for method in ("mae", "umae", "mmae"):
            for model in ("mini-b", "mini-l"):
                cell = data["measured"][task][method][model]
                assert cell["n"] == 1 and 0 <= cell["mean"] <= 100
    # the paper's values stand beside the measurements, never in their place
    assert "| Linear probing | M-MAE |" in md and "| 62.4 |" in md and "55.4" in md
    base = data["baselines"]
    assert set(base) == {"raw_pixels", "random_init", "supervised"} and base["raw_pixels"]["n"] == 1
    assert set(base["random_init"]) == set(base["supervised"]) == {"mini-b", "mini-l"}
    assert "| Linear probing | baseline: raw pixels |" in md and "| Fine-tuning | baseline: supervised from scratch |" in md
    # the paper's words: M-MAE outperforms MAE and U-MAE in both tasks; Table 1 also shows U-MAE's probe
    # above MAE's. No claim is made of MAE against U-MAE in fine-tuning (83.3 against 83.2 with ViT-L).
    claims = [v["claim"] for v in data["verdicts"]]
    assert "Fine-tuning top-1, mini-l: MAE > U-MAE" not in claims and "Fine-tuning top-1, mini-l: U-MAE > MAE" not in claims
    assert claims.count("Linear probing top-1, mini-l: U-MAE > MAE") == 1
    # with one seed no paired test can decide any of the 2 x (3 + 2) claims
    assert len(data["verdicts"]) == 10 and {v["verdict"] for v in data["verdicts"]} == {"inconclusive"}
    assert all(v["scale"] == "smoke" and v["n"] == 1 and v["p_two_sided"] is None and v["kind"] == "accuracy"
               for v in data["verdicts"])
    assert all(v["paper_wording"] and v["paper_effect"] is not None for v in data["verdicts"])
    # the documentation's pages read the same file
    from mmae import pages
    assert pages.load("table1", "smoke", out) == data and pages.load("table2", "smoke", out) is None
    setup = pages.setup_md(data)
    assert "`mini-b` (ViT, width 32, 3 blocks" in setup and "probed feature: CLS token, dimension 32" in setup
    assert "| Fine-tuning | baseline: supervised from scratch |" in pages.body_md(data)
    assert pages.verdict_summary(data) == "Of the 10 claims tested here at the `smoke` scale: 10 inconclusive."  # the site's words
    # 3 methods x 2 models against each baseline, none decided with one seed
    assert pages.baseline_summary(data).count("better in 0 of 6 (method, model) pairs, significantly worse in 0") == 2
    assert md in r.stdout.replace("\r", "") or "Table 1" in r.stdout
    # every stage records where, by which command and in how long it ran; the page says so
    prov = data["provenance"]
    assert prov["recorded"] == prov["stages"] == len(data["runs"]) and prov["machines"][0].startswith("CPU ")
    assert prov["commands"] == [f"python reproduce.py --table 1 --scale smoke --device cpu --out {out}"]
    assert prov["seconds"] > 0 and "- **Ran on**: CPU " in setup and f"{prov['stages']} of {prov['stages']} stages" in setup
    assert f"by `{prov['commands'][0]}`" in setup and "- **Command**: `python reproduce.py --table 1 --scale smoke`" in setup


def test_stages_side_by_side_give_the_same_numbers_in_a_valid_order(out, tmp_path):
    """`--jobs 2`: Table 1's stages in two worker processes of one thread each, as the sequential run
    above: every stage's metrics are the same, bit for bit, and no stage starts before the stages it
    reads have finished."""
    from mmae.experiments import build_target, dependencies
    par = tmp_path / "par"
    r = run(par, "--table", "1", "--jobs", "2", "-v")   # -v: every stage's start and end
    t = build_target("table1", "smoke", par)
    metrics = sorted(par.glob("runs/**/metrics.json"))
    assert len(metrics) == len(t.stages)
    for path in metrics:
        assert json.loads(path.read_text()) == json.loads((out / path.relative_to(par)).read_text()), path
    lines = r.stdout.splitlines()
    at = lambda st, event: next(k for k, ln in enumerate(lines) if f"{st.run_dir}: {event}" in ln)  # noqa: E731
    for st, deps in zip(t.stages, dependencies(t.stages)):
        assert all(at(t.stages[j], "done in") < at(st, "running") for j in deps), st.run_dir
    machines = {json.loads(p.read_text())["machine"] for p in par.glob("runs/**/provenance.json")}
    assert len(machines) == 1 and machines.pop().endswith(", 1 thread, 2 stages at a time")


def test_a_longer_pretraining_is_summarised_beside_the_scales_own(out):
    """`--epochs N` pretrains in new run directories and writes its summary to `table1-epN`, leaving
    the scale's own summary as it was; the stages that do not pretrain (the baselines) are reused."""
    before = (out / "smoke" / "table1" / "table1.json").read_bytes()
    r = run(out, "--table", "1", "--models", "vit_base", "--epochs", "2", "-v")
    assert (out / "smoke" / "table1" / "table1.json").read_bytes() == before
    assert r.stdout.count("finished earlier, kept") == 4 and r.stdout.count(": running") == 9  # the raw-pixel probe, the random encoder, its probe, training from scratch
    where = out / "smoke" / "table1-ep2"
    assert f"written: {where}" in r.stdout
    data = json.loads((where / "table1.json").read_text())
    assert data["setup"]["epochs"] == 2 and data["setup"]["schedule"]["pretrain"]["epochs"] == 2
    assert all("-ep2/" in p for p in data["runs"] if "/pretrain" in p)
    assert "Scale: `smoke`. Recipe: `authors`. Pretraining: 2 epochs (`--epochs 2`). " in (where / "table1.md").read_text()
    from mmae import pages
    assert pages.load("table1", "smoke", out, epochs=2) == data and pages.load("table1", "smoke", out, epochs=3) is None
    assert "- **Command**: `python reproduce.py --table 1 --scale smoke --epochs 2`" in pages.setup_md(data)


def test_table2(out):
    run(out, "--table", "2")
    data, md = load(out, "table2")
    assert set(data["measured"]["linprobe_top1"]) == {"0.1", "0.5", "0.75", "1", "1.25", "1.5", "3"}
    assert "| paper top-1 | 58.61 |" in md


def test_table3_reuses_table1_runs(out):
    r = run(out, "--table", "3", "-v")
    # every stage was computed for Table 1: 3 methods x 3 stages, and the baselines of mini-b
    assert r.stdout.count("finished earlier, kept") == 9 + 4 and "running" not in r.stdout
    data, md = load(out, "table3")
    assert data["provenance"]["commands"] == [f"python reproduce.py --table 1 --scale smoke --device cpu --out {out}"]
    assert {"linprobe_top5", "finetune_top5"} <= set(data["measured"])
    assert data["measured"]["linprobe_top5"]["mmae"]["mean"] >= data["measured"]["linprobe_top1"]["mmae"]["mean"]


@pytest.mark.parametrize("n,keys", [(1, ["feat_mi_a1"]), (2, ["feat_joint_a1"]), (3, ["feat_joint_a1", "feat_mi_a1", "knn_top1"]),
                                    (4, ["erank"]), (5, ["feat_js", "feat_spectrum_js"])])
def test_figures(out, n, keys):
    run(out, "--figure", str(n))
    key = f"figure{n}"
    data, md = load(out, key)
    for k in keys:
        curves = data["measured"][k]
        assert curves, k
        for c in curves.values():
            assert c["epoch"][0] == 0 and c["epoch"][-1] == 1 and len(c["mean"]) == 2
    # the paper's claims each figure tests: a rise during training per method (Figures 1, 2, 5a), two
    # orderings of temperature 0.3 per quantity (Figure 3), three orderings and M-MAE's rise (Figure 4),
    # and the matrix JS divergence above the spectra's per method (Figure 5)
    assert len(data["verdicts"]) == {1: 3, 2: 3, 3: 6, 4: 4, 5: 6}[n]
    assert {v["verdict"] for v in data["verdicts"]} == {"inconclusive"}  # one seed
    rises = [v for v in data["verdicts"] if v["test"] == "trend"]
    assert len(rises) == {1: 3, 2: 3, 3: 0, 4: 1, 5: 3}[n] and all(v["kind"] == "mechanism" for v in rises)
    for v in rises:  # each seed's curve is summarised, and the curves themselves are kept per seed
        assert set(v["per_seed"]["0"]) == {"rho", "first", "peak", "peak_epoch", "final"}
    for c in data["measured"][keys[0]].values():
        assert list(c["per_seed"]) == ["0"] and len(c["per_seed"]["0"]) == len(c["mean"])
    for ext in ("png", "svg"):
        path = out / "smoke" / key / f"{key}.{ext}"
        assert path.stat().st_size > 1000
    assert (out / "smoke" / key / f"{key}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_skips_every_finished_stage(out):
    metrics = sorted(out.glob("runs/**/metrics.json"))
    before = {p: p.stat().st_mtime_ns for p in metrics}
    r = run(out, "--all")
    assert "running" not in r.stdout
    assert {p: p.stat().st_mtime_ns for p in metrics} == before
