import math

import pytest
import torch
import torch.nn as nn
from mmengine.model import initialize
from mmengine.registry import init_default_scope

from projects.prompthub.models.necks import (ConvFusionNeck,
                                             FastLocalityFusionNeck,
                                             LocalityCrossAttention,
                                             LocalityFusionNeck)
from projects.prompthub.models.necks.reassociated_paths import (
    attend_first_pays, head_projected_average, keys_first_pays)
from projects.prompthub.registry import MODELS
from .neck_kinds import NECK_KINDS
from .reference_neck import reference_forward

D, HEADS = 32, 4
KINDS = [
    'gaussian', 'laplacian', 'global', 'learnable', 'query_adaptive',
    'patchwise'
]


def _inputs(bsz=2, num_prompts=3, dims=D, seed=0):
    gen = torch.Generator().manual_seed(seed)
    support = torch.randn(bsz, num_prompts, 98, dims, generator=gen)
    query = torch.randn(bsz, 98, dims, generator=gen)
    return support, query


def _neck(locality='gaussian',
          dropout=0.25,
          sigma=0.65,
          dims=D,
          heads=HEADS,
          neck_type=LocalityFusionNeck,
          **kwargs):
    torch.manual_seed(0)
    neck = neck_type(
        embed_dims=dims,
        num_heads=heads,
        dropout=dropout,
        sigma=sigma,
        locality=locality,
        **kwargs)
    return neck


def test_registered():
    for name in [
            'LocalityFusionNeck', 'FastLocalityFusionNeck', 'ConvFusionNeck'
    ]:
        neck = MODELS.build(dict(type=name, embed_dims=D, num_heads=HEADS))
        assert type(neck).__name__ == name


def test_state_dict_layout_and_init():
    neck = _neck()
    expected = {
        f'{m}.{k}'
        for m in ['cross_attn', 'query_align', 'prompt_align']
        for k in
        ['in_proj_weight', 'in_proj_bias', 'out_proj.weight', 'out_proj.bias']
    } | {'label_proj.weight', 'label_proj.bias', 'norm.weight', 'norm.bias'}
    assert set(neck.state_dict()) == expected
    # Psi tables are buffers outside the state dict
    assert {n
            for n, _ in neck.named_buffers()
            } == {'locality.table', 'locality.cut_table'}
    assert torch.equal(neck.label_proj.weight, torch.eye(D))
    for name, p in neck.named_parameters():
        if name.endswith('bias') and not name.startswith('norm'):
            assert p.eq(0).all(), name
    assert neck.norm.weight.eq(1).all() and neck.norm.bias.eq(0).all()
    # xavier-uniform bounds: sqrt(6 / (fan_in + fan_out))
    for m in ['cross_attn', 'query_align', 'prompt_align']:
        w = neck.get_parameter(f'{m}.in_proj_weight')
        assert w.abs().max() <= math.sqrt(6 / (4 * D))
        assert w.abs().max() > 0.8 * math.sqrt(6 / (4 * D))
        w = neck.get_parameter(f'{m}.out_proj.weight')
        assert w.abs().max() <= math.sqrt(6 / (2 * D))
        assert w.abs().max() > 0.8 * math.sqrt(6 / (2 * D))


@pytest.mark.parametrize('num_prompts', [1, 3, 16])
@pytest.mark.parametrize('locality', KINDS)
def test_shapes_and_attention(num_prompts, locality):
    neck = _neck(locality).eval()
    support, query = _inputs(2, num_prompts)
    with torch.no_grad():
        tokens, attn = neck(support, query, return_attention=True)
    assert tokens.shape == (2, 196, D)
    assert attn.shape == (2, 49, num_prompts * 49)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 49))
    if locality in ('gaussian', 'laplacian', 'patchwise'):
        # cut keys get exactly zero weight, in every prompt
        cut = neck.locality.cut_table.repeat(1, num_prompts) != 0
        assert attn[:, cut].eq(0).all()
        assert attn[:, ~cut].gt(0).all()


def test_canvas_assembly():
    neck = _neck().eval()
    support, query = _inputs(2, 3)
    with torch.no_grad():
        tokens = neck(support, query).view(2, 14, 14, D)
        q = query.view(2, 7, 14, D)
        q_img = q[:, :, :7].reshape(2, 49, D)
        aligned = q_img + neck.query_align(
            neck.norm(q_img), neck.norm(q_img), neck.norm(q_img))[0]
    # query-label placeholder untouched, bottom-right
    assert torch.equal(tokens[:, 7:, 7:], q[:, :, 7:])
    # aligned query image tokens bottom-left
    torch.testing.assert_close(tokens[:, 7:, :7], aligned.view(2, 7, 7, D))


def test_prompt_order_invariance():
    neck = _neck().eval()
    support, query = _inputs(2, 5)
    perm = torch.tensor([3, 0, 4, 2, 1])
    with torch.no_grad():
        out, attn = neck(support, query, return_attention=True)
        out_p, attn_p = neck(support[:, perm], query, return_attention=True)
    torch.testing.assert_close(out_p, out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        attn_p.view(2, 49, 5, 49),
        attn.view(2, 49, 5, 49)[:, :, perm])


@pytest.mark.parametrize('locality', KINDS)
def test_identical_prompts_equal_single_prompt(locality):
    neck = _neck(locality).eval()
    support, query = _inputs(2, 1)
    with torch.no_grad():
        single = neck(support, query)
        repeated = neck(support.repeat(1, 4, 1, 1), query)
    torch.testing.assert_close(repeated, single, atol=1e-5, rtol=1e-5)


def test_any_number_of_prompts_same_weights():
    neck = _neck().eval()
    support, query = _inputs(1, 16)
    with torch.no_grad():
        out_16 = neck(support, query)
        out_2 = neck(support[:, :2], query)
    # same parameters serve every N, and the prompts do interact
    assert out_16.shape == out_2.shape
    assert not torch.allclose(out_16[:, :98], out_2[:, :98])
    torch.testing.assert_close(out_16[:, 98:], out_2[:, 98:])


@pytest.mark.parametrize('neck_cfg', NECK_KINDS)
@pytest.mark.parametrize('dims,heads,num_prompts', [(D, HEADS, 3),
                                                    (64, 2, 16)])
def test_gradients_reach_all_parameters(neck_cfg, dims, heads, num_prompts):
    """At 64 x 2 heads with 16 prompts the keys are taken keys first and
    the image values averaged before their projection, at 32 x 4 not."""
    torch.manual_seed(0)
    neck = MODELS.build(dict(embed_dims=dims, num_heads=heads, **neck_cfg))
    neck.train()
    support, query = _inputs(2, num_prompts, dims)
    support.requires_grad_(True)
    out = neck(support, query)
    (out * torch.randn_like(out)).sum().backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name
    assert support.grad.abs().sum() > 0


def test_train_mode_without_dropout_equals_eval():
    neck = _neck(dropout=0.)
    support, query = _inputs(2, 3)
    neck.train()
    out_train, attn_train = neck(support, query, return_attention=True)
    neck.eval()
    with torch.no_grad():
        out_eval, attn_eval = neck(support, query, return_attention=True)
    torch.testing.assert_close(out_train.detach(), out_eval)
    torch.testing.assert_close(attn_train.detach(), attn_eval)


def test_label_path_uses_dropped_out_attention():
    neck = _neck(dropout=0.5).train()
    # Dropout on the cross-attention only, so that the aligned prompt
    # tokens can be recomputed below.
    neck.prompt_align.dropout = 0.
    support, query = _inputs(1, 2)
    torch.manual_seed(1)
    out, attn = neck(support, query, return_attention=True)
    # dropout scaled/zeroed the weights: rows no longer sum to one
    assert not torch.allclose(attn.sum(-1), torch.ones(1, 49))
    with torch.no_grad():
        aligned = neck._align(neck.prompt_align, support.view(2, 98, D))
    prompts = aligned.view(1, 2, 7, 14, D)
    labels = prompts[:, :, :, 7:].reshape(1, 98, D)
    expected = attn @ neck.label_proj(labels)
    torch.testing.assert_close(
        out.view(1, 14, 14, D)[:, :7, 7:], expected.view(1, 7, 7, D))


def test_global_cross_attention_equals_torch_mha():
    torch.manual_seed(0)
    attn = LocalityCrossAttention(D, HEADS).eval()
    mha = nn.MultiheadAttention(D, HEADS, batch_first=True).eval()
    mha.load_state_dict(attn.state_dict())
    with torch.no_grad():
        nn.init.normal_(mha.in_proj_bias)
        attn.in_proj_bias.copy_(mha.in_proj_bias)
        q, kv = torch.randn(2, 49, D), torch.randn(2, 3 * 49, D)
        out, weights = attn(q, kv)
        ref_out, ref_weights = mha(q, kv, kv)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.mean(1), ref_weights)


def test_patchwise_equals_per_position_attention():
    """CONDENSER-style: position i attends to position i of each prompt."""
    neck = LocalityFusionNeck(
        embed_dims=D, num_heads=HEADS, locality='patchwise').eval()
    mha = nn.MultiheadAttention(D, HEADS, batch_first=True).eval()
    mha.load_state_dict(neck.cross_attn.state_dict())
    q, kv = torch.randn(2, 49, D), torch.randn(2, 3 * 49, D)
    with torch.no_grad():
        out, weights = neck.cross_attn(q, kv, neck.locality(q))
        # reference layout: [B*49, 1, D] queries over [B*49, N, D] keys
        kv_pos = kv.view(2, 3, 49, D).transpose(1, 2).reshape(98, 3, D)
        ref_out, ref_w = mha(q.reshape(98, 1, D), kv_pos, kv_pos)
    torch.testing.assert_close(
        out, ref_out.view(2, 49, D), atol=1e-5, rtol=1e-5)
    same_pos = weights.mean(1).view(2, 49, 3, 49).diagonal(dim1=1, dim2=3)
    torch.testing.assert_close(
        same_pos.permute(0, 2, 1).reshape(98, 1, 3), ref_w)


def test_conv_fusion_neck_convolves_prompts():
    torch.manual_seed(0)
    neck = ConvFusionNeck(embed_dims=D, num_heads=HEADS, kernel_size=3)
    neck.eval()
    assert neck.locality.kind == 'patchwise'
    support, query = _inputs(1, 2)
    prompts = support.view(2, 7, 14, D)
    with torch.no_grad():
        conv = neck.embed_support(prompts)
        expected = torch.cat([
            neck.img_conv(prompts[:, :, :7].permute(0, 3, 1, 2)),
            neck.label_conv(prompts[:, :, 7:].permute(0, 3, 1, 2))
        ],
                             dim=3).permute(0, 2, 3, 1)
        assert neck(support, query).shape == (1, 196, D)
    torch.testing.assert_close(conv, expected)
    with pytest.raises(ValueError, match='kernel_size'):
        ConvFusionNeck(embed_dims=D, num_heads=HEADS, kernel_size=2)


def test_bad_inputs():
    neck = _neck()
    support, query = _inputs(2, 3)
    with pytest.raises(ValueError, match='support must have shape'):
        neck(support[:, :, :97], query)
    with pytest.raises(ValueError, match='query must have shape'):
        neck(support, query[:1])
    with pytest.raises(ValueError, match='support must have shape'):
        neck(support[0], query)
    # the reference loaders' [B, 1, 98, D] query is accepted
    neck.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            neck(support, query[:, None]), neck(support, query))
    with pytest.raises(ValueError, match='divisible'):
        LocalityFusionNeck(embed_dims=30, num_heads=4)
    with pytest.raises(ValueError, match='locality'):
        LocalityFusionNeck(embed_dims=D, num_heads=HEADS, locality='none')


def test_reference_size_parameter_count():
    # the reference fusion module has 13,646,848 parameters (docs/method.md,
    # section 6.7)
    neck = LocalityFusionNeck()
    assert sum(p.numel() for p in neck.parameters()) == 13_646_848
    assert neck.cross_attn.in_proj_weight.shape == (3072, 1024)


@pytest.mark.parametrize('neck_type',
                         [LocalityFusionNeck, FastLocalityFusionNeck])
def test_pass_through_init_passes_prompt_tokens_through(neck_type):
    """With the PassThrough init the fused image tokens are convex
    combinations of prompt image tokens and the query image tokens pass
    unchanged."""
    torch.manual_seed(0)
    neck = neck_type(
        embed_dims=16,
        num_heads=2,
        dropout=0.0,
        init_cfg=dict(type='PassThrough'))
    neck.init_weights()  # where init_cfg applies (Runner.train calls it)
    neck.eval()
    constant = torch.randn(16)
    support = torch.randn(2, 3, 98, 16)
    rows = support.view(2, 3, 7, 14, 16)
    rows[:, :, :, :7] = constant  # every prompt image token is the same
    query = torch.randn(2, 98, 16)
    with torch.no_grad():
        out = neck(support, query).view(2, 14, 14, 16)
    torch.testing.assert_close(
        out[:, :7, :7], constant.expand(2, 7, 7, 16), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[:, 7:, :7],
                               query.view(2, 7, 14, 16)[:, :, :7])
    # The reference init does not pass them through.
    torch.manual_seed(0)
    reference = neck_type(embed_dims=16, num_heads=2, dropout=0.0).eval()
    with torch.no_grad():
        ref = reference(support, query).view(2, 14, 14, 16)
    assert not torch.allclose(ref[:, :7, :7], out[:, :7, :7])


@pytest.mark.parametrize('label_keys', [False, True])
def test_pass_through_init_sets_only_its_weights(label_keys):
    """init_weights applies it: W_VX and the cross-attention output
    projection become I, the alignments' output projections 0; every other
    tensor keeps the reference init of the same seed. Before init_weights
    the neck is the reference's."""
    cfg = dict(
        type='LocalityFusionNeck',
        embed_dims=D,
        num_heads=HEADS,
        label_keys=label_keys)
    init_default_scope('mmseg')  # as in a run: found from mmseg's scope
    torch.manual_seed(0)
    neck = MODELS.build(dict(cfg, init_cfg=dict(type='PassThrough')))
    torch.manual_seed(0)
    reference = MODELS.build(cfg).state_dict()
    before = {k: v.clone() for k, v in neck.state_dict().items()}
    assert all(torch.equal(before[k], v) for k, v in reference.items())
    neck.init_weights()
    state = neck.state_dict()
    expected = {
        'cross_attn.out_proj.weight': torch.eye(D),
        'query_align.out_proj.weight': torch.zeros(D, D),
        'prompt_align.out_proj.weight': torch.zeros(D, D),
    }
    torch.testing.assert_close(
        state['cross_attn.in_proj_weight'][2 * D:],
        torch.eye(D),
        rtol=0,
        atol=0)
    torch.testing.assert_close(
        state['cross_attn.in_proj_weight'][:2 * D],
        reference['cross_attn.in_proj_weight'][:2 * D],
        rtol=0,
        atol=0)
    for key, value in reference.items():
        if key != 'cross_attn.in_proj_weight':
            torch.testing.assert_close(
                state[key], expected.get(key, value), rtol=0, atol=0, msg=key)


def test_pass_through_init_names_its_place():
    module = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(TypeError, match='Fix: move .*model.neck'):
        initialize(module, dict(type='PassThrough'))


def test_label_keys_start_as_the_reference():
    """W_L is zero at init and built last: same output as the reference
    neck from the same seed, and only the extra projection is new."""
    support, query = _inputs()
    ref, ext = _neck(dropout=0.0).eval(), _neck(
        dropout=0.0, label_keys=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(ext(support, query), ref(support, query))
    extra = set(ext.state_dict()) - set(ref.state_dict())
    assert extra == {'label_key_proj.weight', 'label_key_proj.bias'}
    assert LocalityFusionNeck().label_key_proj is None


def test_label_keys_let_prompt_labels_steer_the_attention():
    """Keys see the label token at the same position: prompts whose label
    token points along W_L's learned direction win the attention, while
    the plain neck's attention ignores the labels (before alignment)."""
    neck = _neck(dropout=0.0, label_keys=True).eval()
    support, query = _inputs(bsz=1, num_prompts=2)
    with torch.no_grad():
        neck.label_key_proj.weight.copy_(torch.eye(D) * 10)
        neck.prompt_align.out_proj.weight.zero_()
        neck.prompt_align.out_proj.bias.zero_()
        d = neck.embed_dims
        w_k = neck.cross_attn.in_proj_weight[d:2 * d]
        # Every query projects to u; prompt 1's label tokens give keys
        # +10 u, prompt 0's -10 u.
        u = torch.ones(d)
        neck.cross_attn.in_proj_weight[:d].zero_()
        neck.cross_attn.in_proj_bias[:d].copy_(u)
        lab = torch.linalg.solve(w_k, u)
        rows = support.view(1, 2, 7, 14, D)
        rows[:, :, :, :7] = 0  # image tokens carry nothing
        rows[:, 0, :, 7:] = -lab
        rows[:, 1, :, 7:] = lab
        _, attn = neck(support, query, return_attention=True)
    mass = attn.view(1, 49, 2, 49).sum(-1)
    assert (mass[..., 1] > 0.99).all()
    plain = _neck(dropout=0.0).eval()
    with torch.no_grad():
        plain.prompt_align.out_proj.weight.zero_()
        plain.prompt_align.out_proj.bias.zero_()
        _, attn = plain(support, query, return_attention=True)
    mass = attn.view(1, 49, 2, 49).sum(-1)
    torch.testing.assert_close(mass[..., 1], torch.full((1, 49), 0.5))


def _perturbed(**kwargs):
    """A neck with non-trivial weights everywhere."""
    neck = _neck(**kwargs)
    with torch.no_grad():
        for p in neck.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return neck


def _forward_backward(forward, neck, support, query, seed=5):
    """Outputs, attention and parameter gradients of one step."""
    neck.zero_grad()
    torch.manual_seed(seed)  # the same dropout masks in both orders
    out, attn = forward(neck, support, query)
    gen = torch.Generator().manual_seed(2)
    weights = torch.randn(out.shape, generator=gen)
    (out * weights).sum().backward()
    grads = {n: p.grad.clone() for n, p in neck.named_parameters()}
    return out.detach(), attn.detach(), grads


def _production(neck, support, query):
    return neck(support, query, return_attention=True)


def _assert_orders_agree(neck, support, query, rtol=1e-5, grad_rtol=1e-4):
    """Production order against the reference order (the oracle), dropout
    on, in training mode. Float reassociation: outputs and attention agree
    to ``rtol`` and gradients to ``grad_rtol`` of their largest magnitude
    (of each parameter's gradient)."""
    neck.train()
    out, attn, grads = _forward_backward(reference_forward, neck, support,
                                         query)
    out_f, attn_f, grads_f = _forward_backward(_production, neck, support,
                                               query)
    # dropout acted, and on the same entries in both orders
    assert not torch.allclose(attn.sum(-1), torch.ones_like(attn[..., 0]))
    assert grads_f.keys() == grads.keys()
    pairs = [('attention', attn_f, attn, rtol), ('output', out_f, out, rtol)]
    pairs += [(name, grads_f[name], grad, grad_rtol)
              for name, grad in grads.items()]
    for name, got, expected, tol in pairs:
        scale = expected.abs().max()
        assert scale > 0, name
        torch.testing.assert_close(
            got, expected, rtol=0, atol=tol * scale, msg=name)


@pytest.mark.parametrize('dims,heads,num_prompts', [(D, HEADS, 3),
                                                    (64, 2, 16)])
@pytest.mark.parametrize('locality', ['gaussian', 'query_adaptive'])
@pytest.mark.parametrize('label_keys', [False, True])
@pytest.mark.parametrize('neck_type',
                         [LocalityFusionNeck, FastLocalityFusionNeck])
def test_production_order_equals_reference_order(dims, heads, num_prompts,
                                                 locality, label_keys,
                                                 neck_type):
    """Same outputs, attention and gradients as the reference's order.

    At 64 x 2 heads with 16 prompts the image values are averaged before
    their projection and the keys taken keys first (without label keys),
    at 32 x 4 heads neither (asserted).
    """
    num_keys = num_prompts * 49
    assert attend_first_pays(num_keys, 49, dims, heads) == (dims == 64)
    assert keys_first_pays(num_keys, 49, dims, heads) == (dims == 64)
    neck = _perturbed(
        locality=locality,
        label_keys=label_keys,
        dims=dims,
        heads=heads,
        neck_type=neck_type)
    gen = torch.Generator().manual_seed(1)
    support = torch.randn(2, num_prompts, 98, dims, generator=gen)
    query = torch.randn(2, 98, dims, generator=gen)
    _assert_orders_agree(neck, support, query)


def test_production_order_equals_reference_order_at_reference_size():
    """The full-size neck (D=1024, 8 heads) at N=16, random weights: every
    rewrite is taken (the LayerNorm folded, keys first, values and labels
    averaged first). Measured, relative to the largest magnitude: outputs
    3.8e-6, attention 3.4e-6, gradients at most 1.4e-5: as far apart as
    the reference order is from its own float64 run (3.8e-6, 3.3e-6,
    1.9e-5). With label keys: 6.7e-6, 5.7e-6, 2.2e-5."""
    neck = _perturbed(dims=1024, heads=8)
    assert keys_first_pays(16 * 49, 49, 1024, 8)
    assert attend_first_pays(16 * 49, 49, 1024, 8)
    gen = torch.Generator().manual_seed(1)
    support = torch.randn(1, 16, 98, 1024, generator=gen)
    query = torch.randn(1, 98, 1024, generator=gen)
    _assert_orders_agree(neck, support, query, rtol=2e-5, grad_rtol=1e-4)


def _neck_flops(num_prompts, reference=False, **kwargs):
    """GFLOP of the neck's forward + backward at the reference size (B=1),
    counted on the meta device, in the production or the reference order.
    """
    from torch.utils.flop_counter import FlopCounterMode
    kwargs.setdefault('neck_type', LocalityFusionNeck)
    with torch.device('meta'):
        neck = kwargs.pop('neck_type')(**kwargs).train()
        support = torch.randn(1, num_prompts, 98, 1024)
        query = torch.randn(1, 98, 1024)
    forward = reference_forward if reference else _production
    with FlopCounterMode(display=False) as counter:
        forward(neck, support, query)[0].sum().backward()
    return counter.get_total_flops() / 1e9


def test_production_order_saves_flops_at_reference_size():
    """FLOPs of forward + backward, counted on the meta device at the
    reference size (D=1024, 8 heads, B=1): no worse at N=1 and 42% fewer
    at N=16, where the folded LayerNorm lets autograd skip the prompt
    tokens' input gradient and the keys are never projected (58.7 -> 33.9
    GFLOP, hand-checked in docs/benchmarks.md)."""
    assert _neck_flops(1) <= 1.01 * _neck_flops(1, reference=True)
    reference = _neck_flops(16, reference=True)
    assert abs(reference - 58.73) < 0.01
    assert 0.57 < _neck_flops(16) / reference < 0.58


def test_without_prompt_alignment_the_neck_costs_a_sixth():
    """At N=16 the neck without the prompt alignment counts 5.48 GFLOP
    against 33.85 with it: no D x D product touches a prompt token any
    more; per prompt token what is left are the keys-first logits and the
    per-head attention-weighted image sums (each 8 heads x 49 x 784 x 1024
    x 2 = 0.63 GFLOP forward, the same for the weights' gradient), the rest
    is the 49 query tokens' side."""
    aligned = _neck_flops(16)
    unaligned = _neck_flops(
        16, neck_type=FastLocalityFusionNeck, label_keys=False)
    assert abs(aligned - 33.85) < 0.01
    assert abs(unaligned - 5.48) < 0.01
    # and it grows by 2.5x from N=16 to N=64 (aligned: 3.7x)
    assert _neck_flops(
        64, neck_type=FastLocalityFusionNeck, label_keys=False) < \
        2.6 * unaligned


@pytest.mark.parametrize('label_keys', [False, True])
def test_without_prompt_alignment_equals_a_pass_through_alignment(label_keys):
    """:class:`FastLocalityFusionNeck` computes the reference neck whose
    prompt alignment is a pass-through (zero output projection), without
    that module's weights; the other weights start as the reference's."""
    ref = _neck(label_keys=label_keys)
    plain = _neck(label_keys=label_keys, neck_type=FastLocalityFusionNeck)
    assert plain.prompt_align is None
    ref_state = {
        k: v
        for k, v in ref.state_dict().items()
        if not k.startswith('prompt_align.')
    }
    assert len(ref_state) < len(ref.state_dict())
    assert plain.state_dict().keys() == ref_state.keys()
    for name, value in plain.state_dict().items():
        assert torch.equal(value, ref_state[name]), name
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
        ref.prompt_align.out_proj.weight.zero_()
        ref.prompt_align.out_proj.bias.zero_()
    plain.load_state_dict(
        {
            k: v
            for k, v in ref.state_dict().items()
            if not k.startswith('prompt_align.')
        },
        strict=True)
    support, query = _inputs(2, 3)
    with torch.no_grad():
        expected, attn = ref.eval()(support, query, return_attention=True)
        got, attn_p = plain.eval()(support, query, return_attention=True)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(attn_p, attn, rtol=1e-5, atol=1e-6)
    # with a working alignment the two differ
    with torch.no_grad():
        ref.prompt_align.out_proj.weight.normal_(0, 0.1)
        aligned = ref(support, query)
    assert not torch.allclose(aligned[:, :98], got[:, :98], atol=1e-3)


def test_attend_first_pays_from_two_prompts_at_reference_size():
    assert not attend_first_pays(49, 49, 1024, 8)
    assert attend_first_pays(98, 49, 1024, 8)
    # with as many heads as a head's width, averaging first never pays
    assert not attend_first_pays(49 * 64, 49, 64, 64)


def test_keys_first_pays_from_two_prompts_at_reference_size():
    assert not keys_first_pays(49, 49, 1024, 8)
    assert keys_first_pays(98, 49, 1024, 8)
    # label keys add a query-side product per head: from 8 prompts on
    assert not keys_first_pays(7 * 49, 49, 1024, 8, 2, 1)
    assert keys_first_pays(8 * 49, 49, 1024, 8, 2, 1)


@pytest.mark.parametrize('with_label', [False, True])
def test_cross_attention_cheaper_orders_equal_project_first(with_label):
    """Where they pay, the cross-attention takes the queries back through
    W_K and averages the values before W_V: the same weights as projecting
    keys and values first, dropout on, with the locality prior (it
    multiplies the per-query bias term per key, so that term must stay)
    and with a linear key term."""
    dims, heads, num_keys = 128, 2, 16 * 49
    assert attend_first_pays(num_keys, 49, dims, heads)
    assert keys_first_pays(num_keys, 49, dims, heads, 1 + with_label,
                           int(with_label))
    torch.manual_seed(0)
    attn = LocalityCrossAttention(dims, heads, attn_drop=0.3).train()
    label_proj = nn.Linear(dims, dims)
    with torch.no_grad():
        attn.in_proj_bias.normal_()
    query, image, label = (
        torch.randn(2, n, dims) for n in (49, num_keys, num_keys))
    tables = (torch.rand(49, 49) + 0.5, torch.zeros(49, 49))
    image.requires_grad_(True)
    key = image + label_proj(label) if with_label else image
    terms = [(image, None)] + ([(label, label_proj)] if with_label else [])
    torch.manual_seed(3)
    weights = attn.attention(query, key, tables)
    out = attn.mix_values(weights, attn.project(image, 2))
    torch.manual_seed(3)
    out_f, weights_f = attn(query, image, tables, key_terms=terms)
    assert not torch.allclose(weights.sum(-1), torch.ones(2, heads, 49))
    torch.testing.assert_close(weights_f, weights, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out_f, out, rtol=1e-5, atol=1e-6)
    grad, = torch.autograd.grad(out.sum(), image)
    grad_f, = torch.autograd.grad(out_f.sum(), image)
    torch.testing.assert_close(grad_f, grad, rtol=1e-4, atol=1e-5)
    # each rewrite alone, with the same weights
    averaged = attn.out_proj(
        head_projected_average(weights, image, *attn.packed(2)))
    torch.testing.assert_close(averaged, out, rtol=1e-5, atol=1e-6)


def test_production_order_under_autocast():
    """bf16 autocast (CPU's AMP): both orders run, agree to bf16 precision
    and back-propagate to every parameter."""
    neck = _perturbed(dims=64, heads=2, dropout=0.0).train()
    gen = torch.Generator().manual_seed(1)
    support = torch.randn(2, 16, 98, 64, generator=gen)
    query = torch.randn(2, 98, 64, generator=gen)
    outs = []
    for forward in (reference_forward, _production):
        neck.zero_grad()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = forward(neck, support, query)[0]
        out.float().sum().backward()
        assert all(p.grad is not None for p in neck.parameters())
        outs.append(out.float().detach())
    # measured: 0.004 apart, as far as either is from fp32
    torch.testing.assert_close(outs[1], outs[0], rtol=0.02, atol=0.02)
