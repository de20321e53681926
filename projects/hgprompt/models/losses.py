"""Transferability (H-score) and gradient-alignment losses of HGPrompt."""
from itertools import combinations
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from projects.hgprompt.registry import MODELS
from projects.prompthub.utils.validation import check_choice

H_ESTIMATORS = ('shrinkage', 'ridge', 'trace_ratio', 'pinv')


def _class_scatter(feats: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
    """Covariances of centred features and of their class means.

    Returns ``(cov_f, cov_g)`` with the 1/(n-1) convention:
    ``cov_g = sum_c n_c / (n - 1) mu_c mu_c^T`` on centred features.
    """
    n = feats.shape[0]
    feats = feats - feats.mean(0, keepdim=True)
    cov_f = feats.T @ feats / (n - 1)
    classes, inverse = torch.unique(labels, return_inverse=True)
    onehot = F.one_hot(inverse, len(classes)).to(feats.dtype)  # [n, C]
    counts = onehot.sum(0)
    means = (onehot.T @ feats) / counts[:, None]  # [C, d]
    cov_g = (means.T * (counts / (n - 1))) @ means
    return cov_f, cov_g


def h_score(feats: Tensor,
            labels: Tensor,
            estimator: str = 'shrinkage',
            alpha: float = 0.5,
            eps: float = 1e-3,
            standardize: bool = False) -> Tensor:
    """H-score ``tr(cov(f)^-1 cov(E[f|y]))`` (Bao et al. 2019).

    Args:
        feats (Tensor): ``[n, d]`` features.
        labels (Tensor): ``[n]`` integer labels.
        estimator (str): ``'pinv'`` (exact Bao form; saturates at C - 1
            whenever n <= d + 1, use only with n >> d), ``'shrinkage'``
            (``cov_a = (1 - a) cov_f + a tr(cov_f)/d I`` and
            ``tr(cov_a^-1 (1 - a) cov_g)``), ``'ridge'``
            (``cov_f + eps tr(cov_f)/d I``) or ``'trace_ratio'``
            (``tr(cov_g) / tr(cov_f)``, what H-ensemble's code optimises).
        alpha (float): Shrinkage intensity in [0, 1].
        eps (float): Relative ridge.
        standardize (bool): z-score each feature dimension first.

    Returns:
        Tensor: A scalar.
    """
    check_choice(estimator, 'estimator', H_ESTIMATORS, 'h_score')
    if feats.dim() != 2 or feats.shape[0] != labels.shape[0]:
        raise ValueError('feats must be [n, d] with n labels, got '
                         f'{tuple(feats.shape)} and {tuple(labels.shape)}')
    if feats.shape[0] < 2:
        raise ValueError('The H-score needs at least 2 samples.')
    if standardize:
        std = feats.std(0, keepdim=True).clamp_min(1e-6)
        feats = (feats - feats.mean(0, keepdim=True)) / std
    cov_f, cov_g = _class_scatter(feats, labels)
    dim = cov_f.shape[0]
    eye = torch.eye(dim, dtype=cov_f.dtype, device=cov_f.device)
    mean_var = torch.diagonal(cov_f).sum() / dim
    if estimator == 'trace_ratio':
        return torch.diagonal(cov_g).sum() / torch.diagonal(cov_f).sum()
    if estimator == 'pinv':
        return torch.diagonal(
            torch.linalg.pinv(cov_f, hermitian=True) @ cov_g).sum()
    if estimator == 'shrinkage':
        reg = (1 - alpha) * cov_f + alpha * mean_var * eye
        target = (1 - alpha) * cov_g
    else:
        reg = cov_f + eps * mean_var * eye
        target = cov_g
    return torch.diagonal(torch.linalg.solve(reg, target)).sum()


@MODELS.register_module()
class HGHScoreLoss(nn.Module):
    """Negative regularised H-score with a FIFO feature bank.

    On a mini-batch (n <= d + 1) the plain H-score equals C - 1 for any
    features, so the loss keeps the last ``bank_size`` detached features
    and labels and scores the current batch together with them; the
    gradient flows only through the current batch's rows.

    Args:
        estimator (str): See :func:`h_score`. Defaults to ``'shrinkage'``.
        alpha (float): Shrinkage intensity. Defaults to 0.5.
        eps (float): Relative ridge for ``'ridge'``. Defaults to 1e-3.
        standardize (bool): z-score features first. Defaults to True.
        bank_size (int): Bank capacity M; 0 disables the bank.
        loss_weight (float): lambda_H. Defaults to 1.0.
        loss_name (str): Defaults to ``'loss_h'``.
    """

    def __init__(self,
                 estimator: str = 'shrinkage',
                 alpha: float = 0.5,
                 eps: float = 1e-3,
                 standardize: bool = True,
                 bank_size: int = 512,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_h') -> None:
        super().__init__()
        check_choice(estimator, 'estimator', H_ESTIMATORS, type(self).__name__)
        self.estimator = estimator
        self.alpha = alpha
        self.eps = eps
        self.standardize = standardize
        self.bank_size = bank_size
        self.loss_weight = loss_weight
        self._loss_name = loss_name
        self.bank_feats: Optional[Tensor] = None
        self.bank_labels: Optional[Tensor] = None

    @property
    def loss_name(self) -> str:
        """Name of the term in the loss dict."""
        return self._loss_name

    def reset_bank(self) -> None:
        """Empty the feature bank."""
        self.bank_feats = None
        self.bank_labels = None

    def score(self, feats: Tensor, labels: Tensor) -> Tensor:
        """H-score of the batch together with the bank (no enqueue)."""
        if self.bank_feats is not None:
            feats = torch.cat([feats, self.bank_feats.to(feats)])
            labels = torch.cat([labels, self.bank_labels.to(labels.device)])
        return h_score(feats, labels, self.estimator, self.alpha, self.eps,
                       self.standardize)

    def enqueue(self, feats: Tensor, labels: Tensor) -> None:
        """Push detached features to the front of the bank (FIFO)."""
        if self.bank_size <= 0:
            return
        feats, labels = feats.detach(), labels.detach()
        if self.bank_feats is not None:
            feats = torch.cat([feats, self.bank_feats])
            labels = torch.cat([labels, self.bank_labels])
        self.bank_feats = feats[:self.bank_size]
        self.bank_labels = labels[:self.bank_size]

    def forward(self, feats: Tensor, labels: Tensor) -> Tensor:
        """Return ``-loss_weight * H`` and update the bank."""
        score = self.score(feats, labels)
        if self.training:
            self.enqueue(feats, labels)
        return -self.loss_weight * score


def per_sample_head_grads(feats: Tensor,
                          labels: Tensor,
                          weight: Tensor,
                          bias: Optional[Tensor] = None,
                          wrt: str = 'head') -> Tensor:
    """Closed-form per-sample gradients of CE through a linear head.

    With ``p = softmax(W z + b)``: dL/dW = (p - e_y) z^T, dL/db = p - e_y,
    dL/dz = W^T (p - e_y).

    Args:
        feats (Tensor): ``[..., n, d]`` features.
        labels (Tensor): ``[n]`` labels.
        weight (Tensor): ``[C, d]`` head weight (used detached).
        bias (Tensor, optional): ``[C]`` head bias.
        wrt (str): ``'head'`` (W and b flattened, ``C * (d + 1)``) or
            ``'feature'`` (``d``).

    Returns:
        Tensor: ``[..., n, P]`` gradients.
    """
    weight = weight.detach()
    logits = feats @ weight.T
    if bias is not None:
        logits = logits + bias.detach()
    err = logits.softmax(-1) - F.one_hot(labels, weight.shape[0]).to(logits)
    if wrt == 'feature':
        return err @ weight
    if wrt != 'head':
        raise ValueError(f"wrt must be 'head' or 'feature', got {wrt!r}")
    grad_w = (err.unsqueeze(-1) * feats.unsqueeze(-2)).flatten(-2)
    parts = [grad_w, err] if bias is not None else [grad_w]
    return torch.cat(parts, dim=-1)


def gar_cos(grads: Tensor, weights: Tensor, conflict: str = 'hinge') -> Tensor:
    """Conflict-weighted cosine regulariser over sources.

    ``R = sum_{i<j} w_i w_j c(cos(m_i, m_j))`` with ``c = max(0, -cos)``
    (``'hinge'``) or ``(1 - cos) / 2`` (``'one_minus_cos'``).

    Args:
        grads (Tensor): ``[K, P]`` per-source mean gradients m_k.
        weights (Tensor): ``[K]`` ensemble weights.
        conflict (str): Conflict function.
    """
    normed = F.normalize(grads, dim=-1)
    cos = normed @ normed.T
    if conflict == 'hinge':
        pen = (-cos).clamp_min(0)
    elif conflict == 'one_minus_cos':
        pen = (1 - cos) / 2
    else:
        raise ValueError(f'Unknown conflict {conflict!r}')
    total = weights.new_zeros(())
    for i, j in combinations(range(grads.shape[0]), 2):
        total = total + weights[i] * weights[j] * pen[i, j]
    return total


def gar_var(variances: Tensor,
            weights: Tensor,
            reference: Optional[Tensor] = None) -> Tensor:
    """Fishr-style gradient-variance matching over sources.

    ``R = sum_k w_k ||v_k - v_ref||^2`` with ``v_ref = sum_k w_k v_k``
    (default) or a given reference (the composite prompt's variance).

    Args:
        variances (Tensor): ``[K, P]`` per-source gradient variances.
        weights (Tensor): ``[K]`` ensemble weights.
        reference (Tensor, optional): ``[P]`` reference variance.
    """
    if reference is None:
        reference = (weights[:, None] * variances).sum(0)
    sq = (variances - reference).pow(2).sum(-1)
    return (weights * sq).sum()


#: How the moving average of the gradient variances is corrected.
EMA_CORRECTIONS = ('bias', 'fishr')


@MODELS.register_module()
class HGGradAlignLoss(nn.Module):
    """Gradient-alignment regulariser (GAR) over the source prompts.

    For each source k the per-sample CE gradients of the (detached) linear
    head on the source features ``z(x; P_k)`` are computed in closed form.

    - ``gar_type='var'``: v_k is the per-coordinate variance of those
      gradients over the batch, smoothed over steps by an exponential
      moving average, and the loss is :func:`gar_var`.
    - ``gar_type='cos'``: m_k is the batch-mean gradient and the loss is
      :func:`gar_cos`.

    What the term depends on: the source features are frozen (cached) and
    the head is detached, so at each step v_k and m_k are constants and R
    is a fixed quadratic in w; for ``'var'``,
    ``R(w) = sum_k w_k ||v_k||^2 - ||sum_k w_k v_k||^2`` (concave: it
    favours putting the weight on sources whose gradient variances agree).
    Across steps v_k and m_k change only with the head, which stage A
    trains by cross-entropy, and with the batch. ``var_ref='composite'``
    instead takes the reference from the composite prompt's features,
    which depend on w through the ViT.

    Args:
        gar_type (str): ``'var'`` or ``'cos'``. Defaults to ``'var'``.
        grad_wrt (str): ``'head'`` or ``'feature'``.
        ema (float): EMA factor beta of the variances (``'var'``). 0
            disables the average.
        ema_correction (str): ``'bias'`` (default): divide the average by
            ``1 - beta^t`` (Adam's bias correction), so it is a weighted
            mean of the batch variances from the first step on.
            ``'fishr'``: divide by the constant ``1 - beta`` as Fishr's
            ``MovingAverage`` does, i.e. a sum of the past variances
            weighted ``beta^(t-s)``, about ``1 / (1 - beta)`` times the
            variance once warm (R then scales by its square).
        conflict (str): ``'hinge'`` or ``'one_minus_cos'`` (``'cos'``).
        var_ref (str): ``'mean'`` (w-weighted mean of the sources) or
            ``'composite'`` (the composite prompt's variance).
        loss_weight (float): lambda_G. Defaults to 1.0.
        loss_name (str): Defaults to ``'loss_gar'``.
    """

    def __init__(self,
                 gar_type: str = 'var',
                 grad_wrt: str = 'head',
                 ema: float = 0.95,
                 ema_correction: str = 'bias',
                 conflict: str = 'hinge',
                 var_ref: str = 'mean',
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_gar') -> None:
        super().__init__()
        owner = type(self).__name__
        check_choice(gar_type, 'gar_type', ('var', 'cos'), owner)
        check_choice(var_ref, 'var_ref', ('mean', 'composite'), owner)
        check_choice(ema_correction, 'ema_correction', EMA_CORRECTIONS, owner)
        self.gar_type = gar_type
        self.grad_wrt = grad_wrt
        self.ema = ema
        self.ema_correction = ema_correction
        self.conflict = conflict
        self.var_ref = var_ref
        self.loss_weight = loss_weight
        self._loss_name = loss_name
        self.ema_var: Optional[Tensor] = None
        self.num_updates = 0

    @property
    def loss_name(self) -> str:
        """Name of the term in the loss dict."""
        return self._loss_name

    def _smooth(self, var: Tensor) -> Tensor:
        """Moving average of detached variances (see ``ema_correction``)."""
        if self.ema <= 0 or not self.training:
            return var
        if self.ema_var is None or self.ema_var.shape != var.shape:
            self.ema_var = torch.zeros_like(var.detach())
            self.num_updates = 0
        self.ema_var = (
            self.ema * self.ema_var + (1 - self.ema) * var.detach())
        self.num_updates += 1
        if self.ema_correction == 'fishr':
            return self.ema_var / (1 - self.ema)
        return self.ema_var / (1 - self.ema**self.num_updates)

    def forward(self,
                source_feats: Tensor,
                labels: Tensor,
                weights: Tensor,
                head: nn.Linear,
                composite_feats: Optional[Tensor] = None) -> Tensor:
        """Compute ``loss_weight * R(w)``.

        Args:
            source_feats (Tensor): ``[K, n, d]`` (frozen) source features.
            labels (Tensor): ``[n]`` labels.
            weights (Tensor): ``[K]`` ensemble weights (with grad).
            head (nn.Linear): The classification head (used detached).
            composite_feats (Tensor, optional): ``[n, d]`` composite
                features, needed for ``var_ref='composite'``.
        """
        grads = per_sample_head_grads(source_feats, labels, head.weight,
                                      head.bias, self.grad_wrt)
        if self.gar_type == 'cos':
            return self.loss_weight * gar_cos(
                grads.mean(1), weights, self.conflict)
        var = grads.var(1, unbiased=False)
        var = self._smooth(var)
        reference = None
        if self.var_ref == 'composite':
            if composite_feats is None:
                raise ValueError("var_ref='composite' needs the composite "
                                 'features.')
            reference = per_sample_head_grads(composite_feats, labels,
                                              head.weight, head.bias,
                                              self.grad_wrt).var(
                                                  0, unbiased=False)
        return self.loss_weight * gar_var(var, weights, reference)
