"""PNG grids of a VICL episode."""
from typing import Optional, Sequence

import cv2
import numpy as np
import torch
from torch import Tensor

from projects.prompthub.structures import crop_cell

_GAP = 2
_BAND = 14


def _to_hwc(img) -> np.ndarray:
    """[3, H, W] / [H, W, 3] / [H, W] tensor or array -> HxWx3 uint8."""
    if isinstance(img, Tensor):
        img = img.detach().cpu()
        if img.dtype == torch.bool:
            img = img.to(torch.uint8) * 255
        elif img.is_floating_point():
            img = (img.clamp(0, 1) * 255).round()
        img = img.to(torch.uint8).numpy()
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[0] == 3 and img.shape[-1] != 3:
        img = img.transpose(1, 2, 0)
    return np.ascontiguousarray(img.astype(np.uint8))


def draw_vicl_grid(prompts: Sequence[tuple],
                   query_img,
                   pred_label,
                   gt_label=None,
                   fused: Optional[tuple] = None) -> np.ndarray:
    """One episode as a 2-row grid (images on top, labels below).

    Columns: the prompt pairs P1..PK, the decoded fused prompt pair (when
    given), then the query with the prediction and, when given, with the
    ground truth (with neither, the query over an empty cell). Every cell
    is resized (nearest) to a square of the first label's height (the
    canvas cell), so the query image may come at its original size.

    Args:
        prompts (Sequence[tuple]): ``(image, label)`` per prompt; tensors
            [3, S, S] (uint8 or float in [0, 1]) or HxWx3 arrays.
        query_img: The query image.
        pred_label: The predicted label image (or bool mask); None
            draws no prediction column.
        gt_label (optional): The ground-truth label image.
        fused (tuple, optional): ``(image, label)`` the backbone renders
            from the fused prompt tokens.

    Returns:
        np.ndarray: HxWx3 uint8 RGB.
    """
    cols = [(f'P{i + 1}', img, lab) for i, (img, lab) in enumerate(prompts)]
    if fused is not None:
        cols.append(('fused', fused[0], fused[1]))
    if pred_label is not None:
        cols.append(('pred', query_img, pred_label))
    if gt_label is not None:
        cols.append(('gt', query_img, gt_label))
    if pred_label is None and gt_label is None:
        cols.append(('query', query_img, None))
    # Label cells are canvas cells; the query image may be larger.
    first = next((lab for _, _, lab in cols if lab is not None), cols[0][1])
    size = _to_hwc(first).shape[0]
    width = len(cols) * (size + _GAP) + _GAP
    height = _BAND + 2 * (size + _GAP) + _GAP
    grid = np.full((height, width, 3), 255, np.uint8)
    for k, (title, img, lab) in enumerate(cols):
        x = _GAP + k * (size + _GAP)
        cv2.putText(grid, title, (x + 2, _BAND - 3), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4, (0, 0, 0), 1, cv2.LINE_AA)
        for r, cell in enumerate((img, lab)):
            if cell is None:
                continue
            cell = _to_hwc(cell)
            if cell.shape[:2] != (size, size):
                cell = cv2.resize(
                    cell, (size, size), interpolation=cv2.INTER_NEAREST)
            y = _BAND + _GAP + r * (size + _GAP)
            grid[y:y + size, x:x + size] = cell
    return grid


@torch.no_grad()
def fused_prompt_cells(
        model,
        inputs: Tensor,
        logits: Optional[Tensor] = None,
        feature_pairs: Optional[Tensor] = None) -> Optional[Tensor]:
    """Rendered TL/TR cells of the fused canvas of a PromptHub model.

    Args:
        model: A ``PromptHub`` (anything with a ``neck``); other models
            return None.
        inputs (Tensor): [B, K+1, 2, 3, S, S] in [0, 1].
        logits (Tensor, optional): ``model.encode_decode(inputs)`` when
            the caller has it already. Defaults to None (computed).
        feature_pairs (Tensor, optional): The batch's reference fusion
            inputs, when it has them (see ``docs/design.md``).

    Returns:
        Tensor | None: float [B, 2, 3, S, S] in [0, 1]: the fused prompt
        tokens themselves when the backbone can show them
        (``tokens_carry_pixels``, e.g. the tiny pixel backbone), else what
        the frozen backbone reconstructs from them (MAE-VQGAN).
    """
    if getattr(model, 'neck', None) is None:
        return None
    backbone = model.backbone
    if backbone.tokens_carry_pixels:
        decoded = backbone.tokens_to_image(
            model.extract_feat(inputs, feature_pairs))
    else:
        if logits is None:
            logits = model.encode_decode(inputs, feature_pairs=feature_pairs)
        decoded = backbone.logits_to_image(logits)
    return torch.stack([crop_cell(decoded, 'tl'),
                        crop_cell(decoded, 'tr')],
                       dim=1)
