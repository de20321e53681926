"""Log how much work PromptHub's caches saved in each epoch."""
from typing import Dict, Optional, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from projects.prompthub.registry import HOOKS

#: model attribute -> (name in the log, what a slot is, what a miss does)
_CACHES = {
    'target_cache': ('target-code cache', 'query pairs', 'encoded'),
    'prompt_state_cache': ('prompt-state cache', 'prompt slots', 'computed'),
}


@HOOKS.register_module()
class CacheStatsHook(Hook):
    """After every train, val and test epoch, log the hits and misses of
    the model's caches (``target_cache``, ``prompt_state_cache``) during
    that epoch, e.g. ``prompt-state cache: 22144 prompt slots, 2286
    computed, 19858 reused (89.7%)``. Models without caches log nothing.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self._seen: Dict[str, Tuple[int, int]] = {}

    @staticmethod
    def _caches(runner) -> Dict[str, object]:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        return {
            attr: getattr(model, attr)
            for attr in _CACHES if getattr(model, attr, None) is not None
        }

    def _start(self, runner) -> None:
        self._seen = {
            attr: (cache.hits, cache.misses)
            for attr, cache in self._caches(runner).items()
        }

    def _report(self, runner, mode: str) -> None:
        for attr, cache in self._caches(runner).items():
            hits0, misses0 = self._seen.get(attr, (0, 0))
            hits, misses = cache.hits - hits0, cache.misses - misses0
            total = hits + misses
            if not total:
                continue
            name, slots, missed = _CACHES[attr]
            runner.logger.info(
                f'{name} ({mode}): {total} {slots}, {misses} {missed}, '
                f'{hits} reused ({100 * hits / total:.1f}%)')

    def before_train_epoch(self, runner) -> None:
        self._start(runner)

    def after_train_epoch(self, runner) -> None:
        self._report(runner, 'train')

    def before_val_epoch(self, runner) -> None:
        self._start(runner)

    def after_val_epoch(self,
                        runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        self._report(runner, 'val')

    def before_test_epoch(self, runner) -> None:
        self._start(runner)

    def after_test_epoch(self,
                         runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        self._report(runner, 'test')
