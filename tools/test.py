"""Test (evaluate) a checkpoint (mmsegmentation 1.x ``tools/test.py``).

Usage::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR]
        [--show-dir DIR] [--cfg-options k=v ...] [--launcher ...]
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from projects.prompthub.apis import enable_visualization  # noqa: E402
from projects.prompthub.apis import set_prediction_output  # noqa: E402
from projects.prompthub.datasets import check_data_paths  # noqa: E402
from projects.prompthub.utils import apply_cfg_options  # noqa: E402
from projects.prompthub.utils import close_distributed  # noqa: E402
from projects.prompthub.utils import setup_cpu_distributed  # noqa: E402


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='directory for each query\'s predicted mask at its original '
        'size (PNG) and scores.json with the per-image scores (HGPrompt '
        'configs: predictions.json with each sample\'s labels and scores)')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where the episode grids (prompts, fused prompt, '
        'prediction, ground truth; HGPrompt configs: the image with its '
        'true and predicted class) are saved, relative to '
        'work_dir/timestamp')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main() -> None:
    """Build the Runner from the config and run the test loop."""
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    apply_cfg_options(cfg, args.cfg_options)  # unknown keys raise

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args.show, args.show_dir, args.wait_time)
    if args.out is not None:
        set_prediction_output(cfg, args.out)

    check_data_paths(cfg, 'test')  # before the model: fail in seconds
    setup_cpu_distributed(cfg)
    runner = (
        Runner.from_cfg(cfg)
        if 'runner_type' not in cfg else RUNNERS.build(cfg))
    runner.test()
    del runner  # frees its DDP wrapper, which holds the process group
    close_distributed()


if __name__ == '__main__':
    main()
