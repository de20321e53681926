from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmseg.structures import SegDataSample

from projects.prompthub.datasets.synthetic_vicl import LookalikeVICLDataset
from projects.prompthub.datasets.transforms import PackVICLInputs
from projects.prompthub.evaluation.prediction_io import sample_stem
from projects.prompthub.registry import HOOKS, MODELS
from projects.prompthub.visualization import (VICLLocalVisualizer,
                                              draw_vicl_grid,
                                              fused_prompt_cells, query_image,
                                              set_episode_views)

SMALL = dict(
    type='TinyVICLBackbone', embed_dim=32, depth=1, num_heads=2, head_dim=8)


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
    grid = draw_vicl_grid([(img, lab), (img, lab)],
                          img,
                          lab,
                          lab,
                          fused=(torch.ones(3, 111,
                                            111), torch.zeros(3, 111, 111)))
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
        num_samples=2,
        num_prompts=2,
        split='test',
        pipeline=[PackVICLInputs()])
    batch = [ds[0], ds[1]]
    data_batch = dict(
        inputs=[b['inputs'] for b in batch],
        data_samples=[b['data_samples'] for b in batch])
    inputs = model.data_preprocessor(data_batch, False)['inputs']
    fused = fused_prompt_cells(model, inputs)
    assert fused.shape == (2, 2, 3, 111, 111)
    assert 0 <= fused.min() and fused.max() <= 1
    # Samples made by hand (no metainfo), with the packed ground truth.
    outputs = model.predict(inputs, [
        SegDataSample(gt_label_img=b['data_samples'].gt_label_img)
        for b in batch
    ])
    visualizer = _visualizer(tmp_path, 'hook')
    runner = SimpleNamespace(
        model=model,
        work_dir=str(tmp_path),
        timestamp='ts',
        iter=7,
        visualizer=visualizer)
    # The demo's setting: the first queries of batch 0 under out_dir.
    hook = HOOKS.build(
        dict(
            type='VICLVisualizationHook',
            draw=True,
            interval=1000,
            num_samples=1,
            out_dir='vis'))
    hook.before_run(runner)
    hook.after_val_iter(runner, 1, data_batch, outputs)  # not batch 0
    assert not (tmp_path / 'vis').exists()
    hook.after_val_iter(runner, 0, data_batch, outputs)
    files = list((tmp_path / 'vis' / 'val_iter_7').glob('*.png'))
    assert [f.name for f in files] == ['batch0_0.png']
    # 2 prompts + fused + pred + gt.
    grid = cv2.imread(str(files[0]))
    assert grid.shape == (14 + 2 * 113 + 2, 5 * 113 + 2, 3)
    assert np.array_equal(visualizer.get_image(),
                          cv2.cvtColor(grid, cv2.COLOR_BGR2RGB))


def _visualizer(tmp_path, name: str) -> VICLLocalVisualizer:
    return VICLLocalVisualizer(
        name=f'vicl_test_{name}',
        vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path / 'backend'))


def _episode(num: int = 2, **meta):
    """A lookalike batch, the tiny PromptHub's outputs and its inputs."""
    model = _model().eval()
    ds = LookalikeVICLDataset(
        num_samples=num,
        num_prompts=2,
        split='test',
        pipeline=[PackVICLInputs()])
    batch = [ds[i] for i in range(num)]
    data_batch = dict(
        inputs=[b['inputs'] for b in batch],
        data_samples=[b['data_samples'] for b in batch])
    inputs = model.data_preprocessor(data_batch, False)['inputs']
    outputs = model.predict(inputs, [b['data_samples'] for b in batch])
    for sample in outputs:
        sample.set_metainfo(meta)
    return model, data_batch, inputs, outputs


def test_visualizer_add_datasample_like_mmseg(tmp_path):
    model, _, inputs, outputs = _episode(1, ori_shape=(40, 70))
    views = set_episode_views(outputs, inputs,
                              fused_prompt_cells(model, inputs))
    assert 'prompt_pairs' not in outputs[0]  # the outputs stay unchanged
    assert views[0].prompt_pairs.shape == (2, 2, 3, 111, 111)
    assert views[0].fused_prompt.dtype == torch.uint8
    visualizer = _visualizer(tmp_path, 'api')
    # The query at its original size: every cell is drawn at the size of
    # the label cells (canvas cells).
    big = cv2.resize(query_image(inputs, 0), (70, 40))
    out = tmp_path / 'grid.png'
    grid = visualizer.add_datasample('q', big, views[0], out_file=str(out))
    assert grid.shape == (14 + 2 * 113 + 2, 5 * 113 + 2, 3)
    assert np.array_equal(cv2.imread(str(out))[..., ::-1], grid)
    # The prediction column shows pred_label_img under the title 'pred'.
    x = 2 + 3 * 113
    assert np.array_equal(
        grid[16 + 113:16 + 2 * 113 - 2, x:x + 111],
        views[0].pred_label_img.data.permute(1, 2, 0).numpy())
    # draw_gt=False drops the gt column; without out_file the backends
    # get the grid (LocalVisBackend: vis_data/vis_image/{name}_{step}.png).
    grid = visualizer.add_datasample('q', big, views[0], draw_gt=False, step=3)
    assert grid.shape[1] == 4 * 113 + 2
    backend = tmp_path / 'backend' / 'vis_data' / 'vis_image'
    assert (backend / 'q_3.png').is_file()
    # A sample without prompts: query, prediction and ground truth only.
    grid = visualizer.add_datasample('q', big, outputs[0], out_file=str(out))
    assert grid.shape[1] == 2 * 113 + 2


def test_hook_follows_mmseg_interface(tmp_path):
    model, data_batch, _, outputs = _episode(2)
    for i, sample in enumerate(outputs):
        sample.set_metainfo(dict(sample_idx=10 + i))
    visualizer = _visualizer(tmp_path, 'iface')
    runner = SimpleNamespace(
        model=model,
        work_dir=str(tmp_path),
        timestamp='ts',
        iter=0,
        visualizer=visualizer)
    off = HOOKS.build(dict(type='VICLVisualizationHook'))
    off.before_run(runner)
    off.after_test_iter(runner, 0, data_batch, outputs)
    assert not (tmp_path / 'ts').exists()
    hook = HOOKS.build(
        dict(
            type='VICLVisualizationHook',
            draw=True,
            interval=2,
            test_out_dir='shown'))
    hook.before_run(runner)
    hook.after_train_iter(runner, 0, data_batch, dict(loss=1.0))  # no-op
    hook.after_test_iter(runner, 1, data_batch, outputs)  # 1 % 2: skipped
    assert not (tmp_path / 'ts').exists()
    hook.after_test_iter(runner, 2, data_batch, outputs)
    names = sorted(p.name for p in (tmp_path / 'ts' / 'shown').iterdir())
    stems = [sample_stem(s) for s in outputs]
    assert names == [f'{s}.png' for s in stems]
    assert stems[0].startswith('00010_')
    # Validation without a folder: the visualizer's backends.
    hook.after_val_iter(runner, 0, data_batch, outputs)
    assert len(
        list((tmp_path / 'backend' / 'vis_data' /
              'vis_image').glob('val_*.png'))) == 2
    with pytest.raises(ValueError, match='interval'):
        HOOKS.build(dict(type='VICLVisualizationHook', interval=0))


def test_hook_refuses_a_visualizer_that_cannot_draw_episodes(tmp_path):
    from mmseg.visualization import SegLocalVisualizer
    runner = SimpleNamespace(
        visualizer=SegLocalVisualizer(name='vicl_test_seg'))
    hook = HOOKS.build(dict(type='VICLVisualizationHook', draw=True))
    with pytest.raises(TypeError, match="VICLLocalVisualizer"):
        hook.before_run(runner)
    # Not drawing: nothing to check.
    HOOKS.build(dict(type='VICLVisualizationHook')).before_run(runner)


def test_mmseg_visualizer_draws_our_samples_at_their_size():
    """mmseg's SegLocalVisualizer paints pred_sem_seg over the image it is
    given: with the query's canvas cell (the size of our maps) it works;
    what pairs our maps with the original image (mmseg's
    SegVisualizationHook) is refused by tools/test.py
    (tests/test_apis/test_test_outputs.py)."""
    from mmseg.visualization import SegLocalVisualizer
    _, _, inputs, outputs = _episode(1, ori_shape=(40, 70))
    vis = SegLocalVisualizer(name='vicl_test_seg_draw')
    # (mmseg 1.2.2 swaps its classes/palette arguments; set them as its
    # docstring does.)
    vis.dataset_meta = dict(
        classes=('background', 'foreground'),
        palette=[[0, 0, 0], [255, 255, 255]])
    assert tuple(outputs[0].pred_sem_seg.shape) == (111, 111)
    vis.add_datasample(
        'q', query_image(inputs, 0), outputs[0], with_labels=False)
    assert vis.get_image().shape == (111, 111, 3)  # the last map drawn
