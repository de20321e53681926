import pytest
import torch

from projects.hgprompt.engine import HGPCGradOptimWrapper, pcgrad


def test_pcgrad_hand_computed_two_gradients():
    # conflicting: g1 . g2 = -1 < 0
    g1, g2 = torch.tensor([1., 0.]), torch.tensor([-1., 1.])
    # g1 - (g1.g2)/|g2|^2 g2 = [1, 0] + 0.5 [-1, 1] = [0.5, 0.5]
    # g2 - (g2.g1)/|g1|^2 g1 = [-1, 1] + 1 [1, 0] = [0, 1]
    out = pcgrad(torch.stack([g1, g2]))
    assert torch.allclose(out, torch.tensor([0.5, 1.5]))
    # each projected gradient is orthogonal to the other original one
    assert torch.allclose(
        pcgrad(torch.stack([g1, g2]), reduction='mean'),
        torch.tensor([0.25, 0.75]))
    # non-conflicting (g1 . g3 = 1 > 0): untouched, plain sum
    g3 = torch.tensor([1., 1.])
    assert torch.equal(pcgrad(torch.stack([g1, g3])), g1 + g3)
    # orthogonal is not a conflict either
    g4 = torch.tensor([0., 2.])
    assert torch.equal(pcgrad(torch.stack([g1, g4])), g1 + g4)
    with pytest.raises(ValueError):
        pcgrad(g1)


def test_pcgrad_projection_removes_the_conflict_for_k3():
    grads = torch.tensor([[1., 0., 0.], [-1., 1., 0.], [0., -1., 1.]])
    out = pcgrad(grads, torch.Generator().manual_seed(0))
    # without conflicts PCGrad is the plain sum; here it is not
    assert not torch.allclose(out, grads.sum(0))
    # the combined step does not increase any task's loss to first order
    assert torch.all(grads @ out >= -1e-6)


def test_optim_wrapper_applies_pcgrad_and_keeps_plain_losses():
    param = torch.nn.Parameter(torch.zeros(2))
    wrapper = HGPCGradOptimWrapper(optimizer=torch.optim.SGD([param], lr=1.0))
    # L1 = x0 (grad [1, 0]); L2 = -x0 + x1 (grad [-1, 1]); shared = 2 x1
    tasks = [param[0], -param[0] + param[1]]
    wrapper.update_params(dict(shared=2 * param[1], tasks=tasks))
    # step = -(pcgrad [0.5, 1.5] + shared grad [0, 2])
    assert torch.allclose(param.detach(), torch.tensor([-0.5, -3.5]))
    assert wrapper.num_conflicts == 1
    assert param.grad is None or torch.all(param.grad == 0)
    # plain scalar loss: ordinary OptimWrapper behaviour
    wrapper.update_params((param * torch.tensor([1., -1.])).sum())
    assert torch.allclose(param.detach(), torch.tensor([-1.5, -2.5]))
