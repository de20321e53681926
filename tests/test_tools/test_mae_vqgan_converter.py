import argparse
import copy
import datetime
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.runner import load_checkpoint
from torch import nn

from projects.prompthub.models.backbones import MAEVQGAN, TINY_MAE_VQGAN_CFG

TOOL = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'model_converters',
    'mae_vqgan2mmengine.py')


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('mae_vqgan2mmengine', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny(**kwargs):
    cfg = copy.deepcopy(TINY_MAE_VQGAN_CFG)
    cfg.pop('type')
    cfg.update(kwargs)
    return MAEVQGAN(**cfg)


@pytest.fixture
def public_files(tmp_path):
    """Tiny stand-ins for checkpoint-1000.pth (with vae.*) and last.ckpt."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    state = {
        k: v + torch.randn(v.shape, generator=gen) * 0.01
        for k, v in _tiny().state_dict().items()
    }
    torch.save(
        dict(
            model=state,
            optimizer={},
            args=argparse.Namespace(model='mae_vit_large_patch16'),
            epoch=999), tmp_path / 'checkpoint-1000.pth')
    vq = {k[4:]: v.clone() for k, v in state.items() if k.startswith('vae.')}
    vq['quant_conv.bias'] = torch.zeros_like(vq['quant_conv.bias'])
    vq['loss.logvar'] = torch.zeros(())
    torch.save(dict(state_dict=vq), tmp_path / 'last.ckpt')
    return (str(tmp_path / 'checkpoint-1000.pth'), str(tmp_path / 'last.ckpt'),
            state)


class _Segmentor(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = _tiny()


def test_round_trip(tool, public_files, tmp_path):
    src, last, state = public_files
    dst = str(tmp_path / 'out' / 'mae_vqgan.pth')
    assert tool.main([src, dst, '--vqgan', last, '--arch', 'tiny']) == 0

    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert ckpt['meta']['mae_checkpoint'] == 'checkpoint-1000.pth'
    assert set(ckpt['state_dict']) == {'backbone.' + k for k in state}
    # vae.* of checkpoint-1000.pth win over last.ckpt (reference order).
    assert torch.equal(ckpt['state_dict']['backbone.vae.quant_conv.bias'],
                       state['vae.quant_conv.bias'])

    model = _Segmentor()
    load_checkpoint(model, dst, map_location='cpu', strict=True)
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, state[k]), k

    # The same file through the backbone's own init_cfg.
    backbone = _tiny(
        init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.'))
    backbone.init_weights()
    assert torch.equal(backbone.decoder_pred.weight,
                       state['decoder_pred.weight'])


def test_custom_prefix(tool, public_files, tmp_path):
    src, last, state = public_files
    dst = str(tmp_path / 'x.pth')
    ckpt = tool.convert_files(src, dst, last, prefix='', arch='tiny')
    assert set(ckpt['state_dict']) == set(state)


def test_mismatch_prints_keys_and_file(tool, public_files, tmp_path, capsys):
    src, last, state = public_files
    bad = dict(state)
    bad['decoder_pred.extra'] = torch.zeros(1)
    del bad['norm.bias']
    torch.save({'model': bad}, tmp_path / 'bad.pth')
    code = tool.main(
        [str(tmp_path / 'bad.pth'),
         str(tmp_path / 'o.pth'), '--arch', 'tiny'])
    err = capsys.readouterr().err
    assert code == 1
    assert 'bad.pth' in err
    assert 'missing keys (1): norm.bias' in err
    assert 'unexpected keys (1): decoder_pred.extra' in err
    assert not osp.exists(tmp_path / 'o.pth')


def test_tiny_weights_do_not_fit_the_large_layout(tool, public_files, tmp_path,
                                                  capsys):
    src, last, _ = public_files
    assert tool.main([src, str(tmp_path / 'o.pth')]) == 1
    assert 'shape mismatches' in capsys.readouterr().err


def test_missing_file_names_the_source(tool, tmp_path, capsys):
    code = tool.main(
        [str(tmp_path / 'checkpoint-1000.pth'),
         str(tmp_path / 'o.pth')])
    err = capsys.readouterr().err
    assert code == 1
    assert 'checkpoint-1000.pth' in err and 'amirbar/visual_prompting' in err


def test_untrusted_pickles_need_the_flag(tool, public_files, tmp_path, capsys):
    src, last, state = public_files
    ckpt = torch.load(src, weights_only=False)  # our own test file
    ckpt['when'] = datetime.date(2022, 9, 1)  # outside the allow-list
    torch.save(ckpt, tmp_path / 'odd.pth')
    argv = [
        str(tmp_path / 'odd.pth'),
        str(tmp_path / 'o.pth'), '--arch', 'tiny'
    ]
    assert tool.main(argv) == 1
    err = capsys.readouterr().err
    assert 'datetime.date' in err and '--trust-checkpoint' in err
    assert tool.main(argv + ['--trust-checkpoint']) == 0
