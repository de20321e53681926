"""MainProcessLoggerHook: one writer of the test metrics JSON."""
import json
import os.path as osp
from types import SimpleNamespace
from unittest import mock

from mmengine.hooks import LoggerHook

from projects.prompthub.engine import MainProcessLoggerHook
from projects.prompthub.registry import HOOKS

MODULE = 'projects.prompthub.engine.hooks.main_process_logger_hook'


def _runner(tmp_path):
    processor = SimpleNamespace(
        get_log_after_epoch=lambda *a, **k: ({
            'mIoU': 50.0
        }, 'mIoU: 50.0'))
    return SimpleNamespace(
        log_processor=processor,
        logger=mock.Mock(),
        log_dir=str(tmp_path),
        test_dataloader=[0, 1],
        timestamp='run')


def test_only_rank_zero_dumps_the_test_metrics(tmp_path):
    hook = HOOKS.build(dict(type='MainProcessLoggerHook', interval=5))
    assert isinstance(hook, LoggerHook) and hook.interval == 5
    assert isinstance(hook, MainProcessLoggerHook)
    hook.json_log_path = 'run.json'
    runner = _runner(tmp_path)
    with mock.patch(f'{MODULE}.is_main_process', return_value=False):
        hook.after_test_epoch(runner, {'mIoU': 50.0})
    assert not osp.exists(tmp_path / 'run.json')
    runner.logger.info.assert_not_called()
    with mock.patch(f'{MODULE}.is_main_process', return_value=True):
        hook.after_test_epoch(runner, {'mIoU': 50.0})
    assert json.loads((tmp_path / 'run.json').read_text()) == {'mIoU': 50.0}
    runner.logger.info.assert_called_once_with('mIoU: 50.0')
