"""PromptHub's locality-aware fusion of N prompt pairs into one."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from projects.prompthub.registry import MODELS
from .locality_attention import LocalityCrossAttention
from .locality_tables import LocalityPrior
from .reassociated_paths import folded_self_attention


@MODELS.register_module()
class LocalityFusionNeck(BaseModule):
    """Locality-aware fusion neck of `PromptHub
    <https://arxiv.org/abs/2603.18891>`_.

    Works on backbone token embeddings (patch embed + pos embed). Inputs are
    the top halves (``grid`` rows x ``2*grid`` cols: image cols then label
    cols) of each prompt pair's duplicated canvas and the bottom half of the
    query's. The output is the 14x14 canvas token raster: the fused prompt
    pair in the top half, the aligned query image tokens bottom-left and the
    query-label placeholder bottom-right (the backbone masks it).

    Steps: a pre-LN self-attention with residual aligns each prompt pair
    (98 tokens) and the query image (49 tokens), both through one shared
    LayerNorm; a cross-attention from the aligned query image tokens to the
    image tokens of all N prompts, with locality-modulated logits and one
    softmax over all prompts, gives the fused image tokens (through W_VX and
    the output projection); the head-averaged, dropped-out attention times
    the identity-initialised W_VY of the label tokens gives the fused label
    tokens. Any N works with the same weights.

    The products are taken in the cheapest order the shapes allow
    (:mod:`.reassociated_paths`): same parameters and dropout draws as the
    reference's order, same results up to float rounding.

    Args:
        embed_dims (int): Token width D; the backbone's embedding width.
            Defaults to 1024.
        num_heads (int): Attention heads of the alignments and the
            cross-attention. Defaults to 8.
        dropout (float): Dropout on every attention map (both alignments,
            the cross-attention and thus the label path), as the reference
            regularises the neck. Defaults to 0.25.
        sigma (float): Locality scale in token units (the initial value of
            the learnable kinds). Reference values: 0.65 segmentation, 0.5
            detection, 2.5 colorization. Defaults to 0.65.
        grid (int): Token block side (7 for a 224 canvas with patch 16).
            Defaults to 7.
        locality (str): How a query position weighs the prompt positions,
            one of the kinds of :class:`LocalityPrior` (``'patchwise'`` is
            the CONDENSER ablation). Defaults to ``'gaussian'`` (reference).
        cut_threshold (float): Keys whose normalised Gaussian weight is
            ``<=`` this get no attention, as in the reference.
            Defaults to 0.01.
        label_keys (bool): Keys that also see their label token (``k = W_K
            (x_img + W_L x_lab)``, ``W_L = 0`` at init): a direct path to
            what the reference learns only through the prompt alignment
            (not the reference; the demo needs it). Defaults to False.
        init_cfg (dict | list[dict], optional): MMEngine init config,
            applied by ``init_weights`` on top of the reference init done at
            construction (e.g. ``dict(type='PassThrough')``,
            :class:`PassThroughInit`). Defaults to None.
    """

    def __init__(self,
                 embed_dims: int = 1024,
                 num_heads: int = 8,
                 dropout: float = 0.25,
                 sigma: float = 0.65,
                 grid: int = 7,
                 locality: str = 'gaussian',
                 cut_threshold: float = 0.01,
                 label_keys: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0 <= dropout < 1:
            raise ValueError(f'dropout must be in [0, 1), got {dropout!r}.')
        if grid < 1:
            raise ValueError(f'grid must be >= 1, got {grid!r}.')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.grid = grid
        self.dropout = dropout
        # Creation order of the reference, so that a seeded init replays.
        self.cross_attn = LocalityCrossAttention(embed_dims, num_heads,
                                                 dropout)
        self.query_align = nn.MultiheadAttention(
            embed_dims, num_heads, dropout=dropout, batch_first=True)
        self.prompt_align = nn.MultiheadAttention(
            embed_dims, num_heads, dropout=dropout, batch_first=True)
        self.label_proj = nn.Linear(embed_dims, embed_dims)
        self.norm = nn.LayerNorm(embed_dims)
        self.locality = LocalityPrior(locality, embed_dims, sigma, grid,
                                      cut_threshold)
        self._reset_parameters()
        # Built after the reference init so that seeded inits still replay.
        self.label_key_proj = None
        if label_keys:
            self.label_key_proj = nn.Linear(embed_dims, embed_dims)
            nn.init.zeros_(self.label_key_proj.weight)
            nn.init.zeros_(self.label_key_proj.bias)

    def _reset_parameters(self) -> None:
        """Reference init: xavier on every Linear (zero bias), LN 1/0,
        W_VY = I. The packed in_proj weights were xavier-initialised when
        built; the sigma head keeps its zero init."""
        for name, module in self.named_modules():
            if name.startswith('locality'):
                continue
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.eye_(self.label_proj.weight)
        nn.init.zeros_(self.label_proj.bias)

    def _check_inputs(self, support: Tensor,
                      query: Tensor) -> Tuple[Tensor, Tensor]:
        half = 2 * self.grid * self.grid
        if query.dim() == 4 and query.shape[1] == 1:
            # The reference loaders give the query as [B, 1, 98, D].
            query = query[:, 0]
        if support.dim() != 4 or tuple(
                support.shape[2:]) != (half, self.embed_dims):
            raise ValueError(
                f'support must have shape [B, N, {half}, {self.embed_dims}] '
                f'(top-half tokens of each prompt canvas), got '
                f'{tuple(support.shape)}.')
        if support.shape[1] < 1:
            raise ValueError('support needs at least one prompt (N >= 1).')
        if query.dim() != 3 or tuple(
                query.shape) != (support.shape[0], half, self.embed_dims):
            raise ValueError(
                f'query must have shape [B, {half}, {self.embed_dims}] '
                f'(bottom-half tokens of the query canvas) with the '
                f'support batch size B={support.shape[0]}, got '
                f'{tuple(query.shape)}.')
        return support, query

    def _align(self, attn: nn.MultiheadAttention, x: Tensor) -> Tensor:
        """Pre-LN self-attention with residual (shared LayerNorm)."""
        h = self.norm(x)
        out, _ = attn(h, h, h, need_weights=False)
        return x + out

    def embed_support(self, support: Tensor) -> Tensor:
        """Hook on the raw prompt tokens (B*N, grid, 2*grid, D).

        Identity here; :class:`ConvFusionNeck` convolves them.
        """
        return support

    def _split_prompts(self, prompts: Tensor, bsz: int,
                       num_prompts: int) -> Tuple[Tensor, Tensor]:
        """(B*N, 2*area, D) -> image and label tokens, (B, N*area, D)."""
        g, dims = self.grid, prompts.shape[-1]
        prompts = prompts.reshape(bsz, num_prompts, g, 2 * g, dims)
        return (prompts[:, :, :, :g].reshape(bsz, -1, dims),
                prompts[:, :, :, g:].reshape(bsz, -1, dims))

    def _fuse(self, prompts: Tensor, query_img: Tensor, bsz: int,
              num_prompts: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Align, attend and project the labels, in the cheaper order.

        Returns:
            tuple: fused image and label tokens (B, area, D), the aligned
            query image tokens (B, area, D) and the head-averaged,
            dropped-out attention (B, area, N*area).
        """
        raw_img, raw_lab = self._split_prompts(prompts, bsz, num_prompts)
        if self.prompt_align is None:  # FastLocalityFusionNeck
            prompt_img, prompt_lab = raw_img, raw_lab
        else:
            heads = folded_self_attention(prompts, self.prompt_align,
                                          self.norm, self.training)
            heads_img, heads_lab = self._split_prompts(heads, bsz, num_prompts)
            align_out = self.prompt_align.out_proj
            prompt_img = raw_img + align_out(heads_img)
            # Aligned label tokens are needed only as keys; otherwise the
            # label path below averages before projecting.
            prompt_lab = None if self.label_key_proj is None else \
                raw_lab + align_out(heads_lab)
        query_img = query_img + self.query_align.out_proj(
            folded_self_attention(query_img, self.query_align, self.norm,
                                  self.training))
        key_terms = [(prompt_img, None)]
        if self.label_key_proj is not None:
            key_terms.append((prompt_lab, self.label_key_proj))
        fused_img, attn = self.cross_attn(query_img, prompt_img,
                                          self.locality(query_img), key_terms)
        # The label path reuses the (dropped-out) image attention.
        attn = attn.mean(dim=1)
        rows = attn.sum(-1, keepdim=True)  # < 1 where dropout hit
        if prompt_lab is None:
            # A (S + H W_o^T + b_o) = A S + (A H) W_o^T + (A 1) b_o: the
            # label tokens skip the alignment's output projection.
            labels = attn @ raw_lab + F.linear(attn @ heads_lab,
                                               align_out.weight)
            labels = labels + rows * align_out.bias
        else:
            labels = attn @ prompt_lab
        fused_lab = F.linear(labels, self.label_proj.weight) + \
            rows * self.label_proj.bias
        return fused_img, fused_lab, query_img, attn

    def forward(self,
                support: Tensor,
                query: Tensor,
                return_attention: bool = False
                ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Fuse the prompts and assemble the canvas tokens.

        Args:
            support (Tensor): (B, N, 2*grid*grid, D), the top-half tokens of
                each prompt pair's duplicated canvas, row-major over grid
                rows x 2*grid cols (image cols first, then label cols).
            query (Tensor): (B, 2*grid*grid, D), the bottom-half tokens of
                the query's canvas (``[B, 1, 98, D]`` is accepted too).
            return_attention (bool): also return the head-averaged
                cross-attention weights. Defaults to False.

        Returns:
            Tensor | tuple[Tensor, Tensor]: canvas tokens (B, 4*grid*grid, D)
            and, with ``return_attention``, weights (B, grid*grid,
            N*grid*grid), keys ordered (prompt, row, col).
        """
        support, query = self._check_inputs(support, query)
        bsz, num_prompts = support.shape[:2]
        prompts = self._embed_prompts(support.flatten(0, 1))
        query_img, query_lab = self._split_query(query)
        fused_img, fused_lab, query_img, attn = self._fuse(
            prompts, query_img, bsz, num_prompts)
        tokens = self._assemble(fused_img, fused_lab, query_img, query_lab)
        if return_attention:
            return tokens, attn
        return tokens

    # -- inference with per-prompt states ------------------------------
    def prompt_states(self, support: Tensor) -> Tensor:
        """Everything the fusion computes from a prompt alone (inference).

        A prompt's aligned tokens, their key and value projections and its
        projected label tokens do not depend on the query, so at inference
        they can be computed once per distinct prompt and reused
        (:class:`PromptStateCache`); :meth:`fuse_states` then does the
        query-dependent rest.

        Args:
            support (Tensor): (M, 2*grid*grid, D) top-half tokens of M
                prompt pairs.

        Returns:
            Tensor: (M, 3, grid*grid, D): key projection,
            value projection and ``W_VY`` label tokens of each prompt.
        """
        self._check_inference('prompt_states')
        half = 2 * self.grid * self.grid
        if support.dim() != 3 or tuple(
                support.shape[1:]) != (half, self.embed_dims):
            raise ValueError(f'support must have shape [M, {half}, '
                             f'{self.embed_dims}], got '
                             f'{tuple(support.shape)}.')
        num = support.shape[0]
        prompts = self._align_prompts(self._embed_prompts(support))
        img, lab = self._split_prompts(prompts, num, 1)
        keys = img
        if self.label_key_proj is not None:
            keys = img + self.label_key_proj(lab)
        return torch.stack([
            self.cross_attn.linear(keys, 1),
            self.cross_attn.linear(img, 2),
            self.label_proj(lab)
        ], 1)

    def fuse_states(self, states: Tensor, query: Tensor) -> Tensor:
        """:meth:`forward` (inference) from :meth:`prompt_states`.

        Args:
            states (Tensor): (B, N, 3, grid*grid, D), each query's prompts'
                states.
            query (Tensor): (B, 2*grid*grid, D) as in :meth:`forward`.

        Returns:
            Tensor: canvas tokens (B, 4*grid*grid, D), equal to
            :meth:`forward` up to float rounding.
        """
        self._check_inference('fuse_states')
        area = self.grid * self.grid
        if states.dim() != 5 or tuple(states.shape[2:]) != (
                3, area, self.embed_dims) or states.shape[0] != len(query):
            raise ValueError(
                f'states must have shape [B, N, 3, {area}, '
                f'{self.embed_dims}] (prompt_states of each query\'s '
                f'prompts) with B={len(query)}, got {tuple(states.shape)}.')
        bsz, dims = states.shape[0], self.embed_dims
        query_img, query_lab = self._split_query(query)
        query_img = self._align(self.query_align, query_img)
        keys, values, labels = states.transpose(1,
                                                2).reshape(bsz, 3, -1,
                                                           dims).unbind(1)
        cross = self.cross_attn
        attn = cross.attend(query_img, cross.split_heads(keys),
                            self.locality(query_img))
        fused_img = cross.mix_values(attn, cross.split_heads(values))
        fused_lab = attn.mean(dim=1) @ labels
        return self._assemble(fused_img, fused_lab, query_img, query_lab)

    def _check_inference(self, what: str) -> None:
        if self.training:
            raise RuntimeError(
                f'{type(self).__name__}.{what} is for inference (attention '
                'dropout off); call .eval() first.')

    # -- shared pieces -------------------------------------------------
    def _align_prompts(self, prompts: Tensor) -> Tensor:
        """The prompt alignment (M, 2*area, D), or the raw tokens without
        it (:class:`FastLocalityFusionNeck`)."""
        if self.prompt_align is None:
            return prompts
        return self._align(self.prompt_align, prompts)

    def _embed_prompts(self, prompts: Tensor) -> Tensor:
        """(M, 2*area, D) raw -> (M, 2*area, D) after :meth:`embed_support`.
        """
        g, dims = self.grid, self.embed_dims
        num = prompts.shape[0]
        return self.embed_support(prompts.reshape(num, g, 2 * g, dims)) \
            .reshape(num, 2 * g * g, dims)

    def _split_query(self, query: Tensor) -> Tuple[Tensor, Tensor]:
        """(B, 2*area, D) -> image tokens (B, area, D) and label tokens
        (B, grid, grid, D)."""
        g, dims = self.grid, self.embed_dims
        query = query.reshape(query.shape[0], g, 2 * g, dims)
        return query[:, :, :g].reshape(-1, g * g, dims), query[:, :, g:]

    def _assemble(self, fused_img: Tensor, fused_lab: Tensor,
                  query_img: Tensor, query_lab: Tensor) -> Tensor:
        """The canvas token raster (B, 4*area, D): fused pair on top,
        aligned query image and label placeholder below."""
        g, dims = self.grid, self.embed_dims
        bsz = fused_img.shape[0]
        top = torch.cat([
            fused_img.reshape(bsz, g, g, dims),
            fused_lab.reshape(bsz, g, g, dims)
        ],
                        dim=2)
        bottom = torch.cat([query_img.reshape(bsz, g, g, dims), query_lab],
                           dim=2)
        return torch.cat([top, bottom], dim=1).reshape(bsz, 4 * g * g, dims)
