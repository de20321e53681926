"""Convert a released PromptHub fusion checkpoint to an MMEngine checkpoint.

The reference saves ``{'visual_prompt_dict': state_dict, ...}`` with the
keys of its ``PromptGeneratorCut`` (``CrossAttention_S1.*``,
``SelfAttention_Q.*``, ``SelfAttention_S.*``, ``Linear.*``,
``Layer_norm.*``). The output is ``{'meta': ..., 'state_dict':
{'<prefix><key>': tensor}}`` with the keys of ``LocalityFusionNeck``, ready
for ``load_from`` (use ``--merge`` to add the converted backbone, whose keys
live under ``backbone.``, into the same file).

Usage::

    python tools/model_converters/prompthub2mmengine.py SRC DST \
        [--prefix neck.] [--merge BACKBONE_CKPT]
"""
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import argparse  # noqa: E402
import pickle  # noqa: E402
from collections import OrderedDict  # noqa: E402
from typing import Dict, List, Optional  # noqa: E402

import torch  # noqa: E402
from mmengine.utils import mkdir_or_exist  # noqa: E402
from torch import Tensor  # noqa: E402

from projects.prompthub.models.necks import LocalityFusionNeck  # noqa: E402

# Reference module name -> LocalityFusionNeck module name.
MODULE_MAP = OrderedDict([
    ('CrossAttention_S1.', 'cross_attn.'),
    ('SelfAttention_Q.', 'query_align.'),
    ('SelfAttention_S.', 'prompt_align.'),
    ('Linear.', 'label_proj.'),
    ('Layer_norm.', 'norm.'),
])
_ATTN_KEYS = ('in_proj_weight', 'in_proj_bias', 'out_proj.weight',
              'out_proj.bias')
REFERENCE_KEYS = tuple(
    [f'{m}{k}' for m in list(MODULE_MAP)[:3] for k in _ATTN_KEYS] +
    ['Linear.weight', 'Linear.bias', 'Layer_norm.weight', 'Layer_norm.bias'])


def _expected_shapes(dims: int) -> Dict[str, tuple]:
    shapes = {}
    for module in list(MODULE_MAP)[:3]:
        shapes.update({
            f'{module}in_proj_weight': (3 * dims, dims),
            f'{module}in_proj_bias': (3 * dims, ),
            f'{module}out_proj.weight': (dims, dims),
            f'{module}out_proj.bias': (dims, ),
        })
    shapes.update({
        'Linear.weight': (dims, dims),
        'Linear.bias': (dims, ),
        'Layer_norm.weight': (dims, ),
        'Layer_norm.bias': (dims, ),
    })
    return shapes


def _fusion_state_dict(ckpt: dict, src: str) -> Dict[str, Tensor]:
    """Unwrap ``visual_prompt_dict`` (or accept a bare state dict)."""
    if not isinstance(ckpt, dict):
        raise ValueError(f'{src}: expected a dict checkpoint, got '
                         f'{type(ckpt).__name__}.')
    if 'visual_prompt_dict' in ckpt:
        state_dict = ckpt['visual_prompt_dict']
    elif any(k in ckpt for k in REFERENCE_KEYS):
        state_dict = ckpt
    else:
        raise ValueError(
            f"{src}: no 'visual_prompt_dict' entry and no PromptHub fusion "
            f'keys; top-level keys are {sorted(map(str, ckpt))[:10]}. Pass '
            f'a checkpoint saved by the reference (e.g. Seg_K_1_Fold_0.pth).')
    if state_dict and all(k.startswith('module.') for k in state_dict):
        # Saved from a DataParallel wrapper.
        state_dict = {k[len('module.'):]: v for k, v in state_dict.items()}
    return state_dict


def convert(ckpt: dict,
            prefix: str = 'neck.',
            src: str = '<checkpoint>') -> 'OrderedDict[str, Tensor]':
    """Map a PromptHub fusion state dict onto ``LocalityFusionNeck`` keys.

    Args:
        ckpt (dict): the loaded reference checkpoint (with
            ``visual_prompt_dict``) or its bare fusion state dict.
        prefix (str): prepended to every key (the neck's attribute name in
            the model). Defaults to ``'neck.'``.
        src (str): file name used in error messages.

    Returns:
        OrderedDict[str, Tensor]: the converted state dict.

    Raises:
        ValueError: when keys are missing or unexpected, or shapes do not
            fit one embedding width; the message lists them and ``src``.
    """
    state_dict = _fusion_state_dict(ckpt, src)
    missing = [k for k in REFERENCE_KEYS if k not in state_dict]
    unexpected = sorted(k for k in state_dict if k not in REFERENCE_KEYS)
    if missing or unexpected:
        raise ValueError(
            f'{src}: not a PromptHub fusion (PromptGeneratorCut) state dict. '
            f'Missing keys: {missing}. Unexpected keys: {unexpected}.')
    dims = state_dict['Layer_norm.weight'].shape[0]
    wrong = [
        f'{k}: {tuple(state_dict[k].shape)} != {shape}'
        for k, shape in _expected_shapes(dims).items()
        if tuple(state_dict[k].shape) != shape
    ]
    if wrong:
        raise ValueError(f'{src}: shapes do not fit embed_dims={dims}: '
                         f'{wrong}.')
    converted = OrderedDict()
    for key in REFERENCE_KEYS:
        module = next(m for m in MODULE_MAP if key.startswith(m))
        new_key = MODULE_MAP[module] + key[len(module):]
        converted[prefix + new_key] = state_dict[key].detach().clone()
    _check_against_neck(converted, prefix)
    return converted


def _check_against_neck(converted: Dict[str, Tensor], prefix: str) -> None:
    """Guard against the neck's layout drifting from ``MODULE_MAP``."""
    # Key names do not depend on the width, so a tiny neck suffices.
    neck_keys = set(LocalityFusionNeck(embed_dims=8, num_heads=1).state_dict())
    ours = {k[len(prefix):] for k in converted}
    if ours != neck_keys:
        raise RuntimeError(
            f'converter out of date with LocalityFusionNeck: keys only in '
            f'the conversion {sorted(ours - neck_keys)}, only in the neck '
            f'{sorted(neck_keys - ours)}.')


def _load(path: str, unsafe: bool = False) -> dict:
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path!r}; '
                                f'check the path.')
    try:
        return torch.load(path, map_location='cpu', weights_only=not unsafe)
    except pickle.UnpicklingError as err:
        raise RuntimeError(
            f'{path}: cannot be read with torch.load(weights_only=True) '
            f'because it holds non-tensor Python objects ({err}). If you '
            f'trust the file, rerun with --unsafe-load.') from err


def _merge(converted: Dict[str, Tensor], paths: List[str],
           unsafe: bool) -> None:
    for path in paths:
        other = _load(path, unsafe)
        other = other.get('state_dict', other)
        clash = sorted(set(other) & set(converted))
        if clash:
            raise ValueError(f'{path}: keys already in the converted '
                             f'checkpoint: {clash[:10]}.')
        converted.update(other)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description='Convert a PromptHub fusion checkpoint '
        "({'visual_prompt_dict': ...}) to an MMEngine checkpoint.")
    parser.add_argument('src', help='reference checkpoint (.pth)')
    parser.add_argument('dst', help='output MMEngine checkpoint')
    parser.add_argument(
        '--prefix',
        default='neck.',
        help='prefix of the neck keys in the model (default: neck.)')
    parser.add_argument(
        '--merge',
        action='append',
        default=[],
        help='another MMEngine checkpoint (e.g. the converted backbone) to '
        'merge into DST; may be repeated')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='load with weights_only=False (runs pickled code: only for '
        'files you trust)')
    args = parser.parse_args(argv)

    ckpt = _load(args.src, args.unsafe_load)
    converted = convert(ckpt, prefix=args.prefix, src=args.src)
    _merge(converted, args.merge, args.unsafe_load)
    meta = dict(
        source=osp.basename(args.src),
        converter='tools/model_converters/prompthub2mmengine.py',
        neck_prefix=args.prefix)
    if isinstance(ckpt, dict) and isinstance(ckpt.get('epoch'), int):
        meta['source_epoch'] = ckpt['epoch']
    mkdir_or_exist(osp.dirname(osp.abspath(args.dst)))
    torch.save(dict(meta=meta, state_dict=converted), args.dst)
    print(f'Saved {len(converted)} tensors to {args.dst}')


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        sys.exit(f'error: {err}')
