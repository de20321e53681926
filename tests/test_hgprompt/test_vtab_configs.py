"""The VTAB-1k task table, the 38 per-task configs written from it, and
``--cfg-options data_root=...`` reaching every dataset."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

import projects.hgprompt  # noqa: F401
from projects.hgprompt.benchmark.vtab_configs import (config_name,
                                                      write_vtab_configs)
from projects.hgprompt.datasets import (VTAB1K_GROUPS, VTAB1K_TASKS,
                                        make_fake_vtab1k, tasks_in_group,
                                        vtab_task)
from projects.hgprompt.models import load_prompt, save_prompt
from projects.hgprompt.registry import DATASETS, MODELS
from projects.prompthub.datasets import check_data_paths
from projects.prompthub.utils import (CfgOptionError, apply_cfg_options,
                                      load_config)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG_DIR = osp.join(REPO, 'configs', 'hgprompt')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
TINY_VIT = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)
# VPT's tune_vtab.py DATA2CLS, by NOAH folder name.
VPT_CLASSES = {
    'caltech101': 102,
    'cifar': 100,
    'dtd': 47,
    'oxford_flowers102': 102,
    'oxford_iiit_pet': 37,
    'patch_camelyon': 2,
    'sun397': 397,
    'svhn': 10,
    'resisc45': 45,
    'eurosat': 10,
    'dmlab': 6,
    'kitti': 4,
    'smallnorb_azi': 18,
    'smallnorb_ele': 9,
    'dsprites_loc': 16,
    'dsprites_ori': 16,
    'clevr_dist': 6,
    'clevr_count': 8,
    'diabetic_retinopathy': 5,
}


def test_task_table_matches_vpt_and_noah():
    assert {t: v.num_classes for t, v in VTAB1K_TASKS.items()} == VPT_CLASSES
    assert [len(tasks_in_group(g)) for g in VTAB1K_GROUPS] == [7, 4, 8]
    assert tasks_in_group('specialized') == [
        'patch_camelyon', 'eurosat', 'resisc45', 'diabetic_retinopathy'
    ]
    with pytest.raises(KeyError, match='Did you mean clevr_count'):
        vtab_task('clevr-count')


def test_written_configs_and_metafile_are_current():
    """``make_vtab_configs.py --check`` is clean: the configs and the
    metafile block say what the table says."""
    assert write_vtab_configs(REPO, check=True) == []
    cfg = load_config(osp.join(CFG_DIR, config_name('hgprompt', 'sun397')))
    assert (cfg.task, cfg.num_classes, cfg.model.num_classes,
            cfg.model.target_task) == ('sun397', 397, 397, 'sun397')
    assert cfg.train_dataloader.dataset.num_classes == 397


@pytest.fixture(scope='module')
def fake_tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('vtab1k'))
    make_fake_vtab1k(root, num_train=2, num_val=1, num_test=1, size=32)
    bank = str(tmp_path_factory.mktemp('bank'))
    gen = torch.Generator().manual_seed(0)
    for task in VTAB1K_TASKS:
        save_prompt(
            osp.join(bank, f'{task}.pth'),
            torch.randn(2, 10, 32, generator=gen),
            task=task)
    return root, bank


@pytest.mark.parametrize('method', ['vpt', 'hgprompt'])
def test_every_task_config_builds_on_a_fake_tree(fake_tree, method):
    """As tools/train.py does (config, --cfg-options, data check), then the
    three datasets and the model, with a tiny ViT for ViT-B/16."""
    root, bank = fake_tree
    for task, info in VTAB1K_TASKS.items():
        cfg = Config.fromfile(osp.join(CFG_DIR, config_name(method, task)))
        options = {
            'data_root': osp.join(root, task),
            'model.backbone.checkpoint': None,
            'model.backbone.arch': 'vit_tiny_patch16_224',
            'model.backbone.vit_kwargs': TINY_VIT,
        }
        if method == 'hgprompt':
            options['model.source_prompts'] = bank
        apply_cfg_options(cfg, options)
        check_data_paths(cfg, 'train')
        for loader, split in zip(LOADERS, ('train800val200', 'test', 'test')):
            dataset = DATASETS.build(dict(cfg[loader].dataset, pipeline=[]))
            assert dataset.data_root == osp.join(root, task)
            assert dataset.split == split
            assert len(dataset.metainfo['classes']) == info.num_classes
        model = MODELS.build(cfg.model)
        assert model.head.out_features == info.num_classes
        if method == 'hgprompt':
            # leave-one-out over the 19-prompt bank
            assert task not in model.source_names
            assert len(model.source_names) == 18


def test_data_root_and_num_classes_reach_every_loader():
    cfg = Config.fromfile(osp.join(CFG_DIR, config_name('hgprompt', 'dtd')))
    apply_cfg_options(
        cfg, {
            'data_root': '/data/dtd',
            'num_classes': 5,
            'test_dataloader.dataset.data_root': '/elsewhere'
        })
    assert [cfg[k].dataset.data_root
            for k in LOADERS] == ['/data/dtd', '/data/dtd', '/elsewhere']
    assert cfg.model.num_classes == 5
    assert cfg.model.target_task == 'dtd'
    assert [cfg[k].dataset.num_classes for k in LOADERS] == [5, 5, 5]
    # unknown keys are still refused, with the close one
    with pytest.raises(CfgOptionError, match='Did you mean data_root'):
        apply_cfg_options(cfg, {'data_rot': '/x'})
    # the demo's configs refer to data_root too
    tiny = Config.fromfile(
        osp.join(CFG_DIR, 'vpt-deep_vit-tiny-p8_vtab-synth-source.py'))
    apply_cfg_options(tiny, {'data_root': '/s/bar_ori'})
    assert {tiny[k].dataset.data_root for k in LOADERS} == {'/s/bar_ori'}


def test_tools_train_runs_a_task_config_with_one_data_root(
        fake_tree, tmp_path):
    """``tools/train.py <task config> --cfg-options data_root=...`` trains
    on that folder and validates on its test split."""
    root, _ = fake_tree
    task_root = osp.join(root, 'eurosat')
    size_opts = [f'{loader}.dataset.pipeline.0.size=32' for loader in LOADERS
                 ] + [f'{loader}.num_workers=0' for loader in LOADERS]
    vit_opts = [
        f'model.backbone.vit_kwargs.{k}={v}' for k, v in TINY_VIT.items()
    ]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    proc = subprocess.run([
        sys.executable, 'tools/train.py',
        osp.join(CFG_DIR, config_name('vpt', 'eurosat')), '--work-dir',
        str(tmp_path), '--cfg-options', f'data_root={task_root}',
        'model.backbone.checkpoint=None',
        'model.backbone.arch=vit_tiny_patch16_224', *vit_opts, *size_opts,
        'train_dataloader.batch_size=2', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1', 'default_hooks.checkpoint.save_last=False'
    ],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    prompt, meta = load_prompt(str(tmp_path / 'prompt.pth'))
    assert meta['task'] == 'eurosat'
    assert meta['data_root'] == osp.realpath(task_root)
    assert prompt.shape == (2, 10, 32)
    # validation ran on the fake test split (one image)
    assert 'accuracy/top1' in proc.stdout + proc.stderr


def test_vit_b16_hgprompt_is_the_demo_variant_with_val200_selection():
    """The ViT-B/16 recipe keeps what the CPU demo validated (H-score
    prior, stage-A losses, optimizer) and leaves lr and weight decay to
    the protocol's val200 grid."""
    big = load_config(osp.join(CFG_DIR, config_name('hgprompt', 'dtd')))
    demo = load_config(
        osp.join(CFG_DIR, 'hgprompt_vit-tiny-p8_vtab-synth-count6.py'))
    for key in ('init', 'weight_param', 'per_layer_weights', 'loss_gar',
                'stage_a_ce_weight'):
        assert big.model[key] == demo.model[key], key
    assert dict(
        big.model.loss_h, bank_size=0) == dict(
            demo.model.loss_h, bank_size=0)
    stage = {h.type: h for h in big.custom_hooks}['HGPromptStageHook']
    demo_stage = {h.type: h for h in demo.custom_hooks}['HGPromptStageHook']
    assert stage.hscore_prior == demo_stage.hscore_prior == 0.05
    assert stage.switch_epoch == demo_stage.switch_epoch == 10
    assert big.optim_wrapper.optimizer.type == 'AdamW'
    assert big.optim_wrapper.paramwise_cfg == demo.optim_wrapper.paramwise_cfg
    assert big.protocol.lr_grid and big.protocol.wd_grid
    assert 'HGSourceOverlapHook' in {h.type for h in big.custom_hooks}
    vpt = load_config(osp.join(CFG_DIR, config_name('vpt', 'dtd')))
    # VPT's tune_vtab.py "prompt" grid (per 256 images) and final seeds
    assert sorted(vpt.protocol.lr_grid) == sorted(
        [5.0, 2.5, 1.0, 50.0, 25., 10.0, 0.5, 0.25, 0.1, 0.05])
    assert vpt.protocol.lr_batch_scale == 256
    assert vpt.protocol.seeds == [42, 44, 82, 100, 800]
    assert vpt.train_dataloader.batch_size == 128
