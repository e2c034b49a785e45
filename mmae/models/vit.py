"""A compact Vision Transformer (Dosovitskiy et al., 2021) in the parameter layout of the public
MAE code (`models_vit.py`, built on timm's `VisionTransformer`), so that MAE / U-MAE / M-MAE
checkpoints load with `strict=True` and ours load into theirs.

Layout (E = embed_dim, L = number of patches, p = patch size, C = channels)::

    patch_embed.proj.{weight (E, C, p, p), bias}   cls_token (1, 1, E)   pos_embed (1, 1 + L, E)
    blocks.N.norm1  blocks.N.attn.qkv (3E, E)  blocks.N.attn.proj  blocks.N.norm2
    blocks.N.mlp.fc1 (rE, E)  blocks.N.mlp.fc2 (E, rE)
    norm            (CLS pooling)      or   fc_norm (global average pooling, MAE fine-tuning)
    head.{weight, bias}                     (linear probe: head.0 = BatchNorm1d, head.1 = Linear)

Blocks are pre-norm, LayerNorm eps 1e-6, attention through `F.scaled_dot_product_attention`
(fused kernels on GPU), exact GELU, stochastic depth ("drop path") on the residual branches.
"""
from __future__ import annotations

import logging
import math
from functools import partial

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["VIT_SIZES", "get_2d_sincos_pos_embed", "interpolate_pos_embed", "PatchEmbed", "Attention", "Mlp",
           "DropPath", "Block", "VisionTransformer", "build_vit", "load_encoder_weights"]

# name -> (embed_dim, depth, num_heads). tiny/small: DeiT; base/large/huge: ViT / MAE.
# mini-b and mini-l stand in for ViT-B and ViT-L at the mini scale (8x8 digits, seconds per run on
# one CPU core): head dim 16 and mlp_ratio 4 like the family, the larger one 1.5 times as wide and
# one block deeper (a 6-block model does not fine-tune in the ~100 steps the mini budget allows).
VIT_SIZES: dict[str, tuple[int, int, int]] = {
    "mini-b": (32, 3, 2),
    "mini-l": (48, 4, 3),
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
    "huge": (1280, 32, 16),
}


def _pair(x) -> tuple[int, int]:
    return (x, x) if isinstance(x, int) else tuple(x)


def _sincos_1d(dim: int, pos: np.ndarray) -> np.ndarray:
    """`[sin(pos * w_k), cos(pos * w_k)]` with `w_k = 10000^(-k / (dim/2))`, k < dim/2."""
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.einsum("m,d->md", pos.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def get_2d_sincos_pos_embed(embed_dim: int, grid_size, cls_token: bool = False) -> np.ndarray:
    """The fixed 2-D sine-cosine position embedding of MAE, `(gh*gw [+1], embed_dim)` float64.

    The first half of the channels encodes the column index, the second half the row index (the
    public code builds `meshgrid(w, h)` and names them the other way round; we keep its values so
    that checkpoints agree exactly). A CLS row of zeros is prepended when `cls_token`.
    """
    if embed_dim % 4:
        raise ValueError(f"embed_dim must be a multiple of 4 for the 2-D sin-cos embedding, got {embed_dim}")
    gh, gw = _pair(grid_size)
    col, row = np.meshgrid(np.arange(gw, dtype=np.float64), np.arange(gh, dtype=np.float64))
    emb = np.concatenate([_sincos_1d(embed_dim // 2, col), _sincos_1d(embed_dim // 2, row)], axis=1)
    if cls_token:
        emb = np.concatenate([np.zeros((1, embed_dim)), emb], axis=0)
    return emb


class PatchEmbed(nn.Module):
    """Non-overlapping `p x p` patches -> `E`-dim tokens (a strided convolution), `(N, L, E)`."""

    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768):
        super().__init__()
        self.img_size, self.patch_size = _pair(img_size), _pair(patch_size)
        if any(s % p for s, p in zip(self.img_size, self.patch_size)):
            raise ValueError(f"img_size {self.img_size} is not divisible by patch_size {self.patch_size}")
        self.grid_size = (self.img_size[0] // self.patch_size[0], self.img_size[1] // self.patch_size[1])
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(f"expected images of size {self.img_size}, got {tuple(x.shape[-2:])}")
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention; one fused `qkv` projection, SDPA, output projection."""

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class DropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016): drop a sample's whole residual branch with
    probability `p` and rescale the survivors by `1 / (1 - p)`."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)


class Block(nn.Module):
    """Pre-norm transformer block: `x + DropPath(Attn(LN(x)))`, then `x + DropPath(MLP(LN(x)))`."""

    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=True, drop_path=0.0, norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or partial(nn.LayerNorm, eps=1e-6)
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def init_vit_weights(module: nn.Module) -> None:
    """MAE's initialisation: xavier-uniform linear layers with zero bias, LayerNorm 1 / 0."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class VisionTransformer(nn.Module):
    """ViT encoder + classification head in the public MAE `models_vit` layout.

    `global_pool=True` (MAE fine-tuning): average the patch tokens, `fc_norm`, `head`;
    `False` (linear probing, the CLS feature): final `norm` then the CLS token, `head`.
    `trainable_pos_embed`: MAE's fine-tuning trains the (sin-cos initialised) position embedding,
    pretraining and linear probing keep it fixed. `num_classes=0` gives an identity head.
    """

    def __init__(self, img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=768, depth=12,
                 num_heads=12, mlp_ratio=4.0, qkv_bias=True, drop_path_rate=0.0, global_pool=False,
                 trainable_pos_embed=False, norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or partial(nn.LayerNorm, eps=1e-6)
        self.global_pool = global_pool
        self.num_classes, self.embed_dim, self.depth = num_classes, embed_dim, depth
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        L = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, L + 1, embed_dim), requires_grad=trainable_pos_embed)
        dpr = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # stochastic depth grows with depth
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, qkv_bias, dpr[i], norm_layer)
                                    for i in range(depth))
        if global_pool:
            self.fc_norm = norm_layer(embed_dim)
        else:
            self.norm = norm_layer(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights()

    def _init_weights(self):
        pe = get_2d_sincos_pos_embed(self.embed_dim, self.patch_embed.grid_size, cls_token=True)
        self.pos_embed.data.copy_(torch.from_numpy(pe).float().unsqueeze(0))
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=0.02)
        self.apply(init_vit_weights)

    @property
    def num_layers(self) -> int:
        return len(self.blocks)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled, normalised feature `(N, E)` (CLS after `norm`, or mean patch after `fc_norm`)."""
        x = self.patch_embed(x) + self.pos_embed[:, 1:]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        if self.global_pool:
            return self.fc_norm(x[:, 1:].mean(dim=1))
        return self.norm(x)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def build_vit(size: str = "base", **kwargs) -> VisionTransformer:
    """A [`VisionTransformer`][mmae.models.vit.VisionTransformer] of a named size (see `VIT_SIZES`); kwargs override."""
    if size not in VIT_SIZES:
        raise ValueError(f"unknown ViT size {size!r}; expected one of {sorted(VIT_SIZES)}")
    e, d, h = VIT_SIZES[size]
    return VisionTransformer(**{"embed_dim": e, "depth": d, "num_heads": h, **kwargs})


def interpolate_pos_embed(pos_embed: torch.Tensor, grid_size) -> torch.Tensor:
    """Resize a `(1, 1 + g*g, E)` position embedding to another patch grid (bicubic on the patch
    part, CLS row kept), as MAE does when fine-tuning at a new resolution."""
    gh, gw = _pair(grid_size)
    n = pos_embed.shape[1] - 1
    if n == gh * gw:
        return pos_embed
    g = int(round(math.sqrt(n)))
    if g * g != n:
        raise ValueError(f"cannot interpolate a non-square position embedding with {n} patches")
    grid = pos_embed[:, 1:].reshape(1, g, g, -1).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
    return torch.cat([pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, gh * gw, -1).to(pos_embed.dtype)], 1)


_ENCODER_ONLY = ("decoder_", "mask_token")
# the online linear classifier that U-MAE's and M-MAE's pretraining trains beside the MAE
# (`mmae.models.mae.MaskedAutoencoderViT` with `num_classes > 0`): not part of the encoder
_ONLINE_CLASSIFIER = ("fc_norm.", "fc.")


def load_encoder_weights(model: VisionTransformer, state_dict: dict) -> dict:
    """Load a pretrained (MAE-layout) state dict into a classifier ViT, as MAE's fine-tuning and
    linear probing do: drop the decoder, the mask token, the online classifier of a U-MAE / M-MAE
    pretraining checkpoint (reported, as a warning) and any head of another task, resize the
    position embedding, and insist that every encoder key matches and only the freshly initialised
    parts are missing.

    `state_dict` may be a checkpoint holding it under `"model"`. Returns the missing keys and
    the ignored online-classifier keys.
    """
    if "model" in state_dict and isinstance(state_dict["model"], dict):
        state_dict = state_dict["model"]
    own = model.state_dict()
    pretraining = any(k.startswith(_ENCODER_ONLY) for k in state_dict)
    ignored = sorted(k for k in state_dict if pretraining and k.startswith(_ONLINE_CLASSIFIER))
    if ignored:
        logging.getLogger(__name__).warning("ignored the online classifier of the pretraining checkpoint: %s",
                                            ", ".join(ignored))
    sd = {k: v for k, v in state_dict.items() if not k.startswith(_ENCODER_ONLY) and k not in ignored}
    for k in [k for k in sd if k.startswith("head.") and (k not in own or sd[k].shape != own[k].shape)]:
        del sd[k]
    if "pos_embed" in sd:
        sd["pos_embed"] = interpolate_pos_embed(sd["pos_embed"], model.patch_embed.grid_size)
    if model.global_pool:
        # the pretrained final norm is replaced by a fresh fc_norm, as in MAE's fine-tuning
        sd = {k: v for k, v in sd.items() if not k.startswith("norm.")}
    try:
        result = model.load_state_dict(sd, strict=False)
    except RuntimeError as e:  # weights of another model size: torch lists every mismatched tensor
        mismatch = [ln.strip() for ln in str(e).splitlines() if "size mismatch" in ln] or [str(e).splitlines()[0]]
        more = f" (and {len(mismatch) - 1} more)" if len(mismatch) > 1 else ""
        raise ValueError(f"pretrained weights do not fit the model: {mismatch[0]}{more}") from None
    fresh = ("head.", "fc_norm.")
    bad_missing = [k for k in result.missing_keys if not k.startswith(fresh)]
    if bad_missing or result.unexpected_keys:
        raise ValueError(f"pretrained weights do not fit the model: missing {bad_missing}, "
                         f"unexpected {result.unexpected_keys}")
    return {"missing": list(result.missing_keys), "ignored": ignored}
