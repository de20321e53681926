"""Input checks and reductions shared by the PromptHub losses."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import get_world_size
from torch import Tensor

from projects.prompthub.utils.distributed import global_batch_size


def check_canvas_logits(logits: Tensor, target: Optional[Tensor], grid: int,
                        loss_name: str) -> None:
    """Validate decoder logits (B, L, V) and their targets.

    Two kinds of targets are accepted: int64 code indices (B, L) of a
    code-predicting backbone (MAE-VQGAN), or float pixel targets (B, L, V)
    in [0, 1] of a pixel-predicting backbone (``TinyVICLBackbone``).

    Raises:
        ValueError: on wrong shapes, dtypes or out-of-range values, naming
            the loss and the offending tensor.
    """
    num_tokens = 4 * grid * grid
    if logits.dim() != 3 or logits.shape[1] != num_tokens:
        raise ValueError(
            f'{loss_name}: logits must have shape [B, {num_tokens}, V] '
            f'(decoder logits of the {2 * grid}x{2 * grid} canvas), got '
            f'{tuple(logits.shape)}.')
    if target is None:
        return
    if target.is_floating_point() and target.dim() == 3:
        if target.shape != logits.shape:
            raise ValueError(
                f'{loss_name}: float (pixel) targets must have the shape '
                f'of the logits {tuple(logits.shape)}, got '
                f'{tuple(target.shape)}.')
        if target.numel() and (target.min() < 0 or target.max() > 1):
            raise ValueError(
                f'{loss_name}: pixel targets must be in [0, 1], got values '
                f'in [{float(target.min())}, {float(target.max())}].')
        return
    if target.shape != logits.shape[:2]:
        raise ValueError(
            f'{loss_name}: target must have shape {tuple(logits.shape[:2])} '
            f'(one codebook index per canvas token), got '
            f'{tuple(target.shape)}.')
    if target.dtype != torch.long:
        raise ValueError(f'{loss_name}: target must be int64 code indices, '
                         f'got dtype {target.dtype}; use target.long().')
    if target.numel() and (target.min() < 0
                           or target.max() >= logits.shape[2]):
        raise ValueError(
            f'{loss_name}: target codes must be in [0, {logits.shape[2]}) '
            f'(the vocabulary size of the logits), got values in '
            f'[{int(target.min())}, {int(target.max())}].')


def token_prediction_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Per-token loss of selected canvas tokens, for either target kind.

    Args:
        logits (Tensor): (B, n, V) logits of n tokens.
        target (Tensor): int64 codes (B, n): cross-entropy over the V
            codes; or float pixels (B, n, V) in [0, 1]: binary
            cross-entropy with logits, averaged over the V pixel values
            of each token.

    Returns:
        Tensor: (B, n) unreduced loss.
    """
    if target.is_floating_point():
        return F.binary_cross_entropy_with_logits(
            logits, target, reduction='none').mean(dim=-1)
    return F.cross_entropy(logits.transpose(1, 2), target, reduction='none')


def weight_reduce_loss(loss: Tensor,
                       weight: Optional[Tensor] = None,
                       reduction: str = 'mean',
                       avg_factor: Optional[float] = None) -> Tensor:
    """Element-wise weighting and reduction (mmseg/mmdet semantics).

    Args:
        loss (Tensor): element-wise loss.
        weight (Tensor, optional): element-wise weight, broadcastable to
            ``loss``.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor (float, optional): divisor replacing the element count
            for ``'mean'``.

    Returns:
        Tensor: the reduced loss.
    """
    if reduction not in ('none', 'mean', 'sum'):
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got "
                         f'{reduction!r}.')
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        if reduction == 'mean':
            return loss.mean()
        return loss.sum() if reduction == 'sum' else loss
    if reduction == 'mean':
        eps = torch.finfo(torch.float32).eps
        return loss.sum() / (avg_factor + eps)
    if reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum".')
    return loss


def data_parallel_factor(reduction: str, local_batch: int, global_batch: int,
                         world_size: int) -> float:
    """Scale of a process's loss so that DDP optimises the global objective.

    DDP averages the gradients of the W processes, i.e. it optimises the
    mean over processes of their losses. For that mean to be the loss of
    one process on the global batch ``B = sum_r b_r``, process r must
    return W times its share of the global reduction:

    - ``'mean'`` over the ``n`` elements of each sample: the global mean
      is ``sum_all / (n B)``, so process r returns
      ``W sum_r / (n B) = mean_r * W b_r / B`` (factor 1 when every
      process has the same batch);
    - ``'sum'``: process r returns ``W sum_r``.

    Args:
        reduction (str): ``'mean'`` or ``'sum'`` (``'none'`` is reduced by
            the caller and gets 1).
        local_batch (int): This process's batch size b_r.
        global_batch (int): B, the sum over processes.
        world_size (int): W.

    Returns:
        float: The factor; exactly 1.0 on one process.
    """
    if reduction == 'mean':
        return world_size * local_batch / global_batch
    if reduction == 'sum':
        return float(world_size)
    return 1.0


class CanvasTokenLoss(nn.Module):
    """Base of the losses on canvas-token decoder logits.

    Subclasses implement :meth:`elementwise`; this class validates inputs,
    weights, reduces and scales by ``loss_weight`` (mmseg conventions).

    Under DDP (W processes) the ``'mean'`` and ``'sum'`` reductions are
    scaled by :func:`data_parallel_factor` and :meth:`elementwise` gets
    the global batch size, so the gradient DDP averages equals that of
    one process on the global batch; on one process nothing changes.
    ``avg_factor`` and ``'none'`` are left to the caller, as in mmseg.

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
        grid (int): canvas block side (7 for 14x14 tokens). Defaults to 7.
        loss_name (str): key of the term in the loss dict; must start with
            ``loss_`` to be back-propagated. Defaults to ``'loss_canvas'``.
    """

    needs_target = True

    def __init__(self,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 grid: int = 7,
                 loss_name: str = 'loss_canvas') -> None:
        super().__init__()
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f"reduction must be 'none', 'mean' or 'sum', "
                             f'got {reduction!r}.')
        if not loss_name.startswith('loss_'):
            raise ValueError(f"loss_name must start with 'loss_' to join "
                             f'the backward graph, got {loss_name!r}.')
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.grid = grid
        self._loss_name = loss_name

    def elementwise(self, logits: Tensor, target: Optional[Tensor],
                    batch_size: int) -> Tensor:
        """Unreduced loss from fp32 logits (b, L, V) and the targets.

        ``batch_size`` is the global batch size B (the sum over the DDP
        processes; ``b`` on one process), for terms normalised by it.
        """
        raise NotImplementedError

    def forward(self,
                logits: Tensor,
                target: Optional[Tensor] = None,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """Compute the weighted loss.

        Args:
            logits (Tensor): decoder logits (B, 4*grid*grid, V); cast to
                fp32.
            target (Tensor, optional): the backbone's prediction targets
                of the target canvas: int64 codes (B, 4*grid*grid) (VQGAN
                codes) or float pixels (B, 4*grid*grid, V) in [0, 1].
            weight (Tensor, optional): element-wise weight, broadcastable to
                the unreduced loss.
            avg_factor (float, optional): divisor for ``'mean'``.
            reduction_override (str, optional): overrides ``reduction``.

        Returns:
            Tensor: the loss (scalar unless the reduction is ``'none'``).
        """
        if self.needs_target and target is None:
            raise ValueError(f'{self.loss_name} needs the targets.')
        check_canvas_logits(logits, target if self.needs_target else None,
                            self.grid, self.loss_name)
        reduction = reduction_override or self.reduction
        batch = logits.shape[0]
        world_size = get_world_size()
        global_batch = global_batch_size(batch, logits.device)
        loss = self.elementwise(logits.float(), target, global_batch)
        loss = weight_reduce_loss(loss, weight, reduction, avg_factor)
        if world_size > 1 and avg_factor is None:
            loss = loss * data_parallel_factor(reduction, batch, global_batch,
                                               world_size)
        return self.loss_weight * loss

    @property
    def loss_name(self) -> str:
        """Name of the term in the loss dict."""
        return self._loss_name

    def extra_repr(self) -> str:
        return (f'reduction={self.reduction}, loss_weight='
                f'{self.loss_weight}, loss_name={self.loss_name}')
