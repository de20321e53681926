import argparse
import sys
import types

import pytest
import torch

# yapf: disable
from projects.prompthub.models.utils import (check_state_dict,
                                             load_checkpoint_file,
                                             load_mae_state_dict,
                                             load_mae_vqgan_files,
                                             load_vqgan_state_dict,
                                             merge_mae_vqgan)

# yapf: enable


class _NotAllowed:
    """A class no allow-list knows."""


def _save_with_lightning_callback(path, state):
    # Pickle a class reference under Lightning's module path, as taming's
    # last.ckpt does, without Lightning installed.
    mod = types.ModuleType('pytorch_lightning.callbacks.model_checkpoint')

    class ModelCheckpoint:
        pass

    ModelCheckpoint.__module__ = mod.__name__
    ModelCheckpoint.__qualname__ = 'ModelCheckpoint'
    mod.ModelCheckpoint = ModelCheckpoint
    names = ['pytorch_lightning', 'pytorch_lightning.callbacks', mod.__name__]
    saved = {n: sys.modules.get(n) for n in names}
    sys.modules.update({n: types.ModuleType(n) for n in names[:2]})
    sys.modules[mod.__name__] = mod
    try:
        torch.save(
            dict(state_dict=state, callbacks={ModelCheckpoint: {
                'k': 1
            }}), path)
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def test_missing_files_name_the_file_and_the_source(tmp_path):
    path = str(tmp_path / 'checkpoint-1000.pth')
    with pytest.raises(FileNotFoundError, match='amirbar/visual_prompting'):
        load_mae_state_dict(path)
    with pytest.raises(FileNotFoundError, match='checkpoint-1000.pth'):
        load_mae_state_dict(path)
    with pytest.raises(FileNotFoundError, match='taming-transformers'):
        load_vqgan_state_dict(str(tmp_path / 'last.ckpt'))


def test_safe_loading_of_the_public_layouts(tmp_path):
    mae = tmp_path / 'mae.pth'
    torch.save(
        dict(
            model={'w': torch.ones(2)},
            args=argparse.Namespace(lr=1e-3, model='mae'),
            epoch=999), mae)
    assert list(load_mae_state_dict(str(mae))) == ['w']

    last = tmp_path / 'last.ckpt'
    _save_with_lightning_callback(last, {
        'encoder.w': torch.zeros(1),
        'loss.disc': torch.zeros(1)
    })
    sd = load_vqgan_state_dict(str(last))
    assert list(sd) == ['encoder.w']  # loss.* dropped


def test_unknown_globals_need_trust(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save(dict(model={'w': torch.ones(1)}, extra=_NotAllowed()), path)
    with pytest.raises(RuntimeError, match='trust_checkpoint=True') as err:
        load_mae_state_dict(str(path))
    assert str(path) in str(err.value)
    assert '_NotAllowed' in str(err.value)
    sd = load_mae_state_dict(str(path), trust_checkpoint=True)
    assert torch.equal(sd['w'], torch.ones(1))
    obj = load_checkpoint_file(str(path), 'x', 'hint', trust_checkpoint=True)
    assert isinstance(obj['extra'], _NotAllowed)


def test_wrong_layout(tmp_path):
    path = tmp_path / 'mae.pth'
    torch.save({'state_dict': {}}, path)
    with pytest.raises(KeyError, match="no 'model' entry"):
        load_mae_state_dict(str(path))


def test_merge_prefers_the_mae_checkpoint_vae_keys():
    mae = {'cls_token': torch.zeros(1), 'vae.a': torch.ones(1)}
    vq = {'a': torch.full((1, ), 2.), 'b': torch.full((1, ), 3.)}
    merged = merge_mae_vqgan(mae, vq)
    assert set(merged) == {'cls_token', 'vae.a', 'vae.b'}
    assert merged['vae.a'].item() == 1. and merged['vae.b'].item() == 3.


def test_mae_file_without_vae_needs_vqgan(tmp_path):
    path = tmp_path / 'mae.pth'
    torch.save({'model': {'cls_token': torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match='no vae'):
        load_mae_vqgan_files(str(path))


def test_check_state_dict_lists_keys_and_files():
    expected = {'a': torch.Size([2]), 'b': torch.Size([3])}
    check_state_dict(expected, {
        'a': torch.zeros(2),
        'b': torch.zeros(3)
    }, ['f.pth'])
    with pytest.raises(RuntimeError) as err:
        check_state_dict(expected, {
            'a': torch.zeros(4),
            'c': torch.zeros(1)
        }, ['f.pth', 'last.ckpt'])
    msg = str(err.value)
    assert "'f.pth'" in msg and "'last.ckpt'" in msg
    assert 'missing keys (1): b' in msg
    assert 'unexpected keys (1): c' in msg
    assert 'a: (4,) in the file vs (2,) in the model' in msg
