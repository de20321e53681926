"""Where things sit on the 2x2 visual-prompting canvas (arrangement ``a1``).

A square canvas (224 by default) holds four square cells separated by a
white gutter: TL = prompt image, TR = prompt label, BL = query image,
BR = query label. Its patch tokens form a ``grid x grid`` raster
(14x14 for patch 16) in row-major order; the backbone keeps the TL, TR
and BL token blocks and predicts the BR block.
"""
from typing import Tuple

import torch

from .array_like import ArrayLike

CANVAS_SIZE = 224
PATCH_SIZE = 16
#: Cell names, in the order rows then columns.
CELL_POSITIONS = ('tl', 'tr', 'bl', 'br')


def check_canvas(canvas: torch.Tensor, name: str = 'canvas') -> None:
    """Refuse anything but a batch of square RGB canvases [B, 3, S, S]."""
    if canvas.dim() != 4 or canvas.shape[1] != 3 or \
            canvas.shape[2] != canvas.shape[3]:
        raise ValueError(f'{name} must be [B, 3, S, S], got '
                         f'{tuple(canvas.shape)}')


def cell_size(canvas_size: int = CANVAS_SIZE, padding: int = 1) -> int:
    """Side of one canvas cell: ``(canvas_size - 2 * padding) // 2``.

    Args:
        canvas_size (int): Side of the square canvas. Defaults to 224.
        padding (int): Half the gutter width between cells. Defaults to 1.

    Returns:
        int: The cell side (111 for the reference canvas).
    """
    return (canvas_size - 2 * padding) // 2


def cell_slices(position: str,
                canvas_size: int = CANVAS_SIZE,
                padding: int = 1) -> Tuple[slice, slice]:
    """Rows and columns of one cell of the canvas.

    The top/left cells start at 0, the bottom/right ones at
    ``canvas_size - cell`` (113 for 224), so they end at the border.

    Args:
        position (str): One of ``'tl'``, ``'tr'``, ``'bl'``, ``'br'``.
        canvas_size (int): Side of the square canvas. Defaults to 224.
        padding (int): Half the gutter width between cells. Defaults to 1.

    Returns:
        tuple[slice, slice]: ``(rows, cols)``.
    """
    if position not in CELL_POSITIONS:
        raise ValueError(f'position must be one of {CELL_POSITIONS}, got '
                         f'{position!r}')
    cell = cell_size(canvas_size, padding)
    near = slice(0, cell)
    far = slice(canvas_size - cell, canvas_size)
    return (far if position[0] == 'b' else near,
            far if position[1] == 'r' else near)


def crop_cell(img: ArrayLike, position: str, padding: int = 1) -> ArrayLike:
    """One cell of a canvas-sized image (a view).

    Args:
        img (Tensor | ndarray): Canvas of shape (..., H, W), H == W.
        position (str): One of ``'tl'``, ``'tr'``, ``'bl'``, ``'br'``.
        padding (int): Half the gutter width between cells. Defaults to 1.

    Returns:
        Tensor | ndarray: View of shape (..., cell, cell).
    """
    size = img.shape[-1]
    if img.ndim < 2 or img.shape[-2] != size:
        raise ValueError('expected a square canvas of shape (..., H, W), '
                         f'got {tuple(img.shape)}')
    rows, cols = cell_slices(position, size, padding)
    return img[..., rows, cols]


def query_label_cell(canvas: ArrayLike, padding: int = 1) -> ArrayLike:
    """The BR (query-label) cell of a canvas, the region the metrics score.

    For the reference 224 canvas this is ``canvas[..., 113:, 113:]``, the
    111x111 cell the papers evaluate.

    Args:
        canvas (Tensor | ndarray): Canvas of shape (..., H, W), H == W.
        padding (int): Half the gutter width between cells. Defaults to 1.

    Returns:
        Tensor | ndarray: View of shape (..., cell, cell).
    """
    return crop_cell(canvas, 'br', padding)


def half_rows(half: str, num_rows: int) -> slice:
    """Rows of the ``'top'`` or ``'bottom'`` half of ``num_rows`` rows.

    Token rasters are row-major, so this also slices a half's tokens out of
    ``num_rows = T`` tokens.
    """
    if half not in ('top', 'bottom'):
        raise ValueError(f"half must be 'top' or 'bottom', got {half!r}")
    mid = num_rows // 2
    return slice(0, mid) if half == 'top' else slice(mid, num_rows)


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
