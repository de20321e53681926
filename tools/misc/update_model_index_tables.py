"""Regenerate the README tables from the model index.

``model-index.yml`` (and the ``metafile.yaml`` files it imports) holds
every config's task, N, published number and released checkpoint. This
rewrites the results table of ``README.md`` and the configs table of
``configs/README.md`` between their marker comments::

    python tools/misc/update_model_index_tables.py          # write
    python tools/misc/update_model_index_tables.py --check  # compare only

It first checks the index (every config listed, every listed config
present, each entry complete) and stops, naming the entry and the fix, if
it is not.
"""
import argparse
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from projects.prompthub.utils.model_index import (  # noqa: E402
    check_model_index, update_tables)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Regenerate the README tables from model-index.yml.')
    parser.add_argument(
        '--check',
        action='store_true',
        help='only compare the tables with the index; exit 1 if they '
        'differ (nothing is written)')
    parser.add_argument(
        '--root',
        default=ROOT,
        help='repository root holding model-index.yml (default: this '
        'checkout)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    errors = check_model_index(args.root)
    if errors:
        print('\n'.join(errors), file=sys.stderr)
        return 1
    changed = update_tables(args.root, check=args.check)
    if args.check and changed:
        print(
            f'out of date with the model index: {", ".join(changed)}; '
            'run python tools/misc/update_model_index_tables.py',
            file=sys.stderr)
        return 1
    print(f'updated: {", ".join(changed)}' if changed else 'up to date')
    return 0


if __name__ == '__main__':
    sys.exit(main())
