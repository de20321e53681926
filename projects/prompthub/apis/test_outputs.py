"""What ``tools/test.py --show/--show-dir/--out`` switch on in a config.

:func:`enable_visualization` turns on the config's
``default_hooks.visualization`` (mmseg's ``trigger_visualization_hook``);
:func:`set_prediction_output` points every metric of ``test_evaluator``
that can write per-query predictions at the ``--out`` folder, whether the
evaluator is one metric or a list. Both refuse, naming the key and the
fix, where the config cannot do what the flag asks.
"""
import os.path as osp
from typing import List, Optional

from mmengine.config import Config

from projects.prompthub.utils.config_checks import _scope, resolve_type

#: The hook to use instead of mmseg's on PromptHub models.
_HOOK_FIX = ("default_hooks.visualization = dict(type='VICLVisualizationHook'"
             ") and visualizer = dict(type='VICLLocalVisualizer', "
             "vis_backends=[dict(type='LocalVisBackend')], "
             "name='visualizer') (configs/_base_/default_runtime.py)")


def _classes(node, cfg: Config) -> list:
    if not isinstance(node, dict) or 'type' not in node:
        return []
    return resolve_type(node['type'], _scope(cfg))


def _is_vicl_model(cfg: Config) -> bool:
    """Whether the config's model predicts VICL canvas cells."""
    from projects.prompthub.models.segmentors import VICLInpainter
    return any(
        isinstance(cls, type) and issubclass(cls, VICLInpainter)
        for cls in _classes(cfg.get('model'), cfg))


def enable_visualization(cfg: Config,
                         show: bool = False,
                         show_dir: Optional[str] = None,
                         wait_time: float = 2.) -> None:
    """Turn on drawing in ``default_hooks.visualization``.

    ``show_dir`` becomes the hook's ``test_out_dir`` when it has one
    (``VICLVisualizationHook``: grids under
    ``{work_dir}/{timestamp}/{show_dir}``), else the visualizer's
    ``save_dir`` (what mmseg's ``tools/test.py`` does).

    Args:
        cfg (Config): The test config (changed in place).
        show (bool): Display the drawings.
        show_dir (str, optional): Folder of the drawings.
        wait_time (float): Seconds a displayed drawing stays.

    Raises:
        RuntimeError: The config has no visualization hook, or
            ``VICLVisualizationHook`` on a model that is not a VICL model,
            or ``HGClsVisualizationHook`` or mmseg's
            ``SegVisualizationHook`` on a VICL model (the latter would
            paint canvas-cell predictions over the original image).
    """
    hook = (cfg.get('default_hooks') or {}).get('visualization')
    if hook is None:
        raise RuntimeError(
            '--show/--show-dir need default_hooks.visualization, which this '
            f'config does not have. For a VICL model set {_HOOK_FIX}.')
    classes = _classes(hook, cfg)
    names = {c.__name__ for c in classes}
    vicl_model = _is_vicl_model(cfg)
    if 'VICLVisualizationHook' in names and not vicl_model:
        raise RuntimeError(
            '--show/--show-dir draw VICL episodes (VICLVisualizationHook), '
            f"but this config's model ({cfg.model.get('type')}) is not a "
            'VICL model (PromptHub, VICLInpainter). For a classifier set '
            "default_hooks.visualization = dict(type='HGClsVisualizationHook'"
            ') (configs/hgprompt/_base_/hg_runtime.py), or run without '
            '--show/--show-dir.')
    if vicl_model and 'HGClsVisualizationHook' in names:
        raise RuntimeError(
            'default_hooks.visualization is HGClsVisualizationHook, which '
            'draws classifier outputs (pred_label); a PromptHub/VICL model '
            f'predicts masks. Set {_HOOK_FIX}.')
    if vicl_model and 'SegVisualizationHook' in names:
        raise RuntimeError(
            "default_hooks.visualization is mmseg's SegVisualizationHook, "
            'which paints pred_sem_seg over the image read from img_path; '
            'a PromptHub/VICL model predicts the S x S canvas cell (its '
            "pred_sem_seg is not at the query's ori_shape), so the drawing "
            f'would fail or mislead. Set {_HOOK_FIX}.')
    hook['draw'] = True
    if show:
        hook['show'] = True
        hook['wait_time'] = wait_time
    if show_dir:
        from projects.prompthub.utils.config_checks import accepted_parameters
        if any('test_out_dir' in accepted_parameters(c)[0] for c in classes):
            hook['test_out_dir'] = show_dir
        else:
            cfg.visualizer['save_dir'] = show_dir


def _metric_cfgs(evaluator) -> list:
    """The metric dicts of a ``test_evaluator``: a dict, a list, or an
    ``Evaluator`` dict with ``metrics``."""
    if isinstance(evaluator, (list, tuple)):
        return list(evaluator)
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        return _metric_cfgs(evaluator['metrics'])
    return [evaluator] if isinstance(evaluator, dict) else []


def set_prediction_output(cfg: Config, out_dir: str) -> List[str]:
    """Set ``output_dir`` on the metrics that write per-query predictions.

    Those metrics (``writes_predictions = True``: ``VICLIoUMetric``,
    ``ColorizationMSE``) write each query's prediction at its original
    size plus ``scores.json``; ``HGAccuracy`` (the HGPrompt classifiers)
    writes ``predictions.json`` (per sample: labels and scores). With
    one such metric it writes into ``out_dir``; with several, each
    writes into ``out_dir/{prefix}`` (a number is appended when prefixes
    repeat). Other metrics (e.g. mmseg's
    ``IoUMetric``, whose files would be canvas cells named after the
    image, one per image for several classes) are left alone.

    Args:
        cfg (Config): The test config (changed in place).
        out_dir (str): The ``--out`` folder.

    Returns:
        list[str]: The folder of each writing metric.

    Raises:
        ValueError: No metric of ``test_evaluator`` writes predictions.
    """
    metrics = _metric_cfgs(cfg.get('test_evaluator'))
    writers = [
        m for m in metrics if any(
            getattr(c, 'writes_predictions', False) for c in _classes(m, cfg))
    ]
    if not writers:
        types = [m.get('type') for m in metrics if isinstance(m, dict)]
        raise ValueError(
            f'--out {out_dir}: no metric of test_evaluator ({types}) writes '
            'per-query predictions. Add VICLIoUMetric (masks), '
            'ColorizationMSE (colourisations) or HGAccuracy (classes) to '
            'test_evaluator, or run without --out.')
    folders: List[str] = []
    for metric in writers:
        folder = out_dir
        if len(writers) > 1:
            classes = _classes(metric, cfg)
            name = metric.get('prefix') or getattr(
                classes[0], 'default_prefix', None) or metric['type']
            folder = osp.join(out_dir, str(name))
            k = 1
            while folder in folders:
                k += 1
                folder = osp.join(out_dir, f'{name}_{k}')
        metric['output_dir'] = folder
        folders.append(folder)
    return folders
