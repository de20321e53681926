import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from projects.prompthub.evaluation.functional import (
    IMAGENET_MEAN, IMAGENET_STD, colorization_mse, fg_iou_stats,
    fill_largest_component_box, iou_from_stats, stack_pixel_data)


def reference_to_rectangle(mask: np.ndarray) -> np.ndarray:
    """Literal emulation of the reference ``to_rectangle`` on one 2D mask.

    The sort is made explicitly stable (``np.argsort`` acts so on the
    reference's short size lists), then reversed as the reference does.
    """
    img = mask.astype(np.uint8) * 255
    num, labels = cv2.connectedComponents(img)
    out = np.zeros(img.shape, dtype=bool)
    sizes = [np.sum(labels == i) for i in range(num)]
    order = np.argsort(sizes, kind='stable')[::-1]
    for i in order:
        ys, xs = np.where(labels == i)
        if img[ys[0], xs[0]] != 255:
            continue
        out[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
        break
    return out


class TestFillLargestComponentBox:

    def test_hand_made(self):
        m = np.zeros((8, 10), dtype=bool)
        m[1, 1] = m[2, 2] = m[3, 1] = True  # 3 px, 8-connected, box 1..3
        m[5:7, 6:9] = True  # 6 px, the largest
        m[0, 9] = True
        expected = np.zeros_like(m)
        expected[5:7, 6:9] = True
        np.testing.assert_array_equal(fill_largest_component_box(m), expected)

    def test_diagonal_connects(self):
        m = np.zeros((6, 6), dtype=bool)
        m[1, 1] = m[2, 2] = m[3, 3] = m[3, 1] = True  # one 4 px component
        m[5, 5] = True  # its own (not touching (3, 3))
        expected = np.zeros_like(m)
        expected[1:4, 1:4] = True
        np.testing.assert_array_equal(fill_largest_component_box(m), expected)

    def test_empty_and_full(self):
        empty = np.zeros((4, 4), dtype=bool)
        np.testing.assert_array_equal(fill_largest_component_box(empty), empty)
        full = np.ones((4, 4), dtype=bool)
        np.testing.assert_array_equal(fill_largest_component_box(full), full)

    def test_tie_goes_to_first_in_raster_order(self):
        m = np.zeros((6, 6), dtype=bool)
        m[4, 0:2] = True  # 2 px, first pixel at raster index 24
        m[0, 4:6] = True  # 2 px, first pixel at raster index 4 -> wins
        expected = np.zeros_like(m)
        expected[0, 4:6] = True
        np.testing.assert_array_equal(fill_largest_component_box(m), expected)

    def test_tie_break_reference_keeps_later_one(self):
        m = np.zeros((6, 6), dtype=bool)
        m[4, 0:2] = True  # 2 px, met second in the scan -> reference keeps it
        m[0, 4:6] = True  # 2 px, met first -> 'raster' keeps it
        later, first = np.zeros_like(m), np.zeros_like(m)
        later[4, 0:2] = True
        first[0, 4:6] = True
        np.testing.assert_array_equal(
            fill_largest_component_box(m, tie_break='reference'), later)
        np.testing.assert_array_equal(
            fill_largest_component_box(m, tie_break='raster'), first)
        np.testing.assert_array_equal(fill_largest_component_box(m), first)
        np.testing.assert_array_equal(reference_to_rectangle(m), later)

    def test_tie_break_three_way(self):
        m = np.zeros((9, 9), dtype=bool)
        m[0, 6:9] = True  # 3 px each, in scan order a, b, c
        m[4, 0:3] = True
        m[8, 3:6] = True
        m[6, 8] = True  # 1 px, never a candidate
        boxes = [(0, slice(6, 9)), (4, slice(0, 3)), (8, slice(3, 6))]
        expected = {}
        for name, (r, c) in zip(('first', 'last'), (boxes[0], boxes[2])):
            expected[name] = np.zeros_like(m)
            expected[name][r, c] = True
        np.testing.assert_array_equal(
            fill_largest_component_box(m, tie_break='reference'),
            expected['last'])
        np.testing.assert_array_equal(
            fill_largest_component_box(m, tie_break='raster'),
            expected['first'])
        np.testing.assert_array_equal(
            reference_to_rectangle(m), expected['last'])

    def test_tie_break_follows_cv2_labels(self):
        # cv2 scans in 2x2 blocks: the pixel at (1, 0) gets label 1 before
        # the one at (0, 5), though (0, 5) comes first in raster order.
        m = np.zeros((6, 8), dtype=bool)
        m[1, 0] = m[0, 5] = True
        labels = cv2.connectedComponents(m.astype(np.uint8) * 255)[1]
        assert labels[1, 0] == 1 and labels[0, 5] == 2
        reference = fill_largest_component_box(m, tie_break='reference')
        np.testing.assert_array_equal(reference, reference_to_rectangle(m))
        assert reference.sum() == 1 and reference[0, 5]
        raster = fill_largest_component_box(m)
        assert raster.sum() == 1 and raster[0, 5]

    def test_no_tie_same_in_both_modes(self):
        m = np.zeros((6, 6), dtype=bool)
        m[4, 0:3] = True  # 3 px, the largest
        m[0, 4:6] = True
        expected = np.zeros_like(m)
        expected[4, 0:3] = True
        for tie_break in ('raster', 'reference'):
            np.testing.assert_array_equal(
                fill_largest_component_box(m, tie_break=tie_break), expected)

    def test_tie_break_rejects_unknown(self):
        with pytest.raises(ValueError, match='tie_break must be one of'):
            fill_largest_component_box(np.zeros((2, 2), bool), tie_break='x')

    def test_equals_literal_reference(self):
        rng = np.random.default_rng(3)
        masks = rng.random((40, 30, 30)) < 0.08
        masks[:5] = rng.random((5, 30, 30)) < 0.5
        ours = fill_largest_component_box(torch.from_numpy(masks))
        reference = fill_largest_component_box(masks, tie_break='reference')
        assert isinstance(ours, torch.Tensor) and ours.shape == masks.shape
        checked = ties = 0
        for m, o, q in zip(masks, ours.numpy(), reference):
            ref = reference_to_rectangle(m)
            # The reference's own rule, ties included.
            np.testing.assert_array_equal(q, ref)
            _, _, stats, _ = cv2.connectedComponentsWithStats(
                m.astype(np.uint8), connectivity=8)
            areas = np.sort(stats[1:, cv2.CC_STAT_AREA])
            if len(areas) > 1 and areas[-1] == areas[-2]:
                ties += 1
                continue  # 'raster' breaks ties its own way
            np.testing.assert_array_equal(o, ref)
            checked += 1
        assert checked >= 10 and ties >= 1


class TestIoUAndGeometry:

    def test_fg_iou_stats(self):
        pred = np.zeros((2, 4, 4), dtype=bool)
        gt = np.zeros((2, 4, 4), dtype=bool)
        pred[0, 0, :3] = True  # 3 px
        gt[0, 0, 1:] = True  # 3 px, overlap 2
        gt[0, 3, 3] = True  # 4 px in all
        stats = fg_iou_stats(pred, gt)
        np.testing.assert_array_equal(stats, [[2, 5, 3, 4], [0, 0, 0, 0]])
        st = fg_iou_stats(torch.from_numpy(pred), torch.from_numpy(gt))
        assert st.dtype == torch.int64
        np.testing.assert_array_equal(st.numpy(), stats)

    def test_iou_from_stats(self):
        iou = iou_from_stats([2, 0, 0], [5, 0, 3], empty_score=1.0)
        np.testing.assert_allclose(iou, [0.4, 1.0, 0.0])
        iou = iou_from_stats([2, 0], [5, 0], empty_score=0.0)
        np.testing.assert_allclose(iou, [0.4, 0.0])


class TestColorizationMSE:

    def test_black_vs_white(self):
        pred = np.zeros((3, 5, 5), dtype=np.uint8)
        gt = np.full((3, 5, 5), 255, dtype=np.uint8)
        # Normalised values differ by exactly 1 / std per channel.
        expected = np.mean([1 / s**2 for s in IMAGENET_STD])
        assert colorization_mse(pred, gt) == pytest.approx(expected, 1e-12)

    def test_hand_made_single_pixel(self):
        pred = np.zeros((1, 3, 2, 2), dtype=np.uint8)
        gt = np.zeros((1, 3, 2, 2), dtype=np.uint8)
        gt[0, 1, 0, 0] = 51  # channel 1 differs by 0.2 / 0.224
        expected = (0.2 / 0.224)**2 / 12
        out = colorization_mse(torch.from_numpy(pred), torch.from_numpy(gt))
        assert out.shape == (1, )
        assert out[0] == pytest.approx(expected, rel=1e-12)

    def test_equals_reference_formula(self):
        rng = np.random.default_rng(4)
        pred = rng.integers(0, 256, size=(3, 3, 16, 16), dtype=np.uint8)
        gt = rng.integers(0, 256, size=(3, 3, 16, 16), dtype=np.uint8)
        mean = np.array(IMAGENET_MEAN)[:, None, None]
        std = np.array(IMAGENET_STD)[:, None, None]
        # The reference on HWC images: transpose, /255, normalise, mean.
        for p, g, out in zip(pred, gt, colorization_mse(pred, gt)):
            p_hwc, g_hwc = p.transpose(1, 2, 0), g.transpose(1, 2, 0)
            o = (np.transpose(p_hwc / 255., [2, 0, 1]) - mean) / std
            t = (np.transpose(g_hwc / 255., [2, 0, 1]) - mean) / std
            assert out == pytest.approx(np.mean((t - o)**2), rel=1e-12)

    def test_errors(self):
        with pytest.raises(TypeError):
            colorization_mse(np.zeros((3, 2, 2)), np.zeros((3, 2, 2)))
        with pytest.raises(ValueError):
            colorization_mse(
                np.zeros((3, 2, 2), np.uint8), np.zeros((3, 2, 3), np.uint8))


def test_stack_pixel_data_forms():
    a = torch.arange(12, dtype=torch.uint8).view(3, 2, 2)
    sample = SegDataSample()
    sample.pred_label_img = PixelData(data=a)
    forms = [sample, sample.to_dict(), dict(pred_label_img=a.numpy())]
    out = stack_pixel_data(forms, 'pred_label_img')
    assert out.shape == (3, 3, 2, 2) and out.dtype == torch.uint8
    assert (out == a).all()
    with pytest.raises(KeyError):
        stack_pixel_data([dict(gt_label_img=a)], 'pred_label_img')
