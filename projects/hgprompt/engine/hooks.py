"""Hooks of the HGPrompt system: stage switch, weight log, prompt save."""
import json
import os.path as osp
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from projects.hgprompt.registry import HOOKS
from ..models.losses import h_score
from ..models.prompt_bank import save_prompt


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class HGPromptStageHook(Hook):
    """Switch an ``init='ensemble'`` model from stage A to stage B.

    Before the training epoch ``switch_epoch`` (0-based: stage A runs
    epochs ``0 .. switch_epoch - 1``) it copies P(w*) into the target
    prompt, freezes the weights, optionally re-initialises the head and
    drops the optimizer state of the head and the target prompt (their
    stage-A moments would leak into stage B). Every parameter exists
    from the start, so the optimizer's param groups are already right.
    Resuming after the switch is handled by the model's ``stage_flag``
    buffer, saved in checkpoints.

    Optionally (``hscore_prior``, a temperature T) the weights start from
    the H-score of each source prompt's features on the whole training
    set, ``w_k = softmax(H_k / T)`` (H-ensemble's "hscore" weights, the
    SPoT-style ranking), instead of uniform; stage A then refines them.

    Args:
        switch_epoch (int): First stage-B epoch.
        reset_head (bool): Re-initialise the head. Defaults to True.
        hscore_prior (float, optional): Temperature T of the H-score
            prior; None keeps the uniform start.
    """

    priority = 'NORMAL'

    def __init__(self,
                 switch_epoch: int,
                 reset_head: bool = True,
                 hscore_prior: Optional[float] = None) -> None:
        self.switch_epoch = switch_epoch
        self.reset_head = reset_head
        self.hscore_prior = hscore_prior
        self.source_hscores: Optional[dict] = None

    @torch.no_grad()
    def before_train(self, runner) -> None:
        """Set the H-score prior on the weights (fresh stage-A runs)."""
        model = _unwrap(runner.model)
        if (self.hscore_prior is None or model.stage == 'B' or runner.epoch > 0
                or model.weight_param != 'softmax'):
            return
        feats, labels = [], []
        for data in runner.train_dataloader:
            data = model.data_preprocessor(data, False)
            feats.append(
                model.source_features(data['inputs'], data['data_samples']))
            labels.append(
                model._labels(data['data_samples'], data['inputs'].device))
        feats, labels = torch.cat(feats, 1), torch.cat(labels)
        loss = model.loss_h
        scores = torch.stack([
            h_score(f, labels, loss.estimator, loss.alpha, loss.eps,
                    loss.standardize) for f in feats
        ])
        self.source_hscores = dict(zip(model.source_names, scores.tolist()))
        runner.logger.info('source H-scores: ' +
                           json.dumps(self.source_hscores))
        logits = (scores - scores.max()) / self.hscore_prior
        model.weight_logits.copy_(
            (logits * model.temperature).expand_as(model.weight_logits))

    def before_train_epoch(self, runner) -> None:
        """Switch at ``switch_epoch``."""
        model = _unwrap(runner.model)
        if runner.epoch < self.switch_epoch or model.stage == 'B':
            return
        weights = model.ensemble_weights().detach().cpu()
        runner.logger.info('HGPrompt stage B from w* = ' + json.dumps(
            dict(
                zip(model.source_names,
                    weights.reshape(-1, weights.shape[-1]).mean(0).tolist()))))
        model.switch_to_stage_b(reset_head=self.reset_head)
        optimizer = runner.optim_wrapper.optimizer
        for param in list(model.head.parameters()) + [model.target_prompt]:
            optimizer.state.pop(param, None)


@HOOKS.register_module()
class HGEnsembleWeightLoggerHook(Hook):
    """Log the ensemble weights each epoch and dump the final ones.

    Writes ``<work_dir>/ensemble_weights.json`` with
    ``{'sources': [...], 'weights': [...], 'per_epoch': [[...], ...]}``
    (weights are the stage-A result, i.e. w* after the switch).

    Args:
        out_file (str, optional): Output file; defaults to the work dir.
    """

    def __init__(self, out_file: Optional[str] = None) -> None:
        self.out_file = out_file
        self.history = []

    def _weights(self, runner):
        model = _unwrap(runner.model)
        if model.weight_logits is None:
            return None
        weights = model.ensemble_weights().detach().cpu()
        return weights.reshape(-1, weights.shape[-1]).mean(0).tolist()

    def after_train_epoch(self, runner) -> None:
        """Record and log w."""
        weights = self._weights(runner)
        if weights is None:
            return
        self.history.append(weights)
        names = _unwrap(runner.model).source_names
        runner.logger.info('ensemble weights: ' +
                           ', '.join(f'{n}={w:.3f}'
                                     for n, w in zip(names, weights)))
        for name, weight in zip(names, weights):
            runner.message_hub.update_scalar(f'train/w_{name}', weight)

    def after_train(self, runner) -> None:
        """Dump the final weights."""
        weights = self._weights(runner)
        if weights is None:
            return
        out = self.out_file or osp.join(runner.work_dir,
                                        'ensemble_weights.json')
        with open(out, 'w') as f:
            json.dump(
                dict(
                    sources=_unwrap(runner.model).source_names,
                    weights=weights,
                    per_epoch=self.history),
                f,
                indent=1)


def _train_data_root(runner) -> Optional[str]:
    """The absolute folder of the run's training dataset, if it has one."""
    cfg = runner.cfg.get('train_dataloader') or {}
    root = (cfg.get('dataset') or {}).get('data_root')
    return osp.realpath(root) if isinstance(root, str) and root else None


@HOOKS.register_module()
class VPTPromptSaveHook(Hook):
    """Save the trained prompt at the end of training (bank format).

    Besides the prompt, the file records the task and the absolute folder
    of the training data (``meta['data_root']``), which
    ``HGSourceOverlapHook`` compares with a target's.

    Args:
        task (str, optional): Task name stored in the file; default: the
            name of the training data folder (the task in the NOAH layout).
        out_file (str, optional): Defaults to ``<work_dir>/prompt.pth``.
    """

    def __init__(self,
                 task: Optional[str] = None,
                 out_file: Optional[str] = None) -> None:
        self.task = task
        self.out_file = out_file

    def after_train(self, runner) -> None:
        """Write the prompt file."""
        model = _unwrap(runner.model)
        prompt = model.current_prompt()
        if prompt is None:
            return
        out = self.out_file or osp.join(runner.work_dir, 'prompt.pth')
        data_root = _train_data_root(runner)
        task = self.task or (osp.basename(data_root) if data_root else '')
        backbone = model.backbone
        save_prompt(
            out,
            prompt,
            task=task,
            deep=backbone.deep,
            backbone=str(backbone.checkpoint),
            num_classes=model.num_classes,
            data_root=data_root)
        runner.logger.info(f'Prompt of task {task!r} saved to {out}')


@HOOKS.register_module()
class HGSourceOverlapHook(Hook):
    """Refuse source prompts trained on the target's own data.

    Leave-one-out transfer must not feed the target a prompt trained on
    its images. The model already leaves the target's prompt out by task
    name (``model.target_task``); this hook also compares the folder each
    source was trained on (``meta['data_root']``, recorded by
    ``VPTPromptSaveHook``) with the target's training folder, which
    catches a prompt saved under another name.

    Args:
        action (str): ``'error'`` (default) raises before training;
            ``'warn'`` logs a warning and trains (oracle ablations).
    """

    priority = 'VERY_HIGH'

    def __init__(self, action: str = 'error') -> None:
        if action not in ('error', 'warn'):
            raise ValueError(f"action must be 'error' or 'warn', got "
                             f'{action!r}')
        self.action = action

    def before_train(self, runner) -> None:
        """Compare every source's training folder with the target's."""
        model = _unwrap(runner.model)
        target = _train_data_root(runner)
        if target is None:
            return
        clashes = [
            meta for meta in getattr(model, 'source_meta', []) if
            meta.get('data_root') and osp.realpath(meta['data_root']) == target
        ]
        if not clashes:
            return
        names = ', '.join(f"{m['task']!r} ({m['file']})" for m in clashes)
        msg = (f'source prompt(s) {names} were trained on {target}, the '
               'target\'s own training data: transfer from them is not '
               'leave-one-out. Remove them from the bank, set model.sources '
               'to the other tasks, or set model.target_task to the '
               "target's task name.")
        if self.action == 'error':
            raise ValueError(msg)
        runner.logger.warning('!' * 20 + ' ' + msg)
