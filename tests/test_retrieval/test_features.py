import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from projects.prompthub.retrieval import (FeatureExtractor, FeatureStore,
                                          FeatureWriter, build_preprocess,
                                          load_timm_model)
from ._helpers import (TINY_KWARGS, TINY_MODEL, TINY_PREPROCESS, make_images,
                       manual_features, manual_preprocess, save_tiny_model)


@pytest.fixture
def tiny(tmp_path):
    weights = tmp_path / 'tiny_vit.pth'
    model = save_tiny_model(weights)
    return model, str(weights)


def _extractor(weights, **kwargs):
    kwargs.setdefault('preprocess', TINY_PREPROCESS)
    return FeatureExtractor(
        model=TINY_MODEL, weights=weights, model_kwargs=TINY_KWARGS, **kwargs)


def test_missing_weights_message(tmp_path):
    missing = str(tmp_path / 'open_clip_pytorch_model.bin')
    with pytest.raises(FileNotFoundError) as err:
        load_timm_model(weights=missing)
    msg = str(err.value)
    assert missing in msg
    assert 'timm/vit_large_patch14_clip_224.laion2b' in msg
    assert 'retrieval.weights' in msg
    with pytest.raises(FileNotFoundError, match='None'):
        FeatureExtractor(weights=None)


def test_weights_are_loaded_from_file(tiny):
    model, weights = tiny
    loaded = load_timm_model(TINY_MODEL, weights, TINY_KWARGS)
    assert not loaded.training
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
        fresh = save_tiny_model(weights + '.other', seed=1)
        assert not torch.allclose(fresh(x), model(x))
    # A file of another architecture fails loudly (strict load).
    with pytest.raises(RuntimeError, match='size mismatch'):
        load_timm_model(TINY_MODEL, weights, dict(TINY_KWARGS, embed_dim=64))


def test_preprocess_matches_reference_pipeline(tmp_path):
    path = str(tmp_path / 'wide.png')
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 62, 3),
                                 dtype=np.uint8)).save(path)
    with Image.open(path) as img:
        got = build_preprocess(**TINY_PREPROCESS)(img.convert('RGB'))
    assert got.shape == (3, 32, 32)
    torch.testing.assert_close(got, manual_preprocess(path), atol=1e-5, rtol=0)


@pytest.mark.parametrize('feature', ['pixel', 'pooled'])
def test_features_match_manual_computation(tiny, tmp_path, feature):
    model, weights = tiny
    paths = make_images(tmp_path, [f'im{i}' for i in range(5)])
    extractor = _extractor(weights, feature=feature, batch_size=2)
    feats = extractor.extract(paths, progress=False)
    width = 17 * 32 if feature == 'pixel' else 8
    assert feats.shape == (5, width) and feats.dtype == np.float32
    np.testing.assert_allclose(
        feats, manual_features(model, paths, feature), atol=1e-5)
    assert extractor.last_stats['images'] == 5


def test_feature_store_write_reuse_and_invalidate(tiny, tmp_path):
    _, weights = tiny
    paths = make_images(tmp_path, [f'im{i}' for i in range(5)])
    out = str(tmp_path / 'feats' / 'f.npy')
    extractor = _extractor(weights, batch_size=2, fp16=True)
    store = extractor.extract(paths, out, progress=False)
    assert isinstance(store, FeatureStore)
    assert store.shape == (5, 17 * 32) and store.dtype == np.float16
    assert not extractor.last_stats['cached']
    in_memory = extractor.extract(paths, progress=False)
    np.testing.assert_array_equal(store[:], in_memory)
    np.testing.assert_array_equal(store.as_memmap(), in_memory)
    np.testing.assert_array_equal(store[1:4], in_memory[1:4])
    np.testing.assert_array_equal(store[-1], in_memory[4])
    assert store.meta['fp16'] is True
    # Same settings: reused; other preprocessing: recomputed.
    again = extractor.extract(paths, out, progress=False)
    assert extractor.last_stats['cached'] and isinstance(again, FeatureStore)
    other = _extractor(
        weights,
        batch_size=2,
        fp16=True,
        preprocess=dict(TINY_PREPROCESS, resize=36))
    other.extract(paths, out, progress=False)
    assert not other.last_stats['cached']
    assert FeatureStore(out).meta['preprocess']['resize'] == 36


def test_writer_partial_file_is_not_valid(tmp_path):
    path = str(tmp_path / 'p.npy')
    writer = FeatureWriter(path, (4, 3), np.float32)
    writer.write(np.ones((2, 3)))
    assert FeatureStore.open_if_valid(path, {}) is None
    with pytest.raises(ValueError, match='2 rows written'):
        writer.close({})
    writer = FeatureWriter(path, (2, 3), np.float32)
    writer.write(np.arange(6).reshape(2, 3))
    store = writer.close({'a': [1, 2]})
    assert FeatureStore.open_if_valid(path, {'a': (1, 2)}) is not None
    assert FeatureStore.open_if_valid(path, {'a': (1, 3)}) is None
    np.testing.assert_array_equal(np.load(path), np.arange(6).reshape(2, 3))
    with open(path + '.json') as f:
        assert json.load(f) == {'a': [1, 2]}
    assert store[0].tolist() == [0, 1, 2]


def test_unreadable_image_names_file(tiny, tmp_path):
    _, weights = tiny
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'not an image')
    with pytest.raises(OSError, match='broken.jpg'):
        _extractor(weights).extract([str(bad)], progress=False)


def test_edited_image_is_recomputed_others_reused(tiny, tmp_path):
    _, weights = tiny
    paths = make_images(tmp_path, [f'im{i}' for i in range(4)])
    out = str(tmp_path / 'feats' / 'f.npy')
    extractor = _extractor(weights, batch_size=3)
    before = extractor.extract(paths, out, progress=False)[:]
    assert extractor.last_stats['images'] == 4
    # Other content, same path; the mtime moves on as an edit moves it.
    make_images(tmp_path, ['im2'], seed=7)
    st = os.stat(paths[2])
    os.utime(paths[2], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    after = extractor.extract(paths, out, progress=False)
    stats = extractor.last_stats
    assert (stats['images'], stats['changed'], stats['reused']) == (1, 1, 3)
    assert not stats['cached']
    fresh = extractor.extract(paths, progress=False)
    np.testing.assert_array_equal(after[:], fresh)
    assert not np.allclose(after[2], before[2])
    np.testing.assert_array_equal(
        np.delete(after[:], 2, 0), np.delete(before, 2, 0))
    # Nothing changed: the store is served as it is.
    extractor.extract(paths, out, progress=False)
    assert extractor.last_stats['cached']
    assert extractor.last_stats['reused'] == 4


@pytest.mark.parametrize('damage', ['truncated', 'empty'])
def test_corrupt_feature_store_is_named_and_recomputed(tiny, tmp_path, damage):
    _, weights = tiny
    paths = make_images(tmp_path, [f'im{i}' for i in range(3)])
    out = str(tmp_path / 'f.npy')
    extractor = _extractor(weights)
    good = extractor.extract(paths, out, progress=False)[:]
    size = os.path.getsize(out)
    with open(out, 'r+b') as f:
        f.truncate(size - 100 if damage == 'truncated' else 0)
    with pytest.raises(ValueError) as err:
        FeatureStore(out)
    assert out in str(err.value)
    assert 'tools/misc/build_retrieval_index.py' in str(err.value)
    # The extractor treats it as a cache: warns and recomputes.
    store = extractor.extract(paths, out, progress=False)
    assert extractor.last_stats['images'] == 3
    np.testing.assert_array_equal(store[:], good)
