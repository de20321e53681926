"""The CPU demo: train PromptHub's fusion neck and print the table.

Trains the fusion neck of the demo config (``DEMO_CONFIG``) on top of the
committed tiny backbone (``projects/prompthub/weights/``), evaluates every
baseline on held-out classes and prints the table with paired 95 %
intervals and the prompt-reading gate. PNG grids of validation queries
land under ``{work_dir}/vis``; the table under ``{work_dir}/demo.json``.

Example::

    python demo/cpu_demo.py            # about 6 minutes on 2 CPU cores
    # a variant of the neck, scored the same way (no prompt alignment)
    python demo/cpu_demo.py --work-dir work_dirs/demo_no_align \
        --cfg-options model.neck.type=FastLocalityFusionNeck
"""
import argparse
import json
import os.path as osp
import sys

# ``projects.prompthub`` lives at the repository root, which ``python
# demo/cpu_demo.py`` does not put on sys.path.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmengine  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

DEMO_CONFIG = osp.join(
    'configs', 'prompthub',
    'prompthub-n4_tiny-vicl_1xb16-adamw-200iter_lookalike-fold0.py')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEMO_CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/prompthub_demo')
    parser.add_argument(
        '--iters',
        type=int,
        default=None,
        help='override the training iterations')
    parser.add_argument(
        '--episodes', type=int, default=300, help='held-out episodes scored')
    parser.add_argument(
        '--max-prompts',
        type=int,
        default=16,
        choices=(4, 16),
        help='largest N scored (16 adds PromptHub N=16)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value (as in '
        'tools/train.py)')
    return parser.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    from projects.prompthub.demo import run_demo
    from projects.prompthub.utils import apply_cfg_options
    from projects.prompthub.utils.paths import resolve_project_path
    cfg = Config.fromfile(args.config)
    apply_cfg_options(cfg, args.cfg_options)  # unknown keys raise
    cfg.work_dir = args.work_dir
    ckpt = cfg.model.backbone.get('checkpoint')
    try:  # relative to the working directory, else to the repository
        ckpt and resolve_project_path(ckpt)
    except FileNotFoundError as e:
        raise SystemExit(
            f'{e} Run tools/misc/pretrain_tiny_backbone.py --out {ckpt} (see '
            'its docstring for the recipe)')
    result = run_demo(cfg, args.iters, args.episodes, args.max_prompts)
    mmengine.mkdir_or_exist(args.work_dir)
    out = osp.join(args.work_dir, 'demo.json')
    with open(out, 'w') as f:
        json.dump(result, f)
    print(f'[demo] per-episode scores in {out}; grids in '
          f'{osp.join(args.work_dir, "vis")}')


if __name__ == '__main__':
    main()
