"""Small image folders in the ImageNet layout (``root/<split>/<wnid>/<i>.JPEG``), written by the tests."""
import numpy as np

WNIDS = ("n01440764", "n01443537")


def write_image_folder(root, per_class: dict, seed: int = 0, size=(48, 64)):
    """Random RGB JPEGs of ``size`` (height, width): ``per_class[split]`` images in each class folder."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for split, n in per_class.items():
        for c in WNIDS:
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(d / f"{i}.JPEG")
    return root
