"""Token index sets of the 2x2 canvas raster.

Tokens follow the ``2*grid x 2*grid`` raster (``t = 2*grid*row + col``,
14x14 for a 224 canvas with patch 16) split into four ``grid x grid``
blocks: TL (prompt image), TR (prompt label), BL (query image), BR (query
label). Ids within a block are row-major, so position ``k`` of one block
and position ``k`` of another are the same (row, col) in their blocks.
"""
import torch
from torch import Tensor

TOKEN_BLOCKS = ('TL', 'TR', 'BL', 'BR')


def token_block_ids(block: str,
                    grid: int = 7,
                    device: torch.device = None) -> Tensor:
    """Raster ids of one canvas block, row-major within the block.

    Args:
        block (str): ``'TL'``, ``'TR'``, ``'BL'``, ``'BR'`` or ``'TOP'``
            (the prompt half, TL and TR, i.e. ids ``0 .. 2*grid*grid - 1``).
        grid (int): block side. Defaults to 7.
        device (torch.device, optional): device of the result.

    Returns:
        Tensor: int64, ``grid*grid`` ids (``2*grid*grid`` for ``'TOP'``).
    """
    side = 2 * grid
    if block == 'TOP':
        return torch.arange(grid * side, device=device)
    if block not in TOKEN_BLOCKS:
        raise ValueError(f"block must be one of {TOKEN_BLOCKS} or 'TOP', "
                         f'got {block!r}.')
    row0 = grid if block[0] == 'B' else 0
    col0 = grid if block[1] == 'R' else 0
    rows = torch.arange(row0, row0 + grid, device=device)
    cols = torch.arange(col0, col0 + grid, device=device)
    return (rows[:, None] * side + cols[None, :]).flatten()
