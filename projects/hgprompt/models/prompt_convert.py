"""Read prompts written by other code into the bank's ``[D, L, d]`` form.

Recognised inputs (each a local file; nothing is unpickled beyond tensors
and numpy arrays):

- **VPT's prompt files** (``KMnP/vpt``, ``Trainer.save_prompt``,
  ``prompt_ep<N>.pth``): ``{'shallow_prompt': array[1, L, d],
  'deep_prompt': array[D - 1, L, d]}`` (numpy arrays); the deep prompts
  of layers 1..D-1 follow the layer-0 prompt.
- **VPT model state dicts** (or checkpoints ``{'model': state_dict}``):
  the tensors ``...prompt_embeddings`` ``[1, L, d]`` and
  ``...deep_prompt_embeddings`` ``[D - 1, L, d]``. Prompts behind a
  projection (VPT's ``PROJECT > -1``, a ``prompt_proj`` Linear) live in
  another space and are refused.
- **Raw tensors**: a tensor ``[D, L, d]`` or ``[L, d]`` (a shallow prompt)
  saved by ``torch.save`` or ``numpy.save`` (``.npy``).
- **Our own prompt files** (``{'prompt': ..., 'meta': ...}``), passed on.
"""
import os.path as osp
from typing import Any, Tuple

import numpy as np
import torch
from torch import Tensor

import projects.prompthub.compat  # noqa: F401  (numpy/mmengine allow-list)
from .torch_file import load_torch_file

#: What the converter reads, for its error messages.
INPUT_FORMATS = (
    "VPT's prompt_ep<N>.pth ({'shallow_prompt': [1, L, d], 'deep_prompt': "
    "[D-1, L, d]}), a VPT state dict or {'model': state_dict} with "
    '*prompt_embeddings / *deep_prompt_embeddings, a raw tensor [D, L, d] '
    "or [L, d] (.pth or .npy), or a prompt file of this project")


def _numpy1_aliases() -> list:
    """numpy 1 pickles name ``numpy.core.multiarray._reconstruct``; the
    project's allow-list (``projects.prompthub.compat``) has numpy 2's."""
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    return [(reconstruct, 'numpy.core.multiarray._reconstruct')]


def _load(path: str) -> Any:
    """Load a file with tensors and numpy arrays only (no other code)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Prompt to convert not found: {path} '
                                f'(expected {INPUT_FORMATS}).')
    if path.endswith('.npy'):
        return np.load(path, allow_pickle=False)
    return load_torch_file(
        path, INPUT_FORMATS, allowed_globals=_numpy1_aliases())


def _tensor(value: Any, path: str, key: str) -> Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, Tensor) or value.dim() != 3:
        raise ValueError(f'{path}: {key} must be a [*, L, d] array, got '
                         f'{getattr(value, "shape", type(value).__name__)}.')
    return value.float()


def _from_state_dict(state: dict, path: str) -> Tensor:
    shallow = [k for k in state if k.split('.')[-1] == 'prompt_embeddings']
    deep = [k for k in state if k.split('.')[-1] == 'deep_prompt_embeddings']
    if len(shallow) != 1 or len(deep) > 1:
        raise ValueError(
            f'{path}: expected one *prompt_embeddings tensor (and at most '
            f'one *deep_prompt_embeddings), found {shallow + deep}; '
            f'expected {INPUT_FORMATS}.')
    if any('prompt_proj' in k for k in state):
        raise ValueError(
            f'{path}: the prompts pass through a projection (prompt_proj, '
            "VPT's PROJECT > -1), so they are not token embeddings of the "
            'ViT; only unprojected prompts (PROJECT = -1, the default) can '
            'be converted.')
    parts = [_tensor(state[shallow[0]], path, shallow[0])]
    if deep:
        parts.append(_tensor(state[deep[0]], path, deep[0]))
    return torch.cat(parts)


def read_foreign_prompt(path: str) -> Tuple[Tensor, str, dict]:
    """Read a prompt in any recognised format.

    Args:
        path (str): A local file (see the module docstring).

    Returns:
        tuple: The ``[D, L, d]`` prompt, the name of the format it was
        read as, and the metadata it carried (our own files only).

    Raises:
        ValueError: The file is none of the formats; the message names the
            file and the formats.
    """
    obj = _load(path)
    if isinstance(obj, dict) and 'model' in obj and isinstance(
            obj['model'], dict):
        obj = obj['model']
    if isinstance(obj, dict) and 'prompt' in obj:
        return _tensor(obj['prompt'], path,
                       "'prompt'"), 'prompt file', dict(obj.get('meta', {}))
    if isinstance(obj, dict) and 'shallow_prompt' in obj:
        parts = [_tensor(obj['shallow_prompt'], path, "'shallow_prompt'")]
        if obj.get('deep_prompt') is not None:
            parts.append(_tensor(obj['deep_prompt'], path, "'deep_prompt'"))
        return torch.cat(parts), 'VPT prompt file', {}
    if isinstance(obj, dict) and any(
            str(k).endswith('prompt_embeddings') for k in obj):
        return _from_state_dict(obj, path), 'VPT state dict', {}
    if isinstance(obj, (Tensor, np.ndarray)):
        tensor = torch.as_tensor(np.asarray(obj)) if isinstance(
            obj, np.ndarray) else obj
        if tensor.dim() == 2:
            tensor = tensor.unsqueeze(0)
        return _tensor(tensor, path, 'the tensor'), 'raw tensor', {}
    keys = list(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
    raise ValueError(f'{path} holds {keys}, which is none of the prompt '
                     f'formats: {INPUT_FORMATS}.')
