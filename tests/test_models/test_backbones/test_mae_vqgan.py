import argparse
import copy

import pytest
import torch

from projects.prompthub.models.backbones import (MAEVQGAN, TINY_MAE_VQGAN_CFG,
                                                 TamingVQGAN, VQCodebook)
from projects.prompthub.registry import MODELS
from projects.prompthub.structures import (br_token_ids, build_canvas,
                                           paste_prediction, visible_mask_ids)


def _tiny(**kwargs):
    cfg = copy.deepcopy(TINY_MAE_VQGAN_CFG)
    cfg.pop('type')
    cfg.update(kwargs)
    torch.manual_seed(0)
    return MAEVQGAN(**cfg)


# --------------------------------------------------------------------------
# The official key layout (docs/method.md, section 3), written out by hand.
# --------------------------------------------------------------------------
def _vit_block(prefix, dim, hidden):
    return {
        f'{prefix}.norm1.weight': (dim, ),
        f'{prefix}.norm1.bias': (dim, ),
        f'{prefix}.attn.qkv.weight': (3 * dim, dim),
        f'{prefix}.attn.qkv.bias': (3 * dim, ),
        f'{prefix}.attn.proj.weight': (dim, dim),
        f'{prefix}.attn.proj.bias': (dim, ),
        f'{prefix}.norm2.weight': (dim, ),
        f'{prefix}.norm2.bias': (dim, ),
        f'{prefix}.mlp.fc1.weight': (hidden, dim),
        f'{prefix}.mlp.fc1.bias': (hidden, ),
        f'{prefix}.mlp.fc2.weight': (dim, hidden),
        f'{prefix}.mlp.fc2.bias': (dim, ),
    }


def _official_mae_layout():
    out = {
        'cls_token': (1, 1, 1024),
        'pos_embed': (1, 197, 1024),
        'patch_embed.proj.weight': (1024, 3, 16, 16),
        'patch_embed.proj.bias': (1024, ),
        'norm.weight': (1024, ),
        'norm.bias': (1024, ),
        'decoder_embed.weight': (512, 1024),
        'decoder_embed.bias': (512, ),
        'mask_token': (1, 1, 512),
        'decoder_pos_embed': (1, 197, 512),
        'decoder_norm.weight': (512, ),
        'decoder_norm.bias': (512, ),
        'decoder_pred.weight': (1024, 512),
        'decoder_pred.bias': (1024, ),
    }
    for i in range(24):
        out.update(_vit_block(f'blocks.{i}', 1024, 4096))
    for i in range(8):
        out.update(_vit_block(f'decoder_blocks.{i}', 512, 2048))
    return out


def _conv(prefix, c_out, c_in, k):
    return {
        f'{prefix}.weight': (c_out, c_in, k, k),
        f'{prefix}.bias': (c_out, )
    }


def _gn(prefix, c):
    return {f'{prefix}.weight': (c, ), f'{prefix}.bias': (c, )}


def _res(prefix, c_in, c_out):
    out = {
        **_gn(f'{prefix}.norm1', c_in),
        **_conv(f'{prefix}.conv1', c_out, c_in, 3),
        **_gn(f'{prefix}.norm2', c_out),
        **_conv(f'{prefix}.conv2', c_out, c_out, 3)
    }
    if c_in != c_out:
        out.update(_conv(f'{prefix}.nin_shortcut', c_out, c_in, 1))
    return out


def _attn(prefix, c):
    out = _gn(f'{prefix}.norm', c)
    for name in ('q', 'k', 'v', 'proj_out'):
        out.update(_conv(f'{prefix}.{name}', c, c, 1))
    return out


def _official_vqgan_layout():
    """taming vqgan_imagenet_f16_1024: ch 128, ch_mult (1, 1, 2, 2, 4),
    2 res blocks, attention at resolution 16 (the last level), z 256,
    codebook 1024 x 256."""
    widths = [128, 128, 256, 256, 512]  # 128 * ch_mult
    out = _conv('vae.encoder.conv_in', 128, 3, 3)
    c_in = 128
    for i, w in enumerate(widths):
        for j in range(2):
            out.update(_res(f'vae.encoder.down.{i}.block.{j}', c_in, w))
            if i == 4:
                out.update(_attn(f'vae.encoder.down.{i}.attn.{j}', w))
            c_in = w
        if i < 4:
            out.update(_conv(f'vae.encoder.down.{i}.downsample.conv', w, w, 3))
    for name in ('encoder', 'decoder'):
        out.update(_res(f'vae.{name}.mid.block_1', 512, 512))
        out.update(_attn(f'vae.{name}.mid.attn_1', 512))
        out.update(_res(f'vae.{name}.mid.block_2', 512, 512))
    out.update(_gn('vae.encoder.norm_out', 512))
    out.update(_conv('vae.encoder.conv_out', 256, 512, 3))
    out.update(_conv('vae.quant_conv', 256, 256, 1))
    out['vae.quantize.embedding.weight'] = (1024, 256)
    out.update(_conv('vae.post_quant_conv', 256, 256, 1))
    out.update(_conv('vae.decoder.conv_in', 512, 256, 3))
    c_in = 512
    for i in reversed(range(5)):
        w = widths[i]
        for j in range(3):
            out.update(_res(f'vae.decoder.up.{i}.block.{j}', c_in, w))
            if i == 4:
                out.update(_attn(f'vae.decoder.up.{i}.attn.{j}', w))
            c_in = w
        if i > 0:
            out.update(_conv(f'vae.decoder.up.{i}.upsample.conv', w, w, 3))
    out.update(_gn('vae.decoder.norm_out', 128))
    out.update(_conv('vae.decoder.conv_out', 3, 128, 3))
    return out


def test_full_size_state_dict_matches_the_official_layout():
    with torch.device('meta'):
        model = MAEVQGAN()
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = {**_official_mae_layout(), **_official_vqgan_layout()}
    assert set(got) - set(expected) == set()
    assert set(expected) - set(got) == set()
    assert got == expected
    assert (model.num_codes, model.embed_dim, model.grid_size) == (1024, 1024,
                                                                   14)


# --------------------------------------------------------------------------
# Tiny model behaviour.
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def tiny():
    return _tiny()


def test_build_from_registry():
    model = MODELS.build(copy.deepcopy(TINY_MAE_VQGAN_CFG))
    assert isinstance(model, MAEVQGAN)
    assert (model.num_codes, model.embed_dim, model.grid_size) == (256, 64, 14)


def test_shapes(tiny):
    canvas = build_canvas(*[torch.rand(2, 3, 111, 111) for _ in range(4)])
    tokens = tiny.embed(canvas)
    assert tokens.shape == (2, 196, 64)
    logits = tiny.forward_tokens(tokens)
    assert logits.shape == (2, 196, 256)
    codes = tiny.encode_to_codes(canvas)
    assert codes.shape == (2, 196) and codes.dtype == torch.int64
    assert 0 <= codes.min() and codes.max() < 256
    img = tiny.decode_codes(logits.argmax(-1))
    assert img.shape == (2, 3, 224, 224)
    assert 0 <= img.min() and img.max() <= 1
    out = paste_prediction(img, canvas)
    assert out.shape == (2, 3, 224, 224) and out.dtype == torch.uint8


def test_embed_is_patch_embed_plus_pos_embed(tiny):
    canvas = torch.randn(1, 3, 224, 224)
    patch = canvas[0, :, 16:32, 32:48]  # token (row 1, col 2) = 16
    w, b = tiny.patch_embed.proj.weight, tiny.patch_embed.proj.bias
    expected = (w * patch).sum((1, 2, 3)) + b + tiny.pos_embed[0, 1 + 16]
    torch.testing.assert_close(tiny.embed(canvas)[0, 16], expected)


def test_embed_half_reads_only_that_half(tiny):
    """A half's tokens equal the whole canvas's (bit for bit) and do not
    depend on the other half's pixels; a half canvas is refused."""
    canvas = torch.randn(2, 3, 224, 224)
    full = tiny.embed(canvas)
    top, bottom = tiny.embed(canvas, 'top'), tiny.embed(canvas, 'bottom')
    assert torch.equal(top, full[:, :98]) and torch.equal(bottom, full[:, 98:])
    other = canvas.clone()
    other[:, :, 112:] = 0
    assert torch.equal(tiny.embed(other, 'top'), top)
    with pytest.raises(ValueError, match="'left'"):
        tiny.embed(canvas, 'left')
    with pytest.raises(ValueError, match='embed expects'):
        tiny.embed(canvas[:, :, :112], 'top')


def _reference_forward(model, tokens):
    """MAE forward with the reference's ids_shuffle/ids_restore masking."""
    ids_shuffle = torch.cat([visible_mask_ids(), br_token_ids()])[None]
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    keep = ids_shuffle[:, :147]
    d = tokens.shape[-1]
    x = torch.gather(tokens, 1, keep.unsqueeze(-1).repeat(1, 1, d))
    x = torch.cat([model.cls_token + model.pos_embed[:, :1], x], 1)
    for blk in model.blocks:
        x = blk(x)
    x = model.decoder_embed(model.norm(x))
    x_ = torch.cat([x[:, 1:], model.mask_token.repeat(1, 49, 1)], 1)
    index = ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2])
    x_ = torch.gather(x_, 1, index)
    x = torch.cat([x[:, :1], x_], 1) + model.decoder_pos_embed
    for blk in model.decoder_blocks:
        x = blk(x)
    return model.decoder_pred(model.decoder_norm(x))[:, 1:]


def test_batched_equals_per_sample_reference_loop(tiny):
    tokens = torch.randn(3, 196, 64)
    batched = tiny.forward_tokens(tokens)
    for i in range(3):
        ref = _reference_forward(tiny, tokens[i:i + 1])
        torch.testing.assert_close(batched[i:i + 1], ref, atol=1e-5, rtol=1e-5)


def test_br_tokens_are_masked(tiny):
    tokens = torch.randn(1, 196, 64)
    logits = tiny.forward_tokens(tokens)
    changed = tokens.clone()
    changed[:, br_token_ids()] = torch.randn(1, 49, 64)
    torch.testing.assert_close(
        tiny.forward_tokens(changed), logits, atol=0, rtol=0)
    changed = tokens.clone()
    changed[:, 0] += 1  # a visible (TL) token matters
    assert not torch.allclose(tiny.forward_tokens(changed), logits)


def test_frozen_but_differentiable_wrt_tokens(tiny):
    assert all(not p.requires_grad for p in tiny.parameters())
    tiny.train()
    assert not any(m.training for m in tiny.modules())
    tokens = torch.randn(2, 196, 64, requires_grad=True)
    tiny.forward_tokens(tokens).logsumexp(-1).sum().backward()
    assert tokens.grad is not None
    assert tokens.grad[:, visible_mask_ids()].abs().sum() > 0
    # Masked tokens are dropped, so they get exactly zero gradient.
    assert tokens.grad[:, br_token_ids()].abs().sum() == 0
    assert all(p.grad is None for p in tiny.parameters())


def test_not_frozen_option():
    model = _tiny(frozen=False)
    model.train()
    assert model.training and model.vae.training
    assert all(p.requires_grad for n, p in model.named_parameters()
               if 'pos_embed' not in n)


def test_input_errors(tiny):
    with pytest.raises(ValueError, match=r'\[B, 196, 64\]'):
        tiny.forward_tokens(torch.zeros(1, 147, 64))
    with pytest.raises(ValueError, match='full grid'):
        tiny.decode_codes(torch.zeros(1, 49, dtype=torch.long))
    with pytest.raises(ValueError, match='224'):
        tiny.encode_to_codes(torch.zeros(1, 3, 112, 112))
    with pytest.raises(ValueError, match=r'\[0, 256\)'):
        tiny.decode_codes(torch.full((1, 196), 256))
    with pytest.raises(ValueError, match='patch_size'):
        _tiny(patch_size=8)


# --------------------------------------------------------------------------
# VQGAN parts.
# --------------------------------------------------------------------------
def test_map_pixels_inverts_imagenet_normalisation():
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    img = torch.rand(1, 3, 4, 4)
    out = TamingVQGAN.map_pixels((img - mean) / std)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, 2 * img - 1, atol=1e-6, rtol=0)


def test_codebook_nearest_and_lookup():
    book = VQCodebook(3, 2)
    book.embedding.weight.data = torch.tensor([[0., 0.], [1., 0.], [0., 5.]])
    z = torch.tensor([[0.9, 0.1], [0.1, 3.], [-1., -1.], [0.4, 0.]])
    z = z.t().reshape(1, 2, 2, 2)  # [B, C, H, W], raster of the 4 vectors
    codes = book.nearest(z)
    assert codes.tolist() == [[1, 2, 0, 0]]
    back = book.lookup(codes, 2)
    assert back.shape == (1, 2, 2, 2)
    assert back[0, :, 0, 1].tolist() == [0., 5.]


def test_vqgan_grid_and_decoder_attends_globally(tiny):
    codes = torch.randint(0, 256, (1, 196))
    img = tiny.decode_codes(codes)
    changed = codes.clone()
    changed[0, 0] = (codes[0, 0] + 1) % 256  # a TL code
    img2 = tiny.decode_codes(changed)
    # The BR quadrant depends on a TL code through global attention.
    assert not torch.equal(img[..., 112:, 112:], img2[..., 112:, 112:])


# --------------------------------------------------------------------------
# Loading.
# --------------------------------------------------------------------------
def _perturbed_state(model):
    gen = torch.Generator().manual_seed(1)
    return {
        k: v + torch.randn(v.shape, generator=gen) * 0.01
        for k, v in model.state_dict().items()
    }


def _write_public_files(tmp_path, state, with_vae=True):
    mae = {
        k: v
        for k, v in state.items() if with_vae or not k.startswith('vae.')
    }
    torch.save(
        dict(model=mae, args=argparse.Namespace(lr=1.), epoch=1),
        tmp_path / 'checkpoint-1000.pth')
    vq = {k[4:]: v for k, v in state.items() if k.startswith('vae.')}
    vq['loss.discriminator.w'] = torch.zeros(1)
    torch.save(dict(state_dict=vq), tmp_path / 'last.ckpt')
    return str(tmp_path / 'checkpoint-1000.pth'), str(tmp_path / 'last.ckpt')


def test_checkpoints_load_strictly_at_construction(tmp_path):
    state = _perturbed_state(_tiny())
    mae, last = _write_public_files(tmp_path, state, with_vae=False)
    model = _tiny(mae_checkpoint=mae, vqgan_checkpoint=last)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert all(not p.requires_grad for p in model.parameters())
    # The Runner's init_weights (train only) must not undo the loading.
    model.init_weights()
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_mae_vae_keys_win_over_last_ckpt(tmp_path):
    state = _perturbed_state(_tiny())
    mae, last = _write_public_files(tmp_path, state)
    other = dict(state)
    bias = state['vae.quant_conv.bias']
    other['vae.quant_conv.bias'] = torch.zeros_like(bias)
    torch.save(
        {
            'state_dict': {
                k[4:]: v
                for k, v in other.items() if k.startswith('vae.')
            }
        }, tmp_path / 'other.ckpt')
    model = _tiny()
    model.load_pretrained(mae, str(tmp_path / 'other.ckpt'))
    assert torch.equal(model.vae.quant_conv.bias, bias)


def test_loading_errors(tmp_path):
    state = _perturbed_state(_tiny())
    mae, last = _write_public_files(tmp_path, state, with_vae=False)
    model = _tiny()
    with pytest.raises(ValueError, match='no vae'):
        model.load_pretrained(mae)
    with pytest.raises(FileNotFoundError, match='amirbar'):
        model.load_pretrained(str(tmp_path / 'nope.pth'), last)
    state['decoder_pred.extra'] = torch.zeros(1)
    torch.save({'model': state}, tmp_path / 'bad.pth')
    with pytest.raises(RuntimeError, match='decoder_pred.extra') as err:
        model.load_pretrained(str(tmp_path / 'bad.pth'))
    assert 'bad.pth' in str(err.value)


def test_vqgan_only_checkpoint(tmp_path):
    state = _perturbed_state(_tiny())
    _, last = _write_public_files(tmp_path, state)
    model = _tiny()
    before = model.cls_token.clone()
    model.load_pretrained(vqgan_checkpoint=last)
    assert torch.equal(model.vae.quantize.embedding.weight,
                       state['vae.quantize.embedding.weight'])
    assert torch.equal(model.cls_token, before)


# --------------------------------------------------------------------------
# Full size, CPU, fp32.
# --------------------------------------------------------------------------
@pytest.mark.slow
def test_full_size_forward_one_canvas():
    torch.manual_seed(0)
    model = MAEVQGAN()
    cells = [torch.rand(1, 3, 111, 111) for _ in range(4)]
    canvas = build_canvas(*cells)
    with torch.no_grad():
        logits = model.forward_tokens(model.embed(canvas))
        codes = model.encode_to_codes(canvas)
        decoded = model.decode_codes(logits.argmax(-1))
    assert logits.shape == (1, 196, 1024) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    assert codes.shape == (1, 196)
    assert decoded.shape == (1, 3, 224, 224)
    out = paste_prediction(decoded, canvas)
    assert out.shape == (1, 3, 224, 224) and out.dtype == torch.uint8


def _decoder_batch_sizes(model):
    """Batch size of every call of the VQGAN decoder, recorded by a hook."""
    sizes = []
    handle = model.vae.decoder.register_forward_hook(
        lambda mod, args, out: sizes.append(args[0].shape[0]))
    return sizes, handle


@pytest.mark.parametrize('per_image', [False, True])
def test_decode_per_image(per_image):
    """With ``decode_per_image`` the decoder runs once per image with a
    batch of 1 (the reference's call shape) and the result is exactly each
    image decoded alone; by default it runs once on the whole batch."""
    model = _tiny(decode_per_image=per_image)
    codes = torch.randint(0, model.num_codes, (3, model.grid_size**2))
    sizes, handle = _decoder_batch_sizes(model)
    try:
        out = model.decode_codes(codes)
        assert sizes == ([1, 1, 1] if per_image else [3])
        sizes.clear()
        alone = torch.cat([
            model.vae.decode_codes(codes[i:i + 1], model.grid_size)
            for i in range(3)
        ])
    finally:
        handle.remove()
    assert out.shape == (3, 3, 224, 224)
    if per_image:
        assert torch.equal(out, alone)
    # logits_to_image goes through the same path.
    logits = torch.randn(2, model.grid_size**2, model.num_codes)
    sizes, handle = _decoder_batch_sizes(model)
    try:
        model.logits_to_image(logits)
    finally:
        handle.remove()
    assert sizes == ([1, 1] if per_image else [2])
