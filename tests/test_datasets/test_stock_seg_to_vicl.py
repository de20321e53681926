"""Stock mmseg datasets mixed in: the record contract and StockSegToVICL.

The tiny tree is mmseg's ``PascalVOCDataset`` layout (palette PNGs of label
ids, ``ImageSets/Segmentation``); mmseg's own ``LoadAnnotations`` is the
oracle of which pixels are a class.
"""
import copy
import importlib.util
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.datasets.transforms import LoadAnnotations
from PIL import Image

from projects.prompthub.datasets import (LoadVICLPair, MissingRecordKeyError,
                                         RetrievalAugmentedDataset,
                                         StockSegToVICL, check_data_paths)
from projects.prompthub.datasets.stock_seg_to_vicl import (mmseg_raw_values,
                                                           sample_name_of)
from projects.prompthub.registry import DATASETS
from projects.prompthub.retrieval import RetrievalIndex, collect_samples
from projects.prompthub.testing import (TINY_VOC_SEG, make_tiny_voc_stock,
                                        write_reference_json)
from projects.prompthub.utils import load_config
from tests.log_capture import logged_messages

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MIXIN = osp.join(
    REPO, 'configs', 'prompthub',
    'prompthub-n16-mmseg-mixin_mae-vqgan-l16_1xb16-sgd-cosr-150e_voc2012.py')
STOCK_ROOT = 'data/VOCdevkit/VOC2012'  # mmseg's default, in the config
REGIONS = {name: dict(regions) for name, _, regions, _ in TINY_VOC_SEG}
SIZES = {name: hw for name, hw, _, _ in TINY_VOC_SEG}
FOLD0 = ['aeroplane', 'bicycle', 'bird', 'boat', 'bottle']


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    """``(root, info)``: mmseg's ``data/VOCdevkit/VOC2012``, tiny."""
    root = str(tmp_path_factory.mktemp('VOCdevkit') / 'VOC2012')
    return root, make_tiny_voc_stock(root)


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def _voc(root, split='train', **kwargs):
    """A PascalVOCDataset config as in mmseg's pascal_voc12.py base."""
    return dict(
        type='PascalVOCDataset',
        data_root=root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file=f'ImageSets/Segmentation/{split}.txt',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations')
        ],
        **kwargs)


def _binary_cell(hw, region, size=111):
    """The label cell drawn by hand from the region geometry: 255 inside,
    PIL bicubic to the cell (the reference resize), thresholded at 128."""
    mask = np.zeros(hw, np.uint8)
    y0, y1, x0, x1 = region
    mask[y0:y1, x0:x1] = 255
    cell = np.asarray(
        Image.fromarray(mask).resize((size, size), Image.Resampling.BICUBIC))
    return cell, (cell >= 128).astype(np.uint8)


def test_bare_stock_dataset_names_the_contract_and_the_fix(voc, tmp_path):
    root, _ = voc
    json_path = write_reference_json(
        str(tmp_path / 'val.json'), {'2007_000033': ['2007_000032']})
    with pytest.raises(KeyError) as err:
        RetrievalAugmentedDataset(
            dataset=_voc(root, 'val'),
            prompt_dataset=_voc(root, 'train'),
            index=json_path)
    msg = str(err.value)
    assert isinstance(err.value, MissingRecordKeyError)
    # Which key, which record and file, and the fix.
    assert "has no 'sample_name'" in msg
    assert 'PascalVOCDataset: record 0' in msg
    assert repr(osp.join(root, 'JPEGImages', '2007_000032.jpg')) in msg
    assert 'train.txt' in msg and 'RetrievalAugmentedDataset' in msg
    assert "type='StockSegToVICL'" in msg and 'classes=' in msg
    # The index tool says the same.
    with pytest.raises(MissingRecordKeyError, match="type='StockSegToVICL'"):
        collect_samples(DATASETS.build(_voc(root, 'val')))
    # A record with a name but no binary class: the loader names the key.
    with pytest.raises(MissingRecordKeyError) as err:
        LoadVICLPair()(
            dict(
                img_path=osp.join(root, 'JPEGImages', '2007_000032.jpg'),
                seg_map_path=osp.join(root, 'SegmentationClass',
                                      '2007_000032.png'),
                sample_idx=4))
    assert "Record 4 (" in str(err.value)
    assert "no 'seg_fg_value'" in str(err.value)
    assert 'StockSegToVICL' in str(err.value)


def test_records_are_one_per_image_and_class_present(voc):
    root, info = voc
    with logged_messages() as logs:
        ds = StockSegToVICL(
            _voc(root, 'train'), classes=FOLD0, missing_class='skip')
    # mmseg's VOC label ids: index in its classes (0 is background).
    voc_classes = DATASETS.build(_voc(root, 'train')).metainfo['classes']
    expected = [(name, voc_classes.index(cls))
                for name in info['splits']['train'] for cls in FOLD0
                if voc_classes.index(cls) in REGIONS[name]]
    got = [(ds.get_data_info(i)['sample_name'],
            ds.get_data_info(i)['class_id']) for i in range(len(ds))]
    assert got == expected and len(got) == 7  # 6 images
    rec = ds.get_data_info(1)
    assert rec['img_path'] == osp.join(root, 'JPEGImages', '2007_000032.jpg')
    assert rec['seg_map_path'] == osp.join(root, 'SegmentationClass',
                                           '2007_000032.png')
    assert (rec['class_name'], rec['seg_fg_value']) == ('bird', 3)
    assert rec['source_idx'] == 0
    assert ds.metainfo['vicl_classes'] == tuple(FOLD0)
    assert ds.metainfo['classes'] == voc_classes
    # The stock pipeline is not run, and the log says so; the skip counts.
    assert any('LoadImageFromFile, LoadAnnotations) is not run' in m
               for m in logs)
    assert any('dropped 1 of 7 images' in m and 'kept 6' in m for m in logs)


@pytest.mark.parametrize(
    'variant, classes, raw_values',
    [
        (dict(), ['aeroplane', 'bird', 'dog'], [1, 3, 12]),
        # ADE20K-style: label id = mask value - 1 (0 ignored).
        (dict(reduce_zero_label=True), ['background', 2], [1, 3]),
        # Custom classes: mmseg's label_map renumbers them.
        (dict(metainfo=dict(classes=('background', 'bird', 'cat', 'dog'))),
         ['bird', 'cat'], [3, 8]),
    ])
def test_foreground_is_exactly_mmseg_label(voc, variant, classes, raw_values):
    root, _ = voc
    ds = StockSegToVICL(
        _voc(root, 'train', **variant),
        classes=classes,
        missing_class='skip',
        pipeline=[dict(type='LoadVICLPair', task='segmentation')])
    assert len(ds) >= 3
    assert sorted(
        {ds.get_data_info(i)['seg_fg_value']
         for i in range(len(ds))}) == raw_values
    oracle = LoadAnnotations()
    for i in range(len(ds)):
        rec = ds.get_data_info(i)
        stock = ds.dataset.get_data_info(rec['source_idx'])
        gt = oracle(copy.deepcopy(stock))['gt_seg_map']
        fg = gt == rec['class_id']
        assert fg.any()
        # The label LoadVICLPair draws is mmseg's foreground, resized.
        cell = np.asarray(
            Image.fromarray(np.where(fg, 255, 0).astype(np.uint8)).resize(
                (111, 111), Image.Resampling.BICUBIC))
        out = ds[i]
        np.testing.assert_array_equal(out['label_img'][..., 0], cell)
        np.testing.assert_array_equal(out['gt_seg_map'], cell >= 128)


def test_raw_value_mapping_and_sample_names():
    assert mmseg_raw_values(15, False, None) == [15]
    assert mmseg_raw_values(15, True, None) == [16]
    assert mmseg_raw_values(0, True, None) == [1]
    label_map = {0: 0, 1: 255, 2: 1, 3: 255}
    assert mmseg_raw_values(1, False, label_map) == [2]
    assert mmseg_raw_values(1, True, label_map) == [3]
    assert sample_name_of('/d/img/a/b_leftImg8bit.png', '/d/img',
                          '_leftImg8bit.png') == 'a/b'
    assert sample_name_of('/d/img/x.jpg', '/d/img/', '.jpg') == 'x'
    assert sample_name_of('/e/x.JPEG', None, None) == 'x'


def test_images_without_the_class_are_refused_unless_skipped(voc):
    root, _ = voc
    with pytest.raises(ValueError) as err:
        StockSegToVICL(_voc(root, 'val'), classes=['aeroplane', 'cow'])
    msg = str(err.value)
    assert '2 of 4 images' in msg and 'val.txt' in msg
    assert repr(osp.join(root, 'SegmentationClass', '2007_000042.png')) in msg
    assert 'mmseg label ids [1, 10]' in msg
    assert "missing_class='skip'" in msg
    ds = StockSegToVICL(
        _voc(root, 'val'), classes=['aeroplane', 'cow'], missing_class='skip')
    assert [(ds.get_data_info(i)['sample_name'],
             ds.get_data_info(i)['class_name'])
            for i in range(len(ds))] == [('2007_000033', 'aeroplane'),
                                         ('2007_000061', 'cow')]
    # A chosen class that no mask holds.
    # A chosen class that no mask holds (every image holds another one).
    with pytest.raises(ValueError, match=r"no mask .* holds .*\['sheep'\]"):
        StockSegToVICL(
            _voc(root, 'val'),
            classes=['aeroplane', 'bottle', 'cow', 'tvmonitor', 'sheep'])
    with pytest.raises(ValueError, match='none of the 4 images'):
        StockSegToVICL(
            _voc(root, 'val'), classes='chair', missing_class='skip')


def test_bad_arguments_are_named(voc):
    root, _ = voc
    with pytest.raises(
            ValueError, match=r"'plane' is not a class .*"
            r"'aeroplane'"):
        StockSegToVICL(_voc(root, 'val'), classes=['plane'])
    with pytest.raises(ValueError, match='label id 21 .* 0..20'):
        StockSegToVICL(_voc(root, 'val'), classes=21)
    with pytest.raises(ValueError, match='classes is empty'):
        StockSegToVICL(_voc(root, 'val'), classes=[])
    with pytest.raises(ValueError, match='missing_class'):
        StockSegToVICL(_voc(root, 'val'), classes=1, missing_class='drop')
    with pytest.raises(ValueError, match='LoadVICLPair'):
        StockSegToVICL(
            _voc(root, 'val'),
            classes=1,
            pipeline=[dict(type='LoadAnnotations')])


def _mixin_cfg(root, retrieval_dir, num_prompts=2):
    """The shipped example config with mmseg's data root and the indices
    pointed at the tiny tree, as --cfg-options would."""
    cfg = load_config(MIXIN)

    def remap(obj):
        if isinstance(obj, dict):
            return {k: remap(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [remap(v) for v in obj]
        if obj == STOCK_ROOT:
            return root
        if isinstance(obj, str) and obj.startswith('data/retrieval/'):
            return osp.join(retrieval_dir, obj[len('data/retrieval/'):])
        return obj

    cfg = Config(remap(cfg.to_dict()))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.num_prompts = num_prompts
    return cfg


def test_example_config_builds_and_its_data_check_names_missing_paths(
        voc, tmp_path):
    cfg = load_config(MIXIN)
    # Stock mmseg base, our imports and wrappers.
    assert 'projects.prompthub' in cfg.custom_imports.imports
    test_set = cfg.test_dataloader.dataset
    assert test_set.type == 'RetrievalAugmentedDataset'
    assert test_set.dataset.type == 'StockSegToVICL'
    assert test_set.dataset.dataset.type == 'PascalVOCDataset'
    assert test_set.dataset.dataset.ann_file.endswith('val.txt')
    assert cfg.test_evaluator.type == 'VICLIoUMetric'
    with pytest.raises(FileNotFoundError) as err:
        check_data_paths(cfg, 'test')
    msg = str(err.value)
    assert repr(STOCK_ROOT) in msg
    assert 'test_dataloader.dataset.dataset.dataset.data_root' in msg
    assert "'data/retrieval/voc12_val_top50.npz'" in msg
    assert 'build_retrieval_index.py' in msg

    # Data present but a stock folder missing: named by its key (mmseg's
    # PascalVOCDataset asserts in its constructor; the check does not).
    root = str(tmp_path / 'VOC2012')
    make_tiny_voc_stock(root)
    cfg = _mixin_cfg(root, str(tmp_path / 'retrieval'))
    # Only their existence is checked.
    dummy = RetrievalIndex.from_reference_json(
        write_reference_json(str(tmp_path / 'x.json'), {'a': ['b']}))
    for name in ('voc12_train_top50.npz', 'voc12_val_top50.npz'):
        dummy.save(osp.join(str(tmp_path / 'retrieval'), name))
    check_data_paths(cfg, 'train')
    check_data_paths(cfg, 'test')
    shutil.rmtree(osp.join(root, 'JPEGImages'))
    with pytest.raises(FileNotFoundError) as err:
        check_data_paths(cfg, 'test')
    msg = str(err.value)
    assert repr(osp.join(root, 'JPEGImages')) in msg
    assert 'test_dataloader.dataset.dataset.dataset.data_prefix.img_path' \
        in msg


def test_mixed_into_stock_mmseg_config_end_to_end(voc, tmp_path):
    """The shipped config over mmseg's PascalVOCDataset: index by the tool
    (recording its datasets), prompts, query and labels are the right
    files and masks."""
    root, _ = voc
    retrieval_dir = str(tmp_path / 'retrieval')
    spec = importlib.util.spec_from_file_location(
        'build_retrieval_index',
        osp.join(REPO, 'tools', 'misc', 'build_retrieval_index.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    # val queries (fold-0 classes present: 033 aeroplane+bicycle, 042
    # bottle) -> train candidates.
    lists = {
        '2007_000033': ['2007_000063', '2007_000032', '2007_000039'],
        '2007_000042': ['2007_000129', '2007_000068', '2007_000121'],
    }
    json_path = write_reference_json(str(tmp_path / 'val.json'), lists)
    out = osp.join(retrieval_dir, 'voc12_val_top50.npz')
    tool.main([
        MIXIN, '--key', 'test_retrieval', '--from-json', json_path, '--out',
        out, '--cfg-options',
        f'test_retrieval.query_dataset.dataset.data_root={root}',
        f'test_retrieval.candidate_dataset.dataset.data_root={root}'
    ])
    index = RetrievalIndex.load(out)
    assert 'datasets' in index.fingerprint

    cfg = _mixin_cfg(root, retrieval_dir)
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    assert ds.metainfo['classes'] == ('background', 'foreground')
    assert len(ds) == 3  # 033/aeroplane, 033/bicycle, 042/bottle
    jpg = osp.join(root, 'JPEGImages', '{}.jpg').format
    png = osp.join(root, 'SegmentationClass', '{}.png').format
    # 'last' rule: an image's last record among the fold-0 classes;
    # 032 has aeroplane (1) and bird (3), 063 bird (3) and cat (not fold 0).
    expected = {
        0: ('2007_000033', 1, [('2007_000063', 3), ('2007_000032', 3)]),
        1: ('2007_000033', 2, [('2007_000063', 3), ('2007_000032', 3)]),
        2: ('2007_000042', 5, [('2007_000129', 1), ('2007_000068', 5)]),
    }
    for i, (query, cls, prompts) in expected.items():
        sample = ds[i]
        meta = sample['data_samples'].metainfo
        assert meta['img_path'] == jpg(query)
        assert meta['seg_map_path'] == png(query)
        assert meta['class_id'] == cls
        assert meta['prompt_paths'] == [jpg(n) for n, _ in prompts]
        assert meta['prompt_names'] == [n for n, _ in prompts]
        assert meta['prompt_class_ids'] == [c for _, c in prompts]
        inputs = sample['inputs']
        assert tuple(inputs.shape) == (3, 2, 3, 111, 111)
        # Query label and ground truth: the class's region, by hand.
        cell, gt = _binary_cell(SIZES[query], REGIONS[query][cls])
        np.testing.assert_array_equal(
            sample['data_samples'].gt_sem_seg.data[0].numpy(), gt)
        np.testing.assert_array_equal(inputs[0, 1, 0].numpy(), cell)
        # Query image: the JPEG, bicubic to the cell.
        img = Image.open(jpg(query)).convert('RGB').resize(
            (111, 111), Image.Resampling.BICUBIC)
        np.testing.assert_array_equal(inputs[0, 0].permute(1, 2, 0).numpy(),
                                      np.asarray(img))
        # Prompt labels: each prompt's own class region.
        for k, (name, pcls) in enumerate(prompts, 1):
            cell, _ = _binary_cell(SIZES[name], REGIONS[name][pcls])
            np.testing.assert_array_equal(inputs[k, 1, 0].numpy(), cell)

    # The index records the datasets: a removed val image is detected.
    with open(osp.join(root, 'ImageSets', 'Segmentation', 'val.txt')) as f:
        lines = f.read()
    try:
        with open(osp.join(root, 'ImageSets', 'Segmentation', 'val.txt'),
                  'w') as f:
            f.write(lines.replace('2007_000042\n', ''))
        with pytest.raises(ValueError, match='Stale retrieval index'):
            DATASETS.build(cfg.test_dataloader.dataset)
    finally:
        with open(osp.join(root, 'ImageSets', 'Segmentation', 'val.txt'),
                  'w') as f:
            f.write(lines)
