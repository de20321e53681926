"""A tiny pixel-predicting VICL backbone that trains on a CPU.

It implements :class:`BaseVICLBackbone`, so :class:`PromptHub` and
:class:`VICLInpainter` use it in place of the MAE-VQGAN. Instead of VQGAN
codes it predicts pixels: every token's "logits" are the
``3 * sub_size ** 2`` logits of its patch, average-pooled to
``sub_size x sub_size`` (sigmoid gives the colour in [0, 1]).
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor

from projects.prompthub.registry import MODELS
from projects.prompthub.structures import br_token_ids, denormalize, half_rows
from projects.prompthub.utils.paths import resolve_project_path
from .base_vicl_backbone import BaseVICLBackbone


@MODELS.register_module()
class TinyVICLBackbone(BaseVICLBackbone):
    """Tiny masked-token VICL backbone with a pixel head.

    - :meth:`embed`: every 16x16 patch of the normalised canvas is
      flattened and linearly embedded (patch-local: no information leaks
      between cells), plus cell-structured position embeddings (a
      learned within-cell ``grid x grid`` table shared by the four cells
      plus a learned embedding per cell).
      A label-cell token also embeds the masked average pooling of its
      image partner's pixels under its label pixels (foreground colour,
      background colour, foreground fraction), the prototype feature of
      few-shot segmentation networks (PANet, CANet); this is patch-local
      too (a label cell only reads the image cell to its left).
    - :meth:`forward_tokens`: the BR tokens are replaced by a mask token
      (plus position), a pre-LN transformer runs over all tokens, and a
      pixel head predicts each token's sub-sampled patch. The head is a
      small MLP run per sub-pixel on the token's output feature plus the
      *input* token of its image partner (the token itself in an image
      cell, the token ``grid`` columns to the left in a label cell): a
      skip path that lets the transformer output say "which colours are
      foreground" while the pixels come from the image cell. The skip
      reads the raw pooled pixels that every token carries after its
      learned features.

    Everything the VICL models need flows through tokens, so the fusion
    neck's fused tokens are rendered the same way; the tokens carry their
    patch's pixels (``tokens_carry_pixels``), which :meth:`tokens_to_image`
    shows.

    Args:
        img_size (int): Canvas side. Defaults to 224.
        patch_size (int): Defaults to 16.
        embed_dim (int): Width of the transformer. The tokens of
            :meth:`embed` (and the attribute ``embed_dim``, what a neck
            must use) are ``embed_dim + 3 * sub_size ** 2`` wide: the
            learned features followed by the raw pooled pixels of the
            patch. Defaults to 128.
        depth (int): Transformer blocks. Defaults to 4.
        num_heads (int): Defaults to 4.
        mlp_ratio (float): Defaults to 2.
        sub_size (int): Predicted pixels per patch side (patch_size must
            be a multiple). Defaults to 8.
        head_dim (int): Hidden width of the per-pixel MLP. Defaults to 32.
        num_protos (int): Colour prototypes predicted per token for the
            pixel head's distance features. Defaults to 4.
        checkpoint (str, optional): State dict to load strictly at
            construction (a relative path is tried from the working
            directory, then from the repository root, see
            :func:`resolve_project_path`). Defaults to None.
        frozen (bool): ``requires_grad=False`` and eval mode kept under
            ``train()``. Defaults to True.
        init_cfg (dict, optional): Defaults to None.
    """

    tokens_carry_pixels = True

    def __init__(self,
                 img_size: int = 224,
                 patch_size: int = 16,
                 embed_dim: int = 128,
                 depth: int = 4,
                 num_heads: int = 4,
                 mlp_ratio: float = 2.,
                 sub_size: int = 8,
                 head_dim: int = 32,
                 num_protos: int = 4,
                 checkpoint: Optional[str] = None,
                 frozen: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if img_size % patch_size or patch_size % sub_size or sub_size % 2:
            raise ValueError(f'img_size ({img_size}) must be a multiple of '
                             f'patch_size ({patch_size}), itself a multiple '
                             f'of sub_size ({sub_size}), which is even')
        self.img_size = img_size
        self.patch_size = patch_size
        self.grid_size = img_size // patch_size
        if self.grid_size % 2:
            raise ValueError('the token grid must have an even side')
        self.sub_size = sub_size
        self.num_codes = 3 * sub_size * sub_size
        self.model_dim = embed_dim
        # Tokens carry the learned features plus the raw pooled pixels.
        self.embed_dim = embed_dim + self.num_codes
        half = self.grid_size // 2
        self.patch_embed = nn.Linear(3 * patch_size * patch_size, embed_dim)
        # Masked average pooling of the image partner under the label
        # (label cells only): fg colour, bg colour, fg fraction.
        self.proto_embed = nn.Linear(7, embed_dim)
        self.cell_pos = nn.Parameter(torch.zeros(half * half, embed_dim))
        self.cell_embed = nn.Parameter(torch.zeros(4, embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(embed_dim))
        layer = nn.TransformerEncoderLayer(
            embed_dim,
            num_heads,
            int(embed_dim * mlp_ratio),
            dropout=0.0,
            activation='gelu',
            batch_first=True,
            norm_first=True)
        self.blocks = nn.TransformerEncoder(
            layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dim)
        subs = sub_size * sub_size
        self.head_token = nn.Linear(embed_dim, head_dim)
        self.head_pixels = nn.Linear(3, head_dim)
        # Prototype matching (PANet-style): each token predicts
        # ``num_protos`` colours; every pixel's squared distance to them
        # feeds the pixel MLP.
        self.num_protos = num_protos
        self.head_protos = nn.Linear(embed_dim, 3 * num_protos)
        self.head_dist = nn.Linear(num_protos, head_dim)
        # Pixel attention to the prompt: every predicted pixel attends
        # over sampled prompt-image pixels (key: colour) and reads their
        # prompt-label values; a null slot absorbs unmatched colours.
        self.log_tau = nn.Parameter(torch.tensor(-1.2))
        self.null_logit = nn.Parameter(torch.tensor(-2.0))
        self.head_readout = nn.Linear(2, head_dim)
        self.head_subpos = nn.Parameter(torch.zeros(subs, head_dim))
        self.head_out = nn.Linear(head_dim, 3)
        nn.init.normal_(self.cell_pos, std=0.02)
        nn.init.normal_(self.cell_embed, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.normal_(self.head_subpos, std=0.02)
        self.register_buffer(
            'partner_ids', self._partner_ids(), persistent=False)
        self.register_buffer(
            'br_ids', br_token_ids(self.grid_size), persistent=False)
        self.frozen = frozen
        if checkpoint:
            self.load_checkpoint(checkpoint)
        if frozen:
            self.freeze()

    # -- construction helpers -------------------------------------------
    def _partner_ids(self) -> Tensor:
        """Raster id of each token's image partner (itself in TL/BL)."""
        g = self.grid_size
        rows = torch.arange(g)[:, None].expand(g, g)
        cols = torch.arange(g)[None, :].expand(g, g) % (g // 2)
        return (rows * g + cols).reshape(-1)

    def pos_embed(self) -> Tensor:
        """Cell-structured position embeddings [T, D] in raster order."""
        g, half = self.grid_size, self.grid_size // 2
        within = self.cell_pos.view(half, half, -1).repeat(2, 2, 1)
        cell = self.cell_embed.view(2, 1, 2, 1,
                                    -1).expand(2, half, 2, half,
                                               -1).reshape(g, g, -1)
        return (within + cell).reshape(g * g, -1)

    def load_checkpoint(self, path: str) -> None:
        """Load a state dict (a plain one or ``{'state_dict': ...}``)."""
        try:
            path = resolve_project_path(path, 'TinyVICLBackbone checkpoint')
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f'{e} Create it with tools/misc/pretrain_tiny_backbone.py '
                f'--out {path}') from None
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
        state = ckpt.get('state_dict', ckpt)
        state = {k: v.float() for k, v in state.items()}
        self.load_state_dict(state, strict=True)
        # A checkpoint without backbone.* may rely on these weights.
        self.pretrained_from = (path, )
        print_log(f'TinyVICLBackbone: loaded {path}', logger='current')

    # -- backbone API ----------------------------------------------------
    def _check(self, canvas: Tensor) -> None:
        size = self.img_size
        if canvas.dim() != 4 or tuple(canvas.shape[1:]) != (3, size, size):
            raise ValueError(f'expected a canvas [B, 3, {size}, {size}], '
                             f'got {tuple(canvas.shape)}')

    def embed(self, canvas: Tensor, half: Optional[str] = None) -> Tensor:
        """Normalised canvas [B, 3, H, W] -> tokens [B, T, D].

        ``half`` (``'top'``/``'bottom'``) keeps only that half's T/2
        tokens (computed from the whole canvas; this backbone is tiny).
        """
        if half is not None:
            tokens = self.embed(canvas)
            return tokens[:, half_rows(half, tokens.shape[1])]
        self._check(canvas)
        p, g = self.patch_size, self.grid_size
        patches = F.unfold(canvas, p, stride=p).transpose(1, 2)
        tokens = self.patch_embed(patches) + self.pos_embed()
        # Label cells: pool the image partner's pixels under the label.
        bsz = canvas.shape[0]
        pix = patches.view(bsz, g, g, 3, p * p)
        img, lab = pix[:, :, :g // 2], pix[:, :, g // 2:]
        fg = denormalize(
            lab, channel_dim=-2).mean(
                dim=3, keepdim=True).clamp(0, 1)
        area = fg.sum(-1)
        fg_col = (img * fg).sum(-1) / (area + 1.0)
        bg_col = (img * (1 - fg)).sum(-1) / (p * p - area + 1.0)
        proto = torch.cat([fg_col, bg_col, area / (p * p)], dim=-1)
        proto = self.proto_embed(proto)  # [B, g, g/2, D]
        proto = torch.cat([torch.zeros_like(proto), proto], dim=2)
        tokens = tokens + proto.reshape(bsz, g * g, -1)
        return torch.cat([tokens, self._raw_pixels(canvas)], dim=-1)

    def _raw_pixels(self, canvas: Tensor) -> Tensor:
        """Each patch average-pooled to ``sub_size`` [B, T, 3 s^2],
        ordered (sub-row, sub-col, channel) like the logits."""
        factor = self.patch_size // self.sub_size
        img = F.avg_pool2d(canvas, factor) if factor > 1 else canvas
        s, g = self.sub_size, self.grid_size
        bsz = img.shape[0]
        img = img.view(bsz, 3, g, s, g, s).permute(0, 2, 4, 3, 5, 1)
        return img.reshape(bsz, g * g, -1)

    def forward_tokens(self,
                       tokens: Tensor,
                       head_ids: Optional[Tensor] = None) -> Tensor:
        """Tokens [B, T, D] -> pixel logits [B, T, 3 * sub_size ** 2].

        The BR tokens are masked (never read). Logits are ordered
        (sub-row, sub-col, channel).

        Args:
            tokens (Tensor): [B, T, D] from :meth:`embed` (or a neck).
            head_ids (Tensor, optional): Raster ids to run the pixel head
                on (e.g. BR only, to save compute when pretraining); the
                result is then [B, len(head_ids), V]. Defaults to None
                (all tokens).
        """
        num = self.grid_size**2
        if tokens.dim() != 3 or tokens.shape[1] != num:
            raise ValueError(f'tokens must be [B, {num}, D], got '
                             f'{tuple(tokens.shape)}')
        if tokens.shape[2] != self.embed_dim:
            raise ValueError(f'tokens must have width {self.embed_dim}, '
                             f'got {tokens.shape[2]}')
        feats = tokens[..., :self.model_dim]
        raw = tokens[..., self.model_dim:]
        mask = torch.zeros(num, 1, dtype=tokens.dtype, device=tokens.device)
        mask[self.br_ids] = 1
        masked = self.mask_token + self.pos_embed()
        x = feats * (1 - mask) + masked * mask
        x = self.norm(self.blocks(x))
        partners = self.partner_ids  # BL for BR: never a BR token
        if head_ids is not None:
            x, partners = x[:, head_ids], partners[head_ids]
        bsz, num = x.shape[:2]
        colours = raw[:, partners].reshape(bsz, num, self.sub_size**2, 3)
        protos = self.head_protos(x).view(bsz, num, 1, self.num_protos, 3)
        dist = (colours[:, :, :, None] - protos).pow(2).sum(-1)
        # The read-out runs at half the pixel resolution (2x2 pooled
        # pixels), then is repeated: it is the costly part of the head.
        s2 = self.sub_size // 2
        coarse = colours.view(bsz, num, s2, 2, s2, 2, 3).mean((3, 5))
        readout = self.prompt_readout(raw, coarse.reshape(bsz, num, -1, 3))
        readout = readout.view(bsz, num, s2, 1, s2, 1,
                               2).expand(-1, -1, -1, 2, -1, 2,
                                         -1).reshape(bsz, num, -1, 2)
        hidden = F.gelu(
            self.head_pixels(colours) + self.head_dist(dist) +
            self.head_readout(readout) + self.head_token(x)[:, :, None] +
            self.head_subpos)
        return self.head_out(hidden).reshape(bsz, num, -1)

    def prompt_readout(self, raw: Tensor, colours: Tensor) -> Tensor:
        """Colour attention from predicted pixels to prompt pixels.

        Keys are the prompt image's pooled pixels (every other sub-pixel
        of every TL token), values the prompt label's at the same place
        (TR); the logit of a key is minus the squared colour distance
        over a learned temperature, and a learned null slot (value 0)
        competes with them. This is the in-context step ("which colours
        does the prompt label?") done per pixel; it is what makes the
        tiny model read its prompt within minutes of CPU pretraining.

        Args:
            raw (Tensor): [B, T, 3 s^2] raw pixel part of the tokens.
            colours (Tensor): [B, n, s^2, 3] pixels to classify.

        Returns:
            Tensor: [B, n, s^2, 2]: the read-out label in [0, 1] and the
            log of the attention mass on real keys.
        """
        g, s = self.grid_size, self.sub_size
        half = g // 2
        bsz = raw.shape[0]
        grid = raw.view(bsz, g, g, s, s, 3)
        step = max(1, s // 2)
        keys = grid[:, :half, :half, ::step, ::step].reshape(bsz, -1, 3)
        lab = grid[:, :half, half:, ::step, ::step].reshape(bsz, -1, 3)
        values = denormalize(lab, channel_dim=-1).mean(-1).clamp(0, 1)  # [B,M]
        query = colours.reshape(bsz, -1, 3)
        scale = 1.0 / self.log_tau.exp()
        # exp(-|q - k|^2 / tau) as one matmul of augmented vectors.
        q_aug = torch.cat(
            [query * (2 * scale), -query.pow(2).sum(-1, keepdim=True) * scale],
            dim=-1)
        k_aug = torch.cat([keys, torch.ones_like(keys[..., :1])], dim=-1)
        k_bias = -keys.pow(2).sum(-1) * scale  # [B, M]
        logits = (q_aug @ k_aug.transpose(1, 2) + k_bias[:, None]).clamp(max=0)
        weights = logits.exp()
        read = weights @ torch.stack([values, torch.ones_like(values)], -1)
        total = read[..., 1:] + self.null_logit.exp()
        out = torch.cat([
            read[..., :1] / total,
            (read[..., 1:] / total).clamp(min=1e-6).log()
        ],
                        dim=-1)
        return out.view(*colours.shape[:3], 2)

    def prediction_targets(self, canvas: Tensor) -> Tensor:
        """Pixel targets of a normalised canvas.

        Args:
            canvas (Tensor): [B, 3, H, W] ImageNet-normalised.

        Returns:
            Tensor: float [B, T, 3 * sub_size ** 2] in [0, 1], each
            patch average-pooled to ``sub_size`` and ordered like the
            logits (the targets of a binary cross-entropy).
        """
        self._check(canvas)
        return self._raw_pixels(_to_unit_range(canvas))

    def tokens_to_image(self, tokens: Tensor) -> Tensor:
        """Image of the raw pixels that tokens carry.

        Every token ends with its patch's pooled, normalised pixels, so
        the canvas a neck assembled can be shown exactly as the backbone
        reads it (the visualisation's "fused" column), not only through
        the pixel head.

        Args:
            tokens (Tensor): [B, T, D] from :meth:`embed` or a neck.

        Returns:
            Tensor: float [B, 3, H, W] in [0, 1].
        """
        raw = tokens.detach().float()[..., self.model_dim:]
        return _to_unit_range(self._unpatchify(raw))

    def logits_to_image(self, logits: Tensor) -> Tensor:
        """Image of the predictions: sigmoid, un-patchify, upsample.

        Args:
            logits (Tensor): [B, T, 3 * sub_size ** 2].

        Returns:
            Tensor: float [B, 3, H, W] in [0, 1].
        """
        return self._unpatchify(logits.detach().float().sigmoid())

    def _unpatchify(self, pixels: Tensor) -> Tensor:
        """Inverse of :meth:`_raw_pixels` up to the pooling: [B, T, 3 s^2]
        -> [B, 3, H, W], each sub-pixel repeated over its pooled area."""
        s, g = self.sub_size, self.grid_size
        bsz = pixels.shape[0]
        img = pixels.reshape(bsz, g, g, s, s, 3)
        img = img.permute(0, 5, 1, 3, 2, 4).reshape(bsz, 3, g * s, g * s)
        factor = self.patch_size // s
        if factor > 1:
            img = F.interpolate(img, scale_factor=factor, mode='nearest')
        return img


def _to_unit_range(canvas: Tensor) -> Tensor:
    """ImageNet-normalised [B, 3, H, W] -> pixel values clamped to [0, 1]."""
    return denormalize(canvas).clamp(0, 1)
