"""Build the prompt-retrieval index of a config, or import a reference JSON.

Examples::

    # features + cosine top-k as configured in ``retrieval = dict(...)``
    python tools/misc/build_retrieval_index.py CONFIG --device cuda \\
        --cfg-options retrieval.fp16=True

    # convert the reference's lists into an index file; with a CONFIG,
    # the index records its `retrieval` datasets, so that a later change
    # of them is detected (RetrievalAugmentedDataset `on_stale`)
    python tools/misc/build_retrieval_index.py CONFIG --from-json \\
        data/.../folder0_top_50-similarity.json --out folder0.npz

The index records the command that wrote it; errors that ask for a
rebuild quote it.
"""
import argparse
import os.path as osp
import shlex
import sys

# Make ``projects`` importable when run as ``python tools/...``.
sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Build a PromptHub retrieval index (top-k prompts per '
        'query) from the `retrieval` dict of a config.')
    parser.add_argument(
        'config', nargs='?', help='config file with a `retrieval` dict')
    parser.add_argument(
        '--out',
        help='output .npz (default: retrieval.out, else '
        'work_dirs/<config name>/retrieval_index.npz)')
    parser.add_argument(
        '--device',
        choices=['cpu', 'cuda'],
        help='default: retrieval.device, else cuda when available')
    parser.add_argument(
        '--from-json',
        metavar='JSON',
        help='import a reference `{query: [names]}` top-k JSON instead of '
        'computing features (CONFIG is then optional; with it, the index '
        'records the datasets of its `retrieval` dict)')
    parser.add_argument(
        '--strip-ext',
        action='store_true',
        help='with --from-json: drop file extensions from the names (the '
        "reference's COCO lists name images with '.jpg')")
    parser.add_argument(
        '--key',
        default='retrieval',
        help='the config dict to read (default: retrieval), e.g. a second '
        'dict describing the val -> train index')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. retrieval.topk=20')
    return parser.parse_args(argv)


def _command(argv: list, out: str) -> str:
    """The shell command that rewrites ``out`` (recorded in the index)."""
    words = ['python', 'tools/misc/build_retrieval_index.py', *argv]
    if '--out' not in argv:
        words += ['--out', out]
    return shlex.join(words)


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.config is None and args.from_json is None:
        raise SystemExit('Give a CONFIG or --from-json JSON.')

    retrieval = {}
    cfg = None
    if args.config is not None:
        cfg = Config.fromfile(args.config)
        from projects.prompthub.retrieval import build_retrieval_index
        from projects.prompthub.utils import apply_cfg_options
        apply_cfg_options(cfg, args.cfg_options,
                          {args.key: (build_retrieval_index, 'out')})
        if cfg.get(args.key) is None and args.from_json is None:
            raise SystemExit(f'{args.config} has no `{args.key}` dict.')
        retrieval = dict(cfg.get(args.key) or {})

    # Imported here so that the config's custom_imports ran first.
    import projects.prompthub  # noqa: F401 registers the datasets
    from projects.prompthub.datasets import check_dataset_paths
    from projects.prompthub.retrieval import (RetrievalIndex,
                                              build_retrieval_index,
                                              datasets_fingerprint)
    if cfg is not None:  # every missing path at once, before any feature
        check_dataset_paths(
            cfg, {
                f'{args.key}.{name}': retrieval.get(name)
                for name in ('query_dataset', 'candidate_dataset')
            })

    cfg_out = retrieval.pop('out', None)
    cfg_device = retrieval.pop('device', None)
    out = args.out or cfg_out
    if args.from_json is not None:
        index = RetrievalIndex.from_reference_json(
            args.from_json, strip_ext=args.strip_ext)
        out = out or osp.splitext(args.from_json)[0] + '.npz'
        if retrieval.get('query_dataset') is not None:
            if cfg.get('default_scope') is not None:
                init_default_scope(cfg.default_scope)
            index.fingerprint['datasets'] = datasets_fingerprint(
                retrieval['query_dataset'], retrieval.get('candidate_dataset'))
        index.build_command = _command(argv, out)
        index.save(out)
        print(f'Imported {len(index)} queries x {index.topk} neighbours '
              f'over {len(index.candidate_names)} candidates from '
              f'{args.from_json} into {out}')
        if 'datasets' not in index.fingerprint:
            print('The index does not record its datasets (no CONFIG with '
                  f'a `{args.key}` dict): changes of them will not be '
                  'detected.')
        return

    if out is None:
        stem = osp.splitext(osp.basename(args.config))[0]
        out = osp.join('work_dirs', stem, 'retrieval_index.npz')
    import torch
    device = args.device or cfg_device
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda requested but CUDA is unavailable.')
    if cfg.get('default_scope') is not None:
        init_default_scope(cfg.default_scope)

    index, stats = build_retrieval_index(**retrieval, device=device)
    index.build_command = _command(argv, out)
    index.save(out)
    print(f'Saved {len(index)} queries x {index.topk} neighbours over '
          f'{len(index.candidate_names)} candidates to {out}')
    if stats['images']:
        print(f'Features: {stats["images"]} images computed in '
              f'{stats["extract_seconds"]:.1f} s '
              f'({stats["images_per_second"]:.1f} images/s), '
              f'{stats["changed"]} of them because the image changed since '
              f'it was stored; {stats["reused"]} reused from '
              f'{args.key}.feature_dir')
    else:
        print(f'Features: all reused from {args.key}.feature_dir '
              f'({stats["reused"]} rows)')
    print(f'Search: {stats["search_seconds"]:.1f} s')
    print(f'Peak memory: RSS {stats["peak_rss_mib"]:.0f} MiB, '
          f'GPU {stats["peak_gpu_mib"]:.0f} MiB')


if __name__ == '__main__':
    main()
