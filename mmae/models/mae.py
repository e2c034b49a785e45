"""The masked autoencoder (He et al., 2022) of Section 3.2, Eq. (4), in the public MAE code's
`models_mae.py` layout and calling convention.

Notation (Section 3.2): an image `x_i` is cut into `n` patches; a random binary mask `m_i`
keeps `x_i^(1) = x_i . m_i` for the encoder `f` and asks the decoder `g` to predict the rest,
`x_i^(2) = x_i . (1 - m_i)`. The representation `z_i = f(x_i^(1))` on which U-MAE's and
M-MAE's regularisers act (Eq. 11) is the encoder's CLS token after the final LayerNorm, computed on
the masked input. The authors' U-MAE / M-MAE code applies that LayerNorm a second time to the
(already normalised) CLS token before the regulariser; `renorm_cls=True` does the same (the
`authors` recipe). `num_classes > 0` adds their online linear classifier (`fc_norm`, `fc`:
their parameter layout, so state dicts load strictly both ways), trained on the detached `z`.

Our `mask` follows the public code: `mask[i, j] = 1` when patch `j` is *removed*, i.e. it is
the paper's `1 - m_i`.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn

from ..losses import mae_loss
from .vit import VIT_SIZES, Block, PatchEmbed, get_2d_sincos_pos_embed, init_vit_weights

__all__ = ["MaskedAutoencoderViT", "mae_vit", "DECODER_SIZES", "mae_vit_base_patch16", "mae_vit_large_patch16",
           "mae_vit_huge_patch14"]

# encoder size -> (decoder_embed_dim, decoder_depth, decoder_num_heads). MAE's decoder is 512 wide,
# 8 blocks, 16 heads for every ImageNet model; the mini models get a proportionally small one.
DECODER_SIZES: dict[str, tuple[int, int, int]] = {
    "mini-b": (32, 2, 2),
    "mini-l": (32, 2, 2),
    "tiny": (512, 8, 16),
    "small": (512, 8, 16),
    "base": (512, 8, 16),
    "large": (512, 8, 16),
    "huge": (512, 8, 16),
}


class MaskedAutoencoderViT(nn.Module):
    """MAE with a ViT encoder and a narrow ViT decoder; constructor keywords and
    `forward(imgs, mask_ratio) -> (loss, pred, mask, z)` as in the public code, plus `z`.

    - `loss`: [`mmae.losses.mae_loss`][mmae.losses.mae_loss] (mean squared error on the removed patches, per-patch
      normalised targets when `norm_pix_loss`); 0 when `mask_ratio = 0` (nothing to predict).
    - `pred`: `(N, L, p*p*C)` reconstruction of every patch (use `unpatchify`).
    - `mask`: `(N, L)`, 1 = removed.
    - `z`: `(N, E)` CLS token after the encoder's final norm (the regularisers' input; normalised
      once more when `renorm_cls`).
    - with `num_classes > 0` a fifth output: the online classifier's logits `fc(z.detach())`.
    """

    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=1024, depth=24, num_heads=16,
                 decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16, mlp_ratio=4.0,
                 norm_layer=None, norm_pix_loss=False, num_classes=0, renorm_cls=False):
        super().__init__()
        norm_layer = norm_layer or partial(nn.LayerNorm, eps=1e-6)
        self.in_chans, self.norm_pix_loss, self.renorm_cls = in_chans, norm_pix_loss, renorm_cls
        self.embed_dim, self.depth = embed_dim, depth
        # ---- encoder
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        L = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, L + 1, embed_dim), requires_grad=False)  # fixed sin-cos
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, True, 0.0, norm_layer) for _ in range(depth))
        self.norm = norm_layer(embed_dim)
        # ---- decoder
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, L + 1, decoder_embed_dim), requires_grad=False)
        self.decoder_blocks = nn.ModuleList(Block(decoder_embed_dim, decoder_num_heads, mlp_ratio, True, 0.0, norm_layer)
                                            for _ in range(decoder_depth))
        self.decoder_norm = norm_layer(decoder_embed_dim)
        ph, pw = self.patch_embed.patch_size
        self.decoder_pred = nn.Linear(decoder_embed_dim, ph * pw * in_chans)
        self._init_weights()
        if num_classes > 0:  # the online classifier, created after the MAE init with torch's default init, as theirs
            self.fc_norm = norm_layer(embed_dim)  # their global-pool branch's norm: unused on CLS features, so
            self.fc_norm.requires_grad_(False)    # frozen (DDP would wait for its gradient)
            self.fc = nn.Linear(embed_dim, num_classes)

    def _init_weights(self):
        grid = self.patch_embed.grid_size
        self.pos_embed.data.copy_(torch.from_numpy(get_2d_sincos_pos_embed(self.embed_dim, grid, True)).float()[None])
        dpe = get_2d_sincos_pos_embed(self.decoder_pos_embed.shape[-1], grid, True)
        self.decoder_pos_embed.data.copy_(torch.from_numpy(dpe).float()[None])
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))  # like a linear layer on flattened patches
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        self.apply(init_vit_weights)

    # ------------------------------------------------------------------ patches
    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """`(N, C, H, W)` -> `(N, L, ph*pw*C)`, patches in row-major order, pixels (row, col, channel)."""
        (ph, pw), (gh, gw) = self.patch_embed.patch_size, self.patch_embed.grid_size
        N, C = imgs.shape[:2]
        x = imgs.reshape(N, C, gh, ph, gw, pw)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(N, gh * gw, ph * pw * C)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of `patchify`."""
        (ph, pw), (gh, gw) = self.patch_embed.patch_size, self.patch_embed.grid_size
        N, C = x.shape[0], self.in_chans
        x = torch.einsum("nhwpqc->nchpwq", x.reshape(N, gh, gw, ph, pw, C))
        return x.reshape(N, C, gh * ph, gw * pw)

    # ------------------------------------------------------------------ masking
    @staticmethod
    def random_masking(x: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None):
        """Keep a uniformly random subset of `L (1 - mask_ratio)` tokens per sample (argsort of
        uniform noise). Returns the kept tokens, the mask (1 = removed) in the original order, and
        the permutation that restores it."""
        N, L, D = x.shape
        len_keep = int(L * (1 - mask_ratio))
        if noise is None:
            noise = torch.rand(N, L, device=x.device)
        ids_shuffle = torch.argsort(noise, dim=1)  # ascending: small noise is kept
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :len_keep]
        x_kept = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, D))
        mask = torch.ones(N, L, device=x.device)
        mask[:, :len_keep] = 0
        return x_kept, torch.gather(mask, 1, ids_restore), ids_restore

    # ------------------------------------------------------------------ encoder / decoder
    def forward_encoder(self, x: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None):
        """Tokens of the visible patches (CLS first) after the final norm, the mask and `ids_restore`."""
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        x = self.patch_embed(x) + self.pos_embed[:, 1:]
        if mask_ratio > 0 or noise is not None:
            x, mask, ids_restore = self.random_masking(x, mask_ratio, noise)
        else:  # no masking: no noise drawn, so feature extraction leaves the RNG untouched
            N, L = x.shape[:2]
            mask = x.new_zeros(N, L)
            ids_restore = torch.arange(L, device=x.device).expand(N, L)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), mask, ids_restore

    def forward_decoder(self, x: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        x = self.decoder_embed(x)
        N, L = ids_restore.shape
        # append mask tokens for the removed patches, then undo the shuffle
        tokens = torch.cat([x[:, 1:], self.mask_token.expand(N, L + 1 - x.shape[1], -1)], dim=1)
        tokens = torch.gather(tokens, 1, ids_restore.unsqueeze(-1).expand(-1, -1, x.shape[2]))
        x = torch.cat([x[:, :1], tokens], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def forward_loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return mae_loss(pred.float(), self.patchify(imgs).float(), mask, norm_pix=self.norm_pix_loss)

    def cls_feature(self, latent: torch.Tensor) -> torch.Tensor:
        """`z`: the CLS token of the encoder's output, normalised once more when `renorm_cls`."""
        z = latent[:, 0]
        return self.norm(z) if self.renorm_cls else z

    def forward(self, imgs: torch.Tensor, mask_ratio: float = 0.75, noise: torch.Tensor | None = None):
        latent, mask, ids_restore = self.forward_encoder(imgs, mask_ratio, noise)
        pred = self.forward_decoder(latent, ids_restore)
        loss = self.forward_loss(imgs, pred, mask)
        z = self.cls_feature(latent)
        if hasattr(self, "fc"):
            return loss, pred, mask, z, self.fc(z.detach())
        return loss, pred, mask, z

    def masked_feature(self, imgs: torch.Tensor, mask_ratio: float, noise: torch.Tensor) -> torch.Tensor:
        """`z` of the masked input alone (no decoder): the first pass of gradient caching."""
        return self.cls_feature(self.forward_encoder(imgs, mask_ratio, noise)[0])

    @torch.no_grad()
    def features(self, imgs: torch.Tensor) -> torch.Tensor:
        """The CLS feature of the unmasked image, `(N, E)`: what probing and the effective-rank
        curves of Figure 4 look at."""
        return self.forward_encoder(imgs, 0.0)[0][:, 0]


def mae_vit(size: str = "base", **kwargs) -> MaskedAutoencoderViT:
    """A [`MaskedAutoencoderViT`][mmae.models.mae.MaskedAutoencoderViT] with a named encoder size and its decoder; kwargs override."""
    if size not in VIT_SIZES:
        raise ValueError(f"unknown ViT size {size!r}; expected one of {sorted(VIT_SIZES)}")
    e, d, h = VIT_SIZES[size]
    de, dd, dh = DECODER_SIZES[size]
    return MaskedAutoencoderViT(**{"embed_dim": e, "depth": d, "num_heads": h, "decoder_embed_dim": de,
                                   "decoder_depth": dd, "decoder_num_heads": dh, **kwargs})


# the public code's constructor names
def mae_vit_base_patch16(**kw):
    return mae_vit("base", patch_size=16, **kw)


def mae_vit_large_patch16(**kw):
    return mae_vit("large", patch_size=16, **kw)


def mae_vit_huge_patch14(**kw):
    return mae_vit("huge", patch_size=14, **kw)
