"""Single-prompt MAE-VQGAN visual in-context baseline."""
from typing import List, Optional

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import BaseSegmentor
from mmseg.structures import SegDataSample
from torch import Tensor

from projects.prompthub.evaluation.functional import binarize
from projects.prompthub.models.utils.canvas import (br_cell, build_canvas,
                                                    denormalize_to_uint8,
                                                    paste_prediction)
from projects.prompthub.registry import MODELS


@MODELS.register_module()
class VICLInpainter(BaseSegmentor):
    """The MAE-VQGAN baseline of the VICL literature (one prompt pair).

    The canvas holds one prompt pair on top and the query below (prompt
    image | prompt label / query image | query label); the frozen backbone
    inpaints the masked BR cell. This is "Visual Prompting via Image
    Inpainting" (Bar et al., NeurIPS 2022) as used by InMeMo, CONDENSER
    and PromptHub. Nothing here is trained.

    Inputs follow ``docs/design.md``: float ``[B, K+1, 2, 3, S, S]`` in
    [0, 1] with the query pair at index 0; the prompt used is index
    ``prompt_slot``. The query label is drawn into BR only so that the
    ground truth can be read back from the canvas exactly as the reference
    does; the backbone never sees the BR tokens.

    Args:
        backbone (dict): Config of the frozen MAE-VQGAN (``MAEVQGAN``).
        binarize (str): How predicted and ground-truth label cells become
            masks for ``pred_sem_seg``/``gt_sem_seg``: ``'reference'`` (the
            reference's uint8 rounding) or ``'threshold'``. Defaults to
            ``'reference'``.
        prompt_slot (int): Which prompt pair (1-based) fills the canvas.
            Defaults to 1.
        data_preprocessor (dict, optional): Defaults to
            ``VICLDataPreprocessor``.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 binarize: str = 'reference',
                 prompt_slot: int = 1,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='VICLDataPreprocessor')
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.binarize_mode = binarize
        self.prompt_slot = prompt_slot

    # -- canvases -------------------------------------------------------
    @staticmethod
    def split_inputs(inputs) -> tuple:
        """``(pairs, feature_pairs)`` of the preprocessed inputs.

        ``feature_pairs`` is None unless the pipeline produced the reference
        fusion inputs (``LoadVICLPair(reference_features=True)``).
        """
        if isinstance(inputs, dict):
            return inputs['pairs'], inputs.get('feature_pairs')
        return inputs, None

    def prompt_canvas(self, inputs: Tensor, slot: int) -> Tensor:
        """Normalised canvas of prompt ``slot`` and the query pair.

        Args:
            inputs (Tensor): [B, K+1, 2, 3, S, S] in [0, 1].
            slot (int): 1-based prompt index.

        Returns:
            Tensor: [B, 3, 224, 224] ImageNet-normalised.
        """
        inputs = self.split_inputs(inputs)[0]
        if not 1 <= slot < inputs.shape[1]:
            raise ValueError(f'prompt slot {slot} does not exist: the batch '
                             f'has {inputs.shape[1] - 1} prompt pairs')
        prompt, query = inputs[:, slot], inputs[:, 0]
        return build_canvas(prompt[:, 0], prompt[:, 1], query[:, 0], query[:,
                                                                           1])

    # -- BaseSegmentor interface ---------------------------------------
    def extract_feat(self, inputs: Tensor) -> Tensor:
        """Embedded canvas tokens [B, 196, D] of the configured prompt."""
        with torch.no_grad():
            return self.backbone.embed(
                self.prompt_canvas(inputs, self.prompt_slot))

    def encode_decode(self,
                      inputs: Tensor,
                      batch_img_metas: Optional[List[dict]] = None) -> Tensor:
        """Code logits [B, 196, V] for the masked canvas."""
        return self.backbone.forward_tokens(self.extract_feat(inputs))

    def _forward(self,
                 inputs: Tensor,
                 data_samples: Optional[list] = None) -> Tensor:
        """Raw logits (``mode='tensor'``)."""
        return self.encode_decode(inputs)

    def loss(self, inputs: Tensor, data_samples: list) -> dict:
        """The baseline has no trainable parameters."""
        raise NotImplementedError(
            'VICLInpainter is the frozen MAE-VQGAN baseline and cannot be '
            'trained; train PromptHub (configs/prompthub/*.py) instead, or '
            'evaluate this model with tools/test.py.')

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[list] = None,
                logits: Optional[Tensor] = None) -> List[SegDataSample]:
        """Inpaint the query label cell; see :meth:`render_predictions`.

        ``logits`` of :meth:`encode_decode` on the same ``inputs`` may be
        passed when the caller already has them (e.g. to also draw the
        fused prompt), so the backbone does not run twice.
        """
        if logits is None:
            logits = self.encode_decode(inputs)
        canvas = self.prompt_canvas(inputs, self.prompt_slot)
        return self.render_predictions(logits, canvas, canvas.shape[0],
                                       data_samples)

    # -- output ---------------------------------------------------------
    def render_predictions(
            self, logits: Tensor, canvas: Tensor, batch_size: int,
            data_samples: Optional[list]) -> List[SegDataSample]:
        """Decode logits to label cells as the reference evaluates them.

        The backbone renders the logits (MAE-VQGAN: hard argmax over all
        196 positions, full-grid VQGAN decode); the image is converted to
        uint8 by truncation and pasted into BR of the de-normalised input
        canvas (reference spec 1.5); then the BR cell is cropped.

        Args:
            logits (Tensor): [B, T, C], the backbone's raw predictions.
            canvas (Tensor): The normalised input canvas [B, 3, H, W].
            batch_size (int): B.
            data_samples (list, optional): Samples to fill in; new ones
                are created when None.

        Returns:
            list[SegDataSample]: With ``pred_label_img``, ``gt_label_img``,
            ``pred_sem_seg`` and ``gt_sem_seg`` (see ``docs/design.md``).
        """
        with torch.no_grad():
            decoded = self.backbone.logits_to_image(logits)
            pasted = paste_prediction(decoded, canvas)
            pred_cells = br_cell(pasted)
            gt_cells = br_cell(denormalize_to_uint8(canvas))
            pred_masks = binarize(pred_cells, self.binarize_mode)
            gt_masks = binarize(gt_cells, self.binarize_mode)
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(batch_size)]
        for i, sample in enumerate(data_samples):
            sample.pred_label_img = PixelData(data=pred_cells[i])
            sample.gt_label_img = PixelData(data=gt_cells[i])
            sample.pred_sem_seg = PixelData(data=pred_masks[i][None].long())
            sample.gt_sem_seg = PixelData(data=gt_masks[i][None].long())
        return data_samples
