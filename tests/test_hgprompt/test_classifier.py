import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.structures import BaseDataElement

from projects.hgprompt.engine import HGPCGradOptimWrapper
from projects.hgprompt.models import (HGPromptClassifier, load_prompt_bank,
                                      save_prompt)
from ._helpers import TINY_BACKBONE, tiny_classifier


@pytest.fixture
def bank(tmp_path):
    gen = torch.Generator().manual_seed(0)
    for k in range(3):
        save_prompt(
            str(tmp_path / f's{k}.pth'),
            torch.randn(2, 2, 32, generator=gen),
            task=f'src{k}')
    return str(tmp_path)


def _batch(n=12):
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(n, 3, 16, 16, generator=gen) * 255
    samples = []
    for i in range(n):
        s = BaseDataElement(metainfo=dict(sample_idx=i))
        s.gt_label = torch.tensor(i % 3)
        samples.append(s)
    return x, samples


def test_bank_roundtrip_and_shape_errors(bank, tmp_path):
    prompts, names = load_prompt_bank(bank, 2, 2, 32)
    assert prompts.shape == (3, 2, 2, 32)
    assert names == ['src0', 'src1', 'src2']
    with pytest.raises(ValueError, match='prompt length L is 2'):
        load_prompt_bank(bank, prompt_length=4)
    bad = tmp_path / 'bad'
    bad.mkdir()
    save_prompt(str(bad / 'a.pth'), torch.zeros(2, 2, 32))
    save_prompt(str(bad / 'b.pth'), torch.zeros(2, 3, 32))
    with pytest.raises(ValueError, match='same'):
        load_prompt_bank(str(bad))
    with pytest.raises(FileNotFoundError):
        load_prompt_bank([str(tmp_path / 'missing.pth')])
    with pytest.raises(ValueError, match='embedding dim'):
        HGPromptClassifier(
            backbone=dict(
                TINY_BACKBONE,
                vit_kwargs=dict(TINY_BACKBONE['vit_kwargs'], embed_dim=16)),
            num_classes=3,
            source_prompts=bank,
            init='uniform')


def test_onehot_weights_reproduce_single_source(bank):
    model = tiny_classifier(bank)
    x, _ = _batch(4)
    with torch.no_grad():
        model.weight_logits.copy_(torch.tensor([-1e4, 1e4, -1e4]))
        torch.testing.assert_close(model.composed_prompt(),
                                   model.source_prompts[1])
        single = tiny_classifier(bank, init='source', source_name='src1')
        single.head.load_state_dict(model.head.state_dict())
        torch.testing.assert_close(model(x), single(x))
        # uniform logits = uniform average init
        model.weight_logits.zero_()
        uniform = tiny_classifier(bank, init='uniform')
        torch.testing.assert_close(model.composed_prompt(),
                                   uniform.target_prompt.data)


def test_per_layer_and_affine_weights(bank):
    model = tiny_classifier(bank, per_layer_weights=True)
    assert model.ensemble_weights().shape == (2, 3)
    with torch.no_grad():
        model.weight_logits.copy_(
            torch.tensor([[1e4, -1e4, -1e4], [-1e4, -1e4, 1e4]]))
    prompt = model.composed_prompt()
    torch.testing.assert_close(prompt[0], model.source_prompts[0, 0])
    torch.testing.assert_close(prompt[1], model.source_prompts[2, 1])
    affine = tiny_classifier(bank, weight_param='affine')
    torch.testing.assert_close(affine.ensemble_weights(),
                               torch.full((3, ), 1 / 3))


def _step(model, optim, x, samples):
    data = model.data_preprocessor(
        dict(inputs=list(x.byte()), data_samples=samples), True)
    losses = model(**data, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    optim.zero_grad()
    loss.backward()
    optim.step()
    return losses


def test_two_stages_train_only_what_they_should(bank):
    model = tiny_classifier(bank)
    model.train()
    optim = torch.optim.Adam(model.parameters(), lr=0.1)
    frozen = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    sources = model.source_prompts.clone()
    target0 = model.target_prompt.detach().clone()
    head0 = model.head.weight.detach().clone()
    x, samples = _batch()
    for _ in range(3):
        losses = _step(model, optim, x, samples)
        w = model.ensemble_weights().detach()
        # the simplex constraint holds after every step
        assert torch.all(w >= 0) and float(w.sum()) == pytest.approx(1.0)
    assert {'loss_h', 'loss_gar', 'loss_ce'} <= set(losses)
    assert not torch.allclose(w, torch.full((3, ), 1 / 3))
    assert torch.equal(model.target_prompt.data, target0)
    assert not torch.equal(model.head.weight.data, head0)
    assert model.backbone.vit.patch_embed.proj.weight.grad is None

    weights_star = model.ensemble_weights().detach().clone()
    p_star = model.composed_prompt().detach().clone()
    model.switch_to_stage_b(reset_head=True)
    assert model.stage == 'B'
    torch.testing.assert_close(model.target_prompt.data, p_star)
    for _ in range(2):
        losses = _step(model, optim, x, samples)
    assert set(losses) == {'loss_ce'}
    torch.testing.assert_close(model.ensemble_weights(), weights_star)
    assert not torch.equal(model.target_prompt.data, p_star)
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, frozen[k]), k
    assert torch.equal(model.source_prompts, sources)
    # the stage survives a state-dict round trip (resume / test.py)
    fresh = tiny_classifier(bank)
    fresh.load_state_dict(model.state_dict())
    assert fresh.stage == 'B'
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x))


def test_predict_and_source_cache(bank):
    model = tiny_classifier(bank, init='uniform')
    x, samples = _batch(4)
    out = model.predict(x, samples)
    assert out[0].pred_score.shape == (3, )
    assert float(out[0].pred_score.sum()) == pytest.approx(1.0)
    feats = model.source_features(x, samples)
    assert feats.shape == (3, 4, 32)
    assert len(model._feature_cache) == 4
    torch.testing.assert_close(model.source_features(x * 0, samples), feats)


def test_init_errors(bank):
    with pytest.raises(ValueError, match='needs source_prompts'):
        HGPromptClassifier(
            backbone=TINY_BACKBONE, num_classes=3, init='ensemble')
    with pytest.raises(ValueError, match='Unknown source'):
        tiny_classifier(bank, init='source', source_name='nope')


def test_stage_hook_hscore_prior_and_switch(bank):
    from types import SimpleNamespace

    from projects.hgprompt.engine import HGPromptStageHook
    from projects.hgprompt.models import h_score

    model = tiny_classifier(bank)
    x, samples = _batch(12)
    loader = [
        dict(inputs=list(x[:6].byte()), data_samples=samples[:6]),
        dict(inputs=list(x[6:].byte()), data_samples=samples[6:])
    ]
    optim = torch.optim.Adam(model.parameters(), lr=0.1)
    runner = SimpleNamespace(
        model=model,
        train_dataloader=loader,
        epoch=0,
        logger=SimpleNamespace(info=lambda msg: None),
        optim_wrapper=SimpleNamespace(optimizer=optim))
    hook = HGPromptStageHook(switch_epoch=1, hscore_prior=0.1)
    hook.before_train(runner)
    data = model.data_preprocessor(
        dict(inputs=list(x.byte()), data_samples=samples))
    feats = model.source_features(data['inputs'])
    labels = torch.arange(12) % 3
    scores = torch.stack([
        h_score(f, labels, 'shrinkage', 0.5, standardize=True) for f in feats
    ])
    torch.testing.assert_close(
        torch.tensor(list(hook.source_hscores.values())), scores)
    torch.testing.assert_close(model.ensemble_weights().detach(),
                               (scores / 0.1).softmax(0))
    # epoch 0 < switch_epoch: nothing happens; at epoch 1 it switches
    hook.before_train_epoch(runner)
    assert model.stage == 'A'
    runner.epoch = 1
    hook.before_train_epoch(runner)
    assert model.stage == 'B'
    torch.testing.assert_close(model.target_prompt.data,
                               model.composed_prompt())


def test_stage_a_with_pcgrad(bank):
    """PCGrad over the per-source losses trains the weights and the head
    only, and needs its own optimizer wrapper."""
    model = tiny_classifier(
        bank,
        loss_gar=dict(type='HGGradAlignLoss', loss_weight=0.0),
        grad_surgery='pcgrad')
    x, samples = _batch()
    data = dict(inputs=list(x), data_samples=samples)
    prompts = model.source_prompts.clone()
    vit = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    wrapper = HGPCGradOptimWrapper(
        optimizer=torch.optim.Adam(
            [p for p in model.parameters() if p.requires_grad], lr=0.1))
    before = model.weight_logits.detach().clone()
    head = model.head.weight.detach().clone()
    log = model.train_step(data, wrapper)
    assert 'loss_src' in log and 'loss_h' in log
    assert not torch.allclose(model.weight_logits, before)
    assert not torch.allclose(model.head.weight, head)
    weights = model.ensemble_weights()
    assert torch.all(weights >= 0) and torch.isclose(weights.sum(),
                                                     torch.tensor(1.))
    assert torch.equal(model.source_prompts, prompts)
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, vit[k])
    # a plain OptimWrapper cannot take the per-source task list
    with pytest.raises(TypeError, match='HGPCGradOptimWrapper'):
        model.train_step(
            data, OptimWrapper(torch.optim.SGD([model.weight_logits], lr=0.1)))
    with pytest.raises(ValueError, match='grad_surgery'):
        tiny_classifier(bank, grad_surgery='cagrad')


def test_batch_statistic_terms_fail_under_ddp(bank, monkeypatch):
    """The H-score, GAR and PCGrad terms are statistics of the whole batch:
    DDP over shares of it would silently train another objective."""
    from projects.prompthub.utils import distributed
    monkeypatch.setattr(distributed, 'get_world_size', lambda: 2)
    x, samples = _batch(6)
    model = tiny_classifier(bank)
    model.train()
    with pytest.raises(RuntimeError) as err:
        model.loss(x, samples)
    msg = str(err.value)
    assert 'model.loss_h (H-score), model.loss_gar (gradient alignment)' \
        in msg
    assert '2 DDP processes' in msg and 'python tools/train.py' in msg
    with pytest.raises(RuntimeError, match="grad_surgery='pcgrad'"):
        tiny_classifier(
            bank,
            grad_surgery='pcgrad',
            loss_gar=dict(type='HGGradAlignLoss',
                          loss_weight=0.)).loss(x, samples)
    # Stage B trains with cross-entropy only (a mean over the batch, exact
    # under DDP); its optional H-score term is not.
    model.switch_to_stage_b()
    assert set(model.loss(x, samples)) == {'loss_ce'}
    model.stage_b_h_weight = 0.1
    with pytest.raises(RuntimeError, match='stage_b_h_weight'):
        model.loss(x, samples)
    assert set(tiny_classifier(bank,
                               init='random').loss(x, samples)) == {'loss_ce'}
