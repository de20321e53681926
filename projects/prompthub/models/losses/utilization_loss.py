"""L_u: cosine agreement between query-half and prompt-half predictions."""
from typing import Optional

from torch import Tensor

from projects.prompthub.registry import MODELS
from .loss_utils import CanvasTokenLoss
from .token_blocks import token_block_ids


@MODELS.register_module()
class UtilizationLoss(CanvasTokenLoss):
    """Utilization loss L_u of PromptHub.

    For every position (r, c) of a block, ``1 - cos`` between the decoder
    logit vectors (over the vocabulary) of the query half and the same
    (r, c) of the prompt half: BL against TL and BR against TR. The cosine
    is that of ``F.cosine_embedding_loss``; the vectors are whatever the
    backbone predicts per token (code logits of the MAE-VQGAN, pixel
    logits of ``TinyVICLBackbone``), so the term is defined for both:
    ``<a, b> / sqrt((|a|^2 + eps) * (|b|^2 + eps))``. Needs no target.

    Args:
        reduction (str): ``'none'`` (shape (B, grid*grid), the two terms
            combined per position), ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): multiplier (gamma). Defaults to 0.2, the
            reference value.
        match_reference (bool): sum the image and label terms, as the reference
            does; False averages them. Defaults to True.
        eps (float): added to the squared norms. Defaults to 1e-12.
        grid (int): canvas block side. Defaults to 7.
        loss_name (str): Defaults to ``'loss_u'``.
    """

    needs_target = False

    def __init__(self,
                 reduction: str = 'mean',
                 loss_weight: float = 0.2,
                 match_reference: bool = True,
                 eps: float = 1e-12,
                 grid: int = 7,
                 loss_name: str = 'loss_u') -> None:
        super().__init__(reduction, loss_weight, grid, loss_name)
        self.match_reference = match_reference
        self.eps = eps

    def _one_minus_cos(self, logits: Tensor, block_a: str,
                       block_b: str) -> Tensor:
        a = logits[:, token_block_ids(block_a, self.grid, logits.device)]
        b = logits[:, token_block_ids(block_b, self.grid, logits.device)]
        dot = (a * b).sum(dim=-1)
        norms = ((a * a).sum(dim=-1) + self.eps) * (
            (b * b).sum(dim=-1) + self.eps)
        return 1 - dot / norms.sqrt()

    def elementwise(self, logits: Tensor, target: Optional[Tensor],
                    batch_size: int) -> Tensor:
        loss = (
            self._one_minus_cos(logits, 'BL', 'TL') +
            self._one_minus_cos(logits, 'BR', 'TR'))
        return loss if self.match_reference else loss / 2

    def extra_repr(self) -> str:
        return (
            f'{super().extra_repr()}, match_reference={self.match_reference}, '
            f'eps={self.eps}')
