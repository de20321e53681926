"""The ``benchmark`` check: ``tools/analysis_tools/benchmark.py`` on the
profile's grid of batch sizes and prompt counts (``--device cuda --amp`` on
the GPU); its JSON and tables are kept as they are."""
import math
from typing import List, Tuple

from .context import FAIL, PASS, Context, Result, run_worker

NAME = 'benchmark'


def run_tool(params: dict) -> dict:
    """Worker: ``tools/analysis_tools/benchmark.py`` with
    ``params['args']``, and its markdown tables."""
    from tools.analysis_tools.benchmark import format_tables, main
    result = main(params['args'])
    return dict(result=result, tables=format_tables(result))


def check(ctx: Context) -> Result:
    """The benchmark tool's grid; every row a positive, finite ratio."""
    args = list(ctx.profile[NAME]['args'])
    args += ['--out', ctx.path('benchmark_grid.json')]
    got, why = run_worker(ctx, 'benchmark', dict(args=args),
                          ctx.path('benchmark.log'), ctx.left())
    if got is None:
        return Result(NAME, FAIL, key=why)
    with open(ctx.path('benchmark.md'), 'w') as f:
        f.write(got['tables'] + '\n')
    rows = got['result']['model_bench']['rows']
    expected = _grid(args)
    found = [(r['batch'], r['num_prompts']) for r in rows]
    ratios = ('train_over_floor', 'eval_over_floor', 'neck_share')
    bad = [
        f'B={r["batch"]} N={r["num_prompts"]} {k}' for r in rows
        for k in ratios if not (math.isfinite(r[k]) and r[k] > 0)
    ]
    key = '; '.join(
        f"N={r['num_prompts']}: train/floor {r['train_over_floor']:.2f}, "
        f"eval/floor {r['eval_over_floor']:.2f}, neck "
        f"{100 * r['neck_share']:.0f}%, peak "
        f"{r['train']['peak_mib']:.0f} MiB" for r in rows)
    if found != expected:
        return Result(
            NAME,
            FAIL,
            key=f'rows {found}, expected {expected}',
            details=dict(json='benchmark_grid.json'))
    if bad:
        return Result(
            NAME,
            FAIL,
            key=f'not a positive number: {", ".join(bad)}',
            details=dict(json='benchmark_grid.json'))
    return Result(
        NAME,
        PASS,
        key=f"B={rows[0]['batch']} {got['result']['precision']}: {key}",
        details=dict(json='benchmark_grid.json', tables='benchmark.md'))


def _grid(args: List[str]) -> List[Tuple[int, int]]:
    """(B, N) rows the benchmark's arguments ask for, in its order."""

    def values(flag: str) -> List[int]:
        i = args.index(flag) + 1
        out = []
        while i < len(args) and not args[i].startswith('--'):
            out.append(int(args[i]))
            i += 1
        return out

    return [(b, n) for b in values('--batch-sizes')
            for n in values('--num-prompts')]
