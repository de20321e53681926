"""Locality tables (Psi) of the PromptHub cross-attention.

For a ``grid x grid`` block of query tokens and the same block of key tokens
in every prompt, the scaled attention logit between query position ``i`` and
key position ``j`` (of any prompt) becomes ``logit * G[i, j] + C[i, j]``:

- ``G[i]`` is a decay kernel centred on ``i`` and normalised to sum 1 over the
  grid (border and corner centres get larger values);
- ``C[i, j] = -1e7`` where the *Gaussian* weight of ``j`` around ``i`` is
  ``<= cut_threshold`` (cut keys) and 0 elsewhere; ``G`` is 0 at cut keys.

The reference stores ``G = -100`` at cut keys. Both give exactly zero
attention after the softmax; 0 keeps a very negative logit from cancelling
the cut.
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor

CUT_VALUE = -1e7
LOCALITY_KINDS = ('gaussian', 'laplacian', 'global', 'learnable',
                  'query_adaptive', 'patchwise')
# Bounds that keep exp(-d^2 / (2 sigma^2)) finite and NaN-free.
_SIGMA_MIN, _SIGMA_MAX = 1e-3, 1e3


def _squared_distances(grid: int,
                       dtype: torch.dtype,
                       device: Optional[torch.device] = None) -> Tensor:
    """Squared and L1 distances between the raster positions of a grid.

    Returns:
        tuple[Tensor, Tensor]: squared Euclidean and L1 distances, each of
        shape (grid*grid, grid*grid), indexed ``[centre, key]``.
    """
    coords = torch.arange(grid, dtype=dtype, device=device)
    rows = coords.repeat_interleave(grid)
    cols = coords.repeat(grid)
    d_row = rows[:, None] - rows[None, :]
    d_col = cols[:, None] - cols[None, :]
    return d_row**2 + d_col**2, d_row.abs() + d_col.abs()


def _as_sigma(sigma: Union[float, Tensor], dtype: torch.dtype,
              device: Optional[torch.device]) -> Tensor:
    if isinstance(sigma, Tensor):
        return sigma.to(dtype=dtype, device=device)
    if not sigma > 0:
        raise ValueError(f'sigma must be > 0, got {sigma}.')
    return torch.tensor(float(sigma), dtype=dtype, device=device)


def gaussian_weights(sigma: Union[float, Tensor],
                     grid: int = 7,
                     dtype: torch.dtype = torch.float64,
                     device: Optional[torch.device] = None) -> Tensor:
    """Per-centre normalised 2-D Gaussian weights.

    Args:
        sigma (float | Tensor): standard deviation in token units; a tensor
            of shape (B,) gives one table per sample (differentiable).
        grid (int): side of the token block. Defaults to 7.
        dtype (torch.dtype): dtype when ``sigma`` is a float.
        device (torch.device, optional): device when ``sigma`` is a float.

    Returns:
        Tensor: shape ``(grid*grid, grid*grid)`` or ``(B, grid*grid,
        grid*grid)``; row ``i`` sums to 1.
    """
    if isinstance(sigma, Tensor):
        dtype, device = sigma.dtype, sigma.device
    sigma = _as_sigma(sigma, dtype, device)
    d2, _ = _squared_distances(grid, dtype, device)
    if sigma.dim() == 1:
        sigma = sigma[:, None, None]
    kernel = torch.exp(-d2 / (2 * sigma**2))
    return kernel / kernel.sum(dim=-1, keepdim=True)


def laplacian_weights(b: Union[float, Tensor],
                      grid: int = 7,
                      dtype: torch.dtype = torch.float64,
                      device: Optional[torch.device] = None) -> Tensor:
    """Per-centre normalised 2-D Laplace weights ``exp(-(|dr| + |dc|) / b)``.

    Same arguments and shapes as :func:`gaussian_weights`, with the scale
    ``b`` in place of ``sigma``.
    """
    if isinstance(b, Tensor):
        dtype, device = b.dtype, b.device
    b = _as_sigma(b, dtype, device)
    _, d1 = _squared_distances(grid, dtype, device)
    if b.dim() == 1:
        b = b[:, None, None]
    kernel = torch.exp(-d1 / b)
    return kernel / kernel.sum(dim=-1, keepdim=True)


def locality_tables(
        kind: str,
        sigma: Union[float, Tensor],
        grid: int = 7,
        cut_threshold: float = 0.01,
        dtype: torch.dtype = torch.float64,
        device: Optional[torch.device] = None) -> Tuple[Tensor, Tensor]:
    """Multiplicative table ``G`` and additive cut table ``C``.

    Args:
        kind (str): ``'gaussian'`` or ``'laplacian'`` (Laplace weights with
            scale ``sigma``, cut taken from the Gaussian of the same
            ``sigma``, as the reference's ``LaplaceMatrix``), or
            ``'patchwise'`` (each query position sees only the same position
            of every prompt, unscaled; ``sigma`` is ignored).
        sigma (float | Tensor): scalar or per-sample (B,) tensor.
        grid (int): side of the token block. Defaults to 7.
        cut_threshold (float): keys whose normalised Gaussian weight is
            ``<=`` this are cut. Defaults to 0.01.
        dtype (torch.dtype): dtype when ``sigma`` is a float.
        device (torch.device, optional): device when ``sigma`` is a float.

    Returns:
        tuple[Tensor, Tensor]: ``G`` and ``C``, each ``(L, L)`` or
        ``(B, L, L)`` with ``L = grid*grid``. ``G`` carries the gradient of
        ``sigma``; the cut decision does not (it is a hard threshold).
    """
    if kind == 'patchwise':
        if isinstance(sigma, Tensor):
            dtype, device = sigma.dtype, sigma.device
        eye = torch.eye(grid * grid, dtype=dtype, device=device)
        return eye, (1 - eye) * CUT_VALUE
    if kind not in ('gaussian', 'laplacian'):
        raise ValueError(f"locality table kind must be 'gaussian', "
                         f"'laplacian' or 'patchwise', got {kind!r}.")
    gauss = gaussian_weights(sigma, grid, dtype, device)
    cut = gauss.detach() <= cut_threshold
    weights = gauss if kind == 'gaussian' else laplacian_weights(
        sigma, grid, dtype, device)
    table = weights.masked_fill(cut, 0.)
    cut_table = torch.zeros_like(table).masked_fill(cut, CUT_VALUE)
    return table, cut_table


class LocalityPrior(nn.Module):
    """Produces the locality tables ``(G, C)`` for one forward pass.

    Args:
        kind (str): one of ``'gaussian'``, ``'laplacian'``, ``'global'``
            (no tables: plain scaled logits), ``'learnable'`` (Gaussian with
            a trained log-sigma), ``'query_adaptive'`` (Gaussian whose sigma
            is predicted per sample from the pooled aligned query) or
            ``'patchwise'`` (CONDENSER-style same-position attention).
        embed_dims (int): token width, used by the query-adaptive head.
        sigma (float): Gaussian/Laplace scale; the initial value for the
            learnable kinds. Defaults to 0.65.
        grid (int): side of the token block. Defaults to 7.
        cut_threshold (float): cut level on the normalised Gaussian.
            Defaults to 0.01.
    """

    def __init__(self,
                 kind: str,
                 embed_dims: int,
                 sigma: float = 0.65,
                 grid: int = 7,
                 cut_threshold: float = 0.01) -> None:
        super().__init__()
        if kind not in LOCALITY_KINDS:
            raise ValueError(f'locality={kind!r} is not supported; choose '
                             f'one of {LOCALITY_KINDS}.')
        if not (isinstance(sigma, (int, float)) and sigma > 0):
            raise ValueError(f'sigma must be a positive number, got '
                             f'{sigma!r}.')
        if not 0 <= cut_threshold < 1:
            raise ValueError(f'cut_threshold must be in [0, 1), got '
                             f'{cut_threshold!r}.')
        self.kind = kind
        self.sigma = float(sigma)
        self.grid = grid
        self.cut_threshold = cut_threshold
        if kind in ('gaussian', 'laplacian', 'patchwise'):
            table, cut_table = locality_tables(kind, self.sigma, grid,
                                               cut_threshold)
            # Derived from the config, so kept out of the state dict.
            self.register_buffer('table', table.float(), persistent=False)
            self.register_buffer(
                'cut_table', cut_table.float(), persistent=False)
        elif kind == 'learnable':
            self.log_sigma = nn.Parameter(torch.tensor(math.log(self.sigma)))
        elif kind == 'query_adaptive':
            # Zero init: training starts from the hand-tuned sigma.
            self.sigma_head = nn.Linear(embed_dims, 1)
            nn.init.zeros_(self.sigma_head.weight)
            nn.init.zeros_(self.sigma_head.bias)

    def current_sigma(self, query: Optional[Tensor] = None) -> Tensor:
        """Sigma used by the learnable kinds.

        Args:
            query (Tensor, optional): aligned query tokens (B, L, D); needed
                for ``'query_adaptive'``.

        Returns:
            Tensor: a scalar (``'learnable'``) or shape (B,).
        """
        if self.kind == 'learnable':
            log_sigma = self.log_sigma
        elif self.kind == 'query_adaptive':
            if query is None:
                raise ValueError('query_adaptive locality needs the query '
                                 'tokens to predict sigma.')
            pooled = query.mean(dim=1)
            log_sigma = math.log(self.sigma) + self.sigma_head(pooled)[:, 0]
        else:
            raise ValueError(f'locality={self.kind!r} has no learnable '
                             f'sigma.')
        return log_sigma.exp().clamp(_SIGMA_MIN, _SIGMA_MAX)

    def forward(self, query: Tensor) -> Optional[Tuple[Tensor, Tensor]]:
        """Tables for this batch.

        Args:
            query (Tensor): aligned query tokens (B, L, D).

        Returns:
            tuple[Tensor, Tensor] | None: ``G`` and ``C`` of shape (L, L) or
            (B, L, L); None for ``'global'``.
        """
        if self.kind == 'global':
            return None
        if self.kind in ('learnable', 'query_adaptive'):
            sigma = self.current_sigma(query)
            if sigma.dtype not in (torch.float32, torch.float64):
                # Half precision (autocast) is too coarse for the tables.
                sigma = sigma.float()
            return locality_tables('gaussian', sigma, self.grid,
                                   self.cut_threshold)
        return self.table, self.cut_table

    def extra_repr(self) -> str:
        return (f'kind={self.kind}, sigma={self.sigma}, grid={self.grid}, '
                f'cut_threshold={self.cut_threshold}')
