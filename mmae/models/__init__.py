"""Models: the compact ViT and the masked autoencoder ([`mmae.models.vit`][mmae.models.vit],
[`mmae.models.mae`][mmae.models.mae]), in the parameter layout of the public MAE code. The ResNet backbones and
Siamese heads live in [`mmae.models.resnet`][mmae.models.resnet] and [`mmae.models.siamese`][mmae.models.siamese]."""
from .mae import DECODER_SIZES, MaskedAutoencoderViT, mae_vit, mae_vit_base_patch16, mae_vit_huge_patch14, \
    mae_vit_large_patch16
from .vit import VIT_SIZES, VisionTransformer, get_2d_sincos_pos_embed, interpolate_pos_embed, load_encoder_weights, build_vit

__all__ = ["MaskedAutoencoderViT", "mae_vit", "mae_vit_base_patch16", "mae_vit_large_patch16", "mae_vit_huge_patch14",
           "VisionTransformer", "build_vit", "VIT_SIZES", "DECODER_SIZES", "get_2d_sincos_pos_embed",
           "interpolate_pos_embed", "load_encoder_weights"]
