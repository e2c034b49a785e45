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
    data = json.loads((out / key / f"{key}.json").read_text())
    md = (out / key / f"{key}.md").read_text()
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
    assert md in r.stdout.replace("\r", "") or "Table 1" in r.stdout


def test_table2(out):
    run(out, "--table", "2")
    data, md = load(out, "table2")
    assert set(data["measured"]["linprobe_top1"]) == {"0.1", "0.5", "0.75", "1", "1.25", "1.5", "3"}
    assert "| paper top-1 | 58.61 |" in md


def test_table3_reuses_table1_runs(out):
    r = run(out, "--table", "3")
    assert r.stdout.count("finished earlier, kept") == 9  # every stage was computed for Table 1
    data, md = load(out, "table3")
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
    for ext in ("png", "svg"):
        path = out / key / f"{key}.{ext}"
        assert path.stat().st_size > 1000
    assert (out / key / f"{key}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_skips_every_finished_stage(out):
    metrics = sorted(out.glob("runs/**/metrics.json"))
    before = {p: p.stat().st_mtime_ns for p in metrics}
    r = run(out, "--all")
    assert "running" not in r.stdout
    assert {p: p.stat().st_mtime_ns for p in metrics} == before
