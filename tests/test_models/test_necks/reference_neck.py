"""The fusion neck's function in the reference's order of products.

The test oracle of :class:`LocalityFusionNeck`'s production order: the same
modules and parameters, taken as the reference takes them. Each alignment
is ``nn.MultiheadAttention`` on the LayerNorm's output, the keys and values
of all ``N * L`` prompt tokens are projected before the attention, and the
label tokens go through the alignment's output projection and W_VY before
the attention averages them.
"""
from typing import Tuple

from torch import Tensor


def reference_forward(neck, support: Tensor,
                      query: Tensor) -> Tuple[Tensor, Tensor]:
    """``neck(support, query, return_attention=True)``, reference order.

    Args:
        neck (LocalityFusionNeck): any fusion neck of the family; its
            parameters, dropout and training mode are used as they are.
        support (Tensor): (B, N, 2*grid*grid, D) prompt tokens.
        query (Tensor): (B, 2*grid*grid, D) query tokens.

    Returns:
        tuple[Tensor, Tensor]: canvas tokens (B, 4*grid*grid, D) and the
        head-averaged attention after dropout (B, grid*grid, N*grid*grid).
    """
    support, query = neck._check_inputs(support, query)
    bsz, num_prompts = support.shape[:2]
    prompts = neck._embed_prompts(support.flatten(0, 1))
    query_img, query_lab = neck._split_query(query)
    prompts = neck._align_prompts(prompts)
    prompt_img, prompt_lab = neck._split_prompts(prompts, bsz, num_prompts)
    query_img = neck._align(neck.query_align, query_img)
    tables = neck.locality(query_img)
    keys = prompt_img
    if neck.label_key_proj is not None:
        keys = prompt_img + neck.label_key_proj(prompt_lab)
    cross = neck.cross_attn
    attn = cross.attention(query_img, keys, tables)
    fused_img = cross.mix_values(attn, cross.project(prompt_img, 2))
    # The label path reuses the (dropped-out) image attention.
    attn = attn.mean(dim=1)
    fused_lab = attn @ neck.label_proj(prompt_lab)
    return neck._assemble(fused_img, fused_lab, query_img, query_lab), attn
