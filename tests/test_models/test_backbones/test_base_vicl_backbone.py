"""Both backbones implement the BaseVICLBackbone API the models use."""
import pytest
import torch
from torch import nn

from projects.prompthub.models.backbones import (MAEVQGAN, TINY_MAE_VQGAN_CFG,
                                                 BaseVICLBackbone,
                                                 TinyVICLBackbone)
from projects.prompthub.registry import MODELS
from projects.prompthub.structures import build_canvas


def _backbones():
    torch.manual_seed(0)
    tiny_mae = MODELS.build(dict(TINY_MAE_VQGAN_CFG))
    pixel = TinyVICLBackbone(embed_dim=32, depth=1, num_heads=2, head_dim=8)
    return tiny_mae, pixel


def test_both_backbones_follow_the_api():
    canvas = build_canvas(*[torch.rand(2, 3, 111, 111) for _ in range(4)])
    for backbone in _backbones():
        assert isinstance(backbone, BaseVICLBackbone)
        num = backbone.grid_size**2
        with torch.no_grad():
            tokens = backbone.embed(canvas)
            top = backbone.embed(canvas, half='top')
            logits = backbone.forward_tokens(tokens)
            image = backbone.logits_to_image(logits)
            targets = backbone.prediction_targets(canvas)
        assert tokens.shape == (2, num, backbone.embed_dim)
        assert torch.allclose(top, tokens[:, :num // 2], atol=1e-5)
        assert logits.shape == (2, num, backbone.num_codes)
        size = backbone.img_size
        assert image.shape == (2, 3, size, size)
        assert 0 <= image.min() and image.max() <= 1
        assert targets.shape[:2] == (2, num)
        # Frozen: no gradient, eval mode under train().
        assert backbone.frozen
        assert not any(p.requires_grad for p in backbone.parameters())
        assert not backbone.train().training


def test_capabilities_are_declared_not_probed():
    tiny_mae, pixel = _backbones()
    assert isinstance(tiny_mae, MAEVQGAN)
    assert not tiny_mae.tokens_carry_pixels and pixel.tokens_carry_pixels
    tokens = torch.zeros(1, 196, tiny_mae.embed_dim)
    with pytest.raises(NotImplementedError, match='tokens_carry_pixels'):
        tiny_mae.tokens_to_image(tokens)
    canvas = build_canvas(*[torch.rand(1, 3, 111, 111) for _ in range(4)])
    assert pixel.tokens_to_image(pixel.embed(canvas)).shape == (1, 3, 224, 224)
    # The VQGAN alone decides the MAE-VQGAN's targets (its codes).
    assert tiny_mae.target_network() is tiny_mae.vae
    assert pixel.target_network() is pixel


def test_a_backbone_must_implement_every_abstract_method():

    class NoImage(BaseVICLBackbone):

        def embed(self, canvas, half=None):
            return canvas

        def forward_tokens(self, tokens):
            return tokens

        def prediction_targets(self, canvas):
            return canvas

    with pytest.raises(TypeError, match='logits_to_image'):
        NoImage()

    class Complete(NoImage):

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(1, 1)

        def logits_to_image(self, logits):
            return logits

    backbone = Complete()
    # Not frozen: train() switches the mode as usual.
    assert backbone.train().training and not backbone.eval().training
    backbone.frozen = True
    backbone.freeze()
    assert not backbone.train().training
    assert not backbone.lin.weight.requires_grad
