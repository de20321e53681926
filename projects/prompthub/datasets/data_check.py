"""Check a config's data paths before the (large) model is built.

``Runner.from_cfg`` builds the model (MAE-VQGAN: 400M parameters, tens of
seconds on a CPU) before any dataloader, so a missing dataset used to be
reported after that and hundreds of log lines. :func:`check_data_paths`
walks the dataset configs of the dataloaders a run will use, through the
wrappers (``RetrievalAugmentedDataset``, ``HoldoutSubset``,
``ConcatDataset``, ``StockSegToVICL``, ...), and raises one error listing
every missing ``data_root``, ``ann_file``, ``data_prefix`` folder and
retrieval index with its config key.
"""
import os
import os.path as osp
from types import SimpleNamespace
from typing import Any, Dict, List, Sequence, Tuple

from mmengine.config import Config
from mmengine.dataset import BaseDataset

from projects.prompthub.registry import DATASETS

#: The dataloaders each tool builds.
RUN_DATALOADERS = {
    'train': ('train_dataloader', 'val_dataloader'),
    'val': ('val_dataloader', ),
    'test': ('test_dataloader', ),
}
#: Config keys of wrapped datasets.
_WRAPPED = ('dataset', 'prompt_dataset', 'datasets')
#: Files named by wrapper arguments: (type, key, what).
_WRAPPER_FILES = (('RetrievalAugmentedDataset', 'index', 'retrieval index'), )
#: How to make a missing path, by what it is.
_FIXES = {
    'retrieval index':
    'build it with tools/misc/build_retrieval_index.py, or import the '
    "reference's lists with its --from-json",
}
DOCS_HINT = ('Where to get the PromptHub data sets and where to put them: '
             'docs/reproduction.md (HGPrompt: configs/hgprompt/README.md).')

_Missing = List[Tuple[str, str, str]]  # (config key, path, what it is)


def _is_remote(path: str) -> bool:
    return '://' in path


def _check(path: Any, key: str, what: str, is_dir: bool,
           missing: _Missing) -> bool:
    """Record ``path`` as missing; True if it exists (or is not local)."""
    if not isinstance(path, str) or not path or _is_remote(path):
        return True
    if (osp.isdir if is_dir else osp.isfile)(path):
        return True
    missing.append((key, path, what))
    return False


def _dataset_class(type_: Any, scope: str) -> Any:
    if not isinstance(type_, str):
        return type_
    with DATASETS.switch_scope_and_registry(scope) as registry:
        return registry.get(type_)


def _check_leaf(cls: type, cfg: dict, key: str, missing: _Missing) -> None:
    """Check a ``BaseDataset``'s data root, annotation file and folders.

    The dataset is built with ``lazy_init=True`` (nothing is read) so that
    defaults computed by its ``__init__`` (e.g. Pascal-5i's
    ``splits/pascal/{split}/fold{k}.txt``) are checked too.
    """
    name = cls.__name__
    if not _check(
            cfg.get('data_root'), f'{key}.data_root', f'{name} data root',
            True, missing):
        return  # everything below it is missing too
    args = {k: v for k, v in cfg.items() if k not in ('type', '_scope_')}
    args.update(lazy_init=True, pipeline=[])
    try:
        dataset = cls(**args)
    except TypeError:
        return  # no lazy_init / pipeline arguments: the Runner checks it
    except Exception:
        # Some constructors check files even when lazy (mmseg's
        # PascalVOCDataset asserts its image folder and ann_file exist):
        # check the configured paths as BaseDataset joins them.
        dataset = _configured_paths(cfg)
    _check(dataset.ann_file, f'{key}.ann_file', f'{name} annotation file',
           False, missing)
    for field, path in (dataset.data_prefix or {}).items():
        if path != dataset.data_root:
            _check(path, f'{key}.data_prefix.{field}',
                   f'{name} {field} folder', True, missing)


def _configured_paths(cfg: dict) -> Any:
    """``data_root``, ``ann_file`` and ``data_prefix`` of a dataset config,
    joined like ``BaseDataset._join_prefix`` (relative paths under
    ``data_root``)."""
    root = cfg.get('data_root')

    def join(path: Any) -> Any:
        if (root and isinstance(path, str) and path and not osp.isabs(path)
                and not _is_remote(path)):
            return osp.join(root, path)
        return path

    return SimpleNamespace(
        data_root=root,
        ann_file=join(cfg.get('ann_file', '')),
        data_prefix={
            k: join(v)
            for k, v in (cfg.get('data_prefix') or {}).items()
        })


def _walk(cfg: Any, key: str, scope: str, missing: _Missing) -> None:
    if isinstance(cfg, (list, tuple)):
        for i, item in enumerate(cfg):
            _walk(item, f'{key}.{i}', scope, missing)
        return
    if not isinstance(cfg, dict) or 'type' not in cfg:
        return  # a built dataset or nothing to check
    cls = _dataset_class(cfg['type'], cfg.get('_scope_', scope))
    if cls is None:
        return  # unknown type: the Runner reports it
    if isinstance(cls, type) and issubclass(cls, BaseDataset):
        _check_leaf(cls, cfg, key, missing)
        # A BaseDataset may wrap another (StockSegToVICL): walked below.
    for type_name, field, what in _WRAPPER_FILES:
        if cls.__name__ == type_name and field in cfg:
            _check(cfg[field], f'{key}.{field}', what, False, missing)
    for field in _WRAPPED:
        if field in cfg:
            _walk(cfg[field], f'{key}.{field}', scope, missing)


def _missing(cfg: Config, datasets: Dict[str, Any]) -> _Missing:
    """The missing paths of dataset configs given by their config keys
    (``_walk`` passes over None and anything that is not a config)."""
    missing: _Missing = []
    for key, dataset in datasets.items():
        _walk(dataset, key, cfg.get('default_scope'), missing)
    return missing


def _loader_datasets(cfg: Config, dataloaders: Sequence[str]) -> dict:
    """The dataset configs of some dataloaders, by config key."""
    return {
        f'{name}.dataset': (cfg.get(name) or {}).get('dataset')
        for name in dataloaders
    }


def missing_data_paths(cfg: Config, dataloaders: Sequence[str]) -> _Missing:
    """The missing data paths of some dataloaders of a config.

    Args:
        cfg (Config): A run config.
        dataloaders (Sequence[str]): Keys such as ``'train_dataloader'``;
            absent or empty ones are skipped.

    Returns:
        list[tuple[str, str, str]]: ``(config key, path, what)`` of each
        missing path, in config order.
    """
    return _missing(cfg, _loader_datasets(cfg, dataloaders))


def check_data_paths(cfg: Config, run: str) -> None:
    """Raise one clear error if data a run needs is missing.

    Call it before building the Runner, e.g. ``check_data_paths(cfg,
    'train')`` in ``tools/train.py``.

    Args:
        cfg (Config): The run's config (after ``--cfg-options``).
        run (str): ``'train'`` (train and val dataloaders), ``'val'`` or
            ``'test'``.

    Raises:
        FileNotFoundError: Listing each missing path once with the config
            keys that name it, and pointing to ``docs/reproduction.md``.
    """
    check_dataset_paths(cfg, _loader_datasets(cfg, RUN_DATALOADERS[run]))


def check_dataset_paths(cfg: Config, datasets: Dict[str, Any]) -> None:
    """Like :func:`check_data_paths`, for dataset configs outside the
    dataloaders (e.g. the ``retrieval`` dict's ``query_dataset``).

    Args:
        cfg (Config): The config (its ``default_scope`` resolves types).
        datasets (dict): Dataset configs by their config key, e.g.
            ``{'retrieval.query_dataset': cfg.retrieval.query_dataset}``;
            None values are skipped.

    Raises:
        FileNotFoundError: As :func:`check_data_paths`.
    """
    missing = _missing(cfg, datasets)
    if not missing:
        return
    by_path: Dict[str, List[Tuple[str, str]]] = {}
    for key, path, what in missing:
        by_path.setdefault(path, []).append((key, what))
    lines = []
    for path, uses in by_path.items():
        keys = ', '.join(key for key, _ in uses)
        where = '' if osp.isabs(path) else f' (relative to {os.getcwd()})'
        lines.append(f'  {uses[0][1]} {path!r}{where}, set by {keys}')
        if uses[0][1] in _FIXES:
            lines.append(f'    -> {_FIXES[uses[0][1]]}')
    raise FileNotFoundError(
        f'Data not found ({len(by_path)} missing path(s); checked before '
        'building the model):\n' + '\n'.join(lines) + '\n' + DOCS_HINT +
        ' To use another location, override the keys above, e.g. '
        f'--cfg-options {missing[0][0]}=/path/to/it')
