"""Bad image and mask files fail by name; 16-bit images are scaled."""
import os.path as osp

import numpy as np
import pytest
from PIL import Image, ImageFile

from projects.prompthub.datasets import (Coco20iDataset, LoadVICLPair,
                                         Pascal5iDataset)
from projects.prompthub.testing import make_tiny_coco, make_tiny_voc
from tests.log_capture import logged_messages


@pytest.fixture
def voc(tmp_path):
    """A tiny Pascal-5i layout of this test's own (files get damaged)."""
    root = str(tmp_path / 'voc')
    make_tiny_voc(root)
    return root


def _trn(root, **kwargs):
    return Pascal5iDataset(
        data_root=root,
        fold=0,
        split='trn',
        pipeline=[dict(type='LoadVICLPair', size=16)],
        **kwargs)


def _split_line(rec):
    """``<split file>:<line>`` where a record is listed (looked up)."""
    with open(rec['split_file']) as f:
        lines = [line.strip() for line in f]
    wanted = f"{rec['sample_name']}__{rec['class_id'] + 1:02d}"
    return f"{rec['split_file']}:{lines.index(wanted) + 1}"


@pytest.mark.parametrize('damage', ['empty', 'garbage', 'truncated'])
@pytest.mark.parametrize('field', ['img_path', 'seg_map_path'])
def test_bad_file_is_named_with_its_split_line(voc, field, damage):
    ds = _trn(voc)
    rec = ds.get_data_info(2)
    path = rec[field]
    with open(path, 'rb') as f:
        data = f.read()
    data = dict(
        empty=b'',
        garbage=b'not an image at all',
        truncated=data[:len(data) // 2])[damage]
    with open(path, 'wb') as f:
        f.write(data)
    with pytest.raises(ValueError) as err:
        ds[2]
    msg = str(err.value)
    assert repr(path) in msg
    assert _split_line(rec) in msg
    assert 're-download' in msg
    assert 'BytesIO' not in msg


def test_truncated_image_fails_even_if_pil_is_told_to_accept_it(
        voc, monkeypatch):
    ds = _trn(voc)
    path = ds.get_data_info(0)['img_path']
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) * 2 // 3])
    monkeypatch.setattr(ImageFile, 'LOAD_TRUNCATED_IMAGES', True)
    with pytest.raises(ValueError, match='truncated') as err:
        ds[0]
    assert repr(path) in str(err.value)
    # The caller's setting is left as it was.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def test_mask_of_another_size_is_refused(voc):
    ds = _trn(voc)
    rec = ds.get_data_info(1)
    mask = Image.open(rec['seg_map_path'])
    w, h = mask.size
    mask.resize((w + 3, h)).save(rec['seg_map_path'])
    with pytest.raises(ValueError) as err:
        ds[1]
    msg = str(err.value)
    assert repr(rec['seg_map_path']) in msg and repr(rec['img_path']) in msg
    assert f'{w + 3}x{h}' in msg and f'{w}x{h}' in msg
    assert _split_line(rec) in msg


def test_16bit_image_is_scaled_and_16bit_mask_keeps_label_ids(voc):
    ds = _trn(voc)
    rec = ds.get_data_info(0)
    want = ds[0]
    # The same pictures stored in 16 bits: gray image as 'I;16' (v * 257),
    # mask ids as 'I;16' values.
    rgb = np.asarray(Image.open(rec['img_path']).convert('RGB'))
    gray8 = np.asarray(Image.fromarray(rgb).convert('L'))
    path16 = rec['img_path'][:-4] + '_16.png'
    Image.fromarray(gray8.astype(np.uint16) * 257).save(path16)
    assert Image.open(path16).mode == 'I;16'
    mask = np.asarray(Image.open(rec['seg_map_path']))
    mask16 = rec['seg_map_path'][:-4] + '_16.png'
    Image.fromarray(mask.astype(np.uint16)).save(mask16)
    assert Image.open(mask16).mode == 'I;16'

    path8 = rec['img_path'][:-4] + '_8.png'
    Image.fromarray(gray8).save(path8)

    loader = LoadVICLPair(size=16)
    got = loader(dict(rec, img_path=path16, seg_map_path=mask16))
    ref = loader(dict(rec, img_path=path8, seg_map_path=mask16))
    assert np.array_equal(got['img'], ref['img'])
    assert got['img'].mean() < 250  # not clipped to white
    assert np.array_equal(got['gt_seg_map'], want['gt_seg_map'])
    assert got['gt_seg_map'].any()


def test_32bit_and_float_images_are_refused(tmp_path):
    path = str(tmp_path / 'deep.tif')
    Image.fromarray(np.full((8, 8), 70000, np.int32)).save(path)
    loader = LoadVICLPair(task='det', size=8)
    with pytest.raises(ValueError, match='8- or 16-bit') as err:
        loader(dict(img_path=path, bbox=[0, 0, 2, 2]))
    assert repr(path) in str(err.value)


def test_8bit_inputs_decode_exactly_like_pil(tmp_path):
    from projects.prompthub.utils.image_io import read_image
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    files = {
        'rgb.jpg': Image.fromarray(rgb),
        'l.png': Image.fromarray(rgb[..., 0]),
        'p.png': Image.fromarray(rgb).convert('P'),
        'rgba.png': Image.fromarray(np.dstack([rgb, rgb[..., :1]])),
        'cmyk.jpg': Image.fromarray(rgb).convert('CMYK'),
        'one.png': Image.fromarray(rgb[..., 0] > 127),
    }
    for name, img in files.items():
        path = str(tmp_path / name)
        img.save(path)
        want = np.asarray(Image.open(path).convert('RGB'))
        got = read_image(path)
        assert got.mode == 'RGB', name
        assert np.array_equal(np.asarray(got), want), name


def test_uint16_arrays_are_scaled_and_other_dtypes_refused():
    from projects.prompthub.utils import image_io
    BadImageError, to_uint8_image = (image_io.BadImageError,
                                     image_io.to_uint8_image)
    values = np.arange(256, dtype=np.uint8)
    assert to_uint8_image(values) is values
    assert np.array_equal(
        to_uint8_image(values.astype(np.uint16) * 257), values)
    assert to_uint8_image(np.array([65535, 255],
                                   np.uint16)).tolist() == [255, 0]
    with pytest.raises(BadImageError, match='float32'):
        to_uint8_image(np.zeros(3, np.float32), 'query image')


def test_binary_masks_warn_at_start_with_the_cause(voc):
    # 0/255 masks where label ids (class_id + 1) are expected.
    folder = osp.join(voc, 'VOC2012', 'SegmentationClassAug')
    full = _trn(voc)
    for i in range(len(full)):
        path = full.get_data_info(i)['seg_map_path']
        mask = np.asarray(Image.open(path))
        binary = np.where((mask > 0) & (mask < 255), 255, 0).astype(np.uint8)
        Image.fromarray(binary).save(path)
    with logged_messages() as messages:
        _trn(voc)
    warned = [m for m in messages if 'sampled masks' in m]
    assert len(warned) == 1, messages
    assert 'binary' in warned[0] and '[0, 255]' in warned[0]
    assert folder in warned[0]


def test_good_masks_do_not_warn(voc, tmp_path):
    with logged_messages() as messages:
        _trn(voc)
        coco = str(tmp_path / 'coco')
        make_tiny_coco(coco)
        Coco20iDataset(data_root=coco, fold=0)
    assert not [m for m in messages if 'sampled masks' in m]
