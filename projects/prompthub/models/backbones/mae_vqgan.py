"""The frozen MAE-VQGAN backbone shared by the VICL models.

``checkpoint-1000.pth`` (amirbar/visual_prompting) holds the MAE keys at
the top level (and, since that model owns its VQGAN, ``vae.*``); taming's
``last.ckpt`` holds the VQGAN. :class:`MAEVQGAN` has exactly that layout:
the MAE keys plus ``vae.*``, so either file loads strictly.
"""
from typing import Optional

import torch
from mmengine.logging import print_log

from projects.prompthub.registry import MODELS
from ..utils.checkpoint_io import (check_state_dict, load_mae_vqgan_files,
                                   load_vqgan_state_dict, module_layout)
from .base_vicl_backbone import BaseVICLBackbone
from .mae_vit import InpaintingMAEViT
from .vqgan import TamingVQGAN

#: Tiny setting of both networks (same code) for tests and demos.
TINY_MAE_VQGAN_CFG = dict(
    type='MAEVQGAN',
    embed_dim=64,
    depth=2,
    num_heads=4,
    decoder_embed_dim=32,
    decoder_depth=1,
    decoder_num_heads=4,
    vqgan_cfg=dict(
        ch=16,
        ch_mult=(1, 1, 1, 1, 2),
        num_res_blocks=1,
        z_channels=16,
        embed_dim=16,
        n_embed=256,
        num_groups=8))


@MODELS.register_module()
class MAEVQGAN(InpaintingMAEViT, BaseVICLBackbone):
    """Frozen MAE (ViT-L/16, 512-d 8-block decoder) + VQGAN f16-1024.

    Implements :class:`BaseVICLBackbone` (:meth:`embed` and
    :meth:`forward_tokens` from the MAE, logits over the VQGAN codes);
    besides, :meth:`encode_to_codes` and :meth:`decode_codes` reach the
    VQGAN directly.

    Weights: give ``mae_checkpoint`` (``checkpoint-1000.pth``) and/or
    ``vqgan_checkpoint`` (``last.ckpt``); they are loaded strictly *at
    construction*, because MMEngine's Runner calls ``init_weights`` only
    when training, and evaluation must not run on random weights. As in
    the reference, ``vae.*`` entries of the MAE checkpoint take precedence
    over ``last.ckpt``. A converted checkpoint
    (``tools/model_converters/mae_vqgan2mmengine.py``) loads with
    ``load_from`` or ``init_cfg=dict(type='Pretrained', ...)`` instead.

    Args:
        img_size (int): Canvas side. Defaults to 224.
        patch_size (int): Defaults to 16.
        in_channels (int): Defaults to 3.
        embed_dim (int): Encoder width. Defaults to 1024.
        depth (int): Encoder blocks. Defaults to 24.
        num_heads (int): Encoder heads. Defaults to 16.
        decoder_embed_dim (int): Defaults to 512.
        decoder_depth (int): Defaults to 8.
        decoder_num_heads (int): Defaults to 16.
        mlp_ratio (float): Defaults to 4.
        vqgan_cfg (dict, optional): Keyword arguments of
            :class:`TamingVQGAN` (``ch``, ``ch_mult``, ``num_res_blocks``,
            ``attn_resolutions``, ``resolution``, ``z_channels``,
            ``embed_dim``, ``n_embed``, ``num_groups``, ...). None means
            ``vqgan_imagenet_f16_1024``. Its ``n_embed`` is the MAE's
            vocabulary. Defaults to None.
        mae_checkpoint (str, optional): Local ``checkpoint-1000.pth``.
            Defaults to None.
        vqgan_checkpoint (str, optional): Local taming ``last.ckpt``.
            Defaults to None.
        trust_checkpoint (bool): Allow full unpickling of the two files
            when safe loading refuses them (only for trusted files).
            Defaults to False.
        frozen (bool): ``requires_grad=False`` on every parameter and eval
            mode kept under ``train()``; gradients still flow to the input
            tokens. Defaults to True.
        decode_per_image (bool): Decode the VQGAN codes one image at a
            time (a batch of 1 per call, the reference's call shape) in
            :meth:`decode_codes`. Batched convolutions may pick other
            kernels and differ by ~1e-5 before the uint8 truncation,
            flipping about 1 in 10,000 pasted values by one level; per
            image, predictions are bit-equal to the reference's. Costs
            some decode throughput (docs/benchmarks.md). The configs that
            reproduce published numbers turn it on. Defaults to False.
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
                 vqgan_cfg: Optional[dict] = None,
                 mae_checkpoint: Optional[str] = None,
                 vqgan_checkpoint: Optional[str] = None,
                 trust_checkpoint: bool = False,
                 frozen: bool = True,
                 decode_per_image: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        vae = TamingVQGAN(**dict(vqgan_cfg or {}))
        super().__init__(
            img_size=img_size,
            patch_size=patch_size,
            in_channels=in_channels,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            decoder_embed_dim=decoder_embed_dim,
            decoder_depth=decoder_depth,
            decoder_num_heads=decoder_num_heads,
            mlp_ratio=mlp_ratio,
            num_codes=vae.num_codes,
            init_cfg=init_cfg)
        if patch_size != vae.downsample_factor:
            raise ValueError(
                f'The VQGAN downsamples by {vae.downsample_factor} '
                f'(2 ** (len(ch_mult) - 1)) but patch_size is {patch_size};'
                ' its code grid must align 1:1 with the MAE patches')
        self.vae = vae
        self.frozen = frozen
        self.decode_per_image = decode_per_image
        if mae_checkpoint or vqgan_checkpoint:
            self.load_pretrained(mae_checkpoint, vqgan_checkpoint,
                                 trust_checkpoint)
        if frozen:
            self.freeze()

    def load_pretrained(self,
                        mae_checkpoint: Optional[str] = None,
                        vqgan_checkpoint: Optional[str] = None,
                        trust_checkpoint: bool = False) -> None:
        """Load the public weights strictly.

        Args:
            mae_checkpoint (str, optional): ``checkpoint-1000.pth``. Its
                ``vae.*`` keys, if any, override ``vqgan_checkpoint``.
            vqgan_checkpoint (str, optional): Taming ``last.ckpt``. Needed
                when the MAE checkpoint carries no ``vae.*`` weights.
            trust_checkpoint (bool): See :class:`MAEVQGAN`.

        Raises:
            FileNotFoundError: A given file is missing.
            ValueError: The MAE checkpoint has no VQGAN weights and no
                ``vqgan_checkpoint`` was given.
            RuntimeError: Keys or shapes do not match.
        """
        if mae_checkpoint:
            merged, sources = load_mae_vqgan_files(mae_checkpoint,
                                                   vqgan_checkpoint,
                                                   trust_checkpoint)
            check_state_dict(module_layout(self), merged, sources)
            self.load_state_dict(merged, strict=True)
            # A checkpoint without backbone.* may rely on these weights.
            self.pretrained_from = tuple(sources)
        elif vqgan_checkpoint:
            vq_sd = load_vqgan_state_dict(vqgan_checkpoint, trust_checkpoint)
            sources = [vqgan_checkpoint]
            check_state_dict(module_layout(self.vae), vq_sd, sources)
            self.vae.load_state_dict(vq_sd, strict=True)
            self.vae.pretrained_from = tuple(sources)
        else:
            return
        print_log(f'MAEVQGAN: loaded {", ".join(sources)}', logger='current')

    def encode_to_codes(self, canvas: torch.Tensor) -> torch.Tensor:
        """VQGAN code indices of an ImageNet-normalised canvas.

        Args:
            canvas (Tensor): [B, 3, 224, 224] normalised canvas.

        Returns:
            Tensor: int64 [B, 196], raster order (no gradient).
        """
        size = self.img_size
        if canvas.dim() != 4 or tuple(canvas.shape[1:]) != (3, size, size):
            raise ValueError(f'encode_to_codes expects [B, 3, {size}, '
                             f'{size}], got {tuple(canvas.shape)}')
        return self.vae.encode_to_codes(canvas)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Decode the full code grid to an image in [0, 1].

        Args:
            codes (Tensor): int64 [B, 196] (e.g. ``logits.argmax(-1)``).

        Returns:
            Tensor: float [B, 3, 224, 224] in [0, 1] (no gradient). With
            ``decode_per_image``, each image is decoded in its own call of
            batch 1 (see :class:`MAEVQGAN`).
        """
        num = self.grid_size**2
        if codes.dim() != 2 or codes.shape[1] != num:
            raise ValueError(f'decode_codes expects the full grid [B, {num}]'
                             f' of code indices, got {tuple(codes.shape)}')
        if self.decode_per_image and codes.shape[0] > 1:
            return torch.cat([
                self.vae.decode_codes(codes[i:i + 1], self.grid_size)
                for i in range(codes.shape[0])
            ])
        return self.vae.decode_codes(codes, self.grid_size)

    # -- BaseVICLBackbone -------------------------------------------------
    def target_network(self) -> torch.nn.Module:
        """The VQGAN: the codes of :meth:`prediction_targets` depend on its
        weights only."""
        return self.vae

    def prediction_targets(self, canvas: torch.Tensor) -> torch.Tensor:
        """What the decoder is trained to predict for a canvas: its codes.

        Args:
            canvas (Tensor): [B, 3, 224, 224] normalised canvas.

        Returns:
            Tensor: int64 [B, 196] VQGAN codes (classification targets).
        """
        return self.encode_to_codes(canvas)

    def logits_to_image(self, logits: torch.Tensor) -> torch.Tensor:
        """Image of a prediction: hard argmax, then full-grid decode.

        Args:
            logits (Tensor): [B, 196, num_codes].

        Returns:
            Tensor: float [B, 3, 224, 224] in [0, 1].
        """
        return self.decode_codes(logits.argmax(dim=-1))
