"""PromptHub: locality-aware fusion of several prompt pairs."""
from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn

from projects.prompthub.models.segmentors.vicl_inpainter import VICLInpainter
from projects.prompthub.models.utils.prompt_state_cache import \
    build_prompt_state_cache
from projects.prompthub.models.utils.target_cache import build_target_cache
from projects.prompthub.registry import MODELS
from projects.prompthub.structures import (build_canvas, pair_canvas,
                                           target_canvas)


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
    (ICLR 2026); ``docs/method.md`` sections 6-7.

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
        prompt_state_cache (dict, optional): At inference (eval mode,
            no gradient), compute what the neck derives from a prompt alone
            once per distinct prompt (:class:`PromptStateCache`, e.g.
            ``dict(max_items=4096)``); the neck must have
            ``prompt_states``/``fuse_states``. Results equal the uncached
            path up to float rounding. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 losses: Union[dict, Sequence[dict]],
                 binarize: str = 'reference',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 target_cache: Optional[dict] = None,
                 prompt_state_cache: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            binarize=binarize,
            # predict()'s canvas around BR only matters for visualisation;
            # the reference uses prompt slot 1.
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
        self.prompt_state_cache = build_prompt_state_cache(prompt_state_cache)
        if self.prompt_state_cache is not None and not all(
                hasattr(self.neck, name)
                for name in ('prompt_states', 'fuse_states')):
            raise TypeError(
                f'prompt_state_cache needs a neck with prompt_states() and '
                f'fuse_states() (e.g. LocalityFusionNeck); '
                f'{type(self.neck).__name__} has not. Remove '
                'model.prompt_state_cache from the config.')

    def train(self, mode: bool = True) -> 'PromptHub':
        """Set the mode; entering training empties the prompt-state cache
        (the neck is about to change)."""
        if mode and getattr(self, 'prompt_state_cache', None) is not None:
            self.prompt_state_cache.clear()
        return super().train(mode)

    def pair_tokens(self,
                    inputs: Tensor,
                    feature_pairs: Optional[Tensor] = None) -> tuple:
        """Embed every pair's duplicated canvas with the frozen backbone.

        Args:
            inputs (Tensor): [B, K+1, 2, 3, S, S] in [0, 1].
            feature_pairs (Tensor, optional): The reference's fusion inputs
                (its feature resize pipeline), same shape; embedded instead
                of ``inputs`` when given. Defaults to None.

        Returns:
            tuple: ``support`` [B, K, T/2, D] (top-half tokens of the
            prompt pairs) and ``query`` [B, T/2, D] (bottom-half tokens of
            the query pair), T = number of canvas tokens.
        """
        pairs = self._embedded_pairs(inputs, feature_pairs)
        batch, num_prompts = pairs.shape[0], pairs.shape[1] - 1
        with torch.no_grad():
            support = self._embed_prompts(pairs[:, 1:].flatten(0, 1))
            query = self._embed_query(pairs)
        return support.view(batch, num_prompts, *support.shape[1:]), query

    @staticmethod
    def _embedded_pairs(inputs: Tensor,
                        feature_pairs: Optional[Tensor]) -> Tensor:
        """The pairs the backbone embeds for the fusion."""
        return inputs if feature_pairs is None else feature_pairs

    # Only the halves that are used are embedded: the prompts' top halves
    # and the query's bottom half (patches do not overlap).
    def _embed_prompts(self, prompts: Tensor) -> Tensor:
        """[M, 2, 3, S, S] prompt pairs -> top-half tokens [M, T/2, D]."""
        return self.backbone.embed(
            pair_canvas(prompts[:, 0], prompts[:, 1]), half='top')

    def _embed_query(self, pairs: Tensor) -> Tensor:
        """Bottom-half tokens [B, T/2, D] of the query pairs."""
        return self.backbone.embed(
            pair_canvas(pairs[:, 0, 0], pairs[:, 0, 1]), half='bottom')

    def _fuse_cached(self, pairs: Tensor) -> Tensor:
        """:meth:`extract_feat` of the embedded ``pairs`` through the
        prompt-state cache."""
        states = self.prompt_state_cache.get(
            pairs[:, 1:], lambda prompts: self.neck.prompt_states(
                self._embed_prompts(prompts)), self)
        return self.neck.fuse_states(states, self._embed_query(pairs))

    def extract_feat(self,
                     inputs: Tensor,
                     feature_pairs: Optional[Tensor] = None) -> Tensor:
        """Fused canvas tokens [B, T, D] (see :meth:`pair_tokens`)."""
        if inputs.shape[1] < 2:
            raise ValueError('PromptHub needs at least one prompt pair per '
                             f'query, got inputs of shape '
                             f'{tuple(inputs.shape)}')
        if self.prompt_state_cache is not None and not self.training \
                and not torch.is_grad_enabled():
            return self._fuse_cached(
                self._embedded_pairs(inputs, feature_pairs))
        support, query = self.pair_tokens(inputs, feature_pairs)
        return self.neck(support, query)

    def prediction_targets(self, inputs: Tensor) -> Tensor:
        """Targets of C*, the query pair in both halves.

        For the MAE-VQGAN these are the VQGAN codes [B, T]; a pixel
        backbone returns its own kind (see the backbone's
        ``prediction_targets``).
        """
        query = inputs[:, 0]
        with torch.no_grad():
            canvas = build_canvas(None, None, query[:, 0], query[:, 1])
            return self.backbone.prediction_targets(target_canvas(canvas))

    def loss(self,
             inputs: Tensor,
             data_samples: list,
             feature_pairs: Optional[Tensor] = None) -> dict:
        """Compute every configured loss on the fused canvas's logits."""
        logits = self.encode_decode(inputs, feature_pairs=feature_pairs)
        if self.target_cache is None:
            targets = self.prediction_targets(inputs)
        else:
            targets = self.target_cache.get(inputs, self.prediction_targets,
                                            self.backbone,
                                            self.backbone.target_network())
        return {loss.loss_name: loss(logits, targets) for loss in self.losses}
