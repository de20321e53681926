"""The converter against an independent re-implementation of the reference.

``_reference_forward`` re-derives the PromptHub fusion forward
(docs/method.md, section 6)
with explicit per-position loops over a reference-layout state dict, the
way the reference's ``GAT_cut.multi_head_attention_forward`` does.
"""
import importlib.util
import math
import os.path as osp

import pytest
import torch
from mmengine.runner.checkpoint import load_checkpoint

from projects.prompthub.models.necks import LocalityFusionNeck
from tests.test_models.test_necks.reference_neck import reference_forward

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'tools', 'model_converters', 'prompthub2mmengine.py')
D, HEADS = 64, 8  # the reference hard-codes 8 heads (D = 1024 there)


def _load_script():
    spec = importlib.util.spec_from_file_location('prompthub2mmengine', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


converter = _load_script()


def _reference_state_dict(dims=D, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=0.2):
        return torch.randn(*shape, generator=gen) * scale

    sd = {}
    for m in ['CrossAttention_S1', 'SelfAttention_Q', 'SelfAttention_S']:
        sd[f'{m}.in_proj_weight'] = rand(3 * dims, dims)
        sd[f'{m}.in_proj_bias'] = rand(3 * dims)
        sd[f'{m}.out_proj.weight'] = rand(dims, dims)
        sd[f'{m}.out_proj.bias'] = rand(dims)
    sd['Linear.weight'] = torch.eye(dims) + rand(dims, dims, scale=0.05)
    sd['Linear.bias'] = rand(dims)
    sd['Layer_norm.weight'] = 1 + rand(dims)
    sd['Layer_norm.bias'] = rand(dims)
    return sd


def _reference_tables(sigma, kernel='gaussian'):
    """Per-centre 7x7 maps built cell by cell (GAT_cut's Matrix)."""
    gw, cut = {}, {}
    for r in range(7):
        for c in range(7):
            gauss = torch.zeros(7, 7, dtype=torch.float64)
            lap = torch.zeros(7, 7, dtype=torch.float64)
            for i in range(7):
                for j in range(7):
                    d2 = (i - r)**2 + (j - c)**2
                    gauss[i, j] = math.exp(-d2 / (2 * sigma**2))
                    lap[i, j] = math.exp(-(abs(i - r) + abs(j - c)) / sigma)
            gauss, lap = gauss / gauss.sum(), lap / lap.sum()
            cut_map = torch.zeros(7, 7, dtype=torch.float64)
            cut_map[gauss <= 0.01] = -1e7
            if kernel == 'gaussian':
                weights = gauss.clone()
                weights[gauss <= 0.01] = -100.  # as the reference stores
            else:
                weights = lap
            gw[r, c], cut[r, c] = weights, cut_map
    return gw, cut


def _layer_norm(x, w, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean)**2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * w + b


def _project(x, sd, module):
    w, b = sd[f'{module}.in_proj_weight'], sd[f'{module}.in_proj_bias']
    return [
        x @ w[i * D:(i + 1) * D].T + b[i * D:(i + 1) * D] for i in range(3)
    ]


def _self_attention(x, sd, module):
    """Plain multi-head self-attention, one head at a time."""
    q, k, v = _project(x, sd, module)
    dh = D // HEADS
    heads = []
    for h in range(HEADS):
        s = slice(h * dh, (h + 1) * dh)
        a = torch.softmax(q[:, s] @ k[:, s].T / math.sqrt(dh), dim=-1)
        heads.append(a @ v[:, s])
    out = torch.cat(heads, dim=1)
    return out @ sd[f'{module}.out_proj.weight'].T + \
        sd[f'{module}.out_proj.bias']


def _reference_forward(sd, support, query, sigma, kernel='gaussian'):
    """support [B,N,98,D], query [B,98,D] -> canvas tokens [B,196,D]."""
    gw, cut = _reference_tables(sigma, kernel)
    ln_w, ln_b = sd['Layer_norm.weight'], sd['Layer_norm.bias']
    dh = D // HEADS
    outputs = []
    for b in range(support.shape[0]):
        num_prompts = support.shape[1]
        aligned = []
        for n in range(num_prompts):
            s = support[b, n]
            aligned.append(s + _self_attention(
                _layer_norm(s, ln_w, ln_b), sd, 'SelfAttention_S'))
        grid_q = query[b].view(7, 14, D)
        q_img = grid_q[:, :7].reshape(49, D)
        q_img = q_img + _self_attention(
            _layer_norm(q_img, ln_w, ln_b), sd, 'SelfAttention_Q')
        x = torch.cat(
            [a.view(7, 14, D)[:, :7].reshape(49, D) for a in aligned])
        y = torch.cat(
            [a.view(7, 14, D)[:, 7:].reshape(49, D) for a in aligned])
        _, k, v = _project(x, sd, 'CrossAttention_S1')
        q = _project(q_img, sd, 'CrossAttention_S1')[0]
        y_proj = y @ sd['Linear.weight'].T + sd['Linear.bias']
        fused_img, fused_lab = [], []
        for i in range(49):
            r, c = divmod(i, 7)
            head_outs, head_weights = [], []
            for h in range(HEADS):
                s = slice(h * dh, (h + 1) * dh)
                logits = []
                for n in range(num_prompts):
                    keys = k[n * 49:(n + 1) * 49, s]
                    ell = (keys @ (q[i, s] / math.sqrt(dh))).view(7, 7)
                    ell = ell * gw[r, c] + cut[r, c]
                    logits.append(ell.flatten())
                a = torch.softmax(torch.cat(logits), dim=0)
                head_weights.append(a)
                head_outs.append(a @ v[:, s])
            fused_img.append(
                torch.cat(
                    head_outs) @ sd['CrossAttention_S1.out_proj.weight'].T +
                sd['CrossAttention_S1.out_proj.bias'])
            fused_lab.append(torch.stack(head_weights).mean(0) @ y_proj)
        top = torch.cat([
            torch.stack(fused_img).view(7, 7, D),
            torch.stack(fused_lab).view(7, 7, D)
        ],
                        dim=1)
        bottom = torch.cat([q_img.view(7, 7, D), grid_q[:, 7:]], dim=1)
        outputs.append(torch.cat([top, bottom]).reshape(196, D))
    return torch.stack(outputs)


class _Model(torch.nn.Module):
    """Stands for the segmentor: the neck under ``neck.``."""

    def __init__(self, **kwargs):
        super().__init__()
        self.neck = LocalityFusionNeck(embed_dims=D, num_heads=HEADS, **kwargs)


def _write_reference(tmp_path, sd, name='Seg_K_1_Fold_0.pth'):
    src = tmp_path / name
    torch.save({'visual_prompt_dict': sd, 'epoch': 7, 'best_iou': 41.5}, src)
    return str(src)


def _run(neck, order, *inputs):
    """The neck's own order of products, or the reference's (the oracle of
    tests/test_models/test_necks)."""
    if order == 'reference':
        return reference_forward(neck, *inputs)[0]
    return neck(*inputs)


@pytest.mark.parametrize('locality,sigma', [('gaussian', 0.65),
                                            ('gaussian', 0.5),
                                            ('gaussian', 2.5),
                                            ('laplacian', 0.65)])
@pytest.mark.parametrize('order', ['production', 'reference'])
def test_converted_neck_reproduces_reference(tmp_path, locality, sigma, order):
    sd = _reference_state_dict()
    src = _write_reference(tmp_path, sd)
    dst = str(tmp_path / 'out' / 'prompthub_neck.pth')
    converter.main([src, dst])

    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['source'] == 'Seg_K_1_Fold_0.pth'
    assert ckpt['meta']['source_epoch'] == 7
    assert len(ckpt['state_dict']) == 16
    assert all(k.startswith('neck.') for k in ckpt['state_dict'])

    model = _Model(sigma=sigma, locality=locality, dropout=0.25)
    load_checkpoint(model, dst, map_location='cpu', strict=True)
    model = model.double().eval()
    gen = torch.Generator().manual_seed(1)
    support = torch.randn(2, 3, 98, D, generator=gen, dtype=torch.float64)
    query = torch.randn(2, 98, D, generator=gen, dtype=torch.float64)
    sd64 = {k: v.double() for k, v in sd.items()}
    expected = _reference_forward(sd64, support, query, sigma, locality)
    with torch.no_grad():
        out = _run(model.neck, order, support, query)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)

    # train mode with p = 0 takes the dropout path and matches as well
    model_p0 = _Model(sigma=sigma, locality=locality, dropout=0.)
    load_checkpoint(model_p0, dst, map_location='cpu', strict=True)
    model_p0.train()
    out_train = _run(model_p0.neck, order, support.float(), query.float())
    torch.testing.assert_close(
        out_train.detach().double(), expected, atol=1e-4, rtol=1e-4)


def test_convert_bare_state_dict_and_prefix():
    sd = _reference_state_dict(dims=16)
    out = converter.convert(sd, prefix='model.fusion.')
    assert set(out) == {
        'model.fusion.' + k
        for k in LocalityFusionNeck(embed_dims=16, num_heads=8).state_dict()
    }
    assert torch.equal(out['model.fusion.label_proj.weight'],
                       sd['Linear.weight'])
    assert torch.equal(out['model.fusion.prompt_align.in_proj_weight'],
                       sd['SelfAttention_S.in_proj_weight'])
    assert torch.equal(out['model.fusion.query_align.out_proj.bias'],
                       sd['SelfAttention_Q.out_proj.bias'])
    assert torch.equal(out['model.fusion.cross_attn.in_proj_bias'],
                       sd['CrossAttention_S1.in_proj_bias'])
    assert torch.equal(out['model.fusion.norm.weight'],
                       sd['Layer_norm.weight'])


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    sd = _reference_state_dict(dims=16)
    del sd['Linear.bias']
    sd['CrossAttention_S1.Matrix'] = torch.zeros(1)
    src = _write_reference(tmp_path, sd, 'broken.pth')
    with pytest.raises(ValueError) as err:
        converter.main([src, str(tmp_path / 'out.pth')])
    msg = str(err.value)
    assert 'broken.pth' in msg
    assert "'Linear.bias'" in msg and 'CrossAttention_S1.Matrix' in msg
    assert not (tmp_path / 'out.pth').exists()


def test_shape_mismatch_is_reported():
    sd = _reference_state_dict(dims=16)
    sd['Linear.weight'] = torch.zeros(16, 8)
    with pytest.raises(ValueError, match=r'Linear.weight: \(16, 8\)'):
        converter.convert(sd, src='x.pth')


def test_not_a_prompthub_checkpoint():
    with pytest.raises(ValueError, match='visual_prompt_dict'):
        converter.convert({'model': {}}, src='mae.pth')


def test_missing_file(tmp_path):
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        converter.main([missing, str(tmp_path / 'out.pth')])


def test_unsafe_objects_refused(tmp_path):
    src = tmp_path / 'pickled.pth'
    torch.save(
        {
            'visual_prompt_dict': _reference_state_dict(dims=16),
            'args': _Opaque()
        }, src)
    with pytest.raises(RuntimeError, match='--unsafe-load'):
        converter.main([str(src), str(tmp_path / 'out.pth')])
    converter.main([str(src), str(tmp_path / 'out.pth'), '--unsafe-load'])
    assert (tmp_path / 'out.pth').exists()


class _Opaque:
    """A non-allow-listed object, like argparse.Namespace in checkpoints."""


def test_merge_backbone(tmp_path):
    src = _write_reference(tmp_path, _reference_state_dict(dims=16))
    backbone = tmp_path / 'backbone.pth'
    torch.save({'state_dict': {
        'backbone.cls_token': torch.ones(1, 1, 16)
    }}, backbone)
    dst = tmp_path / 'full.pth'
    converter.main([src, str(dst), '--merge', str(backbone)])
    state = torch.load(dst, weights_only=True)['state_dict']
    assert torch.equal(state['backbone.cls_token'], torch.ones(1, 1, 16))
    assert 'neck.cross_attn.in_proj_weight' in state
    with pytest.raises(ValueError, match='already in'):
        converter.main([src, str(dst), '--merge', str(dst)])


def test_seeded_init_replays_reference_construction():
    """Same seed, same weights as the reference's PromptGeneratorCut init.

    The reference builds CrossAttention_S1 (RNG use as nn.MHA),
    SelfAttention_Q, SelfAttention_S, Linear, Layer_norm, then re-inits
    every Linear with xavier / zero bias, LN with 1/0 and Linear := I.
    """
    nn = torch.nn

    class Reference(nn.Module):

        def __init__(self):
            super().__init__()
            self.CrossAttention_S1 = nn.MultiheadAttention(
                16, 8, batch_first=True)
            self.SelfAttention_Q = nn.MultiheadAttention(
                16, 8, batch_first=True)
            self.SelfAttention_S = nn.MultiheadAttention(
                16, 8, batch_first=True)
            self.Linear = nn.Linear(16, 16)
            self.Layer_norm = nn.LayerNorm(16)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)
            nn.init.eye_(self.Linear.weight)

    torch.manual_seed(3)
    reference = Reference()
    torch.manual_seed(3)
    neck = LocalityFusionNeck(embed_dims=16, num_heads=8)
    converted = converter.convert(reference.state_dict(), prefix='')
    for key, value in neck.state_dict().items():
        assert torch.equal(converted[key], value), key


def test_command_line(tmp_path):
    import subprocess
    import sys
    src = _write_reference(tmp_path, _reference_state_dict(dims=16))
    dst = tmp_path / 'cli.pth'
    result = subprocess.run(
        [sys.executable, SCRIPT, src,
         str(dst), '--prefix', 'fusion.'],
        cwd=str(tmp_path),
        capture_output=True,
        text=True)
    assert result.returncode == 0, result.stderr
    state = torch.load(dst, weights_only=True)['state_dict']
    assert 'fusion.label_proj.weight' in state and len(state) == 16
    result = subprocess.run(
        [sys.executable, SCRIPT,
         str(tmp_path / 'missing.pth'),
         str(dst)],
        cwd=str(tmp_path),
        capture_output=True,
        text=True)
    assert result.returncode != 0
    assert 'checkpoint file not found' in result.stderr
