"""Load every pair of a config's datasets once into a pair cache.

Each distinct (image, label) pair that the config's query and prompt
datasets can produce is decoded and resized once by the datasets' own
``LoadVICLPair`` and stored in ``--out`` (see
``projects/prompthub/datasets/transforms/pair_cache.py``). Point the
loader at it to read pairs from the cache instead of decoding them every
time a prompt is retrieved::

    python tools/misc/build_pair_cache.py configs/prompthub_seg.py \\
        --out data/pair_cache/pascal_111

It ends by printing the ``--cfg-options`` that set ``cache_dir`` on every
``LoadVICLPair`` of the config (e.g.
``train_dataloader.dataset.dataset.dataset.pipeline.0.cache_dir=...``), to
pass to ``tools/train.py``/``tools/test.py`` or copy into a config.

Rebuilding is safe while the cache is in use: the new pairs go to a new
version folder that replaces the old one atomically once complete (open
readers keep the old one). Keys identify each source file by its size
and mtime; ``--verify`` keys them by content hash instead (each file is
read once more, here and by every reader), so that an edit that keeps
both the size and the mtime is not served stale.
"""
import argparse
import copy
import os.path as osp
import sys
import time
from typing import List, Optional

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import projects.prompthub  # noqa: E402,F401
from projects.prompthub.datasets.transforms import LoadVICLPair, PairCache
from projects.prompthub.registry import DATASETS  # noqa: E402
from projects.prompthub.utils import apply_cfg_options  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config whose datasets to cache')
    parser.add_argument('--out', required=True, help='cache folder')
    parser.add_argument(
        '--splits',
        nargs='+',
        default=['train', 'val', 'test'],
        help='dataloaders to read (`<split>_dataloader`)')
    parser.add_argument(
        '--verify',
        action='store_true',
        help='key source files by content hash, not (size, mtime)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys')
    return parser.parse_args(argv)


def base_datasets(dataset) -> list:
    """The datasets that load pairs, under any wrappers."""
    if hasattr(dataset, 'prompt_dataset'):
        found = base_datasets(dataset.dataset)
        return found + [
            d for d in base_datasets(dataset.prompt_dataset)
            if all(d is not f for f in found)
        ]
    if hasattr(dataset, 'dataset'):
        return base_datasets(dataset.dataset)
    return [dataset]


def pair_loader(dataset) -> Optional[LoadVICLPair]:
    transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms', [])
    loaders = [t for t in transforms if isinstance(t, LoadVICLPair)]
    return loaders[0] if loaders else None


def collect(cfg: Config, splits: List[str], verify: bool = False) -> tuple:
    """(loader without cache, {key: record}) of every pair to cache."""
    loader, records = None, {}
    for split in splits:
        dataloader = cfg.get(f'{split}_dataloader')
        if not dataloader:
            print(f'{split}: no {split}_dataloader in the config')
            continue
        dataset = DATASETS.build(dataloader['dataset'])
        for base in base_datasets(dataset):
            name = type(base).__name__
            found = pair_loader(base)
            if found is None:
                print(f'{split}: {name} has no LoadVICLPair in its '
                      'pipeline; nothing to cache there')
                continue
            if loader is None:
                loader = copy.copy(found)
                loader.cache = None
            elif found.cache_settings() != loader.cache_settings():
                raise SystemExit(
                    f'{split}: {name} loads pairs with '
                    f'{found.cache_settings()}, another dataset with '
                    f'{loader.cache_settings()}; one cache folder holds one '
                    'setting, build one per setting (--splits).')
            before = len(records)
            for i in range(len(base)):
                info = base.get_data_info(i)
                records.setdefault(
                    LoadVICLPair.cache_key(info, verify, found.backend_args),
                    info)
            print(f'{split}: {name}, {len(base)} records, '
                  f'{len(records) - before} new pairs')
    return loader, records


def cache_dir_options(cfg: Config, splits: List[str],
                      directory: str) -> List[str]:
    """``--cfg-options`` entries that set ``cache_dir`` on every
    ``LoadVICLPair`` under the splits' dataloaders."""
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            if node.get('type') in ('LoadVICLPair', LoadVICLPair):
                found.append(f'{path}.cache_dir={directory}')
            for key, value in node.items():
                walk(value, f'{path}.{key}')
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f'{path}.{i}')

    for split in splits:
        if cfg.get(f'{split}_dataloader'):
            walk(cfg[f'{split}_dataloader'], f'{split}_dataloader')
    return found


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    apply_cfg_options(cfg, args.cfg_options)  # unknown keys raise
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    loader, records = collect(cfg, args.splits, args.verify)
    if loader is None:
        raise SystemExit(f'{args.config}: no dataset of {args.splits} loads '
                         'pairs with LoadVICLPair; nothing to cache.')
    progress = ProgressBar(len(records))
    start = time.perf_counter()

    def items():
        for key, info in records.items():
            img, label, shape = loader.load_resized(dict(info))
            # A file edited between keying and decoding would store its
            # new pixels under its old key: refuse, never store it.
            if LoadVICLPair.cache_key(info, args.verify,
                                      loader.backend_args) != key:
                raise SystemExit(
                    f"{info.get('img_path')!r} (or its label) changed "
                    f'while the pair cache was built; nothing was '
                    f'published to {args.out}, run the build again.')
            progress.update()
            yield key, img, label, shape

    PairCache.write(args.out, loader.cache_settings(), items(), len(records),
                    'content' if args.verify else 'stat')
    took = time.perf_counter() - start
    height, width = loader.size
    summary = dict(
        pairs=len(records),
        seconds=took,
        pairs_per_s=len(records) / took if took else 0.,
        megabytes=len(records) * 2 * height * width * 3 / 1e6)
    print(f"\nwrote {summary['pairs']} pairs ({summary['megabytes']:.1f} MB) "
          f"to {args.out} in {took:.1f} s")
    summary['cfg_options'] = cache_dir_options(cfg, args.splits, args.out)
    print('read it with --cfg-options ' + ' '.join(summary['cfg_options']))
    return summary


if __name__ == '__main__':
    main()
