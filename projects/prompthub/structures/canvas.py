"""Assemble the 2x2 canvas and paste a prediction into it.

Geometry in :mod:`.canvas_geometry` (docs/design.md "Canvas geometry"):
TL = prompt image, TR = prompt label, BL = query image, BR = query label,
white elsewhere; the canvas is ImageNet-normalised after assembly.
"""
from typing import Optional

import torch

from .canvas_geometry import (CANVAS_SIZE, CELL_POSITIONS, cell_size,
                              cell_slices, check_canvas)
from .normalization import denormalize_to_uint8, normalize_canvas


def _as_batch(img: Optional[torch.Tensor], name: str,
              cell: int) -> Optional[torch.Tensor]:
    if img is None:
        return None
    if img.dim() != 4 or img.shape[1] not in (1, 3) or \
            tuple(img.shape[2:]) != (cell, cell):
        raise ValueError(
            f'{name} must be [B, 3 (or 1), {cell}, {cell}] in [0, 1], got '
            f'{tuple(img.shape)}; resize images to the cell size first')
    if not img.is_floating_point():
        raise TypeError(f'{name} must be floating point in [0, 1], got '
                        f'{img.dtype}')
    # 1-channel labels are broadcast to RGB, as the reference does.
    return img.expand(-1, 3, -1, -1)


def build_canvas(tl: Optional[torch.Tensor],
                 tr: Optional[torch.Tensor],
                 bl: Optional[torch.Tensor],
                 br: Optional[torch.Tensor],
                 canvas_size: int = CANVAS_SIZE,
                 normalize: bool = True) -> torch.Tensor:
    """Assemble the 2x2 canvas (arrangement ``a1``).

    Args:
        tl (Tensor, optional): Prompt image [B, 3, S, S] in [0, 1],
            S = ``(canvas_size - 2) // 2``. None leaves the cell white.
        tr (Tensor, optional): Prompt label, same layout.
        bl (Tensor, optional): Query image, same layout.
        br (Tensor, optional): Query label, same layout.
        canvas_size (int): Canvas side. Defaults to 224.
        normalize (bool): Return the ImageNet-normalised canvas (what the
            backbone eats); False returns the [0, 1] canvas. Defaults to
            True.

    Returns:
        Tensor: [B, 3, canvas_size, canvas_size], dtype/device of the
        first given image.
    """
    cell = cell_size(canvas_size)
    cells = [
        _as_batch(img, name, cell)
        for img, name in zip((tl, tr, bl, br), CELL_POSITIONS)
    ]
    given = [c for c in cells if c is not None]
    if not given:
        raise ValueError('build_canvas needs at least one image to know the '
                         'batch size, dtype and device')
    ref = given[0]
    if any(c.shape[0] != ref.shape[0] for c in given):
        raise ValueError('all cells must have the same batch size, got '
                         f'{[c.shape[0] for c in given]}')
    canvas = ref.new_ones(ref.shape[0], 3, canvas_size, canvas_size)
    for img, position in zip(cells, CELL_POSITIONS):
        if img is not None:
            rows, cols = cell_slices(position, canvas_size)
            canvas[:, :, rows, cols] = img.to(canvas)
    return normalize_canvas(canvas) if normalize else canvas


def pair_canvas(img: torch.Tensor,
                label: torch.Tensor,
                canvas_size: int = CANVAS_SIZE,
                normalize: bool = True) -> torch.Tensor:
    """Canvas of one pair duplicated: image at TL/BL, label at TR/BR.

    This is the canvas whose patch embeddings feed the fusion module
    (docs/method.md, section 6.1).

    Args:
        img (Tensor): [B, 3, S, S] in [0, 1].
        label (Tensor): [B, 3 or 1, S, S] in [0, 1].
        canvas_size (int): Canvas side. Defaults to 224.
        normalize (bool): See :func:`build_canvas`. Defaults to True.

    Returns:
        Tensor: [B, 3, canvas_size, canvas_size].
    """
    return build_canvas(img, label, img, label, canvas_size, normalize)


def target_canvas(canvas: torch.Tensor) -> torch.Tensor:
    """C* of the loss: the top half overwritten by the bottom half.

    ``C*[..., r, :] = C[..., H/2 + (r mod H/2), :]`` (H/2 = 112), so both
    halves hold the "query image | query label" strip.

    Args:
        canvas (Tensor): [B, 3, H, W], normalised or not.

    Returns:
        Tensor: A new tensor of the same shape.
    """
    check_canvas(canvas)
    half = canvas.shape[-2] // 2
    bottom = canvas[..., half:, :]
    return torch.cat([bottom, bottom], dim=-2)


def paste_prediction(decoded01: torch.Tensor,
                     canvas_norm: torch.Tensor) -> torch.Tensor:
    """Paste the decoded BR quadrant into the de-normalised input canvas.

    Inside the BR quadrant (pixels [H/2:, W/2:], 112..223 for 224, i.e.
    the masked 7x7 token block) take ``clip(decoded * 255, 0, 255)``
    truncated, computed in float32 as the reference does. Elsewhere take
    :func:`denormalize_to_uint8` of the input canvas.

    Args:
        decoded01 (Tensor): [B, 3, H, W] VQGAN output in [0, 1] (decode the
            full grid: the VQGAN decoder attends globally).
        canvas_norm (Tensor): [B, 3, H, W] the normalised input canvas.

    Returns:
        Tensor: uint8 [B, 3, H, W].
    """
    check_canvas(decoded01, 'decoded01')
    check_canvas(canvas_norm, 'canvas_norm')
    if decoded01.shape != canvas_norm.shape:
        raise ValueError(f'decoded01 {tuple(decoded01.shape)} and '
                         f'canvas_norm {tuple(canvas_norm.shape)} differ')
    out = denormalize_to_uint8(canvas_norm)
    half = out.shape[-1] // 2
    pred = decoded01.detach()[..., half:, half:].to(torch.float32)
    pred = (pred * 255).clamp(0, 255).to(torch.int32).to(torch.uint8)
    out[..., half:, half:] = pred.to(out.device)
    return out
