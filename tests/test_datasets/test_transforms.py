import numpy as np
import pytest
import torch
from mmseg.structures import SegDataSample

from projects.prompthub.datasets import (LoadVICLPair, PackVICLInputs,
                                         PromptReplacement)


def _pair(value, size=5, name='x'):
    img = np.full((size, size, 3), value, dtype=np.uint8)
    label = np.full((size, size, 3), 255 - value, dtype=np.uint8)
    return dict(
        img=img,
        label_img=label,
        gt_seg_map=(label[..., 0] >= 128).astype(np.uint8),
        img_path=f'{name}.jpg',
        sample_name=name,
        class_id=value % 20)


def _results(num_prompts, size=5):
    res = _pair(7, size, 'query')
    res['prompt_results'] = [
        _pair(10 + k, size, f'p{k}') for k in range(num_prompts)
    ]
    res['prompt_indices'] = list(range(100, 100 + num_prompts))
    res['ori_shape'] = (20, 30)
    return res


class _Pool:
    """Stands in for the wrapper in ``get_indexes``."""

    def __init__(self, num_prompts, pool_size):
        self.num_prompts = num_prompts
        self.prompt_dataset = list(range(pool_size))


def test_load_rejects_bad_arguments():
    with pytest.raises(ValueError, match='task'):
        LoadVICLPair(task='depth')
    with pytest.raises(ValueError, match='interpolation'):
        LoadVICLPair(interpolation='cubic')
    assert LoadVICLPair(task='det').interpolation == 'bilinear'
    assert LoadVICLPair(task='seg').interpolation == 'bicubic'
    assert LoadVICLPair(task='color').interpolation == 'bicubic'
    assert 'bilinear' in repr(LoadVICLPair(task='det'))


def test_load_missing_image_names_it(tmp_path):
    path = str(tmp_path / 'gone.jpg')
    with pytest.raises(FileNotFoundError, match='gone.jpg'):
        LoadVICLPair(task='det')(dict(img_path=path, bbox=[0, 0, 1, 1]))


def test_pack_shapes_order_and_meta():
    res = _results(3)
    out = PackVICLInputs()(res)
    inputs, sample = out['inputs'], out['data_samples']
    assert inputs.dtype == torch.uint8
    assert inputs.shape == (4, 2, 3, 5, 5)
    assert inputs.is_contiguous()
    assert (inputs[0, 0] == 7).all() and (inputs[0, 1] == 248).all()
    for k in range(3):
        assert (inputs[k + 1, 0] == 10 + k).all()
        assert (inputs[k + 1, 1] == 245 - k).all()
    assert isinstance(sample, SegDataSample)
    assert sample.gt_sem_seg.data.shape == (1, 5, 5)
    assert sample.gt_sem_seg.data.dtype == torch.int64
    assert sample.img_path == 'query.jpg'
    assert sample.sample_name == 'query'
    assert sample.prompt_paths == ['p0.jpg', 'p1.jpg', 'p2.jpg']
    assert sample.prompt_names == ['p0', 'p1', 'p2']
    assert sample.prompt_indices == [100, 101, 102]
    assert sample.ori_shape == (20, 30)
    assert sample.class_id == 7


def test_pack_ground_truth_as_the_reference_reads_it():
    """gt_label_img is the query label after the canvas round trip (float32
    normalisation, float64 truncating de-normalisation; numpy by hand):
    248 -> 247 on red and green, white 255 -> 254 on red."""
    res = _results(1)
    res['label_img'][0, 0] = 255
    sample = PackVICLInputs()(res)['data_samples']
    gt = sample.gt_label_img.data
    assert gt.dtype == torch.uint8 and gt.shape == (3, 5, 5)
    assert gt[:, 0, 0].tolist() == [254, 255, 255]
    assert gt[:, 1, 1].tolist() == [247, 247, 248]
    # Without gt_seg_map (an inference query) the label cell is still the
    # ground truth the model binarises.
    del res['gt_seg_map']
    assert torch.equal(PackVICLInputs()(res)['data_samples'].gt_label_img.data,
                       gt)


def test_pack_channel_layout_is_rgb_chw():
    res = _results(0, size=4)
    res['img'] = np.zeros((4, 4, 3), np.uint8)
    res['img'][..., 0] = 200  # red
    out = PackVICLInputs()(res)
    assert (out['inputs'][0, 0, 0] == 200).all()
    assert (out['inputs'][0, 0, 1:] == 0).all()


def test_pack_without_gt_and_custom_meta_keys():
    res = _results(1)
    del res['gt_seg_map']
    out = PackVICLInputs(meta_keys=('sample_name', ))(res)
    sample = out['data_samples']
    assert 'gt_sem_seg' not in sample
    assert set(sample.metainfo) == {'sample_name'}


def test_pack_rejects_mismatched_prompt():
    res = _results(2)
    res['prompt_results'][1] = _pair(3, size=6, name='big')
    with pytest.raises(ValueError, match=r'Prompt 1 \(big.jpg\).*shape'):
        PackVICLInputs()(res)
    res = _results(1)
    res['prompt_results'][0]['label_img'] = np.zeros((5, 5), np.uint8)
    with pytest.raises(ValueError, match='label_img must be an HxWx3'):
        PackVICLInputs()(res)


def test_replacement_decisions_reproducible_under_seed():
    t = PromptReplacement()
    np.random.seed(1234)
    a = [t.get_indexes(_Pool(16, 50)) + t._pending for _ in range(20)]
    np.random.seed(1234)
    b = [t.get_indexes(_Pool(16, 50)) + t._pending for _ in range(20)]
    assert a == b
    np.random.seed(4321)
    c = [t.get_indexes(_Pool(16, 50)) + t._pending for _ in range(20)]
    assert a != c


def test_replacement_frequencies_match_probabilities():
    t = PromptReplacement(prob_query=0.1, prob_random=0.2)
    np.random.seed(0)
    decisions = np.array(t.draw_decisions(40000))
    # 5 standard deviations of a binomial proportion at n = 40000
    assert abs((decisions == 'query').mean() - 0.1) < 0.0075
    assert abs((decisions == 'random').mean() - 0.2) < 0.01
    assert abs((decisions == 'keep').mean() - 0.7) < 0.0115
    # random pool indices are uniform over the pool
    pool = _Pool(4000, 7)
    idx = np.asarray(t.get_indexes(pool))
    assert len(idx) == t._pending.count('random')
    counts = np.bincount(idx, minlength=7)
    assert counts.min() > 0.7 * counts.mean()


def test_replacement_applies_decisions():
    t = PromptReplacement(prob_query=0.3, prob_random=0.4)
    np.random.seed(7)
    res = _results(12)
    indexes = t.get_indexes(_Pool(12, 30))
    decisions = list(t._pending)
    assert {'keep', 'query', 'random'} <= set(decisions)
    res['mix_results'] = [_pair(200 + j, name=f'r{j}') for j in indexes]
    res['mix_indices'] = indexes
    originals = [p['sample_name'] for p in res['prompt_results']]
    out = t(res)
    rand = iter(zip(indexes, range(len(indexes))))
    for k, d in enumerate(decisions):
        p, i = out['prompt_results'][k], out['prompt_indices'][k]
        if d == 'keep':
            assert p['sample_name'] == originals[k] and i == 100 + k
        elif d == 'query':
            assert p['sample_name'] == 'query' and i == -1
            assert p['img'] is res['img']
            assert 'prompt_results' not in p
        else:
            j, _ = next(rand)
            assert p['sample_name'] == f'r{j}' and i == j
    assert out['prompt_replacement'] == decisions


def test_replacement_standalone_needs_mix_results():
    t = PromptReplacement(prob_query=0.0, prob_random=1.0)
    with pytest.raises(RuntimeError, match='mix_results'):
        t(_results(2))
    with pytest.raises(ValueError):
        PromptReplacement(prob_query=0.6, prob_random=0.6)
