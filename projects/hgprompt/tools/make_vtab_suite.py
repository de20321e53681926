"""Write the generated VTAB-like suite (NOAH VTAB-1k layout, no download).

Usage::

    python projects/hgprompt/tools/make_vtab_suite.py OUT_DIR
        [--tasks count4 ...] [--num-train 800] [--num-val 200]
        [--num-test 1000] [--size 32]
        [--seed 0]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0,
                osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..')))

from projects.hgprompt.datasets.vtab_suite import (  # noqa: E402
    TASK_GENERATORS, make_vtab_suite)


def main() -> None:
    """Parse the command line and write the tasks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='output root (<out_dir>/<task>/)')
    parser.add_argument(
        '--tasks',
        nargs='+',
        default=None,
        choices=sorted(TASK_GENERATORS),
        help='tasks to write (default: all)')
    parser.add_argument('--num-train', type=int, default=800)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument('--num-test', type=int, default=1000)
    parser.add_argument('--size', type=int, default=32)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    dirs = make_vtab_suite(
        args.out_dir,
        args.tasks,
        seed=args.seed,
        num_train=args.num_train,
        num_val=args.num_val,
        num_test=args.num_test,
        size=args.size)
    for task, path in dirs.items():
        print(f'{task}: {path}')


if __name__ == '__main__':
    main()
