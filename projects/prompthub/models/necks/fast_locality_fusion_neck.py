"""The locality fusion neck without its prompt alignment (not the
reference; for speed)."""
from typing import Optional, Union

from projects.prompthub.registry import MODELS
from .locality_fusion_neck import LocalityFusionNeck


@MODELS.register_module()
class FastLocalityFusionNeck(LocalityFusionNeck):
    """:class:`LocalityFusionNeck` without the prompt alignment, with label
    keys. A departure from the reference, for speed.

    Drops the prompt self-attention (``SA_S``): it aligns every one of the
    ``N * 98`` prompt tokens and is the neck's largest cost, growing with N
    in any order of products. Without it, no D x D product touches a
    prompt token once the keys are taken keys first. What it gave the
    reference, a key that sees its prompt's labels, comes instead from
    label keys (``k = W_K (x_img + W_L x_lab)``, ``W_L`` zero-initialised),
    on by default. Cost and accuracy against the reference neck are in
    ``docs/benchmarks.md``.

    The alignment module is still built, so that a seeded init replays the
    reference's draws for every other weight, then dropped: the state dict
    has no ``prompt_align.*`` keys and the released PromptHub checkpoints
    do not load into it.

    Args:
        embed_dims (int): Token width D. Defaults to 1024.
        num_heads (int): Attention heads. Defaults to 8.
        dropout (float): Attention dropout. Defaults to 0.25.
        sigma (float): Locality scale, see :class:`LocalityFusionNeck`.
            Defaults to 0.65.
        grid (int): Token block side. Defaults to 7.
        locality (str): Locality kind, see :class:`LocalityFusionNeck`.
            Defaults to ``'gaussian'``.
        cut_threshold (float): Cut level. Defaults to 0.01.
        label_keys (bool): Keys that see their label token. Without them
            (and without the alignment) the keys ignore the prompts' labels,
            so keep the default unless that is what is measured.
            Defaults to True.
        init_cfg (dict | list[dict], optional): MMEngine init config.
            Defaults to None.
    """

    def __init__(self,
                 embed_dims: int = 1024,
                 num_heads: int = 8,
                 dropout: float = 0.25,
                 sigma: float = 0.65,
                 grid: int = 7,
                 locality: str = 'gaussian',
                 cut_threshold: float = 0.01,
                 label_keys: bool = True,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(
            embed_dims=embed_dims,
            num_heads=num_heads,
            dropout=dropout,
            sigma=sigma,
            grid=grid,
            locality=locality,
            cut_threshold=cut_threshold,
            label_keys=label_keys,
            init_cfg=init_cfg)
        self.prompt_align = None
