"""Episode batching and IoU helpers shared by the CPU demo tools.

They score a backbone or a PromptHub model on the query-label cell with
the same geometry as the models' ``predict`` (logits_to_image, BR cell,
mean of the three channels above 0.5, the ``'threshold'`` binarisation).
"""
from typing import List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from projects.prompthub.structures import (build_canvas, query_label_cell,
                                           to_unit_float)


def stack_episodes(dataset, indices: Sequence[int]) -> Tuple[Tensor, Tensor]:
    """Render episodes of a VICL dataset into model inputs.

    Args:
        dataset: A dataset whose ``prepare_data`` packs with
            ``PackVICLInputs``.
        indices (Sequence[int]): Sample indices.

    Returns:
        tuple: ``inputs`` float [B, K+1, 2, 3, S, S] in [0, 1] and ``gt``
        bool [B, S, S] (the query masks).
    """
    inputs, gts = [], []
    for i in indices:
        packed = dataset.prepare_data(int(i))
        inputs.append(packed['inputs'])
        gts.append(packed['data_samples'].gt_sem_seg.data[0] > 0)
    return to_unit_float(torch.stack(inputs)), torch.stack(gts)


@torch.no_grad()
def backbone_probs(backbone, inputs: Tensor, slot: int) -> Tensor:
    """Foreground probability of the query label cell, one prompt.

    Args:
        backbone: A backbone with the API of ``docs/design.md``.
        inputs (Tensor): [B, K+1, 2, 3, S, S] in [0, 1].
        slot (int): 1-based prompt index.

    Returns:
        Tensor: [B, S, S] in [0, 1] (mean of the rendered channels).
    """
    prompt, query = inputs[:, slot], inputs[:, 0]
    canvas = build_canvas(prompt[:, 0], prompt[:, 1], query[:, 0], query[:, 1])
    logits = backbone.forward_tokens(backbone.embed(canvas))
    return query_label_cell(backbone.logits_to_image(logits)).mean(dim=1)


@torch.no_grad()
def prompthub_probs(model, inputs: Tensor) -> Tensor:
    """Foreground probability of the query label cell from PromptHub.

    Args:
        model: A ``PromptHub`` model; every prompt of ``inputs`` is fused.
        inputs (Tensor): [B, K+1, 2, 3, S, S] in [0, 1].

    Returns:
        Tensor: [B, S, S] in [0, 1].
    """
    logits = model.encode_decode(inputs)
    return query_label_cell(model.backbone.logits_to_image(logits)).mean(dim=1)


def iou_per_episode(pred: Tensor, gt: Tensor) -> np.ndarray:
    """IoU of boolean masks [B, H, W] per episode (1 when both empty)."""
    pred, gt = pred.bool(), gt.bool()
    inter = (pred & gt).flatten(1).sum(1).double()
    union = (pred | gt).flatten(1).sum(1).double()
    iou = torch.where(union > 0, inter / union.clamp(min=1),
                      torch.ones_like(union))
    return iou.numpy()


def paired_interval(a: Sequence[float],
                    b: Sequence[float]) -> Tuple[float, float, float]:
    """Mean of ``a - b`` and its 95 % normal interval (paired episodes).

    Returns:
        tuple: ``(mean, low, high)``.
    """
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    half = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 \
        else float('nan')
    return float(diff.mean()), float(diff.mean() - half), float(diff.mean() +
                                                                half)


def format_table(rows: List[Tuple[str, str]], title: str) -> str:
    """A two-column markdown table."""
    width = max(len(r[0]) for r in rows)
    lines = [
        title, f'| {"method".ljust(width)} | value |',
        f'|{"-" * (width + 2)}|-------|'
    ]
    lines += [f'| {name.ljust(width)} | {value} |' for name, value in rows]
    return '\n'.join(lines)
