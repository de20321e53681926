"""PromptHub: locality-aware fusion of several prompt pairs."""
from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn

from projects.prompthub.models.segmentors.vicl_inpainter import \
    VICLInpainter
from projects.prompthub.models.utils.canvas import (build_canvas,
                                                    pair_canvas,
                                                    target_canvas)
from projects.prompthub.models.utils.target_cache import build_target_cache
from projects.prompthub.registry import MODELS


@MODELS.register_module()
class PromptHub(VICLInpainter):
    """Multi-prompt VICL with a trainable fusion neck on a frozen backbone.

    For every pair (query and K prompts) the frozen backbone embeds the
    pair's duplicated canvas (image at TL/BL, label at TR/BR). The prompt
    pairs contribute their top-half tokens, the query its bottom-half
    tokens; the neck fuses them into one canvas of tokens, which the
    backbone completes. Only the neck is trained, with the losses of
    ``losses`` on the VQGAN codes of the target canvas C* (the query pair
    in both halves), encoded once per step. Reference: "PromptHub"
    (ICLR 2026); spec ``prompthub-reference.md`` sections 2-3.

    Args:
        backbone (dict): Config of the frozen backbone.
        neck (dict): Config of the fusion neck, e.g.
            ``LocalityFusionNeck``.
        losses (list[dict]): Loss configs; each module takes
            ``(logits [B,196,V], targets)`` (the backbone's
            ``prediction_targets`` of C*: codes [B,196] for the MAE-VQGAN)
            and has a ``loss_name`` starting with ``loss_``.
        binarize (str): See :class:`VICLInpainter`.
        data_preprocessor (dict, optional): Defaults to
            ``VICLDataPreprocessor``.
        init_cfg (dict, optional): Defaults to None.
        target_cache (dict, optional): Reuse the targets of C* across
            epochs (:class:`TargetCache`), e.g. ``dict(dir='work_dirs/x/'
            'target_cache')``; the VQGAN encoder then runs once per
            distinct query pair. Defaults to None (encode every step).
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 losses: Union[dict, Sequence[dict]],
                 binarize: str = 'legacy',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 target_cache: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            binarize=binarize,
            # predict()'s canvas around BR only matters for visualisation
            # and for reading the ground truth back; the reference uses
            # prompt slot 1.
            prompt_slot=1,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.neck = MODELS.build(neck)
        losses = [losses] if isinstance(losses, dict) else list(losses)
        self.losses = nn.ModuleList(MODELS.build(cfg) for cfg in losses)
        names = [loss.loss_name for loss in self.losses]
        if len(set(names)) != len(names):
            raise ValueError(f'loss names must be unique, got {names}')
        self.target_cache = build_target_cache(target_cache)

    def pair_tokens(self, inputs: Tensor) -> tuple:
        """Embed every pair's duplicated canvas with the frozen backbone.

        The legacy ``feature_pairs`` (the reference's feature resize
        pipeline) are embedded instead of the canvas pairs when present.

        Args:
            inputs (Tensor | dict): [B, K+1, 2, 3, S, S] in [0, 1], or a
                dict with ``pairs`` and ``feature_pairs``.

        Returns:
            tuple: ``support`` [B, K, T/2, D] (top-half tokens of the
            prompt pairs) and ``query`` [B, T/2, D] (bottom-half tokens of
            the query pair), T = number of canvas tokens.
        """
        pairs, features = self.split_inputs(inputs)
        if features is not None:
            pairs = features
        batch, num_prompts = pairs.shape[0], pairs.shape[1] - 1
        prompts = pairs[:, 1:].flatten(0, 1)
        with torch.no_grad():
            # Only the halves that are used: the prompts' top halves and
            # the query's bottom half (patches do not overlap).
            support = self.backbone.embed(
                pair_canvas(prompts[:, 0], prompts[:, 1]), half='top')
            query = self.backbone.embed(
                pair_canvas(pairs[:, 0, 0], pairs[:, 0, 1]), half='bottom')
        return support.view(batch, num_prompts, *support.shape[1:]), query

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """Fused canvas tokens [B, T, D]."""
        pairs = self.split_inputs(inputs)[0]
        if pairs.shape[1] < 2:
            raise ValueError('PromptHub needs at least one prompt pair per '
                             f'query, got inputs of shape '
                             f'{tuple(pairs.shape)}')
        support, query = self.pair_tokens(inputs)
        return self.neck(support, query)

    def prediction_targets(self, inputs: Tensor) -> Tensor:
        """Targets of C*, the query pair in both halves.

        For the MAE-VQGAN these are the VQGAN codes [B, T]; a pixel
        backbone returns its own kind (see the backbone's
        ``prediction_targets``).
        """
        query = self.split_inputs(inputs)[0][:, 0]
        with torch.no_grad():
            canvas = build_canvas(None, None, query[:, 0], query[:, 1])
            return self.backbone.prediction_targets(target_canvas(canvas))

    def loss(self, inputs: Tensor, data_samples: list) -> dict:
        """Compute every configured loss on the fused canvas's logits."""
        logits = self.encode_decode(inputs)
        if self.target_cache is None:
            targets = self.prediction_targets(inputs)
        else:
            targets = self.target_cache.get(inputs, self.prediction_targets,
                                            self.backbone)
        return {
            loss.loss_name: loss(logits, targets)
            for loss in self.losses
        }
