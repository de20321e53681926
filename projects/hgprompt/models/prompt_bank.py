"""Saving and loading visual prompts (the source-prompt bank).

File format (one ``.pth`` file per prompt, written by
:func:`save_prompt`, e.g. by ``VPTPromptSaveHook`` at the end of a VPT
training run)::

    {
        'prompt': FloatTensor[D, L, d],   # D = depth (deep) or 1 (shallow)
        'meta': {
            'task': str,              # source task name
            'deep': bool,
            'prompt_length': int,     # L
            'embed_dim': int,         # d
            'num_layers': int,        # D
            'backbone': str,          # backbone description (informative)
            'num_classes': int,       # source head size (informative)
        },
    }

A bank is a list of such files (or a directory holding them, read in
sorted order). All prompts of one bank must have the same shape.
"""
import glob
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor


def save_prompt(path: str,
                prompt: Tensor,
                task: str = '',
                deep: bool = True,
                **meta) -> None:
    """Save one prompt in the bank format.

    Args:
        path (str): Output ``.pth`` file.
        prompt (Tensor): Prompt of shape ``[D, L, d]``.
        task (str): Source task name.
        deep (bool): Whether the prompt is VPT-deep.
        **meta: Extra JSON-like metadata.
    """
    if prompt.dim() != 3:
        raise ValueError('A prompt must have shape [D, L, d], got '
                         f'{tuple(prompt.shape)}.')
    num_layers, length, dim = prompt.shape
    info = dict(
        task=task,
        deep=deep,
        prompt_length=length,
        embed_dim=dim,
        num_layers=num_layers)
    info.update(meta)
    dirname = osp.dirname(osp.abspath(path))
    os.makedirs(dirname, exist_ok=True)
    torch.save(
        dict(prompt=prompt.detach().cpu().float().clone(), meta=info), path)


def load_prompt(path: str) -> Tuple[Tensor, dict]:
    """Load one prompt file.

    Args:
        path (str): A file written by :func:`save_prompt`.

    Returns:
        tuple[Tensor, dict]: The ``[D, L, d]`` prompt and its metadata.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Source prompt file not found: {path}')
    obj = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(obj, dict) or 'prompt' not in obj:
        raise ValueError(f'{path} is not a prompt file: expected a dict '
                         "with a 'prompt' tensor of shape [D, L, d].")
    prompt = obj['prompt']
    if not isinstance(prompt, Tensor) or prompt.dim() != 3:
        shape = getattr(prompt, 'shape', None)
        raise ValueError(f"{path}: 'prompt' must be a [D, L, d] tensor, "
                         f'got {shape}.')
    meta = dict(obj.get('meta', {}))
    meta.setdefault('task', osp.splitext(osp.basename(path))[0])
    return prompt.float(), meta


def resolve_bank_files(bank: Union[str, Sequence[str]]) -> List[str]:
    """Turn a directory or a list of files into a list of files."""
    if isinstance(bank, str):
        if osp.isdir(bank):
            files = sorted(glob.glob(osp.join(bank, '*.pth')))
            if not files:
                raise FileNotFoundError(f'No *.pth prompt in {bank}')
            return files
        return [bank]
    return list(bank)


def load_prompt_bank(
        bank: Union[str, Sequence[str]],
        num_layers: Optional[int] = None,
        prompt_length: Optional[int] = None,
        embed_dim: Optional[int] = None) -> Tuple[Tensor, List[str]]:
    """Load K source prompts into one ``[K, D, L, d]`` tensor.

    Args:
        bank (str | Sequence[str]): Prompt files, or a directory of them.
        num_layers (int, optional): Expected D (backbone depth for deep
            prompts, 1 for shallow).
        prompt_length (int, optional): Expected L.
        embed_dim (int, optional): Expected d.

    Returns:
        tuple[Tensor, list[str]]: The stacked prompts and the task names.

    Raises:
        ValueError: On an empty bank, prompts of different shapes, or a
            shape that does not match the expected one.
    """
    files = resolve_bank_files(bank)
    if not files:
        raise ValueError('The source-prompt bank is empty.')
    prompts, names = [], []
    expected = (num_layers, prompt_length, embed_dim)
    for path in files:
        prompt, meta = load_prompt(path)
        for axis, (want, got) in enumerate(zip(expected, prompt.shape)):
            if want is not None and want != got:
                what = ('number of prompted layers D', 'prompt length L',
                        'embedding dim d')[axis]
                raise ValueError(
                    f'{path}: {what} is {got} but the model expects '
                    f'{want} (prompt shape {tuple(prompt.shape)}, '
                    f'expected {expected}).')
        if prompts and prompt.shape != prompts[0].shape:
            raise ValueError(
                f'{path}: prompt shape {tuple(prompt.shape)} differs from '
                f'{files[0]} {tuple(prompts[0].shape)}; every source prompt '
                'of a bank must have the same [D, L, d].')
        prompts.append(prompt)
        names.append(str(meta['task']))
    return torch.stack(prompts), names
