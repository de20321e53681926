import os
import os.path as osp
import shutil

import numpy as np
import pytest
from PIL import Image

from projects.prompthub.datasets import (ImageNetColorizationDataset,
                                         LoadVICLPair)

BICUBIC = Image.Resampling.BICUBIC


def _resized(path, mode):
    img = Image.open(path).convert(mode).resize((111, 111), BICUBIC)
    arr = np.asarray(img)
    return np.repeat(arr[..., None], 3, 2) if arr.ndim == 2 else arr


@pytest.mark.parametrize('split', ['train', 'val'])
def test_folder_mode_lists_sorted_files(tiny_imagenet, split):
    root, info = tiny_imagenet
    ds = ImageNetColorizationDataset(data_root=root, split=split)
    assert len(ds) == len(info[split])
    for i, rel in enumerate(sorted(info[split])):
        rec = ds.get_data_info(i)
        assert rec['img_path'] == rec['label_path'] == osp.join(
            root, split, rel)
        assert rec['sample_name'] == osp.splitext(osp.basename(rel))[0]
        assert rec['derive_gray'] is True


def test_folder_mode_gray_input_and_colour_target(tiny_imagenet):
    root, _ = tiny_imagenet
    ds = ImageNetColorizationDataset(data_root=root, split='val')
    rec = ds.get_data_info(0)
    out = LoadVICLPair(task='color')(dict(rec))
    assert 'gt_seg_map' not in out
    assert out['img'].shape == out['label_img'].shape == (111, 111, 3)
    # ITU-R 601 luma at full size, replicated, then PIL bicubic
    gray = Image.open(rec['img_path']).convert('RGB').convert('L')
    expected = np.asarray(gray.resize((111, 111), BICUBIC))
    for c in range(3):
        np.testing.assert_array_equal(out['img'][..., c], expected)
    np.testing.assert_array_equal(out['label_img'],
                                  _resized(rec['img_path'], 'RGB'))
    # the target really is colour (not gray)
    assert np.abs(out['label_img'][..., 0].astype(int) -
                  out['label_img'][..., 2]).max() > 0
    # documented luma: L = (299 R + 587 G + 114 B) / 1000
    rgb = np.asarray(Image.open(rec['img_path']).convert('RGB'), np.float64)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    assert np.abs(luma - np.asarray(gray, np.float64)).max() <= 1


@pytest.mark.parametrize('split,key', [('train', 'prepared_train'),
                                       ('test', 'prepared_test')])
def test_prepared_mode_pairs(tiny_imagenet, split, key):
    root, info = tiny_imagenet
    ds = ImageNetColorizationDataset(
        data_root=root, mode='prepared', split=split)
    assert len(ds) == len(info[key])
    rec = ds.get_data_info(1)
    rel = sorted(info[key])[1]
    assert rec['img_path'] == osp.join(root, f'{split}_data', rel)
    assert rec['label_path'] == osp.join(root, f'{split}_label', rel)
    out = LoadVICLPair(task='color')(dict(rec))
    np.testing.assert_array_equal(out['img'], _resized(rec['img_path'], 'L'))
    np.testing.assert_array_equal(out['label_img'],
                                  _resized(rec['label_path'], 'RGB'))


def test_missing_colour_target_and_folders(tiny_imagenet, tmp_path):
    root, info = tiny_imagenet
    copy = tmp_path / 'in'
    shutil.copytree(root, copy)
    os.remove(copy / 'test_label' / sorted(info['prepared_test'])[0])
    with pytest.raises(
            FileNotFoundError, match='colour target not found.*test_img_0'):
        ImageNetColorizationDataset(
            data_root=str(copy), mode='prepared', split='test')
    with pytest.raises(FileNotFoundError, match='folder.*nosplit'):
        ImageNetColorizationDataset(data_root=str(copy), split='nosplit')
    (copy / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='No image'):
        ImageNetColorizationDataset(data_root=str(copy), split='empty')
