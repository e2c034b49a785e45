"""The small scale end to end on real Fashion-MNIST images: a subset of Debian's IDX files, rewritten
in the same format, through `reproduce.py --figure 4 --scale small --seeds 1 --epochs 1`."""
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmae.data.idx import DEFAULT_ROOT, FILES, read_idx

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.isdir(DEFAULT_ROOT), reason="Debian's dataset-fashion-mnist is not installed")]


def _subset(dst: Path, n: dict) -> None:
    """The first ``n[split]`` images and labels of each split, as gzipped IDX files."""
    dst.mkdir()
    for split, names in FILES.items():
        for name in names:
            a = read_idx(os.path.join(DEFAULT_ROOT, name + ".gz"))[:n[split]]
            head = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
            with gzip.open(dst / f"{name}.gz", "wb") as f:
                f.write(head + a.tobytes())


def test_figure4_small_one_epoch_runs_through(tmp_path):
    data = tmp_path / "fm"
    _subset(data, {"train": 768, "test": 300})
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(ROOT / "reproduce.py"), "--figure", "4", "--scale", "small", "--seeds", "1",
                        "--epochs", "1", "--data", str(data), "--device", "cpu", "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    where = tmp_path / "out" / "small" / "figure4-ep1"  # a shortened pretraining: beside the scale's own summary
    report = json.loads((where / "figure4.json").read_text())
    assert report["scale"] == "small" and report["setup"]["datasets"] == ["fashion-mnist"]
    assert report["setup"]["epochs"] == 1
    setup = report["setup"]
    # the CLS token of mini-b: 32 dimensions; the effective rank of 256 held-out features is at most 32
    assert setup["feature_dim"] == 32 and setup["erank_batch"] == 256 and setup["erank_max"] == 32
    assert setup["models"]["mini-b"]["patch_size"] == 7
    curves = report["measured"]["erank"]
    assert set(curves) == {"mae", "umae", "mmae"}
    for c in curves.values():
        assert c["epoch"] == [0, 1] and all(1.0 <= v <= 32.0 for v in c["mean"])
    assert "dimension 32" in (where / "figure4.md").read_text() and not (where.parent / "figure4").exists()
