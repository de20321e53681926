"""Multi-head cross-attention with locality-modulated logits."""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .reassociated_paths import (attend_first_pays, head_projected_average,
                                 keys_first_pays)

#: The key input as a sum of terms, each a tensor or a tensor through a
#: linear layer (see :meth:`LocalityCrossAttention.attend_keys_first`).
KeyTerms = Sequence[Tuple[Tensor, Optional[nn.Linear]]]


class LocalityCrossAttention(nn.Module):
    """Cross-attention from query tokens to the tokens of N prompts.

    The packed projection follows ``nn.MultiheadAttention`` (rows
    ``[0, D)`` query, ``[D, 2D)`` key, ``[2D, 3D)`` value), so the
    reference's ``CrossAttention_S1`` weights load one to one. The scaled
    logits ``<q_h, k_h> / sqrt(d_h)`` between query position ``i`` and key
    position ``j`` of prompt ``n`` become ``logit * G[i, j] + C[i, j]``; one
    softmax spans all ``N * L`` keys, then dropout is applied to the weights.

    Args:
        embed_dims (int): token width D.
        num_heads (int): number of heads; must divide ``embed_dims``.
        attn_drop (float): dropout on the attention weights. Defaults to 0.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 attn_drop: float = 0.) -> None:
        super().__init__()
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible '
                             f'by num_heads ({num_heads}).')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        # Same creation order as nn.MultiheadAttention (out_proj's default
        # init draws from the RNG first), so seeded inits replay.
        self.in_proj_weight = nn.Parameter(
            torch.empty(3 * embed_dims, embed_dims))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dims))
        self.out_proj = nn.Linear(embed_dims, embed_dims)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, S, D) -> (B, heads, S, D / heads)."""
        b, s, _ = x.shape
        return x.view(b, s, self.num_heads, -1).transpose(1, 2)

    def packed(self, part: int) -> Tuple[Tensor, Tensor]:
        """Weight and bias of block ``part`` (0 query, 1 key, 2 value) of
        the packed projection."""
        rows = slice(part * self.embed_dims, (part + 1) * self.embed_dims)
        return self.in_proj_weight[rows], self.in_proj_bias[rows]

    def linear(self, x: Tensor, part: int) -> Tensor:
        """(B, S, D) inputs through block ``part`` of the packed projection.
        """
        return F.linear(x, *self.packed(part))

    def project(self, x: Tensor, part: int) -> Tensor:
        """Heads of the packed projection ``part`` (0 query, 1 key, 2 value).

        Args:
            x (Tensor): (B, S, D) inputs.
            part (int): which D x D block of the packed projection.

        Returns:
            Tensor: (B, heads, S, D / heads).
        """
        return self.split_heads(self.linear(x, part))

    def attention(self,
                  query: Tensor,
                  key: Tensor,
                  tables: Optional[Tuple[Tensor, Tensor]] = None) -> Tensor:
        """Per-head attention weights after the locality and dropout.

        Args:
            query (Tensor): (B, L, D).
            key (Tensor): (B, N * L, D), ordered (prompt, position).
            tables (tuple[Tensor, Tensor], optional): see :meth:`forward`.

        Returns:
            Tensor: (B, heads, L, N * L).
        """
        return self.attend(query, self.project(key, 1), tables)

    def attend(self,
               query: Tensor,
               key_heads: Tensor,
               tables: Optional[Tuple[Tensor, Tensor]] = None) -> Tensor:
        """:meth:`attention` with the keys already projected.

        Args:
            query (Tensor): (B, L, D) query inputs.
            key_heads (Tensor): (B, heads, N * L, D / heads), the key
                projection's heads (:meth:`project` with ``part=1``).
            tables (tuple[Tensor, Tensor], optional): see :meth:`forward`.

        Returns:
            Tensor: (B, heads, L, N * L).
        """
        q = self._scaled_queries(query)
        return self._weights(q @ key_heads.transpose(-2, -1), tables)

    def attend_keys_first(
            self,
            query: Tensor,
            key_terms: KeyTerms,
            tables: Optional[Tuple[Tensor, Tensor]] = None) -> Tensor:
        """:meth:`attention` with the key projection on the query side.

        ``<q_h, W_Kh k + b_Kh> = <q_h W_Kh, k> + <q_h, b_Kh>``: the ``N * L``
        key inputs are never projected, only the ``L`` queries are (worth
        it for many keys, :func:`keys_first_pays`). The key input may be a
        sum of terms, each a tensor or a tensor through a linear layer
        (``k = x + W_L y + b_L`` for label keys), folded the same way. The
        per-query constant ``<q_h, b>`` is kept: the locality prior
        multiplies it per key. Equal to :meth:`attention` up to rounding.

        Args:
            query (Tensor): (B, L, D).
            key_terms (sequence[tuple[Tensor, nn.Linear | None]]): the terms
                of the key input, each (B, N * L, D) with its linear layer
                or None.
            tables (tuple[Tensor, Tensor], optional): see :meth:`forward`.

        Returns:
            Tensor: (B, heads, L, N * L).
        """
        q = self._scaled_queries(query)
        weight, bias = self.packed(1)
        # (B, heads, L, D): each head's query taken back through its rows
        # of W_K.
        back = torch.einsum('bhle,hed->bhld', q,
                            weight.view(self.num_heads, -1, weight.shape[-1]))
        const = (q * bias.view(self.num_heads, 1, -1)).sum(-1, keepdim=True)
        logits = 0
        for term, linear in key_terms:
            folded = back
            if linear is not None:
                folded = back @ linear.weight
                const = const + back @ linear.bias.unsqueeze(-1)
            logits = logits + folded @ term.unsqueeze(1).transpose(-2, -1)
        return self._weights(logits + const, tables)

    def _scaled_queries(self, query: Tensor) -> Tensor:
        """(B, L, D) -> query heads times ``1 / sqrt(d_h)``."""
        q = self.project(query, 0)
        return q * math.sqrt(1.0 / q.shape[-1])

    def _weights(self, logits: Tensor,
                 tables: Optional[Tuple[Tensor, Tensor]]) -> Tensor:
        """Locality, one softmax over all keys, dropout."""
        if tables is not None:
            logits = self._modulate(logits, *tables)
        attn = logits.softmax(dim=-1)
        return F.dropout(attn, p=self.attn_drop, training=self.training)

    def forward(self,
                query: Tensor,
                value: Tensor,
                tables: Optional[Tuple[Tensor, Tensor]] = None,
                key_terms: Optional[KeyTerms] = None) -> Tuple[Tensor, Tensor]:
        """Attend from ``query`` to the ``N * L`` prompt tokens.

        The order of the products is chosen here from the shapes, as timm's
        attention picks its fused kernel: the keys are taken keys first and
        the values are averaged before their projection when that takes
        fewer multiply-adds (:func:`keys_first_pays`,
        :func:`attend_first_pays`). Every order gives the same result up
        to float rounding.

        Args:
            query (Tensor): (B, L, D).
            value (Tensor): (B, N * L, D) value inputs, ordered (prompt,
                position); also the key input unless ``key_terms`` is given.
            tables (tuple[Tensor, Tensor], optional): ``G`` and ``C`` of
                shape (L, L) or (B, L, L). None gives plain attention.
            key_terms (sequence, optional): the key input as a sum of
                terms, each (B, N * L, D) with its linear layer or None
                (label keys add ``W_L y + b_L``). Defaults to None
                (``value``).

        Returns:
            tuple[Tensor, Tensor]: output (B, L, D) and the per-head
            attention weights after dropout (B, heads, L, N * L).
        """
        if key_terms is None:
            key_terms = [(value, None)]
        num_keys, num_queries = value.shape[1], query.shape[1]
        num_linear = sum(linear is not None for _, linear in key_terms)
        if keys_first_pays(num_keys, num_queries, self.embed_dims,
                           self.num_heads, len(key_terms), num_linear):
            attn = self.attend_keys_first(query, key_terms, tables)
        else:
            key = None
            for term, linear in key_terms:
                term = term if linear is None else linear(term)
                key = term if key is None else key + term
            attn = self.attention(query, key, tables)
        if attend_first_pays(num_keys, num_queries, self.embed_dims,
                             self.num_heads):
            return self.out_proj(
                head_projected_average(attn, value, *self.packed(2))), attn
        return self.mix_values(attn, self.project(value, 2)), attn

    def mix_values(self, attn: Tensor, value_heads: Tensor) -> Tensor:
        """Output projection of the attention-weighted value heads.

        Args:
            attn (Tensor): (B, heads, L, M) attention weights.
            value_heads (Tensor): (B, heads, M, D / heads).

        Returns:
            Tensor: (B, L, D).
        """
        return self.out_proj((attn @ value_heads).transpose(1, 2).flatten(2))

    @staticmethod
    def _modulate(logits: Tensor, table: Tensor, cut_table: Tensor) -> Tensor:
        """Apply ``logit * G + C`` per prompt, broadcasting over prompts."""
        bsz, heads, num_q, num_k = logits.shape
        if table.shape[-2:] != (num_q, num_q) or num_k % num_q != 0:
            raise ValueError(
                f'locality tables of shape {tuple(table.shape)} do not fit '
                f'{num_q} queries and {num_k} keys; the key count must be '
                f'a multiple of the query count (N prompts x {num_q}).')
        if table.dim() == 3:
            # Per-sample tables: (B, L, L) -> (B, 1, L, 1, L).
            table = table[:, None, :, None, :]
            cut_table = cut_table[:, None, :, None, :]
        else:
            table = table[:, None, :]
            cut_table = cut_table[:, None, :]
        logits = logits.view(bsz, heads, num_q, num_k // num_q, num_q)
        logits = logits * table + cut_table
        return logits.view(bsz, heads, num_q, num_k)
