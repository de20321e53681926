"""``--cfg-options`` keys that exist nowhere, and bad optimizer numbers,
fail before anything is built, naming the key and the fix."""
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

import projects.prompthub  # noqa: F401
from projects.prompthub.registry import MODELS
from projects.prompthub.utils import (CfgOptionError, apply_cfg_options,
                                      check_optimizer_values)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(REPO, 'configs', 'prompthub',
                'prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py')


@pytest.fixture
def cfg() -> Config:
    return Config.fromfile(TINY)


def _tool(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.run([sys.executable, *args],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_train_tool_refuses_a_misspelt_key_before_training(tmp_path):
    work_dir = tmp_path / 'work'
    proc = _tool('tools/train.py', TINY, '--work-dir', str(work_dir),
                 '--cfg-options', 'trian_cfg.max_epochs=1')
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "has no key 'trian_cfg'" in proc.stderr, proc.stderr[-3000:]
    assert 'Did you mean train_cfg.max_epochs=1' in proc.stderr
    assert '+trian_cfg.max_epochs=1' in proc.stderr  # the escape hatch
    # Nothing started: no Runner, no work dir, no training log.
    assert not work_dir.exists()
    assert 'Epoch(train)' not in proc.stdout + proc.stderr


def test_test_tool_refuses_a_misspelt_nested_key(tmp_path):
    proc = _tool('tools/test.py', TINY,
                 str(tmp_path / 'never_read.pth'), '--work-dir',
                 str(tmp_path / 'work'), '--cfg-options', 'model.nek.sigma=2')
    assert proc.returncode != 0
    assert "model has no key 'nek'" in proc.stderr, proc.stderr[-3000:]
    assert 'Did you mean model.neck.sigma=2' in proc.stderr
    assert not (tmp_path / 'work').exists()


def test_existing_keys_and_new_class_parameters_merge(cfg):
    assert 'label_keys' not in cfg.model.neck  # a parameter, unset here
    apply_cfg_options(
        cfg,
        {
            'train_cfg.max_epochs': 1,
            'model.neck.label_keys': True,  # LocalityFusionNeck's
            'train_dataloader.pin_memory': True,  # torch DataLoader's
            'randomness.deterministic': True,  # Runner.set_randomness's
            'val_evaluator.1.iou_metrics': ['mIoU', 'mDice'],
            # A new dict parameter without a default dict (its keys are
            # checked by TamingVQGAN when it is built).
            'model.backbone.vqgan_cfg.ch': 16,
            'work_dir': 'work_dirs/x',  # a Runner parameter
        })
    assert cfg.train_cfg.max_epochs == 1
    assert cfg.model.neck.label_keys is True
    assert cfg.train_dataloader.pin_memory is True
    assert cfg.randomness == dict(seed=0, deterministic=True)
    assert cfg.val_evaluator[1].iou_metrics == ['mIoU', 'mDice']
    assert cfg.model.backbone.vqgan_cfg.ch == 16


@pytest.mark.parametrize(
    'key, expected',
    [
        ('model.neck.label_kyes',
         ("model.neck has no key 'label_kyes', and 'label_kyes' is not a "
          'parameter of LocalityFusionNeck', 'model.neck.label_keys=0')),
        ('train_dataloader.pin_memroy',
         ("'pin_memroy' is not a parameter of DataLoader",
          'train_dataloader.pin_memory=0')),
        ('train_dataloader.dataset.num_promts',
         ('SyntheticVICLDataset', 'train_dataloader.dataset.num_prompts=0')),
        ('train_cfg.max_epoch',
         ("'max_epoch' is not a parameter of EpochBasedTrainLoop",
          'train_cfg.max_epochs=0')),
        # A dict without ``type`` that nothing is known to read.
        ('env_cfg.mp_cfg.mp_start',
         ("'mp_start' is not a parameter of set_multi_processing",
          'env_cfg.mp_cfg.mp_start_method=0')),
        ('val_evaluator.7.x', ('val_evaluator is a list of 2 item(s)', )),
        ('model.neck.embed_dims.x',
         ('model.neck.embed_dims is 64, not a dict', )),
    ])
def test_unknown_keys_raise_with_the_closest_keys(cfg, key, expected):
    before = cfg.pretty_text
    with pytest.raises(CfgOptionError) as err:
        apply_cfg_options(cfg, {key: 0})
    for text in expected:
        assert text in str(err.value)
    assert cfg.pretty_text == before  # nothing merged


def test_every_bad_key_is_listed_and_none_merged(cfg):
    with pytest.raises(CfgOptionError) as err:
        apply_cfg_options(
            cfg, {
                'trian_cfg.max_epochs': 1,
                'model.nek.sigma': 2,
                'train_cfg.max_epochs': 3
            })
    assert str(err.value).startswith('2 --cfg-options key(s) refused')
    assert 'trian_cfg' in str(err.value) and "'nek'" in str(err.value)
    assert cfg.train_cfg.max_epochs == 2


def test_plus_prefix_adds_a_key_unchecked(cfg):
    apply_cfg_options(cfg, {'+model.neck.my_flag': 1})
    assert cfg.model.neck.my_flag == 1


def test_new_key_under_a_typeless_dict_needs_the_prefix():
    # `retrieval` is read by a tool, which passes its schema; without it:
    cfg = Config(dict(default_scope='mmseg', retrieval=dict(a=1)))
    with pytest.raises(CfgOptionError, match='has no `type` naming a class'):
        apply_cfg_options(cfg, {'retrieval.b': 2})
    apply_cfg_options(cfg, {'+retrieval.b': 2})
    assert cfg.retrieval == dict(a=1, b=2)


def test_a_partial_dict_never_replaces_a_default_dict():

    @MODELS.register_module(force=True)
    class _CfgCheckToy:

        def __init__(self, opts: dict = dict(a=1, b=2)) -> None:
            self.opts = opts

    cfg = Config(dict(default_scope='mmseg', model=dict(type='_CfgCheckToy')))
    # mmengine would build the toy with opts={'a': 5}, losing b=2.
    with pytest.raises(CfgOptionError, match='replace the whole default'):
        apply_cfg_options(cfg, {'model.opts.a': 5})
    apply_cfg_options(cfg, {'model.opts': 5})  # the parameter itself is fine


@pytest.mark.parametrize('value, shown', [('abc', 'lr=abc (str)'),
                                          (float('nan'), 'lr=nan (float)'),
                                          (float('inf'), 'lr=inf (float)'),
                                          (True, 'lr=True (bool)')])
def test_optimizer_lr_must_be_a_finite_number(cfg, value, shown):
    with pytest.raises(ValueError) as err:
        apply_cfg_options(cfg, {'optim_wrapper.optimizer.lr': value})
    assert f'optim_wrapper.optimizer.{shown}' in str(err.value)
    assert 'must be a finite number' in str(err.value)


def test_optimizer_numbers_of_the_class_signature_are_checked(cfg):
    cfg.optim_wrapper.optimizer = dict(type='AdamW', lr=1e-3)
    apply_cfg_options(cfg, {'optim_wrapper.optimizer.betas': (0.9, 0.99)})
    for key, value in (('betas', (0.9, )), ('eps', 'tiny'), ('weight_decay',
                                                             float('nan'))):
        with pytest.raises(ValueError, match=f'optimizer.{key}='):
            apply_cfg_options(cfg, {f'optim_wrapper.optimizer.{key}': value})
    hg = Config.fromfile(
        osp.join(REPO, 'configs', 'hgprompt',
                 'hgprompt_vit-tiny-p8_vtab-synth-count6.py'))
    check_optimizer_values(hg)  # paramwise lr_mult/decay_mult are numbers
    hg.optim_wrapper.paramwise_cfg.custom_keys.weight_logits.lr_mult = 'x'
    with pytest.raises(ValueError, match='weight_logits.lr_mult=x'):
        check_optimizer_values(hg)


def test_new_keys_are_checked_against_a_new_type(cfg):
    options = {
        'model.neck.type': 'ConvFusionNeck',
        'model.neck.kernel_size': 3,  # ConvFusionNeck's, not Locality's
    }
    with pytest.raises(CfgOptionError, match='LocalityFusionNeck'):
        apply_cfg_options(cfg, {'model.neck.kernel_size': 3})
    apply_cfg_options(cfg, options)
    assert cfg.model.neck.type == 'ConvFusionNeck'
    assert cfg.model.neck.kernel_size == 3
