"""The two named recipes (`mmae.engine.config.RECIPES`): ``paper`` (the field defaults) and
``authors`` (the published U-MAE / M-MAE scripts), each switch, and where the recipe is recorded."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmae.engine import finetune, linprobe, pretrain
from mmae.engine.config import base_lr

ROOT = Path(__file__).resolve().parent.parent


def test_the_paper_recipe_is_the_objective_as_written():
    c = pretrain.PretrainConfig(data_root="imagenet")
    assert (c.recipe, c.reg_grad_scale, c.renorm_cls, c.online_classifier) == ("paper", 1.0, False, False)
    assert (c.batch_size, c.lam, c.mask_ratio, c.epochs, c.weight_decay) == (1024, 0.01, 0.75, 200, 0.05)  # Sec. 6.1


def test_the_authors_recipe_is_the_published_scripts():
    p = pretrain.PretrainConfig.build("authors", data_root="imagenet")
    # their gather on 8 GPUs x 128: the regulariser's gradient reaches the weights divided by 8
    assert (p.recipe, p.reg_grad_scale, p.renorm_cls, p.online_classifier) == ("authors", 1 / 8, True, True)
    lp = linprobe.LinProbeConfig.build("authors", pretrained="x", data_root="imagenet")
    assert (lp.batch_size, base_lr(lp)) == (8 * 256 * 4, pytest.approx(1.6))  # linprobe.sh: 8 x 256 x accum 4, blr 0.05
    ft = finetune.FinetuneConfig.build("authors", data_root="imagenet")
    assert (ft.batch_size, ft.epochs, ft.blr, ft.layer_decay, ft.drop_path, ft.global_pool) == (
        8 * 64 * 4, 100, 5e-4, 0.65, 0.1, False)  # finetune.sh: 8 x 64 x accum 4, --cls_token
    # the mini scale keeps the recipe's switches and its own sizes
    m = pretrain.PretrainConfig.mini(recipe="authors")
    assert (m.dataset, m.reg_grad_scale, m.renorm_cls) == ("digits", 1 / 8, True)
    with pytest.raises(ValueError, match="recipe"):
        pretrain.PretrainConfig.build("theirs", data_root="imagenet")


def test_pretraining_decays_the_tokens_and_not_the_norms_or_biases():
    # MAE / U-MAE / M-MAE: timm 0.3.2's add_weight_decay exempts only 1-D parameters
    task = pretrain.PretrainTask(pretrain.PretrainConfig.mini(erank_batch=16), torch.device("cpu"))
    decayed = {id(p) for g in task.optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    named = dict(task.model.named_parameters())
    assert id(named["cls_token"]) in decayed and id(named["mask_token"]) in decayed
    assert not any(id(p) in decayed for n, p in named.items() if p.ndim <= 1)
    assert not named["pos_embed"].requires_grad and not named["decoder_pos_embed"].requires_grad


def test_the_engine_command_line_records_the_recipe_and_logs_the_online_classifier(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "mmae.engine.pretrain", "--mini", "--recipe", "authors", "--method", "mmae",
           "--epochs", "1", "--warmup-epochs", "0", "--erank-batch", "16", "--out", str(out)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["recipe"], cfg["reg_grad_scale"], cfg["renorm_cls"], cfg["online_classifier"]) == (
        "authors", 0.125, True, True)
    last = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()][-1]
    assert 0 <= last["online_acc"] <= 100 and last["online_ce"] > 0


def test_the_plan_names_the_recipe_and_every_setting_that_differs(tmp_path):
    def plan(*extra):
        r = subprocess.run([sys.executable, "reproduce.py", "--table", "1", "--plan", "--out", str(tmp_path), *extra],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return r.stdout
    authors, paper = plan(), plan("--recipe", "paper")
    assert "recipe: authors" in authors and "recipe: paper" in paper
    for cls, kind in ((pretrain.PretrainConfig, "pretrain"), (linprobe.LinProbeConfig, "linprobe"),
                      (finetune.FinetuneConfig, "finetune")):
        for key in cls.AUTHORS:
            if cls.defaults(name="paper")[key] != cls.defaults(name="authors")[key]:
                assert f"{kind}.{key}" in authors
    # the two recipes train in different run directories
    assert "/authors/" in authors and "/paper/" in paper and "/authors/" not in paper
