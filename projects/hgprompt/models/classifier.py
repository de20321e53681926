"""HGPrompt classifier: VPT target tuning and learned prompt ensembles."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from projects.hgprompt.registry import MODELS
from projects.prompthub.utils.distributed import require_single_process
from projects.prompthub.utils.validation import check_choice
from .prompt_bank import load_prompt, load_prompt_bank

INIT_MODES = ('random', 'uniform', 'source', 'file', 'ensemble', 'none')


@MODELS.register_module()
class HGPromptClassifier(BaseModel):
    """Linear classifier on a frozen prompted ViT (VPT and HGPrompt).

    ``init`` selects the method:

    - ``'random'``: plain VPT, the target prompt starts from VPT's init;
    - ``'uniform'``: the target prompt starts from the mean of the K
      source prompts (static aggregation);
    - ``'source'``: it starts from one source (``source_name`` or
      ``source_index``; SPoT-style best single source);
    - ``'file'``: it starts from ``init_prompt`` (a prompt file);
    - ``'ensemble'``: HGPrompt. Stage A learns ensemble weights w on the
      simplex over the sources (``P(w) = sum_k w_k P_k``) by maximising a
      regularised H-score of ``z(x; P(w))`` (``loss_h``) plus a
      gradient-alignment regulariser over the sources (``loss_gar``);
      the head is trained on detached features (``stage_a_ce_weight``)
      and only serves the gradient statistics. :meth:`switch_to_stage_b`
      (called by ``HGPromptStageHook``) copies P(w*) into the target
      prompt, freezes w and trains the prompt and a fresh head with
      cross-entropy (stage B);
    - ``'none'``: no prompt (linear probe, or full training when the
      backbone is not frozen, e.g. to pretrain a tiny backbone).

    Args:
        backbone (dict): ``VPTPromptedViT`` config.
        num_classes (int): Target classes.
        source_prompts (str | list[str], optional): Prompt bank files or
            a directory (see ``prompt_bank.py``).
        target_task (str, optional): The target's task name. The bank's
            prompt of this task is left out (leave-one-out: it was trained
            on the target's images); ``HGSourceOverlapHook`` also checks
            the folders the sources were trained on.
        sources (list[str], optional): Task names of the bank to use as
            sources, in this order; default: every prompt of the bank
            except the target's.
        init (str): One of ``INIT_MODES``. Defaults to ``'random'``.
        source_name (str, optional): Source for ``init='source'``.
        source_index (int, optional): Source index for ``init='source'``.
        init_prompt (str, optional): Prompt file for ``init='file'``.
        weight_param (str): ``'softmax'`` (simplex, uniform at init) or
            ``'affine'`` (K - 1 free weights, the last is 1 - sum).
        per_layer_weights (bool): One weight vector per prompted layer.
        temperature (float): Softmax temperature tau.
        loss_h (dict): ``HGHScoreLoss`` config (lambda_H in it).
        loss_gar (dict): ``HGGradAlignLoss`` config (lambda_G in it).
        stage_a_ce_weight (float): CE weight of the head on detached
            composite features in stage A.
        stage_b_h_weight (float): Optional H-score term in stage B.
        grad_surgery (str, optional): ``'pcgrad'``: stage A also has one
            loss per source, ``w_k * CE(head(z(x; P_k)), y)`` (the
            w-weighted target loss of each source prompt under the shared
            head), and :meth:`train_step` hands them to the optimizer
            wrapper as a task list, which must be ``HGPCGradOptimWrapper``
            (PCGrad over the sources on the shared weights and head; the
            other terms are added unchanged). Usually with lambda_G = 0,
            i.e. surgery instead of the alignment regulariser.
        cache_source_features (bool): Cache the frozen source features
            per sample (exact without augmentation).
        data_preprocessor (dict, optional): Defaults to an
            ``ImgDataPreprocessor`` with ImageNet mean/std.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 backbone: dict,
                 num_classes: int,
                 source_prompts: Optional[Union[str, Sequence[str]]] = None,
                 target_task: Optional[str] = None,
                 sources: Optional[Sequence[str]] = None,
                 init: str = 'random',
                 source_name: Optional[str] = None,
                 source_index: Optional[int] = None,
                 init_prompt: Optional[str] = None,
                 weight_param: str = 'softmax',
                 per_layer_weights: bool = False,
                 temperature: float = 1.0,
                 loss_h: dict = dict(type='HGHScoreLoss'),
                 loss_gar: dict = dict(type='HGGradAlignLoss'),
                 stage_a_ce_weight: float = 1.0,
                 stage_b_h_weight: float = 0.0,
                 grad_surgery: Optional[str] = None,
                 cache_source_features: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='ImgDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375])
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        owner = type(self).__name__
        check_choice(init, 'init', INIT_MODES, owner)
        check_choice(grad_surgery, 'grad_surgery', (None, 'pcgrad'), owner)
        check_choice(weight_param, 'weight_param', ('softmax', 'affine'),
                     owner)
        self.backbone = MODELS.build(backbone)
        self.init_mode = init
        self.num_classes = num_classes
        self.weight_param = weight_param
        self.per_layer_weights = per_layer_weights
        self.temperature = temperature
        self.stage_a_ce_weight = stage_a_ce_weight
        self.stage_b_h_weight = stage_b_h_weight
        self.grad_surgery = grad_surgery
        self.cache_source_features = cache_source_features
        self._feature_cache: Dict[int, Tensor] = {}
        self.head = nn.Linear(self.backbone.embed_dim, num_classes)
        self.loss_h = MODELS.build(loss_h)
        self.loss_gar = MODELS.build(loss_gar)

        self.target_task = target_task
        self.source_names: List[str] = []
        # Metadata of each source prompt (file, task, training data_root).
        self.source_meta: List[dict] = []
        if source_prompts is not None:
            bank, self.source_names, self.source_meta = load_prompt_bank(
                source_prompts,
                *self.backbone.prompt_shape,
                target_task=target_task,
                sources=sources,
                return_meta=True)
            self.register_buffer('source_prompts', bank)
        else:
            self.source_prompts = None
        needs_bank = init in ('uniform', 'source', 'ensemble')
        if needs_bank and self.source_prompts is None:
            raise ValueError(f"init='{init}' needs source_prompts.")

        self.target_prompt: Optional[nn.Parameter] = None
        if init != 'none' and self.backbone.prompt_length > 0:
            self.target_prompt = nn.Parameter(
                self._initial_prompt(init, source_name, source_index,
                                     init_prompt))
        self.weight_logits: Optional[nn.Parameter] = None
        # 0: stage A (ensemble weights), 1: stage B (target prompt + head).
        self.register_buffer('stage_flag', torch.tensor(0))
        if init == 'ensemble':
            num_sources = self.source_prompts.shape[0]
            free = num_sources - 1 if weight_param == 'affine' else (
                num_sources)
            shape = ((self.backbone.num_prompt_layers,
                      free) if per_layer_weights else (free, ))
            init_val = 1.0 / num_sources if weight_param == 'affine' else 0.
            self.weight_logits = nn.Parameter(torch.full(shape, init_val))
            self.target_prompt.requires_grad_(False)
        else:
            self.stage_flag.fill_(1)

    # ------------------------------------------------------------------
    # prompts and ensemble weights
    def _initial_prompt(self, init: str, source_name: Optional[str],
                        source_index: Optional[int],
                        init_prompt: Optional[str]) -> Tensor:
        if init == 'uniform':
            return self.source_prompts.mean(0).clone()
        if init == 'source':
            if source_name is not None:
                if source_name not in self.source_names:
                    raise ValueError(f'Unknown source {source_name!r}; the '
                                     f'bank has {self.source_names}.')
                source_index = self.source_names.index(source_name)
            if source_index is None:
                raise ValueError("init='source' needs source_name or "
                                 'source_index.')
            return self.source_prompts[source_index].clone()
        if init == 'file':
            if init_prompt is None:
                raise ValueError("init='file' needs init_prompt.")
            prompt, _ = load_prompt(init_prompt)
            if tuple(prompt.shape) != self.backbone.prompt_shape:
                raise ValueError(
                    f'{init_prompt}: shape {tuple(prompt.shape)} != '
                    f'{self.backbone.prompt_shape}.')
            return prompt
        return self.backbone.new_prompt()

    @property
    def stage(self) -> str:
        """``'A'`` (learning ensemble weights) or ``'B'``."""
        return 'B' if int(self.stage_flag) == 1 else 'A'

    def ensemble_weights(self) -> Tensor:
        """Weights ``[K]`` (or ``[D, K]`` per layer); softmax: simplex."""
        if self.weight_logits is None:
            raise RuntimeError('This model has no ensemble weights.')
        logits = self.weight_logits
        if self.weight_param == 'softmax':
            return (logits / self.temperature).softmax(-1)
        last = 1 - logits.sum(-1, keepdim=True)
        return torch.cat([logits, last], dim=-1)

    def composed_prompt(self) -> Tensor:
        """``P(w) = sum_k w_k P_k``, shape ``[D, L, d]``."""
        weights = self.ensemble_weights()
        if weights.dim() == 1:
            return torch.einsum('k,kxyz->xyz', weights, self.source_prompts)
        return torch.einsum('xk,kxyz->xyz', weights, self.source_prompts)

    def current_prompt(self) -> Optional[Tensor]:
        """The prompt used by the forward pass in the current stage."""
        if self.weight_logits is not None and self.stage == 'A':
            return self.composed_prompt()
        return self.target_prompt

    @torch.no_grad()
    def switch_to_stage_b(self, reset_head: bool = True) -> None:
        """Copy P(w*) into the target prompt and unfreeze it."""
        if self.weight_logits is None or self.stage == 'B':
            return
        self.target_prompt.data.copy_(self.composed_prompt())
        self.target_prompt.requires_grad_(True)
        self.weight_logits.requires_grad_(False)
        if reset_head:
            self.head.reset_parameters()
        self.stage_flag.fill_(1)
        self._feature_cache.clear()

    # ------------------------------------------------------------------
    # forward
    @torch.no_grad()
    def source_features(self,
                        inputs: Tensor,
                        data_samples: Optional[list] = None) -> Tensor:
        """Frozen features ``[K, B, d]`` of every source prompt."""
        keys = None
        if (self.cache_source_features and data_samples is not None
                and all('sample_idx' in s for s in data_samples)):
            keys = [int(s.sample_idx) for s in data_samples]
            if all(k in self._feature_cache for k in keys):
                return torch.stack([self._feature_cache[k] for k in keys],
                                   dim=1).to(inputs.device)
        feats = torch.stack(
            [self.backbone(inputs, prompt) for prompt in self.source_prompts])
        if keys is not None:
            for i, key in enumerate(keys):
                self._feature_cache[key] = feats[:, i].detach().cpu()
        return feats

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """CLS features with the current prompt."""
        return self.backbone(inputs, self.current_prompt())

    def _forward(self, inputs: Tensor, data_samples=None) -> Tensor:
        return self.head(self.extract_feat(inputs))

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """Dispatch to ``loss``, ``predict`` or raw logits (``tensor``)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}".')

    def _labels(self, data_samples: list, device) -> Tensor:
        """The batch's labels, checked against the head size."""
        labels = torch.as_tensor([int(s.gt_label) for s in data_samples],
                                 device=device)
        bad = ((labels < 0) | (labels >= self.num_classes)).nonzero()
        if len(bad):
            sample = data_samples[int(bad[0])]
            raise ValueError(
                f'label {int(labels[bad[0]])} of {sample.get("img_path")} '
                f'is outside [0, model.num_classes={self.num_classes}): the '
                'head is too small for this data. Set model.num_classes '
                '(and the datasets\' num_classes) to the task\'s class '
                'count; for VTAB-1k see '
                'projects/hgprompt/datasets/vtab_tasks.py.')
        return labels

    def batch_statistic_terms(self) -> List[str]:
        """The active loss terms that are statistics of the whole batch."""
        if self.weight_logits is None or self.stage == 'B':
            return (['model.stage_b_h_weight (H-score)']
                    if self.stage_b_h_weight > 0 else [])
        terms = []
        if self.loss_h.loss_weight > 0:
            terms.append('model.loss_h (H-score)')
        if self.loss_gar.loss_weight > 0:
            terms.append('model.loss_gar (gradient alignment)')
        if self.grad_surgery is not None:
            # Also: the DDP wrapper's train_step bypasses this model's.
            terms.append(f"model.grad_surgery='{self.grad_surgery}'")
        return terms

    def loss(self, inputs: Tensor, data_samples: list) -> dict:
        """Stage A: H-score + GAR (+ detached-head CE); stage B: CE."""
        require_single_process(
            self.batch_statistic_terms(),
            'Train this HGPrompt stage with one process (python '
            'tools/train.py CONFIG); only its cross-entropy terms train '
            'exactly under DDP.')
        labels = self._labels(data_samples, inputs.device)
        losses = {}
        if self.weight_logits is None or self.stage == 'B':
            feats = self.extract_feat(inputs)
            losses['loss_ce'] = F.cross_entropy(self.head(feats), labels)
            if self.stage_b_h_weight > 0:
                losses['loss_h'] = -self.stage_b_h_weight * self.loss_h.score(
                    feats, labels)
            return losses
        weights = self.ensemble_weights()
        feats = self.backbone(inputs, self.composed_prompt())
        if self.loss_h.loss_weight > 0:
            losses[self.loss_h.loss_name] = self.loss_h(feats, labels)
        if self.loss_gar.loss_weight > 0 or self.grad_surgery is not None:
            # Both per-source terms read the same K source forwards.
            src = self.source_features(inputs, data_samples)
            src_weights = weights if weights.dim() == 1 else weights.mean(0)
        if self.loss_gar.loss_weight > 0:
            losses[self.loss_gar.loss_name] = self.loss_gar(
                src, labels, src_weights, self.head, feats)
        if self.stage_a_ce_weight > 0:
            losses['loss_ce'] = self.stage_a_ce_weight * F.cross_entropy(
                self.head(feats.detach()), labels)
        if self.grad_surgery is not None:
            per_source = torch.stack(
                [F.cross_entropy(self.head(f), labels) for f in src])
            losses['loss_src'] = src_weights * per_source
        flat = weights.detach().reshape(-1, weights.shape[-1]).mean(0)
        losses['w_max'] = flat.max()
        return losses

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper) -> Dict[str, Tensor]:
        """Default step, or a task-list step for ``grad_surgery``.

        In stage A with ``grad_surgery`` the per-source losses
        (``loss_src``, ``[K]``) go to the optimizer wrapper as
        ``{'shared': sum of the other terms, 'tasks': [...]}``.
        """
        if self.grad_surgery is None or self.stage == 'B':
            return super().train_step(data, optim_wrapper)
        if not getattr(optim_wrapper, 'accepts_task_losses', False):
            raise TypeError(f"grad_surgery='{self.grad_surgery}' needs "
                            'optim_wrapper type HGPCGradOptimWrapper, got '
                            f'{type(optim_wrapper).__name__}.')
        with optim_wrapper.optim_context(self):
            data = self.data_preprocessor(data, True)
            losses = self._run_forward(data, mode='loss')
        tasks = losses.pop('loss_src')
        shared, log_vars = self.parse_losses(losses)
        optim_wrapper.update_params(dict(shared=shared, tasks=list(tasks)))
        log_vars['loss_src'] = tasks.sum().detach()
        return log_vars

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[list] = None) -> List[BaseDataElement]:
        """Return data samples with ``pred_score`` and ``pred_label``."""
        scores = self._forward(inputs).softmax(-1)
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(len(scores))]
        for sample, score in zip(data_samples, scores):
            sample.pred_score = score.detach()
            sample.pred_label = score.argmax().detach()
        return data_samples
