from .base_vicl_backbone import BaseVICLBackbone
from .mae_vit import InpaintingMAEViT
from .mae_vqgan import MAEVQGAN, TINY_MAE_VQGAN_CFG
from .tiny_vicl_backbone import TinyVICLBackbone
from .vqgan import (TamingVQGAN, VQAttnBlock, VQCodebook, VQGANDecoder,
                    VQGANEncoder, VQResBlock)

__all__ = [
    'BaseVICLBackbone', 'InpaintingMAEViT', 'MAEVQGAN', 'TINY_MAE_VQGAN_CFG',
    'TamingVQGAN', 'TinyVICLBackbone', 'VQAttnBlock', 'VQCodebook',
    'VQGANDecoder', 'VQGANEncoder', 'VQResBlock'
]
