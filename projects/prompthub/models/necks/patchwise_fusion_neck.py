"""CONDENSER-style patch-wise fusion (ablation baseline of PromptHub)."""
from typing import Optional, Union

from projects.prompthub.registry import MODELS
from .locality_fusion_neck import LocalityFusionNeck


@MODELS.register_module()
class PatchwiseFusionNeck(LocalityFusionNeck):
    """Patch-wise fusion in the style of `CONDENSER
    <https://arxiv.org/abs/2412.14518>`_.

    Each query image token attends only to the tokens at the *same*
    position in the N prompts (plain scaled logits, one softmax over the N
    prompts). Everything else (alignment, label path, canvas assembly,
    forward API, state-dict layout) is that of :class:`LocalityFusionNeck`,
    so the two are directly comparable.

    Args:
        embed_dims (int): token width D. Defaults to 1024.
        num_heads (int): attention heads. Defaults to 8.
        dropout (float): attention dropout. Defaults to 0.25.
        grid (int): token block side. Defaults to 7.
        reassociate (bool): cheaper, equal-up-to-rounding order; see
            :class:`LocalityFusionNeck`. Defaults to False.
        init_cfg (dict | list[dict], optional): MMEngine init config.
            Defaults to None.
    """

    def __init__(self,
                 embed_dims: int = 1024,
                 num_heads: int = 8,
                 dropout: float = 0.25,
                 grid: int = 7,
                 reassociate: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(
            embed_dims=embed_dims,
            num_heads=num_heads,
            dropout=dropout,
            grid=grid,
            locality='patchwise',
            reassociate=reassociate,
            init_cfg=init_cfg)
