"""Taming-transformers' VQGAN (``VQModel``), inference only.

Module names follow taming's ``VQModel`` so that ``last.ckpt`` loads
without renaming: ``encoder.*`` / ``decoder.*`` (``conv_in``,
``down.{i}.block.{j}``, ``down.{i}.attn.{j}``, ``down.{i}.downsample``,
``mid.block_1``/``attn_1``/``block_2``, ``up.{i}...``, ``norm_out``,
``conv_out``), ``quant_conv``, ``quantize.embedding``, ``post_quant_conv``.
Defaults are ``vqgan_imagenet_f16_1024``: ch 128, ch_mult (1, 1, 2, 2, 4),
2 res blocks, attention at resolution 16, z 256, 1024 x 256 codebook.

`Taming Transformers for High-Resolution Image Synthesis
<https://arxiv.org/abs/2012.09841>`_
"""
import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from projects.prompthub.structures import denormalize


def _norm(channels: int, num_groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups, channels, eps=1e-6, affine=True)


def _swish(x: torch.Tensor) -> torch.Tensor:
    # Written as taming does (not F.silu) to stay bit-identical with it.
    return x * torch.sigmoid(x)


class VQResBlock(nn.Module):
    """Pre-activation residual block (GroupNorm, swish, 3x3 conv) x 2.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels; a 1x1 ``nin_shortcut`` maps
            the skip when they differ.
        num_groups (int): GroupNorm groups. Defaults to 32.
        dropout (float): Dropout before the second conv. Defaults to 0.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_groups: int = 32,
                 dropout: float = 0.) -> None:
        super().__init__()
        self.norm1 = _norm(in_channels, num_groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.norm2 = _norm(out_channels, num_groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1) \
            if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(_swish(self.norm1(x)))
        h = self.conv2(self.dropout(_swish(self.norm2(h))))
        if self.nin_shortcut is not None:
            x = self.nin_shortcut(x)
        return x + h


class VQAttnBlock(nn.Module):
    """Single-head global self-attention over all positions (1x1 convs).

    Args:
        channels (int): Channels (also the head width; scale C**-0.5).
        num_groups (int): GroupNorm groups. Defaults to 32.
    """

    def __init__(self, channels: int, num_groups: int = 32) -> None:
        super().__init__()
        self.norm = _norm(channels, num_groups)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Same op order as taming (bmm, scale, softmax, bmm) rather than
        # SDPA: the paste-back truncates to uint8, so bit-level agreement
        # with the reference decides pixels. 196 positions: cheap anyway.
        b, c, h, w = x.shape
        y = self.norm(x)
        q = self.q(y).reshape(b, c, h * w).permute(0, 2, 1)
        k = self.k(y).reshape(b, c, h * w)
        attn = torch.softmax(torch.bmm(q, k) * (int(c)**(-0.5)), dim=2)
        v = self.v(y).reshape(b, c, h * w)
        out = torch.bmm(v, attn.permute(0, 2, 1)).reshape(b, c, h, w)
        return x + self.proj_out(out)


class VQDownsample(nn.Module):
    """Stride-2 3x3 conv after zero padding right/bottom by one pixel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class VQUpsample(nn.Module):
    """Nearest x2 upsampling followed by a 3x3 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))


class _VQLevel(nn.Module):
    """One resolution level: res blocks, optional attention, resampler."""

    def __init__(self, channels: Sequence[int], with_attn: bool,
                 num_groups: int, dropout: float) -> None:
        super().__init__()
        self.block = nn.ModuleList([
            VQResBlock(c_in, c_out, num_groups, dropout)
            for c_in, c_out in zip(channels[:-1], channels[1:])
        ])
        self.attn = nn.ModuleList(
            [VQAttnBlock(c_out, num_groups)
             for c_out in channels[1:]] if with_attn else [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.block):
            x = block(x)
            if len(self.attn):
                x = self.attn[i](x)
        return x


class _VQMid(nn.Module):
    """Res block, attention, res block at the lowest resolution."""

    def __init__(self, channels: int, num_groups: int, dropout: float) -> None:
        super().__init__()
        self.block_1 = VQResBlock(channels, channels, num_groups, dropout)
        self.attn_1 = VQAttnBlock(channels, num_groups)
        self.block_2 = VQResBlock(channels, channels, num_groups, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class VQGANEncoder(nn.Module):
    """Taming ``Encoder`` with ``double_z=False``.

    Args:
        ch (int): Base width. Defaults to 128.
        ch_mult (Sequence[int]): Width multiplier per level; there are
            ``len(ch_mult) - 1`` stride-2 downsamplings. Defaults to
            (1, 1, 2, 2, 4).
        num_res_blocks (int): Res blocks per level. Defaults to 2.
        attn_resolutions (Sequence[int]): Nominal resolutions (given
            ``resolution``) whose levels get attention. Defaults to (16, ).
        resolution (int): Nominal input size the attention levels refer
            to (the config's 256; the network is size agnostic). Defaults
            to 256.
        in_channels (int): Image channels. Defaults to 3.
        z_channels (int): Latent channels. Defaults to 256.
        num_groups (int): GroupNorm groups. Defaults to 32.
        dropout (float): Res-block dropout. Defaults to 0.
    """

    def __init__(self,
                 ch: int = 128,
                 ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
                 num_res_blocks: int = 2,
                 attn_resolutions: Sequence[int] = (16, ),
                 resolution: int = 256,
                 in_channels: int = 3,
                 z_channels: int = 256,
                 num_groups: int = 32,
                 dropout: float = 0.) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, 1, 1)
        widths = [ch] + [ch * m for m in ch_mult]
        res = resolution
        self.down = nn.ModuleList()
        for i in range(len(ch_mult)):
            level = _VQLevel([widths[i]] + [widths[i + 1]] * num_res_blocks,
                             res in attn_resolutions, num_groups, dropout)
            if i != len(ch_mult) - 1:
                level.downsample = VQDownsample(widths[i + 1])
                res //= 2
            self.down.append(level)
        self.mid = _VQMid(widths[-1], num_groups, dropout)
        self.norm_out = _norm(widths[-1], num_groups)
        self.conv_out = nn.Conv2d(widths[-1], z_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
            if hasattr(level, 'downsample'):
                h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(_swish(self.norm_out(h)))


class VQGANDecoder(nn.Module):
    """Taming ``Decoder`` (mirror of :class:`VQGANEncoder`).

    Args:
        ch (int): Base width. Defaults to 128.
        ch_mult (Sequence[int]): As the encoder. Defaults to
            (1, 1, 2, 2, 4).
        num_res_blocks (int): The decoder uses ``num_res_blocks + 1`` per
            level. Defaults to 2.
        attn_resolutions (Sequence[int]): As the encoder. Defaults to
            (16, ).
        resolution (int): Nominal size. Defaults to 256.
        out_ch (int): Image channels. Defaults to 3.
        z_channels (int): Latent channels. Defaults to 256.
        num_groups (int): GroupNorm groups. Defaults to 32.
        dropout (float): Res-block dropout. Defaults to 0.
    """

    def __init__(self,
                 ch: int = 128,
                 ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
                 num_res_blocks: int = 2,
                 attn_resolutions: Sequence[int] = (16, ),
                 resolution: int = 256,
                 out_ch: int = 3,
                 z_channels: int = 256,
                 num_groups: int = 32,
                 dropout: float = 0.) -> None:
        super().__init__()
        n = len(ch_mult)
        width = ch * ch_mult[-1]
        res = resolution // 2**(n - 1)
        self.conv_in = nn.Conv2d(z_channels, width, 3, 1, 1)
        self.mid = _VQMid(width, num_groups, dropout)
        levels = [None] * n
        for i in reversed(range(n)):
            out = ch * ch_mult[i]
            with_attn = res in attn_resolutions
            level = _VQLevel([width] + [out] * (num_res_blocks + 1), with_attn,
                             num_groups, dropout)
            width = out
            if i != 0:
                level.upsample = VQUpsample(width)
                res *= 2
            levels[i] = level
        # Indexed by level (0 = full resolution), run from the last.
        self.up = nn.ModuleList(levels)
        self.norm_out = _norm(width, num_groups)
        self.conv_out = nn.Conv2d(width, out_ch, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
            if hasattr(level, 'upsample'):
                h = level.upsample(h)
        return self.conv_out(_swish(self.norm_out(h)))


class VQCodebook(nn.Module):
    """Nearest-neighbour vector quantiser (taming ``VectorQuantizer2``).

    Args:
        num_codes (int): Codebook size. Defaults to 1024.
        code_dim (int): Code width. Defaults to 256.
    """

    def __init__(self, num_codes: int = 1024, code_dim: int = 256) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_codes, code_dim)
        nn.init.uniform_(self.embedding.weight, -1. / num_codes,
                         1. / num_codes)

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Code index of every position, by squared L2 distance.

        Args:
            z (Tensor): [B, C, H, W] latents.

        Returns:
            Tensor: int64 [B, H*W], raster order.
        """
        b = z.shape[0]
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        codes = self.embedding.weight
        # |z|^2 + |e|^2 - 2 z.e, the reference's expansion.
        dist = flat.pow(2).sum(1, keepdim=True) + codes.pow(2).sum(1) - \
            2 * flat @ codes.t().to(flat.dtype)
        return dist.argmin(dim=1).view(b, -1)

    def lookup(self, codes: torch.Tensor, grid_size: int) -> torch.Tensor:
        """Codebook vectors of a raster of indices.

        Args:
            codes (Tensor): int [B, grid_size**2].
            grid_size (int): Side of the latent grid.

        Returns:
            Tensor: [B, C, grid_size, grid_size].
        """
        z = self.embedding(codes)
        return z.view(codes.shape[0], grid_size, grid_size,
                      -1).permute(0, 3, 1, 2).contiguous()


class TamingVQGAN(nn.Module):
    """Frozen-use VQGAN: canvas -> code indices -> image.

    Args:
        ch (int): Base width. Defaults to 128.
        ch_mult (Sequence[int]): Width multipliers; the downsampling factor
            is ``2 ** (len(ch_mult) - 1)`` (16). Defaults to
            (1, 1, 2, 2, 4).
        num_res_blocks (int): Defaults to 2.
        attn_resolutions (Sequence[int]): Defaults to (16, ).
        resolution (int): Nominal size of the config. Defaults to 256.
        in_channels (int): Defaults to 3.
        out_ch (int): Defaults to 3.
        z_channels (int): Defaults to 256.
        embed_dim (int): Code width. Defaults to 256.
        n_embed (int): Codebook size. Defaults to 1024.
        num_groups (int): GroupNorm groups (32 in taming; smaller for tiny
            widths). Defaults to 32.
        dropout (float): Defaults to 0.
    """

    def __init__(self,
                 ch: int = 128,
                 ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
                 num_res_blocks: int = 2,
                 attn_resolutions: Sequence[int] = (16, ),
                 resolution: int = 256,
                 in_channels: int = 3,
                 out_ch: int = 3,
                 z_channels: int = 256,
                 embed_dim: int = 256,
                 n_embed: int = 1024,
                 num_groups: int = 32,
                 dropout: float = 0.) -> None:
        super().__init__()
        common = dict(
            ch=ch,
            ch_mult=tuple(ch_mult),
            num_res_blocks=num_res_blocks,
            attn_resolutions=tuple(attn_resolutions),
            resolution=resolution,
            z_channels=z_channels,
            num_groups=num_groups,
            dropout=dropout)
        self.encoder = VQGANEncoder(in_channels=in_channels, **common)
        self.decoder = VQGANDecoder(out_ch=out_ch, **common)
        self.quantize = VQCodebook(n_embed, embed_dim)
        self.quant_conv = nn.Conv2d(z_channels, embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, z_channels, 1)
        self.downsample_factor = 2**(len(ch_mult) - 1)
        self.num_codes = n_embed

    @staticmethod
    def map_pixels(canvas_norm: torch.Tensor) -> torch.Tensor:
        """ImageNet-normalised canvas -> VQGAN input in [-1, 1].

        As the reference: ``2 * (x * std + mean) - 1`` evaluated in float64
        (its statistics are float64 numpy arrays), then cast to float32.
        """
        x = denormalize(canvas_norm.to(torch.float64))
        return (2. * x - 1.).to(torch.float32)

    @torch.no_grad()
    def encode_to_codes(self, canvas_norm: torch.Tensor) -> torch.Tensor:
        """Code indices of an ImageNet-normalised image.

        Args:
            canvas_norm (Tensor): [B, 3, H, W], H and W multiples of the
                downsampling factor.

        Returns:
            Tensor: int64 [B, (H/16) * (W/16)], raster order.
        """
        if canvas_norm.dim() != 4 or canvas_norm.shape[1] != 3:
            raise ValueError('encode_to_codes expects [B, 3, H, W], got '
                             f'{tuple(canvas_norm.shape)}')
        if not canvas_norm.is_floating_point():
            raise TypeError('encode_to_codes expects a float, ImageNet-'
                            f'normalised canvas, got {canvas_norm.dtype}')
        z = self.quant_conv(self.encoder(self.map_pixels(canvas_norm)))
        return self.quantize.nearest(z)

    @torch.no_grad()
    def decode_codes(self,
                     codes: torch.Tensor,
                     grid_size: Optional[int] = None) -> torch.Tensor:
        """Decode a full grid of code indices to an image in [0, 1].

        Args:
            codes (Tensor): int [B, N], N = grid_size**2, raster order.
            grid_size (int, optional): Latent side; inferred from N when
                None.

        Returns:
            Tensor: float [B, 3, 16 * grid, 16 * grid] in [0, 1]
            (``(clamp(x, -1, 1) + 1) / 2`` of the decoder output).
        """
        if codes.dim() != 2 or codes.dtype not in (torch.int64, torch.int32):
            raise ValueError('decode_codes expects int64 codes [B, N], got '
                             f'{codes.dtype} {tuple(codes.shape)}')
        side = grid_size or math.isqrt(codes.shape[1])
        if side * side != codes.shape[1]:
            raise ValueError('decode_codes needs a full square grid of codes '
                             f'(grid_size={side}), got N={codes.shape[1]}')
        # Meta tensors (FLOP counting) have no values to check.
        checkable = codes.numel() and not codes.is_meta
        if checkable and (codes.min() < 0 or codes.max() >= self.num_codes):
            raise ValueError(f'code indices must lie in [0, {self.num_codes})'
                             f', got [{codes.min()}, {codes.max()}]')
        z = self.post_quant_conv(self.quantize.lookup(codes.long(), side))
        x = self.decoder(z)
        return (x.clamp(-1., 1.) + 1.) / 2.
