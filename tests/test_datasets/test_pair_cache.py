"""Pair cache: tools/build_pair_cache.py + LoadVICLPair(cache_dir)."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

import projects.prompthub  # noqa: F401
from projects.prompthub.datasets import Pascal5iDataset
from projects.prompthub.datasets.transforms import loading
from projects.prompthub.datasets.transforms.loading import LoadVICLPair
from projects.prompthub.registry import DATASETS
from tools.build_pair_cache import main as build_cache

FIELDS = ('img', 'label_img', 'gt_seg_map', 'ori_shape', 'img_shape')


def _config(tmp_path, root):
    path = tmp_path / 'cfg.py'
    path.write_text(f"""
default_scope = 'mmseg'
load = [dict(type='LoadVICLPair', task='segmentation', size=111)]
trn = dict(type='Pascal5iDataset', data_root={root!r}, fold=0, split='trn',
           pipeline=load)
train_dataloader = dict(dataset=dict(
    type='HoldoutSubset', dataset=trn, part='train', ratio=0.3, seed=0))
test_dataloader = dict(dataset=dict(
    type='Pascal5iDataset', data_root={root!r}, fold=0, split='val',
    test_mode=True, pipeline=load))
""")
    return str(path)


def _records(root):
    return [
        ds.get_data_info(i)
        for ds in (Pascal5iDataset(data_root=root, fold=0, split=split)
                   for split in ('trn', 'val')) for i in range(len(ds))
    ]


@pytest.fixture
def cache(tmp_path, tiny_voc):
    root, _ = tiny_voc
    out = str(tmp_path / 'pairs')
    summary = build_cache([_config(tmp_path, root), '--out', out])
    return root, out, summary, tmp_path


def test_cached_pairs_equal_decoded_pairs_without_decoding(
        cache, monkeypatch):
    root, out, summary, _ = cache
    records = _records(root)
    # Wrappers (HoldoutSubset) are looked through: the whole trn split is
    # cached, and val; 10 distinct pairs.
    keys = {LoadVICLPair.cache_key(r) for r in records}
    assert summary['pairs'] == len(keys) == len(records) == 10
    expected = [LoadVICLPair().transform(dict(r)) for r in records]
    cached = LoadVICLPair(cache_dir=out)

    def no_decoding(*args, **kwargs):
        raise AssertionError('decoded a cached pair')

    hits = 0
    for record, want in zip(records, expected):
        hit = cached.cache.get(LoadVICLPair.cache_key(record)) is not None
        if hit:
            hits += 1
            monkeypatch.setattr(loading, 'read_image', no_decoding)
            monkeypatch.setattr(loading, 'read_mask', no_decoding)
        got = cached.transform(dict(record))
        monkeypatch.undo()
        for field in FIELDS:
            assert np.array_equal(got[field], want[field]), field
        assert got['ori_shape'] == want['ori_shape']
    assert hits == summary['pairs']
    assert cached.cache_misses == 0


def test_printed_cfg_options_switch_the_config_to_the_cache(cache):
    root, out, summary, tmp_path = cache
    assert summary['cfg_options'] == [
        'train_dataloader.dataset.dataset.pipeline.0.cache_dir=' + out,
        'test_dataloader.dataset.pipeline.0.cache_dir=' + out,
    ]
    cfg = Config.fromfile(_config(tmp_path, root))
    cfg.merge_from_dict(
        dict(option.split('=') for option in summary['cfg_options']))
    init_default_scope('mmseg')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    loader = dataset.pipeline.transforms[0]
    assert loader.cache.directory == out
    dataset[0]
    assert loader.cache_misses == 0


def test_changed_file_misses_and_reads_the_disk(cache, tmp_path_factory):
    root, out, _, _ = cache
    record = _records(root)[-1]  # a val record: cached
    loader = LoadVICLPair(cache_dir=out)
    assert loader.cache.get(LoadVICLPair.cache_key(record)) is not None
    stat = os.stat(record['img_path'])
    os.utime(record['img_path'],
             ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    logger = MMLogger.get_current_instance()
    messages = []
    handler = type('H', (__import__('logging').Handler, ), {
        'emit': lambda self, rec: messages.append(rec.getMessage())
    })()
    logger.addHandler(handler)
    try:
        got = loader.transform(dict(record))
    finally:
        logger.removeHandler(handler)
        os.utime(record['img_path'], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert loader.cache_misses == 1
    assert any('not in the pair cache' in m for m in messages)
    want = LoadVICLPair().transform(dict(record))
    assert np.array_equal(got['img'], want['img'])


def test_bad_caches_are_refused(cache, tmp_path):
    _, out, _, _ = cache
    record = _records(cache[0])[0]
    with pytest.raises(ValueError, match='rebuild it for this config'):
        LoadVICLPair(size=64, cache_dir=out).transform(dict(record))
    with pytest.raises(ValueError, match='legacy_features'):
        LoadVICLPair(legacy_features=True, cache_dir=out)
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match='build_pair_cache.py'):
        LoadVICLPair(cache_dir=missing).transform(dict(record))
    # A cache cut short (no meta.json) is refused, not read.
    os.remove(osp.join(out, 'meta.json'))
    with pytest.raises(FileNotFoundError, match='meta.json'):
        LoadVICLPair(cache_dir=out).transform(dict(record))
