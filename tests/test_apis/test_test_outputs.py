"""What tools/test.py's --show/--show-dir/--out switch on, per config."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

import projects.prompthub  # noqa: F401
from projects.prompthub.apis import enable_visualization, set_prediction_output
from projects.prompthub.utils import load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(REPO, 'configs', 'prompthub',
                'prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py')
# The VICL configs: the entry point configs/prompthub_seg.py and the
# PromptHub and MAE-VQGAN folders.
VICL_CONFIGS = sorted(
    p for folder in ('', 'prompthub', 'maevqgan')
    for p in glob.glob(osp.join(REPO, 'configs', folder, '*.py')))
HG_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'hgprompt', '*.py')))


@pytest.mark.parametrize('path', VICL_CONFIGS, ids=osp.basename)
def test_every_vicl_config_supports_show_dir_and_out(path):
    cfg = load_config(path)
    enable_visualization(cfg, show_dir='grids')
    hook = cfg.default_hooks.visualization
    assert hook.type == 'VICLVisualizationHook'
    assert hook.draw is True and hook.test_out_dir == 'grids'
    assert cfg.visualizer.type == 'VICLLocalVisualizer'
    folders = set_prediction_output(cfg, 'preds')
    assert folders == ['preds']
    metrics = cfg.test_evaluator
    metrics = metrics if isinstance(metrics, list) else [metrics]
    writers = [m for m in metrics if 'output_dir' in m]
    assert len(writers) == 1
    assert writers[0].type in ('VICLIoUMetric', 'ColorizationMSE')
    # mmseg's IoUMetric would write S x S cells named after the image.
    assert all(m.type != 'IoUMetric' for m in writers)


@pytest.mark.parametrize('path', HG_CONFIGS, ids=osp.basename)
def test_every_hgprompt_config_supports_show_dir_and_out(path):
    cfg = load_config(path)
    enable_visualization(cfg, show_dir='drawn')
    hook = cfg.default_hooks.visualization
    assert hook.type == 'HGClsVisualizationHook'
    assert hook.draw is True and hook.test_out_dir == 'drawn'
    assert set_prediction_output(cfg, 'preds') == ['preds']
    assert cfg.test_evaluator.type == 'HGAccuracy'
    assert cfg.test_evaluator.output_dir == 'preds'


def test_hooks_of_the_other_model_kind_are_refused():
    """VICL episodes cannot be drawn for a classifier, nor classes for a
    VICL model: refused, naming the hook to use."""
    cfg = load_config(HG_CONFIGS[0])
    cfg.default_hooks.visualization = dict(type='VICLVisualizationHook')
    with pytest.raises(
            RuntimeError,
            match=r'VICLVisualizationHook.*not a VICL model.*'
            r'HGClsVisualizationHook'):
        enable_visualization(cfg, show_dir='grids')
    cfg = load_config(TINY)
    cfg.default_hooks.visualization = dict(type='HGClsVisualizationHook')
    with pytest.raises(
            RuntimeError,
            match=r'HGClsVisualizationHook.*VICL model.*'
            r'VICLVisualizationHook'):
        enable_visualization(cfg, show_dir='grids')


def test_config_without_a_visualization_hook_is_refused():
    cfg = load_config(TINY)
    del cfg.default_hooks['visualization']
    with pytest.raises(
            RuntimeError,
            match=r"need default_hooks.visualization.*"
            r"VICLVisualizationHook"):
        enable_visualization(cfg, show_dir='grids')


def test_mmseg_hook_on_a_vicl_model_is_refused():
    """mmseg's SegVisualizationHook paints our S x S pred_sem_seg over the
    image it reads from img_path (the original size): refused."""
    cfg = load_config(TINY)
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook')
    with pytest.raises(
            RuntimeError,
            match=r"SegVisualizationHook.*ori_shape.*"
            r"VICLVisualizationHook"):
        enable_visualization(cfg, show_dir='grids')


def test_show_and_mmseg_style_hooks():
    cfg = load_config(TINY)
    enable_visualization(cfg, show=True, wait_time=3.)
    hook = cfg.default_hooks.visualization
    assert hook.show is True and hook.wait_time == 3.
    assert 'test_out_dir' not in hook
    # A hook without test_out_dir gets mmseg's treatment: the
    # visualizer's save_dir (a non-VICL model may use mmseg's hook).
    cfg = load_config(TINY)
    cfg.model = dict(type='EncoderDecoder')
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook')
    enable_visualization(cfg, show_dir='shown')
    assert cfg.visualizer.save_dir == 'shown'
    assert cfg.default_hooks.visualization.draw is True


@pytest.mark.parametrize('form', ['dict', 'list', 'evaluator'])
def test_out_reaches_the_writing_metric_in_any_evaluator_form(form):
    vicl = dict(type='VICLIoUMetric')
    mmseg = dict(type='IoUMetric', prefix='mmseg')
    evaluator = dict(
        dict=vicl,
        list=[vicl, mmseg],
        evaluator=dict(type='Evaluator', metrics=[mmseg, vicl]))[form]
    cfg = Config(dict(default_scope='mmseg', test_evaluator=evaluator))
    assert set_prediction_output(cfg, 'o') == ['o']
    text = cfg.pretty_text
    assert text.count("output_dir='o'") == 1


def test_several_writing_metrics_get_one_folder_each():
    cfg = Config(
        dict(
            default_scope='mmseg',
            test_evaluator=[
                dict(type='VICLIoUMetric'),
                dict(type='VICLIoUMetric', mode='threshold', prefix='thr'),
                dict(type='VICLIoUMetric', task='detection'),
            ]))
    assert set_prediction_output(cfg, 'o') == [
        osp.join('o', 'vicl'),
        osp.join('o', 'thr'),
        osp.join('o', 'vicl_2')
    ]
    with pytest.raises(
            ValueError, match=r"\['IoUMetric'\].*VICLIoUMetric.*HGAccuracy"):
        set_prediction_output(
            Config(
                dict(
                    default_scope='mmseg',
                    test_evaluator=dict(type='IoUMetric'))), 'o')
