"""Write the 19 VTAB-1k task configs (VPT-deep and HGPrompt) and their
model-index entries from the task table.

Usage::

    python projects/hgprompt/tools/make_vtab_configs.py          # write
    python projects/hgprompt/tools/make_vtab_configs.py --check  # compare

The class counts and groups live in
``projects/hgprompt/datasets/vtab_tasks.py``; after editing it (or the
templates in ``projects/hgprompt/benchmark/vtab_configs.py``), run this
and then ``python tools/misc/update_model_index_tables.py``.
"""
import argparse
import os.path as osp
import sys

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))
sys.path.insert(0, ROOT)

from projects.hgprompt.benchmark.vtab_configs import \
    write_vtab_configs  # noqa: E402


def main(argv=None) -> int:
    """Write or check; exit 1 when ``--check`` finds a stale file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--check',
        action='store_true',
        help='only compare the files with the table; exit 1 if they differ')
    parser.add_argument(
        '--root', default=ROOT, help='repository root (default: this one)')
    args = parser.parse_args(argv)
    changed = write_vtab_configs(args.root, check=args.check)
    if not changed:
        print('up to date')
    elif not args.check:
        print(f'written: {", ".join(changed)}')
    else:
        print(
            f'out of date with the task table: {", ".join(changed)}; run '
            'python projects/hgprompt/tools/make_vtab_configs.py',
            file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
