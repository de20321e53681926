"""LoadVICLInferencePair loads user pairs as LoadVICLPair loads dataset
pairs: the same arrays for the same files."""
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from projects.prompthub.datasets import (LoadVICLInferencePair, LoadVICLPair,
                                         Pascal5iDataset)


@pytest.mark.parametrize('reference', [False, True])
def test_dataset_record_loads_identically(tiny_voc, reference):
    """A Pascal-5i record (label-id mask with a 255 band and
    ``seg_fg_value``) gives the very arrays of the dataset loader; the
    same mask as 0/255 file and as an array too."""
    root, _ = tiny_voc
    record = Pascal5iDataset(
        data_root=root, fold=0, split='trn', pipeline=[]).get_data_info(0)
    # The reference feature label is the image's first class (docs/method.md,
    # section 11).
    assert record['feature_fg_value'] == record['seg_fg_value']
    kwargs = dict(size=111, reference_features=reference)
    expected = LoadVICLPair(**kwargs)(dict(record))
    user = dict(
        img_path=record['img_path'],
        seg_map_path=record['seg_map_path'],
        seg_fg_value=record['seg_fg_value'])
    labels = np.asarray(Image.open(record['seg_map_path']))
    assert {0, 255, record['seg_fg_value']} <= set(np.unique(labels))
    binary = dict(
        img_path=record['img_path'],
        seg_map=(labels == record['seg_fg_value']) * 255)
    for rec in (user, binary):
        got = LoadVICLInferencePair(**kwargs)(dict(rec, input_name='p'))
        keys = ['img', 'label_img', 'gt_seg_map', 'ori_shape']
        keys += ['feat_img', 'feat_label_img'] if reference else []
        for key in keys:
            np.testing.assert_array_equal(got[key], expected[key], key)


def test_query_without_mask_and_refusals(tiny_voc, tmp_path):
    root, _ = tiny_voc
    img = osp.join(root, 'VOC2012', 'JPEGImages', '2007_000033.jpg')
    load = LoadVICLInferencePair(size=111)
    query = load(dict(img_path=img, input_name='query'))
    assert not query['label_img'].any() and 'gt_seg_map' not in query
    assert query['ori_shape'] == (24, 30)
    array = load(dict(img=np.asarray(Image.open(img)), input_name='query'))
    np.testing.assert_array_equal(array['img'], query['img'])
    other = np.zeros((10, 10), np.uint8)
    other[2:5, 2:5] = 1
    with pytest.raises(
            ValueError,
            match=r"prompt 3 mask \(array\) is 10x10 "
            r"\(WxH\) but its image '.*2007_000033.jpg' is 30x24"):
        load(dict(img_path=img, seg_map=other, input_name='prompt 3'))
    with pytest.raises(ValueError, match='Drop cache_dir'):
        LoadVICLInferencePair(cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match='not prompt masks'):
        LoadVICLInferencePair(task='colorization')
