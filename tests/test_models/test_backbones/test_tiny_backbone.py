import pytest
import torch

from projects.prompthub.models.backbones import TinyVICLBackbone
from projects.prompthub.registry import MODELS
from projects.prompthub.structures import (br_token_ids, build_canvas,
                                           normalize_canvas)

SMALL = dict(embed_dim=32, depth=1, num_heads=2, head_dim=8)


def _canvas(batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    cells = [torch.rand(batch, 3, 111, 111, generator=gen) for _ in range(4)]
    return build_canvas(*cells)


def test_api_shapes_and_frozen():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='TinyVICLBackbone', **SMALL))
    assert model.grid_size == 14 and model.embed_dim == 32 + 192
    assert model.num_codes == 3 * 8 * 8
    assert not any(p.requires_grad for p in model.parameters())
    model.train()
    assert not model.training
    canvas = _canvas()
    tokens = model.embed(canvas)
    assert tokens.shape == (2, 196, 32 + 192)
    logits = model.forward_tokens(tokens)
    assert logits.shape == (2, 196, 192)
    assert model.forward_tokens(tokens, br_token_ids(14)).shape == (2, 49, 192)
    assert model.logits_to_image(logits).shape == (2, 3, 224, 224)
    with pytest.raises(ValueError):
        model.embed(torch.zeros(1, 3, 112, 112))
    assert torch.equal(model.embed(canvas, 'top'), tokens[:, :98])
    assert torch.equal(model.embed(canvas, 'bottom'), tokens[:, 98:])


def test_br_never_read_and_targets_round_trip():
    torch.manual_seed(0)
    model = TinyVICLBackbone(**SMALL)
    canvas = _canvas()
    other = canvas.clone()
    other[..., 112:, 112:] = normalize_canvas(torch.rand(2, 3, 224,
                                                         224))[..., 112:, 112:]
    a = model.forward_tokens(model.embed(canvas))
    b = model.forward_tokens(model.embed(other))
    assert torch.allclose(a, b, atol=1e-5)  # the query label is masked
    changed_bl = canvas.clone()
    changed_bl[..., 112:, :112] += 1
    c = model.forward_tokens(model.embed(changed_bl))
    assert not torch.allclose(a, c)
    # Targets are the pooled pixels; rendering their logits gives them.
    target = model.prediction_targets(canvas)
    assert target.shape == (2, 196, 192)
    assert 0 <= target.min() and target.max() <= 1
    img = model.logits_to_image(torch.logit(target.clamp(1e-4, 1 - 1e-4)))
    raw = canvas.new_tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1) * \
        canvas + canvas.new_tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
    pooled = torch.nn.functional.avg_pool2d(raw.clamp(0, 1), 2)
    up = torch.nn.functional.interpolate(pooled, scale_factor=2)
    assert torch.allclose(img, up, atol=1e-3)
    # The tokens carry the same pooled pixels: tokens_to_image shows them.
    assert torch.allclose(
        model.tokens_to_image(model.embed(canvas)), up, atol=1e-5)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    src = TinyVICLBackbone(frozen=False, **SMALL)
    path = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=src.state_dict()), path)
    torch.manual_seed(1)
    dst = TinyVICLBackbone(checkpoint=path, **SMALL)
    canvas = _canvas()
    assert torch.allclose(
        src.forward_tokens(src.embed(canvas)),
        dst.forward_tokens(dst.embed(canvas)),
        atol=1e-6)
    with pytest.raises(FileNotFoundError, match='pretrain_tiny_backbone'):
        TinyVICLBackbone(checkpoint=str(tmp_path / 'missing.pth'), **SMALL)


def test_prompthub_trains_neck_on_pixel_backbone():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='PromptHub',
            backbone=dict(type='TinyVICLBackbone', **SMALL),
            neck=dict(type='LocalityFusionNeck', embed_dims=224, num_heads=2),
            losses=[
                dict(type='PredictionLoss'),
                dict(type='SemanticAlignmentLoss'),
                dict(type='UtilizationLoss')
            ],
            binarize='threshold'))
    inputs = torch.rand(2, 3, 2, 3, 111, 111)
    losses = model.loss(inputs, None)
    assert set(losses) == {'loss_p', 'loss_s', 'loss_u'}
    sum(losses.values()).backward()
    assert model.neck.label_proj.weight.grad is not None
    assert all(p.grad is None for p in model.backbone.parameters())
    samples = model.predict(inputs)
    assert samples[0].pred_sem_seg.data.shape == (1, 111, 111)
