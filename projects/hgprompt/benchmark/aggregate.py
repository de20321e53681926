"""Per-task, per-group and overall means of protocol results.

Reads the ``<work_dir>/<task>/protocol.json`` files that
:mod:`.protocol` writes (one work dir per method) and renders one
markdown table (rows: tasks by VTAB group, then the group means and the
two overall means; columns: methods) and one CSV with the same numbers.

Both overall means are given because papers differ: the mean of the 19
tasks, and the mean of the three group means. A mean over fewer tasks than
the group has says so, e.g. ``61.2 (2/7)``.
"""
import csv
import io
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from projects.hgprompt.datasets.vtab_tasks import (VTAB1K_GROUPS, VTAB1K_TASKS,
                                                   tasks_in_group)

#: Rows of tasks outside VTAB-1k (shown, not averaged).
OTHER = 'other'


def load_results(work_dir: str) -> Dict[str, dict]:
    """Task -> ``protocol.json`` of every task folder under ``work_dir``.

    Raises:
        FileNotFoundError: ``work_dir`` holds no ``<task>/protocol.json``.
    """
    results = {}
    if osp.isdir(work_dir):
        for name in sorted(os.listdir(work_dir)):
            path = osp.join(work_dir, name, 'protocol.json')
            if osp.isfile(path):
                with open(path) as f:
                    results[name] = json.load(f)
    if not results:
        raise FileNotFoundError(
            f'{work_dir} holds no <task>/protocol.json: give the --work-dir '
            'of projects/hgprompt/tools/run_vtab_protocol.py.')
    return results


def _mean(values: List[float]) -> Optional[float]:
    return float(np.mean(values)) if values else None


def summarize(results: Dict[str, dict]) -> dict:
    """Group means and overall means of one method's task results.

    Returns:
        dict: ``groups`` (group -> ``(mean, tasks present, tasks in the
        group)``), ``tasks_mean`` (``(mean, present, 19)``) and
        ``groups_mean`` (``(mean of the group means, groups present,
        3)``); a mean is None when nothing is present.
    """
    groups = {}
    for group in VTAB1K_GROUPS:
        names = tasks_in_group(group)
        values = [results[t]['mean'] for t in names if t in results]
        groups[group] = (_mean(values), len(values), len(names))
    all_values = [r['mean'] for t, r in results.items() if t in VTAB1K_TASKS]
    group_means = [m for m, _, _ in groups.values() if m is not None]
    return dict(
        groups=groups,
        tasks_mean=(_mean(all_values), len(all_values), len(VTAB1K_TASKS)),
        groups_mean=(_mean(group_means), len(group_means), len(VTAB1K_GROUPS)))


def _rows(methods: Dict[str, Dict[str, dict]]) -> List[Tuple[str, str]]:
    """(group, task) of every task some method has, in VTAB's order."""
    present = set().union(*[set(r) for r in methods.values()])
    rows = [(t.group, t.name) for t in VTAB1K_TASKS.values()
            if t.name in present]
    rows += [(OTHER, t) for t in sorted(present - set(VTAB1K_TASKS))]
    return rows


def _fmt_mean(entry: Tuple[Optional[float], int, int]) -> str:
    value, have, total = entry
    if value is None:
        return '-'
    return f'{value:.1f}' + ('' if have == total else f' ({have}/{total})')


def to_markdown(methods: Dict[str, Dict[str, dict]]) -> str:
    """One table: tasks, group means and overall means by method.

    Args:
        methods (dict): Method name -> :func:`load_results` output.
    """
    names = list(methods)
    metric = next(iter(next(iter(methods.values())).values()))['metric']
    lines = [
        '| group | task | ' + ' | '.join(names) + ' |',
        '|---|---|' + '---|' * len(names),
    ]
    for group, task in _rows(methods):
        cells = []
        for name in names:
            res = methods[name].get(task)
            cells.append('-' if res is
                         None else f"{res['mean']:.1f} ± {res['std']:.1f}")
        lines.append(f'| {group} | {task} | ' + ' | '.join(cells) + ' |')
    summaries = {name: summarize(methods[name]) for name in names}
    for group in VTAB1K_GROUPS:
        cells = [_fmt_mean(summaries[n]['groups'][group]) for n in names]
        lines.append(f'| {group} | **mean** | ' + ' | '.join(cells) + ' |')
    for key, label in (('tasks_mean', 'mean of the tasks'),
                       ('groups_mean', 'mean of the group means')):
        cells = [_fmt_mean(summaries[n][key]) for n in names]
        lines.append(f'| all | **{label}** | ' + ' | '.join(cells) + ' |')
    seeds = sorted({
        len(r['final'])
        for results in methods.values()
        for r in results.values()
    })
    note = (f'Test {metric} (%), mean ± std over {"/".join(map(str, seeds))} '
            'seed(s) of the final runs (train800val200, lr and weight decay '
            'chosen on val200); (k/n): a mean over k of the n tasks or '
            'groups.')
    return note + '\n\n' + '\n'.join(lines) + '\n'


CSV_FIELDS = ('method', 'group', 'task', 'mean', 'std', 'num_tasks',
              'num_seeds', 'lr', 'wd', 'values')


def to_csv(methods: Dict[str, Dict[str, dict]]) -> str:
    """The same numbers as :func:`to_markdown`, one row per cell.

    Task rows give the selected ``lr`` / ``wd`` and the per-seed
    ``values`` (``;``-separated); mean rows have ``task`` ``mean`` (a
    group), ``mean of the tasks`` or ``mean of the group means``.
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, lineterminator='\n')
    writer.writeheader()
    rows = _rows(methods)
    for name, results in methods.items():
        for group, task in rows:
            res = results.get(task)
            if res is None:
                continue
            writer.writerow(
                dict(
                    method=name,
                    group=group,
                    task=task,
                    mean=f"{res['mean']:.4f}",
                    std=f"{res['std']:.4f}",
                    num_tasks=1,
                    num_seeds=len(res['final']),
                    lr=res['best']['lr'],
                    wd=res['best']['wd'],
                    values=';'.join(f"{r['value']:.4f}"
                                    for r in res['final'])))
        summary = summarize(results)
        means = [(g, 'mean', summary['groups'][g]) for g in VTAB1K_GROUPS]
        means += [('all', 'mean of the tasks', summary['tasks_mean']),
                  ('all', 'mean of the group means', summary['groups_mean'])]
        for group, task, (value, have, _) in means:
            if value is not None:
                writer.writerow(
                    dict(
                        method=name,
                        group=group,
                        task=task,
                        mean=f'{value:.4f}',
                        num_tasks=have))
    return out.getvalue()


def aggregate(work_dirs: Sequence[str],
              names: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """Method name -> task results, for several protocol work dirs.

    Args:
        work_dirs (Sequence[str]): One per method.
        names (Sequence[str], optional): Method names; default: the work
            dirs' folder names.
    """
    names = list(names or [osp.basename(osp.normpath(d)) for d in work_dirs])
    if len(names) != len(work_dirs) or len(set(names)) != len(names):
        raise ValueError(f'give one distinct name per work dir: {names} for '
                         f'{list(work_dirs)}')
    return {n: load_results(d) for n, d in zip(names, work_dirs)}
