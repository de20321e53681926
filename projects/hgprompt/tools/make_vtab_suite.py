"""Write the generated VTAB-like suite (NOAH VTAB-1k layout, no download).

Usage::

    python projects/hgprompt/tools/make_vtab_suite.py OUT_DIR
        [--tasks count4 ...] [--num-train 800] [--num-val 200]
        [--num-test 1000] [--size 32] [--seed 0] [--fake-vtab1k]

``--fake-vtab1k`` writes the VTAB-1k task names and class counts instead
(``--tasks dtd eurosat ...``, default all 19) with drawn images: a fake
tree on which the VTAB-1k configs and the protocol run end to end.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0,
                osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..')))

from projects.hgprompt.datasets.vtab_suite import (  # noqa: E402
    TASK_GENERATORS, make_fake_vtab1k, make_vtab_suite)
from projects.hgprompt.datasets.vtab_tasks import VTAB1K_TASKS  # noqa: E402


def main() -> None:
    """Parse the command line and write the tasks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='output root (<out_dir>/<task>/)')
    parser.add_argument(
        '--tasks',
        nargs='+',
        default=None,
        choices=sorted(TASK_GENERATORS) + list(VTAB1K_TASKS),
        help='tasks to write (default: all)')
    parser.add_argument('--num-train', type=int, default=800)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument('--num-test', type=int, default=1000)
    parser.add_argument('--size', type=int, default=32)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--fake-vtab1k',
        action='store_true',
        help='write the VTAB-1k task names and class counts (fake images)')
    args = parser.parse_args()
    make = make_fake_vtab1k if args.fake_vtab1k else make_vtab_suite
    dirs = make(
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
