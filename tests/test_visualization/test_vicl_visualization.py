from types import SimpleNamespace

import numpy as np
import torch
from mmseg.structures import SegDataSample

from projects.prompthub.datasets.synthetic_vicl import LookalikeVICLDataset
from projects.prompthub.datasets.transforms import PackVICLInputs
from projects.prompthub.registry import HOOKS, MODELS
from projects.prompthub.visualization import (draw_vicl_grid,
                                              fused_prompt_cells)

SMALL = dict(type='TinyVICLBackbone', embed_dim=32, depth=1, num_heads=2,
             head_dim=8)


def _model():
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='PromptHub',
            backbone=SMALL,
            neck=dict(type='LocalityFusionNeck', embed_dims=224, num_heads=2),
            losses=[dict(type='PredictionLoss')],
            binarize='threshold'))


def test_draw_grid_layout():
    img = np.zeros((111, 111, 3), np.uint8)
    img[:, :, 0] = 200
    lab = np.zeros((111, 111), bool)
    lab[10:20, 10:20] = True
    grid = draw_vicl_grid([(img, lab), (img, lab)], img, lab, lab,
                          fused=(torch.ones(3, 111, 111),
                                 torch.zeros(3, 111, 111)))
    # 2 prompts + fused + pred + gt columns, 2 rows of cells.
    assert grid.shape == (14 + 2 * 113 + 2, 5 * 113 + 2, 3)
    assert grid.dtype == np.uint8
    # The fused image cell (column 3, top row) is white, its label black.
    x = 2 + 2 * 113
    assert (grid[16 + 50, x + 50] == 255).all()
    assert (grid[16 + 113 + 50, x + 50] == 0).all()
    # Label masks are drawn white where True.
    assert (grid[16 + 113 + 15, 2 + 15] == 255).all()


def test_fused_cells_and_hook_writes_png(tmp_path):
    model = _model().eval()
    ds = LookalikeVICLDataset(
        num_samples=2, num_prompts=2, split='test',
        pipeline=[PackVICLInputs()])
    batch = [ds[0], ds[1]]
    data_batch = dict(
        inputs=[b['inputs'] for b in batch],
        data_samples=[b['data_samples'] for b in batch])
    inputs = model.data_preprocessor(data_batch, False)['inputs']
    fused = fused_prompt_cells(model, inputs)
    assert fused.shape == (2, 2, 3, 111, 111)
    assert 0 <= fused.min() and fused.max() <= 1
    outputs = model.predict(inputs, [SegDataSample() for _ in range(2)])
    added = []
    runner = SimpleNamespace(
        model=model,
        work_dir=str(tmp_path),
        iter=7,
        visualizer=SimpleNamespace(
            add_image=lambda name, img, step: added.append((name, img,
                                                            step))))
    hook = HOOKS.build(dict(type='VICLVisualizationHook', num_samples=1))
    hook.after_val_iter(runner, 1, data_batch, outputs)  # not batch 0
    assert not added
    hook.after_val_iter(runner, 0, data_batch, outputs)
    files = list((tmp_path / 'vis' / 'val_iter_7').glob('*.png'))
    assert [f.name for f in files] == ['sample_0.png']
    assert len(added) == 1 and added[0][2] == 7
    # 2 prompts + fused + pred + gt.
    assert added[0][1].shape[1] == 5 * 113 + 2
