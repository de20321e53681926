"""The launch scripts' interpreter and the global train batch."""
import os
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import pytest

from projects.prompthub.utils import split_global_batch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VENV_PYTHON = osp.join(REPO, '.venv', 'bin', 'python')


def _runner(world_size: int, **loader) -> SimpleNamespace:
    return SimpleNamespace(world_size=world_size, _train_dataloader=loader)


def test_split_global_batch():
    one = _runner(1, batch_size=16)
    split_global_batch(one)
    assert one._train_dataloader['batch_size'] == 16
    eight = _runner(8, batch_size=16)
    split_global_batch(eight)
    assert eight._train_dataloader['batch_size'] == 2
    with pytest.raises(ValueError) as err:
        split_global_batch(_runner(3, batch_size=16))
    msg = str(err.value)
    assert 'train_dataloader.batch_size=16 is the global batch' in msg
    assert 'multiple of the number of processes, 3' in msg
    assert '[1, 2, 4, 8, 16] processes' in msg
    assert '--cfg-options train_dataloader.batch_size=' in msg
    with pytest.raises(ValueError, match='must be the global batch size'):
        split_global_batch(_runner(2))
    with pytest.raises(TypeError, match='config dict'):
        split_global_batch(
            SimpleNamespace(world_size=2, _train_dataloader=object()))


def fake_bin(tmp_path, **programs: str) -> str:
    """A folder of shell programs (name -> body) to put first on PATH."""
    folder = tmp_path / 'bin'
    folder.mkdir(exist_ok=True)
    for name, body in programs.items():
        path = folder / name
        path.write_text(f'#!/bin/sh\n{body}\n')
        path.chmod(0o755)
    return str(folder)


FAKE_PYTHON = 'echo "fake python from PATH was run" >&2; exit 3'


def _expected_python() -> str:
    return VENV_PYTHON if osp.exists(VENV_PYTHON) else sys.executable


@pytest.mark.parametrize('script, args', [
    ('slurm_train.sh', ['part', 'job', 'cfg.py']),
    ('slurm_test.sh', ['part', 'job', 'cfg.py', 'ckpt.pth']),
])
def test_slurm_scripts_use_the_tools_interpreter(tmp_path, script, args):
    # A fake srun prints the command it would run on every task.
    folder = fake_bin(tmp_path, python=FAKE_PYTHON, srun='echo "$@"')
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PATH=folder + os.pathsep + os.environ['PATH'])
    proc = subprocess.run(['bash', f'tools/{script}', *args],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f' {_expected_python()} -u ' in proc.stdout, proc.stdout


@pytest.mark.skipif(
    osp.exists(VENV_PYTHON), reason='the repository venv takes precedence')
def test_missing_interpreter_fails_loudly(tmp_path):
    env = dict(os.environ, PYTHON=str(tmp_path / 'no-python'))
    proc = subprocess.run(['bash', 'tools/dist_train.sh', 'cfg.py', '1'],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=60)
    assert proc.returncode == 1
    assert 'dist_train.sh: no Python interpreter' in proc.stderr
    assert 'no-python' in proc.stderr and 'make install' in proc.stderr
