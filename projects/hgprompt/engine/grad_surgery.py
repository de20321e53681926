"""PCGrad gradient surgery over per-source losses (a GAR alternative).

PCGrad (Yu et al., NeurIPS 2020), as in LibMTL ``weighting/PCGrad.py``:
for every task i, in a random order over the tasks j, if the (projected)
gradient of i conflicts with the *original* gradient of j
(``g_i . g_j < 0``) it is projected onto the normal plane of g_j,
``g_i <- g_i - (g_i . g_j) / ||g_j||^2 g_j``; the projected gradients
are then summed. Non-conflicting gradients are left untouched.
"""
from typing import Dict, Optional, Sequence, Union

import torch
from mmengine.optim import OptimWrapper
from torch import Tensor

from projects.hgprompt.registry import OPTIM_WRAPPERS


def pcgrad(grads: Tensor,
           generator: Optional[torch.Generator] = None,
           reduction: str = 'sum',
           eps: float = 1e-12) -> Tensor:
    """Combine per-task gradients with PCGrad.

    Args:
        grads (Tensor): ``[K, P]`` flat per-task gradients.
        generator (torch.Generator, optional): Source of the random
            projection order (the order matters only for K > 2).
        reduction (str): ``'sum'`` (PCGrad) or ``'mean'``.
        eps (float): Guards the division by ``||g_j||^2``.

    Returns:
        Tensor: ``[P]`` combined gradient.
    """
    if grads.dim() != 2:
        raise ValueError(f'grads must be [K, P], got {tuple(grads.shape)}')
    if reduction not in ('sum', 'mean'):
        raise ValueError(f"reduction must be 'sum' or 'mean', got "
                         f'{reduction!r}')
    num = grads.shape[0]
    sq_norms = grads.pow(2).sum(-1)
    projected = grads.clone()
    for i in range(num):
        for j in torch.randperm(num, generator=generator).tolist():
            if j == i or sq_norms[j] <= eps:
                continue
            dot = projected[i] @ grads[j]
            if dot < 0:
                projected[i] = projected[i] - dot / sq_norms[j] * grads[j]
    out = projected.sum(0)
    return out / num if reduction == 'mean' else out


@OPTIM_WRAPPERS.register_module()
class HGPCGradOptimWrapper(OptimWrapper):
    """Optimizer wrapper that applies PCGrad to a list of task losses.

    :meth:`update_params` accepts either a scalar loss (plain
    ``OptimWrapper`` behaviour) or a dict ``{'shared': scalar,
    'tasks': [L_1, ..., L_K]}``. In the second form the gradient of every
    task loss over the trainable parameters of the optimizer is taken
    separately (``torch.autograd.grad``), the K flat gradients are
    combined by :func:`pcgrad`, the gradient of ``shared`` (terms common
    to all tasks, e.g. the H-score) is added unchanged, and one optimizer
    step is taken. ``HGPromptClassifier(grad_surgery='pcgrad')`` produces
    that dict in stage A (one loss per source prompt).

    Gradient accumulation and AMP loss scaling are not supported in the
    task-list form (a clear error is raised for accumulation).

    Args:
        reduction (str): ``'sum'`` or ``'mean'`` of the projected task
            gradients. Defaults to ``'sum'``.
        seed (int): Seed of the projection-order generator.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ...).
    """

    accepts_task_losses = True

    def __init__(self, reduction: str = 'sum', seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.reduction = reduction
        self.generator = torch.Generator().manual_seed(seed)
        self.num_conflicts = 0

    def _trainable(self) -> list:
        return [
            p for group in self.optimizer.param_groups for p in group['params']
            if p.requires_grad
        ]

    def update_params(  # type: ignore[override]
            self,
            loss: Union[Tensor, Dict[str, Union[Tensor, Sequence[Tensor]]]],
            step_kwargs: Optional[Dict] = None,
            zero_kwargs: Optional[Dict] = None) -> None:
        """Backward (with PCGrad for a task list), step and zero grads."""
        if not isinstance(loss, dict):
            super().update_params(loss, step_kwargs, zero_kwargs)
            return
        if self._accumulative_counts != 1:
            raise NotImplementedError(
                'HGPCGradOptimWrapper does not support accumulative_counts')
        tasks = list(loss['tasks'])
        shared = loss.get('shared')
        params = self._trainable()
        flat = []
        for task_loss in tasks:
            grads = torch.autograd.grad(
                task_loss, params, retain_graph=True, allow_unused=True)
            flat.append(
                torch.cat([
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(params, grads)
                ]))
        stacked = torch.stack(flat)
        dots = stacked @ stacked.T
        self.num_conflicts = int((dots < 0).triu(1).sum())
        combined = pcgrad(stacked, self.generator, self.reduction)
        if shared is not None and shared.requires_grad:
            shared.backward()
        offset = 0
        for param in params:
            numel = param.numel()
            part = combined[offset:offset + numel].view_as(param)
            param.grad = part.clone() if param.grad is None else (param.grad +
                                                                  part)
            offset += numel
        self._inner_count += 1
        self.step(**(step_kwargs or {}))
        self.zero_grad(**(zero_kwargs or {}))
