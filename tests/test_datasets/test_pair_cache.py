"""Pair cache: tools/misc/build_pair_cache.py + LoadVICLPair(cache_dir)."""
import io
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from PIL import Image, PngImagePlugin

import projects.prompthub  # noqa: F401
from projects.prompthub.datasets import Pascal5iDataset
from projects.prompthub.datasets.transforms import loading
from projects.prompthub.datasets.transforms.loading import LoadVICLPair
from projects.prompthub.datasets.transforms.pair_cache import PairCache
from projects.prompthub.registry import DATASETS
from tools.misc.build_pair_cache import main as build_cache

FIELDS = ('img', 'label_img', 'gt_seg_map', 'ori_shape', 'img_shape')
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


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


def test_cached_pairs_equal_decoded_pairs_without_decoding(cache, monkeypatch):
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
    os.utime(
        record['img_path'], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
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
    with pytest.raises(ValueError, match='reference_features'):
        LoadVICLPair(reference_features=True, cache_dir=out)
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match='build_pair_cache.py'):
        LoadVICLPair(cache_dir=missing).transform(dict(record))
    # A cache cut short (no meta.json) is refused, not read.
    os.remove(osp.join(out, 'current', 'meta.json'))
    with pytest.raises(FileNotFoundError, match='meta.json'):
        LoadVICLPair(cache_dir=out).transform(dict(record))


def _read_all(reader, keys):
    return [reader.get(key) for key in keys]


def _assert_same(got, want):
    for (img, label, shape), (img2, label2, shape2) in zip(got, want):
        assert np.array_equal(img, img2) and np.array_equal(label, label2)
        assert shape == shape2


def test_open_reader_keeps_its_pairs_while_the_cache_is_rebuilt(cache):
    _, out, _, _ = cache
    settings = LoadVICLPair().cache_settings()
    reader = PairCache(out, settings)
    keys = reader.keys()
    before = _read_all(reader, keys)
    checked = []

    def rebuilt():  # other pixels under the same keys, checked mid-way
        for row, (key, (img, label, shape)) in enumerate(zip(keys, before)):
            if row == len(keys) // 2:
                _assert_same(_read_all(reader, keys), before)
                checked.append(row)
            yield key, 255 - img, 255 - label, shape

    PairCache.write(out, settings, rebuilt(), len(keys))
    assert checked
    _assert_same(_read_all(reader, keys), before)
    # A new reader sees the rebuilt cache; the old version is gone.
    fresh = _read_all(PairCache(out, settings), keys)
    assert np.array_equal(fresh[0][0], 255 - before[0][0])
    assert len([n for n in os.listdir(out) if n.startswith('v-')]) == 1


# One builder: writes `count` rows of value `seed`+row, waiting half-way
# for the other builder to be half-way too.
_BUILDER = """
import os, sys, time
import numpy as np
from tests.light_import import import_alone
PairCache = import_alone(
    'projects.prompthub.datasets.transforms.pair_cache').PairCache
out, seed, count, me, other = sys.argv[1:]
seed, count = int(seed), int(count)

def items():
    for row in range(count):
        if row == count // 2:
            open(me, 'w').close()
            deadline = time.time() + 60
            while not os.path.exists(other) and time.time() < deadline:
                time.sleep(0.01)
        img = np.full((8, 8, 3), seed + row, np.uint8)
        yield f'{seed}-{row}', img, img + 1, (row, seed)

PairCache.write(out, dict(size=[8, 8]), items(), count)
"""


def test_two_concurrent_builders_leave_one_complete_cache(tmp_path):
    out = str(tmp_path / 'pairs')
    flags = [str(tmp_path / 'a'), str(tmp_path / 'b')]
    builders = [(10, 6), (100, 4)]  # (seed, rows)
    procs = [
        subprocess.Popen([
            sys.executable, '-c', _BUILDER, out,
            str(seed),
            str(count), flags[i], flags[1 - i]
        ],
                         cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=REPO),
                         stderr=subprocess.PIPE,
                         text=True) for i, (seed, count) in enumerate(builders)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err  # e.g. -7: a bus error
    reader = PairCache(out, dict(size=[8, 8]))
    keys = reader.keys()
    seeds = {int(key.split('-')[0]) for key in keys}
    assert len(seeds) == 1
    seed = seeds.pop()
    count = dict(builders)[seed]
    assert len(keys) == count
    for row in range(count):
        img, label, shape = reader.get(f'{seed}-{row}')
        assert (img == seed + row).all() and (label == seed + row + 1).all()
        assert shape == (row, seed)
    assert len([n for n in os.listdir(out) if n.startswith('v-')]) == 1


def _same_size_edit(path):
    """Replace an image by another one of the same byte size and mtime
    (a flat PNG padded with a text chunk; PIL reads it by content)."""
    stat = os.stat(path)
    info = PngImagePlugin.PngInfo()
    buffer = io.BytesIO()
    image = Image.new('RGB', Image.open(path).size, (10, 200, 30))
    image.save(buffer, 'PNG')
    info.add_text('pad', 'x' * (stat.st_size - len(buffer.getvalue()) - 16))
    buffer = io.BytesIO()
    image.save(buffer, 'PNG', pnginfo=info)
    assert len(buffer.getvalue()) == stat.st_size
    with open(path, 'wb') as f:
        f.write(buffer.getvalue())
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_verify_catches_an_edit_that_keeps_size_and_mtime(tmp_path, tiny_voc):
    root = str(tmp_path / 'voc')
    shutil.copytree(tiny_voc[0], root)
    config = _config(tmp_path, root)
    stat_dir, verify_dir = str(tmp_path / 'stat'), str(tmp_path / 'verify')
    build_cache([config, '--out', stat_dir, '--splits', 'test'])
    build_cache([config, '--out', verify_dir, '--splits', 'test', '--verify'])
    record = _records(root)[-1]  # a val record: cached
    _same_size_edit(record['img_path'])
    want = LoadVICLPair().transform(dict(record))
    # (size, mtime) keys cannot see the edit: the stale pair is served.
    by_stat = LoadVICLPair(cache_dir=stat_dir)
    stale = by_stat.transform(dict(record))
    assert by_stat.cache_misses == 0
    assert not np.array_equal(stale['img'], want['img'])
    # Content keys miss and read the edited file (readers follow the
    # cache's key kind; cache_verify=True insists on it).
    for verify in (None, True):
        by_content = LoadVICLPair(cache_dir=verify_dir, cache_verify=verify)
        got = by_content.transform(dict(record))
        assert by_content.cache_misses == 1
        for field in FIELDS:
            assert np.array_equal(got[field], want[field]), field
    # Unedited records still hit the content-keyed cache.
    other = _records(root)[-2]
    by_content = LoadVICLPair(cache_dir=verify_dir)
    by_content.transform(dict(other))
    assert by_content.cache_misses == 0
    with pytest.raises(ValueError, match='--verify'):
        LoadVICLPair(
            cache_dir=stat_dir, cache_verify=True).transform(dict(record))


def test_a_file_edited_during_the_build_publishes_nothing(
        tmp_path, tiny_voc, monkeypatch):
    root = str(tmp_path / 'voc')
    shutil.copytree(tiny_voc[0], root)
    config, out = _config(tmp_path, root), str(tmp_path / 'pairs')
    build_cache([config, '--out', out, '--splits', 'test'])
    before = os.readlink(osp.join(out, 'current'))
    decode = LoadVICLPair.load_resized

    def decode_then_edit(self, results):
        pair = decode(self, results)
        stat = os.stat(results['img_path'])
        os.utime(
            results['img_path'],
            ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        return pair

    monkeypatch.setattr(LoadVICLPair, 'load_resized', decode_then_edit)
    with pytest.raises(SystemExit, match='changed while the pair cache'):
        build_cache([config, '--out', out, '--splits', 'test'])
    # The previous version is still the published, complete one.
    assert os.readlink(osp.join(out, 'current')) == before
    assert [n for n in os.listdir(out) if n.startswith('v-')] == [before]
    assert PairCache(out, LoadVICLPair().cache_settings()).get('') is None


def test_a_cache_of_the_flat_layout_is_read_then_replaced(cache):
    root, out, _, _ = cache
    # The layout before versions: the files directly in the folder.
    version = os.readlink(osp.join(out, 'current'))
    os.remove(osp.join(out, 'current'))
    for name in os.listdir(osp.join(out, version)):
        os.rename(osp.join(out, version, name), osp.join(out, name))
    record = _records(root)[0]
    want = LoadVICLPair().transform(dict(record))
    flat = LoadVICLPair(cache_dir=out)
    assert np.array_equal(flat.transform(dict(record))['img'], want['img'])
    assert flat.cache_misses == 0 and flat.cache.version == out
    settings = LoadVICLPair().cache_settings()
    keys = PairCache(out, settings).keys()
    pairs = _read_all(PairCache(out, settings), keys)
    PairCache.write(out, settings, ((k, *p) for k, p in zip(keys, pairs)),
                    len(keys))
    assert not {'meta.json', 'keys.json', 'pairs.u8'} & set(os.listdir(out))
    _assert_same(_read_all(PairCache(out, settings), keys), pairs)
