"""Held-out model selection: ``HoldoutSubset`` and the configs using it."""
import numpy as np
import pytest
from mmengine.dataset import BaseDataset

from projects.prompthub.datasets.holdout import HoldoutSubset, holdout_names
from projects.prompthub.datasets.retrieval_augmented_dataset import \
    RetrievalAugmentedDataset
from projects.prompthub.registry import DATASETS


class _Records(BaseDataset):
    """In-memory records; the pipeline result is the record itself."""

    def __init__(self, records, **kwargs):
        self._records = records
        super().__init__(serialize_data=False, **kwargs)

    def load_data_list(self):
        return [dict(r) for r in self._records]


def _records(num_images=40, classes_per_image=2):
    return [
        dict(sample_name=f'img_{i:03d}', class_id=c, img_path=f'{i}.jpg')
        for i in range(num_images) for c in range(classes_per_image)
    ]


def test_holdout_names_deterministic_and_sized():
    names = [f'2008_{i:06d}' for i in range(200)]
    held = holdout_names(names, ratio=0.1, seed=0)
    assert len(held) == 20
    # Independent of order and duplicates; depends on the seed.
    assert holdout_names(names[::-1] + names[:5], 0.1, 0) == held
    assert holdout_names(names, 0.1, 1) != held
    assert holdout_names(names, 0.0, 0) == set()
    # Two names: one in each part, never an empty part.
    assert len(holdout_names(['a', 'b'], 0.01)) == 1
    assert len(holdout_names(['a', 'b'], 0.99)) == 1
    with pytest.raises(ValueError, match='ratio'):
        holdout_names(names, 1.0)
    with pytest.raises(ValueError, match='distinct'):
        holdout_names(['a', 'a'], 0.1)


def test_parts_disjoint_cover_and_group_by_image():
    records = _records()
    base = _Records(records)
    train = HoldoutSubset(base, ratio=0.25, seed=3, part='train')
    held = HoldoutSubset(base, ratio=0.25, seed=3, part='holdout')
    assert sorted(train.indices + held.indices) == list(range(len(base)))
    assert not set(train.names) & set(held.names)
    assert len(held.names) == 10 and len(held) == 20
    # Both classes of an image go to the same part.
    for name in held.names:
        assert [base.get_data_info(i)['sample_name']
                for i in held.indices].count(name) == 2
    # Order of the wrapped dataset kept; subset positions as sample_idx.
    assert held.indices == sorted(held.indices)
    info = held.get_data_info(3)
    assert info['sample_name'] == records[held.indices[3]]['sample_name']
    assert info['sample_idx'] == 3
    assert held[3]['sample_idx'] == 3
    assert held[-1]['sample_idx'] == len(held) - 1
    # Built from a config too, with the same split.
    cfg_built = DATASETS.build(
        dict(
            type='HoldoutSubset',
            dataset=base,
            ratio=0.25,
            seed=3,
            part='holdout'))
    assert cfg_built.indices == held.indices
    with pytest.raises(ValueError, match='part'):
        HoldoutSubset(base, part='val')


def test_training_pipeline_drop_redraws_inside_the_subset():

    class Dropping(_Records):

        def prepare_data(self, idx):
            return None if idx % 2 else super().prepare_data(idx)

    base = Dropping(_records(20, 1))
    train = HoldoutSubset(base, ratio=0.5, seed=0, part='train')
    np.random.seed(0)
    for pos in range(len(train)):
        out = train[pos]
        assert out['sample_name'] in train.names
        assert train.indices[out['sample_idx']] % 2 == 0


def test_holdout_queries_retrieve_only_training_prompts():
    base = _Records(_records(12, 1))
    train = HoldoutSubset(base, ratio=0.25, seed=0, part='train')
    held = HoldoutSubset(base, ratio=0.25, seed=0, part='holdout')
    names = [r['sample_name'] for r in _records(12, 1)]
    # A train -> train index whose lists start with held-out names.
    index = {
        q: sorted(held.names) + [n for n in names if n != q]
        for q in names
    }
    val = RetrievalAugmentedDataset(
        held,
        index,
        prompt_dataset=train,
        num_prompts=2,
        skip_unknown_candidates=True,
        test_mode=True)
    trn = RetrievalAugmentedDataset(
        train, index, num_prompts=2, skip_unknown_candidates=True)
    for ds in (val, trn):
        for i in range(len(ds)):
            prompts = [
                train.get_data_info(j)['sample_name']
                for j in ds.get_prompt_indices(i)
            ]
            query = ds.get_data_info(i)['sample_name']
            assert all(p in train.names for p in prompts)
            assert query not in prompts
            expected = [n for n in names
                        if n in train.names and n != query][:2]
            assert prompts == expected
    # The prompts of query i are those of *its* name, also through
    # __getitem__ (sample_idx is the subset position).
    out = val[1]
    assert out['prompt_indices'] == val.get_prompt_indices(1)
