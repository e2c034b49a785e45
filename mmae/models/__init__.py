"""Models: the compact ViT and the masked autoencoder (:mod:`mmae.models.vit`,
:mod:`mmae.models.mae`), in the parameter layout of the public MAE code. The ResNet backbones and
Siamese heads live in :mod:`mmae.models.resnet` and :mod:`mmae.models.siamese`."""
from .mae import DECODER_SIZES, MaskedAutoencoderViT, mae_vit, mae_vit_base_patch16, mae_vit_huge_patch14, \
    mae_vit_large_patch16
from .vit import VIT_SIZES, VisionTransformer, get_2d_sincos_pos_embed, interpolate_pos_embed, load_encoder_weights, build_vit

__all__ = ["MaskedAutoencoderViT", "mae_vit", "mae_vit_base_patch16", "mae_vit_large_patch16", "mae_vit_huge_patch14",
           "VisionTransformer", "build_vit", "VIT_SIZES", "DECODER_SIZES", "get_2d_sincos_pos_embed",
           "interpolate_pos_embed", "load_encoder_weights"]
