"""On CUDA, a training step of every engine runs without a host synchronisation: the loop turns
``torch.cuda.set_sync_debug_mode("error")`` on for the step (set lr, forward, backward, optimiser
step, after-update, the progress display's tick) when ``MMAE_SYNC_DEBUG=1``, so any ``.item()``,
host copy or data-dependent branch in a step raises. Skipped without CUDA."""
import dataclasses

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


@pytest.mark.parametrize("bar", [False, True])
def test_the_progress_display_does_not_synchronise(tmp_path, sync_debug, bar):
    """The display counts steps on the host (a tqdm bar, or plain lines) and TensorBoard writes only
    the records the loop already copied to the host."""
    from mmae.engine import pretrain
    cfg = pretrain.PretrainConfig.mini(method="mae", epochs=2, warmup_epochs=0, device="cuda", progress=bar,
                                       quiet=False)
    pretrain.run(cfg, tmp_path / "run")


@pytest.mark.parametrize("graphs", [False, True])
@pytest.mark.parametrize("method", ["simclr", "spectral", "barlow", "byol"])
def test_siamese_steps_do_not_synchronise(tmp_path, sync_debug, method, graphs):
    """Also the replays of the captured step (the warm-up steps and the capture run outside the check's
    reach only where they must: the capture itself synchronises once)."""
    from mmae.engine import siamese
    cfg = siamese.SiameseConfig.mini(method=method, epochs=2, linprobe_epochs=0, device="cuda", cuda_graphs=graphs)
    siamese.run(cfg, tmp_path / method)


@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_the_captured_step_trains_as_the_eager_one(tmp_path, method):
    """Replays against the loop's eager step with the same tensor rate (what the CPU test checks
    bit for bit, uncaptured). On CUDA the two runs may pick different convolution algorithms, so the
    weights are compared with what training moved them: within 1% of that."""
    from mmae.engine import siamese
    from mmae.engine.common import LARS, load_checkpoint, seed_everything

    class TensorRate(LARS):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            for g in self.param_groups:
                g["lr"] = torch.tensor(float(g["lr"]), device="cuda")

    cfg = siamese.SiameseConfig.mini(method=method, epochs=3, linprobe_epochs=0, device="cuda", amp=False)
    seed_everything(cfg.seed)
    init = siamese.build_model(cfg, 1).state_dict()
    siamese.run(dataclasses.replace(cfg, cuda_graphs=True), tmp_path / "graphed")
    real, siamese.LARS = siamese.LARS, TensorRate
    try:
        siamese.run(cfg, tmp_path / "eager")
    finally:
        siamese.LARS = real
    a = load_checkpoint(tmp_path / "graphed" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "eager" / "checkpoint.pt")["model"]
    moved = sum((b[k].float().cpu() - init[k].float()).norm() ** 2 for k in init if k in b) ** 0.5
    apart = sum((a[k].float() - b[k].float()).norm() ** 2 for k in b) ** 0.5
    assert moved > 0 and apart <= 0.01 * moved, (apart, moved)
