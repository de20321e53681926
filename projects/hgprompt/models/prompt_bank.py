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
            'data_root': str,         # absolute task folder it was
                                      # trained on (leakage check)
        },
    }

A bank is a list of such files (or a directory holding them, read in
sorted order). All prompts of one bank must have the same shape. For a
target task the bank is leave-one-out: the prompt of the target's own
task is left out by name (:func:`select_sources`), and
``HGSourceOverlapHook`` refuses a source trained in the target's folder.
Prompts saved by the public VPT code, and raw tensors, are converted by
``projects/hgprompt/tools/convert_vpt_prompts.py``.
"""
import glob
import logging
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from torch import Tensor

from .torch_file import load_torch_file

#: The meta keys of the prompt's ``[D, L, d]`` sizes, in that order;
#: :func:`save_prompt` writes them from the tensor itself.
PROMPT_SHAPE_KEYS = ('num_layers', 'prompt_length', 'embed_dim')


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
    info = dict(task=task, deep=deep)
    info.update(zip(PROMPT_SHAPE_KEYS, prompt.shape))
    info.update(meta)
    dirname = osp.dirname(osp.abspath(path))
    os.makedirs(dirname, exist_ok=True)
    torch.save(
        dict(prompt=prompt.detach().cpu().float().clone(), meta=info), path)


PROMPT_FORMAT = (
    "a .pth file holding {'prompt': Tensor[D, L, d], 'meta': "
    "{'task': ...}} as written by save_prompt / "
    'VPTPromptSaveHook (convert public VPT prompts and raw '
    'tensors with projects/hgprompt/tools/convert_vpt_prompts.py)')


def load_prompt(path: str) -> Tuple[Tensor, dict]:
    """Load one prompt file.

    Args:
        path (str): A file written by :func:`save_prompt`.

    Returns:
        tuple[Tensor, dict]: The ``[D, L, d]`` prompt and its metadata.
    """
    if osp.isdir(path):
        raise IsADirectoryError(
            f'{path} is a directory, not a prompt file; expected '
            f'{PROMPT_FORMAT}.')
    if not osp.isfile(path):
        raise FileNotFoundError(f'Source prompt file not found: {path} '
                                f'(expected {PROMPT_FORMAT}).')
    obj = load_torch_file(path, PROMPT_FORMAT, 'a prompt file')
    if not isinstance(obj, dict) or 'prompt' not in obj:
        raise ValueError(f'{path} is not a prompt file: expected '
                         f'{PROMPT_FORMAT}.')
    prompt = obj['prompt']
    if not isinstance(prompt, Tensor) or prompt.dim() != 3:
        shape = getattr(prompt, 'shape', None)
        raise ValueError(f"{path}: 'prompt' must be a [D, L, d] tensor, "
                         f'got {shape}; expected {PROMPT_FORMAT}.')
    meta = dict(obj.get('meta', {}))
    if not meta.get('task'):
        meta['task'] = osp.splitext(osp.basename(path))[0]
    return prompt.float(), meta


def resolve_bank_files(bank: Union[str, Sequence[str]]) -> List[str]:
    """Turn a directory or a list of files into a list of files."""
    if isinstance(bank, str):
        if osp.isdir(bank):
            files = sorted(glob.glob(osp.join(bank, '*.pth')))
            if not files:
                raise FileNotFoundError(
                    f'Source-prompt bank directory {bank} holds no *.pth '
                    f'file; expected one file per source task, each '
                    f'{PROMPT_FORMAT}.')
            return files
        if not osp.exists(bank):
            raise FileNotFoundError(
                f'Source-prompt bank not found: {bank} is neither a '
                'directory of *.pth prompt files nor a prompt file. '
                'Set model.source_prompts to the directory the source runs '
                'wrote (run_vtab_protocol.py: <work-dir>/prompts) or to a '
                'list of files.')
        return [bank]
    return list(bank)


def select_sources(entries: List[Tuple[str, Tensor, dict]],
                   target_task: Optional[str] = None,
                   sources: Optional[Sequence[str]] = None,
                   bank: str = 'the bank') -> List[Tuple[str, Tensor, dict]]:
    """Choose the source prompts for a target task (leave-one-out).

    Args:
        entries (list): ``(file, prompt, meta)`` of every prompt of a bank.
        target_task (str, optional): The target's task name. Its own
            prompt (``meta['task'] == target_task``) is excluded: it was
            trained on the target's images.
        sources (Sequence[str], optional): The task names to use, in this
            order. Listing the target is refused.
        bank (str): How to name the bank in errors.

    Returns:
        list: The selected entries.

    Raises:
        ValueError: Two files of one task, an unknown or excluded name in
            ``sources``, or nothing left.
    """
    by_task = {}
    for path, prompt, meta in entries:
        task = str(meta['task'])
        if task in by_task:
            raise ValueError(
                f'{bank}: {by_task[task][0]} and {path} are both prompts of '
                f'task {task!r}; keep one per task.')
        by_task[task] = (path, prompt, meta)
    if sources is not None:
        if target_task is not None and target_task in sources:
            raise ValueError(
                f'model.sources lists the target task {target_task!r}: its '
                'prompt was trained on the target\'s own images, so '
                'transfer from it is not leave-one-out. Remove it from '
                'sources (or set model.target_task=None if this is an '
                'intended oracle run).')
        unknown = [name for name in sources if name not in by_task]
        if unknown:
            raise ValueError(f'model.sources names {unknown}, which {bank} '
                             f'does not hold; it holds {sorted(by_task)}.')
        chosen = [by_task[name] for name in sources]
    else:
        chosen = [e for e in entries if str(e[2]['task']) != target_task]
        if target_task is not None and len(chosen) < len(entries):
            print_log(
                f'leave-one-out: the prompt of the target task '
                f'{target_task!r} ({by_task[target_task][0]}) is not used '
                'as a source.',
                logger='current')
        elif target_task is None:
            print_log(
                'model.target_task is not set, so no source prompt is '
                'excluded: if the bank holds a prompt trained on the '
                'target\'s images, the target sees its own prompt. Set '
                "model.target_task (e.g. 'dtd') or model.sources.",
                logger='current',
                level=logging.WARNING)
    if not chosen:
        raise ValueError(
            f'{bank} has no source prompt left for target '
            f'{target_task!r} (it holds {sorted(by_task)}); add prompts of '
            'other tasks.')
    return chosen


def load_prompt_bank(
    bank: Union[str, Sequence[str]],
    num_layers: Optional[int] = None,
    prompt_length: Optional[int] = None,
    embed_dim: Optional[int] = None,
    target_task: Optional[str] = None,
    sources: Optional[Sequence[str]] = None,
    return_meta: bool = False
) -> Union[Tuple[Tensor, List[str]], Tuple[Tensor, List[str], List[dict]]]:
    """Load K source prompts into one ``[K, D, L, d]`` tensor.

    Args:
        bank (str | Sequence[str]): Prompt files, or a directory of them.
        num_layers (int, optional): Expected D (backbone depth for deep
            prompts, 1 for shallow).
        prompt_length (int, optional): Expected L.
        embed_dim (int, optional): Expected d.
        target_task (str, optional): Excluded by name (leave-one-out), see
            :func:`select_sources`.
        sources (Sequence[str], optional): Explicit source task names.
        return_meta (bool): Also return each prompt's metadata (with its
            ``file``), e.g. to check where it was trained.

    Returns:
        tuple: The stacked prompts and the task names (and the metadata).

    Raises:
        ValueError: On an empty bank, prompts of different shapes, or a
            shape that does not match the expected one.
    """
    files = resolve_bank_files(bank)
    if not files:
        raise ValueError('The source-prompt bank is empty.')
    expected = (num_layers, prompt_length, embed_dim)
    entries = []
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
        if entries and prompt.shape != entries[0][1].shape:
            raise ValueError(
                f'{path}: prompt shape {tuple(prompt.shape)} differs from '
                f'{files[0]} {tuple(entries[0][1].shape)}; every source '
                'prompt of a bank must have the same [D, L, d].')
        entries.append((path, prompt, dict(meta, file=path)))
    name = bank if isinstance(bank, str) else 'the source-prompt list'
    entries = select_sources(entries, target_task, sources, name)
    prompts = torch.stack([prompt for _, prompt, _ in entries])
    names = [str(meta['task']) for _, _, meta in entries]
    if return_meta:
        return prompts, names, [meta for _, _, meta in entries]
    return prompts, names
