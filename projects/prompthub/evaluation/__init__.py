from .functional import (binarize, cell_size, colorization_mse, fg_iou_stats,
                         fill_largest_component_box, iou_from_stats,
                         query_label_cell, stack_pixel_data)
from .metrics import ColorizationMSE, VICLIoUMetric

__all__ = [
    'ColorizationMSE', 'VICLIoUMetric', 'binarize', 'cell_size',
    'colorization_mse', 'fg_iou_stats', 'fill_largest_component_box',
    'iou_from_stats', 'query_label_cell', 'stack_pixel_data'
]
