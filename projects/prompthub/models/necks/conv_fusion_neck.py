"""Convolution-based fusion (the reference's ``PromptGeneratorConv``)."""
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
        kernel_size (int): Odd convolution size: the neighbourhood each
            prompt token mixes. Defaults to 3.
        locality (str): Cross-attention locality, see
            :class:`LocalityFusionNeck`. Defaults to ``'patchwise'`` (the
            convolutions already give the locality).
        **kwargs: The other arguments of :class:`LocalityFusionNeck`
            (``embed_dims``, ``num_heads``, ``dropout``, ``sigma``, ``grid``,
            ``cut_threshold``, ``label_keys``, ``init_cfg``), with its
            defaults.
    """

    def __init__(self,
                 *,
                 kernel_size: int = 3,
                 locality: str = 'patchwise',
                 **kwargs) -> None:
        super().__init__(locality=locality, **kwargs)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be a positive odd number '
                             f'(to keep the {self.grid}x{self.grid} grid), '
                             f'got {kernel_size!r}.')
        dims, padding = self.embed_dims, (kernel_size - 1) // 2
        self.img_conv = nn.Conv2d(dims, dims, kernel_size, padding=padding)
        self.label_conv = nn.Conv2d(dims, dims, kernel_size, padding=padding)

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
