"""L_s: the fused prompt tokens against the query pair's targets."""
from typing import Optional

from torch import Tensor

from projects.prompthub.registry import MODELS
from .loss_utils import CanvasTokenLoss, token_prediction_loss
from .token_blocks import token_block_ids


@MODELS.register_module()
class SemanticAlignmentLoss(CanvasTokenLoss):
    """Semantic alignment loss L_s of PromptHub.

    Cross-entropy between the decoder logits at the prompt half (TL and TR,
    ``2*grid*grid`` tokens) and the target codes there. The target canvas
    has the query pair in both halves, so the fused prompt must reproduce
    the query pair's codes. With float pixel targets (B, L, V) the
    per-token term is the binary cross-entropy with logits averaged over
    the token's V pixel values (see :func:`token_prediction_loss`).

    Args:
        reduction (str): ``'none'`` (shape (B, 2*grid*grid)), ``'mean'`` or
            ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): multiplier (lambda). Defaults to 0.5, the
            reference value.
        match_reference (bool): divide every term by the batch size B once
            more, as the reference does (its effective weight is lambda / B).
            B is
            the global batch: under DDP the sum of the processes' batches,
            so N processes optimise what one process does with the whole
            batch. Set False for the plain mean. Defaults to True.
        grid (int): canvas block side. Defaults to 7.
        loss_name (str): Defaults to ``'loss_s'``.
    """

    def __init__(self,
                 reduction: str = 'mean',
                 loss_weight: float = 0.5,
                 match_reference: bool = True,
                 grid: int = 7,
                 loss_name: str = 'loss_s') -> None:
        super().__init__(reduction, loss_weight, grid, loss_name)
        self.match_reference = match_reference

    def elementwise(self, logits: Tensor, target: Optional[Tensor],
                    batch_size: int) -> Tensor:
        ids = token_block_ids('TOP', self.grid, logits.device)
        loss = token_prediction_loss(logits[:, ids], target[:, ids])
        if self.match_reference:
            # The global batch: under DDP the per-process batch would
            # multiply the reference's term by the number of processes.
            loss = loss / batch_size
        return loss

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, '
                f'match_reference={self.match_reference}')
