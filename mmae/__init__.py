"""mmae: matrix information theory for self-supervised learning, and the methods it explains.

A reproduction of *Information Flow in Self-Supervised Learning* (Tan et al., ICML 2024), built
from the bottom up:

- [`mmae.info`][mmae.info]    matrix entropy, mutual information, joint entropy, KL/JS divergences, TCR
- [`mmae.losses`][mmae.losses]  InfoNCE, spectral contrastive, Barlow Twins, BYOL, MAE, U-MAE, M-MAE
- [`mmae.models`][mmae.models]  ViT / masked autoencoder, ResNet and the Siamese heads
- [`mmae.data`][mmae.data]    ImageNet folders, CIFAR pickles and the bundled digits of the mini scale
- [`mmae.engine`][mmae.engine]  pretraining, linear probing, fine-tuning and Siamese training
"""
__version__ = "0.1.0"
