"""End-to-end Siamese training on tiny CPU workloads: all four methods, the logged records,
resume after an interruption (bit-identical weights), finished-run skipping and the CLI."""
import json
import math
import pickle

import numpy as np
import pytest
import torch

import mmae.engine.siamese as S
from mmae.engine.common import load_checkpoint

from mmae import methods
from mmae.methods import SIAMESE as METHODS
from mmae.methods.spectral import sc_lambda

INFO_KEYS = {f"{k}_{q}" for k in ("feat", "sample") for q in (
    "mi_a1", "mi_a2", "joint_a1", "joint_a2", "h1_a1", "h2_a1", "h1_a2", "h2_a2", "js", "spectrum_js", "erank1", "erank2")}
LOSS_KEYS = {"sc_align", "sc_offdiag", "sc_loss", "bt_ondiag", "bt_offdiag", "bt_loss"}
BOUND_KEYS = {"bound_4_3_sc", "bound_4_13_sc", "bound_4_3_bt", "bound_4_13_bt", "bound_4_17_bt_mu1"}



def _tiny_cifar(root, n_train=96, n_test=32):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sizes = [n_train // 5] * 4 + [n_train - 4 * (n_train // 5)]
    for name, n in [(f"data_batch_{i}", s) for i, s in enumerate(sizes, 1)] + [("test_batch", n_test)]:
        with open(d / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         b"labels": rng.integers(0, 10, n).tolist()}, f, protocol=2)
    return root


def _tiny(method, root, **kw):
    base = dict(data_root=str(root), backbone="convnet_small", epochs=2, batch_size=32, warmup_epochs=1,
                proj_hidden=32, proj_out=16, pred_hidden=32, info_batch=24, knn_k=10, linprobe_epochs=2,
                device="cpu", ckpt_every=1, eval_every=1)  # every epoch's record (the recipe: every 5th)
    base.update(kw)
    return S.recipe(method, "cifar10", **base)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_trains_end_to_end_with_the_full_log(method, tmp_path):
    cfg = _tiny(method, _tiny_cifar(tmp_path / "data"))
    metrics = S.run(cfg, tmp_path / "run")
    assert {"knn_top1", "linear_top1", "linear_top5"} <= set(metrics)
    assert 0 <= metrics["knn_top1"] <= 100 and 0 <= metrics["linear_top1"] <= metrics["linear_top5"] <= 100
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2]  # epoch 0: the initialisation
    assert {"loss", "lr", "epoch_s", "images_per_s"} <= set(log[1]) and "loss" not in log[0]
    for r in log:
        assert INFO_KEYS | LOSS_KEYS | BOUND_KEYS | {"knn_top1", "feat_tcr_joint_mu1"} <= set(r)
        assert all(math.isfinite(v) for v in r.values() if isinstance(v, float))
        assert r["info_batch"] == 24 and r["info_dim"] == 16
        # Proposition 4.5 (I <= log n), the entropy maximum log n and H(K1 o K2) >= max H(K_k)
        # hold on real branch outputs (I >= 0 is not asserted: it can fail by a hair, see the report)
        for kind, n in (("feat", 16), ("sample", 24)):
            for a in ("a1", "a2"):
                assert r[f"{kind}_mi_{a}"] <= math.log(n) + 1e-9
                assert r[f"{kind}_joint_{a}"] <= math.log(n) + 1e-9
                assert r[f"{kind}_joint_{a}"] >= max(r[f"{kind}_h1_{a}"], r[f"{kind}_h2_{a}"]) - 1e-9
            assert 0 <= r[f"{kind}_js"] <= math.log(2) and 0 <= r[f"{kind}_spectrum_js"] <= math.log(2)
    if method == "byol":
        assert 0.99 < log[-1]["byol_momentum"] <= 1.0
    if method == "spectral":  # lambda defaults to 1/(B-1), the expectation form
        assert log[0]["bound_sc_lam"] == pytest.approx(1 / 31)
    ck = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ck["epoch"] == 2 and ck["config"]["method"] == method


def test_resume_after_sigterm_mid_epoch_gives_identical_weights(tmp_path, monkeypatch):
    import signal

    from mmae.engine.loop import Preempted
    data = _tiny_cifar(tmp_path / "data")
    cfg = _tiny("byol", data, epochs=3, batch_size=16, linprobe_epochs=0)  # 6 steps per epoch; EMA target, BN
    S.run(cfg, tmp_path / "straight")
    real, calls = S.SiameseTask.step, {"n": 0}

    def step_then_signal(self, net, batch):  # SIGTERM arrives during step 9 (epoch 2)
        calls["n"] += 1
        if calls["n"] == 9:
            signal.raise_signal(signal.SIGTERM)
        return real(self, net, batch)

    monkeypatch.setattr(S.SiameseTask, "step", step_then_signal)
    with pytest.raises(Preempted, match="rerun the same command"):
        S.run(cfg, tmp_path / "resumed")
    assert load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["step"] == 9  # the step was finished
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    monkeypatch.undo()
    S.run(cfg, tmp_path / "resumed")

    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    la = [json.loads(x) for x in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    lb = [json.loads(x) for x in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lb] == [0, 1, 2, 3]
    for ra, rb in zip(la, lb):  # the interrupted epoch's mean loss carried its partial sums across the resume
        assert ra.get("loss") == rb.get("loss") and ra["feat_mi_a1"] == rb["feat_mi_a1"]


class _TensorRateLARS(S.LARS):
    """LARS holding each group's rate as a 0-d tensor from the start, as `cuda_graphs` does."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        for g in self.param_groups:
            g["lr"] = torch.tensor(float(g["lr"]))


def _weights(run_dir):
    return load_checkpoint(run_dir / "checkpoint.pt")["model"]


@pytest.mark.parametrize("method,clip", [(m, 0.0) for m in METHODS] + [("simclr", 0.5)])
def test_the_cuda_graph_step_trains_exactly_as_the_eager_step(method, clip, tmp_path, monkeypatch):
    """On a CPU `cuda_graphs` runs the graph's function uncaptured (`GraphedStep`): every batch is
    copied into the static buffers, the key of its random numbers refilled in place, the gradients
    replaced, and the optimiser reads its rate from a tensor. Against the loop's own step with the
    same tensor rate, the weights and the log are bit-identical (two epochs, a resume-free run), also
    with gradient clipping inside the step."""
    data = _tiny_cifar(tmp_path / "data")
    kw = dict(epochs=2, batch_size=16, linprobe_epochs=0, clip_grad=clip)  # 6 steps per epoch
    graphed = S.run(_tiny(method, data, cuda_graphs=True, **kw), tmp_path / "graphed")
    monkeypatch.setattr(S, "LARS", _TensorRateLARS)
    eager = S.run(_tiny(method, data, **kw), tmp_path / "eager")
    a, b = _weights(tmp_path / "graphed"), _weights(tmp_path / "eager")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), method
    la = [json.loads(x) for x in (tmp_path / "graphed" / "log.jsonl").read_text().splitlines()]
    lb = [json.loads(x) for x in (tmp_path / "eager" / "log.jsonl").read_text().splitlines()]
    assert [r.get("loss") for r in la] == [r.get("loss") for r in lb] and la[2]["loss"] is not None
    assert graphed["knn_top1"] == eager["knn_top1"]


def test_a_cuda_graph_run_resumes_after_sigterm_to_the_same_weights(tmp_path, monkeypatch):
    import signal

    from mmae.engine.loop import Preempted
    data = _tiny_cifar(tmp_path / "data")
    cfg = _tiny("byol", data, epochs=2, batch_size=16, linprobe_epochs=0, cuda_graphs=True)
    S.run(cfg, tmp_path / "straight")
    real, calls = S.SiameseTask.step, {"n": 0}

    def step_then_signal(self, net, batch):  # SIGTERM during step 8 (epoch 2)
        calls["n"] += 1
        if calls["n"] == 8:
            signal.raise_signal(signal.SIGTERM)
        return real(self, net, batch)

    monkeypatch.setattr(S.SiameseTask, "step", step_then_signal)
    with pytest.raises(Preempted):
        S.run(cfg, tmp_path / "resumed")
    monkeypatch.undo()
    S.run(cfg, tmp_path / "resumed")  # the checkpoint holds the tensor rate; the new graph takes a new one
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cuda_graphs_is_refused_where_it_cannot_capture(tmp_path):
    with pytest.raises(ValueError, match="exclude each other"):
        S.recipe("simclr", "cifar10", cuda_graphs=True, compile=True)
    from mmae.engine import pretrain
    with pytest.raises(ValueError, match="PretrainTask cannot be captured"):
        pretrain.run(pretrain.PretrainConfig.mini(epochs=1, cuda_graphs=True), tmp_path / "mae")


def test_finished_run_is_not_redone_and_a_changed_config_is_refused(tmp_path, monkeypatch):
    data = _tiny_cifar(tmp_path / "data")
    cfg = _tiny("simclr", data, epochs=1, linprobe_epochs=0)
    first = S.run(cfg, tmp_path / "run")
    monkeypatch.setattr(S, "load_data", lambda cfg: pytest.fail("a finished run was trained again"))
    assert S.run(cfg, tmp_path / "run") == first
    monkeypatch.undo()
    (tmp_path / "run" / "metrics.json").unlink()
    with pytest.raises(ValueError, match="temperature"):
        S.run(_tiny("simclr", data, epochs=1, linprobe_epochs=0, temperature=0.3), tmp_path / "run")


def test_digits_mini_scale_runs_with_the_recipe(tmp_path):
    cfg = S.recipe("barlow", "digits", epochs=1, linprobe_epochs=1, device="cpu")
    assert cfg.backbone == "convnet_small" and cfg.batch_size == 256
    m = S.run(cfg, tmp_path / "bt")
    rec = json.loads((tmp_path / "bt" / "log.jsonl").read_text().splitlines()[1])
    assert rec["epoch"] == 1
    assert rec["info_batch"] == 256 and rec["info_dim"] == cfg.proj_out
    assert rec["bound_bt_lam"] == cfg.bt_lam
    assert m["knn_top1"] > 30  # ten classes: far above chance even after one epoch


def _tiny_idx(root, n_train=64, n_test=32):
    """Fashion-MNIST's four files, gzipped IDX, holding random 28x28 images and labels."""
    from mmae.data.idx import FILES, write_idx
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for name, shape in zip(FILES[split], ((n, 28, 28), (n,))):
            write_idx(str(root / f"{name}.gz"), rng.integers(0, 256 if len(shape) == 3 else 10, shape, dtype=np.uint8))
    return root


def test_fashion_mnist_small_scale_recipe_runs_from_idx_files(tmp_path):
    # the small scale keeps CIFAR's method recipes (solo-learn) on a shorter schedule
    c = S.recipe("byol", "fashion-mnist")
    cifar = S.recipe("byol", "cifar10")
    assert (c.backbone, c.epochs, c.warmup_epochs, c.eval_every) == ("resnet18", 30, 3, 3)
    for f in ("batch_size", "blr", "weight_decay", "lars_eta", "lars_ratio", "lars_clip", "proj_hidden", "proj_out",
              "pred_hidden", "byol_momentum"):
        assert getattr(c, f) == getattr(cifar, f), f
    cfg = S.recipe("barlow", "fashion-mnist", data_root=str(_tiny_idx(tmp_path / "fm")), backbone="convnet_small",
                   epochs=1, batch_size=32, proj_hidden=32, proj_out=16, info_batch=24, knn_k=10, linprobe_epochs=1,
                   device="cpu")
    m = S.run(cfg, tmp_path / "run")
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1] and log[1]["info_batch"] == 24
    assert 0 <= m["knn_top1"] <= 100 and "linear_top5" in m


def test_fashion_mnist_views_keep_orientation_and_have_no_colour():
    r = methods.get("byol").views("fashion-mnist", (0.286,), (0.353,), 28)
    assert (r.flip_p, r.gray_p, r.jitter[2:], r.blur_p, r.solarize_p) == (0.0, 0.0, (0.0, 0.0), (0.0, 0.0), (0.0, 0.2))
    assert r.crop_scale == methods.get("byol").views("cifar10", (0.5,) * 3, (0.25,) * 3, 32).crop_scale


def test_config_without_recipe_fields_takes_the_recipe():
    c = S.SiameseConfig(method="barlow", dataset="digits", epochs=3)
    assert c == S.recipe("barlow", "digits", epochs=3)
    assert (c.backbone, c.proj_layers, c.bt_lam, c.epochs) == ("convnet_small", 3, 0.0051, 3)


def test_recipes_are_the_documented_ones():
    # solo-learn's scripts/pretrain/cifar/{simclr,barlow,byol}.yaml: batch 256, LARS eta 0.02 with clip_lr
    c = S.recipe("simclr", "cifar10")
    assert (c.backbone, c.batch_size, c.optimizer, c.temperature, c.epochs, c.proj_hidden, c.proj_out) == (
        "resnet18", 256, "lars", 0.2, 200, 2048, 256)
    assert (c.blr, c.weight_decay, c.lars_eta, c.lars_ratio, c.lars_clip) == (0.4, 1e-4, 0.02, "lars", True)
    b = S.recipe("barlow", "cifar100")
    assert (b.bt_lam, b.proj_layers, b.proj_out, b.blr, b.weight_decay) == (0.0051, 3, 2048, 0.3, 1e-4)
    y = S.recipe("byol", "cifar10", epochs=1000)
    assert (y.byol_momentum, y.proj_hidden, y.pred_hidden, y.epochs, y.blr) == (0.99, 4096, 4096, 1000, 1.0)
    s = S.recipe("spectral", "cifar10")
    assert sc_lambda(s) == pytest.approx(1 / 255)
    d = S.recipe("simclr", "digits")  # the mini scale keeps MAE's LARS form
    assert (d.lars_eta, d.lars_ratio, d.lars_clip) == (0.001, "update", False)


@pytest.mark.parametrize("bad, match", [
    (dict(temperature=0.0), "temperature"), (dict(batch_size=1), "batch_size"), (dict(optimizer="adam"), "optimizer"),
    (dict(bt_normalize="x"), "bt_normalize"), (dict(epochs=0), "epochs"), (dict(nonsense=1), "nonsense"),
    (dict(lr="fast"), "lr"), (dict(epochs=2.5), "epochs")])
def test_bad_config_is_a_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        S.recipe("simclr", "cifar10", **bad)


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    for argv in (["--method", "simclr", "--dataset", "digits", "--out", str(tmp_path), "--epochs", "0"],
                 ["--method", "mocov9", "--dataset", "digits", "--out", str(tmp_path)],
                 ["--method", "simclr", "--dataset", "cifar10", "--out", str(tmp_path / "r"), "--data-root", str(tmp_path / "none")]):
        assert S.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error" in err, err
    with pytest.raises(SystemExit) as e:  # a malformed value: argparse's own error, same style
        S.main(["--epochs", "two", "--out", str(tmp_path)])
    assert e.value.code == 2 and capsys.readouterr().err.count("\n") == 1


def test_cli_runs_a_tiny_configuration(tmp_path, capsys):
    _tiny_cifar(tmp_path / "data")
    code = S.main(["--method", "spectral", "--dataset", "cifar10", "--data-root", str(tmp_path / "data"),
                   "--out", str(tmp_path / "r"), "--backbone", "convnet_small", "--epochs", "1", "--batch-size", "32",
                   "--proj-hidden", "32", "--proj-out", "16", "--info-batch", "16", "--linprobe-epochs", "1",
                   "--device", "cpu", "--no-amp"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "spectral" and "knn_top1" in out
