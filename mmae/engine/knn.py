"""Weighted k-nearest-neighbour evaluation of frozen features (Wu et al., 2018, Sec. 3.4).

Each test feature votes with its k most cosine-similar training features; neighbour j adds
exp(s_j / T) to the score of its class (T = 0.07, k = 200 the InstDisc/MoCo monitor; k = 20
is the other common choice). Features are l2-normalised, so s_j is the cosine similarity.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


@torch.no_grad()
def extract_features(encode: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                     prepare: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 1024) -> torch.Tensor:
    """`encode(prepare(images[i:i+bs]))` over the whole tensor, float32, concatenated."""
    out = [encode(prepare(images[i:i + batch_size])).float() for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out)


@torch.no_grad()
def knn_predict(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                num_classes: int, k: int = 200, temperature: float = 0.07, chunk: int = 1024) -> torch.Tensor:
    """Class scores (N_test, num_classes) of the temperature-weighted kNN vote."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if train_feats.shape[0] != train_labels.shape[0]:
        raise ValueError(f"{train_feats.shape[0]} train features but {train_labels.shape[0]} labels")
    k = min(k, train_feats.shape[0])
    bank = F.normalize(train_feats.float(), dim=1)
    scores = []
    for i in range(0, test_feats.shape[0], chunk):
        q = F.normalize(test_feats[i:i + chunk].float(), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)
        w = (sim / temperature).exp()
        s = torch.zeros(q.shape[0], num_classes, device=q.device)
        s.scatter_add_(1, train_labels[idx], w)
        scores.append(s)
    return torch.cat(scores)


@torch.no_grad()
def knn_accuracy(train_feats, train_labels, test_feats, test_labels, num_classes: int,
                 k: int = 200, temperature: float = 0.07) -> float:
    """Top-1 accuracy (percent) of `knn_predict`."""
    pred = knn_predict(train_feats, train_labels, test_feats, num_classes, k, temperature).argmax(1)
    return 100.0 * (pred == test_labels).float().mean().item()
