"""The MIM engines end to end on CPU: pretrain -> linear probe -> fine-tune on the digits and on
CIFAR-format pickles, exact resumption after an interruption, the non-finite guard, the CLI."""
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from _images import write_image_folder
from mmae import methods
from mmae.engine import finetune, linprobe, pretrain
from mmae.engine.common import NonFiniteLoss, load_checkpoint



def _pre(**kw):
    return pretrain.PretrainConfig.mini(**{"epochs": 3, "warmup_epochs": 1, "ckpt_every": 1, "erank_batch": 64, **kw})


def _interrupt_on(task_cls, call: int, monkeypatch):
    """Let ``task_cls.step`` run, but crash (as SIGKILL would: nothing saved) in its ``call``-th call."""
    real, calls = task_cls.step, {"n": 0}

    def crashing(*a, **k):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt("simulated crash")
        return real(*a, **k)
    monkeypatch.setattr(task_cls, "step", crashing)


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_pretrain_resumes_to_identical_weights(tmp_path, monkeypatch):
    cfg = _pre(method="mmae", lam=0.5, accum_iter=2, clip_grad=1.0)
    full = pretrain.run(cfg, tmp_path / "full")
    with monkeypatch.context() as m:
        _interrupt_on(pretrain.PretrainTask, 2 * 10 * 2 + 5, m)  # in epoch 3 (10 steps of 2 micro-steps each)
        with pytest.raises(KeyboardInterrupt):
            pretrain.run(cfg, tmp_path / "cut")
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["epoch"] == 2
    assert not (tmp_path / "cut" / "metrics.json").exists()
    resumed = pretrain.run(cfg, tmp_path / "cut")
    a, b = load_checkpoint(tmp_path / "full" / "checkpoint.pt"), load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert _same_state(a["model"], b["model"])
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    assert all(_same_state(a["optimizer"]["state"][k], b["optimizer"]["state"][k]) for k in a["optimizer"]["state"])
    assert resumed == full
    # the log has one line per epoch (plus the initial effective rank), each with an effective rank
    log = [json.loads(line) for line in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2, 3]
    assert all(1.0 <= r["erank"] <= 32 for r in log)
    assert all(r["reg_loss"] < 0 for r in log[1:])  # -log det(I + ...) of a non-zero batch
    assert all(k in log[-1] for k in ("loss", "mae_loss", "lr", "images_per_s"))
    # a finished run is not redone; a changed configuration is refused
    monkeypatch.setattr(pretrain.PretrainTask, "step", None)
    assert pretrain.run(cfg, tmp_path / "full") == full
    with pytest.raises(ValueError, match="lam: 0.5 -> 0.25"):
        pretrain.run(_pre(method="mmae", lam=0.25, accum_iter=2, clip_grad=1.0), tmp_path / "cut")


def test_finetune_resumes_to_identical_weights_with_the_full_recipe(tmp_path, monkeypatch):
    # from scratch, with RandAugment, mixup/cutmix, random erasing and drop path all drawing randomness
    cfg = finetune.FinetuneConfig.mini(epochs=2, ckpt_every=1, eval_every=1, mixup=0.8, cutmix=1.0,
                                       randaug_ops=2, reprob=0.25)
    full = finetune.run(cfg, tmp_path / "full")
    with monkeypatch.context() as m:
        _interrupt_on(finetune.FinetuneTask, 10 + 3, m)  # in epoch 2 (10 steps per epoch)
        with pytest.raises(KeyboardInterrupt):
            finetune.run(cfg, tmp_path / "cut")
    resumed = finetune.run(cfg, tmp_path / "cut")
    a, b = load_checkpoint(tmp_path / "full" / "checkpoint.pt"), load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert _same_state(a["model"], b["model"]) and resumed == full
    assert 0 <= full["top1"] <= full["top5"] <= 100


def test_non_finite_loss_stops_without_overwriting_the_checkpoint(tmp_path, monkeypatch):
    cfg = _pre(method="umae", epochs=2)
    umae = methods.get("umae")
    real, calls = type(umae).regularizer, {"n": 0}

    def poisoned(self, z, p):
        calls["n"] += 1
        r = real(self, z, p)
        return r * float("nan") if calls["n"] > 10 else r  # epoch 2 (10 steps per epoch) diverges
    monkeypatch.setattr(type(umae), "regularizer", poisoned)
    with pytest.raises(NonFiniteLoss, match="epoch 2"):
        pretrain.run(cfg, tmp_path / "run")
    ck = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ck["epoch"] == 1 and all(torch.isfinite(v).all() for v in ck["model"].values())
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.fixture(scope="module")
def digits_pretrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("pre")
    pretrain.run(_pre(method="mae", epochs=2), out)
    return out


def test_linear_probe_trains_only_the_head(tmp_path, digits_pretrained):
    cfg = linprobe.LinProbeConfig.mini(pretrained=str(digits_pretrained))  # the recipe's 100 epochs
    metrics = linprobe.run(cfg, tmp_path / "lin")
    enc = load_checkpoint(digits_pretrained / "checkpoint.pt")["model"]
    probe = load_checkpoint(tmp_path / "lin" / "checkpoint.pt")["model"]
    shared = [k for k in probe if not k.startswith("head.")]
    assert shared and all(torch.equal(probe[k], enc[k]) for k in shared)  # frozen encoder
    assert probe["head.0.num_batches_tracked"] == 100 * 5  # BatchNorm statistics of 100 epochs x 5 batches
    assert sorted(k for k in probe if k.startswith("head.")) == [
        "head.0.num_batches_tracked", "head.0.running_mean", "head.0.running_var", "head.1.bias", "head.1.weight"]
    assert 0 <= metrics["top1"] <= metrics["top5"] <= 100 and metrics["top1"] > 40  # chance: 10%
    # a bare checkpoint file in the public format ({"model": state_dict}) gives the same probe
    torch.save({"model": enc}, tmp_path / "official.pth")
    same = linprobe.run(linprobe.LinProbeConfig.mini(pretrained=str(tmp_path / "official.pth"), model="mini-b",
                                                     patch_size=2), tmp_path / "lin2")
    assert same["top1"] == metrics["top1"] and same["test_loss"] == metrics["test_loss"]


def _write_cifar10(root: Path, n_train=80, n_test=40):
    """CIFAR-10's python format: pickled dicts with byte-string keys, data (N, 3072) uint8 in
    R, G, B planes of 32 x 32, labels a list; five training batches and a test batch."""
    rng = np.random.default_rng(0)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    per = n_train // 5
    for i in range(1, 6):
        batch = {b"data": rng.integers(0, 256, (per, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, per))}
        (d / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=2))
    test = {b"data": rng.integers(0, 256, (n_test, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n_test))}
    (d / "test_batch").write_bytes(pickle.dumps(test, protocol=2))


def test_cli_pipeline_on_cifar_format_files(tmp_path, capsys):
    _write_cifar10(tmp_path / "data")
    common = ["--dataset", "cifar10", "--data-root", str(tmp_path / "data"), "--device", "cpu",
              "--num-workers", "0", "--batch-size", "16", "--epochs", "1", "--warmup-epochs", "0"]
    assert pretrain.main(common + ["--model", "mini-b", "--patch-size", "8", "--method", "mmae", "--mu", "1",
                                   "--erank-batch", "16", "--out", str(tmp_path / "pre")]) == 0
    pre = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert pre["method"] == "mmae" and pre["epochs"] == 1 and pre["reg_loss"] < 0
    assert linprobe.main(common + ["--pretrained", str(tmp_path / "pre"), "--accum-iter", "2",
                                   "--out", str(tmp_path / "lin")]) == 0
    assert finetune.main(common + ["--pretrained", str(tmp_path / "pre"), "--out", str(tmp_path / "ft")]) == 0
    for run in ("pre", "lin", "ft"):
        assert (tmp_path / run / "metrics.json").exists() and (tmp_path / run / "checkpoint.pt").exists()
    ft = json.loads((tmp_path / "ft" / "metrics.json").read_text())
    assert 0 <= ft["top1"] <= ft["top5"] <= 100
    # the fine-tuned model has the public fine-tuning layout (fc_norm, no final norm)
    keys = load_checkpoint(tmp_path / "ft" / "checkpoint.pt")["model"].keys()
    assert "fc_norm.weight" in keys and "norm.weight" not in keys and "head.weight" in keys


def test_cli_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    assert pretrain.main(["--dataset", "mnist", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dataset must be one of" in err[0] and "mnist" in err[0]
    with pytest.raises(SystemExit) as e:
        linprobe.main(["--epochs", "ten", "--out", str(tmp_path / "b")])
    assert e.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
    assert finetune.main(["--dataset", "cifar10", "--data-root", str(tmp_path / "missing"), "--model", "mini-b",
                          "--device", "cpu", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0]
    # the module entry point, as a user runs it
    p = subprocess.run([sys.executable, "-m", "mmae.engine.finetune", "--out", str(tmp_path / "d"),
                        "--dataset", "digits", "--layer-decay", "2"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "layer_decay" in p.stderr


def test_imagenet_folder_pipeline_with_a_corrupt_image_skipped_and_counted(tmp_path):
    write_image_folder(tmp_path / "in", {"train": 4, "val": 2})
    (tmp_path / "in" / "train" / "n01443537" / "2.JPEG").write_bytes(b"not a jpeg")
    common = dict(dataset="imagenet", data_root=str(tmp_path / "in"), model="mini-b", epochs=1, warmup_epochs=0,
                  batch_size=4, num_workers=0, device="cpu")
    with pytest.raises(ValueError, match=r"corrupt or unreadable image .*n01443537/2\.JPEG"):
        pretrain.run(pretrain.PretrainConfig(**common, erank_batch=4), tmp_path / "strict")
    pre = pretrain.run(pretrain.PretrainConfig(**common, erank_batch=4, skip_corrupt=True), tmp_path / "pre")
    log = [json.loads(line) for line in (tmp_path / "pre" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["skipped_images"] == 1 and pre["erank"] >= 1.0
    lin = linprobe.run(linprobe.LinProbeConfig(**common, pretrained=str(tmp_path / "pre"), accum_iter=1,
                                               skip_corrupt=True), tmp_path / "lin")
    assert 0 <= lin["top1"] <= lin["top5"] <= 100


def test_cli_mini_recipe_pipeline(tmp_path, capsys):
    pre, lin, ft = (str(tmp_path / n) for n in ("pre", "lin", "ft"))
    assert pretrain.main(["--mini", "--method", "umae", "--epochs", "1", "--warmup-epochs", "0", "--out", pre]) == 0
    saved = json.loads((tmp_path / "pre" / "config.json").read_text())
    assert saved["dataset"] == "digits" and saved["model"] == "mini-b" and saved["method"] == "umae"
    assert saved["batch_size"] == pretrain.PretrainConfig.mini().batch_size  # the recipe, not the published one
    assert linprobe.main(["--mini", "--pretrained", pre, "--epochs", "2", "--warmup-epochs", "1", "--out", lin]) == 0
    assert finetune.main(["--mini", "--pretrained", pre, "--epochs", "1", "--warmup-epochs", "0", "--out", ft]) == 0
    outs = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [o.get("method") for o in outs] == ["umae", None, None] and 0 <= outs[2]["top1"] <= 100
    assert pretrain.main(["--mini", "--epochs", "0", "--out", str(tmp_path / "bad")]) == 2
    assert "epochs must be >= 1" in capsys.readouterr().err
