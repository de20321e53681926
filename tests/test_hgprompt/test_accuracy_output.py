"""HGAccuracy's --out file: same numbers, exact rows, loud duplicates."""
import json

import pytest
import torch
from mmengine.structures import BaseDataElement

from projects.hgprompt.evaluation import HGAccuracy


def _samples(n: int = 7, k: int = 3, seed: int = 0) -> list:
    g = torch.Generator().manual_seed(seed)
    scores = torch.rand(n, k, generator=g).softmax(-1)
    scores[0] = torch.tensor([0.4, 0.4, 0.2])  # a tie: topk decides
    out = []
    for i, s in enumerate(scores):
        sample = BaseDataElement(
            metainfo=dict(sample_idx=i, img_path=f'im/{i}.png'))
        sample.gt_label = torch.tensor(i % k)
        sample.pred_score = s
        out.append(sample.to_dict())
    return out


def _evaluate(metric: HGAccuracy, samples: list) -> dict:
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_output_dir_writes_rows_and_keeps_the_numbers(tmp_path):
    samples = _samples()
    plain = _evaluate(HGAccuracy(topk=(1, 2)), samples)
    written = _evaluate(
        HGAccuracy(topk=(1, 2), output_dir=str(tmp_path)), samples)
    assert written == plain
    with open(tmp_path / 'predictions.json') as f:
        doc = json.load(f)
    assert doc['metrics'] == plain
    rows = doc['samples']
    assert [r['sample_idx'] for r in rows] == list(range(len(samples)))
    assert [r['img_path'] for r in rows] == [s['img_path'] for s in samples]
    hits = sum(r['pred_label'] == r['gt_label'] for r in rows)
    assert plain['accuracy/top1'] == pytest.approx(100 * hits / len(rows))
    for r, s in zip(rows, samples):
        assert r['pred_score'] == s['pred_score'].tolist()


def test_a_sample_evaluated_twice_is_refused(tmp_path):
    samples = _samples()
    metric = HGAccuracy(output_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r'\[2\] were evaluated more than'):
        _evaluate(metric, samples + samples[2:3])
    assert not (tmp_path / 'predictions.json').exists()


def test_output_dir_must_be_a_path():
    with pytest.raises(ValueError, match='output_dir must be a folder'):
        HGAccuracy(output_dir='')
