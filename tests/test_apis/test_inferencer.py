import runpy
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from projects.prompthub.apis import PromptHubInferencer
from projects.prompthub.datasets.synthetic_vicl import LookalikeVICLDataset

SMALL_BACKBONE = dict(type='TinyVICLBackbone', embed_dim=32, depth=1,
                      num_heads=2, head_dim=8)


def _config(tmp_path, **model):
    cfg = Config(
        dict(
            default_scope='mmseg',
            model=dict(
                **model,
                type='PromptHub',
                backbone=SMALL_BACKBONE,
                neck=dict(
                    type='LocalityFusionNeck', embed_dims=224, num_heads=2),
                losses=[dict(type='PredictionLoss')],
                binarize='threshold')))
    path = str(tmp_path / 'cfg.py')
    cfg.dump(path)
    return path


def _write_pairs(tmp_path, count=3):
    ds = LookalikeVICLDataset(num_samples=1, num_prompts=count,
                              split='test')
    paths = []
    for slot in range(count + 1):
        pair = ds.render(0, slot, 0)
        img = cv2.resize(pair['img'], (150, 120))  # not the cell size
        mask = cv2.resize(pair['gt_seg_map'] * 255, (150, 120),
                          interpolation=cv2.INTER_NEAREST)
        ip = str(tmp_path / f'p{slot}.png')
        mp = str(tmp_path / f'p{slot}_m.png')
        cv2.imwrite(ip, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(mp, mask)
        paths.append((ip, mp))
    return paths


def test_inferencer_masks_and_files(tmp_path):
    torch.manual_seed(0)
    pairs = _write_pairs(tmp_path)
    inferencer = PromptHubInferencer(_config(tmp_path))
    query = pairs[0][0]
    out_dir = str(tmp_path / 'out')
    out = inferencer([query], prompts=pairs[1:], out_dir=out_dir)
    assert len(out) == 1
    res = out[0]
    assert res['mask'].shape == (120, 150) and res['mask'].dtype == bool
    assert res['pred_label_img'].shape == (111, 111, 3)
    names = sorted(p.split('/')[-1] for p in res['paths'])
    assert names == ['p0_mask.png', 'p0_vis.png']
    vis = cv2.imread(str(tmp_path / 'out' / 'p0_vis.png'))
    # 3 prompts + fused + prediction columns.
    assert vis.shape[1] == 5 * 113 + 2
    with pytest.raises(ValueError, match='at least one prompt'):
        inferencer.pack(query, [])


def test_inferencer_takes_any_number_of_prompts(tmp_path):
    """A model configured for 4 prompts per training query still infers
    with 3 (the neck is N-agnostic); the preprocessor's guard stays set."""
    torch.manual_seed(0)
    pairs = _write_pairs(tmp_path, 3)
    cfg = _config(tmp_path, data_preprocessor=dict(
        type='VICLDataPreprocessor', num_prompts=4))
    inferencer = PromptHubInferencer(cfg)
    res = inferencer(pairs[0][0], prompts=pairs[1:])
    assert res[0]['mask'].shape == (120, 150)
    pre = inferencer.model.data_preprocessor
    assert pre.num_prompts == 4
    with pytest.raises(ValueError, match='Expected 4 prompt pairs'):
        pre(dict(inputs=[inferencer.pack(pairs[0][0], pairs[1:])['inputs']]),
            False)


def test_inferencer_from_index(tmp_path):
    pairs = _write_pairs(tmp_path, 2)
    inferencer = PromptHubInferencer(_config(tmp_path))

    class Index:
        def neighbours(self, name, k):
            assert name == 'p0'
            return ['b', 'a'][:k]

    cands = {'a': pairs[1], 'b': pairs[2]}
    packed_ref = inferencer.pack(pairs[0][0], [pairs[2], pairs[1]])
    got = inferencer.prompts_from_index('p0', Index(), cands, 2)
    assert got == [pairs[2], pairs[1]]
    assert packed_ref['inputs'].shape == (3, 2, 3, 111, 111)
    res = inferencer(pairs[0][0], index=Index(), candidates=cands,
                     num_prompts=2)
    assert res[0]['mask'].shape == (120, 150)


def test_infer_tool_writes_visualisation(tmp_path, monkeypatch, capsys):
    pairs = _write_pairs(tmp_path, 1)
    out_dir = str(tmp_path / 'cli')
    argv = ['tools/infer.py', _config(tmp_path), pairs[0][0], '--prompt',
            pairs[1][0], pairs[1][1], '--out-dir', out_dir]
    monkeypatch.setattr(sys, 'argv', argv)
    runpy.run_path('tools/infer.py', run_name='__main__')
    assert 'foreground pixels' in capsys.readouterr().out
    vis = cv2.imread(f'{out_dir}/p0_vis.png')
    mask = cv2.imread(f'{out_dir}/p0_mask.png', cv2.IMREAD_GRAYSCALE)
    assert vis is not None and mask.shape == (120, 150)
    assert set(np.unique(mask)) <= {0, 255}
