"""One prepared, unattended check of PromptHub on a CUDA GPU.

Usage::

    python tools/gpu_check.py --out work_dirs/gpu_check            # GPU
    python tools/gpu_check.py --out work_dirs/gpu_check --dry-run  # CPU

The checks run in this order, each in its own subprocess with its own time
limit, so that a hang costs one check and not the window (8 minutes in all
by default, ``--budget``):

* ``setup``: the environment imports mmcv with its ops (compiled for CUDA,
  and one CUDA op agrees with its CPU result), mmengine, mmseg, mmdet and
  the project, and torch sees the GPU; otherwise ``tools/setup_env.sh``
  runs with ``FORCE_CUDA=1`` and ``TORCH_CUDA_ARCH_LIST`` of the device;
* ``cuda_tests``: the test suite's CUDA-only tests (those skipped without
  CUDA), collected from the suite, run with pytest;
* ``amp``: full-size PromptHub (random weights, synthetic data on 224x224
  canvases) trains about 20 iterations under ``AmpOptimWrapper``: the loss
  is finite and falls; then AMP and fp32 predictions are compared;
* ``dist``: ``tools/dist_train.sh`` on all visible GPUs (NCCL) for one
  epoch, then ``--resume`` for a second one;
* ``benchmark``: ``tools/analysis_tools/benchmark.py --device cuda --amp``
  on B=16, N in {1, 4, 16, 64};
* ``retrieval``: the CUDA top-k of ``projects.prompthub.retrieval`` through
  the same tool, doubling the images while the next run fits the budget,
  with the tool's scaling to COCO-train.

``--dry-run`` runs the same functions on CPU with tiny models and sizes
(gloo instead of NCCL, autocast to bfloat16 instead of float16): CI runs it
so that this script cannot rot. Everything goes under ``--out``; the
format (files, table columns, JSON keys, tolerances) is documented in
``docs/benchmarks.md`` ("GPU check"). Exit status 1 when a check failed.

The checks live in ``tools/gpu_checks/``, one module each. Only the
standard library is imported at start: the set-up check may first have to
create the environment that the other checks import.
"""
import argparse
import json
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from tools.gpu_checks.context import FAIL, Context
from tools.gpu_checks.runner import CHECKS, run_check
from tools.gpu_checks.summary import format_table, write_summary


def _pairs(items: Optional[List[str]], what: str) -> List[Tuple[str, str]]:
    out = []
    for item in items or []:
        name, sep, value = item.partition('=')
        if not sep:
            raise SystemExit(f'{what} {item!r}: expected NAME=VALUE')
        out.append((name, value))
    return out


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='output folder (created)')
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='CPU, tiny models and sizes: the CI run of this script')
    parser.add_argument(
        '--checks',
        nargs='+',
        choices=CHECKS,
        default=list(CHECKS),
        help='the checks to run (default: all, in their order)')
    parser.add_argument(
        '--budget',
        type=float,
        default=None,
        help='seconds for all checks together; a check is cut to what is '
        'left (default: 480, dry run 1200)')
    parser.add_argument(
        '--timeout',
        nargs='+',
        metavar='CHECK=SECONDS',
        help='replace a check\'s time limit, e.g. benchmark=200')
    parser.add_argument(
        '--set',
        nargs='+',
        metavar='CHECK.KEY=JSON',
        help='replace a value of the profile (see '
        'tools/gpu_checks/profiles.py), e.g. amp.max_level_diff=3 or '
        'amp.iters=40')
    args = parser.parse_args(argv)
    args.timeouts = {}
    for name, value in _pairs(args.timeout, '--timeout'):
        if name not in CHECKS:
            parser.error(f'--timeout {name}: no such check; one of {CHECKS}')
        args.timeouts[name] = float(value)
    args.overrides: Dict[str, dict] = {}
    for key, value in _pairs(args.set, '--set'):
        check, _, item = key.partition('.')
        if check not in CHECKS or not item:
            parser.error(f'--set {key}: expected CHECK.KEY with CHECK one of '
                         f'{CHECKS}')
        args.overrides.setdefault(check, {})[item] = json.loads(value)
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    ctx = Context(args.out, args.dry_run, args.budget, args.timeouts,
                  args.overrides)
    start = time.monotonic()
    results = []
    for name in [c for c in CHECKS if c in args.checks]:
        print(f'[gpu_check] {name} ...', flush=True)
        results.append(run_check(ctx, name))
        print(f'[gpu_check] {name}: {results[-1].status}', flush=True)
    write_summary(ctx, results, time.monotonic() - start)
    print(format_table(results, markdown=False))
    print(f'[gpu_check] logs, JSON and summary.md in {ctx.out}')
    return 1 if any(r.status == FAIL for r in results) else 0


if __name__ == '__main__':
    sys.exit(main())
