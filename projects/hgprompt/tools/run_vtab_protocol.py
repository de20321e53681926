"""Run VPT's VTAB-1k protocol on one config per task.

For each task: an lr x weight-decay grid trained on train800 and scored on
val200, then the best pair trained on train800val200 once per seed and
scored on test (see ``projects/hgprompt/benchmark/protocol.py``).

Usage::

    python projects/hgprompt/tools/run_vtab_protocol.py CONFIG_TEMPLATE \\
        --work-dir DIR [--data-root data/vtab-1k] [--tasks dtd ...] \\
        [--lrs 1e-2 ...] [--wds 0 ...] [--seeds 42 ...] \\
        [--cfg-options k=v ...] [--save-checkpoints] [--rerun]

``CONFIG_TEMPLATE`` holds ``{task}``, e.g.
``configs/hgprompt/hgprompt_vit-b16_vtab1k-{task}.py``. The grid and
seeds default to the config's ``protocol`` dict; ``--cfg-options`` apply
to every run. Finished runs are reused (``--rerun`` trains again).
Aggregate with ``projects/hgprompt/tools/aggregate_vtab_results.py``.
"""
import argparse
import os.path as osp
import sys

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))
sys.path.insert(0, ROOT)

from mmengine.config import DictAction  # noqa: E402

import projects.hgprompt  # noqa: E402,F401
from projects.hgprompt.benchmark import protocol  # noqa: E402
from projects.hgprompt.datasets.vtab_tasks import VTAB1K_TASKS  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'config_template', help='config path with a {task} placeholder')
    parser.add_argument(
        '--work-dir', required=True, help='protocol root (one folder/task)')
    parser.add_argument(
        '--data-root',
        help='VTAB-1k root holding <task>/ (default: the configs\' paths)')
    parser.add_argument(
        '--tasks',
        nargs='+',
        choices=list(VTAB1K_TASKS),
        default=list(VTAB1K_TASKS),
        metavar='TASK',
        help='tasks (default: the 19 VTAB-1k tasks)')
    parser.add_argument(
        '--lrs', type=float, nargs='+', help='lr grid (config units)')
    parser.add_argument('--wds', type=float, nargs='+', help='wd grid')
    parser.add_argument('--seeds', type=int, nargs='+', help='final seeds')
    parser.add_argument('--metric', default=protocol.DEFAULT_METRIC)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='config overrides for every run (key=value)')
    parser.add_argument(
        '--save-checkpoints',
        action='store_true',
        help='keep each run\'s last checkpoint (large for ViT-B/16)')
    parser.add_argument(
        '--rerun', action='store_true', help='train finished runs again')
    parser.add_argument('--log-level', default='WARNING')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Run the protocol; returns task -> summary."""
    # Every option is named after the run_protocol / run_task / run_once
    # argument it sets.
    return protocol.run_protocol(
        **vars(parse_args(argv)), report=lambda line: print(line, flush=True))


if __name__ == '__main__':
    main()
