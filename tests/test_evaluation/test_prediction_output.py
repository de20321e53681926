"""``output_dir`` of the VICL metrics (what ``tools/test.py --out`` sets):
each query's prediction at its original size plus per-image scores."""
import json

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

from projects.prompthub.evaluation import (ColorizationMSE, VICLIoUMetric,
                                           binarize)
from projects.prompthub.evaluation.prediction_io import (resize_mask,
                                                         sample_stem)

S = 6
# name, ori_shape (H, W); class 3 of one image twice with another class.
META = [('img_a', (9, 15), 3), ('img_b', (12, 12), None),
        ('img_a', (9, 15), 7)]


def _label(fg: np.ndarray) -> torch.Tensor:
    img = np.where(fg, 250, 10).astype(np.uint8)
    return torch.from_numpy(np.repeat(img[None], 3, axis=0))


def _samples(as_dict: bool = True) -> list:
    """Three samples: IoU 1/3, both empty (1.0), IoU 0."""
    z = np.zeros((S, S), bool)
    pa, ga, pc = z.copy(), z.copy(), z.copy()
    pa[0:2, 0:3] = True
    ga[1:3, 0:3] = True
    pc[5, 4:6] = True
    samples = []
    for i, ((pred, gt),
            (name, shape,
             cls)) in enumerate(zip([(pa, ga), (z, z), (pc, z)], META)):
        sample = SegDataSample(
            metainfo=dict(
                sample_idx=i,
                sample_name=name,
                ori_shape=shape,
                img_path=f'/data/{name}.jpg'))
        if cls is not None:
            sample.set_metainfo(dict(class_id=cls))
        sample.pred_label_img = PixelData(data=_label(pred))
        sample.gt_label_img = PixelData(data=_label(gt))
        samples.append(sample.to_dict() if as_dict else sample)
    return samples


def _png(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


def test_iou_metric_writes_masks_at_original_size(tmp_path):
    plain = VICLIoUMetric()
    plain.process({}, _samples())
    expected = plain.evaluate(3)
    metric = VICLIoUMetric(output_dir=str(tmp_path / 'out'))
    samples = _samples()
    metric.process({}, samples)
    assert metric.evaluate(3) == expected  # the scores do not change
    stems = ['00000_img_a_c3', '00001_img_b', '00002_img_a_c7']
    assert [sample_stem(s) for s in samples] == stems
    assert sorted(
        p.name
        for p in (tmp_path /
                  'out').iterdir()) == sorted([f'{s}.png' for s in stems] +
                                              ['scores.json'])
    for sample, stem, (_, shape, _) in zip(samples, stems, META):
        mask = _png(tmp_path / 'out' / f'{stem}.png')
        assert mask.shape == shape and mask.dtype == np.uint8
        scored = binarize(sample['pred_label_img']['data'])
        assert np.array_equal(mask, resize_mask(scored, shape) * 255)
    doc = json.loads((tmp_path / 'out' / 'scores.json').read_text())
    assert doc['metrics'] == expected
    assert doc['metric']['type'] == 'VICLIoUMetric'
    rows = doc['images']
    assert [r['name'] for r in rows] == stems
    assert [r['iou'] for r in rows] == pytest.approx([1 / 3, 1.0, 0.0])
    assert [(r['intersection'], r['union'], r['pred_area'], r['gt_area'])
            for r in rows] == [(3, 9, 6, 6), (0, 0, 0, 0), (0, 2, 2, 0)]
    assert np.mean([r['iou'] for r in rows]) * 100 == expected['vicl/mIoU']
    assert rows[0]['ori_shape'] == [9, 15] and rows[0]['class_id'] == 3
    assert rows[1]['img_path'] == '/data/img_b.jpg'


def test_detection_writes_the_box_filled_mask(tmp_path):
    z = np.zeros((S, S), bool)
    pred = z.copy()
    pred[0, 0:3] = pred[0:3, 0] = True  # an L: its box is 3 x 3
    sample = SegDataSample(metainfo=dict(sample_idx=0, ori_shape=(S, S)))
    sample.pred_label_img = PixelData(data=_label(pred))
    sample.gt_label_img = PixelData(data=_label(z))
    metric = VICLIoUMetric(task='detection', output_dir=str(tmp_path))
    metric.process({}, [sample.to_dict()])
    metric.evaluate(1)
    mask = _png(tmp_path / '00000.png')
    assert (mask[:3, :3] == 255).all() and (mask == 255).sum() == 9


def test_two_samples_with_one_name_fail_loudly(tmp_path):
    samples = _samples()
    samples[2]['sample_idx'] = 0
    samples[2]['class_id'] = 3
    samples[2]['img_path'] = '/data/other.jpg'
    metric = VICLIoUMetric(output_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"00000_img_a_c3.*sample_idx"):
        metric.process({}, samples)


def test_missing_ori_shape_or_sample_idx_is_named(tmp_path):
    samples = _samples()
    del samples[0]['ori_shape']
    with pytest.raises(KeyError, match='00000_img_a_c3 has no ori_shape'):
        VICLIoUMetric(output_dir=str(tmp_path)).process({}, samples)
    samples = _samples()
    del samples[0]['sample_idx']
    with pytest.raises(KeyError, match='no sample_idx.*meta_keys'):
        VICLIoUMetric(output_dir=str(tmp_path)).process({}, samples)


def test_unwritable_output_dir_raises(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('not a folder')
    metric = VICLIoUMetric(output_dir=str(blocker))
    with pytest.raises(OSError):
        metric.process({}, _samples())


def test_colorization_writes_images_at_original_size(tmp_path):
    rng = np.random.default_rng(0)
    samples = []
    for i, shape in enumerate([(10, 20), (S, S)]):
        sample = SegDataSample(
            metainfo=dict(sample_idx=i, sample_name=f'n{i}', ori_shape=shape))
        sample.pred_label_img = PixelData(
            data=torch.from_numpy(
                rng.integers(0, 256, (3, S, S), dtype=np.uint8)))
        sample.gt_label_img = PixelData(
            data=torch.zeros(3, S, S, dtype=torch.uint8))
        samples.append(sample.to_dict())
    plain = ColorizationMSE()
    plain.process({}, samples)
    expected = plain.evaluate(2)
    metric = ColorizationMSE(output_dir=str(tmp_path))
    metric.process({}, samples)
    assert metric.evaluate(2) == expected
    big = _png(tmp_path / '00000_n0.png')
    assert big.shape == (10, 20, 3)
    same = _png(tmp_path / '00001_n1.png')[..., ::-1]  # BGR -> RGB
    assert np.array_equal(
        same, samples[1]['pred_label_img']['data'].permute(1, 2, 0).numpy())
    expected_big = np.asarray(
        Image.fromarray(samples[0]['pred_label_img']['data'].permute(
            1, 2, 0).numpy()).resize((20, 10), Image.BICUBIC))
    assert np.array_equal(big[..., ::-1], expected_big)
    doc = json.loads((tmp_path / 'scores.json').read_text())
    assert doc['metrics'] == expected
    assert np.mean([r['mse'] for r in doc['images']]) == pytest.approx(
        expected['vicl/mse'], rel=1e-12)
