"""Aggregate protocol results into one markdown table and one CSV.

Usage::

    python projects/hgprompt/tools/aggregate_vtab_results.py WORK_DIR \\
        [WORK_DIR ...] [--names vpt hgprompt] [--out results/vtab1k]

Each ``WORK_DIR`` is the ``--work-dir`` of one
``run_vtab_protocol.py`` run (one method). Writes ``<out>.md`` and
``<out>.csv`` (default ``<first WORK_DIR>/vtab1k_results``): per-task
mean ± std over seeds, the three VTAB group means, the mean of the tasks
and the mean of the group means.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0,
                osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..')))

from projects.hgprompt.benchmark import aggregate  # noqa: E402
from projects.prompthub.utils.atomic_io import atomic_write  # noqa: E402


def main(argv=None) -> str:
    """Write the table and the CSV; returns the markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+', help='protocol work dirs')
    parser.add_argument(
        '--names', nargs='+', help='method names (default: folder names)')
    parser.add_argument(
        '--out', help='output path without extension (.md and .csv)')
    args = parser.parse_args(argv)
    methods = aggregate.aggregate(args.work_dirs, args.names)
    out = args.out or osp.join(args.work_dirs[0], 'vtab1k_results')
    markdown = aggregate.to_markdown(methods)
    atomic_write(out + '.md', markdown)
    atomic_write(out + '.csv', aggregate.to_csv(methods))
    print(markdown)
    print(f'written: {out}.md, {out}.csv')
    return markdown


if __name__ == '__main__':
    main()
