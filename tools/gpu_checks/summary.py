"""The summary of a run: the table of checks printed at the end, and
``summary.md`` and ``summary.json`` in the output folder."""
import json
import os.path as osp
import time
from typing import List

from .context import FAIL, Context, Result


def format_table(results: List[Result], markdown: bool) -> str:
    """The summary table: check, status, seconds, key numbers."""
    header = ('check', 'status', 'seconds', 'key numbers')
    rows = [(r.name, r.status, f'{r.seconds:.1f}', r.key) for r in results]
    if markdown:
        lines = ['| ' + ' | '.join(header) + ' |', '|---|---|---|---|']
        lines += [
            '| ' + ' | '.join(c.replace('|', '\\|') for c in row) + ' |'
            for row in rows
        ]
        return '\n'.join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(row[:3], widths)) +
                     '  ' + row[3] for row in [header, *rows])


def write_summary(ctx: Context, results: List[Result], total: float) -> None:
    """``summary.md`` (table and the benchmark's tables) and
    ``summary.json``."""
    mode = 'dry run (CPU, tiny)' if ctx.dry_run else 'GPU'
    probe = ctx.probe or {}
    device = probe.get('device_name') or ctx.device
    lines = [
        '# GPU check', '',
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}, {mode}, device {device}, "
        f"torch {probe.get('torch', '?')}, {total:.0f} s in all.", '',
        format_table(results, markdown=True)
    ]
    for name, title in (('benchmark.md', 'Benchmark'), ('retrieval.md',
                                                        'Retrieval')):
        if osp.exists(ctx.path(name)):
            with open(ctx.path(name)) as f:
                lines += ['', f'## {title}', '', f.read().rstrip()]
    with open(ctx.path('summary.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    summary = dict(
        mode='dry-run' if ctx.dry_run else 'gpu',
        device=device,
        seconds=total,
        passed=all(r.status != FAIL for r in results),
        checks=[
            dict(
                name=r.name,
                status=r.status,
                seconds=r.seconds,
                key=r.key,
                json=f'{r.name}.json',
                log=f'{r.name}.log') for r in results
        ])
    with open(ctx.path('summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
