"""Safe loading of the public MAE-VQGAN and VQGAN checkpoints.

Both files are pickles that hold more than tensors:

* ``checkpoint-1000.pth`` (amirbar/visual_prompting) carries the training
  ``args`` as an :class:`argparse.Namespace` next to ``model``,
  ``optimizer``, ``epoch`` and ``scaler``;
* taming's ``last.ckpt`` (PyTorch Lightning) keys its ``callbacks`` dict by
  the Lightning ``ModelCheckpoint`` class.

We load them with ``torch.load(weights_only=True)`` and an explicit
allow-list: ``Namespace`` itself, and inert stand-ins registered under the
Lightning class paths (so neither Lightning nor its code is needed or run).
A file that references anything else is refused with a message that names
the file and the offending global; ``trust_checkpoint=True`` (the
converter's ``--trust-checkpoint``) then loads it with full unpickling.
"""
import argparse
import logging
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import nn

MAE_WEIGHTS_HINT = (
    'The MAE-VQGAN weights "checkpoint-1000.pth" (CVF, 1000 epochs) are '
    'linked from the README of https://github.com/amirbar/visual_prompting.')
VQGAN_WEIGHTS_HINT = (
    'The VQGAN weights are taming-transformers\' "vqgan_imagenet_f16_1024" '
    '(ckpts/last.ckpt, configs/model.yaml), linked from the README of '
    'https://github.com/CompVis/taming-transformers.')


class _LightningPickleStub:
    """Inert stand-in for a Lightning class referenced by a checkpoint.

    Lightning 1.x stores ``callbacks`` as ``{ModelCheckpoint: state}``; only
    the class *reference* is pickled, so an empty placeholder suffices.
    """

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs


_LIGHTNING_CLASS_PATHS = (
    'pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint',
    'pytorch_lightning.callbacks.early_stopping.EarlyStopping',
    'lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint',
)


def checkpoint_allow_list() -> list:
    """Globals the public checkpoints may reference under safe loading.

    Returns:
        list: Entries for ``torch.serialization.safe_globals``.
    """
    stubs = [(_LightningPickleStub, path) for path in _LIGHTNING_CLASS_PATHS]
    return [argparse.Namespace] + stubs


def load_checkpoint_file(path: str,
                         what: str,
                         hint: str,
                         trust_checkpoint: bool = False) -> Any:
    """``torch.load`` a local file on CPU, safely unless told otherwise.

    Args:
        path (str): Local file.
        what (str): What the file is, for messages (e.g. ``'MAE-VQGAN
            checkpoint'``).
        hint (str): Where the public file comes from, for the missing-file
            message.
        trust_checkpoint (bool): Allow full unpickling (arbitrary code can
            run). Only for files you trust. Defaults to False.

    Returns:
        Any: The unpickled object.

    Raises:
        FileNotFoundError: The file does not exist.
        RuntimeError: Safe loading refused the file.
    """
    if not isinstance(path, str) or not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path!r}. {hint}')
    if trust_checkpoint:
        return torch.load(path, map_location='cpu', weights_only=False)
    try:
        with torch.serialization.safe_globals(checkpoint_allow_list()):
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        raise RuntimeError(
            f'Safe loading (weights_only=True) refused the {what} {path!r}: '
            f'it references objects outside the allow-list '
            f'({_refused_globals(path, err)}). If you trust this file, load '
            'it with trust_checkpoint=True (converter: --trust-checkpoint), '
            'which unpickles arbitrary objects.') from err


def _refused_globals(path: str, err: Exception) -> str:
    """Name the globals that made safe loading fail, for the message."""
    allowed = {
        entry[1] if isinstance(entry, tuple) else
        f'{entry.__module__}.{entry.__qualname__}'
        for entry in checkpoint_allow_list()
    }
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # an unreadable file: fall back to torch's words
        names = []
    names = [n for n in names if n not in allowed]
    if names:
        return ', '.join(names)
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    picked = [ln for ln in lines if 'WeightsUnpickler error' in ln]
    return (picked or lines or ['unknown'])[0]


def _unwrap(ckpt: Any, key: str, path: str, what: str) -> Dict[str, Any]:
    if not isinstance(ckpt, Mapping) or key not in ckpt:
        found = list(ckpt.keys())[:10] if isinstance(ckpt, Mapping) else \
            type(ckpt).__name__
        raise KeyError(f'The {what} {path!r} has no {key!r} entry (found '
                       f'{found}); is it the right file?')
    sd = ckpt[key]
    if not isinstance(sd, Mapping):
        raise TypeError(f'{path!r}[{key!r}] is a {type(sd).__name__}, '
                        'expected a state dict')
    return OrderedDict(sd)


def load_mae_state_dict(path: str,
                        trust_checkpoint: bool = False) -> Dict[str, Any]:
    """The ``model`` state dict of ``checkpoint-1000.pth`` (``vae.*`` kept).

    Args:
        path (str): Local path of the MAE-VQGAN checkpoint.
        trust_checkpoint (bool): See :func:`load_checkpoint_file`.

    Returns:
        dict: name -> tensor.
    """
    what = 'MAE-VQGAN checkpoint'
    ckpt = load_checkpoint_file(path, what, MAE_WEIGHTS_HINT, trust_checkpoint)
    return _unwrap(ckpt, 'model', path, what)


def load_vqgan_state_dict(path: str,
                          trust_checkpoint: bool = False) -> Dict[str, Any]:
    """The VQGAN weights of taming's ``last.ckpt``, ``loss.*`` dropped.

    The ``loss.*`` entries (LPIPS and discriminator) only served training.

    Args:
        path (str): Local path of ``last.ckpt``.
        trust_checkpoint (bool): See :func:`load_checkpoint_file`.

    Returns:
        dict: name -> tensor, keys as in taming's ``VQModel``.
    """
    what = 'VQGAN checkpoint'
    ckpt = load_checkpoint_file(path, what, VQGAN_WEIGHTS_HINT,
                                trust_checkpoint)
    sd = _unwrap(ckpt, 'state_dict', path, what)
    return OrderedDict(
        (k, v) for k, v in sd.items() if not k.startswith('loss.'))


def merge_mae_vqgan(mae_sd: Optional[Mapping[str, Any]],
                    vqgan_sd: Optional[Mapping[str, Any]],
                    vae_prefix: str = 'vae.') -> 'OrderedDict[str, Any]':
    """One state dict in the layout of ``MAEVQGAN`` (MAE keys + ``vae.*``).

    The reference builds the VQGAN from ``last.ckpt`` and then loads the
    MAE checkpoint with ``strict=False``, so ``vae.*`` entries of the MAE
    checkpoint, when present, win over ``last.ckpt``. We keep that order.

    Args:
        mae_sd (Mapping, optional): The MAE checkpoint's ``model`` dict.
        vqgan_sd (Mapping, optional): VQGAN weights without prefix
            (:func:`load_vqgan_state_dict`).
        vae_prefix (str): Prefix of the VQGAN keys. Defaults to ``'vae.'``.

    Returns:
        OrderedDict: The merged state dict.
    """
    merged = OrderedDict()
    if vqgan_sd is not None:
        merged.update((vae_prefix + k, v) for k, v in vqgan_sd.items())
    if mae_sd is not None:
        merged.update(mae_sd)
    return merged


def vae_keys_differ(mae_sd: Mapping[str, Any],
                    vqgan_sd: Mapping[str, Any],
                    vae_prefix: str = 'vae.') -> list:
    """Names of VQGAN tensors where the two files disagree.

    Args:
        mae_sd (Mapping): MAE checkpoint dict (may hold ``vae.*``).
        vqgan_sd (Mapping): VQGAN weights without prefix.
        vae_prefix (str): Defaults to ``'vae.'``.

    Returns:
        list[str]: Keys present in both with different values.
    """
    out = []
    for k, v in vqgan_sd.items():
        other = mae_sd.get(vae_prefix + k)
        if other is not None and (other.shape != v.shape
                                  or not torch.equal(other, v)):
            out.append(k)
    return out


def load_mae_vqgan_files(
    mae_checkpoint: str,
    vqgan_checkpoint: Optional[str] = None,
    trust_checkpoint: bool = False
) -> Tuple['OrderedDict[str, Any]', List[str]]:
    """Read the public files into one ``MAEVQGAN`` state dict.

    Args:
        mae_checkpoint (str): ``checkpoint-1000.pth``.
        vqgan_checkpoint (str, optional): Taming ``last.ckpt``; needed when
            the MAE checkpoint has no ``vae.*`` weights.
        trust_checkpoint (bool): See :func:`load_checkpoint_file`.

    Returns:
        tuple: The merged state dict (:func:`merge_mae_vqgan`) and the
        files it came from.

    Raises:
        FileNotFoundError: A given file is missing.
        ValueError: No VQGAN weights in either file.
    """
    mae_sd = load_mae_state_dict(mae_checkpoint, trust_checkpoint)
    vq_sd = load_vqgan_state_dict(vqgan_checkpoint, trust_checkpoint) \
        if vqgan_checkpoint else None
    has_vae = any(k.startswith('vae.') for k in mae_sd)
    if vq_sd is None and not has_vae:
        raise ValueError(
            f'{mae_checkpoint!r} holds no vae.* (VQGAN) weights; also give '
            f'the VQGAN checkpoint (last.ckpt). {VQGAN_WEIGHTS_HINT}')
    if vq_sd is not None and has_vae:
        differ = vae_keys_differ(mae_sd, vq_sd)
        if differ:
            print_log(
                f'{len(differ)} VQGAN tensors differ between '
                f'{mae_checkpoint} and {vqgan_checkpoint} (e.g. {differ[0]})'
                f'; using {mae_checkpoint}, as the reference does',
                logger='current',
                level=logging.WARNING)
    sources = [p for p in (mae_checkpoint, vqgan_checkpoint) if p]
    return merge_mae_vqgan(mae_sd, vq_sd), sources


def state_dict_mismatch(
        expected: Mapping[str, torch.Size],
        state_dict: Mapping[str, Any]) -> Tuple[list, list, list]:
    """Compare a state dict to an expected ``{name: shape}`` layout.

    Args:
        expected (Mapping): name -> shape of the module to load into.
        state_dict (Mapping): name -> tensor to load.

    Returns:
        tuple[list, list, list]: missing keys, unexpected keys and
        ``'name: file shape vs model shape'`` strings for shape mismatches.
    """
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f'{k}: {_shape_of(state_dict[k])} in the file vs '
        f'{tuple(shape)} in the model' for k, shape in expected.items()
        if k in state_dict and _shape_of(state_dict[k]) != tuple(shape)
    ]
    return missing, unexpected, shapes


def _shape_of(value: Any) -> Any:
    """A tensor's shape as a tuple; for anything else its type name."""
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    return f'a {type(value).__name__}, not a tensor,'


def short_list(keys: list, limit: int = 20) -> str:
    """``'a, b, c ... (+N more)'``: the first ``limit`` items of ``keys``."""
    more = f' ... (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def mismatch_lines(missing: list,
                   unexpected: list,
                   shapes: list,
                   limit: int = 20) -> List[str]:
    """Message lines listing each non-empty kind of key mismatch.

    Args:
        missing (list): Keys the model has and the file lacks.
        unexpected (list): Keys the file has and the model lacks.
        shapes (list): Descriptions of keys whose shapes differ.
        limit (int): Keys named per kind. Defaults to 20.

    Returns:
        list[str]: One indented line per non-empty kind.
    """
    kinds = (('missing keys', missing), ('unexpected keys', unexpected),
             ('shape mismatches', shapes))
    return [
        f'  {kind} ({len(keys)}): {short_list(keys, limit)}'
        for kind, keys in kinds if keys
    ]


def check_state_dict(expected: Mapping[str, torch.Size], state_dict: Mapping,
                     sources: Iterable[str]) -> None:
    """Raise unless ``state_dict`` matches ``expected`` exactly.

    Args:
        expected (Mapping): name -> shape of the target module.
        state_dict (Mapping): name -> tensor to load.
        sources (Iterable[str]): Files the state dict came from, named in
            the error.

    Raises:
        RuntimeError: Listing missing/unexpected keys and shape
            mismatches.
    """
    missing, unexpected, shapes = state_dict_mismatch(expected, state_dict)
    if missing or unexpected or shapes:
        lines = [
            f'State dict from {", ".join(map(repr, sources))} does not '
            'match the model:'
        ]
        lines += mismatch_lines(missing, unexpected, shapes)
        lines.append('  Check that the files are the public ones and that '
                     'the model dimensions match them.')
        raise RuntimeError('\n'.join(lines))


def module_layout(module: nn.Module) -> 'OrderedDict[str, torch.Size]':
    """``{name: shape}`` of a module's state dict (works on meta tensors)."""
    return OrderedDict((k, v.shape) for k, v in module.state_dict().items())
