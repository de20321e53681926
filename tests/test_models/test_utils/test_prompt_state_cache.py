"""The prompt-state cache: per-prompt neck work once per distinct prompt."""
from unittest import mock

import pytest
import torch
from torch import nn

import projects.prompthub  # noqa: F401
from projects.prompthub.models.utils.prompt_state_cache import PromptStateCache
from projects.prompthub.registry import MODELS
from .test_target_cache import build as build_tiny


def build(**overrides):
    """The tiny PromptHub with every neck weight moved off its init."""
    model = build_tiny(**overrides)
    with torch.no_grad():
        for p in model.neck.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def pool(num: int, seed: int = 0) -> torch.Tensor:
    """``num`` distinct pairs [num, 2, 3, S, S], multiples of 1/255."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(
        0, 256,
        (num, 2, 3, 111, 111), generator=gen, dtype=torch.uint8).float() / 255


def batch(pairs: torch.Tensor, rows) -> torch.Tensor:
    """Inputs [B, K+1, ...] whose row b holds ``pairs[rows[b]]``."""
    return torch.stack([pairs[list(r)] for r in rows])


def fused(model, inputs):
    with torch.no_grad():
        return model.extract_feat(inputs)


def spy(model):
    return mock.patch.object(
        model.neck, 'prompt_states', wraps=model.neck.prompt_states)


def test_cached_fusion_equals_plain_and_computes_each_prompt_once():
    plain = build()
    cached = build(prompt_state_cache=dict(max_items=64))
    cache = cached.prompt_state_cache
    pairs = pool(8)
    # Queries 0 and 1; prompts 2..7 shared between queries and batches.
    steps = [[(0, 2, 3, 4), (1, 3, 4, 5)], [(1, 5, 6, 2), (0, 4, 2, 7)],
             [(0, 7, 6, 5), (1, 2, 3, 4)]]
    new_prompts = [4, 2, 0]  # distinct unseen prompts per step
    for rows, new in zip(steps, new_prompts):
        inputs = batch(pairs, rows)
        with spy(cached) as states:
            got = fused(cached, inputs)
        computed = sum(len(c.args[0]) for c in states.call_args_list)
        assert computed == new
        torch.testing.assert_close(
            got, fused(plain, inputs), rtol=1e-5, atol=1e-5)
    assert (cache.misses, cache.hits) == (6, 18 - 6)
    assert len(cache) == 6
    # Whole predictions agree too.
    inputs = batch(pairs, steps[0])
    with torch.no_grad():
        a = cached.predict(inputs)
        b = plain.predict(inputs)
    for x, y in zip(a, b):
        assert torch.equal(x.pred_sem_seg.data, y.pred_sem_seg.data)


def test_weight_updates_and_training_invalidate():
    cached = build(prompt_state_cache=dict(max_items=64))
    plain = build()
    inputs = batch(pool(4), [(0, 1, 2), (3, 2, 1)])
    fused(cached, inputs)
    assert len(cached.prompt_state_cache) == 2
    # Training never uses or fills the cache, and entering it empties it.
    cached.train()
    assert len(cached.prompt_state_cache) == 0
    plain.train()
    optims = [
        torch.optim.SGD(m.neck.parameters(), lr=0.5) for m in (cached, plain)
    ]
    for model, optim in zip((cached, plain), optims):
        sum(model.loss(inputs, []).values()).backward()
        optim.step()
    assert len(cached.prompt_state_cache) == 0
    cached.eval()
    plain.eval()
    fused(cached, inputs)
    # A weight change in eval mode (in place, as a checkpoint load does).
    state = {
        k: v + 0.01
        for k, v in plain.neck.state_dict().items() if v.is_floating_point()
    }
    for model in (cached, plain):
        model.neck.load_state_dict(state, strict=False)
    with spy(cached) as states:
        got = fused(cached, inputs)
    assert states.call_count == 1 and len(states.call_args.args[0]) == 2
    torch.testing.assert_close(got, fused(plain, inputs), rtol=1e-5, atol=1e-5)


def test_least_recently_used_eviction_keeps_results_exact():
    plain = build()
    cached = build(prompt_state_cache=dict(max_items=3))
    pairs = pool(7)
    for rows in ([(0, 1, 2)], [(0, 3, 4)], [(0, 1, 3)], [(0, 5, 6)], [(0, 2, 4)
                                                                      ]):
        inputs = batch(pairs, rows)
        torch.testing.assert_close(
            fused(cached, inputs), fused(plain, inputs), rtol=1e-5, atol=1e-5)
        assert len(cached.prompt_state_cache) <= 3
    # The last step's prompts are the most recently used ones.
    with spy(cached) as states:
        fused(cached, batch(pairs, [(0, 2, 4)]))
    assert states.call_count == 0


def test_batch_over_capacity_warns_and_stays_exact():
    plain = build()
    cached = build(prompt_state_cache=dict(max_items=2))
    inputs = batch(pool(5), [(0, 1, 2, 3), (4, 3, 2, 1)])
    with pytest.warns(UserWarning, match='raise max_items'):
        got = fused(cached, inputs)
    torch.testing.assert_close(got, fused(plain, inputs), rtol=1e-5, atol=1e-5)


def test_non_pixel_prompts_are_computed_every_time():
    plain = build()
    cached = build(prompt_state_cache=dict(max_items=8))
    gen = torch.Generator().manual_seed(3)
    inputs = torch.rand(2, 3, 2, 3, 111, 111, generator=gen)
    inputs[1, 1] = inputs[0, 1]
    for _ in range(2):
        torch.testing.assert_close(
            fused(cached, inputs), fused(plain, inputs), rtol=1e-5, atol=1e-5)
    assert len(cached.prompt_state_cache) == 0
    assert cached.prompt_state_cache.misses == 8


def test_autocast_change_recomputes():
    cached = build(prompt_state_cache=dict(max_items=8))
    inputs = batch(pool(3), [(0, 1, 2)])
    fused(cached, inputs)
    with torch.autocast('cpu', dtype=torch.bfloat16), spy(cached) as states:
        fused(cached, inputs)
    assert states.call_count == 1
    assert cached.prompt_state_cache._slab.dtype == torch.bfloat16


def test_config_checks():
    with pytest.raises(ValueError, match='max_items'):
        PromptStateCache(max_items=0)
    assert build(prompt_state_cache=dict(enabled=False)) \
        .prompt_state_cache is None

    @MODELS.register_module(force=True)
    class _StatelessNeck(nn.Module):

        def forward(self, support, query):
            return query

    cfg = dict(type='_StatelessNeck')
    with pytest.raises(TypeError, match='prompt_states'):
        build(neck=cfg, prompt_state_cache=dict())
