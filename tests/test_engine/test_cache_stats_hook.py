"""CacheStatsHook: per-epoch hits and misses of the model's caches."""
from types import SimpleNamespace

import torch

from projects.prompthub.engine import CacheStatsHook
from projects.prompthub.models.utils.prompt_state_cache import PromptStateCache
from projects.prompthub.registry import HOOKS


class _Logger:

    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(msg)


def _runner(model):
    return SimpleNamespace(model=model, logger=_Logger())


def test_logs_each_epochs_own_counts():
    model = torch.nn.Module()
    model.prompt_state_cache = PromptStateCache(max_items=4)
    model.target_cache = None
    runner = _runner(model)
    hook = HOOKS.build(dict(type='CacheStatsHook'))
    assert isinstance(hook, CacheStatsHook)
    cache = model.prompt_state_cache
    cache.hits, cache.misses = 5, 3  # before the epoch: not reported
    hook.before_val_epoch(runner)
    cache.hits, cache.misses = 5 + 9, 3 + 1
    hook.after_val_epoch(runner, {})
    assert runner.logger.lines == [
        'prompt-state cache (val): 10 prompt slots, 1 computed, 9 reused '
        '(90.0%)'
    ]
    # An epoch that used no cache logs nothing.
    hook.before_test_epoch(runner)
    hook.after_test_epoch(runner, {})
    assert len(runner.logger.lines) == 1


def test_target_cache_per_training_epoch():
    model = torch.nn.Module()
    model.target_cache = SimpleNamespace(hits=0, misses=0)
    runner = _runner(model)
    hook = CacheStatsHook()
    for epoch_counts in ((0, 4), (4, 0)):  # epoch 1 encodes, epoch 2 reuses
        hook.before_train_epoch(runner)
        model.target_cache.hits += epoch_counts[0]
        model.target_cache.misses += epoch_counts[1]
        hook.after_train_epoch(runner)
    assert runner.logger.lines == [
        'target-code cache (train): 4 query pairs, 4 encoded, 0 reused '
        '(0.0%)',
        'target-code cache (train): 4 query pairs, 0 encoded, 4 reused '
        '(100.0%)'
    ]
