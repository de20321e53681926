"""End-to-end runs of tools/train.py, dist_train.sh and resume on CPU."""
import functools
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import tempfile

import torch

import projects.prompthub  # noqa: F401  (safe-load allow-list)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO, 'configs', 'prompthub',
                       'prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@functools.lru_cache()
def _fake_python_dir() -> str:
    folder = tempfile.mkdtemp(prefix='fake_python_')
    path = osp.join(folder, 'python')
    with open(path, 'w') as f:
        f.write('#!/bin/sh\necho "fake python from PATH was run" >&2\n'
                'exit 3\n')
    os.chmod(path, 0o755)
    return folder


def _run(cmd: list,
         timeout: int = 600,
         **env_vars: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ, PYTHONUNBUFFERED='1', PORT=str(_free_port()), **env_vars)
    # The shell scripts must run the tools' interpreter (the repository's
    # .venv, else $PYTHON: the one running the tests), never whatever
    # `python` comes first on PATH: here a fake one that fails.
    env['PYTHON'] = sys.executable
    env['PATH'] = _fake_python_dir() + os.pathsep + env['PATH']
    proc = subprocess.run(
        cmd,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)
    assert proc.returncode == 0, (
        f'{" ".join(cmd)} failed ({proc.returncode}):\n'
        f'{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}')
    return proc


def _train(work_dir: str, max_epochs: int, *extra: str):
    return _run([
        sys.executable, 'tools/train.py', TINY_CONFIG, '--work-dir', work_dir,
        '--cfg-options', f'train_cfg.max_epochs={max_epochs}', *extra
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
    # The config's batch (4) is the global one: 2 per process, so the
    # epoch of 16 samples takes 4 steps, as on one process.
    assert 'batch_size=4 is the global batch: 2 processes x 2' in log
    assert 'Epoch(train) [1][4/4]' in log, log[-3000:]
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.exists(ckpt)
    state = _weights(ckpt)
    assert any(k.startswith('neck.') for k in state)


def _mean_training_loss(cfg_path: str,
                        checkpoint: str = None,
                        **cfg_options) -> float:
    """Mean total loss of the tiny model over its training set (no
    dropout), with the initial weights or those of ``checkpoint``."""
    from mmengine.config import Config
    from mmengine.runner import Runner, load_checkpoint
    cfg = Config.fromfile(cfg_path)
    cfg.merge_from_dict(cfg_options)
    cfg.work_dir = osp.join(REPO, 'work_dirs', 'test_mean_loss')
    runner = Runner.from_cfg(cfg)  # seeds, then builds the model
    model = runner.model
    model.init_weights()
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.eval()
    totals = []
    with torch.no_grad():
        for data in runner.build_dataloader(cfg.train_dataloader):
            data = model.data_preprocessor(data, True)
            losses = model(**data, mode='loss')
            totals.append(float(sum(losses.values())))
    return sum(totals) / len(totals)


def test_one_epoch_of_training_lowers_the_loss(tmp_path):
    work_dir = str(tmp_path / 'learn')
    options = {
        'train_dataloader.dataset.num_samples': 32,
        'model.neck.dropout': 0.0,
        'optim_wrapper.optimizer.lr': 1.0,
    }
    _run([
        sys.executable, 'tools/train.py', TINY_CONFIG, '--work-dir', work_dir,
        '--cfg-options', 'train_cfg.max_epochs=1',
        *[f'{k}={v}' for k, v in options.items()]
    ])
    before = _mean_training_loss(TINY_CONFIG, **options)
    after = _mean_training_loss(TINY_CONFIG, osp.join(work_dir, 'epoch_1.pth'),
                                **options)
    assert after < before - 0.05, (before, after)


def _metrics(work_dir: str) -> dict:
    """The metrics tools/test.py wrote to ``<timestamp>/<timestamp>.json``."""
    runs = sorted(
        d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d)))
    path = osp.join(work_dir, runs[-1], f'{runs[-1]}.json')
    with open(path) as f:
        return json.load(f)


def test_two_process_evaluation_equals_one_process(tmp_path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from projects.prompthub.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(TINY_CONFIG).model)
    ckpt = str(tmp_path / 'tiny.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    # 7 queries do not split evenly over 2 ranks: the sampler pads and the
    # collection must drop the padding again. One query per batch and one
    # thread per process (as torchrun sets) keep every floating-point
    # reduction identical, so the random tiny model's near-tied argmaxes
    # cannot flip between the runs.
    options = [
        '--cfg-options', 'test_dataloader.dataset.num_samples=7',
        'test_dataloader.batch_size=1'
    ]
    single = str(tmp_path / 'single')
    _run([
        sys.executable, 'tools/test.py', TINY_CONFIG, ckpt, '--work-dir',
        single, '--out', single + '_out', *options
    ],
         OMP_NUM_THREADS='1')
    dist = str(tmp_path / 'dist')
    proc = _run([
        'bash', 'tools/dist_test.sh', TINY_CONFIG, ckpt, '2', '--work-dir',
        dist, '--out', dist + '_out', *options
    ])
    assert 'Distributed training: True' in proc.stdout + proc.stderr
    a, b = _metrics(single), _metrics(dist)
    keys = [k for k in a if k.startswith(('vicl/', 'mmseg/'))]
    assert 'vicl/mIoU' in keys and 'mmseg/mIoU' in keys
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    # --out: each rank wrote its queries' masks, rank 0 the scores of all
    # 7 (the sampler's padding dropped), as one process does.
    files = sorted(os.listdir(single + '_out'))
    assert len(files) == 8 and sorted(os.listdir(dist + '_out')) == files
    for name in files:
        with open(osp.join(single + '_out', name), 'rb') as f, \
                open(osp.join(dist + '_out', name), 'rb') as g:
            assert f.read() == g.read(), name
