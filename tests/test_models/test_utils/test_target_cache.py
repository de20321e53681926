"""The target-code cache: exact reuse of C*'s codes across epochs."""
import copy
import os
import os.path as osp
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import projects.prompthub  # noqa: F401
from projects.prompthub.models.utils.target_cache import (TargetCache,
                                                          content_keys)
from projects.prompthub.registry import MODELS
from tests.test_models.test_utils.target_writer import (fake_targets,
                                                        small_queries)

TINY = 'configs/prompthub/prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py'
REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))


def build(**overrides):
    init_default_scope('mmseg')
    cfg = Config.fromfile(TINY).model.to_dict()
    cfg['neck']['dropout'] = 0.0
    cfg.update(overrides)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def dataset(num: int = 6, prompts: int = 2, seed: int = 0) -> torch.Tensor:
    """Preprocessed samples: [num, K+1, 2, 3, S, S] multiples of 1/255."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(
        0,
        256, (num, prompts + 1, 2, 3, 111, 111),
        generator=gen,
        dtype=torch.uint8).float() / 255


def counting(model):
    return mock.patch.object(
        model.backbone,
        'encode_to_codes',
        wraps=model.backbone.encode_to_codes)


def run_epochs(model, data, order_seed=0, epochs=2, batch=2):
    """Loss of every step; samples reshuffled and re-prompted per epoch."""
    gen = torch.Generator().manual_seed(order_seed)
    out = []
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=gen)
        for start in range(0, len(data), batch):
            inputs = data[order[start:start + batch]].clone()
            # New prompts every epoch (PromptReplacement-like): the query
            # pair, hence the target, stays.
            inputs[:, 1:] = torch.rand(inputs[:, 1:].shape, generator=gen)
            out.append(model.loss(inputs, []))
    return out


def test_cached_targets_equal_fresh_and_encoder_runs_once(tmp_path):
    data = dataset(4)
    plain = build()
    cached = build(target_cache=dict(dir=str(tmp_path)))
    cached.load_state_dict(plain.state_dict())
    with counting(plain) as plain_calls:
        expected = run_epochs(plain, data)
    with counting(cached) as cached_calls:
        got = run_epochs(cached, data)
    for e, g in zip(expected, got):
        assert e.keys() == g.keys()
        for name in e:
            torch.testing.assert_close(g[name], e[name], rtol=0, atol=0)
    assert plain_calls.call_count == 4  # 2 epochs x 2 steps
    # Epoch 1 encodes each batch once; epoch 2 never calls the encoder.
    assert cached_calls.call_count == 2
    encoded = sum(c.args[0].shape[0] for c in cached_calls.call_args_list)
    assert encoded == len(data)
    assert cached.target_cache.hits == len(data)
    assert cached.target_cache.misses == len(data)


def test_targets_from_cache_match_and_partial_batches_keep_order():
    model = build(target_cache=dict())
    data = dataset(5)
    fresh = model.prediction_targets(data)
    first = model.target_cache.get(data[:3], model.prediction_targets,
                                   model.backbone)
    torch.testing.assert_close(first, fresh[:3], rtol=0, atol=0)
    mixed = data[[4, 0, 3, 2]]  # new, cached, new, cached
    with counting(model) as calls:
        got = model.target_cache.get(mixed, model.prediction_targets,
                                     model.backbone)
    assert got.dtype == fresh.dtype
    torch.testing.assert_close(got, fresh[[4, 0, 3, 2]], rtol=0, atol=0)
    # Only the two new query pairs were encoded, in one call.
    assert calls.call_count == 1 and calls.call_args.args[0].shape[0] == 2
    with counting(model) as calls:
        again = model.target_cache.get(mixed, model.prediction_targets,
                                       model.backbone)
    assert calls.call_count == 0
    torch.testing.assert_close(again, got, rtol=0, atol=0)


def test_store_persists_across_processes_and_is_fingerprinted(tmp_path):
    data = dataset(4)
    model = build(target_cache=dict(dir=str(tmp_path)))
    model.loss(data, [])
    # A new model (a resumed run) reads the file: no encoding at all.
    other = build(target_cache=dict(dir=str(tmp_path)))
    # The weights PromptHub.loss fingerprints (the MAE-VQGAN's VQGAN).
    vqgan = other.backbone.target_network()
    with counting(other) as calls:
        got = other.target_cache.get(data, other.prediction_targets,
                                     other.backbone, vqgan)
    assert calls.call_count == 0
    torch.testing.assert_close(
        got, other.prediction_targets(data), rtol=0, atol=0)
    # Other tokenizer weights, another precision, another pair size:
    # separate stores, computed afresh.
    with torch.no_grad():
        other.backbone.vae.quantize.embedding.weight.mul_(1.5)
    other.target_cache.reset_fingerprint()
    with counting(other) as calls:
        other.target_cache.get(data, other.prediction_targets, other.backbone,
                               vqgan)
    assert calls.call_count == 1
    with counting(other) as calls, torch.autocast('cpu', dtype=torch.bfloat16):
        other.target_cache.get(data, other.prediction_targets, other.backbone,
                               vqgan)
    assert calls.call_count == 1
    assert len(list(tmp_path.glob('*/meta.json'))) == 3


def test_store_grows_and_drops_a_torn_tail(tmp_path):
    cache = TargetCache(dir=str(tmp_path))
    backbone = torch.nn.Linear(2, 2)
    inputs = dataset(70, prompts=0)
    compute = mock.Mock(side_effect=lambda x: x[:, 0, 0, 0, 0, :4] * 255)
    first = cache.get(inputs, compute, backbone)  # > 64 rows: grows
    (store_dir, ) = [p for p in tmp_path.iterdir() if p.is_dir()]
    keys = store_dir / 'keys-w0.bin'
    with open(keys, 'ab') as f:
        f.write(b'\0' * 7)  # an interrupted append
    del cache  # the writer ends; the next one takes over its slot
    reopened = TargetCache(dir=str(tmp_path))
    compute.reset_mock()
    got = reopened.get(inputs, compute, backbone)
    assert compute.call_count == 0
    torch.testing.assert_close(got, first, rtol=0, atol=0)
    assert keys.stat().st_size == 70 * 40  # 4 int64 key + 1 digest


def test_keys_see_every_pixel_and_refuse_non_uint8_values():
    data = dataset(2, prompts=0)[:, 0]
    keys, ok = content_keys(data)
    assert ok.all() and not np.array_equal(keys[0], keys[1])
    changed = data.clone()
    changed[0, 1, 2, 110, 5] = (changed[0, 1, 2, 110, 5] * 255 + 1) % 256 / 255
    keys2, _ = content_keys(changed)
    assert not np.array_equal(keys2[0], keys[0])
    np.testing.assert_array_equal(keys2[1], keys[1])
    u8_keys, _ = content_keys((data * 255).round().to(torch.uint8))
    np.testing.assert_array_equal(u8_keys, keys)
    # Values that are not k/255 (e.g. an augmented float canvas) are
    # never cached: they are recomputed every time.
    _, ok = content_keys(data + 0.3 / 255)
    assert not ok.any()
    cache = TargetCache()
    compute = mock.Mock(side_effect=lambda x: x[:, 0, 0, 0, 0, :3])
    noisy = (data + 0.3 / 255)[:, None]
    cache.get(noisy, compute, torch.nn.Linear(1, 1))
    cache.get(noisy, compute, torch.nn.Linear(1, 1))
    assert compute.call_count == 2


def test_off_by_default_and_copyable(tmp_path):
    assert build().target_cache is None
    assert build(target_cache=dict(enabled=False)).target_cache is None
    model = build(target_cache=dict(dir=str(tmp_path)))
    model.loss(dataset(2), [])
    clone = copy.deepcopy(model)
    with counting(clone) as calls:
        clone.loss(dataset(2), [])
    assert calls.call_count == 0  # reopened the file store
    assert 'target_cache' not in ''.join(model.state_dict())


def test_only_the_target_network_is_fingerprinted(tmp_path):
    """PromptHub fingerprints its backbone's target_network() (the
    MAE-VQGAN's VQGAN), which holds every weight its targets depend on:
    other weights keep the cache, the VQGAN's invalidate it. Without
    ``weights`` the whole module is hashed."""
    model = build(target_cache=dict(dir=str(tmp_path)))
    model.loss(dataset(2), [])
    cache, backbone = model.target_cache, model.backbone
    query = dataset(1)[:, 0]
    vqgan = backbone.target_network()
    before = cache.fingerprint(backbone, query)  # what loss() hashed
    with torch.no_grad():
        backbone.decoder_pred.weight.add_(1.)
    cache.reset_fingerprint()
    assert cache.fingerprint(backbone, query, vqgan) == before
    cache.reset_fingerprint()
    assert cache.fingerprint(backbone, query) != before  # all weights
    with torch.no_grad():
        backbone.vae.quantize.embedding.weight.add_(1.)
    cache.reset_fingerprint()
    assert cache.fingerprint(backbone, query, vqgan) != before


def test_two_processes_writing_one_store_keep_every_row_right(tmp_path):
    cache_dir = str(tmp_path / 'cache')
    flags = [str(tmp_path / 'a'), str(tmp_path / 'b')]
    env = dict(os.environ, PYTHONPATH=REPO)
    procs = [
        subprocess.Popen([
            sys.executable, '-m', 'tests.test_models.test_utils.target_writer',
            cache_dir,
            str(seed), flags[i], flags[1 - i]
        ],
                         cwd=REPO,
                         env=env,
                         stderr=subprocess.PIPE,
                         text=True) for i, seed in enumerate((1, 2))
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    # Every row read back is its own sample's target, and all are served.
    reader = TargetCache(dir=cache_dir)
    compute = mock.Mock(side_effect=fake_targets)
    for seed in (1, 2):
        data = small_queries(64, seed)
        got = reader.get(data, compute, torch.nn.Identity())
        torch.testing.assert_close(got, fake_targets(data), rtol=0, atol=0)
    assert compute.call_count == 0 and reader.hits == 128


def test_a_row_that_is_not_its_keys_is_recomputed_not_served(tmp_path):
    data = small_queries(6, 3)
    backbone = torch.nn.Linear(2, 2)
    TargetCache(dir=str(tmp_path)).get(data, fake_targets, backbone)
    (rows_file, ) = tmp_path.glob('*/rows-w0.bin')
    rows = np.memmap(rows_file, np.int64, 'r+', shape=(64, 24))
    rows[2] = rows[4]  # another sample's target under row 2's key
    rows.flush()
    del rows
    compute = mock.Mock(side_effect=fake_targets)
    reader = TargetCache(dir=str(tmp_path))
    with pytest.warns(UserWarning, match=r'row 2 of .*rows-w0\.bin is not'):
        got = reader.get(data, compute, backbone)
    torch.testing.assert_close(got, fake_targets(data), rtol=0, atol=0)
    assert compute.call_count == 1
    assert compute.call_args.args[0].shape[0] == 1
    # The recomputed row is stored (in this reader's own slot) and served.
    compute.reset_mock()
    again = TargetCache(dir=str(tmp_path))
    with pytest.warns(UserWarning, match='recomputed, not served'):
        got = again.get(data, compute, backbone)
    torch.testing.assert_close(got, fake_targets(data), rtol=0, atol=0)
    assert compute.call_count == 0
