from .colorization_mse import ColorizationMSE
from .vicl_iou_metric import VICLIoUMetric

__all__ = ['ColorizationMSE', 'VICLIoUMetric']
