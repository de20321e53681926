import pickle

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.evaluation import IoUMetric
from mmseg.structures import SegDataSample

from projects.prompthub.evaluation import VICLIoUMetric, binarize
from projects.prompthub.registry import METRICS

S = 6
FG, BG = 250, 10  # white / black in both binarisation modes
CLASSES = ('background', 'foreground')


def label_img(fg: np.ndarray, fg_value: int = FG) -> torch.Tensor:
    """uint8 (3, H, W) label image, ``fg_value`` gray on ``fg``, else BG."""
    img = np.where(fg, fg_value, BG).astype(np.uint8)
    return torch.from_numpy(np.repeat(img[None], 3, axis=0))


def make_sample(pred_fg, gt_fg, pred_value: int = FG) -> SegDataSample:
    """A data sample as the model's ``predict`` returns it."""
    pred, gt = label_img(pred_fg, pred_value), label_img(gt_fg)
    sample = SegDataSample()
    sample.pred_label_img = PixelData(data=pred)
    sample.gt_label_img = PixelData(data=gt)
    # The model writes these with the same binarisation (docs/design.md).
    sample.pred_sem_seg = PixelData(data=binarize(pred)[None].long())
    sample.gt_sem_seg = PixelData(data=binarize(gt)[None].long())
    return sample


def masks_abc():
    """Three hand-made cases.

    A: pred rows 0-1 x cols 0-2 (6 px), gt rows 1-2 x cols 0-2 (6 px):
       intersection 3, union 9, IoU 1/3.
    B: both empty (0 / 0).
    C: pred 2 px, gt empty: IoU 0, union 2.
    """
    z = np.zeros((S, S), dtype=bool)
    pa, ga = z.copy(), z.copy()
    pa[0:2, 0:3] = True
    ga[1:3, 0:3] = True
    pc = z.copy()
    pc[5, 4:6] = True
    return [(pa, ga), (z, z), (pc, z)]


def samples_abc(as_dict: bool = True):
    samples = [make_sample(p, g) for p, g in masks_abc()]
    return [s.to_dict() for s in samples] if as_dict else samples


class TestVICLIoUMetric:

    def test_hand_computed(self):
        metric = VICLIoUMetric()
        metric.process({}, samples_abc())
        assert metric.results == [(3, 9, 6, 6), (0, 0, 0, 0), (0, 2, 2, 0)]
        out = metric.evaluate(3)
        assert set(out) == {'vicl/mIoU', 'vicl/fgIoU', 'vicl/num_empty'}
        assert out['vicl/mIoU'] == pytest.approx((1 / 3 + 1 + 0) / 3 * 100)
        assert out['vicl/fgIoU'] == pytest.approx(3 / 11 * 100)
        assert out['vicl/num_empty'] == 1
        assert metric.results == []  # cleared by evaluate

    def test_empty_score(self):
        metric = VICLIoUMetric(empty_score=0.0, prefix='seg')
        metric.process({}, samples_abc())
        out = metric.evaluate(3)
        assert out['seg/mIoU'] == pytest.approx((1 / 3) / 3 * 100)
        assert out['seg/num_empty'] == 1
        # Only empty images: finite, never NaN.
        metric.process({}, samples_abc()[1:2])
        out = metric.evaluate(1)
        assert out['seg/mIoU'] == 0.0 and out['seg/fgIoU'] == 0.0

    def test_modes_differ_on_scrambled_gray(self):
        # Gray 15 is white under 'reference' and black under 'threshold'.
        pa, ga = masks_abc()[0]
        sample = make_sample(pa, ga, pred_value=15).to_dict()
        reference = VICLIoUMetric(mode='reference')
        reference.process({}, [sample])
        assert reference.results == [(3, 9, 6, 6)]
        threshold = VICLIoUMetric(mode='threshold')
        threshold.process({}, [sample])
        assert threshold.results == [(0, 6, 0, 6)]

    def test_detection_box_fill(self):
        z = np.zeros((8, 8), dtype=bool)
        pred, gt = z.copy(), z.copy()
        pred[1, 1] = pred[1, 2] = pred[2, 1] = True  # L: box rows/cols 1-2
        pred[6, 6] = True  # smaller component, dropped
        gt[1:4, 1:3] = True  # 6 px
        gt[6, 0] = True  # second gt component, must not be box-filled
        samples = [make_sample(pred, gt).to_dict()]
        det = VICLIoUMetric(task='detection')
        det.process({}, samples)
        # Box = 4 px inside the gt; gt 7 px; IoU 4 / 7.
        assert det.results == [(4, 7, 4, 7)]
        seg = VICLIoUMetric(task='segmentation')
        seg.process({}, samples)
        # Raw prediction: 3 of its 4 px in the gt, union 7 + 1.
        assert seg.results == [(3, 8, 4, 7)]
        # No white component: the box is empty.
        det.process({}, [make_sample(z, gt).to_dict()])
        assert det.results[-1] == (0, 7, 0, 7)
        assert det.evaluate(2)['vicl/mIoU'] == pytest.approx(4 / 7 / 2 * 100)

    def test_detection_tie_break_by_mode(self):
        # Two 2 px components; the gt covers the later one only, so the
        # tie rule decides the score.
        pred = np.zeros((S, S), dtype=bool)
        pred[0, 3:5] = True  # first in raster order
        pred[4, 0:2] = True  # later: the reference keeps it
        gt = np.zeros((S, S), dtype=bool)
        gt[4, 0:3] = True  # 3 px
        samples = [make_sample(pred, gt).to_dict()]
        reference = VICLIoUMetric(mode='reference', task='detection')
        reference.process({}, samples)
        assert reference.results == [(2, 3, 2, 3)]
        assert reference.evaluate(1)['vicl/mIoU'] == pytest.approx(200 / 3)
        threshold = VICLIoUMetric(mode='threshold', task='detection')
        threshold.process({}, samples)
        assert threshold.results == [(0, 5, 2, 3)]
        assert threshold.evaluate(1)['vicl/mIoU'] == 0.0

    def test_compute_metrics_uses_only_results(self):
        a = VICLIoUMetric()
        a.process({}, samples_abc()[:2])
        b = VICLIoUMetric()
        b.process({}, samples_abc()[2:])
        # What two ranks would gather, passed through pickling.
        gathered = pickle.loads(pickle.dumps(a.results + b.results))
        fresh = VICLIoUMetric()
        one = VICLIoUMetric()
        one.process({}, samples_abc())
        assert fresh.compute_metrics(gathered) == one.compute_metrics(
            one.results)
        assert fresh.results == []

    def test_accepts_data_elements_and_registry(self):
        metric = METRICS.build(dict(type='VICLIoUMetric', mode='threshold'))
        assert isinstance(metric, VICLIoUMetric)
        metric.process({}, samples_abc(as_dict=False))
        assert metric.results[0] == (3, 9, 6, 6)

    def test_invalid_args(self):
        with pytest.raises(ValueError):
            VICLIoUMetric(mode='round')
        with pytest.raises(ValueError):
            VICLIoUMetric(task='colorization')
        with pytest.raises(ValueError):
            VICLIoUMetric(empty_score=float('nan'))


class TestWithMMSegIoUMetric:

    def test_mmseg_iou_metric_fg_iou(self):
        metric = IoUMetric()
        metric.dataset_meta = dict(classes=CLASSES)
        metric.process({}, samples_abc()[:1])
        per_class = IoUMetric.total_area_to_metrics(*metric.results[0],
                                                    ['mIoU'])
        # Case A: fg 3 / 9; bg = 36 - 9 both-bg over 36 - 3 either-bg.
        assert float(per_class['IoU'][1]) == pytest.approx(1 / 3)
        assert float(per_class['IoU'][0]) == pytest.approx(27 / 33)
        out = metric.evaluate(1)
        assert out['mIoU'] == round((1 / 3 + 27 / 33) / 2 * 100, 2)
        assert out['aAcc'] == round((3 + 27) / 36 * 100, 2)
        # Same fg IoU as ours on a single image.
        ours = VICLIoUMetric()
        ours.process({}, samples_abc()[:1])
        assert ours.evaluate(1)['vicl/mIoU'] == pytest.approx(100 / 3)

    def test_one_evaluator_from_config(self):
        init_default_scope('mmseg')
        evaluator = Evaluator([
            dict(type='IoUMetric', iou_metrics=['mIoU']),
            dict(type='VICLIoUMetric', mode='reference'),
        ])
        evaluator.dataset_meta = dict(classes=CLASSES)
        # Evaluator.process turns the data elements into dicts.
        evaluator.process(samples_abc(as_dict=False), {})
        out = evaluator.evaluate(3)
        # Dataset-level over 3 x 36 px: fg 3 / 11, bg 97 / 105.
        assert out['mIoU'] == round((3 / 11 + 97 / 105) / 2 * 100, 2)
        assert out['aAcc'] == round((3 + 97) / 108 * 100, 2)
        assert out['vicl/mIoU'] == pytest.approx(400 / 9)
        assert out['vicl/fgIoU'] == pytest.approx(300 / 11)
        assert out['vicl/num_empty'] == 1
