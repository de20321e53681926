from .loss_utils import (CanvasTokenLoss, token_prediction_loss,
                         weight_reduce_loss)
from .prediction_loss import PredictionLoss
from .semantic_alignment_loss import SemanticAlignmentLoss
from .token_blocks import TOKEN_BLOCKS, token_block_ids
from .utilization_loss import UtilizationLoss

__all__ = [
    'PredictionLoss', 'SemanticAlignmentLoss', 'UtilizationLoss',
    'CanvasTokenLoss', 'weight_reduce_loss', 'token_prediction_loss',
    'TOKEN_BLOCKS', 'token_block_ids'
]
