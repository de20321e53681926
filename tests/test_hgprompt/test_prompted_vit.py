import pytest
import torch

from projects.hgprompt.models import VPTPromptedViT

TINY = dict(img_size=16, patch_size=8, embed_dim=32, depth=3, num_heads=2)


def _vit(deep=True, length=3, **kwargs):
    torch.manual_seed(0)
    return VPTPromptedViT(
        arch='vit_tiny_patch16_224',
        vit_kwargs=TINY,
        prompt_length=length,
        deep=deep,
        **kwargs)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _reference(model, x, prompt):
    """VPT by hand: insert after CLS at layer 0, replace before l >= 1."""
    vit = model.vit
    tok = vit.patch_embed(x)
    tok = torch.cat([vit.cls_token.expand(len(x), -1, -1), tok], 1)
    tok = tok + vit.pos_embed
    length = prompt.shape[1]
    tok = torch.cat([tok[:, :1], prompt[0].expand(len(x), -1, -1), tok[:, 1:]],
                    1)
    lengths = []
    for i, blk in enumerate(vit.blocks):
        if model.deep and i > 0:
            tok = torch.cat([
                tok[:, :1], prompt[i].expand(len(x), -1, -1), tok[:,
                                                                  1 + length:]
            ], 1)
        lengths.append(tok.shape[1])
        tok = blk(tok)
    return vit.norm(tok)[:, 0], lengths


@pytest.mark.parametrize('deep', [True, False])
def test_insertion_matches_vpt_and_keeps_length(deep):
    model = _vit(deep=deep)
    x = torch.randn(2, 3, 16, 16)
    prompt = torch.randn(*model.prompt_shape)
    assert model.prompt_shape == ((3 if deep else 1), 3, 32)
    tokens = model.forward_tokens(x, prompt)
    # 1 CLS + L prompts + N = 4 patches
    assert tokens.shape == (2, 1 + 3 + 4, 32)
    ref, lengths = _reference(model, x, prompt)
    assert lengths == [8, 8, 8]
    torch.testing.assert_close(model(x, prompt), ref)
    # without a prompt the model is the plain timm ViT
    torch.testing.assert_close(model(x), model.vit.forward_features(x)[:, 0])


def test_deep_prompts_are_replaced_not_accumulated():
    model = _vit(deep=True)
    x = torch.randn(2, 3, 16, 16)
    prompt = torch.randn(*model.prompt_shape)
    other = prompt.clone()
    other[0] += 5.0  # layer-0 prompt only reaches later layers via attn
    shallow_change = (model(x, prompt) - model(x, other)).abs().max()
    assert shallow_change > 0
    # changing only the last layer's prompt changes the output too
    other = prompt.clone()
    other[2] += 5.0
    assert (model(x, prompt) - model(x, other)).abs().max() > 0


def test_frozen_backbone_gets_no_gradient_prompt_does():
    model = _vit()
    model.train()
    assert not model.vit.training  # VPT keeps the frozen ViT in eval
    assert all(not p.requires_grad for p in model.parameters())
    prompt = torch.randn(*model.prompt_shape, requires_grad=True)
    out = model(torch.randn(2, 3, 16, 16), prompt)
    # Not out.sum(): the final LayerNorm (affine 1, 0) makes every token's
    # feature sum zero by construction, so its true gradient is zero and
    # only rounding residue (CPU-kernel dependent) could pass the check.
    out.backward(torch.randn(out.shape, generator=_gen()))
    assert all(p.grad is None for p in model.parameters())
    assert prompt.grad is not None and prompt.grad.abs().sum() > 0
    # every layer's prompt receives gradient in the deep setting
    assert (prompt.grad.abs().sum((1, 2)) > 0).all()


def test_bad_prompt_shape_and_missing_checkpoint():
    model = _vit()
    with pytest.raises(ValueError, match='does not match'):
        model(torch.randn(1, 3, 16, 16), torch.randn(1, 3, 32))
    with pytest.raises(FileNotFoundError, match='local file'):
        _vit(checkpoint='/nonexistent/vit.pth')


def test_vpt_init_bound():
    model = _vit()
    bound = (6 / (3 * 8 * 8 + 32))**0.5
    assert model.prompt_init_bound() == pytest.approx(bound)
    prompt = model.new_prompt()
    assert prompt.abs().max() <= bound


def test_checkpoint_roundtrip(tmp_path):
    model = _vit()
    path = str(tmp_path / 'vit.pth')
    torch.save(model.vit.state_dict(), path)
    torch.manual_seed(1)
    other = VPTPromptedViT(
        arch='vit_tiny_patch16_224',
        vit_kwargs=TINY,
        prompt_length=3,
        checkpoint=path)
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(other(x), model(x))


def test_vit_b16_shapes():
    torch.manual_seed(0)
    model = VPTPromptedViT(prompt_length=10, deep=True)
    assert model.prompt_shape == (12, 10, 768)
    with torch.no_grad():
        tokens = model.forward_tokens(
            torch.randn(1, 3, 224, 224), model.new_prompt())
    assert tokens.shape == (1, 1 + 10 + 196, 768)
