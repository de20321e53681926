"""VPT's VTAB-1k evaluation protocol, for any config of this project.

For each target task (VPT's ``tune_vtab.py``):

1. **grid**: one run per (lr, weight decay) of a small grid, trained on
   ``train800`` and scored on ``val200`` (first seed);
2. **selection**: the best ``val200`` top-1; ties go to the smaller lr,
   then the larger weight decay;
3. **final runs**: with the selected pair, one run per seed trained on
   ``train800val200`` and scored on ``test``; the task's result is their
   mean and standard deviation.

Every run is an ordinary MMEngine run of the task's config in its own work
folder (``<work_dir>/<task>/grid/lr<lr>_wd<wd>`` and
``<work_dir>/<task>/final/seed<seed>``), which ends with a
``result.json``; a finished run is reused when the protocol is run again.
Each task's outcome goes to ``<work_dir>/<task>/protocol.json``, which
:mod:`.aggregate` reads. When the final run of the first seed saved a
prompt (``VPTPromptSaveHook``), it is copied to
``<work_dir>/prompts/<task>.pth``: the source bank of the HGPrompt
configs.
"""
import gc
import json
import logging
import os
import os.path as osp
import shutil
import time
import uuid
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from projects.hgprompt.datasets.vtab_tasks import vtab_task
from projects.prompthub.datasets.data_check import check_data_paths
from projects.prompthub.utils import apply_cfg_options
from projects.prompthub.utils.atomic_io import atomic_write

#: The metric every run reports (``HGAccuracy``).
DEFAULT_METRIC = 'accuracy/top1'
#: Where each split is read in each phase.
PHASE_SPLITS = {
    'grid': ('train800', 'val200'),
    'final': ('train800val200', 'test'),
}
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


class _MetricCatcher(Hook):
    """Keeps the metrics of the run's last validation."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.metrics: Optional[dict] = None

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics = dict(metrics or {})


def protocol_settings(cfg: Config,
                      lrs: Optional[Sequence[float]] = None,
                      wds: Optional[Sequence[float]] = None,
                      seeds: Optional[Sequence[int]] = None) -> dict:
    """The grid and seeds of a config (its ``protocol`` dict), overridden
    by the given values.

    Args:
        cfg (Config): A task config.
        lrs, wds, seeds: Overrides; ``lrs`` are in the config's units
            (per ``lr_batch_scale`` images when that is set).

    Raises:
        ValueError: A grid or the seeds are missing or empty.
    """
    proto = dict(cfg.get('protocol') or {})
    settings = dict(
        lrs=list(lrs if lrs is not None else proto.get('lr_grid', [])),
        wds=list(wds if wds is not None else proto.get('wd_grid', [])),
        seeds=list(seeds if seeds is not None else proto.get('seeds', [])),
        lr_batch_scale=proto.get('lr_batch_scale'))
    for key, flag, name in (('lrs', '--lrs', 'lr_grid'),
                            ('wds', '--wds', 'wd_grid'), ('seeds', '--seeds',
                                                          'seeds')):
        if not settings[key]:
            raise ValueError(f'{cfg.filename}: the protocol has no {key}; '
                             f'give {flag} or set protocol.{name} in the '
                             'config.')
    return settings


def _run_dir_name(phase: str, lr: float, wd: float, seed: int) -> str:
    if phase == 'grid':
        return osp.join('grid', f'lr{lr:g}_wd{wd:g}')
    return osp.join('final', f'seed{seed}')


def _quiet_runner(runner_cls: type) -> type:
    """``runner_cls`` that skips collecting and formatting the environment
    and config log when its logger would drop them anyway (seconds per
    run, which add up over a protocol's runs)."""

    class ProtocolRunner(runner_cls):

        def _log_env(self, env_cfg: dict) -> None:
            if any(h.level <= logging.INFO for h in self.logger.handlers):
                super()._log_env(env_cfg)

    return ProtocolRunner


def _drop_frozen_param_notes(record: logging.LogRecord) -> bool:
    """Drop the optimizer constructor's line per frozen ViT parameter
    ("... is skipped since its requires_grad=False"): hundreds a run."""
    return not str(record.msg).endswith('since its requires_grad=False')


def _close_log_files(runner) -> None:
    """Close the run's log file (a long protocol runs hundreds)."""
    for handler in list(runner.logger.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            runner.logger.removeHandler(handler)


def run_once(config: str,
             task: str,
             phase: str,
             lr: float,
             wd: float,
             seed: int,
             work_dir: str,
             data_root: Optional[str] = None,
             cfg_options: Optional[dict] = None,
             lr_batch_scale: Optional[int] = None,
             metric: str = DEFAULT_METRIC,
             save_checkpoints: bool = False,
             log_level: str = 'WARNING',
             rerun: bool = False) -> dict:
    """Train and score one run of the protocol (or reuse its result).

    Args:
        config (str): The task's config file.
        task (str): The task name (the NOAH folder).
        phase (str): ``'grid'`` (train800 -> val200) or ``'final'``
            (train800val200 -> test).
        lr (float): Learning rate as in the grid (per
            ``lr_batch_scale`` images when that is set).
        wd (float): Weight decay.
        seed (int): ``randomness.seed``.
        work_dir (str): The task's protocol folder.
        data_root (str, optional): The VTAB-1k root; the task folder is
            ``<data_root>/<task>``. None keeps the config's.
        cfg_options (dict, optional): Extra ``--cfg-options`` for the run;
            they may not set what the protocol sets.
        lr_batch_scale (int, optional): ``lr`` is per this many images
            and is scaled by the run's batch size over it (VPT: 256).
        metric (str): The metric key to report.
        save_checkpoints (bool): Keep the run's last checkpoint.
        log_level (str): The run's log level.
        rerun (bool): Train again even if ``result.json`` exists.

    Returns:
        dict: ``phase``, ``task``, ``lr`` (the given), ``lr_used``, ``wd``,
        ``seed``, ``metric``, ``value`` and ``work_dir``.
    """
    run_dir = osp.join(work_dir, _run_dir_name(phase, lr, wd, seed))
    result_file = osp.join(run_dir, 'result.json')
    if osp.isfile(result_file) and not rerun:
        with open(result_file) as f:
            return json.load(f)
    train_split, eval_split = PHASE_SPLITS[phase]
    cfg = Config.fromfile(config)
    if cfg.get('task') not in (None, task):
        raise ValueError(f'{config} is the config of task {cfg.task!r}, not '
                         f'{task!r}: check the config template.')
    controlled = {
        'optim_wrapper.optimizer.lr': lr,
        'optim_wrapper.optimizer.weight_decay': wd,
        'randomness.seed': seed,
        'train_dataloader.dataset.split': train_split,
        'val_dataloader.dataset.split': eval_split,
        'test_dataloader.dataset.split': eval_split,
    }
    if data_root is not None:
        task_root = osp.join(data_root, task)
        if 'data_root' in cfg:
            controlled['data_root'] = task_root
        controlled.update({
            f'{loader}.dataset.data_root': task_root
            for loader in DATALOADERS
        })
    options = dict(cfg_options or {})
    clash = sorted(set(options) & set(controlled))
    if clash:
        raise ValueError(
            f'--cfg-options {clash} are set by the protocol itself (grid, '
            'seeds, splits, data root); use its --lrs/--wds/--seeds/'
            '--data-root instead.')
    apply_cfg_options(cfg, dict(options, **controlled))
    lr_used = lr
    if lr_batch_scale:
        lr_used = lr * cfg.train_dataloader.batch_size / lr_batch_scale
        cfg.optim_wrapper.optimizer.lr = lr_used
    cfg.work_dir = run_dir
    cfg.experiment_name = f'{task}_{phase}_{uuid.uuid4().hex[:8]}'
    cfg.log_level = log_level
    checkpoint = cfg.get('default_hooks', {}).get('checkpoint')
    if checkpoint is not None and not save_checkpoints:
        checkpoint.update(interval=-1, save_last=False)
    if phase == 'final':  # scored on test once, after training
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    check_data_paths(cfg, 'train')
    start = time.time()
    runner_cls = RUNNERS.get(cfg.get('runner_type', 'Runner')) or Runner
    runner = _quiet_runner(runner_cls).from_cfg(cfg)
    catcher = _MetricCatcher()
    runner.register_hook(catcher)
    runner.logger.addFilter(_drop_frozen_param_notes)
    try:
        runner.train()
        metrics = runner.test() if phase == 'final' else catcher.metrics
        eval_loader = (
            runner.test_dataloader
            if phase == 'final' else runner.val_dataloader)
        sizes = dict(
            num_train=len(runner.train_dataloader.dataset),
            num_eval=len(eval_loader.dataset))
    finally:
        _close_log_files(runner)
        del runner
        if torch.cuda.is_available():  # free the GPU for the next run
            gc.collect()
            torch.cuda.empty_cache()
    if not metrics or metric not in metrics:
        raise KeyError(f'{run_dir}: the run reported {metrics}, without '
                       f'{metric!r}; check val_evaluator / test_evaluator '
                       'or pass --metric.')
    # The record of result.json, in this key order.
    result = {
        'phase': phase,
        'task': task,
        'lr': lr,
        'lr_used': lr_used,
        'wd': wd,
        'seed': seed,
        'train_split': train_split,
        'eval_split': eval_split,
        **sizes,
        'metric': metric,
        'value': float(metrics[metric]),
        'seconds': round(time.time() - start, 1),
        'work_dir': run_dir,
    }
    atomic_write(result_file, json.dumps(result, indent=1))
    return result


def select_best(grid: List[dict]) -> dict:
    """The grid run with the best value; ties go to the smaller lr, then
    the larger weight decay (VPT keeps the smallest lr on a tie)."""
    return min(grid, key=lambda r: (-r['value'], r['lr'], -r['wd']))


def run_task(config: str,
             task: str,
             work_dir: str,
             lrs: Optional[Sequence[float]] = None,
             wds: Optional[Sequence[float]] = None,
             seeds: Optional[Sequence[int]] = None,
             report: Callable[[str], None] = print,
             **kwargs) -> dict:
    """The whole protocol for one task.

    Args:
        config (str): The task's config file.
        task (str): The task name.
        work_dir (str): The protocol's root; the task uses
            ``<work_dir>/<task>``.
        lrs, wds, seeds: Override the config's ``protocol`` values.
        report (callable): Receives one line per run.
        **kwargs: :func:`run_once` arguments (``data_root``,
            ``cfg_options``, ``metric``, ``save_checkpoints``, ...).

    Returns:
        dict: The content of ``<work_dir>/<task>/protocol.json``.
    """
    cfg = Config.fromfile(config)
    settings = protocol_settings(cfg, lrs, wds, seeds)
    kwargs['lr_batch_scale'] = settings['lr_batch_scale']
    task_dir = osp.join(work_dir, task)
    first_seed = settings['seeds'][0]
    grid = []
    for lr in settings['lrs']:
        for wd in settings['wds']:
            res = run_once(config, task, 'grid', lr, wd, first_seed, task_dir,
                           **kwargs)
            report(f'[{task}] grid lr={lr:g} wd={wd:g}: val '
                   f"{res['metric']} = {res['value']:.2f}")
            grid.append(res)
    best = select_best(grid)
    finals = []
    for seed in settings['seeds']:
        res = run_once(config, task, 'final', best['lr'], best['wd'], seed,
                       task_dir, **kwargs)
        report(f"[{task}] final lr={best['lr']:g} wd={best['wd']:g} "
               f"seed={seed}: test {res['metric']} = {res['value']:.2f}")
        finals.append(res)
    values = np.array([r['value'] for r in finals], dtype=float)
    info = vtab_task(task) if _is_vtab(task) else None
    summary = dict(
        task=task,
        group=info.group if info else None,
        num_classes=info.num_classes if info else None,
        config=config,
        metric=best['metric'],
        grid=[_brief(r) for r in grid],
        best=_brief(best),
        final=[_brief(r) for r in finals],
        seeds=settings['seeds'],
        mean=float(values.mean()),
        std=float(values.std(ddof=1)) if len(values) > 1 else 0.0)
    _export_prompt(finals[0]['work_dir'], work_dir, task, report)
    atomic_write(
        osp.join(task_dir, 'protocol.json'), json.dumps(summary, indent=1))
    return summary


def _is_vtab(task: str) -> bool:
    try:
        vtab_task(task)
    except KeyError:
        return False
    return True


def _brief(result: dict) -> dict:
    return {
        k: result[k]
        for k in ('lr', 'lr_used', 'wd', 'seed', 'value') if k in result
    }


def _export_prompt(run_dir: str, work_dir: str, task: str,
                   report: Callable[[str], None]) -> None:
    """Copy the first seed's saved prompt into ``<work_dir>/prompts``."""
    prompt = osp.join(run_dir, 'prompt.pth')
    if not osp.isfile(prompt):
        return
    out = osp.join(work_dir, 'prompts', f'{task}.pth')
    os.makedirs(osp.dirname(out), exist_ok=True)
    tmp = f'{out}.tmp'
    shutil.copyfile(prompt, tmp)
    os.replace(tmp, out)
    report(f'[{task}] source prompt -> {out}')


def run_protocol(config_template: str,
                 tasks: Sequence[str],
                 work_dir: str,
                 report: Callable[[str], None] = print,
                 **kwargs) -> Dict[str, dict]:
    """Run :func:`run_task` for every task.

    Args:
        config_template (str): Config path with ``{task}``, e.g.
            ``configs/hgprompt/hgprompt_vit-b16_vtab1k-{task}.py``.
        tasks (Sequence[str]): Task names.
        work_dir (str): The protocol's root.
        report (callable): Receives one line per run.
        **kwargs: :func:`run_task` arguments.

    Returns:
        dict: Task -> its ``protocol.json`` content.
    """
    if '{task}' not in config_template:
        raise ValueError(f'{config_template}: the config template needs a '
                         '{task} placeholder, e.g. configs/hgprompt/'
                         'hgprompt_vit-b16_vtab1k-{task}.py')
    configs = {t: config_template.format(task=t) for t in tasks}
    missing = [c for c in configs.values() if not osp.isfile(c)]
    if missing:
        raise FileNotFoundError(f'No config for these tasks: {missing}.')
    return {
        task: run_task(config, task, work_dir, report=report, **kwargs)
        for task, config in configs.items()
    }
