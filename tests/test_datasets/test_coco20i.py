import os.path as osp

import numpy as np
import pytest

from projects.prompthub.datasets import Coco20iDataset, LoadVICLPair
from projects.prompthub.datasets.coco20i import (COCO_CATEGORY_IDS,
                                                 COCO_CLASSES,
                                                 COCO_ID_TO_CONTIGUOUS,
                                                 coco_fold_category_ids)

# The reference loaders' ``mapped_dict`` (docs/method.md, section 5), original
# -> contiguous, per fold.
REFERENCE_MAPPED = {
    0: {
        5: 5,
        2: 2,
        16: 15,
        9: 9,
        44: 40
    },
    1: {
        6: 6,
        3: 3,
        17: 16,
        62: 57,
        21: 20
    },
    2: {
        67: 61,
        18: 17,
        19: 18,
        4: 4,
        1: 1
    },
    3: {
        64: 59,
        20: 19,
        63: 58,
        7: 7,
        72: 63
    },
}


def test_official_category_list():
    assert len(COCO_CATEGORY_IDS) == len(COCO_CLASSES) == 80
    gaps = sorted(set(range(1, 91)) - set(COCO_CATEGORY_IDS))
    assert gaps == [12, 26, 29, 30, 45, 66, 68, 69, 71, 83]
    assert COCO_CLASSES[COCO_ID_TO_CONTIGUOUS[44] - 1] == 'bottle'
    assert COCO_CLASSES[COCO_ID_TO_CONTIGUOUS[72] - 1] == 'tv'


@pytest.mark.parametrize('fold', [0, 1, 2, 3])
def test_mapping_matches_reference_table(fold):
    cats = coco_fold_category_ids(fold)
    assert sorted(cats) == sorted(REFERENCE_MAPPED[fold])
    for cat in cats:
        assert COCO_ID_TO_CONTIGUOUS[cat] == REFERENCE_MAPPED[fold][cat]


def test_records_and_fold_membership(tiny_coco):
    root, info = tiny_coco
    ds = Coco20iDataset(data_root=root, fold=0)
    assert len(ds) == len(info['fold_lines'][0]) == 5
    rec = ds.get_data_info(0)
    assert rec['sample_name'] == 'COCO_train2014_000000000009'
    assert rec['img_path'] == osp.join(root, 'trn2014',
                                       'COCO_train2014_000000000009.jpg')
    assert rec['seg_map_path'] == osp.join(root, 'Coco_Trainlabel',
                                           'COCO_train2014_000000000009.png')
    assert rec['coco_category_id'] == 44
    assert rec['class_id'] == 39  # contiguous 40, 0-based
    assert rec['pascal_class_id'] == 4  # VOC 'bottle'
    assert ds.metainfo['classes'] == COCO_CLASSES
    with pytest.raises(ValueError, match='not a Pascal class of fold 0'):
        Coco20iDataset(
            data_root=root, fold=0, ann_file='split/coco/trn/fold1.txt')


@pytest.mark.parametrize('fold', [1, 2, 3])
def test_other_folds_load(tiny_coco, fold):
    root, info = tiny_coco
    ds = Coco20iDataset(data_root=root, fold=fold)
    assert len(ds) == len(info['fold_lines'][fold])


def _expected(info, stem, value):
    spec = info['images'][stem]
    mask = np.zeros(spec['size'], dtype=np.uint8)
    for v, (y0, y1, x0, x1) in spec['regions']:
        if v == value:
            mask[y0:y1, x0:x1] = 255
    return mask


def test_masks_are_read_with_contiguous_ids(tiny_coco):
    root, info = tiny_coco
    ds = Coco20iDataset(data_root=root, fold=0)
    for i in range(len(ds)):
        rec = ds.get_data_info(i)
        stem = rec['sample_name']
        contiguous = COCO_ID_TO_CONTIGUOUS[rec['coco_category_id']]
        out = LoadVICLPair(
            task='seg', size=info['images'][stem]['size'])(
                dict(rec))
        expected = _expected(info, stem, contiguous)
        assert expected.any()
        np.testing.assert_array_equal(out['label_img'][..., 0], expected)
    # Line __44 ('bottle', contiguous 40): the region holding 44 (the
    # contiguous id of 'spoon') must be background.
    rec = ds.get_data_info(0)
    out = LoadVICLPair(task='seg', size=(24, 32))(rec)
    y0, y1, x0, x1 = 13, 21, 18, 29  # the 44 region of TINY_COCO
    assert (out['label_img'][y0:y1, x0:x1] == 0).all()
    assert out['label_img'][2:10, 3:14].min() == 255


def test_original_id_masks_option(tiny_coco):
    root, info = tiny_coco
    ds = Coco20iDataset(data_root=root, fold=0, mask_ids='original')
    rec = ds.get_data_info(0)  # line __44
    assert rec['seg_fg_value'] == 44
    out = LoadVICLPair(
        task='seg', size=info['images'][rec['sample_name']]['size'])(
            rec)
    np.testing.assert_array_equal(out['label_img'][..., 0],
                                  _expected(info, rec['sample_name'], 44))


def test_missing_coco_files(tiny_coco, tmp_path):
    root, _ = tiny_coco
    with pytest.raises(FileNotFoundError, match='COCO-20i data root'):
        Coco20iDataset(data_root=str(tmp_path / 'none'), fold=0)
    with pytest.raises(FileNotFoundError, match='image folder.*train2014'):
        Coco20iDataset(
            data_root=root,
            fold=0,
            data_prefix=dict(
                img_path='train2014', seg_map_path='Coco_Trainlabel'))
