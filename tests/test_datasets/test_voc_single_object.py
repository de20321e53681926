import os
import shutil

import numpy as np
import pytest
from PIL import Image

from projects.prompthub.datasets import LoadVICLPair, VOCSingleObjectDataset

# Hand-computed from TINY_VOC_DET: one object, (xmax - xmin + 1) *
# (ymax - ymin + 1) / (W * H) < 0.2; box = (xmin - 1, ymin - 1, xmax, ymax).
EXPECTED = {
    'train': {
        '2007_000032': (2, 3, 10, 9),
        '2007_000068': (4, 5, 12, 14),  # difficult, still kept
        '2007_000123': (9, 3, 20, 13),
        '2007_000129': (3, 4, 14, 16),
    },
    'val': {
        '2007_000033': (5, 5, 15, 14),
        '2007_000170': (19, 9, 28, 22),  # touches the right/bottom border
    },
}


@pytest.mark.parametrize('split', ['train', 'val'])
def test_single_small_object_filter(tiny_voc, split):
    root, _ = tiny_voc
    ds = VOCSingleObjectDataset(data_root=root, split=split)
    got = {
        ds.get_data_info(i)['sample_name']: tuple(ds.get_data_info(i)['bbox'])
        for i in range(len(ds))
    }
    assert got == EXPECTED[split]
    # test mode filters the same way (the reference filters both splits)
    ds_test = VOCSingleObjectDataset(
        data_root=root, split=split, test_mode=True)
    assert len(ds_test) == len(ds)


def test_filter_can_be_relaxed(tiny_voc):
    root, _ = tiny_voc
    ds = VOCSingleObjectDataset(
        data_root=root, split='train', max_area_ratio=None)
    # + the two large single objects
    assert len(ds) == 6
    ds = VOCSingleObjectDataset(
        data_root=root,
        split='train',
        single_object=False,
        max_area_ratio=None)
    assert len(ds) == 7


def test_box_label_image(tiny_voc):
    root, info = tiny_voc
    ds = VOCSingleObjectDataset(data_root=root, split='val')
    for i in range(len(ds)):
        rec = ds.get_data_info(i)
        h, w = info['images'][rec['sample_name']]['size']
        x0, y0, x1, y1 = EXPECTED['val'][rec['sample_name']]
        expected = np.zeros((h, w), dtype=np.uint8)
        expected[y0:y1, x0:x1] = 255
        out = LoadVICLPair(task='det', size=(h, w))(dict(rec))
        np.testing.assert_array_equal(out['label_img'][..., 0], expected)
        np.testing.assert_array_equal(out['gt_seg_map'], expected // 255)
        # at cell size: PIL bilinear of the same mask
        out = LoadVICLPair(task='det')(dict(rec))
        ref = np.asarray(
            Image.fromarray(expected).resize((111, 111),
                                             Image.Resampling.BILINEAR))
        np.testing.assert_array_equal(out['label_img'][..., 1], ref)
        img = Image.open(rec['img_path']).convert('RGB').resize(
            (111, 111), Image.Resampling.BILINEAR)
        np.testing.assert_array_equal(out['img'], np.asarray(img))
        assert out['ori_shape'] == (h, w)


def test_missing_annotation_image_and_list(tiny_voc, tmp_path):
    root, _ = tiny_voc
    copy = tmp_path / 'voc'
    shutil.copytree(root, copy)
    with pytest.raises(FileNotFoundError, match='test.txt'):
        VOCSingleObjectDataset(data_root=str(copy), split='test')
    os.remove(copy / 'VOC2012/JPEGImages/2007_000123.jpg')
    with pytest.raises(FileNotFoundError, match='VOC image.*2007_000123'):
        VOCSingleObjectDataset(data_root=str(copy), split='train')
    os.remove(copy / 'VOC2012/Annotations/2007_000039.xml')
    with pytest.raises(
            FileNotFoundError, match='annotation not found.*2007_000039.xml'):
        VOCSingleObjectDataset(data_root=str(copy), split='train')
    (copy / 'VOC2012/Annotations/2007_000039.xml').write_text('<annot')
    with pytest.raises(ValueError, match='2007_000039.xml.*not valid XML'):
        VOCSingleObjectDataset(data_root=str(copy), split='train')
