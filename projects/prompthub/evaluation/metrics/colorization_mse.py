from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from projects.prompthub.registry import METRICS
from projects.prompthub.structures import IMAGENET_MEAN, IMAGENET_STD
from ..functional import colorization_mse, stack_pixel_data
from ..prediction_io import PredictionWriter, WritesPredictionsMixin


@METRICS.register_module()
class ColorizationMSE(WritesPredictionsMixin, BaseMetric):
    """Colourisation MSE on the scale the VICL papers report (docs/method.md,
    section 9.4).

    Both uint8 query-label cells (already cropped by the model) are divided
    by 255 and normalised with ``(x - mean) / std`` in float64; the squared
    differences are averaged over channels and pixels per image, and the
    per-image values are averaged over the dataset. Lower is better.

    Output key (under ``prefix``, default ``'vicl'``): ``mse``.

    With ``output_dir`` (what ``tools/test.py --out DIR`` sets), every
    rank also writes each query's predicted colour cell resized to the
    query's ``ori_shape`` (bicubic) as ``{output_dir}/{stem}.png``, and
    the main process writes ``{output_dir}/scores.json`` with the logged
    metric and each image's ``mse`` (``mse`` is their mean). The score
    does not depend on ``output_dir``.

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
        output_dir (str, optional): Folder of the per-query predictions
            and ``scores.json``. Defaults to None (nothing written).
    """

    default_prefix: Optional[str] = 'vicl'

    #: ``tools/test.py --out`` sets ``output_dir`` (see
    #: :func:`~projects.prompthub.apis.test_outputs.set_prediction_output`).

    def __init__(self,
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 pred_key: str = 'pred_label_img',
                 gt_key: str = 'gt_label_img',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 output_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if len(mean) != len(std):
            raise ValueError('mean and std must have the same length')
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.pred_key = pred_key
        self.gt_key = gt_key
        self.output_dir = output_dir
        self.writer = None if output_dir is None else PredictionWriter(
            output_dir, 'image')

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Store one float64 MSE per image.

        Args:
            data_batch (dict): A batch from the dataloader (unused).
            data_samples (Sequence[dict]): The model's outputs, each with
                ``pred_key`` and ``gt_key`` uint8 (3, S, S) images.
        """
        if len(data_samples) == 0:
            return
        pred = stack_pixel_data(data_samples, self.pred_key)
        mse = colorization_mse(pred, stack_pixel_data(data_samples,
                                                      self.gt_key), self.mean,
                               self.std)
        if self.writer is None:
            self.results.extend(float(v) for v in mse)
            return
        for sample, cell, value in zip(data_samples, pred, mse):
            self.results.append((float(value), self.writer.write(sample,
                                                                 cell)))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Average the per-image MSEs.

        Args:
            results (list): One float per image, from all ranks (with
                ``output_dir``: ``(float, file record)`` pairs).

        Returns:
            dict: ``mse`` (float; 0.0 with no images).
        """
        values = results if self.writer is None else [r[0] for r in results]
        if len(values) == 0:
            metrics = dict(mse=0.0)
        else:
            metrics = dict(mse=float(np.mean(np.asarray(values, np.float64))))
        if self.writer is not None:
            self.writer.write_scores([r[1] for r in results],
                                     dict(mse=list(values)), {
                                         f'{self.prefix}/{k}': v
                                         for k, v in metrics.items()
                                     },
                                     dict(
                                         type=type(self).__name__,
                                         mean=self.mean,
                                         std=self.std))
        return metrics
