"""Backbones for the Siamese methods.

`resnet18(stem="cifar")` is ResNet-18 (He et al., 2016) with the stem that CIFAR work uses
(SimCLR Appendix B.9): a 3x3 stride-1 convolution and no max-pool, so a 32x32 image keeps a
4x4 map before the global pool. `convnet_small` is the backbone of the mini (8x8 digits) scale.
Both return pooled features of width `num_features` (no classifier head).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x), inplace=True)


class ResNet(nn.Module):
    """ResNet with BasicBlocks; `stem` is "cifar" (3x3/1, no pool) or "imagenet" (7x7/2 + max-pool)."""

    def __init__(self, layers=(2, 2, 2, 2), widths=(64, 128, 256, 512), in_chans: int = 3, stem: str = "cifar"):
        super().__init__()
        if stem not in ("cifar", "imagenet"):
            raise ValueError(f"stem must be 'cifar' or 'imagenet', got {stem!r}")
        if stem == "cifar":
            self.stem = nn.Sequential(nn.Conv2d(in_chans, widths[0], 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_chans, widths[0], 7, 2, 3, bias=False),
                                      nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, 2, 1))
        blocks, c = [], widths[0]
        for i, (n, w) in enumerate(zip(layers, widths)):
            for j in range(n):
                blocks.append(BasicBlock(c, w, stride=2 if (i > 0 and j == 0) else 1))
                c = w
        self.blocks = nn.Sequential(*blocks)
        self.num_features = c
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # zero-init the last BN of each residual branch: every block starts as the identity
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class SmallConvNet(nn.Module):
    """Three conv-BN-ReLU stages (8x8 -> 4x4 -> 2x2) and a global pool: the mini-scale backbone."""

    def __init__(self, in_chans: int = 1, width: int = 32):
        super().__init__()
        w = width

        def stage(ci, co, stride):
            return nn.Sequential(nn.Conv2d(ci, co, 3, stride, 1, bias=False), nn.BatchNorm2d(co), nn.ReLU(inplace=True))

        self.features = nn.Sequential(stage(in_chans, w, 1), stage(w, 2 * w, 2), stage(2 * w, 4 * w, 2))
        self.num_features = 4 * w

    def forward(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1)


def resnet18(in_chans: int = 3, stem: str = "cifar") -> ResNet:
    return ResNet((2, 2, 2, 2), (64, 128, 256, 512), in_chans=in_chans, stem=stem)


def convnet_small(in_chans: int = 1, width: int = 32) -> SmallConvNet:
    return SmallConvNet(in_chans, width)


BACKBONES = {"resnet18": resnet18, "convnet_small": convnet_small}


def build_backbone(name: str, in_chans: int) -> nn.Module:
    """Backbone by name; the module exposes `num_features`."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    return BACKBONES[name](in_chans=in_chans)
