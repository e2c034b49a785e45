"""On CUDA, a training step of every engine runs without a host synchronisation: the loop turns
``torch.cuda.set_sync_debug_mode("error")`` on for the step (set lr, forward, backward, optimiser
step, after-update) when ``MMAE_SYNC_DEBUG=1``, so any ``.item()``, host copy or data-dependent
branch in a step raises. Skipped without CUDA."""
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture
def sync_debug(monkeypatch):
    monkeypatch.setenv("MMAE_SYNC_DEBUG", "1")
    yield
    torch.cuda.set_sync_debug_mode("default")


def test_mim_engine_steps_do_not_synchronise(tmp_path, sync_debug):
    from mmae.engine import finetune, linprobe, pretrain
    common = dict(epochs=1, warmup_epochs=0, device="cuda")
    for method in ("mae", "umae", "mmae"):
        pretrain.run(pretrain.PretrainConfig.mini(method=method, erank_batch=16, **common), tmp_path / method)
    # the full fine-tuning recipe: RandAugment, erasing, mixup / cutmix, drop path
    finetune.run(finetune.FinetuneConfig.mini(pretrained=str(tmp_path / "mmae"), mixup=0.8, cutmix=1.0, randaug_ops=2,
                                              reprob=0.25, drop_path=0.1, **common), tmp_path / "ft")
    linprobe.run(linprobe.LinProbeConfig.mini(pretrained=str(tmp_path / "mmae"), **common), tmp_path / "lin")


@pytest.mark.parametrize("method", ["simclr", "spectral", "barlow", "byol"])
def test_siamese_steps_do_not_synchronise(tmp_path, sync_debug, method):
    from mmae.engine import siamese
    siamese.run(siamese.SiameseConfig.mini(method=method, epochs=1, linprobe_epochs=0, device="cuda"), tmp_path / method)
