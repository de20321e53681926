"""PromptHub and the single-prompt baseline on the tiny backbone."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmseg.structures import SegDataSample

import projects.prompthub  # noqa: F401
from projects.prompthub.datasets import PackVICLInputs
from projects.prompthub.registry import MODELS
from projects.prompthub.structures import (binarize, denormalize_to_uint8,
                                           query_label_cell)

TINY = 'configs/prompthub/prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py'


def tiny_model_cfg(**overrides) -> dict:
    cfg = Config.fromfile(TINY).model.to_dict()
    cfg['neck']['dropout'] = 0.0
    cfg.update(overrides)
    return cfg


def make_batch(batch: int = 2,
               prompts: int = 2,
               size: int = 111,
               seed: int = 0,
               query_label: torch.Tensor = None) -> dict:
    """Random episodes packed by ``PackVICLInputs`` (ground truth in the
    data samples), optionally with a given uint8 [3, S, S] query label."""
    gen = torch.Generator().manual_seed(seed)
    packed = []
    for _ in range(batch):
        pairs = torch.randint(
            0,
            256, (prompts + 1, 2, 3, size, size),
            generator=gen,
            dtype=torch.uint8)
        if query_label is not None:
            pairs[0, 1] = query_label
        hwc = pairs.permute(0, 1, 3, 4, 2).numpy()
        results = dict(
            img=hwc[0, 0],
            label_img=hwc[0, 1],
            prompt_results=[
                dict(img=hwc[k, 0], label_img=hwc[k, 1])
                for k in range(1, prompts + 1)
            ])
        packed.append(PackVICLInputs().transform(results))
    return pseudo_collate(packed)


@pytest.fixture(scope='module')
def model():
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg())
    model.init_weights()
    return model


def test_only_neck_parameters_are_trainable(model):
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith('neck.') for n in trainable)
    data = model.data_preprocessor(make_batch(), True)
    model.train()
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_p', 'loss_s', 'loss_u'}
    total = sum(losses.values())
    model.zero_grad()
    total.backward()
    for name, param in model.named_parameters():
        if name.startswith('neck.'):
            assert param.grad is not None, name
        else:
            assert param.grad is None, name
    # The frozen backbone stays in eval mode under model.train().
    assert not model.backbone.training


def test_pair_tokens_are_the_halves_of_each_pair_canvas(model):
    """Prompts give the top half, the query the bottom half of the tokens
    of their duplicated canvas (bit for bit, halves embedded alone)."""
    from projects.prompthub.structures import pair_canvas
    inputs = model.data_preprocessor(make_batch(2, 2), False)['inputs']
    support, query = model.pair_tokens(inputs)
    assert support.shape == (2, 2, 98, 64) and query.shape == (2, 98, 64)
    with torch.no_grad():
        for b in range(2):
            for k in range(3):
                pair = inputs[b, k]
                full = model.backbone.embed(pair_canvas(pair[:1], pair[1:]))
                if k == 0:
                    assert torch.equal(query[b], full[0, 98:])
                else:
                    assert torch.equal(support[b, k - 1], full[0, :98])


def test_predict_fills_the_documented_fields(model):
    model.eval()
    data = model.data_preprocessor(make_batch(batch=3), False)
    with torch.no_grad():
        samples = model(**data, mode='predict')
    assert len(samples) == 3
    for sample in samples:
        pred = sample.pred_label_img.data
        gt = sample.gt_label_img.data
        assert pred.dtype == torch.uint8 and pred.shape == (3, 111, 111)
        assert gt.dtype == torch.uint8 and gt.shape == (3, 111, 111)
        assert torch.equal(sample.pred_sem_seg.data[0].bool(),
                           binarize(pred, 'reference'))
        assert torch.equal(sample.gt_sem_seg.data[0].bool(),
                           binarize(gt, 'reference'))


def test_ground_truth_is_the_query_label_read_back_from_the_canvas(model):
    """gt_label_img (packed with the sample) is the query label
    de-normalised by truncation: bit for bit the BR cell of the model's
    de-normalised input canvas."""
    model.eval()
    label = torch.zeros(3, 111, 111, dtype=torch.uint8)
    label[:, 20:60, 30:90] = 255
    batch = make_batch(batch=1, query_label=label)
    data = model.data_preprocessor(batch, False)
    canvas = model.prompt_canvas(data['inputs'], model.prompt_slot)
    assert torch.equal(batch['data_samples'][0].gt_label_img.data,
                       query_label_cell(denormalize_to_uint8(canvas))[0])
    with torch.no_grad():
        sample = model(**data, mode='predict')[0]
    gt = sample.gt_label_img.data.int()
    # Truncation maps white to 254 or 255 and black to 0 (reference 1.5).
    assert (gt[:, 20:60, 30:90] >= 254).all()
    assert (gt[:, :20] == 0).all()
    assert sample.gt_sem_seg.data[0, 20:60, 30:90].all()
    assert sample.gt_sem_seg.data.sum() == 40 * 60


def test_samples_without_ground_truth_get_predictions_only(model):
    """Without a packed gt_label_img (a hand-made sample, or none at all)
    predict fills the prediction and leaves the ground truth out."""
    model.eval()
    data = model.data_preprocessor(make_batch(batch=2), False)
    with torch.no_grad():
        bare = model.predict(data['inputs'],
                             [SegDataSample() for _ in range(2)])
        none = model.predict(data['inputs'])
    for sample in bare + none:
        assert sample.pred_label_img.data.shape == (3, 111, 111)
        assert 'gt_label_img' not in sample and 'gt_sem_seg' not in sample
    assert torch.equal(bare[0].pred_label_img.data,
                       none[0].pred_label_img.data)


def test_tensor_mode_and_any_number_of_prompts():
    """The same weights serve any number of prompts."""
    init_default_scope('mmseg')
    model = MODELS.build(
        tiny_model_cfg(data_preprocessor=dict(type='VICLDataPreprocessor')))
    model.eval()
    for prompts in (1, 3):
        data = model.data_preprocessor(make_batch(prompts=prompts), False)
        with torch.no_grad():
            logits = model(**data, mode='tensor')
        assert logits.shape == (2, 196, model.backbone.num_codes)


def test_batched_equals_per_sample(model):
    model.eval()
    data = model.data_preprocessor(make_batch(batch=3), False)
    with torch.no_grad():
        batched = model(**data, mode='tensor')
        single = torch.cat([
            model(inputs=data['inputs'][i:i + 1], mode='tensor')
            for i in range(3)
        ])
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-5)


def test_query_label_does_not_leak_into_the_prediction(model):
    """Changing the query's ground truth must not change the logits."""
    model.eval()
    batch = make_batch(batch=1)
    other = copy.deepcopy(batch)
    other['inputs'][0][0, 1] = 255 - other['inputs'][0][0, 1]
    with torch.no_grad():
        a = model(**model.data_preprocessor(batch), mode='tensor')
        b = model(**model.data_preprocessor(other), mode='tensor')
    assert torch.equal(a, b)


def test_baseline_uses_one_prompt_and_cannot_train():
    init_default_scope('mmseg')
    cfg = tiny_model_cfg()
    baseline = MODELS.build(
        dict(type='VICLInpainter', backbone=cfg['backbone']))
    baseline.eval()
    assert not any(p.requires_grad for p in baseline.parameters())
    data = baseline.data_preprocessor(make_batch(batch=2, prompts=2))
    with torch.no_grad():
        logits = baseline(**data, mode='tensor')
        samples = baseline(**data, mode='predict')
    assert logits.shape == (2, 196, baseline.backbone.num_codes)
    assert samples[0].pred_label_img.data.shape == (3, 111, 111)
    # Prompt 2 is ignored by the single-prompt baseline.
    changed = copy.deepcopy(data)
    changed['inputs'][:, 2] = 1 - changed['inputs'][:, 2]
    with torch.no_grad():
        assert torch.equal(baseline(**changed, mode='tensor'), logits)
    with pytest.raises(NotImplementedError, match='cannot be trained'):
        baseline(**data, mode='loss')


def test_wrong_prompt_count_is_refused():
    init_default_scope('mmseg')
    model = MODELS.build(tiny_model_cfg())
    with pytest.raises(ValueError, match='Expected 2 prompt pairs'):
        model.data_preprocessor(make_batch(prompts=3))


@pytest.mark.parametrize('per_image', [False, True])
def test_predict_decodes_per_image_when_asked(per_image):
    """``backbone.decode_per_image`` reaches predict: the VQGAN decoder
    then runs once per query with a batch of 1 (the reference's call
    shape, bit-equal pastes), else once for the batch. The tiny config
    keeps the batched default."""
    init_default_scope('mmseg')
    assert Config.fromfile(TINY).model.backbone.decode_per_image is False
    cfg = tiny_model_cfg()
    cfg['backbone']['decode_per_image'] = per_image
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.eval()
    sizes = []
    handle = model.backbone.vae.decoder.register_forward_hook(
        lambda mod, args, out: sizes.append(args[0].shape[0]))
    try:
        data = model.data_preprocessor(make_batch(3, 2), False)
        with torch.no_grad():
            samples = model(**data, mode='predict')
    finally:
        handle.remove()
    assert len(samples) == 3
    assert sizes == ([1, 1, 1] if per_image else [3])
