import numpy as np

from projects.prompthub.datasets.synthetic_vicl import (LookalikeVICLDataset,
                                                        lookalike_fold_classes,
                                                        lookalike_hue)
from projects.prompthub.datasets.transforms import PackVICLInputs


def test_deterministic_and_packed():
    kw = dict(num_samples=6, num_prompts=3, fold=1, split='test', seed=3)
    a = LookalikeVICLDataset(pipeline=[PackVICLInputs()], **kw)
    b = LookalikeVICLDataset(pipeline=[PackVICLInputs()], **kw)
    x, y = a[4], b[4]
    assert x['inputs'].shape == (4, 2, 3, 111, 111)
    assert (x['inputs'] == y['inputs']).all()
    assert not (a[3]['inputs'] == x['inputs']).all()
    gt = x['data_samples'].gt_sem_seg.data[0]
    assert gt.sum() > 0
    assert ((x['inputs'][0, 1, 0] > 127) == (gt > 0)).all()


def test_splits_and_looks():
    held = lookalike_fold_classes(2)
    test = LookalikeVICLDataset(num_samples=9, fold=2, split='test')
    train = LookalikeVICLDataset(num_samples=18, fold=2, split='train')
    assert {test.get_data_info(i)['class_id'] for i in range(9)} == set(held)
    train_cls = {train.get_data_info(i)['class_id'] for i in range(18)}
    assert not train_cls & set(held) and len(train_cls) == 9
    assert set(train.distractor_pool).isdisjoint(held)
    hues = {lookalike_hue(c, k) for c in range(12) for k in (0, 1)}
    assert len(hues) == 24  # every look has its own colour
    # The class mask is the union of the per-look masks, and queries show
    # both looks more often than prompts.
    both_q = both_p = 0
    for i in range(40):
        q = test.render(i, 0, held[0])
        assert (q['gt_seg_map'] == q['look_masks'].any(0)).all()
        both_q += len(q['looks']) == 2
        both_p += len(test.render(i, 1, held[0])['looks']) == 2
    assert both_q > both_p


def test_wrong_class_prompts():
    ds = LookalikeVICLDataset(
        num_samples=3, num_prompts=2, split='test', wrong_class_prompts=True)
    res = ds.prepare_data(0)
    assert all(p['class_id'] != res['class_id'] for p in res['prompt_results'])
    assert np.isin([p['class_id'] for p in res['prompt_results']],
                   ds.target_classes).all()
