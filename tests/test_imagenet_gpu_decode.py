"""The device decode path of the ImageNet folder: chosen only with CUDA and torchvision, and its crops
are the Pillow path's: the same keyed boxes, and pixels within the resampling difference of the two
bicubic implementations (measured and bounded below)."""
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mmae.data.imagenet import (ImageFolder, _to_tensor, decode_crops, decode_resized_crop, gpu_decode_reason,
                                read_crop, resized_crops, rrc_box)
from mmae.data.keyed import python_rng
from mmae.engine.batches import Folder


def _photo(path, w, h, seed):
    """A photo-like JPEG: smooth colour fields plus mild noise (no pixel at 0 or 255)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(30, 226, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8))
    px = np.asarray(coarse.resize((w, h), Image.BICUBIC), np.int16) + rng.integers(-8, 9, (h, w, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(px, 0, 255).astype(np.uint8)).save(path, quality=90)


@pytest.fixture
def folder(tmp_path):
    sizes = [(500, 375), (375, 500), (333, 500), (420, 420)]
    for i, (w, h) in enumerate(sizes * 2):
        _photo(tmp_path / "train" / f"n{i % 2}" / f"{i}.JPEG", w, h, seed=i)
    return ImageFolder(str(tmp_path), "train", mode="train", size=96, seed=3)


def test_the_pillow_workers_are_chosen_without_torchvision_or_cuda(folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import fails, as on a machine without it
    monkeypatch.setitem(sys.modules, "torchvision.io", None)
    assert "torchvision is not installed" in gpu_decode_reason(torch.device("cuda"))
    assert "CUDA" in gpu_decode_reason(torch.device("cpu"))
    for device in ("cuda", "cpu"):
        src = Folder(folder, torch.device(device), 0)
        assert not src.gpu_decode and not src.loader.dataset.encoded  # workers decode with Pillow
    # evaluation crops always decode in the workers; the encoded form is for training crops only
    ev = ImageFolder(folder.root, "train", mode="eval", size=96)
    assert not Folder(ev, torch.device("cpu"), 0).gpu_decode
    with pytest.raises(ValueError, match="training crops"):
        ImageFolder(folder.root, "train", mode="eval", encoded=True)


def test_device_crops_use_the_pillow_paths_boxes_and_match_its_pixels(folder):
    S, worst_inner = folder.size, 0
    for i, (path, _) in enumerate(folder.samples):
        data, box = read_crop(path, folder.scale, rng=python_rng(folder.seed, 2, i))
        with Image.open(path) as img:
            full = img.convert("RGB")
            # the box decode_resized_crop draws for (seed, epoch 2, index i): the same draws
            assert tuple(box.tolist()) == rrc_box(*img.size, folder.scale, rng=python_rng(folder.seed, 2, i))
        assert torch.equal(data, torch.from_numpy(np.fromfile(path, np.uint8)))
        x0, y0, w, h = box.tolist()
        ref = _to_tensor(full.resize((S, S), Image.BICUBIC, box=(x0, y0, x0 + w, y0 + h))).int()
        ours = resized_crops([_to_tensor(full)], box[None], S)[0].int()
        diff = (ours - ref).abs()
        # Both are Keys' bicubic (a = -0.5) widened by the downscaling factor. Pillow resamples in two
        # passes (22-bit fixed-point weights) and rounds to uint8 in between: 0.5 level, through the
        # second pass's kernel, whose absolute weights sum to < 1.3, so its value before the final
        # rounding is within 0.65 < 1 level of ours (float32: ~1e-4 level), and the two rounded values
        # differ by at most 1. Within a kernel's reach of the box's edge Pillow also reads pixels outside
        # the box while we resample the crop alone (as torchvision's tensor RandomResizedCrop does):
        # those output pixels (2 input pixels or 2 output pixels of support, plus one) are excluded.
        m = int(np.ceil(2 * max(1.0, S / min(w, h)))) + 1
        inner = diff[:, m:-m, m:-m]
        worst_inner = max(worst_inner, int(inner.max()))
        assert inner.max() <= 1, (path, box.tolist())
        assert inner.float().mean() <= 0.5  # the intermediate rounding: about a quarter level on average
    assert worst_inner >= 1  # the two implementations do differ: the bound above is what is tested


def test_the_encoded_stream_is_the_decoded_crops_of_the_keyed_boxes(folder):
    lists = [torch.tensor([3, 0, 5]), torch.tensor([7, 1])]
    dev = Folder(folder, torch.device("cpu"), 0, gpu_decode=True)  # on a CPU: Pillow in the main process
    cpu = Folder(folder, torch.device("cpu"), 0, gpu_decode=False)
    assert dev.gpu_decode and dev.loader.dataset.encoded and not folder.encoded  # the caller's data set is untouched
    for (idx, (x, y)), (_, (xw, yw)) in zip(dev.stream(lists, 4), cpu.stream(lists, 4)):
        assert x.dtype == torch.uint8 and x.shape == (len(idx), 3, 96, 96) and torch.equal(y, yw)
        encoded = [read_crop(folder.samples[i][0], folder.scale, rng=python_rng(folder.seed, 4, i)) for i in idx.tolist()]
        want = decode_crops([e[0] for e in encoded], torch.stack([e[1] for e in encoded]), 96, "cpu")
        assert torch.equal(x, want)
        # the Pillow workers decode in JPEG draft mode (DCT-domain downscaling): the same crops, softer
        for k, i in enumerate(idx.tolist()):
            assert torch.equal(xw[k], decode_resized_crop(folder.samples[i][0], 96, folder.scale,
                                                          rng=python_rng(folder.seed, 4, i)))
        assert (x.float() - xw.float()).abs().mean() < 2.0  # the bound of test_jpeg_draft_decoding_matches_a_full_decode


def test_a_damaged_body_found_at_decode_time_names_its_file(folder):
    # the header is intact (the crop box is drawn from it), the entropy-coded data is cut short: only
    # the decode finds it, on the device side of the loader, which must still say which file it is
    bad = folder.samples[5][0]
    raw = open(bad, "rb").read()
    open(bad, "wb").write(raw[: len(raw) // 3])
    dev = Folder(folder, torch.device("cpu"), 0, gpu_decode=True)
    with pytest.raises(ValueError, match="corrupt or unreadable image") as e:
        for _ in dev.stream([torch.tensor([0, 5, 1])], 0):
            pass
    assert bad in str(e.value) and "\n" not in str(e.value)
    data, box = read_crop(bad, folder.scale, rng=python_rng(folder.seed, 0, 5))
    with pytest.raises(ValueError, match="#0 of the batch"):  # without paths: its place in the batch
        decode_crops([data], box[None], 96, "cpu")
