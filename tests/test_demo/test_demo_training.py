"""A shortened CPU demo: fusion training must beat the untrained fusion."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from projects.prompthub.apis.demo import score_rows, set_iters

CONFIG = 'configs/prompthub_demo.py'
#: Held-out IoU gain of the trained over the untrained fusion (N=4) that
#: the shortened run must show.
MARGIN = 0.05


def test_short_fusion_training_beats_untrained_fusion(tmp_path):
    torch.manual_seed(0)
    cfg = Config.fromfile(CONFIG)
    assert osp.isfile(cfg.model.backbone.checkpoint), \
        'the committed tiny backbone checkpoint is missing'
    cfg.work_dir = str(tmp_path)
    set_iters(cfg, 40)
    cfg.train_cfg.val_interval = 10**6  # no validation pass
    cfg.train_dataloader.batch_size = 8
    cfg.custom_hooks = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=10**6, by_epoch=False)
    cfg.default_hooks.logger.interval = 10
    runner = Runner.from_cfg(cfg)
    rows = {'PromptHub N=4'}
    before = score_rows(runner.model, cfg, 50, rows=rows)['PromptHub N=4']
    runner.train()
    after = score_rows(runner.model, cfg, 50, rows=rows)['PromptHub N=4']
    assert after.mean() > before.mean() + MARGIN, (before.mean(),
                                                   after.mean())
