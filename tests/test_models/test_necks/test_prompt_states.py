"""Inference from per-prompt states equals the neck's forward."""
import pytest
import torch

import projects.prompthub  # noqa: F401
from projects.prompthub.registry import MODELS
from .neck_kinds import NECK_KINDS

D, HEADS = 32, 4


def _neck(cfg):
    torch.manual_seed(0)
    neck = MODELS.build(dict(embed_dims=D, num_heads=HEADS, **cfg))
    with torch.no_grad():
        # Move every weight off its (identity, zero) init.
        for p in neck.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return neck.eval()


@pytest.mark.parametrize('cfg', NECK_KINDS)
def test_fuse_states_equals_forward(cfg):
    neck = _neck(cfg)
    gen = torch.Generator().manual_seed(1)
    support = torch.randn(2, 5, 98, D, generator=gen)
    query = torch.randn(2, 98, D, generator=gen)
    with torch.no_grad():
        expected = neck(support, query)
        # States of each prompt alone, in another batch order.
        flat = support.flatten(0, 1)
        order = torch.randperm(len(flat), generator=gen)
        states = torch.empty(len(flat), 3, 49, D)
        states[order] = neck.prompt_states(flat[order])
        got = neck.fuse_states(states.unflatten(0, (2, 5)), query)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # Prompts whose states differ give a different canvas (not a no-op).
    with torch.no_grad():
        other = neck.fuse_states(
            states.unflatten(0, (2, 5)).flip(1) * 2, query)
    assert not torch.allclose(other[:, :98], expected[:, :98], atol=1e-3)


def test_states_are_per_prompt_and_query_free():
    neck = _neck(dict(type='LocalityFusionNeck'))
    gen = torch.Generator().manual_seed(2)
    prompts = torch.randn(4, 98, D, generator=gen)
    with torch.no_grad():
        together = neck.prompt_states(prompts)
        alone = torch.cat([neck.prompt_states(p[None]) for p in prompts])
    assert together.shape == (4, 3, 49, D)
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
    # The label state is W_VY of the aligned label tokens.
    aligned = neck._align(neck.prompt_align, prompts).view(4, 7, 14, D)
    labels = neck.label_proj(aligned[:, :, 7:].reshape(4, 49, D))
    torch.testing.assert_close(together[:, 2], labels.detach())


def test_inference_only_and_shape_checks():
    neck = _neck(dict(type='LocalityFusionNeck'))
    support = torch.randn(3, 98, D)
    neck.train()
    with pytest.raises(RuntimeError, match='call .eval'):
        neck.prompt_states(support)
    with pytest.raises(RuntimeError, match='call .eval'):
        neck.fuse_states(torch.randn(1, 3, 3, 49, D), torch.randn(1, 98, D))
    neck.eval()
    with pytest.raises(ValueError, match=r'\[M, 98, 32\]'):
        neck.prompt_states(torch.randn(3, 49, D))
    with pytest.raises(ValueError, match='B=2'):
        neck.fuse_states(torch.randn(1, 3, 3, 49, D), torch.randn(2, 98, D))
