import numpy as np
import pytest
import torch
import torch.nn.functional as F

from projects.hgprompt.models import (HGGradAlignLoss, HGHScoreLoss, gar_cos,
                                      gar_var, h_score, per_sample_head_grads)


def _bao_numpy(f, y):
    """Bao et al.'s H-score with numpy (pinv, 1/(n-1) covariances)."""
    f = f - f.mean(0)
    cov_f = np.cov(f, rowvar=False, bias=False)
    g = np.zeros_like(f)
    for c in np.unique(y):
        g[y == c] = f[y == c].mean(0)
    cov_g = np.cov(g, rowvar=False, bias=False)
    return np.trace(np.linalg.pinv(cov_f, rcond=1e-15) @ cov_g)


def test_hscore_hand_computed_1d():
    # f = 0,1,2,3 with labels 0,0,1,1: var = 5/3, between-class = 4/3.
    f = torch.tensor([[0.], [1.], [2.], [3.]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    for est in ('pinv', 'trace_ratio', 'ridge'):
        expected = 0.8 if est != 'ridge' else (4 / 3) / (5 / 3 * 1.001)
        assert float(h_score(f, y, est)) == pytest.approx(expected)
    assert float(h_score(f, y, 'shrinkage',
                         alpha=0.25)) == pytest.approx(0.75 * 0.8)


def test_hscore_matches_numpy_reference_and_is_invariant():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    f = rng.normal(size=(400, 6)) + np.eye(4, 6)[y] * 1.5
    ref = _bao_numpy(f, y)
    ft = torch.from_numpy(f)
    got = float(h_score(ft, torch.from_numpy(y), 'pinv'))
    assert got == pytest.approx(ref, rel=1e-8)
    mix = torch.from_numpy(rng.normal(size=(6, 6)))
    got2 = float(h_score(ft @ mix, torch.from_numpy(y), 'pinv'))
    assert got2 == pytest.approx(ref, rel=1e-6)
    assert 0 < ref < 3  # at most C - 1


def test_plain_hscore_saturates_on_minibatches():
    """n <= d + 1: the pinv estimate is C - 1 for ANY features."""
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(32) % 4
    random_feats = torch.randn(32, 64, generator=gen, dtype=torch.float64)
    assert float(h_score(random_feats, y, 'pinv')) == pytest.approx(3.0)


def _features(n, d, separated, gen):
    y = torch.arange(n) % 4
    f = torch.randn(n, d, generator=gen)
    if separated:
        f[:, :4] += 3 * F.one_hot(y, 4)
    return f, y


@pytest.mark.parametrize('estimator', ['shrinkage', 'trace_ratio'])
def test_regularised_hscore_separates_on_minibatches(estimator):
    gen = torch.Generator().manual_seed(0)
    good = h_score(*_features(32, 64, True, gen), estimator)
    bad = h_score(*_features(32, 64, False, gen), estimator)
    assert good > 1.15 * bad
    # a tiny ridge does not help: still (almost) saturated at C - 1
    ridge = h_score(*_features(32, 64, False, gen), 'ridge')
    assert float(ridge) > 2.9


def test_feature_bank_restores_signal_and_grads_only_batch_rows():
    gen = torch.Generator().manual_seed(0)
    loss_sep = HGHScoreLoss(estimator='pinv', bank_size=256, standardize=False)
    loss_rnd = HGHScoreLoss(estimator='pinv', bank_size=256, standardize=False)
    for _ in range(8):  # fill the bank with 8 batches of 32
        loss_sep(*_features(32, 16, True, gen))
        loss_rnd(*_features(32, 16, False, gen))
    assert loss_sep.bank_feats.shape == (256, 16)
    f, y = _features(32, 16, True, gen)
    f.requires_grad_(True)
    h_sep = -loss_sep(f, y)
    h_rnd = -loss_rnd(*_features(32, 16, False, gen))
    # with the bank n = 288 > d: no saturation at C - 1 = 3
    assert h_sep < 2.99 and h_rnd < 1.0 and h_sep > h_rnd + 1.0
    h_sep.backward()
    assert f.grad.abs().sum() > 0
    assert not loss_sep.bank_feats.requires_grad


def test_hscore_gradcheck():
    gen = torch.Generator().manual_seed(0)
    f = torch.randn(
        12, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.arange(12) % 3
    for est in ('shrinkage', 'trace_ratio', 'pinv'):
        assert torch.autograd.gradcheck(
            lambda x: h_score(x, y, est, standardize=True), (f, ))


def test_closed_form_head_grads_equal_autograd():
    gen = torch.Generator().manual_seed(0)
    head = torch.nn.Linear(5, 3).double()
    z = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 2])
    got = per_sample_head_grads(z, y, head.weight, head.bias, 'head')
    got_feat = per_sample_head_grads(z, y, head.weight, head.bias, 'feature')
    for i in range(4):
        zi = z[i:i + 1].clone().requires_grad_(True)
        loss = F.cross_entropy(head(zi), y[i:i + 1])
        gw, gb, gz = torch.autograd.grad(loss, [head.weight, head.bias, zi])
        torch.testing.assert_close(got[i], torch.cat([gw.flatten(), gb]))
        torch.testing.assert_close(got_feat[i], gz[0])


def test_gar_zero_for_identical_positive_for_conflicting():
    w = torch.full((3, ), 1 / 3)
    g = torch.tensor([1.0, 2.0, -1.0])
    same = torch.stack([g, g, g])
    assert float(gar_cos(same, w)) == 0.0
    assert float(gar_var(same, w)) == 0.0
    conflict = torch.stack([g, -g, g])
    # pairs (0,1) and (1,2) have cos = -1: 2 * (1/9) * 1
    assert float(gar_cos(conflict, w)) == pytest.approx(2 / 9)
    assert float(gar_cos(conflict, w, 'one_minus_cos')) == pytest.approx(2 / 9)
    # aligned but different scale: no cosine conflict
    assert float(gar_cos(torch.stack([g, 2 * g, g]), w)) == 0.0
    var = torch.stack([g.abs(), 3 * g.abs(), g.abs()])
    # R = sum_k w_k ||v_k - v_bar||^2 by hand
    vbar = var.mean(0)
    expected = float(((var - vbar)**2).sum(1).mean())
    assert float(gar_var(var, w)) == pytest.approx(expected)
    assert expected > 0
    onehot = torch.tensor([0.0, 1.0, 0.0])
    assert float(gar_var(var, onehot)) == 0.0


@pytest.mark.parametrize('gar_type', ['var', 'cos'])
def test_gar_module_on_features(gar_type):
    gen = torch.Generator().manual_seed(0)
    head = torch.nn.Linear(4, 3)
    y = torch.arange(6) % 3
    z = torch.randn(6, 4, generator=gen)
    w = torch.full((3, ), 1 / 3, requires_grad=True)
    loss = HGGradAlignLoss(gar_type=gar_type, ema=0.0)
    same = loss(torch.stack([z, z, z]), y, w, head).detach()
    assert float(same) == pytest.approx(0.0, abs=1e-10)
    other = torch.stack([z, -z, torch.randn(6, 4, generator=gen)])
    value = loss(other, y, w, head)
    assert float(value.detach()) > 0
    value.backward()
    assert w.grad is not None and head.weight.grad is None


def test_gar_ema_is_bias_corrected():
    loss = HGGradAlignLoss(gar_type='var', ema=0.9)
    v1, v2 = torch.ones(2, 3), 3 * torch.ones(2, 3)
    assert torch.equal(loss._smooth(v1), v1)  # first step: exactly v1
    expected = (0.9 * 0.1 * v1 + 0.1 * v2) / (1 - 0.81)
    torch.testing.assert_close(loss._smooth(v2), expected)


def _head_and_sources(gen):
    """Sources 0 and 1 share their features; source 2's are scaled up,
    so its per-sample head gradients vary much more."""
    head = torch.nn.Linear(4, 3).double()
    y = torch.arange(12) % 3
    z = torch.randn(12, 4, generator=gen, dtype=torch.float64)
    return head, y, torch.stack([z, z, 4 * z])


def test_gar_var_is_a_fixed_quadratic_of_the_weights():
    """With frozen features and a detached head, the per-source variances
    are constants: R(w) = sum_k w_k |v_k|^2 - |sum_k w_k v_k|^2."""
    gen = torch.Generator().manual_seed(0)
    head, y, feats = _head_and_sources(gen)
    loss = HGGradAlignLoss(gar_type='var', ema=0.0)
    var = per_sample_head_grads(feats, y, head.weight, head.bias).var(
        1, unbiased=False)
    for w in ([0.2, 0.3, 0.5], [0.6, 0.3, 0.1]):
        w = torch.tensor(w, dtype=torch.float64, requires_grad=True)
        value = loss(feats, y, w, head)
        vbar = (w[:, None] * var).sum(0)
        expected = (w * var.pow(2).sum(1)).sum() - vbar.pow(2).sum()
        torch.testing.assert_close(value, expected)
        value.backward()
        # d/dw_j = |v_j - vbar|^2, i.e. the quadratic's gradient plus the
        # same |vbar|^2 for every j: equal on the simplex
        quadratic = (var.pow(2).sum(1) - 2 * var @ vbar).detach()
        torch.testing.assert_close(w.grad, (var - vbar).pow(2).sum(1).detach())
        torch.testing.assert_close(w.grad - quadratic,
                                   vbar.pow(2).sum().detach().expand(3))
    # what training changes: the head (stage A trains it by CE)
    with torch.no_grad():
        head.weight.mul_(2)
    moved = per_sample_head_grads(feats, y, head.weight, head.bias).var(
        1, unbiased=False)
    assert not torch.allclose(moved, var)


def test_gar_var_moves_the_learned_weights_in_a_built_case():
    """Gradient descent on softmax logits: the alignment term takes weight
    from the source whose gradient variances disagree with the others;
    without it (lambda_G = 0) the weights stay uniform."""
    gen = torch.Generator().manual_seed(0)
    head, y, feats = _head_and_sources(gen)
    learned = {}
    for lam in (0.0, 1.0):
        loss = HGGradAlignLoss(gar_type='var', ema=0.95, loss_weight=lam)
        logits = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        optim = torch.optim.SGD([logits], lr=1.0)
        for _ in range(50):
            optim.zero_grad()
            value = loss(feats, y, logits.softmax(0), head)
            if value.requires_grad:
                value.backward()
                optim.step()
        learned[lam] = logits.detach().softmax(0)
    torch.testing.assert_close(learned[0.0],
                               torch.full((3, ), 1 / 3, dtype=torch.float64))
    w = learned[1.0]
    assert w[2] < 0.1 < 1 / 3  # the disagreeing source is dropped
    torch.testing.assert_close(w[0], w[1])  # the identical pair is not


def test_fishr_correction_matches_fishrs_moving_average():
    """``ema_correction='fishr'`` is Fishr's MovingAverage with its
    1 / (1 - ema) correction; the default is the bias-corrected mean."""
    ema = 0.9
    data = [torch.full((2, 3), v) for v in (1.0, 3.0, 2.0)]
    fishr = HGGradAlignLoss(ema=ema, ema_correction='fishr')
    bias = HGGradAlignLoss(ema=ema)
    state = torch.zeros(2, 3)
    for step, value in enumerate(data, 1):
        state = ema * state + (1 - ema) * value  # Fishr's update
        torch.testing.assert_close(fishr._smooth(value), state / (1 - ema))
        torch.testing.assert_close(
            bias._smooth(value), state / (1 - ema**step))
    with pytest.raises(ValueError, match='ema_correction'):
        HGGradAlignLoss(ema_correction='adam')
