"""The reference recipe's learning-rate sequence is reproduced exactly."""
import math

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS

SCHEDULE = 'configs/_base_/schedules/sgd_cosrestart_150e.py'


def reference_lr(epoch: int) -> float:
    """lr of 1-based ``epoch``: CosineAnnealingWarmRestarts(T_0=10)."""
    return 0.015 * (1 + math.cos(math.pi * ((epoch - 1) % 10) / 10))


def test_cosine_restart_per_epoch_matches_reference():
    cfg = Config.fromfile(SCHEDULE)
    optim_cfg = dict(cfg.optim_wrapper, type='OptimWrapper')
    optim_cfg.pop('loss_scale')
    model = torch.nn.Linear(2, 2)
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    optimizer = optim_wrapper.optimizer
    assert optimizer.defaults['momentum'] == 0
    assert optimizer.defaults['weight_decay'] == 0
    schedulers = [
        PARAM_SCHEDULERS.build(dict(s, optimizer=optim_wrapper))
        for s in cfg.param_scheduler
    ]
    lrs = []
    for _ in range(cfg.max_epochs):
        lrs.append(optimizer.param_groups[0]['lr'])
        for scheduler in schedulers:
            scheduler.step()
    assert len(lrs) == 150
    for epoch, lr in enumerate(lrs, start=1):
        assert math.isclose(lr, reference_lr(epoch), abs_tol=1e-9), epoch
    # 15 warm restarts back to the base lr.
    assert sum(math.isclose(lr, 0.03) for lr in lrs) == 15
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
