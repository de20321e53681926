from .mae_vit import InpaintingMAEViT
from .mae_vqgan import MAEVQGAN, TINY_MAE_VQGAN_CFG
from .vqgan import (TamingVQGAN, VQAttnBlock, VQCodebook, VQGANDecoder,
                    VQGANEncoder, VQResBlock)

__all__ = [
    'InpaintingMAEViT', 'MAEVQGAN', 'TINY_MAE_VQGAN_CFG', 'TamingVQGAN',
    'VQAttnBlock', 'VQCodebook', 'VQGANDecoder', 'VQGANEncoder', 'VQResBlock'
]
