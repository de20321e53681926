"""Public formats: Google's ViT .npz, VPT's prompt files and state dicts,
raw tensors; and the errors that name the file and the format."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

from projects.hgprompt.models import (VPTPromptedViT, load_prompt,
                                      load_prompt_bank, save_prompt)
from projects.hgprompt.models.prompt_convert import read_foreign_prompt

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = dict(img_size=16, patch_size=8, embed_dim=32, depth=2, num_heads=2)


def _vit(**kwargs):
    return VPTPromptedViT(
        arch='vit_tiny_patch16_224',
        vit_kwargs=TINY,
        prompt_length=3,
        **kwargs)


def _to_google_npz(vit, path):
    """Write a timm ViT in the layout of Google's ViT-B_16.npz (the inverse
    of timm's ``.npz`` loader, key by key)."""
    d = vit.embed_dim
    heads = vit.blocks[0].attn.num_heads
    arrays = {
        'embedding/kernel':
        vit.patch_embed.proj.weight.permute(2, 3, 1, 0),  # OIHW -> HWIO
        'embedding/bias': vit.patch_embed.proj.bias,
        'cls': vit.cls_token,
        'Transformer/posembed_input/pos_embedding': vit.pos_embed,
        'Transformer/encoder_norm/scale': vit.norm.weight,
        'Transformer/encoder_norm/bias': vit.norm.bias,
    }
    for i, block in enumerate(vit.blocks):
        pre = f'Transformer/encoderblock_{i}/'
        att = pre + 'MultiHeadDotProductAttention_1/'
        qkv_w = block.attn.qkv.weight.reshape(3, d, d)
        qkv_b = block.attn.qkv.bias.reshape(3, heads, d // heads)
        for j, name in enumerate(('query', 'key', 'value')):
            arrays[f'{att}{name}/kernel'] = qkv_w[j].T.reshape(
                d, heads, d // heads)
            arrays[f'{att}{name}/bias'] = qkv_b[j]
        arrays[f'{att}out/kernel'] = block.attn.proj.weight.reshape(
            d, heads, d // heads).permute(1, 2, 0)
        arrays[f'{att}out/bias'] = block.attn.proj.bias
        arrays[pre + 'LayerNorm_0/scale'] = block.norm1.weight
        arrays[pre + 'LayerNorm_0/bias'] = block.norm1.bias
        arrays[pre + 'LayerNorm_2/scale'] = block.norm2.weight
        arrays[pre + 'LayerNorm_2/bias'] = block.norm2.bias
        for r, fc in enumerate((block.mlp.fc1, block.mlp.fc2)):
            arrays[f'{pre}MlpBlock_3/Dense_{r}/kernel'] = fc.weight.T
            arrays[f'{pre}MlpBlock_3/Dense_{r}/bias'] = fc.bias
    np.savez(path, **{k: v.detach().numpy() for k, v in arrays.items()})
    return arrays


def test_google_npz_loads_like_the_state_dict(tmp_path):
    torch.manual_seed(0)
    source = _vit()
    path = str(tmp_path / 'ViT-B_16.npz')
    _to_google_npz(source.vit, path)
    torch.manual_seed(1)
    loaded = _vit(checkpoint=path)
    x = torch.randn(2, 3, 16, 16)
    prompt = source.new_prompt()
    for key, value in source.vit.state_dict().items():
        torch.testing.assert_close(loaded.vit.state_dict()[key], value)
    torch.testing.assert_close(loaded(x, prompt), source(x, prompt))


def test_bad_vit_files_name_the_file_and_the_formats(tmp_path):
    torch.manual_seed(0)
    path = str(tmp_path / 'partial.npz')
    arrays = _to_google_npz(_vit().vit, str(tmp_path / 'full.npz'))
    np.savez(
        path, **{
            k: v.detach().numpy()
            for k, v in arrays.items() if 'encoderblock_1' not in k
        })
    with pytest.raises(ValueError) as err:
        _vit(checkpoint=path)
    assert path in str(err.value) and 'ViT-B_16.npz' in str(err.value)
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint')
    with pytest.raises(ValueError, match='state dict') as err:
        _vit(checkpoint=str(text))
    assert str(text) in str(err.value)
    wrong = tmp_path / 'wrong.pth'
    torch.save({'blocks.0.norm1.weight': torch.ones(3)}, wrong)
    with pytest.raises(ValueError, match='lacks ViT weights'):
        _vit(checkpoint=str(wrong))


def _vpt_parts(gen):
    shallow = torch.randn(1, 3, 8, generator=gen)
    deep = torch.randn(2, 3, 8, generator=gen)
    return shallow, deep


def test_vpt_prompt_files_state_dicts_and_raw_tensors(tmp_path):
    gen = torch.Generator().manual_seed(0)
    shallow, deep = _vpt_parts(gen)
    expected = torch.cat([shallow, deep])
    # Trainer.save_prompt: numpy arrays in a torch file
    path = str(tmp_path / 'prompt_ep100.pth')
    torch.save(
        dict(shallow_prompt=shallow.numpy(), deep_prompt=deep.numpy()), path)
    prompt, fmt, _ = read_foreign_prompt(path)
    assert fmt == 'VPT prompt file' and torch.equal(prompt, expected)
    # a VPT checkpoint ({'model': state_dict})
    path = str(tmp_path / 'last_model.pth')
    torch.save(
        dict(
            model={
                'enc.transformer.prompt_embeddings': shallow,
                'enc.transformer.deep_prompt_embeddings': deep,
                'head.last_layer.weight': torch.zeros(4, 8)
            }), path)
    prompt, fmt, _ = read_foreign_prompt(path)
    assert fmt == 'VPT state dict' and torch.equal(prompt, expected)
    # raw tensors: [D, L, d] in a .pth, a shallow [L, d] in a .npy
    torch.save(expected, str(tmp_path / 'raw.pth'))
    assert torch.equal(
        read_foreign_prompt(str(tmp_path / 'raw.pth'))[0], expected)
    np.save(str(tmp_path / 'shallow.npy'), shallow[0].numpy())
    prompt, fmt, _ = read_foreign_prompt(str(tmp_path / 'shallow.npy'))
    assert fmt == 'raw tensor' and torch.equal(prompt, shallow)


def test_projected_and_unknown_prompts_are_refused(tmp_path):
    gen = torch.Generator().manual_seed(0)
    shallow, deep = _vpt_parts(gen)
    path = str(tmp_path / 'projected.pth')
    torch.save(
        {
            'enc.transformer.prompt_embeddings': shallow,
            'enc.transformer.prompt_proj.weight': torch.zeros(8, 8)
        }, path)
    with pytest.raises(ValueError, match='projection'):
        read_foreign_prompt(path)
    path = str(tmp_path / 'other.pth')
    torch.save({'weights': torch.zeros(2)}, path)
    with pytest.raises(ValueError) as err:
        read_foreign_prompt(path)
    assert path in str(err.value) and 'shallow_prompt' in str(err.value)


def test_converter_tool_writes_a_bank_file(tmp_path):
    gen = torch.Generator().manual_seed(0)
    shallow, deep = _vpt_parts(gen)
    src = str(tmp_path / 'prompt_ep100.pth')
    torch.save(
        dict(shallow_prompt=shallow.numpy(), deep_prompt=deep.numpy()), src)
    spec = importlib.util.spec_from_file_location(
        'convert_vpt_prompts',
        osp.join(REPO, 'projects', 'hgprompt', 'tools',
                 'convert_vpt_prompts.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = str(tmp_path / 'bank' / 'dtd.pth')
    tool.main(
        [src, '--task', 'dtd', '--out', out, '--data-root',
         str(tmp_path)])
    prompt, meta = load_prompt(out)
    assert torch.equal(prompt, torch.cat([shallow, deep]))
    assert (meta['task'], meta['deep'], meta['source_format'],
            meta['data_root']) == ('dtd', True, 'VPT prompt file',
                                   osp.realpath(str(tmp_path)))
    bank, names = load_prompt_bank(str(tmp_path / 'bank'), 3, 3, 8)
    assert names == ['dtd'] and bank.shape == (1, 3, 3, 8)


def test_bank_errors_say_directory_or_file(tmp_path):
    missing = str(tmp_path / 'prompts')
    with pytest.raises(FileNotFoundError) as err:
        load_prompt_bank(missing)
    assert 'neither a directory' in str(err.value) and missing in str(
        err.value)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='directory .* holds no'):
        load_prompt_bank(str(tmp_path / 'empty'))
    with pytest.raises(IsADirectoryError, match='not a prompt file'):
        load_prompt(str(tmp_path / 'empty'))
    bad = tmp_path / 'bad.pth'
    torch.save({'x': torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="expected a .pth file holding"):
        load_prompt(str(bad))
    save_prompt(str(tmp_path / 'a.pth'), torch.zeros(1, 2, 4), task='a')
    with pytest.raises(FileNotFoundError, match='prompt file not found'):
        load_prompt_bank([str(tmp_path / 'a.pth'), missing + '.pth'])


def test_numpy1_prompt_files_load_and_the_allow_list_survives(tmp_path):
    """VPT wrote its prompts with numpy 1 (``numpy.core.multiarray``);
    reading one must not shrink the allow-list checkpoints need later."""
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    path = str(tmp_path / 'prompt_ep1.pth')
    module = reconstruct.__module__
    reconstruct.__module__ = 'numpy.core.multiarray'  # as numpy 1 pickles
    try:
        torch.save(dict(shallow_prompt=np.ones((1, 2, 4), np.float32)), path)
    finally:
        reconstruct.__module__ = module
    prompt, fmt, _ = read_foreign_prompt(path)
    assert fmt == 'VPT prompt file' and torch.equal(prompt, torch.ones(
        1, 2, 4))
    later = str(tmp_path / 'checkpoint.pth')
    torch.save(dict(meta=dict(seed=np.array([3]))), later)
    assert torch.load(later, weights_only=True)['meta']['seed'][0] == 3
