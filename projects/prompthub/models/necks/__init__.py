from .conv_fusion_neck import ConvFusionNeck
from .fast_locality_fusion_neck import FastLocalityFusionNeck
from .locality_attention import LocalityCrossAttention
from .locality_fusion_neck import LocalityFusionNeck
from .locality_tables import (LocalityPrior, gaussian_weights,
                              laplacian_weights, locality_tables)
from .pass_through_init import PassThroughInit

__all__ = [
    'LocalityFusionNeck', 'FastLocalityFusionNeck', 'ConvFusionNeck',
    'PassThroughInit', 'LocalityCrossAttention', 'LocalityPrior',
    'gaussian_weights', 'laplacian_weights', 'locality_tables'
]
