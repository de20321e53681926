"""L_p: prediction loss of the query-label (BR) tokens."""
from typing import Optional

from torch import Tensor

from projects.prompthub.registry import MODELS
from .loss_utils import CanvasTokenLoss, token_prediction_loss
from .token_blocks import token_block_ids


@MODELS.register_module()
class PredictionLoss(CanvasTokenLoss):
    """Prediction loss L_p of PromptHub.

    Cross-entropy between the decoder logits at the ``grid*grid`` BR
    (query label) tokens and the target codes there; with ``'mean'`` it is
    the mean over the B*49 tokens (the reference's value: its extra 1/B
    cancels for this term). With float pixel targets (B, L, V) of a
    pixel-predicting backbone, the per-token loss is the binary
    cross-entropy with logits averaged over the token's V pixel values
    (see :func:`token_prediction_loss`).

    Args:
        reduction (str): ``'none'`` (shape (B, grid*grid)), ``'mean'`` or
            ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): multiplier. Defaults to 1.0.
        grid (int): canvas block side. Defaults to 7.
        loss_name (str): Defaults to ``'loss_p'``.
    """

    def __init__(self,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 grid: int = 7,
                 loss_name: str = 'loss_p') -> None:
        super().__init__(reduction, loss_weight, grid, loss_name)

    def elementwise(self, logits: Tensor, target: Optional[Tensor],
                    batch_size: int) -> Tensor:
        ids = token_block_ids('BR', self.grid, logits.device)
        return token_prediction_loss(logits[:, ids], target[:, ids])
