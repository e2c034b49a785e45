"""Files a user downloads never execute code: checkpoints load with ``weights_only=True`` (plus the
official checkpoints' ``args`` Namespace), CIFAR pickles through an allow-list unpickler. Each
malicious file below would create a marker file if its code ran."""
import argparse
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from mmae.data.cifar import load_cifar
from mmae.engine import finetune, linprobe, pretrain, siamese
from mmae.engine.common import UnsafeCheckpoint, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


class _Payload:
    """Unpickling this calls ``os.system`` (touching ``marker``): what a crafted file would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("pre")
    pretrain.run(pretrain.PretrainConfig.mini(method="mae", epochs=1, warmup_epochs=0, erank_batch=16), out)
    return out


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(n in err[0] for n in needles), err


@pytest.mark.parametrize("engine", [linprobe, finetune])
def test_a_malicious_pretrained_checkpoint_is_refused_unrun(engine, tmp_path, capsys, pretrained):
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pth"
    state = load_checkpoint(pretrained / "checkpoint.pt")["model"]
    torch.save({"model": state, "args": _Payload(marker)}, evil)  # the official layout, with code in `args`
    code = engine.main(["--mini", "--pretrained", str(evil), "--model", "mini-b", "--patch-size", "2",
                        "--epochs", "1", "--out", str(tmp_path / "run")])
    assert code == 2 and not marker.exists()
    _one_line_error(capsys, str(evil), "system")


def test_an_official_checkpoint_with_its_args_namespace_still_loads(tmp_path, pretrained):
    state = load_checkpoint(pretrained / "checkpoint.pt")["model"]
    args = argparse.Namespace(model="mae_vit_base_patch16", norm_pix_loss=True, blr=1.5e-4, output_dir="./out")
    torch.save({"model": state, "optimizer": {"state": {}, "param_groups": []}, "epoch": 199,
                "scaler": {"scale": 65536.0}, "args": args}, tmp_path / "mae_pretrain.pth")
    m = linprobe.run(linprobe.LinProbeConfig.mini(pretrained=str(tmp_path / "mae_pretrain.pth"), model="mini-b",
                                                  patch_size=2, epochs=1, warmup_epochs=0), tmp_path / "lin")
    assert 0 <= m["top1"] <= 100


def test_resume_refuses_a_malicious_checkpoint_instead_of_falling_back(tmp_path, capsys):
    marker = tmp_path / "marker"
    argv = ["--mini", "--method", "mae", "--epochs", "1", "--erank-batch", "16", "--out", str(tmp_path / "run")]
    assert pretrain.main(argv) == 0
    capsys.readouterr()
    (tmp_path / "run" / "metrics.json").unlink()
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", {"model": {}, "step": 1, "x": _Payload(marker)})
    assert pretrain.main(argv) == 2 and not marker.exists()
    _one_line_error(capsys, "refusing to load", "checkpoint.pt", "system")
    assert not (tmp_path / "run" / "metrics.json").exists()  # nothing was trained over it


def test_a_checkpoint_of_an_earlier_version_gets_a_conversion_message(tmp_path):
    import random
    path = tmp_path / "checkpoint.pt"
    # the earlier format: every rank's RNG states, numpy's among them
    old = {"model": {"w": torch.ones(2)}, "epoch": 3, "rng": [{"python": random.getstate(), "torch": torch.get_rng_state(),
                                                                 "numpy": np.random.get_state()}]}
    torch.save(old, path)
    with pytest.raises(UnsafeCheckpoint, match=re.escape(f"python -m mmae.engine.common convert {path}")):
        load_checkpoint(path)
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "mmae.engine.common", "convert", str(path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    back = load_checkpoint(path)
    assert back["epoch"] == 3 and "rng" not in back and torch.equal(back["model"]["w"], torch.ones(2))


def _cifar_dir(root: Path, payload=None) -> Path:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": b"training batch", b"labels": [int(v) for v in rng.integers(0, 10, 8)],
                 b"data": rng.integers(0, 256, (8, 3072), dtype=np.uint8), b"filenames": [b"x.png"] * 8}
        if payload is not None and name == "data_batch_1":
            batch[b"labels"] = payload
        (d / name).write_bytes(pickle.dumps(batch, protocol=2))  # the official files' protocol
    return root


def test_a_malicious_cifar_batch_is_refused_unrun(tmp_path, capsys):
    marker = tmp_path / "marker"
    root = _cifar_dir(tmp_path / "data", payload=_Payload(marker))
    with pytest.raises(ValueError, match=r"refusing to read .*data_batch_1: it asks for posix\.system|nt\.system"):
        load_cifar(root, "cifar10", "train")
    assert not marker.exists()
    # through the public entry point: one line, exit code 2
    code = siamese.main(["--method", "simclr", "--dataset", "cifar10", "--data-root", str(root), "--out",
                         str(tmp_path / "run")])
    assert code == 2 and not marker.exists()
    _one_line_error(capsys, "data_batch_1", "system")


def test_genuine_cifar_files_still_load(tmp_path):
    x, y = load_cifar(_cifar_dir(tmp_path / "data"), "cifar10", "train")
    assert x.shape == (40, 3, 32, 32) and x.dtype == torch.uint8 and y.shape == (40,)


def test_no_unsafe_loading_remains_in_the_package():
    offenders = []
    for path in (ROOT / "mmae").rglob("*.py"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"weights_only\s*=\s*False|pickle\.loads?\(|\bUnpickler\(\s*[^)]*\)\.load\(", line) and \
                    "SafeUnpickler" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not offenders, offenders
