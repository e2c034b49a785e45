"""`benchmarks/gpu_check.py --smoke --device cpu` runs every section and writes the report: each
section (and each row) is either measured numbers or an explicit "skipped: <reason>"; and the
benchmark's data-sheet peak goes only to the GPUs whose name identifies them."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from mmae import methods

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_mae  # noqa: E402
import gpu_check  # noqa: E402


@pytest.mark.slow
def test_smoke_run_writes_every_section(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--smoke", "--device", "cpu",
                    "--out", str(tmp_path)], check=True, cwd=ROOT, timeout=900, capture_output=True)
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["meta"]["smoke"] and report["meta"]["device"].startswith("CPU")
    secs = report["sections"]
    assert list(secs) == list(gpu_check.SECTIONS)
    for name, sec in secs.items():
        assert "error" not in sec, (name, sec.get("error"))
        if "skipped" in sec:
            assert sec["skipped"], name
            continue
        assert sec["rows"], name
        for row in sec["rows"]:
            if "skipped" in row:
                assert isinstance(row["skipped"], str) and row["skipped"], (name, row)
                continue
            nums = [v for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
            assert nums and all(math.isfinite(v) for v in nums), (name, row)
    # on a CPU: no sync-debug mode; the GPU decode path needs CUDA; transformers is optional
    assert "CUDA" in secs["syncs"]["skipped"]
    gpu_row = next(r for r in secs["loader"]["rows"] if "GPU decode" in r["name"])
    assert "CUDA" in gpu_row["skipped"]
    # what the sections measure: speeds > 0, and the cross-section figures
    assert all(r["tflops"] > 0 for r in secs["matmul"]["rows"])
    assert all(r["images_per_s"] > 0 for r in secs["loader"]["rows"] if "skipped" not in r)
    eager = [r for r in secs["siamese"]["rows"] if "graph" not in r["name"]]
    graphed = [r for r in secs["siamese"]["rows"] if "graph" in r["name"]]
    assert [r["name"] for r in eager] == list(methods.SIAMESE)  # every Siamese method of the registry
    assert all(r["epoch_s"] > 0 and r["eval_s"] > 0 and r["eval_share"] > 0 for r in eager)
    # each method's step through the CUDA-graph path too (on a CPU uncaptured, and labelled so)
    assert [r["method"] for r in graphed] == [r["name"] for r in eager]
    assert all("uncaptured" in r["name"] and r["epoch_s"] > 0 and r["speedup_vs_eager"] > 0 for r in graphed)
    ours = [r for r in secs["mae"]["rows"] if r.get("impl") == "ours" and "skipped" not in r]
    assert {r["mode"] for r in ours} == {"eager", "compiled"} and all(0 < r["mfu"] for r in ours)
    reg = secs["regulariser"]["rows"]
    assert {r["method"] for r in reg} == {"umae", "mmae"}
    assert all(r["share_of_eager_step"] > 0 and r["share_of_compiled_step"] > 0 for r in reg)
    md = (tmp_path / "gpu_check.md").read_text()
    for sec in secs.values():
        assert f"## {sec['title']}" in md


def test_only_named_sxm_boards_get_the_sxm_peak():
    # NVIDIA's data sheets, dense bf16 (half the "with sparsity" figure): H100 / H200 SXM 989 TFLOP/s,
    # H100 PCIe 756 TFLOP/s; names as torch.cuda.get_device_name reports them
    assert bench_mae.spec_peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert bench_mae.spec_peak_tflops("NVIDIA H200") == 989.0
    assert bench_mae.spec_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert bench_mae.spec_peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    for name in ("NVIDIA H100 NVL", "NVIDIA H200 NVL", "NVIDIA GH200 480GB", "NVIDIA A10G", "NVIDIA H800"):
        assert bench_mae.spec_peak_tflops(name) is None, name  # measured instead
