"""Single-prompt MAE-VQGAN visual in-context baseline."""
from typing import List, Optional

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import BaseSegmentor
from mmseg.structures import SegDataSample
from torch import Tensor

from projects.prompthub.registry import MODELS
from projects.prompthub.structures import (binarize, build_canvas,
                                           paste_prediction, query_label_cell)


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
    ``prompt_slot``. The query label is drawn into BR as in the reference,
    but the backbone never reads the BR tokens. The ground truth comes
    from the data samples (``gt_label_img``, packed by ``PackVICLInputs``).

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
    def prompt_canvas(self, inputs: Tensor, slot: int) -> Tensor:
        """Normalised canvas of prompt ``slot`` and the query pair.

        Args:
            inputs (Tensor): [B, K+1, 2, 3, S, S] in [0, 1].
            slot (int): 1-based prompt index.

        Returns:
            Tensor: [B, 3, 224, 224] ImageNet-normalised.
        """
        if not 1 <= slot < inputs.shape[1]:
            raise ValueError(f'prompt slot {slot} does not exist: the batch '
                             f'has {inputs.shape[1] - 1} prompt pairs')
        prompt, query = inputs[:, slot], inputs[:, 0]
        return build_canvas(prompt[:, 0], prompt[:, 1], query[:, 0], query[:,
                                                                           1])

    # -- BaseSegmentor interface ---------------------------------------
    # ``feature_pairs`` (float [B, K+1, 2, 3, S, S]) are the reference's
    # fusion inputs, a key of the preprocessed batch next to ``inputs``
    # when the pipeline loads them (``LoadVICLPair(reference_features=
    # True)``). Only PromptHub's fusion embeds them; this single-prompt
    # baseline embeds its canvas and takes them only to share the
    # signatures.
    def forward(self,
                inputs: Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor',
                feature_pairs: Optional[Tensor] = None):
        """mmseg's ``forward`` with the optional ``feature_pairs`` of the
        preprocessed batch passed on to every mode."""
        if mode == 'loss':
            return self.loss(inputs, data_samples, feature_pairs)
        if mode == 'predict':
            return self.predict(
                inputs, data_samples, feature_pairs=feature_pairs)
        if mode == 'tensor':
            return self._forward(inputs, data_samples, feature_pairs)
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, '
                           'predict and tensor mode')

    def extract_feat(self,
                     inputs: Tensor,
                     feature_pairs: Optional[Tensor] = None) -> Tensor:
        """Embedded canvas tokens [B, 196, D] of the configured prompt."""
        with torch.no_grad():
            return self.backbone.embed(
                self.prompt_canvas(inputs, self.prompt_slot))

    def encode_decode(self,
                      inputs: Tensor,
                      batch_img_metas: Optional[List[dict]] = None,
                      feature_pairs: Optional[Tensor] = None) -> Tensor:
        """Code logits [B, 196, V] for the masked canvas."""
        return self.backbone.forward_tokens(
            self.extract_feat(inputs, feature_pairs))

    def _forward(self,
                 inputs: Tensor,
                 data_samples: Optional[list] = None,
                 feature_pairs: Optional[Tensor] = None) -> Tensor:
        """Raw logits (``mode='tensor'``)."""
        return self.encode_decode(inputs, feature_pairs=feature_pairs)

    def loss(self,
             inputs: Tensor,
             data_samples: list,
             feature_pairs: Optional[Tensor] = None) -> dict:
        """The baseline has no trainable parameters."""
        raise NotImplementedError(
            'VICLInpainter is the frozen MAE-VQGAN baseline and cannot be '
            'trained; train PromptHub (configs/prompthub/*.py) instead, or '
            'evaluate this model with tools/test.py.')

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[list] = None,
                logits: Optional[Tensor] = None,
                feature_pairs: Optional[Tensor] = None) -> List[SegDataSample]:
        """Inpaint the query label cell; see :meth:`render_predictions`.

        ``logits`` of :meth:`encode_decode` on the same ``inputs`` may be
        passed when the caller already has them (e.g. to also draw the
        fused prompt), so the backbone does not run twice.
        """
        if logits is None:
            logits = self.encode_decode(inputs, feature_pairs=feature_pairs)
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
        canvas (docs/method.md, section 9.1); then the BR cell is cropped. A
        sample
        with a ground-truth label cell (``gt_label_img``, packed by
        ``PackVICLInputs``) also gets its mask, binarised by the same rule.

        Args:
            logits (Tensor): [B, T, C], the backbone's raw predictions.
            canvas (Tensor): The normalised input canvas [B, 3, H, W].
            batch_size (int): B.
            data_samples (list, optional): Samples to fill in; new ones
                (without ground truth) are created when None.

        Returns:
            list[SegDataSample]: With ``pred_label_img`` and
            ``pred_sem_seg``, and ``gt_sem_seg`` where ``gt_label_img`` is
            given (see ``docs/design.md``).
        """
        with torch.no_grad():
            decoded = self.backbone.logits_to_image(logits)
            pred_cells = query_label_cell(paste_prediction(decoded, canvas))
            pred_masks = binarize(pred_cells, self.binarize_mode)
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(batch_size)]
        for i, sample in enumerate(data_samples):
            sample.pred_label_img = PixelData(data=pred_cells[i])
            sample.pred_sem_seg = PixelData(data=pred_masks[i][None].long())
            if 'gt_label_img' in sample:
                gt_mask = binarize(sample.gt_label_img.data,
                                   self.binarize_mode)
                sample.gt_sem_seg = PixelData(data=gt_mask[None].long())
        return data_samples
