"""A shortened CPU demo: the trained fusion must beat the untrained fusion
and the frozen backbone given one raw prompt."""
import os.path as osp

import torch
from mmengine.runner import Runner

from projects.prompthub.demo.cpu_demo import score_rows, set_iters
from projects.prompthub.utils import load_config

CONFIG = osp.join(
    'configs', 'prompthub',
    'prompthub-n4_tiny-vicl_1xb16-adamw-200iter_lookalike-fold0.py')
#: Held-out IoU gain of the trained over the untrained fusion (N=4) that
#: the shortened run must show.
MARGIN = 0.05
#: ... and of the trained fusion (N=4) over the 1-prompt backbone.
BACKBONE_MARGIN = 0.03


def test_short_fusion_training_beats_untrained_fusion(tmp_path):
    torch.manual_seed(0)
    cfg = load_config(CONFIG)
    assert osp.isfile(cfg.model.backbone.checkpoint), \
        'the committed tiny backbone checkpoint is missing'
    cfg.work_dir = str(tmp_path)
    set_iters(cfg, 80)
    cfg.train_cfg.val_interval = 10**6  # no validation pass
    cfg.train_dataloader.batch_size = 8
    cfg.custom_hooks = []
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=10**6, by_epoch=False)
    cfg.default_hooks.logger.interval = 10
    runner = Runner.from_cfg(cfg)
    hub, single = 'PromptHub N=4', 'backbone, 1 prompt (mean over 4)'
    runner.model.neck.init_weights()  # its init_cfg, as training starts
    before = score_rows(runner.model, cfg, 50, rows={hub})[hub]
    runner.train()
    after = score_rows(runner.model, cfg, 50, rows={hub, single})
    assert after[hub].mean() > before.mean() + MARGIN, (before.mean(),
                                                        after[hub].mean())
    assert after[hub].mean() > after[single].mean() + BACKBONE_MARGIN, {
        k: v.mean()
        for k, v in after.items()
    }
