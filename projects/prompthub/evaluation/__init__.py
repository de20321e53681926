from projects.prompthub.structures import binarize, cell_size, query_label_cell
from .functional import (colorization_mse, fg_iou_stats,
                         fill_largest_component_box, iou_from_stats,
                         stack_pixel_data)
from .metrics import ColorizationMSE, VICLIoUMetric

# binarize, cell_size and query_label_cell are defined in structures and
# stay importable from here, where users of the metrics found them.
__all__ = [
    'ColorizationMSE', 'VICLIoUMetric', 'binarize', 'cell_size',
    'colorization_mse', 'fg_iou_stats', 'fill_largest_component_box',
    'iou_from_stats', 'query_label_cell', 'stack_pixel_data'
]
