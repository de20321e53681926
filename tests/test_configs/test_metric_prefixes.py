"""No two metrics of one evaluator log the same key, and mmseg's
``IoUMetric`` (2-class, background included) never logs a bare ``mIoU``
next to ``vicl/mIoU`` (the papers' foreground IoU)."""
import glob
import os.path as osp

import pytest
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

import projects.prompthub  # noqa: F401
from projects.prompthub.utils import load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for folder in ('', 'prompthub', 'maevqgan', 'hgprompt')
    for p in glob.glob(osp.join(REPO, 'configs', folder, '*.py')))


def _metrics(evaluator) -> list:
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        return _metrics(evaluator['metrics'])
    return list(evaluator) if isinstance(evaluator, list) else [evaluator]


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_every_metric_logs_under_a_prefix(path):
    cfg = load_config(path)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    for key in ('val_evaluator', 'test_evaluator'):
        if not cfg.get(key):
            continue
        built = Evaluator(_metrics(cfg[key])).metrics
        prefixes = [m.prefix for m in built]
        assert all(prefixes), (key, [type(m).__name__ for m in built])
        assert len(set(prefixes)) == len(prefixes), (key, prefixes)
        for metric in built:
            if type(metric).__name__ == 'IoUMetric':
                assert metric.prefix == 'mmseg', (key, metric.prefix)
