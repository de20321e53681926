"""The order of products the fusion neck computes in (same math as the
reference's order, cheaper).

The neck's FLOPs sit in the D x D projections of its ``N * 98`` prompt
tokens. Products that follow an attention can be taken after it instead:
``A (X W^T + 1 b^T) = (A X) W^T + (A 1) b^T`` projects ``L`` attended rows
instead of ``N * L`` keys; dropout keeps the identity exact (the bias term
uses the dropped-out row sums). A product that precedes a dot product can
move to its other side, ``<q_h, W_Kh k + b> = <q_h W_Kh, k> + <q_h, b>``:
``L`` queries are projected instead of ``N * L`` keys. The shared
LayerNorm's affine is folded into the projection that follows it,
``(h * g + c) W^T + b = h (W diag g)^T + (W c + b)``: the input tokens
are frozen, so autograd then skips the ``3D x D`` input-gradient product
that the LayerNorm's own gradient needed. Results agree with the
reference's order up to float rounding (its oracle is
``tests/test_models/test_necks/reference_neck.py``); the FLOP counts are
in ``docs/benchmarks.md``.
"""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Fold the LayerNorm only from this many tokens per call on: below it the
#: fold's extra passes over the 3D x D weights cost more than they save
#: (CPU timings in docs/benchmarks.md).
FOLD_MIN_TOKENS = 512


def folded_self_attention(x: Tensor, attn: nn.MultiheadAttention,
                          norm: nn.LayerNorm, training: bool) -> Tensor:
    """``attn``'s heads over ``norm(x)``, before its output projection.

    Args:
        x (Tensor): (B, L, D) tokens.
        attn (nn.MultiheadAttention): packed-projection self-attention
            (``batch_first``; its ``dropout`` acts on the weights).
        norm (nn.LayerNorm): the pre-norm whose affine is folded in.
        training (bool): apply the attention dropout.

    Returns:
        Tensor: (B, L, D) concatenated head outputs.
    """
    bsz, length, dims = x.shape
    heads = attn.num_heads
    fold = torch.is_grad_enabled() and not x.requires_grad and \
        bsz * length >= FOLD_MIN_TOKENS
    if not fold:
        # Nothing to skip, or too few tokens to repay the passes over the
        # 3D x D weights that the fold adds (they dominate on CPU at B=1).
        qkv = F.linear(norm(x), attn.in_proj_weight, attn.in_proj_bias)
    else:
        h = F.layer_norm(x, (dims, ), eps=norm.eps)
        weight = attn.in_proj_weight * norm.weight
        bias = F.linear(norm.bias, attn.in_proj_weight, attn.in_proj_bias)
        qkv = F.linear(h, weight, bias)
    qkv = qkv.view(bsz, length, 3, heads, -1)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    out = F.scaled_dot_product_attention(
        q, k, v, dropout_p=attn.dropout if training else 0.)
    return out.transpose(1, 2).reshape(bsz, length, dims)


def head_projected_average(weights: Tensor, x: Tensor, weight: Tensor,
                           bias: Tensor) -> Tensor:
    """Per-head ``weights_h @ (x W_h^T + b_h)``, heads concatenated.

    Args:
        weights (Tensor): (B, H, L, M) attention weights.
        x (Tensor): (B, M, D_in) values before their projection.
        weight (Tensor): (D_out, D_in); rows ``[h * D_out / H, ...)``
            belong to head ``h``.
        bias (Tensor): (D_out, ).

    Returns:
        Tensor: (B, L, D_out), the usual multi-head attention output
        before the output projection.
    """
    heads = weights.shape[1]
    attended = weights @ x.unsqueeze(1)  # (B, H, L, D_in)
    per_head = weight.view(heads, -1, weight.shape[-1])
    out = torch.einsum('bhld,hed->bhle', attended, per_head)
    out = out + weights.sum(-1, keepdim=True) * bias.view(heads, 1, -1)
    return out.transpose(1, 2).flatten(2)


def keys_first_pays(num_keys: int,
                    num_queries: int,
                    dims: int,
                    heads: int,
                    num_terms: int = 1,
                    num_linear: int = 0) -> bool:
    """Whether projecting the queries back through W_K takes fewer
    multiply-adds than projecting the keys.

    Projecting the keys costs ``(1 + P) M D^2 + L M D`` (``P`` of the
    ``T`` key-input terms go through a linear layer first); the keys-first
    order ``L D^2 + P H L D^2 + T H L M D`` (M keys, L queries, H heads).
    At the reference size that pays from 2 prompts, from 8 with label
    keys.
    """
    project_first = (1 + num_linear) * num_keys * dims * dims + \
        num_queries * num_keys * dims
    keys_first = (1 + num_linear * heads) * num_queries * dims * dims + \
        num_terms * heads * num_queries * num_keys * dims
    return keys_first < project_first


def attend_first_pays(num_keys: int, num_queries: int, dims: int,
                      heads: int) -> bool:
    """Whether attending before projecting takes fewer multiply-adds.

    Projecting first costs ``M D^2 + H L M D / H``; attending first
    ``H L M D + L D^2`` (M keys, L queries, H heads).
    """
    project_first = num_keys * dims * dims + num_queries * num_keys * dims
    attend_first = heads * num_queries * num_keys * dims + \
        num_queries * dims * dims
    return attend_first < project_first
