"""Fixed 2-D sine-cosine position tables in the MAE convention."""
import numpy as np
import torch


def sincos_1d(embed_dim: int, positions: np.ndarray) -> np.ndarray:
    """Sine-cosine embedding of 1-D positions.

    Args:
        embed_dim (int): Output width, must be even.
        positions (np.ndarray): Positions, any shape (flattened).

    Returns:
        np.ndarray: float64, shape (M, embed_dim): ``[sin(p*w), cos(p*w)]``
        with ``w_k = 10000 ** (-k / (embed_dim / 2))``.
    """
    if embed_dim % 2:
        raise ValueError(f'embed_dim must be even, got {embed_dim}')
    omega = np.arange(embed_dim // 2, dtype=np.float64) / (embed_dim / 2.)
    omega = 1. / 10000**omega
    angles = np.outer(positions.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def get_2d_sincos_pos_embed(embed_dim: int,
                            grid_size: int,
                            cls_token: bool = False) -> np.ndarray:
    """2-D sine-cosine table of a square token grid (MAE layout).

    The first half of the channels encodes the *column* index and the
    second half the *row* index, as in MAE's ``util/pos_embed.py``; the
    public checkpoints store exactly these tables.

    Args:
        embed_dim (int): Channel width, must be divisible by 4.
        grid_size (int): Tokens per side.
        cls_token (bool): Prepend an all-zero row for the cls token.
            Defaults to False.

    Returns:
        np.ndarray: float64, shape (grid_size**2 [+1], embed_dim), rows in
        raster order (t = grid_size * row + col).
    """
    if embed_dim % 4:
        raise ValueError(f'embed_dim must be divisible by 4, got {embed_dim}')
    rows, cols = np.meshgrid(
        np.arange(grid_size), np.arange(grid_size), indexing='ij')
    table = np.concatenate([
        sincos_1d(embed_dim // 2, cols),
        sincos_1d(embed_dim // 2, rows),
    ],
                           axis=1)
    if cls_token:
        table = np.concatenate([np.zeros([1, embed_dim]), table], axis=0)
    return table


def sincos_pos_embed_tensor(embed_dim: int,
                            grid_size: int,
                            cls_token: bool = True) -> torch.Tensor:
    """:func:`get_2d_sincos_pos_embed` as a float32 tensor [1, N, D]."""
    table = get_2d_sincos_pos_embed(embed_dim, grid_size, cls_token)
    return torch.from_numpy(table).float().unsqueeze(0)
