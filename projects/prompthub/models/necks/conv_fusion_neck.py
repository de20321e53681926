"""Convolution-based fusion (the reference's ``PromptGeneratorConv``)."""
from typing import Optional, Union

import torch
import torch.nn as nn
from torch import Tensor

from projects.prompthub.registry import MODELS
from .locality_fusion_neck import LocalityFusionNeck


@MODELS.register_module()
class ConvFusionNeck(LocalityFusionNeck):
    """Fusion that gets its locality from convolutions.

    Before the prompt alignment, the image tokens and the label tokens of
    each prompt (each a ``grid x grid`` map) go through their own
    ``kernel_size`` convolution (zero padding), so every prompt token mixes
    its spatial neighbourhood. The cross-attention is then patch-wise by
    default (as in the reference's ``PromptGeneratorConv``); any locality of
    :class:`LocalityFusionNeck` may be combined with the convolutions.

    Args:
        embed_dims (int): Token width D. Defaults to 1024.
        num_heads (int): Attention heads. Defaults to 8.
        dropout (float): Attention dropout. Defaults to 0.25.
        kernel_size (int): Odd convolution size: the neighbourhood each
            prompt token mixes. Defaults to 3.
        grid (int): Token block side. Defaults to 7.
        locality (str): Cross-attention locality, see
            :class:`LocalityFusionNeck`. Defaults to ``'patchwise'`` (the
            convolutions already give the locality).
        sigma (float): Locality scale for the Gaussian-type kinds.
            Defaults to 0.65.
        cut_threshold (float): Cut level. Defaults to 0.01.
        init_cfg (dict | list[dict], optional): MMEngine init config.
            Defaults to None.
    """

    def __init__(self,
                 embed_dims: int = 1024,
                 num_heads: int = 8,
                 dropout: float = 0.25,
                 kernel_size: int = 3,
                 grid: int = 7,
                 locality: str = 'patchwise',
                 sigma: float = 0.65,
                 cut_threshold: float = 0.01,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(
            embed_dims=embed_dims,
            num_heads=num_heads,
            dropout=dropout,
            sigma=sigma,
            grid=grid,
            locality=locality,
            cut_threshold=cut_threshold,
            init_cfg=init_cfg)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be a positive odd number '
                             f'(to keep the {grid}x{grid} grid), got '
                             f'{kernel_size!r}.')
        padding = (kernel_size - 1) // 2
        self.img_conv = nn.Conv2d(
            embed_dims, embed_dims, kernel_size, padding=padding)
        self.label_conv = nn.Conv2d(
            embed_dims, embed_dims, kernel_size, padding=padding)

    @staticmethod
    def _conv_tokens(conv: nn.Conv2d, tokens: Tensor) -> Tensor:
        """(M, g, g, D) token map -> convolved (M, g, g, D)."""
        return conv(tokens.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    def embed_support(self, support: Tensor) -> Tensor:
        """Convolve the image and label token maps of every prompt."""
        g = self.grid
        return torch.cat([
            self._conv_tokens(self.img_conv, support[:, :, :g]),
            self._conv_tokens(self.label_conv, support[:, :, g:])
        ],
                         dim=2)
