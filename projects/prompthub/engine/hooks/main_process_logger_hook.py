"""MMEngine's LoggerHook with the test metrics written by one process."""
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import LoggerHook

from projects.prompthub.registry import HOOKS


@HOOKS.register_module()
class MainProcessLoggerHook(LoggerHook):
    """``LoggerHook`` whose test epoch is logged and dumped by rank 0 only.

    MMEngine 0.10.7's ``LoggerHook.after_test_epoch`` makes every rank dump
    the metrics to the same ``<log_dir>/<timestamp>.json``. The ranks'
    records differ (their own ``time``/``data_time``), and two processes
    writing one file can leave it corrupt (seen in our 2-process test: the
    shorter record over the longer one, ending in ``}}``). The metrics are
    already gathered to every rank, so rank 0 alone writes them. Everything
    else is ``LoggerHook``'s; the arguments are the same.
    """

    def after_test_epoch(self,
                         runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        if is_main_process():
            super().after_test_epoch(runner, metrics)
