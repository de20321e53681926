"""MAE ViT encoder/decoder that predicts VQGAN codes for the BR quadrant.

Module names follow MAE's ``MaskedAutoencoderViT`` (the layout of
``checkpoint-1000.pth``): ``patch_embed.proj``, ``cls_token``,
``pos_embed``, ``blocks.{i}``, ``norm``, ``decoder_embed``, ``mask_token``,
``decoder_pos_embed``, ``decoder_blocks.{i}``, ``decoder_norm``,
``decoder_pred``. Blocks are timm's, which use
``F.scaled_dot_product_attention``.

`Visual Prompting via Image Inpainting <https://arxiv.org/abs/2209.00647>`_
"""
from functools import partial
from typing import Optional

import torch
from mmengine.model import BaseModule
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block
from torch import nn

from projects.prompthub.structures import (br_token_ids, half_rows,
                                           visible_mask_ids)
from ..utils.pos_embed import sincos_pos_embed_tensor


class InpaintingMAEViT(BaseModule):
    """MAE ViT whose decoder outputs logits over a VQGAN codebook.

    The visible set is fixed: the TL, TR and BL token blocks are kept and
    the BR block is masked (replaced by ``mask_token`` in the decoder).

    Args:
        img_size (int): Canvas side. Defaults to 224.
        patch_size (int): Patch side. Defaults to 16.
        in_channels (int): Image channels. Defaults to 3.
        embed_dim (int): Encoder width. Defaults to 1024.
        depth (int): Encoder blocks. Defaults to 24.
        num_heads (int): Encoder heads. Defaults to 16.
        decoder_embed_dim (int): Decoder width. Defaults to 512.
        decoder_depth (int): Decoder blocks. Defaults to 8.
        decoder_num_heads (int): Decoder heads. Defaults to 16.
        mlp_ratio (float): MLP hidden / width. Defaults to 4.
        num_codes (int): Size of the predicted vocabulary (VQGAN codes).
            Defaults to 1024.
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 img_size: int = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 embed_dim: int = 1024,
                 depth: int = 24,
                 num_heads: int = 16,
                 decoder_embed_dim: int = 512,
                 decoder_depth: int = 8,
                 decoder_num_heads: int = 16,
                 mlp_ratio: float = 4.,
                 num_codes: int = 1024,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if img_size % patch_size:
            raise ValueError(f'img_size {img_size} must be a multiple of '
                             f'patch_size {patch_size}')
        self.img_size = img_size
        self.grid_size = img_size // patch_size
        self.embed_dim = embed_dim
        self.num_codes = num_codes
        num_patches = self.grid_size**2
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        block = partial(
            Block,
            mlp_ratio=mlp_ratio,
            qkv_bias=True,
            norm_layer=norm_layer,
            act_layer=nn.GELU)

        # Not strict: :meth:`embed` may embed half a canvas.
        self.patch_embed = PatchEmbed(
            img_size,
            patch_size,
            in_channels,
            embed_dim,
            strict_img_size=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        # Fixed sin-cos tables (stored in the checkpoint as well).
        self.pos_embed = nn.Parameter(
            torch.zeros(1, num_patches + 1, embed_dim), requires_grad=False)
        self.blocks = nn.ModuleList(
            [block(embed_dim, num_heads) for _ in range(depth)])
        self.norm = norm_layer(embed_dim)

        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(
            torch.zeros(1, num_patches + 1, decoder_embed_dim),
            requires_grad=False)
        self.decoder_blocks = nn.ModuleList([
            block(decoder_embed_dim, decoder_num_heads)
            for _ in range(decoder_depth)
        ])
        self.decoder_norm = norm_layer(decoder_embed_dim)
        self.decoder_pred = nn.Linear(decoder_embed_dim, num_codes)

        visible = visible_mask_ids(self.grid_size)
        shuffle = torch.cat([visible, br_token_ids(self.grid_size)])
        # Not in the state dict: derived from the fixed a1 geometry.
        self.register_buffer('visible_ids', visible, persistent=False)
        self.register_buffer(
            'restore_ids', torch.argsort(shuffle), persistent=False)
        self._init_random_weights()

    def _init_random_weights(self) -> None:
        """MAE's initialisation (used when no checkpoint is loaded)."""
        self.pos_embed.data.copy_(
            sincos_pos_embed_tensor(self.embed_dim, self.grid_size))
        self.decoder_pos_embed.data.copy_(
            sincos_pos_embed_tensor(self.decoder_pos_embed.shape[-1],
                                    self.grid_size))
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=.02)
        nn.init.normal_(self.mask_token, std=.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def embed(self,
              canvas: torch.Tensor,
              half: Optional[str] = None) -> torch.Tensor:
        """Patch embedding plus position embedding (no cls token).

        Args:
            canvas (Tensor): [B, 3, H, W] ImageNet-normalised canvas.
            half (str, optional): ``'top'`` or ``'bottom'`` embeds only
                that half (the other half's pixels are not read; patches
                do not overlap, so the tokens equal those of the whole
                canvas). Defaults to None (all tokens).

        Returns:
            Tensor: [B, grid_size**2, embed_dim] tokens, or the half's
            [B, grid_size**2 / 2, embed_dim].
        """
        if canvas.dim() != 4 or tuple(canvas.shape[-2:]) != \
                (self.img_size, self.img_size):
            raise ValueError(f'embed expects [B, 3, {self.img_size}, '
                             f'{self.img_size}], got {tuple(canvas.shape)}')
        pos = self.pos_embed[:, 1:, :]
        if half is None:
            return self.patch_embed(canvas) + pos
        pixels = canvas[:, :, half_rows(half, self.img_size)]
        return self.patch_embed(
            pixels) + pos[:, half_rows(half, self.grid_size**2)]

    def forward_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits over the codebook from embedded canvas tokens.

        The BR tokens of the input are discarded (masked); the encoder sees
        cls + the 147 visible tokens in raster order, the decoder puts
        ``mask_token`` at the BR positions. Batched, no per-sample loop.

        Args:
            tokens (Tensor): [B, grid_size**2, embed_dim], patch and
                position embedding already applied (see :meth:`embed`).

        Returns:
            Tensor: [B, grid_size**2, num_codes] logits, raster order.
        """
        num = self.grid_size**2
        if tokens.dim() != 3 or tokens.shape[1:] != (num, self.embed_dim):
            raise ValueError(f'forward_tokens expects [B, {num}, '
                             f'{self.embed_dim}] tokens, got '
                             f'{tuple(tokens.shape)}')
        b = tokens.shape[0]
        x = tokens.index_select(1, self.visible_ids)
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(b, -1, -1)
        x = torch.cat([cls.to(x.dtype), x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        x = self.decoder_embed(self.norm(x))

        masked = self.mask_token.to(x.dtype).expand(b, num + 1 - x.shape[1],
                                                    -1)
        x_ = torch.cat([x[:, 1:], masked], dim=1)
        x_ = x_.index_select(1, self.restore_ids)  # back to raster order
        x = torch.cat([x[:, :1], x_], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_pred(self.decoder_norm(x))
        return x[:, 1:]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Alias of :meth:`forward_tokens`."""
        return self.forward_tokens(tokens)
