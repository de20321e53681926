"""The 2x2 visual-prompting canvas (arrangement ``a1``) and its pixels.

Geometry (docs/design.md): a 3x224x224 canvas filled with white, four
111x111 cells, white gutters at rows/cols 111-112. TL = prompt image,
TR = prompt label, BL = query image, BR = query label. The canvas is
ImageNet-normalised after assembly. Tokens form a 14x14 raster; the
backbone keeps TL, TR, BL and predicts BR.

The uint8 conversions reproduce the reference exactly: de-normalisation in
float64 and truncation (so a white 1.0 may become 254), the prediction
scaled in float32 and truncated.
"""
from typing import Optional, Sequence

import torch

CANVAS_SIZE = 224
PATCH_SIZE = 16
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def cell_size(canvas_size: int = CANVAS_SIZE) -> int:
    """Side of one cell: ``(canvas_size - 2) // 2`` (111 for 224)."""
    return (canvas_size - 2) // 2


def _stats(x: torch.Tensor, values: Sequence[float],
           dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=x.device).view(3, 1, 1)


def _check_canvas(canvas: torch.Tensor, name: str = 'canvas') -> None:
    if canvas.dim() != 4 or canvas.shape[1] != 3 or \
            canvas.shape[2] != canvas.shape[3]:
        raise ValueError(f'{name} must be [B, 3, S, S], got '
                         f'{tuple(canvas.shape)}')


def normalize_canvas(canvas: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalise a [0, 1] canvas in its own dtype.

    Args:
        canvas (Tensor): [B, 3, H, W] floats in [0, 1].

    Returns:
        Tensor: ``(canvas - mean) / std``, same dtype (float32 in the
        reference).
    """
    _check_canvas(canvas)
    if not canvas.is_floating_point():
        raise TypeError(f'canvas must be floating point in [0, 1], got '
                        f'{canvas.dtype}; convert uint8 with /255 first')
    mean = _stats(canvas, IMAGENET_MEAN, canvas.dtype)
    std = _stats(canvas, IMAGENET_STD, canvas.dtype)
    return (canvas - mean) / std


def denormalize_to_uint8(canvas_norm: torch.Tensor) -> torch.Tensor:
    """Undo the normalisation to uint8 exactly as the reference does.

    ``clip((x * std + mean) * 255, 0, 255)`` in float64, then truncation.

    Args:
        canvas_norm (Tensor): [B, 3, H, W] normalised canvas.

    Returns:
        Tensor: uint8 [B, 3, H, W].
    """
    _check_canvas(canvas_norm, 'canvas_norm')
    x = canvas_norm.detach().to(torch.float64)
    x = (x * _stats(x, IMAGENET_STD, torch.float64) +
         _stats(x, IMAGENET_MEAN, torch.float64)) * 255
    # Clip, then truncate toward zero (the reference's ``.int()``).
    return x.clamp(0, 255).to(torch.int32).to(torch.uint8)


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
        for img, name in zip((tl, tr, bl, br), ('tl', 'tr', 'bl', 'br'))
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
    # The bottom/right cells start at canvas_size - cell (113 for 224).
    near, far = slice(0, cell), slice(canvas_size - cell, None)
    slots = ((near, near), (near, far), (far, near), (far, far))
    for img, (rows, cols) in zip(cells, slots):
        if img is not None:
            canvas[:, :, rows, cols] = img.to(canvas)
    return normalize_canvas(canvas) if normalize else canvas


def half_rows(half: str, num_rows: int) -> slice:
    """Rows of the ``'top'`` or ``'bottom'`` half of ``num_rows`` rows.

    Token rasters are row-major, so this also slices a half's tokens out of
    ``num_rows = T`` tokens.
    """
    if half not in ('top', 'bottom'):
        raise ValueError(f"half must be 'top' or 'bottom', got {half!r}")
    mid = num_rows // 2
    return slice(0, mid) if half == 'top' else slice(mid, num_rows)


def pair_canvas(img: torch.Tensor,
                label: torch.Tensor,
                canvas_size: int = CANVAS_SIZE,
                normalize: bool = True) -> torch.Tensor:
    """Canvas of one pair duplicated: image at TL/BL, label at TR/BR.

    This is the canvas whose patch embeddings feed the fusion module
    (reference spec 2.1).

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
    _check_canvas(canvas)
    half = canvas.shape[-2] // 2
    bottom = canvas[..., half:, :]
    return torch.cat([bottom, bottom], dim=-2)


def _grid(grid_size: int) -> torch.Tensor:
    if grid_size % 2:
        raise ValueError(f'grid_size must be even, got {grid_size}')
    # Explicit CPU: the ids stay real even under a meta-device context.
    return torch.arange(
        grid_size * grid_size, device='cpu').view(grid_size, grid_size)


def br_token_ids(grid_size: int = CANVAS_SIZE // PATCH_SIZE) -> torch.Tensor:
    """Raster ids of the masked BR token block, ascending.

    Args:
        grid_size (int): Tokens per side. Defaults to 14.

    Returns:
        Tensor: int64 [(grid_size/2)**2] (49 ids for 14).
    """
    half = grid_size // 2
    return _grid(grid_size)[half:, half:].reshape(-1)


def visible_mask_ids(
        grid_size: int = CANVAS_SIZE // PATCH_SIZE) -> torch.Tensor:
    """Raster ids of the visible tokens (TL, TR, BL), ascending.

    Args:
        grid_size (int): Tokens per side. Defaults to 14.

    Returns:
        Tensor: int64 [3/4 * grid_size**2] (147 ids for 14).
    """
    half = grid_size // 2
    ids = _grid(grid_size)
    return torch.cat([ids[:half].reshape(-1),
                      ids[half:, :half].reshape(-1)]).sort().values


def br_cell(img: torch.Tensor) -> torch.Tensor:
    """The BR cell of a canvas-sized image: ``img[..., 113:, 113:]``.

    Args:
        img (Tensor): [..., H, W] with H = W = canvas size.

    Returns:
        Tensor: A view [..., S, S] with S = ``(H - 2) // 2``.
    """
    size = img.shape[-1]
    if img.dim() < 2 or img.shape[-2] != size:
        raise ValueError(f'br_cell expects a square [..., H, W] image, got '
                         f'{tuple(img.shape)}')
    far = size - cell_size(size)
    return img[..., far:, far:]


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
    _check_canvas(decoded01, 'decoded01')
    _check_canvas(canvas_norm, 'canvas_norm')
    if decoded01.shape != canvas_norm.shape:
        raise ValueError(f'decoded01 {tuple(decoded01.shape)} and '
                         f'canvas_norm {tuple(canvas_norm.shape)} differ')
    out = denormalize_to_uint8(canvas_norm)
    half = out.shape[-1] // 2
    pred = decoded01.detach()[..., half:, half:].to(torch.float32)
    pred = (pred * 255).clamp(0, 255).to(torch.int32).to(torch.uint8)
    out[..., half:, half:] = pred.to(out.device)
    return out
