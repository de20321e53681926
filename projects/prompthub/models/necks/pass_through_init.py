"""A pass-through start for the fusion neck, as an MMEngine initializer."""
import torch
from mmengine.model.weight_init import BaseInit, update_init_info
from torch import nn

from projects.prompthub.registry import WEIGHT_INITIALIZERS


@WEIGHT_INITIALIZERS.register_module(name='PassThrough')
class PassThroughInit(BaseInit):
    """Start a :class:`LocalityFusionNeck` as a pass-through.

    W_VX and the cross-attention's output projection become the identity,
    so a fused image token starts as an attention-weighted average of prompt
    image tokens, and both alignments' output projections become zero, so
    they start as the residual alone. Not the reference init: it is for
    backbones that read raw pixel values from the tokens (the tiny demo
    backbone), which the reference's random projections scramble. Biases
    and every other weight keep the reference init.

    Set it on the neck, ``neck=dict(..., init_cfg=dict(type='PassThrough'))``;
    it applies when ``init_weights`` runs (``Runner.train`` calls it before
    ``load_from``).
    """

    def __init__(self) -> None:
        super().__init__()

    def __call__(self, module: nn.Module) -> None:
        cross_attn = getattr(module, 'cross_attn', None)
        if cross_attn is None or not hasattr(module, 'query_align'):
            raise TypeError(
                f'init_cfg type PassThrough starts a fusion neck '
                f'(LocalityFusionNeck or a subclass) as a pass-through; it '
                f'was set on {type(module).__name__}. Fix: move '
                f"init_cfg=dict(type='PassThrough') to model.neck.")
        dims = cross_attn.embed_dims
        with torch.no_grad():
            cross_attn.in_proj_weight[2 * dims:].copy_(torch.eye(dims))
            nn.init.eye_(cross_attn.out_proj.weight)
            for attn in (module.query_align, module.prompt_align):
                if attn is not None:  # no prompt alignment in the fast neck
                    nn.init.zeros_(attn.out_proj.weight)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _get_init_info(self) -> str:
        return f'{self.__class__.__name__}: W_VX and the cross-attention ' \
            'output projection = I, alignment output projections = 0'
