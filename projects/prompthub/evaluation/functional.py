"""Pure functions behind the PromptHub evaluation metrics.

Every function accepts a ``torch.Tensor`` or a ``np.ndarray`` and returns
the same kind (tensors stay on their device where the operation allows it).
The canvas crop and the binarisation of label images, which the model and
the metrics share, live in :mod:`projects.prompthub.structures`.
"""
from typing import Sequence

import cv2
import numpy as np
import torch

from projects.prompthub.structures import (IMAGENET_MEAN, IMAGENET_STD,
                                           ArrayLike, as_tensor, restore_kind)

#: Tie rules of :func:`fill_largest_component_box`.
TIE_BREAKS = ('raster', 'reference')


def stack_pixel_data(data_samples: Sequence, key: str) -> torch.Tensor:
    """Stack one ``PixelData`` field of a batch of data samples.

    Accepts samples as dicts (what ``mmengine.evaluator.Evaluator`` hands to
    ``BaseMetric.process``) or as data elements; the field may be a
    ``PixelData``, its dict form (``{'data': ...}``), a tensor or an array.

    Args:
        data_samples (Sequence[dict | BaseDataElement]): The batch.
        key (str): Field name, e.g. ``'pred_label_img'``.

    Returns:
        Tensor: CPU tensor of shape (B, ...), B = len(data_samples).
    """
    items = []
    for sample in data_samples:
        if isinstance(sample, dict):
            if key not in sample:
                raise KeyError(f'data sample has no {key!r}; got keys '
                               f'{sorted(sample)}')
            value = sample[key]
        else:
            value = getattr(sample, key)
        if isinstance(value, dict):
            value = value['data']
        elif not isinstance(value, (torch.Tensor, np.ndarray)):
            value = value.data
        items.append(as_tensor(value)[0].detach().cpu())
    return torch.stack(items)


def _largest_box_2d(mask: np.ndarray, tie_break: str) -> np.ndarray:
    """Box-filled largest 8-connected True component of one 2D mask."""
    num, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8)
    out = np.zeros(mask.shape, dtype=bool)
    if num <= 1:
        return out
    # Label 0 is the background (False pixels); only True components count.
    areas = stats[1:, cv2.CC_STAT_AREA]
    cands = np.flatnonzero(areas == areas.max()) + 1
    if tie_break == 'reference':
        # The reference reverses a stable argsort of the areas by label,
        # so of equal areas the highest cv2 label wins. cv2 scans in 2x2
        # blocks, so this is not always the last first pixel in raster
        # order; the labels are used as they are to match it exactly.
        best = cands[-1]
    elif len(cands) > 1:
        # Equal areas: take the component met first in raster order, a
        # rule that does not depend on how cv2 numbers its labels.
        first = np.unique(labels.ravel(), return_index=True)[1]
        best = cands[np.argmin(first[cands])]
    else:
        best = cands[0]
    x, y, w, h = stats[best, :4]
    out[y:y + h, x:x + w] = True
    return out


def fill_largest_component_box(mask: ArrayLike,
                               tie_break: str = 'raster') -> ArrayLike:
    """Replace a binary mask by the bounding box of its largest component.

    Detection protocol (docs/method.md, section 9.3; the reference's
    ``to_rectangle``): find the
    8-connected components of the foreground (as ``cv2.connectedComponents``
    does by default), take the largest one and fill its bounding box. A
    mask without foreground stays all False.

    Ties in area are decided by ``tie_break``:

    - ``'raster'``: the component whose first pixel comes first in raster
      order, a rule independent of how cv2 numbers its components;
    - ``'reference'``: what the reference keeps. It sorts the component sizes
      with ``np.argsort`` (stable in effect, as the comparison with the
      official code found) and walks them in reverse, so of equal areas it
      keeps the component with the highest ``cv2.connectedComponents``
      label, i.e. the one cv2's raster scan (by 2x2 blocks) meets last.

    Args:
        mask (Tensor | ndarray): bool mask(s) of shape (..., H, W).
        tie_break (str): ``'raster'`` or ``'reference'``, see above.
            Defaults to ``'raster'``.

    Returns:
        Tensor | ndarray: bool of the same shape (and device).
    """
    if tie_break not in TIE_BREAKS:
        raise ValueError(f'tie_break must be one of {TIE_BREAKS}, got '
                         f'{tie_break!r}')
    x, was_numpy = as_tensor(mask)
    if x.ndim < 2:
        raise ValueError(f'expected (..., H, W), got {tuple(x.shape)}')
    flat = x.detach().cpu().numpy().astype(bool).reshape(-1, *x.shape[-2:])
    out = np.zeros(flat.shape, dtype=bool)
    for i, m in enumerate(flat):
        out[i] = _largest_box_2d(m, tie_break)
    out = torch.from_numpy(out.reshape(x.shape))
    return out.numpy() if was_numpy else out.to(x.device)


def fg_iou_stats(pred: ArrayLike, gt: ArrayLike) -> ArrayLike:
    """Per-image foreground pixel counts for IoU.

    Args:
        pred (Tensor | ndarray): bool predicted foreground, (..., H, W).
        gt (Tensor | ndarray): bool ground-truth foreground, (..., H, W).

    Returns:
        Tensor | ndarray: int64 of shape (..., 4), holding
        ``(intersection, union, pred_area, gt_area)`` per image.
    """
    p, was_numpy = as_tensor(pred)
    g, _ = as_tensor(gt)
    if p.shape != g.shape:
        raise ValueError(f'shape mismatch: pred {tuple(p.shape)} vs gt '
                         f'{tuple(g.shape)}')
    p, g = p.bool(), g.to(p.device).bool()
    counts = [(p & g), (p | g), p, g]
    stats = torch.stack([c.sum(dim=(-2, -1)) for c in counts], dim=-1)
    return restore_kind(stats.to(torch.int64), was_numpy)


def iou_from_stats(inter: ArrayLike,
                   union: ArrayLike,
                   empty_score: float = 1.0) -> np.ndarray:
    """Per-image IoU ``inter / union`` with 0/0 mapped to ``empty_score``.

    Args:
        inter (Tensor | ndarray): Intersection counts.
        union (Tensor | ndarray): Union counts, same shape.
        empty_score (float): Score of an image whose prediction and ground
            truth are both empty. Defaults to 1.0.

    Returns:
        ndarray: float64 IoU, same shape as the inputs.
    """
    inter = np.asarray(inter, dtype=np.float64)
    union = np.asarray(union, dtype=np.float64)
    empty = union == 0
    return np.where(empty, float(empty_score),
                    inter / np.where(empty, 1.0, union))


def colorization_mse(pred: ArrayLike,
                     gt: ArrayLike,
                     mean: Sequence[float] = IMAGENET_MEAN,
                     std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """Per-image MSE on the ImageNet-normalised scale (docs/method.md, section
    9.4).

    Each uint8 image is divided by 255 and normalised as
    ``(x - mean) / std`` in float64, then the squared differences are
    averaged over all channels and pixels, as the reference's
    ``calculate_mse`` does on the query-label cell.

    Args:
        pred (Tensor | ndarray): uint8 predicted image(s), (..., 3, H, W).
        gt (Tensor | ndarray): uint8 target image(s), same shape.
        mean (Sequence[float]): Per-channel mean. Defaults to ImageNet's.
        std (Sequence[float]): Per-channel std. Defaults to ImageNet's.

    Returns:
        ndarray: float64 of shape (...), one MSE per image.
    """
    p, _ = as_tensor(pred)
    g, _ = as_tensor(gt)
    if p.dtype != torch.uint8 or g.dtype != torch.uint8:
        raise TypeError('colorization_mse expects uint8 images, got '
                        f'{p.dtype} and {g.dtype}')
    if p.shape != g.shape or p.ndim < 3 or p.shape[-3] != len(mean):
        raise ValueError('expected two images of equal shape (..., C, H, W) '
                         f'with C == {len(mean)}, got {tuple(p.shape)} and '
                         f'{tuple(g.shape)}')
    m = np.asarray(mean, dtype=np.float64)[:, None, None]
    s = np.asarray(std, dtype=np.float64)[:, None, None]
    p = (p.detach().cpu().numpy() / 255. - m) / s
    g = (g.detach().cpu().numpy() / 255. - m) / s
    return np.mean((g - p)**2, axis=(-3, -2, -1))
