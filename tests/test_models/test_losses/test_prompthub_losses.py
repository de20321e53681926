import math

import pytest
import torch
import torch.nn.functional as F

from projects.prompthub.models.losses import (PredictionLoss,
                                              SemanticAlignmentLoss,
                                              UtilizationLoss, token_block_ids)
from projects.prompthub.registry import MODELS


def test_token_block_ids():
    assert token_block_ids('TL', 7)[:3].tolist() == [0, 1, 2]
    assert token_block_ids('TL', 7)[7].item() == 14
    assert token_block_ids('TR', 7)[0].item() == 7
    assert token_block_ids('BL', 7)[0].item() == 98
    br = token_block_ids('BR', 7)
    assert br[0].item() == 105 and br[-1].item() == 195 and len(br) == 49
    assert token_block_ids('TOP', 7).tolist() == list(range(98))
    all_ids = torch.cat([token_block_ids(b) for b in ['TL', 'TR', 'BL', 'BR']])
    assert sorted(all_ids.tolist()) == list(range(196))
    # grid 1: the canvas is [TL, TR, BL, BR]
    assert [token_block_ids(b, 1).item()
            for b in ['TL', 'TR', 'BL', 'BR']] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match='block'):
        token_block_ids('XX')


def _tiny_logits():
    """B=2, grid=1 (tokens TL, TR, BL, BR), V=2."""
    ln3 = math.log(3)
    logits = torch.tensor([
        # TL        TR          BL          BR
        [[ln3, 0.], [0., 0.], [1., 0.], [0., 0.]],
        [[0., ln3], [ln3, 0.], [0., 0.], [ln3, 0.]],
    ])
    target = torch.tensor([[0, 1, 0, 1], [0, 0, 1, 0]])
    return logits, target


def test_prediction_loss_hand_values():
    logits, target = _tiny_logits()
    loss = PredictionLoss(grid=1)
    # BR, sample 0: logits [0, 0] -> CE = ln 2;
    # sample 1: logits [ln3, 0], target 0 -> p = 3/4, CE = ln(4/3)
    ln2, ln43 = math.log(2), math.log(4 / 3)
    assert loss(logits, target).item() == pytest.approx((ln2 + ln43) / 2)
    assert loss(logits, target, reduction_override='sum').item() == \
        pytest.approx(ln2 + ln43)
    none = loss(logits, target, reduction_override='none')
    assert none.shape == (2, 1)
    assert none.flatten().tolist() == pytest.approx([ln2, ln43])
    weight = torch.tensor([[2.], [0.]])
    assert loss(logits, target, weight=weight, avg_factor=4).item() == \
        pytest.approx(2 * ln2 / 4, rel=1e-6)
    assert PredictionLoss(grid=1, loss_weight=3.)(logits, target).item() == \
        pytest.approx(3 * (ln2 + ln43) / 2)
    assert loss.loss_name == 'loss_p'


def test_prediction_loss_full_canvas_uniform_logits():
    # zero logits give CE = ln V at every BR token, whatever the target
    logits = torch.zeros(3, 196, 16)
    logits[:, :105] = 50.  # non-BR tokens must not matter
    target = torch.randint(0, 16, (3, 196))
    assert PredictionLoss()(logits,
                            target).item() == pytest.approx(math.log(16))


def test_semantic_alignment_loss_hand_values():
    logits, target = _tiny_logits()
    # TOP = TL, TR.  sample 0: TL [ln3, 0] t0 -> ln(4/3); TR [0, 0] -> ln2
    # sample 1: TL [0, ln3] t0 -> ln4; TR [ln3, 0] t0 -> ln(4/3)
    ln2, ln4, ln43 = math.log(2), math.log(4), math.log(4 / 3)
    plain_mean = (ln43 + ln2 + ln4 + ln43) / 4
    reference = SemanticAlignmentLoss(grid=1, loss_weight=1.)
    plain = SemanticAlignmentLoss(
        grid=1, loss_weight=1., match_reference=False)
    assert plain(logits, target).item() == pytest.approx(plain_mean)
    # reference: sum(CE * mask) / sum(mask) / B, with B = 2
    assert reference(logits, target).item() == pytest.approx(plain_mean / 2)
    assert reference(logits[:1], target[:1]).item() == pytest.approx(
        (ln43 + ln2) / 2)
    default = SemanticAlignmentLoss(grid=1)
    assert default.loss_weight == 0.5 and default.match_reference
    assert default(logits,
                   target).item() == pytest.approx(0.5 * plain_mean / 2)
    assert default.loss_name == 'loss_s'
    assert plain(logits, target, reduction_override='none').shape == (2, 2)


def test_utilization_loss_hand_values():
    logits = torch.tensor([
        # TL         TR          BL           BR
        [[1., 0.], [1., 0.], [1., 0.], [0., 1.]],  # 0 + 1
        [[1., 1.], [3., 4.], [1., -1.], [3., 4.]],  # 1 + 0
    ])
    reference = UtilizationLoss(grid=1, loss_weight=1.)
    averaged = UtilizationLoss(grid=1, loss_weight=1., match_reference=False)
    # reference: mean(BL vs TL) + mean(BR vs TR) = 1/2 + 1/2
    assert reference(logits).item() == pytest.approx(1.0)
    assert averaged(logits).item() == pytest.approx(0.5)
    assert reference(logits, reduction_override='none').flatten().tolist() == \
        pytest.approx([1., 1.])
    # cos(a, -a) = -1 -> 2 per term
    opposite = torch.tensor([[[1., 2.], [0., 1.], [-1., -2.], [0., -1.]]])
    assert reference(opposite).item() == pytest.approx(4.)
    # eps keeps zero vectors finite: 1 - 0 / sqrt(eps^2) = 1 per term
    assert reference(torch.zeros(1, 4, 2)).item() == pytest.approx(2.)
    default = UtilizationLoss()
    assert default.loss_weight == 0.2 and default.loss_name == 'loss_u'


def test_utilization_loss_matches_cosine_embedding_loss():
    torch.manual_seed(0)
    logits = torch.randn(2, 196, 32)
    z = logits.view(2, 14, 14, 32)
    ones = torch.ones(98)
    img = F.cosine_embedding_loss(z[:, 7:, :7].reshape(98, 32),
                                  z[:, :7, :7].reshape(98, 32), ones)
    lab = F.cosine_embedding_loss(z[:, 7:, 7:].reshape(98, 32),
                                  z[:, :7, 7:].reshape(98, 32), ones)
    loss = UtilizationLoss(loss_weight=1.)
    torch.testing.assert_close(loss(logits), img + lab)
    torch.testing.assert_close(
        UtilizationLoss(loss_weight=1., match_reference=False)(logits),
        (img + lab) / 2)


def test_fp16_logits_are_cast():
    logits, target = _tiny_logits()
    out = PredictionLoss(grid=1)(logits.half(), target)
    assert out.dtype == torch.float32


def test_registry_and_bad_inputs():
    for name, key in [('PredictionLoss', 'loss_p'),
                      ('SemanticAlignmentLoss', 'loss_s'),
                      ('UtilizationLoss', 'loss_u')]:
        assert MODELS.build(dict(type=name)).loss_name == key
    loss = PredictionLoss()
    logits = torch.zeros(2, 196, 8)
    target = torch.zeros(2, 196, dtype=torch.long)
    with pytest.raises(ValueError, match=r'logits must have shape'):
        loss(logits[:, :195], target)
    with pytest.raises(ValueError, match='target must have shape'):
        loss(logits, target[:, :98])
    with pytest.raises(ValueError, match='int64'):
        loss(logits, target.float())
    with pytest.raises(ValueError, match=r'\[0, 8\)'):
        loss(logits, target + 8)
    with pytest.raises(ValueError, match='needs the target'):
        loss(logits)
    with pytest.raises(ValueError, match='reduction'):
        loss(logits, target, reduction_override='max')
    with pytest.raises(ValueError, match='avg_factor'):
        loss(logits, target, avg_factor=2., reduction_override='sum')
    with pytest.raises(ValueError, match="start with 'loss_'"):
        PredictionLoss(loss_name='pred')
