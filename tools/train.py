"""Train a model from a config (mmsegmentation 1.x ``tools/train.py``).

Usage::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import logging
import os
import os.path as osp
import sys

# ``projects.prompthub`` lives at the repository root, which ``python
# tools/train.py`` does not put on sys.path.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from projects.prompthub.datasets import check_data_paths  # noqa: E402
from projects.prompthub.utils import apply_cfg_options  # noqa: E402
from projects.prompthub.utils import close_distributed  # noqa: E402
from projects.prompthub.utils import setup_cpu_distributed  # noqa: E402
from projects.prompthub.utils import split_global_batch  # noqa: E402


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, resume from the '
        'latest checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training (needs CUDA)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs; lists as '
        'key="[a,b]" (quotes needed), nesting as key.sub=value')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch >= 2.0 passes --local-rank; older launchers pass --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def apply_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to ``AmpOptimWrapper``."""
    optim_wrapper = cfg.optim_wrapper.type
    if optim_wrapper == 'AmpOptimWrapper':
        print_log(
            'AMP training is already enabled in your config.',
            logger='current',
            level=logging.WARNING)
        return
    assert optim_wrapper == 'OptimWrapper', (
        '`--amp` is only supported when the optimizer wrapper type is '
        f'`OptimWrapper` but got {optim_wrapper}.')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def main() -> None:
    """Build the Runner from the config and train."""
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    apply_cfg_options(cfg, args.cfg_options)  # unknown keys raise

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        apply_amp(cfg)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    check_data_paths(cfg, 'train')  # before the model: fail in seconds
    setup_cpu_distributed(cfg)
    runner = (
        Runner.from_cfg(cfg)
        if 'runner_type' not in cfg else RUNNERS.build(cfg))
    split_global_batch(runner)  # the config's batch is the global one
    runner.train()
    del runner  # frees its DDP wrapper, which holds the process group
    close_distributed()


if __name__ == '__main__':
    main()
