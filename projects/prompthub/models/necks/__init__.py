from .conv_fusion_neck import ConvFusionNeck
from .locality_attention import LocalityCrossAttention
from .locality_fusion_neck import LocalityFusionNeck
from .locality_tables import (LocalityPrior, gaussian_weights,
                              laplacian_weights, locality_tables)
from .patchwise_fusion_neck import PatchwiseFusionNeck

__all__ = [
    'LocalityFusionNeck', 'PatchwiseFusionNeck', 'ConvFusionNeck',
    'LocalityCrossAttention', 'LocalityPrior', 'gaussian_weights',
    'laplacian_weights', 'locality_tables'
]
