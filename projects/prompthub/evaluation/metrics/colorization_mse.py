from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from projects.prompthub.registry import METRICS
from ..functional import (IMAGENET_MEAN, IMAGENET_STD, colorization_mse,
                          stack_pixel_data)


@METRICS.register_module()
class ColorizationMSE(BaseMetric):
    """Colourisation MSE on the scale the VICL papers report (spec §8).

    Both uint8 query-label cells (already cropped by the model) are divided
    by 255 and normalised with ``(x - mean) / std`` in float64; the squared
    differences are averaged over channels and pixels per image, and the
    per-image values are averaged over the dataset. Lower is better.

    Output key (under ``prefix``, default ``'vicl'``): ``mse``.

    Args:
        mean (Sequence[float]): Per-channel mean. Defaults to ImageNet's.
        std (Sequence[float]): Per-channel std. Defaults to ImageNet's.
        pred_key (str): Data-sample field with the predicted cell, uint8
            (3, S, S). Defaults to ``'pred_label_img'``.
        gt_key (str): Data-sample field with the target cell, uint8
            (3, S, S). Defaults to ``'gt_label_img'``.
        collect_device (str): Device for collecting results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names; ``'vicl'`` when
            None. Defaults to None.
    """

    default_prefix: Optional[str] = 'vicl'

    def __init__(self,
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 pred_key: str = 'pred_label_img',
                 gt_key: str = 'gt_label_img',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if len(mean) != len(std):
            raise ValueError('mean and std must have the same length')
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.pred_key = pred_key
        self.gt_key = gt_key

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Store one float64 MSE per image.

        Args:
            data_batch (dict): A batch from the dataloader (unused).
            data_samples (Sequence[dict]): The model's outputs, each with
                ``pred_key`` and ``gt_key`` uint8 (3, S, S) images.
        """
        if len(data_samples) == 0:
            return
        mse = colorization_mse(
            stack_pixel_data(data_samples, self.pred_key),
            stack_pixel_data(data_samples, self.gt_key), self.mean, self.std)
        self.results.extend(float(v) for v in mse)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Average the per-image MSEs.

        Args:
            results (list): One float per image, from all ranks.

        Returns:
            dict: ``mse`` (float; 0.0 with no images).
        """
        if len(results) == 0:
            return dict(mse=0.0)
        return dict(mse=float(np.mean(np.asarray(results, np.float64))))
