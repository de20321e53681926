"""The CPU demo: train the fusion neck, then score every baseline.

``run_demo`` trains PromptHub's fusion neck with MMEngine's Runner from a
config (the demo config,
``configs/prompthub/prompthub-n4_tiny-vicl_1xb16-adamw-200iter_lookalike-fold0.py``)
and evaluates, on held-out classes, the table of the README: trivial
baselines, the frozen backbone with one prompt and as an ensemble of
single-prompt runs, the untrained and the trained fusion with N = 1, 4
(and 16) prompts, paired 95 % intervals of the differences, and the
prompt-reading gate (right-class minus wrong-class prompt IoU of the
backbone).
"""
import copy
import time
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DATASETS
from mmengine.runner import Runner

from .scoring import (backbone_probs, format_table, iou_per_episode,
                      paired_interval, prompthub_probs, stack_episodes)


def set_iters(cfg: Config, iters: int) -> None:
    """Shorten or lengthen the demo schedule to ``iters`` iterations."""
    warmup = max(1, min(30, iters // 10))
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    cfg.param_scheduler = [
        dict(
            type='LinearLR',
            start_factor=0.1,
            by_epoch=False,
            begin=0,
            end=warmup),
        dict(
            type='CosineAnnealingLR',
            by_epoch=False,
            begin=warmup,
            end=iters,
            T_max=iters - warmup),
    ]
    cfg.default_hooks.checkpoint.interval = iters


def build_eval_dataset(cfg: Config,
                       num_prompts: int,
                       episodes: int,
                       wrong_class: bool = False):
    """The held-out test set of the config with ``num_prompts`` prompts."""
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    ds_cfg.update(
        num_prompts=num_prompts,
        num_samples=episodes,
        wrong_class_prompts=wrong_class)
    return DATASETS.build(ds_cfg)


@torch.no_grad()
def score_rows(model,
               cfg: Config,
               episodes: int,
               max_prompts: int = 4,
               batch_size: int = 25,
               rows=None) -> Dict[str, np.ndarray]:
    """Per-episode IoU of each method on held-out episodes.

    Args:
        model: A PromptHub model (its backbone gives the baselines).
        cfg (Config): The demo config (test split).
        episodes (int): Number of held-out episodes.
        max_prompts (int): 4 or 16: the largest N scored.
        batch_size (int): Episodes per forward pass.
        rows (set[str], optional): Subset of methods to score.

    Returns:
        dict[str, np.ndarray]: method name -> IoU per episode.
    """
    model.eval()
    dataset = build_eval_dataset(cfg, max_prompts, episodes)
    wrong = build_eval_dataset(cfg, 1, episodes, wrong_class=True)
    backbone = model.backbone
    out: Dict[str, list] = {}

    def add(name, value):
        if rows is None or name in rows:
            out.setdefault(name, []).append(value)

    for start in range(0, episodes, batch_size):
        idx = list(range(start, min(start + batch_size, episodes)))
        inputs, gt = stack_episodes(dataset, idx)
        add('all background', iou_per_episode(torch.zeros_like(gt), gt))
        add('all foreground', iou_per_episode(torch.ones_like(gt), gt))
        prompt_mask = inputs[:, 1, 1].mean(1) > 0.5
        add('copy the prompt mask', iou_per_episode(prompt_mask, gt))
        probs = [backbone_probs(backbone, inputs, s) for s in range(1, 5)]
        single = np.mean([iou_per_episode(p > 0.5, gt) for p in probs], 0)
        add('backbone, 1 prompt (mean over 4)', single)
        ens = torch.stack(probs).mean(0) > 0.5
        add('backbone, ensemble of 4 single-prompt runs',
            iou_per_episode(ens, gt))
        for n in (1, 4, 16):
            if n > max_prompts:
                continue
            pred = prompthub_probs(model, inputs[:, :n + 1]) > 0.5
            add(f'PromptHub N={n}', iou_per_episode(pred, gt))
        w_inputs, w_gt = stack_episodes(wrong, idx)
        add('gate: backbone, right-class prompt',
            iou_per_episode(probs[0] > 0.5, gt))
        add('gate: backbone, wrong-class prompt',
            iou_per_episode(backbone_probs(backbone, w_inputs, 1) > 0.5, w_gt))
    return {k: np.concatenate(v) for k, v in out.items()}


def summarise(scores: Dict[str, np.ndarray],
              untrained: Optional[np.ndarray] = None) -> dict:
    """Means, paired intervals and the gate from per-episode scores."""
    means = {k: float(v.mean()) for k, v in scores.items()}
    pairs = {}
    hub = scores.get('PromptHub N=4')
    if hub is not None:
        for ref in ('backbone, 1 prompt (mean over 4)',
                    'backbone, ensemble of 4 single-prompt runs',
                    'PromptHub N=1'):
            if ref in scores:
                pairs[f'PromptHub N=4 - {ref}'] = paired_interval(
                    hub, scores[ref])
        if untrained is not None:
            pairs['PromptHub N=4 - untrained fusion N=4'] = \
                paired_interval(hub, untrained)
    gate = means.get('gate: backbone, right-class prompt', float('nan')) - \
        means.get('gate: backbone, wrong-class prompt', float('nan'))
    return dict(means=means, paired=pairs, gate=gate)


def report(summary: dict, episodes: int) -> str:
    """Printable tables of a :func:`summarise` result."""
    rows = [(k, f'{v:.3f}') for k, v in summary['means'].items()]
    text = format_table(
        rows, f'Held-out classes, mean IoU over {episodes} episodes:')
    prow = [(k, f'{m:+.3f} [{lo:+.3f}, {hi:+.3f}]')
            for k, (m, lo, hi) in summary['paired'].items()]
    if prow:
        text += '\n\n' + format_table(
            prow, 'Paired differences, mean [95 % interval]:')
    verdict = 'PASS' if summary['gate'] >= 0.10 else 'FAIL'
    text += (f'\n\nGate {verdict}: right-class minus wrong-class prompt IoU'
             f' = {summary["gate"]:.3f} (needs >= 0.10)')
    return text


def run_demo(cfg: Config,
             iters: Optional[int] = None,
             episodes: int = 300,
             max_prompts: int = 4,
             log=print) -> dict:
    """Train the fusion neck from ``cfg`` and score the demo table.

    Args:
        cfg (Config): The demo config (``work_dir`` set).
        iters (int, optional): Override the number of training
            iterations.
        episodes (int): Held-out episodes scored. Defaults to 300.
        max_prompts (int): 4, or 16 to add PromptHub N=16.
        log (callable): Printer. Defaults to :func:`print`.

    Returns:
        dict: ``summary`` (see :func:`summarise`), ``untrained`` (mean IoU
        of the untrained fusion with N=4), ``scores`` and timings.
    """
    if iters is not None:
        set_iters(cfg, iters)
    runner = Runner.from_cfg(cfg)
    model = runner.model
    # Score the neck as training starts from it: its init_cfg applied
    # (runner.train() then leaves the initialised neck as it is).
    model.neck.init_weights()
    t0 = time.time()
    before = score_rows(model, cfg, episodes, 4, rows={'PromptHub N=4'})
    untrained = before['PromptHub N=4']
    log(f'[demo] untrained fusion, N=4: held-out IoU {untrained.mean():.3f}'
        f' ({time.time() - t0:.0f} s)')
    t1 = time.time()
    runner.train()
    train_s = time.time() - t1
    log(f'[demo] fusion training: {cfg.train_cfg.max_iters} iterations in '
        f'{train_s / 60:.1f} min')
    t2 = time.time()
    scores = score_rows(model, cfg, episodes, max_prompts)
    scores['untrained fusion N=4'] = untrained
    summary = summarise(scores, untrained)
    log(report(summary, episodes))
    log(f'[demo] evaluation {time.time() - t2:.0f} s')
    return dict(
        summary=summary,
        untrained=float(untrained.mean()),
        scores={
            k: v.tolist()
            for k, v in scores.items()
        },
        train_seconds=train_s)
