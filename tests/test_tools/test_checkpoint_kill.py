"""tools/train.py killed in the middle of a checkpoint save, then resumed.

The configs keep one checkpoint and the best one (``max_keep_ckpts=1``,
``save_best``, as ``configs/prompthub_seg.py``). ``kill_mid_write.py``
ends the training process with ``os._exit`` after half the bytes of a
chosen checkpoint write, as a SIGKILL, OOM kill or preemption would.
"""
import os
import os.path as osp
import subprocess
import sys

import torch

import projects.prompthub  # noqa: F401  (safe-load allow-list)
from projects.prompthub.engine import find_resume_checkpoint

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO, 'configs', 'prompthub',
                       'prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py')
KILLER = osp.join(REPO, 'tests', 'test_tools', 'kill_mid_write.py')
KILL_CODE = 17  # kill_mid_write.KILL_CODE
# One training and one validation iteration per epoch.
OPTIONS = [
    'train_dataloader.dataset.num_samples=4',
    'val_dataloader.dataset.num_samples=4',
    'default_hooks.checkpoint.max_keep_ckpts=1',
    'default_hooks.checkpoint.save_best=vicl/mIoU',
    'default_hooks.checkpoint.rule=greater',
    'train_cfg.max_epochs=2',
]


def _train_killed_at(work_dir: str, nth: int, *extra: str) -> str:
    """Run tools/train.py, killed at its ``nth`` write of ``epoch_*.pth``;
    return the log."""
    cmd = [
        sys.executable, KILLER, r'epoch_\d+\.pth',
        str(nth), 'tools/train.py', TINY_CONFIG, '--work-dir', work_dir,
        '--cfg-options', *OPTIONS, *extra
    ]
    proc = subprocess.run(
        cmd,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHONUNBUFFERED='1'))
    log = proc.stdout + proc.stderr
    assert proc.returncode == KILL_CODE and 'KILLED mid-write' in log, (
        f'{" ".join(cmd)} ended with {proc.returncode}, not killed:\n'
        f'{log[-6000:]}')
    return log


def _readable(path: str) -> dict:
    """The checkpoint, loaded as Runner.resume loads it."""
    return torch.load(path, map_location='cpu')


def _assert_resume_point(work_dir: str, epoch: int) -> str:
    """``last_checkpoint`` names a complete ``epoch_<epoch>.pth``."""
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        named = f.read()
    assert named == osp.join(work_dir, f'epoch_{epoch}.pth')
    ckpt = _readable(named)
    assert ckpt['meta']['epoch'] == epoch
    assert {'state_dict', 'optimizer', 'message_hub'} <= set(ckpt)
    # The best checkpoint of epoch 1 (the checkpoint records it once
    # save_best's rewrite of epoch_1.pth is complete).
    best = osp.join(work_dir, 'best_vicl_mIoU_epoch_1.pth')
    assert ckpt['message_hub']['runtime_info'].get('best_ckpt', best) == best
    assert _readable(best)['meta']['epoch'] == 1
    return named


def test_kill_mid_save_keeps_a_resume_point_and_resume_falls_back(tmp_path):
    work_dir = str(tmp_path / 'run')
    # 1. Killed while save_best rewrites epoch_1.pth in place (its second
    #    write, after the first validation made a best checkpoint).
    _train_killed_at(work_dir, 2)
    epoch_1 = _assert_resume_point(work_dir, 1)

    # 2. A newest checkpoint torn as mmengine's in-place writer leaves it,
    #    named by last_checkpoint: --resume warns and takes epoch_1.pth.
    with open(epoch_1, 'rb') as f:
        data = f.read()
    torn = osp.join(work_dir, 'epoch_2.pth')
    with open(torn, 'wb') as f:
        f.write(data[:len(data) // 2])
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(torn)
    #    Killed again at its first save, of epoch_2.pth: with
    #    max_keep_ckpts=1 the outdated epoch_1.pth must outlive it.
    log = _train_killed_at(work_dir, 1, '--resume')
    assert (f'{torn}: torch.load failed' in log
            and f'Resuming from the newest readable checkpoint {epoch_1}'
            in log), log[-6000:]
    assert 'Removed 1 unfinished checkpoint file(s)' in log
    assert 'resumed epoch: 1, iter: 1' in log
    assert 'Epoch(train) [2][1/1]' in log
    assert find_resume_checkpoint(work_dir) == epoch_1
    assert _readable(epoch_1)['meta']['epoch'] == 1
    # The torn file is still there, untouched; nothing else is visible.
    assert sorted(n for n in os.listdir(work_dir) if n.endswith('.pth')) == [
        'best_vicl_mIoU_epoch_1.pth', 'epoch_1.pth', 'epoch_2.pth'
    ]
