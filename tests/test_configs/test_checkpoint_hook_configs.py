"""Every training config saves through SafeCheckpointHook.

A config that names ``type='CheckpointHook'`` would silently bring back
MMEngine's delete-then-write order (see ``SafeCheckpointHook``).
"""
import glob
import os.path as osp

import pytest

from projects.prompthub.engine import SafeCheckpointHook
from projects.prompthub.registry import HOOKS
from projects.prompthub.utils import load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(p, REPO) for p in glob.glob(
        osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)


def test_all_configs_are_listed():
    assert 'configs/prompthub_seg.py' in CONFIGS
    assert 'configs/hgprompt/hgprompt_vit-b16_vtab1k-cifar.py' in CONFIGS


@pytest.mark.parametrize('path', CONFIGS)
def test_checkpoint_hook_is_the_safe_one(path):
    cfg = load_config(osp.join(REPO, path))
    hook_cfg = cfg.default_hooks.checkpoint
    assert hook_cfg.type == 'SafeCheckpointHook', path
    hook = HOOKS.build(hook_cfg)
    assert isinstance(hook, SafeCheckpointHook)
    # The CheckpointHook settings come through unchanged.
    for key in ('interval', 'by_epoch', 'max_keep_ckpts'):
        if key in hook_cfg:
            assert getattr(hook, key) == hook_cfg[key], (path, key)
    if hook_cfg.get('save_best'):
        assert hook.key_indicators == [hook_cfg.save_best]
        assert hook.rules == [hook_cfg.rule]
