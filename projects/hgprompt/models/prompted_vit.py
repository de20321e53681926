"""A frozen timm ViT with VPT-shallow / VPT-deep prompt insertion."""
import math
import os.path as osp
from typing import Optional

import timm
import torch
from mmengine.model import BaseModule
from torch import Tensor

from projects.hgprompt.registry import MODELS
from .torch_file import load_torch_file

#: What load_vit_checkpoint reads, for its error messages.
VIT_FORMATS = (
    "Google's JAX ViT .npz (ViT-B_16.npz, the ImageNet-21k weights the "
    'VPT/NOAH code uses; keys embedding/kernel, Transformer/'
    'encoderblock_<i>/...), a timm/PyTorch state dict .pth (e.g. '
    'vit_base_patch16_224.orig_in21k), or an MMEngine checkpoint of an '
    'HGPromptClassifier')


def load_vit_checkpoint(vit: torch.nn.Module,
                        path: str,
                        prefix: str = 'backbone.vit.') -> None:
    """Load a local checkpoint into a timm ViT (strictly).

    Accepts Google's ``.npz`` (read by timm's own ``.npz`` loader, as
    ``timm.create_model(..., pretrained=True)`` would), a plain
    timm/PyTorch state dict, or an MMEngine checkpoint of an
    :class:`HGPromptClassifier` (its ``state_dict`` keys start with
    ``prefix``, which is stripped). The classification head is never
    loaded.

    Args:
        vit (nn.Module): The timm VisionTransformer.
        path (str): Local file. There is no download, ever.
        prefix (str): Key prefix to strip when present.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is none of the formats, or misses weights
            of this ViT (the message names the file and the formats).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'ViT checkpoint not found: {path}. Weights are only read from '
            f'a local file (no download): {VIT_FORMATS}.')
    if path.endswith('.npz'):
        _load_npz(vit, path)
        return
    state = load_torch_file(path, VIT_FORMATS, 'a PyTorch state dict')
    if isinstance(state, dict) and 'state_dict' in state:
        state = state['state_dict']
    if not isinstance(state, dict):
        raise ValueError(f'{path} holds a {type(state).__name__}, not a '
                         f'state dict; expected {VIT_FORMATS}.')
    if any(k.startswith(prefix) for k in state):
        state = {
            k[len(prefix):]: v
            for k, v in state.items() if k.startswith(prefix)
        }
    own = vit.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith('head.')}
    missing = [k for k in own if k not in state and not k.startswith('head')]
    if missing:
        raise ValueError(f'{path} lacks ViT weights {missing[:5]} ... '
                         f'(expected {VIT_FORMATS}).')
    shapes = [
        f'{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}'
        for k, v in state.items() if k in own and v.shape != own[k].shape
    ]
    if shapes:
        raise ValueError(f'{path} does not fit this ViT (checkpoint vs '
                         f'model shapes: {shapes[:3]}); check '
                         'model.backbone.arch and vit_kwargs.')
    vit.load_state_dict(state, strict=False)


def _load_npz(vit: torch.nn.Module, path: str) -> None:
    """Google's JAX ``.npz`` through timm's loader, with clear errors."""
    if not hasattr(vit, 'load_pretrained'):
        raise ValueError(f'{path}: .npz weights need a timm '
                         'VisionTransformer (load_pretrained).')
    try:
        vit.load_pretrained(path)
    except (KeyError, ValueError, OSError) as err:
        raise ValueError(
            f'{path} is not a ViT .npz this model can read '
            f'({type(err).__name__}: {err}); expected {VIT_FORMATS}, '
            'with the architecture of model.backbone.arch.') from err


@MODELS.register_module()
class VPTPromptedViT(BaseModule):
    """A timm VisionTransformer that takes external VPT prompts.

    Prompts are inserted exactly as VPT (Jia et al. 2022) does: the L
    prompt tokens go after the position-embedded CLS token and before the
    patch tokens, with no positional embedding. For deep prompts the L
    prompt slots are *replaced* by layer l's prompt before every block
    l >= 1. The output is the CLS token after the final norm.

    The prompt is passed to :meth:`forward`, so any module (a learnable
    prompt, a weighted sum of source prompts) can compose it.

    Args:
        arch (str): timm model name. Defaults to
            ``'vit_base_patch16_224'``.
        vit_kwargs (dict, optional): Extra ``timm.create_model`` kwargs
            (``img_size``, ``patch_size``, ``embed_dim``, ``depth``, ...).
        checkpoint (str, optional): Local weights (see
            :func:`load_vit_checkpoint`); ``pretrained=False`` always.
        prompt_length (int): L. 0 disables prompting. Defaults to 10.
        deep (bool): VPT-deep (one prompt per block) or shallow.
        frozen (bool): Freeze every ViT parameter and keep the ViT in eval
            mode. Defaults to True.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 arch: str = 'vit_base_patch16_224',
                 vit_kwargs: Optional[dict] = None,
                 checkpoint: Optional[str] = None,
                 prompt_length: int = 10,
                 deep: bool = True,
                 frozen: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        kwargs = dict(num_classes=0)
        kwargs.update(vit_kwargs or {})
        self.vit = timm.create_model(arch, pretrained=False, **kwargs)
        if getattr(self.vit, 'cls_token', None) is None:
            raise ValueError('VPT insertion needs a ViT with a CLS token.')
        if getattr(self.vit, 'reg_token', None) is not None:
            raise ValueError('ViTs with register tokens are not supported.')
        self.checkpoint = checkpoint
        if checkpoint is not None:
            load_vit_checkpoint(self.vit, checkpoint)
            # A checkpoint without backbone.vit.* may rely on these weights.
            self.vit.pretrained_from = (checkpoint, )
        self.prompt_length = prompt_length
        self.deep = deep
        self.frozen = frozen
        self.embed_dim = self.vit.embed_dim
        self.depth = len(self.vit.blocks)
        patch = self.vit.patch_embed.patch_size
        self.patch_area = int(patch[0] * patch[1])
        if frozen:
            for param in self.vit.parameters():
                param.requires_grad = False
            self.vit.eval()

    def init_weights(self) -> None:
        """Keep the timm/loaded weights (MMEngine calls this on build)."""

    @property
    def num_prompt_layers(self) -> int:
        """D: the number of prompted layers (depth if deep, else 1)."""
        return self.depth if self.deep else 1

    @property
    def prompt_shape(self) -> tuple:
        """The ``(D, L, d)`` shape this backbone expects."""
        return (self.num_prompt_layers, self.prompt_length, self.embed_dim)

    def prompt_init_bound(self) -> float:
        """VPT's uniform init bound sqrt(6 / (3 * p * p + d))."""
        return math.sqrt(6.0 / float(3 * self.patch_area + self.embed_dim))

    def new_prompt(self) -> Tensor:
        """A freshly initialised ``[D, L, d]`` prompt (VPT init)."""
        bound = self.prompt_init_bound()
        return torch.empty(self.prompt_shape).uniform_(-bound, bound)

    def train(self, mode: bool = True) -> 'VPTPromptedViT':
        """Set train mode but keep a frozen ViT in eval mode (as VPT)."""
        super().train(mode)
        if self.frozen:
            self.vit.eval()
        return self

    def _check_prompt(self, prompt: Tensor) -> None:
        if prompt.dim() != 3 or tuple(prompt.shape) != self.prompt_shape:
            raise ValueError(f'Prompt shape {tuple(prompt.shape)} does not '
                             f'match (D, L, d) = {self.prompt_shape}.')

    def forward_tokens(self,
                       x: Tensor,
                       prompt: Optional[Tensor] = None) -> Tensor:
        """Return the normed token sequence ``[B, 1 + L + N, d]``."""
        vit = self.vit
        tokens = vit.patch_embed(x)
        tokens = vit._pos_embed(tokens)
        tokens = vit.patch_drop(tokens)
        use_prompt = prompt is not None and self.prompt_length > 0
        if use_prompt:
            self._check_prompt(prompt)
            batch = tokens.shape[0]
            first = prompt[0].unsqueeze(0).expand(batch, -1, -1)
            tokens = torch.cat([tokens[:, :1], first, tokens[:, 1:]], dim=1)
        tokens = vit.norm_pre(tokens)
        length = self.prompt_length
        for i, block in enumerate(vit.blocks):
            if use_prompt and self.deep and i > 0:
                deep = prompt[i].unsqueeze(0).expand(tokens.shape[0], -1, -1)
                tokens = torch.cat(
                    [tokens[:, :1], deep, tokens[:, 1 + length:]], dim=1)
            tokens = block(tokens)
        return vit.norm(tokens)

    def forward(self, x: Tensor, prompt: Optional[Tensor] = None) -> Tensor:
        """Return the CLS feature ``[B, d]`` after the final norm.

        Args:
            x (Tensor): Normalised images ``[B, 3, H, W]``.
            prompt (Tensor, optional): ``[D, L, d]``; None runs the plain
                ViT.
        """
        return self.forward_tokens(x, prompt)[:, 0]
