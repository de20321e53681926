from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from projects.prompthub.registry import METRICS
from projects.prompthub.structures import BINARIZE_MODES, binarize
from ..functional import (fg_iou_stats, fill_largest_component_box,
                          iou_from_stats, stack_pixel_data)
from ..prediction_io import PredictionWriter, WritesPredictionsMixin


@METRICS.register_module()
class VICLIoUMetric(WritesPredictionsMixin, BaseMetric):
    """Per-image foreground IoU of visual in-context learning papers.

    This is the "mIoU" of Visual Prompting, InMeMo and PromptHub
    (docs/method.md, section 9.2):
    both the predicted and the ground-truth query-label cells (uint8 RGB,
    already cropped by the model) are binarised to white/black, foreground
    is white, the IoU of the two foregrounds is computed **per image** and
    averaged over images, reported x100.

    For ``task='detection'`` the largest 8-connected white component of the
    binarised prediction is replaced by its filled bounding box before the
    IoU (reference ``to_rectangle``; all background if there is none). The
    ground truth is binarised but not box-filled. Of components tied for
    the largest area, ``mode='reference'`` keeps the one the reference keeps
    (the highest cv2 label) and ``'threshold'`` the first in raster order
    (see :func:`..functional.fill_largest_component_box`).

    The reference divides 0 by 0 when both maps are empty and lets the NaN
    poison the mean; here such an image scores ``empty_score`` and is
    counted in ``num_empty``. The default 1.0 treats a correctly empty
    prediction as perfect. With no such image (as in the published runs,
    whose means are finite) the result does not depend on ``empty_score``.

    Output keys (under ``prefix``, default ``'vicl'``):

    - ``mIoU``: mean per-image foreground IoU x100 (the papers' number);
    - ``fgIoU``: dataset-level foreground IoU x100 (summed intersections
      over summed unions, mmseg's way of pooling);
    - ``num_empty``: how many images had empty prediction and ground truth.

    ``process`` stores four integers per image, so results are tiny and
    ``compute_metrics`` depends on nothing but the gathered list.

    With ``output_dir`` (what ``tools/test.py --out DIR`` sets), every
    rank also writes each query's scored mask (the binarised, for
    detection box-filled, prediction) resized to the query's
    ``ori_shape`` (nearest) as ``{output_dir}/{stem}.png`` (0/255; stem
    from :func:`~projects.prompthub.evaluation.prediction_io.sample_stem`),
    and the main process writes ``{output_dir}/scores.json`` with the
    logged metrics and each image's ``intersection``, ``union``,
    ``pred_area``, ``gt_area`` (pixels of the scored cells) and ``iou``
    (in [0, 1]; ``mIoU`` is their mean x100). The scores do not depend
    on ``output_dir``.

    Args:
        mode (str): Binarisation, ``'reference'`` (the reference's uint8
            wrap-around rounding, needed to match published numbers) or
            ``'threshold'`` (the intended nearest-colour rule). See
            :func:`~projects.prompthub.structures.binarize`.
            Defaults to ``'reference'``.
        task (str): ``'segmentation'`` or ``'detection'``. Defaults to
            ``'segmentation'``.
        empty_score (float): IoU given to an image whose prediction and
            ground truth are both empty, in [0, 1]. Defaults to 1.0.
        pred_key (str): Data-sample field with the predicted cell, uint8
            (3, S, S). Defaults to ``'pred_label_img'``.
        gt_key (str): Data-sample field with the target cell, uint8
            (3, S, S). Defaults to ``'gt_label_img'``.
        collect_device (str): Device for collecting results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names; ``'vicl'`` when
            None, which keeps ``mIoU`` apart from mmseg ``IoUMetric``'s in
            one evaluator. Defaults to None.
        output_dir (str, optional): Folder of the per-query masks and
            ``scores.json`` (see above). Defaults to None (nothing
            written).
    """

    default_prefix: Optional[str] = 'vicl'
    #: ``tools/test.py --out`` sets ``output_dir`` (see
    #: :func:`~projects.prompthub.apis.test_outputs.set_prediction_output`).
    TASKS = ('segmentation', 'detection')

    def __init__(self,
                 mode: str = 'reference',
                 task: str = 'segmentation',
                 empty_score: float = 1.0,
                 pred_key: str = 'pred_label_img',
                 gt_key: str = 'gt_label_img',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 output_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if mode not in BINARIZE_MODES:
            raise ValueError(
                f'mode must be one of {BINARIZE_MODES}, got {mode!r}')
        if task not in self.TASKS:
            raise ValueError(f'task must be one of {self.TASKS}, got {task!r}')
        empty_score = float(empty_score)
        if not 0.0 <= empty_score <= 1.0:
            raise ValueError(f'empty_score must be in [0, 1], got '
                             f'{empty_score}')
        self.mode = mode
        self.task = task
        self.empty_score = empty_score
        self.pred_key = pred_key
        self.gt_key = gt_key
        self.output_dir = output_dir
        self.writer = None if output_dir is None else PredictionWriter(
            output_dir, 'mask')

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Store ``(intersection, union, pred_area, gt_area)`` per image.

        With ``output_dir`` each row also carries the record of the mask
        file written for the image.

        Args:
            data_batch (dict): A batch from the dataloader (unused).
            data_samples (Sequence[dict]): The model's outputs, each with
                ``pred_key`` and ``gt_key`` uint8 (3, S, S) images.
        """
        if len(data_samples) == 0:
            return
        pred = binarize(
            stack_pixel_data(data_samples, self.pred_key), self.mode)
        gt = binarize(stack_pixel_data(data_samples, self.gt_key), self.mode)
        if self.task == 'detection':
            # The reference's tie rule belongs to its quirks ('reference').
            pred = fill_largest_component_box(
                pred,
                tie_break='reference'
                if self.mode == 'reference' else 'raster')
        stats = fg_iou_stats(pred, gt)
        if self.writer is None:
            self.results.extend(tuple(row) for row in stats.tolist())
            return
        for sample, mask, row in zip(data_samples, pred, stats.tolist()):
            self.results.append((*row, self.writer.write(sample, mask)))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Aggregate the per-image counts.

        Args:
            results (list): ``(intersection, union, pred_area, gt_area)``
                tuples, one per image, from all ranks (plus the file
                record with ``output_dir``).

        Returns:
            dict: ``mIoU`` and ``fgIoU`` (percent, float) and ``num_empty``
            (int). With no images both scores are 0.0.
        """
        stats = np.asarray([row[:4] for row in results],
                           dtype=np.int64).reshape(-1, 4)
        inter, union = stats[:, 0], stats[:, 1]
        num_empty = int((union == 0).sum())
        if len(stats) == 0:
            metrics = dict(mIoU=0.0, fgIoU=0.0, num_empty=0)
            per_image = np.zeros(0)
        else:
            per_image = iou_from_stats(inter, union, self.empty_score)
            pooled = iou_from_stats(inter.sum(), union.sum(), self.empty_score)
            metrics = dict(
                mIoU=float(per_image.mean() * 100),
                fgIoU=float(pooled * 100),
                num_empty=num_empty)
        if self.writer is not None:
            self.writer.write_scores([row[4] for row in results],
                                     dict(
                                         intersection=inter.tolist(),
                                         union=union.tolist(),
                                         pred_area=stats[:, 2].tolist(),
                                         gt_area=stats[:, 3].tolist(),
                                         iou=[float(v) for v in per_image]), {
                                             f'{self.prefix}/{k}': v
                                             for k, v in metrics.items()
                                         },
                                     dict(
                                         type=type(self).__name__,
                                         mode=self.mode,
                                         task=self.task,
                                         empty_score=self.empty_score))
        return metrics
