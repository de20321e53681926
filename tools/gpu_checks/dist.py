"""The ``dist`` check: ``tools/dist_train.sh`` on all visible GPUs (NCCL)
for one epoch, then ``--resume`` for a second one."""
import glob
import os
import os.path as osp
import re
import shutil
from typing import Optional, Tuple

from .context import FAIL, PASS, Context, Result
from .process import free_port, last_line, run_logged
from .profiles import TINY_CONFIG

NAME = 'dist'


def check(ctx: Context) -> Result:
    """``tools/dist_train.sh`` for one epoch, then ``--resume`` to two.

    All visible GPUs with NCCL on the GPU; two gloo processes in the dry
    run. The global batch is 2 per process and an epoch 4 iterations, so
    the resumed run must start at iteration 4 x 1 and end at 4 x 2.
    """
    log = ctx.path('dist.log')
    procs = 2 if ctx.dry_run else max(ctx.devices().get('device_count', 0), 1)
    backend = 'gloo' if ctx.dry_run else 'nccl'
    work_dir = osp.join(ctx.work, 'dist')
    shutil.rmtree(work_dir, ignore_errors=True)  # a rerun starts afresh
    batch = 2 * procs
    options = [
        f'train_dataloader.batch_size={batch}',
        f'train_dataloader.dataset.num_samples={4 * batch}'
    ]
    extra = ['--amp'] if ctx.profile[NAME]['amp'] else []
    details: dict = dict(processes=procs, backend=backend, runs=[])
    for epochs, resume in ((1, []), (2, ['--resume'])):
        cmd = [
            'bash', 'tools/dist_train.sh', TINY_CONFIG,
            str(procs), '--work-dir', work_dir, *extra, *resume,
            '--cfg-options', f'train_cfg.max_epochs={epochs}', *options
        ]
        start = osp.getsize(log) if osp.exists(log) else 0
        rc, timed_out = run_logged(cmd, log, ctx.left(),
                                   ctx.env(PORT=str(free_port())))
        with open(log, errors='replace') as f:
            f.seek(start)
            text = f.read()
        run = dict(
            epochs=epochs,
            resume=bool(resume),
            exit='timeout' if timed_out else rc,
            distributed='Distributed training: True' in text,
            backend_in_config=f"backend='{backend}'" in text,
            resumed_from=_resumed_at(text),
            last_iter=_last_iter(text))
        details['runs'].append(run)
        if timed_out or rc != 0:
            return Result(
                NAME,
                FAIL,
                key=f'run {len(details["runs"])} '
                f'{"timed out" if timed_out else f"exit {rc}"}: '
                f'{last_line(log)}',
                details=details)
    first, second = details['runs']
    iters = 4
    failures = [
        msg for ok, msg in (
            (first['distributed'] and second['distributed'],
             'not distributed'),
            (first['backend_in_config'], f'backend is not {backend}'),
            (first['last_iter'] == iters,
             f"first run ended at iteration {first['last_iter']}"),
            (second['resumed_from'] == (1, iters),
             f"resumed at {second['resumed_from']}, not (1, {iters})"),
            (second['last_iter'] == 2 * iters,
             f"resumed run ended at {second['last_iter']}"),
            (osp.exists(osp.join(work_dir, 'epoch_2.pth')), 'no epoch_2.pth'),
        ) if not ok
    ]
    # The checkpoints are no result (and would travel back from a device
    # machine); the logs stay.
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        os.remove(path)
    details['failures'] = failures
    epoch, it = second['resumed_from'] or ('?', '?')
    key = (f"{procs} x {backend}: epoch 1 ended at iteration "
           f"{first['last_iter']}; --resume started at epoch {epoch} "
           f"iteration {it}, ended at {second['last_iter']}")
    if failures:
        key = '; '.join(failures) + ' | ' + key
    return Result(NAME, FAIL if failures else PASS, key=key, details=details)


def _resumed_at(log_text: str) -> Optional[Tuple[int, int]]:
    """(epoch, iter) of MMEngine's "resumed epoch: E, iter: I" line."""
    found = re.findall(r'resumed epoch: (\d+), iter: (\d+)', log_text)
    return tuple(map(int, found[-1])) if found else None


def _last_iter(log_text: str) -> Optional[int]:
    """Global iteration of the last training log line.

    MMEngine logs ``Epoch(train) [E][i/n]`` by epoch; the global
    iteration is ``(E - 1) * n + i``.
    """
    found = re.findall(r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]',
                       log_text)
    if not found:
        return None
    epoch, i, n = map(int, found[-1])
    return (epoch - 1) * n + i
