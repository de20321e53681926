"""End-to-end runs of tools/train.py, dist_train.sh and resume on CPU."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import torch

import projects.prompthub  # noqa: F401  (safe-load allow-list)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO, 'configs', 'prompthub_tiny_synthetic.py')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _run(cmd: list, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED='1', PORT=str(_free_port()))
    # Use the interpreter running the tests for the shell scripts too.
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True,
        timeout=timeout)
    assert proc.returncode == 0, (
        f'{" ".join(cmd)} failed ({proc.returncode}):\n'
        f'{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}')
    return proc


def _train(work_dir: str, max_epochs: int, *extra: str):
    return _run([
        sys.executable, 'tools/train.py', TINY_CONFIG, '--work-dir',
        work_dir, '--cfg-options', f'train_cfg.max_epochs={max_epochs}',
        *extra
    ])


def _epoch_losses(work_dir: str) -> list:
    """Per-iteration training losses logged in ``scalars.json``."""
    runs = sorted(
        d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d)))
    rows = []
    for run in runs:
        path = osp.join(work_dir, run, 'vis_data', 'scalars.json')
        if osp.exists(path):
            with open(path) as f:
                rows += [json.loads(line) for line in f]
    return [(r['epoch'], r['iter'], r['loss']) for r in rows if 'loss' in r]


def _weights(path: str) -> dict:
    # Default torch.load (weights_only=True): works thanks to the plugin's
    # allow-list.
    return torch.load(path, map_location='cpu')['state_dict']


def test_resume_matches_uninterrupted_run(tmp_path):
    straight = str(tmp_path / 'straight')
    resumed = str(tmp_path / 'resumed')
    _train(straight, 4)
    _train(resumed, 2)
    assert osp.exists(osp.join(resumed, 'epoch_2.pth'))
    assert not osp.exists(osp.join(resumed, 'epoch_3.pth'))
    _train(resumed, 4, '--resume')

    a = _weights(osp.join(straight, 'epoch_4.pth'))
    b = _weights(osp.join(resumed, 'epoch_4.pth'))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # Training really moved the weights.
    first = _weights(osp.join(resumed, 'epoch_2.pth'))
    assert any(not torch.equal(first[k], a[k]) for k in a)

    losses_straight = _epoch_losses(straight)
    losses_resumed = _epoch_losses(resumed)
    assert len(losses_straight) > 0
    assert losses_straight == losses_resumed


def test_dist_train_two_cpu_processes(tmp_path):
    work_dir = str(tmp_path / 'dist')
    proc = _run([
        'bash', 'tools/dist_train.sh', TINY_CONFIG, '2', '--work-dir',
        work_dir, '--cfg-options', 'train_cfg.max_epochs=1'
    ])
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.exists(ckpt)
    state = _weights(ckpt)
    assert any(k.startswith('neck.') for k in state)
