"""The locality fusion neck without its prompt alignment (not the
reference; for speed)."""
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
        label_keys (bool): Keys that see their label token. Without them
            (and without the alignment) the keys ignore the prompts' labels,
            so keep the default unless that is what is measured.
            Defaults to True.
        **kwargs: The other arguments of :class:`LocalityFusionNeck`
            (``embed_dims``, ``num_heads``, ``dropout``, ``sigma``, ``grid``,
            ``locality``, ``cut_threshold``, ``init_cfg``), with its
            defaults.
    """

    def __init__(self, *, label_keys: bool = True, **kwargs) -> None:
        super().__init__(label_keys=label_keys, **kwargs)
        self.prompt_align = None
