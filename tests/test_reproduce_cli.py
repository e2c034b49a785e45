"""reproduce.py's command line: bad input gives one line on stderr and exit code 2, nothing written."""
import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=None, env=None):
    e = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    e.pop("MMAE_DATA", None)
    return subprocess.run([sys.executable, str(ROOT / "reproduce.py"), *args], capture_output=True, text=True,
                          cwd=cwd, env=e, timeout=300)


@pytest.mark.parametrize("args,message", [
    (["--table", "4", "--scale", "mini"], "unknown table '4': the paper has Tables 1, 2 and 3"),
    (["--figure", "9"], "unknown figure '9': the paper has Figures 1 to 5"),
    (["--all", "--table", "1"], "--all already includes every table and figure"),
    ([], "nothing to reproduce: give --table N, --figure N or --all"),
    (["--table", "1", "--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (["--table", "1", "--seeds", "-1"], "--seeds must be a positive integer, got -1"),
    (["--table", "1", "--scale", "huge"], "unknown scale 'huge': use paper, small or mini"),
    (["--table", "1", "--scale", "mini", "--data", "/somewhere"], "digits folder missing: /somewhere (write the "
                                                                   "folder with python -m mmae.data.digits"),
    (["--table", "1", "--scale", "smoke", "--data", "/somewhere"], "--data is for --scale paper, small or mini"),
    (["--table", "1", "--scale", "mini", "--methods", "mae,dino"], "unknown method(s) dino for table1"),
    (["--figure", "1", "--scale", "mini", "--methods", "mae"], "unknown method(s) mae for figure1"),
    (["--table", "1", "--scale", "mini", "--models", "vit_huge"], "unknown model(s) vit_huge"),
    (["--table", "1", "--scale", "mini", "--only", "train"], "--only must be pretrain, linprobe, finetune or siamese"),
    (["--table", "1", "--epochs", "x"], "argument --epochs: invalid int value: 'x'"),
    (["--table", "1", "--scale", "mini", "--jobs", "0"], "--jobs must be a positive integer or auto, got '0'"),
    (["--table", "1"], "needs ImageNet-1K in folder layout"),
])
def test_bad_input_one_line_exit_2(tmp_path, args, message):
    r = run(*args, "--out", str(tmp_path / "out"))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reproduce.py: error: "), r.stderr
    assert message in lines[0]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out" / "runs").exists()


def test_missing_data_names_the_path_and_the_mini_scale(tmp_path):
    r = run("--table", "3", "--data", str(tmp_path), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    assert f"{tmp_path}/cifar-100-python does not exist" in r.stderr and "--scale mini" in r.stderr


def test_malformed_imagenet_folder(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    r = run("--table", "1", "--data", str(tmp_path), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "holds no class folders" in r.stderr


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = run("--table", "1", "--scale", "mini", "--out", str(blocker / "sub"))
    assert r.returncode == 2 and "cannot write to the output directory" in r.stderr


def test_plan_at_paper_scale_lists_stages_batches_and_cost(tmp_path):
    for split in ("train", "val"):
        (tmp_path / "imagenet" / split / "n01440764").mkdir(parents=True)
    r = run("--table", "1", "--data", str(tmp_path), "--out", str(tmp_path / "out"), "--plan")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("] pretrain ") == 6 and "global batch 1024 = 1 process(es) x 4 micro-step(s) x 256" in r.stdout
    assert "H200 GPU-hours" in r.stdout


def _idx(path, shape, body=None):
    import gzip
    head = bytes([0, 0, 8, len(shape)]) + b"".join(int(d).to_bytes(4, "big") for d in shape)
    n = 1
    for d in shape:
        n *= d
    with gzip.open(path, "wb") as f:
        f.write(head + (bytes(n) if body is None else body))


@pytest.mark.parametrize("corrupt, message", [
    (None, "Fashion-MNIST folder missing: "),
    ("t10k-labels-idx1-ubyte", "Fashion-MNIST file missing: "),
    ("train-images-idx3-ubyte", "IDX file malformed: "),
])
def test_small_scale_names_missing_or_malformed_idx_files(tmp_path, corrupt, message):
    root = tmp_path / "fm"
    if corrupt is not None:
        root.mkdir()
        for name, shape in (("train-images-idx3-ubyte", (3, 28, 28)), ("train-labels-idx1-ubyte", (3,)),
                            ("t10k-images-idx3-ubyte", (2, 28, 28)), ("t10k-labels-idx1-ubyte", (2,))):
            if name == corrupt and "labels" in name:
                continue  # missing
            _idx(root / f"{name}.gz", shape, bytes(10) if name == corrupt else None)  # truncated body
    r = run("--table", "1", "--scale", "small", "--data", str(root), "--out", str(tmp_path / "out"))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(root) in lines[0], r.stderr
    assert not (tmp_path / "out" / "runs").exists()


def test_small_scale_plans_the_siamese_figures_on_fashion_mnist(tmp_path):
    r = run("--figure", "3", "--scale", "small", "--plan", "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    # SimCLR at temperatures 0.3, 0.5 and 0.7, three seeds each, ResNet-18 for 30 epochs
    assert r.stdout.count("] siamese ") == 9 and "fashion-mnist-siamese/simclr-t0.3/seed2" in r.stdout
    assert "epochs 30" in r.stdout and "H200" in r.stdout


def test_plan_at_small_scale_estimates_gpu_and_cpu_time(tmp_path):
    r = run("--table", "1", "--scale", "small", "--seeds", "3", "--plan", "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    # 3 methods x 2 models x 3 seeds x (pretrain, probe, fine-tune), and per seed the baselines
    assert r.stdout.count("] pretrain ") == 18 and r.stdout.count("] pixels ") == 3 and r.stdout.count("] init ") == 6
    assert "H200" in r.stdout and "two CPU cores" in r.stdout


def test_a_stage_waits_for_exactly_the_stages_whose_run_directories_it_reads(tmp_path):
    from mmae.experiments import build_target, dependencies
    t = build_target("table1", "mini", tmp_path, seeds=2)
    deps = dependencies(t.stages)
    index = {st.run_dir: i for i, st in enumerate(t.stages)}
    for st, d in zip(t.stages, deps):
        if st.kind in ("pretrain", "pixels", "init") or st.labels["method"] == "supervised":
            assert d == set(), st.run_dir                         # from scratch
        else:   # a probe or fine-tuning reads its own seed's pretraining (or random initialisation), nothing else
            first = st.run_dir.with_name("init" if st.labels["method"] == "random_init" else "pretrain")
            assert d == {index[first]}, st.run_dir
    assert sum(map(len, deps)) == 2 * (2 * 3 * 2 + 2)   # seeds x (models x methods x 2 + models' random-init probes)


def _alive(marker: str) -> list[int]:
    """The processes whose environment holds `marker` (Linux's /proc)."""
    pids = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in env.read_bytes():
                pids.append(int(env.parent.name))
        except OSError:
            pass
    return pids


def _epochs(run_dir: Path) -> list:
    log = run_dir / "log.jsonl"
    return [json.loads(x).get("epoch") for x in log.read_text().splitlines() if x.strip()] if log.exists() else []


def _until(pred, proc, timeout=180):
    t0 = time.monotonic()
    while not pred():
        assert proc is None or proc.poll() is None, f"the run ended first: {proc.stderr.read()}"
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the workers through /proc")
def test_sigterm_and_sigkill_of_a_run_with_parallel_stages_leave_them_resumable(tmp_path):
    """`--jobs 2`: SIGTERM to the parent alone reaches the running stages, which checkpoint; after a
    SIGKILL of the parent its workers checkpoint and end by themselves; the rerun finishes every stage,
    each pretraining epoch logged once."""
    marker = f"mmae-test-{os.getpid()}-{time.time_ns()}"
    args = [sys.executable, str(ROOT / "reproduce.py"), "--table", "1", "--scale", "mini", "--methods", "mae",
            "--models", "vit_base", "--seeds", "1", "--jobs", "2", "--device", "cpu", "--out", str(tmp_path)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MMAE_TEST_MARKER=marker)
    pre = tmp_path / "runs/mini/authors/digits-mini-b/mae/seed0/pretrain"
    start = lambda: subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa

    p = start()
    _until(lambda: max(_epochs(pre), default=-1) >= 2, p)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 75
    err = p.stderr.read().strip().splitlines()
    assert len(err) == 1 and "rerun the same command to resume" in err[0], err
    assert (pre / "checkpoint.pt").exists() and not (pre / "metrics.json").exists()
    _until(lambda: not _alive(marker), None, timeout=30)
    first = max(_epochs(pre))

    p = start()
    _until(lambda: max(_epochs(pre), default=-1) >= first + 2, p)
    p.kill()
    p.wait(timeout=30)
    _until(lambda: not _alive(marker), None, timeout=30)   # the orphans ended themselves

    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert len(list(tmp_path.glob("runs/**/metrics.json"))) == 7
    assert _epochs(pre) == list(range(16))   # epoch 0 (the initialisation) and each of the 15 epochs once


def test_a_run_shows_one_line_per_stage_each_warning_once_and_a_summary(tmp_path):
    """Not a terminal: plain lines, no plan with paths (only with -v), one line per finished stage
    with the count, elapsed time and ETA, a repeated warning once with its count, a final summary."""
    args = ["--table", "1", "--scale", "smoke", "--methods", "umae", "--models", "vit_base", "--seeds", "1",
            "--jobs", "1", "--device", "cpu", "--out", str(tmp_path)]
    r = run(*args, env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert "\r" not in r.stdout and "[  todo]" not in r.stdout and r.stderr == ""
    assert out[:2] == ["Table 1: linear probing and fine-tuning top-1 of MAE, U-MAE and M-MAE",
                       "  7 stages, 0 already finished"]
    done = [line for line in out if ": done in " in line]
    assert [line.split("]")[0] for line in done] == [f"[table1 {i}/7" for i in range(1, 8)]
    assert done[0].startswith("[table1 1/7] pretrain digits mini-b umae seed 0: done in ")
    assert re.search(r"done in \d+:\d\d  7/7 stages done  elapsed \d+:\d\d  ETA ~0:00$", done[-1])
    assert not any(str(tmp_path) in line for line in done)
    # the probe and the fine-tuning of U-MAE both drop its online classifier
    warned = [line for line in out if "ignored the online classifier" in line]
    assert len(warned) == 2 and warned[0].startswith("warning: ignored the online classifier")
    assert warned[1].startswith("warning in 2 stages: ignored the online classifier")
    assert "[table1] 7 stages run, 0 kept from earlier runs, in " in r.stdout
    assert f"run directories under {tmp_path}/runs/smoke/authors" in r.stdout
    assert f"written: {tmp_path}/smoke/table1" in r.stdout
    again = run(*args, "-v", env={"OMP_NUM_THREADS": "1"})   # -v: the plan and every stage's run directory
    assert again.returncode == 0 and again.stdout.count("[  done]") == 7, again.stderr
    assert again.stdout.count(": finished earlier, kept") == 7 and "[table1] 0 stages run, 7 kept" in again.stdout


def test_the_live_display_redraws_its_lines_in_place(tmp_path, capsys):
    from mmae.experiments import build_target
    from mmae.experiments.runner import Status
    t = build_target("table1", "smoke", tmp_path, seeds=1, methods=["mae"], models=["vit_base"])
    s = Status(t, live=True)
    s.started(0)
    s.finished(0, 1.0)
    s.close()
    out = capsys.readouterr().out
    assert "\r\x1b[J" in out and "[table1 1/7] pretrain digits mini-b mae seed 0: done in 0:01" in out
    assert out.split("\x1b[J")[-1].startswith("[table1] 1 stage run, 0 kept from earlier runs")
