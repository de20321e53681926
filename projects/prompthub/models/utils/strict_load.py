"""Load a checkpoint into a whole model exactly, or fail naming the file.

MMEngine's ``Runner.load_checkpoint`` (``load_from``, ``tools/test.py``)
loads with ``strict=False``: model keys the file lacks, file keys the model
lacks and mis-shaped tensors are only logged, so an unrelated file
evaluates a random model and prints plausible metrics. Here every model key
must be in the file with the model's shape and every file key must be
used. A file that holds part of the model on purpose (a neck-only
conversion next to a frozen, separately loaded backbone) is loaded only
when the caller names the key prefixes that may be missing, and only if
each missing tensor gets its weights from its own module: a ``Pretrained``
``init_cfg`` (applied here if it has not been yet, as training does before
``load_from``) or a file its constructor loaded, which the backbones record
in ``pretrained_from``.

Unreadable files (missing, empty, truncated, not a checkpoint, or refused
by safe loading) raise an error that names the file and the fix instead of
a torch/pickle traceback.
"""
import logging
import os
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import (Any, Dict, Iterable, List, Mapping, Optional, Sequence,
                    Tuple)

from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit
from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict
from torch import nn

from .checkpoint_io import (mismatch_lines, module_layout, short_list,
                            state_dict_mismatch)

DEFAULT_REVISE_KEYS = ((r'^module\.', ''), )
ALLOW_KEY = 'load_from_allow'
_ALLOW_FIELDS = ('missing', 'unexpected')


def parse_load_allow(
        allow: Optional[Mapping]) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """Read the ``load_from_allow`` option of a config.

    Args:
        allow (Mapping, optional): ``dict(missing=[...], unexpected=[...])``:
            key prefixes the checkpoint may lack, and prefixes of checkpoint
            keys the model may ignore. A single string counts as a list of
            one. None allows nothing.

    Returns:
        tuple: The missing and the unexpected prefixes.

    Raises:
        ValueError: Unknown fields or values that are not prefixes.
    """
    if not allow:
        return (), ()
    if not isinstance(allow, Mapping) or set(allow) - set(_ALLOW_FIELDS):
        raise ValueError(
            f'{ALLOW_KEY} must be a dict with the fields {_ALLOW_FIELDS}, got '
            f'{allow!r}; e.g. {ALLOW_KEY}=dict(missing=["backbone."]).')
    out = []
    for field in _ALLOW_FIELDS:
        value = allow.get(field) or ()
        value = (value, ) if isinstance(value, str) else tuple(value)
        if not all(isinstance(p, str) and p for p in value):
            raise ValueError(f'{ALLOW_KEY}.{field} must list key prefixes '
                             f'(non-empty strings), got {value!r}.')
        out.append(value)
    return out[0], out[1]


def _is_local(filename: str) -> bool:
    return '://' not in filename


def read_checkpoint(filename: str, map_location: Any = 'cpu') -> dict:
    """Read a checkpoint with mmengine's loaders; fail naming the file.

    Args:
        filename (str): Local path or any URL mmengine's
            ``CheckpointLoader`` accepts.
        map_location (str | callable): As :func:`torch.load`. Defaults to
            ``'cpu'``.

    Returns:
        dict: The checkpoint.

    Raises:
        FileNotFoundError: A local file that does not exist.
        RuntimeError: An empty, truncated or corrupt file, one refused by
            safe (``weights_only``) loading, or one that is not a dict.
    """
    filename = str(filename)
    local = _is_local(filename)
    if local:
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(
                f'Checkpoint file not found: {filename!r} (relative paths '
                f'start at {os.getcwd()!r}). Fix: check the path.')
        if osp.getsize(filename) == 0:
            raise RuntimeError(
                f'Checkpoint {filename!r} is empty (0 bytes): a save or copy '
                'that was interrupted. Fix: copy or download it again, or '
                'use another checkpoint (e.g. an earlier epoch_*.pth).')
    try:
        checkpoint = _load_checkpoint(filename, map_location=map_location)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch/zip/pickle errors of a damaged file
        detail = (str(err).strip().splitlines() or [''])[0]
        if isinstance(err, pickle.UnpicklingError) and \
                'weights only load failed' in str(err).lower():
            raise RuntimeError(
                f'Safe loading (torch.load weights_only=True) refused the '
                f'checkpoint {filename!r}: it holds Python objects outside '
                f'the allow-list of projects/prompthub/compat.py '
                f'({detail}). Fix: if you trust the file, load it once '
                'with torch.load(path, weights_only=False) and save only '
                "{'state_dict': ...}; otherwise do not use it.") from err
        size = f', {osp.getsize(filename)} bytes' if local else ''
        raise RuntimeError(
            f'Cannot read checkpoint {filename!r}{size}: '
            f'{type(err).__name__}: {detail}. The file is truncated or '
            'corrupt (e.g. a save or copy that was interrupted) or not a '
            'PyTorch checkpoint. Fix: copy or download it again, or use '
            'another checkpoint (e.g. an earlier epoch_*.pth).') from err
    if not isinstance(checkpoint, Mapping):
        raise RuntimeError(
            f'Checkpoint {filename!r} holds a {type(checkpoint).__name__}, '
            "not a state dict or {'state_dict': ...}. Fix: pass a checkpoint "
            'saved by tools/train.py or written by tools/model_converters.')
    return checkpoint


def _state_dict_of(checkpoint: Mapping, filename: str,
                   revise_keys: Iterable[Tuple[str, str]]) -> 'OrderedDict':
    """The checkpoint's ``state_dict`` (or itself), keys revised."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, Mapping):
        raise RuntimeError(
            f"Checkpoint {filename!r}: 'state_dict' is a "
            f'{type(state_dict).__name__}, not a dict of tensors.')
    metadata = getattr(state_dict, '_metadata', None)
    revised = OrderedDict(state_dict)
    for pattern, replacement in revise_keys:
        revised = OrderedDict(
            (re.sub(pattern, replacement, k), v) for k, v in revised.items())
    if metadata is not None:
        revised._metadata = metadata
    return revised


def weight_source(module: nn.Module) -> Optional[str]:
    """Where ``module`` gets its weights apart from ``load_from``.

    Args:
        module (nn.Module): A submodule of the model.

    Returns:
        str | None: ``'loaded at construction from ...'`` when its
        constructor read a file (recorded in ``pretrained_from``),
        ``'init_cfg Pretrained ...'`` for a ``Pretrained`` init config,
        else None.
    """
    files = getattr(module, 'pretrained_from', None)
    if files:
        return f'loaded at construction from {", ".join(map(str, files))}'
    init_cfg = getattr(module, 'init_cfg', None)
    cfgs = [init_cfg] if isinstance(init_cfg, Mapping) else init_cfg or []
    for cfg in cfgs:
        if isinstance(cfg, Mapping) and cfg.get('checkpoint') and cfg.get(
                'type') in ('Pretrained', PretrainedInit):
            return f"init_cfg Pretrained {cfg['checkpoint']}"
    return None


def _key_sources(model: nn.Module, keys: Sequence[str]) -> Dict[str, tuple]:
    """For each key, the nearest enclosing module that has a weight source.

    Returns:
        dict: key -> ``(module name, module, source)``; keys with no
        source are left out.
    """
    cache: Dict[str, tuple] = {}
    found = {}
    for key in keys:
        module, path = model, ''
        for part in key.split('.')[:-1] + [None]:
            if path not in cache:
                source = weight_source(module)
                cache[path] = (path, module, source) if source else None
            if cache[path] is not None:
                found[key] = cache[path]
                break
            module = module._modules.get(part) if part else None
            if module is None:
                break
            path = f'{path}.{part}' if path else part
    return found


def _prefix_hint(model_keys: Iterable[str], file_keys: Sequence[str],
                 model: nn.Module) -> str:
    """Say so when the file's keys are one submodule's keys, unprefixed."""
    model_keys = set(model_keys)
    for name in model._modules:
        hits = sum(f'{name}.{k}' in model_keys for k in file_keys)
        if file_keys and hits >= len(file_keys) / 2:
            return (f'  The file\'s keys are those of the submodule '
                    f'{name!r} without the {name + "."!r} prefix: it holds '
                    f'that part only. Give it to that module (its init_cfg '
                    f'Pretrained or constructor checkpoint), or convert it '
                    f'with tools/model_converters.')
    return ''


def _mismatch_message(filename: str, model: nn.Module, num_model_keys: int,
                      num_found: int, missing: List[str],
                      unexpected: List[str], shapes: List[str],
                      unsourced: List[str], hint: str) -> str:
    lines = [
        f'Checkpoint {filename!r} does not match the model '
        f'({type(model).__name__}): {num_found} of the model\'s '
        f'{num_model_keys} keys found in the file.'
    ]
    lines += mismatch_lines(missing, unexpected, shapes, limit=10)
    if unsourced:
        lines.append(
            f'  allowed to be missing by {ALLOW_KEY}.missing but their '
            f'modules load no weights of their own (no init_cfg Pretrained, '
            f'no constructor checkpoint), so they would stay random '
            f'({len(unsourced)}): {short_list(unsourced, 10)}')
    if hint:
        lines.append(hint)
    lines.append(
        '  Fix: pass the checkpoint of this config (tools/train.py writes '
        'work_dir/epoch_*.pth; released weights: docs/reproduction.md). If '
        'the file holds part of the model on purpose, name what may differ: '
        f'{ALLOW_KEY}=dict(missing=["backbone."], unexpected=[...]) in the '
        'config, or on the tools\' command line --cfg-options '
        f'{ALLOW_KEY}.missing="[backbone.]"; missing weights must then come '
        "from their module's init_cfg Pretrained or constructor checkpoint.")
    return '\n'.join(lines)


def load_state_dict_exactly(
        model: nn.Module,
        checkpoint: Mapping,
        filename: str,
        allow_missing: Sequence[str] = (),
        allow_unexpected: Sequence[str] = (),
        revise_keys: Iterable[Tuple[str,
                                    str]] = DEFAULT_REVISE_KEYS) -> List[str]:
    """Load a read checkpoint into ``model``; every key must match.

    Args:
        model (nn.Module): The model (not a DDP wrapper).
        checkpoint (Mapping): From :func:`read_checkpoint`.
        filename (str): Its file, named in errors and logs.
        allow_missing (Sequence[str]): Prefixes of model keys the file may
            lack; their modules must have a weight source
            (:func:`weight_source`). Defaults to none.
        allow_unexpected (Sequence[str]): Prefixes of file keys that are
            ignored. Defaults to none.
        revise_keys (Iterable): ``(pattern, replacement)`` applied to the
            file's keys first, as mmengine does (strips ``module.``).

    Returns:
        list[str]: The model keys that kept the weights of their module's
        own source (empty for a full checkpoint).

    Raises:
        RuntimeError: Missing, unexpected or mis-shaped keys not allowed,
            or allowed-missing keys without a weight source.
    """
    state_dict = _state_dict_of(checkpoint, filename, revise_keys)
    layout = module_layout(model)
    missing, unexpected, shapes = state_dict_mismatch(layout, state_dict)
    # mmengine ignores BatchNorm counters missing from old checkpoints too.
    missing = [k for k in missing if not k.endswith('num_batches_tracked')]
    allowed = [k for k in missing if k.startswith(tuple(allow_missing))]
    ignored = [k for k in unexpected if k.startswith(tuple(allow_unexpected))]
    sources = _key_sources(model, allowed)
    unsourced = [k for k in allowed if k not in sources]
    bad_missing = [k for k in missing if k not in allowed]
    bad_unexpected = [k for k in unexpected if k not in ignored]
    if bad_missing or bad_unexpected or shapes or unsourced:
        hint = _prefix_hint(layout, list(state_dict), model) \
            if bad_missing and len(bad_unexpected) == len(state_dict) else ''
        raise RuntimeError(
            _mismatch_message(filename, model, len(layout),
                              len(layout) - len(missing), bad_missing,
                              bad_unexpected, shapes, unsourced, hint))
    # A Pretrained init_cfg is applied by Runner.train before load_from,
    # but not by test/val or a bare build (the inferencer): apply it now.
    owners = {id(m): m for _, m, _ in sources.values()}
    for owner in owners.values():
        if hasattr(owner,
                   'init_weights') and not getattr(owner, 'is_init', True):
            owner.init_weights()
    for key in ignored:
        del state_dict[key]
    load_state_dict(model, state_dict, strict=not allowed, logger='silent')
    if allowed or ignored:
        described = sorted(
            {f'{name or "model"}: {src}'
             for name, _, src in sources.values()})
        print_log(
            f'Loaded {filename} ({len(state_dict)} tensors) with '
            f'{ALLOW_KEY}: {len(allowed)} model keys not in the file keep '
            f'the weights of {"; ".join(described) or "-"}; '
            f'{len(ignored)} file keys ignored.',
            logger='current',
            level=logging.WARNING)
    return allowed


def load_model_checkpoint(model: nn.Module,
                          filename: str,
                          map_location: Any = 'cpu',
                          allow: Optional[Mapping] = None) -> dict:
    """Read ``filename`` and load it into ``model`` exactly.

    The one loading path of ``load_from``, ``tools/test.py`` (through
    :class:`StrictLoadRunner`) and :class:`PromptHubInferencer`.

    Args:
        model (nn.Module): The model.
        filename (str): The checkpoint.
        map_location (str | callable): As :func:`torch.load`.
        allow (Mapping, optional): The config's ``load_from_allow``
            (:func:`parse_load_allow`).

    Returns:
        dict: The checkpoint.
    """
    allow_missing, allow_unexpected = parse_load_allow(allow)
    checkpoint = read_checkpoint(filename, map_location)
    load_state_dict_exactly(model, checkpoint, filename, allow_missing,
                            allow_unexpected)
    return checkpoint
