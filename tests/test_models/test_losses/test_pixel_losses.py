import pytest
import torch
import torch.nn.functional as F

from projects.prompthub.models.losses import (PredictionLoss,
                                              SemanticAlignmentLoss,
                                              UtilizationLoss, token_block_ids,
                                              token_prediction_loss)


def _pixel_case(batch=2, dims=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, 196, dims, generator=gen)
    target = torch.rand(batch, 196, dims, generator=gen)
    return logits, target


def test_prediction_loss_pixel_targets_is_bce_on_br():
    logits, target = _pixel_case()
    br = token_block_ids('BR', 7)
    expected = F.binary_cross_entropy_with_logits(logits[:, br], target[:, br])
    loss = PredictionLoss()(logits, target)
    assert torch.allclose(loss, expected, atol=1e-6)
    per_token = PredictionLoss(reduction='none')(logits, target)
    assert per_token.shape == (2, 49)


def test_pixel_loss_ignores_other_tokens_and_is_zero_at_optimum():
    logits, target = _pixel_case()
    br = token_block_ids('BR', 7)
    changed = target.clone()
    changed[:, :98] = 1 - changed[:, :98]
    loss_p = PredictionLoss()
    assert torch.allclose(loss_p(logits, target), loss_p(logits, changed))
    # Hard 0/1 targets: confident right logits give ~0, wrong ones a lot.
    hard = (target > 0.5).float()
    right = (hard * 2 - 1) * 20
    assert loss_p(right, hard) < 1e-6
    assert loss_p(-right, hard) > 10
    assert br.numel() == 49


def test_semantic_alignment_loss_pixel_targets_top_half_reference():
    logits, target = _pixel_case(batch=4)
    top = torch.arange(98)
    bce = F.binary_cross_entropy_with_logits(logits[:, top], target[:, top])
    loss = SemanticAlignmentLoss(loss_weight=1.0, match_reference=True)
    assert torch.allclose(loss(logits, target), bce / 4, atol=1e-6)
    plain = SemanticAlignmentLoss(loss_weight=0.5, match_reference=False)
    assert torch.allclose(plain(logits, target), 0.5 * bce, atol=1e-6)


def test_utilization_loss_on_pixel_logits():
    logits, _ = _pixel_case()
    loss = UtilizationLoss(loss_weight=1.0)
    same = logits.clone()
    same[:, token_block_ids('BL', 7)] = same[:, token_block_ids('TL', 7)]
    same[:, token_block_ids('BR', 7)] = same[:, token_block_ids('TR', 7)]
    assert loss(same) < 1e-5
    assert loss(logits) > 0.5


def test_token_prediction_loss_dispatches_on_dtype():
    logits = torch.randn(2, 5, 7)
    codes = torch.randint(0, 7, (2, 5))
    ce = F.cross_entropy(logits.transpose(1, 2), codes, reduction='none')
    assert torch.allclose(token_prediction_loss(logits, codes), ce)
    pix = torch.rand(2, 5, 7)
    bce = F.binary_cross_entropy_with_logits(
        logits, pix, reduction='none').mean(-1)
    assert torch.allclose(token_prediction_loss(logits, pix), bce)


def test_pixel_target_checks():
    logits, target = _pixel_case()
    with pytest.raises(ValueError, match='shape of the logits'):
        PredictionLoss()(logits, target[..., :5])
    with pytest.raises(ValueError, match=r'in \[0, 1\]'):
        PredictionLoss()(logits, target * 3)
    # The code path keeps its checks.
    with pytest.raises(ValueError, match='int64'):
        PredictionLoss()(logits, torch.zeros(2, 196, dtype=torch.int32))
