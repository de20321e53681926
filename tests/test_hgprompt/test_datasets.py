import os.path as osp

import numpy as np
import pytest
import torch

from projects.hgprompt.datasets import VTAB1kDataset, make_vtab_suite
from projects.hgprompt.evaluation import HGAccuracy

SIZES = dict(num_train=12, num_val=4, num_test=6)


@pytest.fixture(scope='module')
def suite(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('suite'))
    make_vtab_suite(root, ['count4', 'count4_randlabel', 'stripe_ori'],
                    **SIZES)
    return root


def test_noah_layout_and_lists(suite):
    task = osp.join(suite, 'count4')
    counts = dict(train800=12, val200=4, train800val200=16, test=6)
    for split, n in counts.items():
        with open(osp.join(task, f'{split}.txt')) as f:
            lines = f.read().split('\n')[:-1]
        assert len(lines) == n
        rel, label = lines[0].split(' ')
        assert rel == f'images/{split}/000000.png'
        assert osp.isfile(osp.join(task, rel)) and 0 <= int(label) < 4


def test_generator_is_deterministic(suite, tmp_path):
    make_vtab_suite(str(tmp_path), ['count4'], **SIZES)
    for name in ('test.txt', 'images/test/000003.png'):
        with open(osp.join(suite, 'count4', name), 'rb') as f1, open(
                osp.join(str(tmp_path), 'count4', name), 'rb') as f2:
            assert f1.read() == f2.read()


def test_dataset_pipeline_and_subset(suite):
    pipeline = [
        dict(type='HGLoadImage', size=32),
        dict(type='HGPackClsInputs')
    ]
    ds = VTAB1kDataset(
        data_root=osp.join(suite, 'stripe_ori'),
        split='train800val200',
        pipeline=pipeline,
        num_classes=4)
    assert len(ds) == 16 and ds.metainfo['classes'] == ('0', '1', '2', '3')
    item = ds[3]
    assert item['inputs'].shape == (3, 32, 32)
    assert item['inputs'].dtype == torch.uint8
    assert int(item['data_samples'].sample_idx) == 3
    with open(osp.join(suite, 'stripe_ori', 'train800val200.txt')) as f:
        assert int(item['data_samples'].gt_label) == int(
            f.read().split('\n')[3].split(' ')[1])
    sub = VTAB1kDataset(
        data_root=osp.join(suite, 'stripe_ori'),
        split='train800',
        pipeline=pipeline,
        max_samples=5,
        subset_seed=1)
    again = VTAB1kDataset(
        data_root=osp.join(suite, 'stripe_ori'),
        split='train800',
        pipeline=pipeline,
        max_samples=5,
        subset_seed=1)
    assert len(sub) == 5
    assert [d['img_path'] for d in sub.data_list
            ] == [d['img_path'] for d in again.data_list]
    with pytest.raises(ValueError, match='split'):
        VTAB1kDataset(data_root=suite, split='train')
    with pytest.raises(FileNotFoundError, match='NOAH'):
        VTAB1kDataset(data_root=osp.join(suite, 'missing'))


def test_random_label_task_has_shuffled_labels(suite):

    def labels(task):
        with open(osp.join(suite, task, 'train800val200.txt')) as f:
            return np.array(
                [int(x.split(' ')[1]) for x in f.read().split('\n')[:-1]])

    # same generator family, labels not those of the counting rule
    assert not np.array_equal(labels('count4'), labels('count4_randlabel'))


def test_accuracy_metric_hand_computed():
    metric = HGAccuracy(topk=(1, 2))
    scores = torch.tensor([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6],
                           [0.5, 0.4, 0.1]])
    labels = [0, 2, 2, 1]
    metric.process({}, [
        dict(pred_score=s, gt_label=torch.tensor(y))
        for s, y in zip(scores, labels)
    ])
    out = metric.compute_metrics(metric.results)
    # top-1: samples 0 and 2 right; top-2 adds 1 and 3
    assert out == {'top1': 50.0, 'top2': 100.0}


def test_empty_and_malformed_lists_name_the_file(tmp_path):
    task = tmp_path / 'dtd'
    task.mkdir()
    (task / 'train800.txt').write_text('\n\n')
    with pytest.raises(ValueError, match='lists no image') as err:
        VTAB1kDataset(data_root=str(task), split='train800')
    assert str(task / 'train800.txt') in str(err.value)
    (task / 'val200.txt').write_text('images/val200/000000.jpg 3\n'
                                     'images/val200/000001.jpg\n')
    with pytest.raises(ValueError, match='line 2'):
        VTAB1kDataset(data_root=str(task), split='val200')


def test_label_beyond_num_classes_names_the_line(suite):
    # count4's labels reach 3: num_classes=3 is too small
    with pytest.raises(ValueError) as err:
        VTAB1kDataset(
            data_root=osp.join(suite, 'count4'), split='test', num_classes=3)
    msg = str(err.value)
    assert 'test.txt, line' in msg and 'num_classes=3' in msg
    assert 'vtab_tasks.py' in msg


def test_model_refuses_labels_beyond_its_head():
    from mmengine.structures import BaseDataElement

    from projects.hgprompt.models import HGPromptClassifier
    model = HGPromptClassifier(
        backbone=dict(
            type='VPTPromptedViT',
            arch='vit_tiny_patch16_224',
            vit_kwargs=dict(
                img_size=16, patch_size=8, embed_dim=32, depth=1, num_heads=2),
            prompt_length=1),
        num_classes=4)
    samples = []
    for i, label in enumerate((1, 6)):
        sample = BaseDataElement(metainfo=dict(img_path=f'img{i}.png'))
        sample.gt_label = torch.tensor(label)
        samples.append(sample)
    with pytest.raises(ValueError) as err:
        model.loss(torch.zeros(2, 3, 16, 16), samples)
    assert 'label 6 of img1.png' in str(err.value)
    assert 'model.num_classes=4' in str(err.value)
