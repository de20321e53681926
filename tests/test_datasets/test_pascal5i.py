import os
import os.path as osp
import shutil

import numpy as np
import pytest
from PIL import Image

from projects.prompthub.datasets import LoadVICLPair, Pascal5iDataset
from projects.prompthub.datasets.pascal5i import VOC_CLASSES


def _region_mask(info, name, cls):
    """Hand-computed binary mask of class ``cls`` (1-based) of an image."""
    spec = info['images'][name]
    mask = np.zeros(spec['size'], dtype=np.uint8)
    for c, (y0, y1, x0, x1) in spec['regions']:
        if c == cls:
            mask[y0:y1, x0:x1] = 255
    return mask


@pytest.mark.parametrize('split', ['trn', 'val'])
@pytest.mark.parametrize('fold', [0, 1, 2, 3])
def test_fold_records_follow_split_files(tiny_voc, split, fold):
    root, info = tiny_voc
    ds = Pascal5iDataset(data_root=root, fold=fold, split=split)
    lines = info['fold_lines'][(split, fold)]
    assert len(ds) == len(lines)
    for i, line in enumerate(lines):
        name, cls = line.split('__')
        rec = ds.get_data_info(i)
        assert rec['sample_name'] == name
        assert rec['class_id'] == int(cls) - 1
        assert rec['class_id'] in range(5 * fold, 5 * fold + 5)
        assert rec['img_path'] == osp.join(root, 'VOC2012', 'JPEGImages',
                                           name + '.jpg')
        assert rec['seg_map_path'] == osp.join(root, 'VOC2012',
                                               'SegmentationClassAug',
                                               name + '.png')
    assert ds.metainfo['classes'] == VOC_CLASSES


def test_fold0_counts_and_shared_images(tiny_voc):
    root, _ = tiny_voc
    trn = Pascal5iDataset(data_root=root, fold=0, split='trn')
    names = [trn.get_data_info(i)['sample_name'] for i in range(len(trn))]
    # 7 (image, class) lines over 6 images; 2007_000032 has two classes.
    assert len(names) == 7 and len(set(names)) == 6
    assert [trn.get_data_info(i)['class_id'] for i in range(2)] == [0, 2]


def test_crlf_and_lf_split_files_parse_alike(tiny_voc, tmp_path):
    root, info = tiny_voc
    with open(osp.join(root, 'splits/pascal/trn/fold0.txt'), 'rb') as f:
        assert b'\r\n' in f.read()
    lf = tmp_path / 'fold0_lf.txt'
    lf.write_text('\n'.join(info['fold_lines'][('trn', 0)]) + '\n')
    a = Pascal5iDataset(data_root=root, fold=0)
    b = Pascal5iDataset(data_root=root, fold=0, ann_file=str(lf))
    assert [a.get_data_info(i)['sample_name'] for i in range(len(a))] == \
        [b.get_data_info(i)['sample_name'] for i in range(len(b))]


def test_fold_membership_is_checked(tiny_voc):
    root, _ = tiny_voc
    ann = osp.join(root, 'splits/pascal/trn/fold1.txt')
    with pytest.raises(ValueError, match='not in fold 0'):
        Pascal5iDataset(data_root=root, fold=0, ann_file=ann)


def test_binary_label_is_the_class_pixels(tiny_voc):
    root, info = tiny_voc
    ds = Pascal5iDataset(data_root=root, fold=0, split='trn')
    for i in range(len(ds)):
        rec = ds.get_data_info(i)
        name, cls = rec['sample_name'], rec['class_id'] + 1
        h, w = info['images'][name]['size']
        # Same size: PIL returns the image unchanged, so the label is the
        # exact binary mask (other class and 255 ring -> background).
        out = LoadVICLPair(task='seg', size=(h, w))(dict(rec))
        expected = _region_mask(info, name, cls)
        np.testing.assert_array_equal(out['label_img'],
                                      np.repeat(expected[..., None], 3, 2))
        np.testing.assert_array_equal(out['gt_seg_map'], expected // 255)
        # the raw mask really holds 255 rings and another class
        raw = np.asarray(Image.open(rec['seg_map_path']))
        assert (raw == 255).any()


def test_missing_root_split_image_and_mask_fail_clearly(tiny_voc, tmp_path):
    root, _ = tiny_voc
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match='data root.*nowhere'):
        Pascal5iDataset(data_root=missing, fold=0)
    with pytest.raises(FileNotFoundError, match='split file.*fold9.txt'):
        Pascal5iDataset(
            data_root=root, fold=0, ann_file='splits/pascal/trn/fold9.txt')

    copy = tmp_path / 'copy'
    shutil.copytree(root, copy)
    os.remove(copy / 'VOC2012/SegmentationClassAug/2007_000039.png')
    with pytest.raises(FileNotFoundError, match='mask.*2007_000039.png'):
        Pascal5iDataset(data_root=str(copy), fold=0)
    os.remove(copy / 'VOC2012/JPEGImages/2007_000063.jpg')
    with pytest.raises(
            FileNotFoundError,
            match=r'image.*2007_000063.jpg.*SegmentationClassAug'):
        Pascal5iDataset(data_root=str(copy), fold=0)


def test_invalid_fold_and_split():
    with pytest.raises(ValueError, match='fold'):
        Pascal5iDataset(fold=4, lazy_init=True)
    with pytest.raises(ValueError, match='split'):
        Pascal5iDataset(split='test', lazy_init=True)
