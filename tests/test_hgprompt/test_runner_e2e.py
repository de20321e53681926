import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from projects.hgprompt.datasets import make_vtab_suite
from projects.hgprompt.models import load_prompt_bank

CFG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    'hgprompt')


def _cfg(name, root, work_dir, epochs, **model):
    cfg = Config.fromfile(osp.join(CFG_DIR, name))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
        cfg[key].dataset.pop('max_samples', None)
    cfg.train_dataloader.batch_size = 8
    cfg.model.backbone.checkpoint = None
    cfg.model.num_classes = 4
    cfg.model.update(model)
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    return cfg


@pytest.fixture(scope='module')
def suite(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('suite'))
    make_vtab_suite(
        root, ['count4', 'stripe_ori'], num_train=12, num_val=4, num_test=8)
    return root


def test_sources_then_two_stage_hgprompt(suite, tmp_path):
    torch.set_num_threads(1)
    bank = str(tmp_path / 'prompts')
    # 1. VPT source runs save their prompts in the bank format
    for task in ('count4', 'stripe_ori'):
        cfg = _cfg('vpt-deep_vit-tiny-p8_vtab-synth-source.py',
                   osp.join(suite, task), str(tmp_path / task), 1)
        cfg.custom_hooks[1].task = task
        cfg.custom_hooks[1].out_file = osp.join(bank, f'{task}.pth')
        Runner.from_cfg(cfg).train()
    prompts, names = load_prompt_bank(bank, 4, 4, 64)
    assert names == ['count4', 'stripe_ori']
    assert not torch.equal(prompts[0], prompts[1])

    # 2. HGPrompt: stage A (1 epoch) then stage B (1 epoch)
    work = str(tmp_path / 'hg')
    cfg = _cfg(
        'hgprompt_vit-tiny-p8_vtab-synth-count6.py',
        osp.join(suite, 'count4'),
        work,
        2,
        source_prompts=bank)
    cfg.custom_hooks[1].switch_epoch = 1
    runner = Runner.from_cfg(cfg)
    model = runner.model
    sources = model.source_prompts.clone()
    runner.train()
    logged = set(runner.message_hub.log_scalars)
    assert {'train/loss_h', 'train/loss_gar', 'train/loss_ce'} <= logged
    assert model.stage == 'B'
    with open(osp.join(work, 'ensemble_weights.json')) as f:
        dumped = json.load(f)
    assert dumped['sources'] == names
    assert sum(dumped['weights']) == pytest.approx(1.0)
    assert dumped['weights'] != [0.5, 0.5]  # stage A moved w
    torch.testing.assert_close(
        torch.tensor(dumped['weights']),
        model.ensemble_weights().detach())
    assert torch.equal(model.source_prompts, sources)
    metrics = runner.test()
    assert 0 <= metrics['accuracy/top1'] <= 100

    # 3. the checkpoint restores the stage-B model (tools/test.py route)
    cfg2 = cfg.copy()
    cfg2.work_dir = str(tmp_path / 'hg_test')
    cfg2.load_from = osp.join(work, 'epoch_2.pth')
    runner2 = RUNNERS.build(cfg2)  # as tools/test.py: the exact loader
    assert type(runner2).__name__ == 'StrictLoadRunner'
    assert runner2.test() == metrics
    assert runner2.model.stage == 'B'
