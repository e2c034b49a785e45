"""The powered comparison (`mmae.experiments.powered`) end to end on generated Fashion-MNIST files
(the four IDX files; 1,100 training images, one global batch of the probe engine, and 200 test
images), two seeds pretrained for one epoch."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mmae.data.idx import FILES, write_idx
from mmae.experiments import powered as P
from mmae.experiments.stats import CHECKS, OUTCOMES

ROOT = Path(__file__).resolve().parents[1]


def _fake_fashion(root: Path, seed: int = 0) -> None:
    """Images whose brightness carries the label under noise (a probe learns it, not perfectly)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 1100), ("test", 200)):
        y = rng.integers(0, 10, n)
        x = np.clip(rng.normal(12.0 * y[:, None, None], 60.0, (n, 28, 28)) + 60, 0, 255).astype(np.uint8)
        write_idx(str(root / f"{FILES[split][0]}.gz"), x)
        write_idx(str(root / f"{FILES[split][1]}.gz"), y.astype(np.uint8))


ARGS = ["--seeds", "2", "--epochs", "1", "--n-val", "200", "--device", "cpu", "--jobs", "1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """`(out, data, report)` of one run of the command."""
    tmp = tmp_path_factory.mktemp("powered")
    data, out = tmp / "fm", tmp / "out"
    _fake_fashion(data)
    assert P.main(["--out", str(out), "--data", str(data), *ARGS]) == 0
    return out, data, json.loads((out / "small" / "powered-ep1" / "powered.json").read_text())


def _plan(out, data):
    return P.plan(out, seeds=2, data_root=str(data), epochs=1)


def test_the_command_writes_every_seed_baseline_verdict_and_its_provenance(run):
    out, data, r = run
    assert r["target"] == "powered" and r["setup"]["seeds"] == [0, 1] and r["setup"]["epochs"] == 1
    for cell in [*(r["measured"][m] for m in ("mae", "umae", "mmae")), r["baselines"]["random_init"]]:
        assert set(cell["per_seed"]) == {"0", "1"} and cell["mean"] == pytest.approx(np.mean(cell["values"]))
        assert all(0 <= v <= 100 for v in cell["per_seed"].values()) and len(cell["ci95"]) == 2
    assert r["baselines"]["pca"]["width"] == 32 and r["baselines"]["raw_pixels"]["width"] == 784
    assert [v["claim"].split(": ")[1] for v in r["verdicts"]] == ["M-MAE > U-MAE", "M-MAE > MAE", "U-MAE > MAE"]
    assert [v["paper_effect"] for v in r["verdicts"]] == pytest.approx([62.4 - 58.5, 62.4 - 55.4, 58.5 - 55.4])
    assert all(v["verdict"] in OUTCOMES and v["family"] == 3 for v in r["verdicts"])
    assert len(r["baseline_checks"]) == 9 and all(c["verdict"] in CHECKS for c in r["baseline_checks"])
    # every fit converges but the raw pixels', which may stop at its cap and then says so
    pixels = r["baselines"]["raw_pixels"]
    assert pixels["n_iter"] <= P.PIXEL_MAX_ITER and pixels["converged"] == (pixels["n_iter"] < P.PIXEL_MAX_ITER)
    assert r["convergence"]["fits"] == 7 * 2 + 8 + 2 and r["convergence"]["pixel_max_iter"] == P.PIXEL_MAX_ITER
    assert r["convergence"]["converged"] == r["convergence"]["fits"] - (not pixels["converged"])
    probe = r["provenance"]["probe"]
    for key in ("revision", "dirty", "torch", "numpy", "machine", "threads", "started", "finished", "seconds"):
        assert key in probe
    assert r["provenance"]["recorded"] == 8 and r["provenance"]["total_seconds"] >= probe["seconds"]
    # the absolute output folder is recorded as `results`: no path of this machine but the data's
    assert probe["command"].startswith("python -m mmae.experiments.powered --out results --data")
    text = json.dumps(r)
    assert str(out) not in text and all(p.startswith("results/runs/small/authors/") for p in r["runs"])
    md = (out / "small" / "powered-ep1" / "powered.md").read_text()
    assert md.startswith("# Table 1, powered") and r["summary"] in md and "**Choosing $C$**" in md


def test_the_cached_feature_is_the_one_the_linear_probe_engine_feeds_its_head(run):
    from mmae.engine.linprobe import ProbeTask
    from mmae.engine.mim import train_test_data
    from mmae.experiments.runner import _engine_config
    out, data, _ = run
    _, probes, _ = _plan(out, data)
    for st in (probes[0], next(s for s in probes if s.labels["method"] == "random_init")):
        train, test, cached = P.encoder_features(st, P.Data("fashion-mnist", str(data)))
        assert cached
        cfg = _engine_config(st, "cpu")
        batches, test_batches = train_test_data(cfg, torch.device("cpu"))
        task = ProbeTask(cfg, torch.device("cpu"), batches, test_batches)
        assert task.cached and torch.equal(batches.source.x, torch.from_numpy(train))
        # the engine's evaluation: the head on the feature of the normalised test images
        xt = test_batches.source.x
        task.model.eval()
        with torch.no_grad():
            assert torch.equal(task.model(task.plain(xt)), task.model.head(torch.from_numpy(test)))


def test_a_changed_checkpoint_is_computed_again(run, tmp_path):
    from mmae.engine.common import load_checkpoint, save_checkpoint
    out, data, _ = run
    shutil.copytree(out / "runs", tmp_path / "runs")
    _, probes, _ = _plan(tmp_path, data)
    st, images = probes[0], P.Data("fashion-mnist", str(data))
    before, _, cached = P.encoder_features(st, images)
    assert cached
    ckpt = Path(st.config["pretrained"])
    state = load_checkpoint(ckpt)
    state["model"]["norm.bias"] += 1.0   # the CLS feature is read after the final norm: every value moves
    save_checkpoint(ckpt, state)
    after, _, cached = P.encoder_features(st, images)
    assert not cached and np.allclose(after, before + 1.0, atol=1e-5)
    again, _, cached = P.encoder_features(st, images)
    assert cached and np.array_equal(again, after)


def test_the_choice_of_c_never_reads_the_test_split(run, tmp_path):
    """Poisoned test labels change every test accuracy and nothing of the choice."""
    out, data, r = run
    shutil.copytree(data, tmp_path / "fm")
    labels = tmp_path / "fm" / f"{FILES['test'][1]}.gz"
    from mmae.data.idx import read_idx
    write_idx(str(labels), (read_idx(str(labels)).astype(int) + 1) % 10)
    _, probes, pixels = _plan(out, data)
    poisoned = P.compare(probes, pixels, data_root=str(tmp_path / "fm"), n_val=200, log=lambda *a: None)
    assert poisoned["validation"] == r["setup"]["validation"] and poisoned["c"] == r["setup"]["probe"]["C"]
    assert poisoned["per_seed"]["mae"] != {int(s): v for s, v in r["measured"]["mae"]["per_seed"].items()}


def test_the_probe_is_the_regularised_optimum():
    """The fitted probe meets the optimality condition of scikit-learn's objective, recomputed in
    numpy: the gradient $\\frac1n Z^\\top (P - Y) + W / (C n)$ and the intercepts' $\\frac1n
    \\sum (P - Y)$ are below the solver's tolerance."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 5)) * [1, 2, 3, 0.5, 10] + 4
    y = np.argmax(x[:, :3] / [1, 2, 3] + rng.normal(size=(300, 3)), axis=1)   # three classes, overlapping
    for c in (0.01, 1.0):
        _, model, _, converged = P.fit_probe(x, y, c)
        assert converged and model.coef_.shape == (3, 5)
        z = (x - x.mean(0)) / x.std(0)
        logits = z @ model.coef_.T + model.intercept_
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = p - np.eye(3)[y]
        assert np.abs(z.T @ g / len(y) + model.coef_.T / (c * len(y))).max() <= P.TOL
        assert np.abs(g.mean(0)).max() <= P.TOL


def test_the_stored_verdicts_are_what_the_per_seed_values_give(run):
    """As for every summary: the verdicts follow from the stored values alone (the committed run too)."""
    reports = [run[2]]
    committed = ROOT / "results" / "small" / "powered" / "powered.json"
    if committed.exists():
        reports.append(json.loads(committed.read_text()))
    for r in reports:
        verdicts, checks = P.claims(r)
        assert verdicts == r["verdicts"] and checks == r["baseline_checks"]


@pytest.mark.parametrize("args, words", [(["--seeds", "1"], "at least 2"), (["--n-val", "1100"], "n_val"),
                                         (["--data", "/nonexistent/fm"], "Fashion-MNIST folder missing")])
def test_bad_input_is_one_line_and_exit_code_2(run, tmp_path, capsys, args, words):
    data = str(run[1])
    code = P.main(["--out", str(tmp_path), "--data", data, *ARGS, *args])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1


def test_the_page_shows_each_part_of_the_summary(run):
    """`docs/experiments/table-1-powered.ipynb` shows the summary's parts by their headings."""
    from mmae import pages
    r = run[2]
    seeds = pages.part(r, "Per seed")
    assert seeds.startswith("**Per seed**") and "| seed 0 | seed 1 |" in seeds and "Choosing" not in seeds
    verdicts = pages.part(r, "Verdicts")
    assert verdicts.count("\n- **") == 3 and "Holm" in verdicts and "Against the baselines" not in verdicts
    assert pages.part(r, "Choosing", "Convergence").count("**") == 4
    prov = pages.setup_md(r)
    assert "- **Probe step**:" in prov and r["command"] in prov and "Seeds**: 2 (0, 1)" in prov
