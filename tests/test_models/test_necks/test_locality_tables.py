import math

import pytest
import torch

from projects.prompthub.models.necks import (LocalityPrior, gaussian_weights,
                                             laplacian_weights,
                                             locality_tables)


def _table(table, r, c):
    """The 7x7 key map of the query centre (r, c)."""
    return table[7 * r + c].view(7, 7)


def _separable_norm(weight_1d, r, c):
    """Normalised separable kernel from explicit 1-D sums (by hand)."""
    rows = [weight_1d(abs(i - r)) for i in range(7)]
    cols = [weight_1d(abs(j - c)) for j in range(7)]
    total = sum(rows) * sum(cols)
    return torch.tensor([[a * b / total for b in cols] for a in rows],
                        dtype=torch.float64)


# docs/method.md section 6.4 (verified against the reference): centre /
# 4-neighbour /
# diagonal weights for interior (3,3), edge (0,3) and corner (0,0) centres.
SPEC_VALUES = {
    0.65: [(.3763, .1152, .0353), (.4665, .1429, .0437),
           (.5783, .1771, .0542)],
    0.5: [(.6187, .0837, .0113), (.6926, .0937, .0127), (.7753, .1049, .0142)],
}


@pytest.mark.parametrize('sigma', [0.65, 0.5])
def test_gaussian_table_matches_spec(sigma):
    table, cut = locality_tables('gaussian', sigma)
    for (r, c), (nbr_r,
                 nbr_c), (dg_r, dg_c), values in zip([(3, 3), (0, 3),
                                                      (0, 0)], [(3, 4), (0, 4),
                                                                (0, 1)],
                                                     [(4, 4), (1, 4), (1, 1)],
                                                     SPEC_VALUES[sigma]):
        g = _table(table, r, c)
        got = (g[r, c].item(), g[nbr_r, nbr_c].item(), g[dg_r, dg_c].item())
        assert got == pytest.approx(values, abs=5e-5)
    kept = (cut == 0).sum(dim=1).view(7, 7)
    # interior 3x3 window, edge 2x3, corner 2x2
    assert kept[3, 3] == 9 and kept[0, 3] == 6 and kept[0, 0] == 4
    assert kept[1:6, 1:6].eq(9).all()
    assert kept[0, 1:6].eq(6).all() and kept[1:6, 6].eq(6).all()
    assert kept[6, 6] == 4 and kept[0, 6] == 4


def test_gaussian_table_sigma_2_5():
    table, cut = locality_tables('gaussian', 2.5)
    kept = (cut == 0).sum(dim=1).view(7, 7)
    assert kept[3, 3] == 45
    assert kept[0, 0] == kept[6, 6] == kept[0, 6] == 26
    # kept weights are in (0.01, max]; max .036 interior, .053 edge, .077
    # corner (docs/method.md, section 6.4)
    for (r, c), top in [((3, 3), .036), ((0, 3), .053), ((0, 0), .077)]:
        g = _table(table, r, c)
        kept_g = g[_table(cut, r, c) == 0]
        assert kept_g.min() > 0.01
        assert kept_g.max().item() == pytest.approx(top, abs=5e-4)


@pytest.mark.parametrize('sigma', [0.5, 0.65, 1.3, 2.5])
def test_gaussian_table_hand_formula_and_cut(sigma):
    table, cut = locality_tables('gaussian', sigma)

    def w(d):
        return math.exp(-d * d / (2 * sigma * sigma))

    for r, c in [(0, 0), (0, 3), (2, 5), (3, 3), (6, 1)]:
        expected = _separable_norm(w, r, c)
        kept = expected > 0.01
        assert torch.equal(_table(cut, r, c) == 0, kept)
        torch.testing.assert_close(
            _table(table, r, c), torch.where(kept, expected, 0.))
        assert _table(cut, r, c)[~kept].eq(-1e7).all()
    # unnormalised rows of the full kernel sum to one
    full = gaussian_weights(sigma)
    torch.testing.assert_close(full.sum(1), torch.ones(49, dtype=full.dtype))


def test_cut_is_inclusive_at_threshold():
    # For sigma 0.65 the interior diagonal weight is .0353: a threshold
    # exactly at it must cut it (<=), one just below must keep it.
    g = gaussian_weights(0.65)
    diag = g[7 * 3 + 3, 7 * 4 + 4].item()
    _, cut_at = locality_tables('gaussian', 0.65, cut_threshold=diag)
    _, cut_below = locality_tables('gaussian', 0.65, cut_threshold=diag - 1e-9)
    assert cut_at[24, 32] == -1e7
    assert cut_below[24, 32] == 0


def test_laplacian_table_weights_laplace_cut_gaussian():
    b = 0.65
    table, cut = locality_tables('laplacian', b)
    _, gauss_cut = locality_tables('gaussian', b)
    assert torch.equal(cut, gauss_cut)

    def w(d):
        return math.exp(-d / b)

    for r, c in [(0, 0), (3, 3), (1, 6)]:
        expected = _separable_norm(w, r, c)
        kept = _table(cut, r, c) == 0
        torch.testing.assert_close(
            _table(table, r, c), torch.where(kept, expected, 0.))
    torch.testing.assert_close(
        laplacian_weights(b).sum(1), torch.ones(49, dtype=torch.float64))


def test_patchwise_table():
    table, cut = locality_tables('patchwise', 0.65)
    assert torch.equal(table, torch.eye(49, dtype=table.dtype))
    assert cut.diagonal().eq(0).all()
    assert (cut == -1e7).sum() == 49 * 48


def test_per_sample_sigma_tables_and_gradient():
    sigma = torch.tensor([0.5, 0.65], dtype=torch.float64, requires_grad=True)
    table, cut = locality_tables('gaussian', sigma)
    assert table.shape == cut.shape == (2, 49, 49)
    for i, s in enumerate([0.5, 0.65]):
        ref_table, ref_cut = locality_tables('gaussian', s)
        torch.testing.assert_close(table[i].detach(), ref_table)
        assert torch.equal(cut[i], ref_cut)
    table[:, 24, 24].sum().backward()
    # the centre weight shrinks as sigma grows
    assert (sigma.grad < 0).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match='locality'):
        LocalityPrior('cosine', 8)
    with pytest.raises(ValueError, match='sigma'):
        LocalityPrior('gaussian', 8, sigma=0)
    with pytest.raises(ValueError, match='cut_threshold'):
        LocalityPrior('gaussian', 8, cut_threshold=1.5)
    with pytest.raises(ValueError, match='kind'):
        locality_tables('global', 0.65)


def test_prior_buffers_not_in_state_dict():
    prior = LocalityPrior('gaussian', 8, sigma=0.65)
    assert dict(prior.state_dict()) == {}
    assert list(prior.parameters()) == []
    table, cut = prior(torch.zeros(1, 49, 8))
    ref_table, ref_cut = locality_tables('gaussian', 0.65)
    torch.testing.assert_close(table, ref_table.float())
    assert torch.equal(cut, ref_cut.float())
    assert LocalityPrior('global', 8)(torch.zeros(1, 49, 8)) is None


def test_learnable_priors_start_at_sigma():
    query = torch.randn(3, 49, 8)
    fixed_table, fixed_cut = locality_tables('gaussian', 0.65)
    learnable = LocalityPrior('learnable', 8, sigma=0.65)
    assert set(dict(learnable.named_parameters())) == {'log_sigma'}
    table, cut = learnable(query)
    torch.testing.assert_close(table.double(), fixed_table, atol=1e-6, rtol=0)
    assert torch.equal(cut.double(), fixed_cut)
    adaptive = LocalityPrior('query_adaptive', 8, sigma=0.65)
    assert set(dict(adaptive.named_parameters())) == {
        'sigma_head.weight', 'sigma_head.bias'
    }
    table, cut = adaptive(query)
    assert table.shape == (3, 49, 49)
    torch.testing.assert_close(
        table.double(), fixed_table.expand(3, 49, 49), atol=1e-6, rtol=0)
    # sigma now depends on the query through the head
    with torch.no_grad():
        adaptive.sigma_head.weight.fill_(0.1)
    sigmas = adaptive.current_sigma(query)
    expected = 0.65 * torch.exp(0.1 * query.mean(1).sum(1))
    torch.testing.assert_close(sigmas, expected)
