import importlib.util
import json
import logging
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmseg.structures import SegDataSample

from projects.prompthub.datasets import (Pascal5iDataset,
                                         RetrievalAugmentedDataset)
from projects.prompthub.registry import DATASETS
from projects.prompthub.retrieval import (RetrievalIndex, collect_samples,
                                          make_fingerprint)
from projects.prompthub.testing import make_tiny_voc, write_reference_json
from tests.log_capture import logged_messages

N32, N39, N63, N68, N121, N129 = ('2007_000032', '2007_000039', '2007_000063',
                                  '2007_000068', '2007_000121', '2007_000129')
N33, N42 = '2007_000033', '2007_000042'

# Pool = Pascal-5i fold 0 trn: 0 N32/c0, 1 N32/c2, 2 N39/c1, 3 N63/c2,
# 4 N68/c4, 5 N121/c3, 6 N129/c0.
TRN_LISTS = {
    N32: [N32, N63, N63, N129, N39],  # self first and a duplicate
    N39: [N121, N32],
    N63: [N32, N129],
    N68: [N39, N63],
    N121: [N68, N129],
    N129: [N32, N68],
}
# 'query_class' rule: the query's class if the prompt image has it,
# else that image's first sample.
TRN_EXPECTED = [[3, 6], [3, 6], [5, 0], [1, 6], [2, 3], [4, 6], [0, 4]]

VAL_LISTS = {N33: [N32, N129, N39], N42: [N68, N32]}
# 'last' rule: the image's last-listed sample.
VAL_EXPECTED = [[1, 6], [1, 6], [4, 1]]

LOAD = [dict(type='LoadVICLPair', task='segmentation')]


def _pascal(root, split, **kwargs):
    return dict(
        type='Pascal5iDataset',
        data_root=root,
        fold=0,
        split=split,
        pipeline=LOAD,
        **kwargs)


@pytest.fixture
def trn_json(tmp_path):
    return write_reference_json(str(tmp_path / 'trn.json'), TRN_LISTS)


@pytest.fixture
def val_json(tmp_path):
    return write_reference_json(str(tmp_path / 'val.json'), VAL_LISTS)


def test_train_to_train_prompts_follow_class_rule(tiny_voc, trn_json):
    root, _ = tiny_voc
    ds = RetrievalAugmentedDataset(
        dataset=_pascal(root, 'trn'), index=trn_json, num_prompts=2)
    assert ds.exclude_self and ds.prompt_rule == 'query_class'
    assert len(ds) == 7
    assert [ds.get_prompt_indices(i) for i in range(7)] == TRN_EXPECTED
    pool = ds.prompt_dataset
    for i in range(len(ds)):
        query = ds.dataset.get_data_info(i)
        names = [
            pool.get_data_info(j)['sample_name']
            for j in ds.get_prompt_indices(i)
        ]
        assert query['sample_name'] not in names
    res = ds[3]
    assert len(res['prompt_results']) == 2
    assert res['prompt_indices'] == [1, 6]
    p0 = res['prompt_results'][0]
    assert (p0['sample_name'], p0['class_id']) == (N32, 2)
    assert p0['img'].shape == (111, 111, 3) and 'gt_seg_map' in p0


def test_val_to_train_uses_last_listed_sample(tiny_voc, val_json):
    root, _ = tiny_voc
    ds = RetrievalAugmentedDataset(
        dataset=_pascal(root, 'val', test_mode=True),
        prompt_dataset=_pascal(root, 'trn'),
        index=val_json,
        num_prompts=2)
    assert ds.test_mode and not ds.exclude_self
    assert ds.prompt_rule == 'last'
    assert [ds.get_prompt_indices(i) for i in range(3)] == VAL_EXPECTED
    # deterministic in test mode
    a, b = ds[2], ds[2]
    assert a['prompt_indices'] == b['prompt_indices'] == [4, 1]
    for pa, pb in zip(a['prompt_results'], b['prompt_results']):
        np.testing.assert_array_equal(pa['img'], pb['img'])


def test_reference_json_and_dict_give_same_prompts(tiny_voc, trn_json):
    root, _ = tiny_voc
    pool = Pascal5iDataset(data_root=root, fold=0, split='trn', pipeline=LOAD)
    from_json = RetrievalAugmentedDataset(pool, index=trn_json, num_prompts=2)
    from_dict = RetrievalAugmentedDataset(
        pool, index=json.load(open(trn_json)), num_prompts=2)
    assert [from_json.get_prompt_indices(i) for i in range(7)] == \
        [from_dict.get_prompt_indices(i) for i in range(7)]


def test_npz_index_gives_same_prompts_as_json(tiny_voc, trn_json, tmp_path):
    from projects.prompthub.retrieval.index import RetrievalIndex
    root, _ = tiny_voc
    index = RetrievalIndex.from_reference_json(trn_json)
    npz = str(tmp_path / 'trn.npz')
    index.save(npz)
    pool = Pascal5iDataset(data_root=root, fold=0, split='trn', pipeline=LOAD)
    a = RetrievalAugmentedDataset(pool, index=trn_json, num_prompts=2)
    b = RetrievalAugmentedDataset(pool, index=npz, num_prompts=2)
    assert [a.get_prompt_indices(i) for i in range(7)] == \
        [b.get_prompt_indices(i) for i in range(7)] == TRN_EXPECTED


def test_clear_errors(tiny_voc, tmp_path):
    root, _ = tiny_voc
    pool = Pascal5iDataset(data_root=root, fold=0, split='trn', pipeline=LOAD)
    lists = dict(TRN_LISTS)
    del lists[N121]
    path = write_reference_json(str(tmp_path / 'partial.json'), lists)
    with pytest.raises(KeyError, match=f'{N121}.*partial.json'):
        RetrievalAugmentedDataset(pool, index=path, num_prompts=1)
    path = write_reference_json(str(tmp_path / 'short.json'), TRN_LISTS)
    with pytest.raises(ValueError, match=f'{N39}.*only 2.*num_prompts=3'):
        RetrievalAugmentedDataset(pool, index=path, num_prompts=3)
    lists = dict(TRN_LISTS, **{N68: ['2011_999999', N39, N63]})
    path = write_reference_json(str(tmp_path / 'unknown.json'), lists)
    with pytest.raises(KeyError, match='2011_999999'):
        RetrievalAugmentedDataset(pool, index=path, num_prompts=2)
    ds = RetrievalAugmentedDataset(
        pool, index=path, num_prompts=2, skip_unknown_candidates=True)
    assert ds.get_prompt_indices(4) == [2, 3]
    with pytest.raises(FileNotFoundError, match='missing.json'):
        RetrievalAugmentedDataset(
            pool, index=str(tmp_path / 'missing.json'), num_prompts=1)


def test_lazy_init_metainfo_and_idempotent_full_init(tiny_voc, trn_json):
    root, _ = tiny_voc
    ds = RetrievalAugmentedDataset(
        dataset=_pascal(root, 'trn', lazy_init=True),
        index=trn_json,
        num_prompts=2,
        lazy_init=True)
    assert not ds._fully_initialized
    meta = ds.metainfo
    meta['classes'] = ('changed', )
    # Binary VICL classes are reported; the source classes are kept.
    assert ds.metainfo['classes'] == ('background', 'foreground')
    assert ds.metainfo['source_classes'][0] == 'aeroplane'
    custom = RetrievalAugmentedDataset(
        dataset=_pascal(root, 'trn', lazy_init=True),
        index=trn_json,
        num_prompts=2,
        metainfo=dict(classes=('bg', 'object')),
        lazy_init=True)
    assert custom.metainfo['classes'] == ('bg', 'object')
    assert len(ds) == 7  # triggers full_init
    table = ds._prompt_table
    ds.full_init()
    assert ds._prompt_table is table
    assert ds.get_data_info(2)['prompt_indices'] == [5, 0]
    with pytest.raises(NotImplementedError):
        ds.get_subset(2)


def test_sampler_shards_cover_dataset(tiny_voc, val_json, monkeypatch):
    root, _ = tiny_voc
    ds = RetrievalAugmentedDataset(
        dataset=_pascal(root, 'val', test_mode=True),
        prompt_dataset=_pascal(root, 'trn'),
        index=val_json,
        num_prompts=2)
    seen = []
    for rank in range(2):
        monkeypatch.setattr(
            'mmengine.dataset.sampler.get_dist_info', lambda r=rank: (r, 2))
        sampler = DefaultSampler(ds, shuffle=False, round_up=False)
        for i in sampler:
            # no per-rank state: a rank sees exactly the global selection
            assert ds[i]['prompt_indices'] == VAL_EXPECTED[i]
            seen.append(i)
    assert sorted(seen) == [0, 1, 2]


def test_prompt_replacement_inside_wrapper(tiny_voc, trn_json):
    root, _ = tiny_voc
    ds = RetrievalAugmentedDataset(
        dataset=_pascal(root, 'trn'),
        index=trn_json,
        num_prompts=2,
        pipeline=[
            dict(type='PromptReplacement', prob_query=0.3, prob_random=0.4)
        ])
    kinds = set()
    for seed in range(12):
        np.random.seed(seed)
        res = ds[3]
        np.random.seed(seed)
        u = np.random.random_sample(2)
        expected = [
            'query' if x < 0.3 else 'random' if x < 0.7 else 'keep' for x in u
        ]
        rand_idx = list(np.random.randint(0, 7, size=expected.count('random')))
        assert res['prompt_replacement'] == expected
        assert 'mix_results' not in res
        for k, kind in enumerate(expected):
            kinds.add(kind)
            prompt = res['prompt_results'][k]
            if kind == 'keep':
                assert res['prompt_indices'][k] == TRN_EXPECTED[3][k]
            elif kind == 'query':
                assert res['prompt_indices'][k] == -1
                np.testing.assert_array_equal(prompt['img'], res['img'])
            else:
                j = int(rand_idx.pop(0))
                assert res['prompt_indices'][k] == j
                info = ds.prompt_dataset.get_data_info(j)
                assert prompt['sample_name'] == info['sample_name']
                assert prompt['class_id'] == info['class_id']
                assert prompt['img'].shape == (111, 111, 3)
    assert kinds == {'keep', 'query', 'random'}


def test_end_to_end_from_config(tiny_voc, val_json):
    root, _ = tiny_voc
    cfg = dict(
        type='RetrievalAugmentedDataset',
        dataset=_pascal(root, 'val', test_mode=True),
        prompt_dataset=_pascal(root, 'trn'),
        index=val_json,
        num_prompts=2,
        pipeline=[dict(type='PackVICLInputs')])
    ds = DATASETS.build(cfg)
    batch = pseudo_collate([ds[0], ds[2]])
    assert len(batch['inputs']) == 2
    for inputs in batch['inputs']:
        assert inputs.shape == (3, 2, 3, 111, 111)
        assert inputs.dtype == torch.uint8
    s0, s2 = batch['data_samples']
    assert isinstance(s0, SegDataSample)
    assert s0.gt_sem_seg.data.shape == (1, 111, 111)
    assert set(s0.gt_sem_seg.data.unique().tolist()) == {0, 1}
    assert s0.sample_name == N33 and s0.class_id == 0
    assert s2.sample_name == N42 and s2.class_id == 4
    assert s2.prompt_indices == [4, 1]
    assert s2.prompt_names == [N68, N32]
    assert s2.prompt_class_ids == [4, 2]
    assert s2.prompt_paths[0].endswith('JPEGImages/2007_000068.jpg')
    assert s0.ori_shape == (24, 30)
    assert s0.img_path.endswith('2007_000033.jpg')
    # the packed query label is the binary class mask
    inputs = batch['inputs'][0]
    gt = s0.gt_sem_seg.data[0]
    assert torch.equal((inputs[0, 1, 0] >= 128).long(), gt)


def test_prompts_follow_a_substituted_query(tiny_voc, trn_json):
    root, _ = tiny_voc

    def drop_n32(results):
        return None if results['sample_name'] == N32 else results

    pool = Pascal5iDataset(
        data_root=root, fold=0, split='trn', pipeline=LOAD + [drop_n32])
    ds = RetrievalAugmentedDataset(pool, index=trn_json, num_prompts=2)
    np.random.seed(0)
    for _ in range(3):
        res = ds[0]  # N32 is dropped; BaseDataset returns another sample
        assert res['sample_name'] != N32
        assert res['prompt_indices'] == TRN_EXPECTED[res['sample_idx']]


def _recorded_index(path, queries, cands, lists):
    """An index file as the tool writes it: its lists over ``cands`` and
    the names of the datasets it was built for."""
    indices = [[cands.index(n) for n in lists[q]] for q in queries]
    width = max(len(row) for row in indices)
    indices = np.array([row + [-1] * (width - len(row)) for row in indices])
    fp = make_fingerprint(
        queries, cands, datasets=make_fingerprint(queries, cands))
    index = RetrievalIndex(queries, cands, indices, None, fp)
    index.build_command = f'python tools/misc/build_retrieval_index.py c.py ' \
                          f'--out {path}'
    index.save(path)
    return path


def test_stale_index_added_samples_are_refused(tiny_voc, tmp_path):
    root, _ = tiny_voc
    val = Pascal5iDataset(
        data_root=root, fold=0, split='val', test_mode=True, pipeline=LOAD)
    trn = Pascal5iDataset(data_root=root, fold=0, split='trn', pipeline=LOAD)
    val_names, trn_names = collect_samples(val)[0], collect_samples(trn)[0]
    # Built before N129 joined the prompt pool: it is never retrieved.
    old_pool = [n for n in trn_names if n != N129]
    lists = {q: [n for n in v if n != N129] for q, v in VAL_LISTS.items()}
    path = _recorded_index(
        str(tmp_path / 'val.npz'), val_names, old_pool, lists)
    with pytest.raises(ValueError) as err:
        RetrievalAugmentedDataset(
            val, prompt_dataset=trn, index=path, num_prompts=2)
    msg = str(err.value)
    assert f'Stale retrieval index {path!r}' in msg
    assert f"prompt dataset (Pascal5iDataset): 1 sample(s) added since it " \
           f"was built (e.g. '{N129}') and 0 removed" in msg
    assert 'query dataset' not in msg
    assert ('`python tools/misc/build_retrieval_index.py c.py '
            f'--out {path}`') in msg
    assert "on_stale='skip'" in msg
    with logged_messages(logging.WARNING) as logged:
        ds = RetrievalAugmentedDataset(
            val,
            prompt_dataset=trn,
            index=path,
            num_prompts=2,
            on_stale='skip')
    assert any('1 sample(s) added' in m and "on_stale='skip'" in m
               for m in logged)
    assert ds.get_prompt_indices(0) == [1, 2]  # N32 (last), N39


def test_stale_index_removed_samples_are_refused(tiny_voc, tmp_path):
    root, _ = tiny_voc
    trn = Pascal5iDataset(data_root=root, fold=0, split='trn', pipeline=LOAD)
    names = collect_samples(trn)[0]
    gone = '2007_999999'  # in the pool when the index was built
    lists = dict(TRN_LISTS, **{gone: [N32, N39], N39: [gone, N121, N32]})
    path = _recorded_index(
        str(tmp_path / 'trn.npz'), names + [gone], names + [gone], lists)
    with pytest.raises(ValueError) as err:
        RetrievalAugmentedDataset(trn, index=path, num_prompts=2)
    msg = str(err.value)
    assert f"query dataset (Pascal5iDataset): 0 sample(s) added since it " \
           f"was built and 1 removed (e.g. '{gone}') (7 then, 6 now)" in msg
    assert 'prompt dataset (Pascal5iDataset): 0 sample(s) added' in msg
    with logged_messages(logging.WARNING) as logged:
        ds = RetrievalAugmentedDataset(
            trn, index=path, num_prompts=2, on_stale='skip')
    assert any('1 removed' in m for m in logged)
    assert [ds.get_prompt_indices(i) for i in range(7)] == TRN_EXPECTED
    with pytest.raises(ValueError, match='on_stale must be one of'):
        RetrievalAugmentedDataset(trn, index=path, on_stale='ignore')


def test_index_of_the_dataset_a_holdout_wraps_is_current(tiny_voc, tmp_path):
    root, _ = tiny_voc
    trn = Pascal5iDataset(data_root=root, fold=0, split='trn', pipeline=LOAD)
    names = collect_samples(trn)[0]
    lists = {q: [n for n in names if n != q] for q in names}
    path = _recorded_index(str(tmp_path / 'trn.npz'), names, names, lists)
    part = dict(type='HoldoutSubset', dataset=trn, ratio=0.3, part='train')
    with logged_messages(logging.WARNING) as logged:
        ds = RetrievalAugmentedDataset(
            part, index=path, num_prompts=1, skip_unknown_candidates=True)
    assert not logged and len(ds) < 7


def test_index_without_datasets_warns_once(tiny_voc, trn_json):
    root, _ = tiny_voc
    pool = Pascal5iDataset(data_root=root, fold=0, split='trn', pipeline=LOAD)
    with logged_messages(logging.WARNING) as logged:
        RetrievalAugmentedDataset(pool, index=trn_json, num_prompts=2)
        RetrievalAugmentedDataset(pool, index=trn_json, num_prompts=2)
    hits = [m for m in logged if 'does not record the datasets' in m]
    assert len(hits) == 1
    assert trn_json in hits[0]
    assert 'tools/misc/build_retrieval_index.py CONFIG --from-json' in hits[0]


def test_imported_index_records_datasets_and_detects_edits(tmp_path):
    root = str(tmp_path / 'VOCdevkit')
    make_tiny_voc(root)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        'retrieval = dict(query_dataset=dict(type="Pascal5iDataset", '
        f'data_root={root!r}, fold=0, split="trn"))\n')
    trn_json = write_reference_json(str(tmp_path / 'trn.json'), TRN_LISTS)
    out = str(tmp_path / 'trn.npz')
    spec = importlib.util.spec_from_file_location(
        'build_retrieval_index',
        osp.join(
            osp.dirname(osp.dirname(osp.dirname(__file__))), 'tools', 'misc',
            'build_retrieval_index.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main([str(cfg), '--from-json', trn_json, '--out', out])
    with logged_messages(logging.WARNING) as logged:
        ds = RetrievalAugmentedDataset(
            _pascal(root, 'trn'), index=out, num_prompts=2)
    assert not logged
    assert [ds.get_prompt_indices(i) for i in range(7)] == TRN_EXPECTED
    # N129 leaves the split file.
    split = osp.join(root, 'splits', 'pascal', 'trn', 'fold0.txt')
    with open(split, newline='') as f:
        lines = f.readlines()
    with open(split, 'w', newline='') as f:
        f.writelines(line for line in lines if not line.startswith(N129))
    with pytest.raises(ValueError) as err:
        RetrievalAugmentedDataset(
            _pascal(root, 'trn'), index=out, num_prompts=2)
    msg = str(err.value)
    assert out in msg and '6 then, 5 now' in msg
    assert (f'`python tools/misc/build_retrieval_index.py {cfg} --from-json '
            f'{trn_json} --out {out}`') in msg
