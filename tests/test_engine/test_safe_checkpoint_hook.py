"""SafeCheckpointHook: a kill at any moment of a save leaves a resume point.

The hook runs against a small stand-in runner whose ``save_checkpoint``
writes through MMEngine's ``save_checkpoint`` as ``Runner`` does. The
file-system mutations (``open`` for writing, ``os.replace``, ``os.remove``)
are counted; the run is "killed" at each of them in turn: a write stops
after half its bytes, a rename or removal does not happen, and no later
mutation (no cleanup) takes place. After each kill the work dir must still
name a complete checkpoint. The end-to-end kills of ``tools/train.py`` are
in ``tests/test_tools/test_checkpoint_kill.py``.
"""
import builtins
import os
import os.path as osp
import stat
import uuid

import pytest
import torch
from mmengine.fileio import join_path
from mmengine.logging import MessageHub, MMLogger
from mmengine.runner.checkpoint import save_checkpoint

from projects.prompthub.engine import (SafeCheckpointHook,
                                       check_resume_checkpoint,
                                       checkpoint_problem,
                                       find_resume_checkpoint)
from projects.prompthub.utils import atomic_write

HOOK = SafeCheckpointHook
RESUME_KEYS = ('meta', 'state_dict', 'message_hub', 'optimizer')


class _Killed(BaseException):
    """The simulated end of the process."""


class _FakeRunner:
    """What CheckpointHook uses of a Runner, saving as Runner does."""

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir
        name = f'safe-ckpt-{uuid.uuid4().hex}'
        self.message_hub = MessageHub.get_instance(name)
        self.logger = MMLogger.get_instance(name)
        self.epoch = 0
        self.iter = 0
        self._resume = False
        self._load_from = None

    def save_checkpoint(self,
                        out_dir,
                        filename,
                        file_client_args=None,
                        save_optimizer=True,
                        save_param_scheduler=True,
                        meta=None,
                        by_epoch=True,
                        backend_args=None):
        checkpoint = dict(
            meta=dict(meta),
            state_dict={'w': torch.full((4, ), float(self.epoch))},
            message_hub=self.message_hub.state_dict())
        if save_optimizer:
            checkpoint['optimizer'] = {'state': {}}
        path = join_path(out_dir, filename, backend_args=backend_args)
        save_checkpoint(checkpoint, path, backend_args=backend_args)


class _Killer:
    """Count file-system mutations; die at the ``at``-th one."""

    def __init__(self, monkeypatch, at: int) -> None:
        self.at, self.count, self.dead = at, 0, False
        real_open, real_replace = builtins.open, os.replace
        real_remove = os.remove

        def step() -> bool:
            if self.dead:
                raise _Killed
            self.count += 1
            self.dead = self.count == self.at
            return self.dead

        def open_(file, mode='r', *args, **kwargs):
            if not set(mode) & set('wxa'):
                return real_open(file, mode, *args, **kwargs)
            handle = real_open(file, mode, *args, **kwargs)
            if not step():
                return handle

            class Torn:

                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    handle.close()

                def write(self, data):
                    handle.write(data[:len(data) // 2])
                    handle.close()
                    raise _Killed

                def __getattr__(self, name):
                    return getattr(handle, name)

            return Torn()

        def replace(src, dst):
            if step():
                raise _Killed
            real_replace(src, dst)

        def remove(path):
            if step():
                raise _Killed
            real_remove(path)

        monkeypatch.setattr(builtins, 'open', open_)
        monkeypatch.setattr(os, 'replace', replace)
        monkeypatch.setattr(os, 'remove', remove)


def _train(work_dir: str, hook_cfg: dict, epochs: int, progress: list):
    """Three epochs of checkpointing with an improving metric."""
    runner = _FakeRunner(work_dir)
    hook = HOOK(interval=1, **hook_cfg)
    hook.before_train(runner)
    for epoch in range(epochs):
        runner.epoch, runner.iter = epoch, 10 * epoch
        hook.after_train_epoch(runner)
        progress.append(('train', epoch + 1))
        runner.epoch = epoch + 1
        hook.after_val_epoch(runner, {'acc': float(epoch)})
        progress.append(('val', epoch + 1))


def _load(path: str) -> dict:
    return torch.load(path, map_location='cpu')


CASES = {
    'max_keep_ckpts=1': dict(max_keep_ckpts=1),
    'save_best': dict(max_keep_ckpts=1, save_best='acc', rule='greater'),
}


@pytest.mark.parametrize('hook_cfg', CASES.values(), ids=CASES.keys())
def test_a_kill_at_any_moment_of_a_save_leaves_a_resume_point(
        tmp_path, monkeypatch, hook_cfg):
    epochs = 3
    with monkeypatch.context() as patch:
        killer = _Killer(patch, at=0)
        _train(str(tmp_path / 'count'), hook_cfg, epochs, [])
        total = killer.count
    assert total >= epochs * 4  # checkpoint, pointer: write and rename

    for at in range(1, total + 1):
        work_dir = str(tmp_path / f'kill{at}')
        os.makedirs(work_dir)
        progress = []
        with monkeypatch.context() as patch:
            _Killer(patch, at)
            with pytest.raises(_Killed):
                _train(work_dir, hook_cfg, epochs, progress)
        where = f'killed at mutation {at}/{total} after {progress}'
        pointer = osp.join(work_dir, 'last_checkpoint')
        if not progress:
            if not osp.exists(pointer):
                continue
        assert osp.exists(pointer), where
        with open(pointer) as f:
            named = f.read()
        assert checkpoint_problem(named, RESUME_KEYS) is None, where
        ckpt = _load(named)
        done = max(epoch for kind, epoch in progress) if progress else 1
        assert ckpt['meta']['epoch'] >= done, where
        assert find_resume_checkpoint(
            work_dir, required_keys=RESUME_KEYS) == named, where
        info = ckpt['message_hub']['runtime_info']
        for step in info.get('keep_ckpt_ids', []):
            path = osp.join(work_dir, f'epoch_{step}.pth')
            assert checkpoint_problem(path, RESUME_KEYS) is None, where
        if 'save_best' in hook_cfg and ('val', 1) in progress:
            best = info['best_ckpt']
            assert checkpoint_problem(best, ('state_dict', )) is None, where
        leftovers = sorted(os.listdir(work_dir))
        assert all(
            not name.endswith('.pth') or name.startswith('.')
            or checkpoint_problem(osp.join(work_dir, name), (
                'state_dict', )) is None
            for name in leftovers), (where, leftovers)

    # The next run removes the temporary file a kill left behind.
    runner = _FakeRunner(work_dir)
    HOOK(interval=1, **hook_cfg).before_train(runner)
    assert not [n for n in os.listdir(work_dir) if n.endswith('.tmp')]


def test_outdated_checkpoints_are_still_deleted(tmp_path):
    work_dir = str(tmp_path)
    _train(work_dir, CASES['save_best'], 3, [])
    assert sorted(os.listdir(work_dir)) == [
        'best_acc_epoch_3.pth', 'epoch_3.pth', 'last_checkpoint'
    ]
    assert _load(osp.join(work_dir, 'epoch_3.pth')
                 )['message_hub']['runtime_info']['best_ckpt'] == osp.join(
                     work_dir, 'best_acc_epoch_3.pth')


def test_atomic_write_flushes_file_and_folder(tmp_path, monkeypatch):
    path = tmp_path / 'out.bin'
    path.write_bytes(b'old')
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, 'fsync', fsync)
    atomic_write(str(path), b'new content')
    assert path.read_bytes() == b'new content'
    assert synced == [False, True]  # the file, then its folder
    assert os.listdir(tmp_path) == ['out.bin']
    # Same permissions as a plain open() would give.
    plain = tmp_path / 'plain.bin'
    plain.write_bytes(b'')
    assert (stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(
        plain.stat().st_mode))


def _checkpoint(path: str, epoch: int, **extra) -> str:
    torch.save(
        dict(
            meta=dict(epoch=epoch, iter=epoch),
            state_dict={},
            message_hub={},
            optimizer={},
            **extra), path)
    return path


def _tear(path: str) -> None:
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def test_auto_resume_falls_back_to_the_newest_readable(tmp_path, caplog):
    work_dir = str(tmp_path)
    for epoch in (1, 2, 3):
        _checkpoint(osp.join(work_dir, f'epoch_{epoch}.pth'), epoch)
    _tear(osp.join(work_dir, 'epoch_3.pth'))
    torch.save({'state_dict': {}}, osp.join(work_dir, 'best_acc_epoch_4.pth'))
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work_dir, 'epoch_4.pth'))  # never written
    # MMLogger does not propagate to the root logger caplog listens on.
    MMLogger.get_instance(f'resume-{uuid.uuid4().hex}').addHandler(
        caplog.handler)
    found = find_resume_checkpoint(work_dir, required_keys=RESUME_KEYS)
    assert found == osp.join(work_dir, 'epoch_2.pth')
    warning = caplog.text
    assert 'epoch_4.pth: the file does not exist' in warning
    assert 'epoch_3.pth: torch.load failed' in warning
    assert f'newest readable checkpoint {found}' in warning


def test_auto_resume_without_pointer_or_checkpoints(tmp_path):
    work_dir = str(tmp_path)
    assert find_resume_checkpoint(work_dir) is None  # fresh run
    path = _checkpoint(osp.join(work_dir, 'epoch_1.pth'), 1)
    assert find_resume_checkpoint(work_dir) == path  # pointer missing
    _tear(path)
    with pytest.raises(RuntimeError) as err:
        find_resume_checkpoint(work_dir)
    assert path in str(err.value) and 'no readable checkpoint' in str(
        err.value)


def test_explicit_resume_of_a_torn_file_is_refused(tmp_path):
    good = _checkpoint(str(tmp_path / 'epoch_1.pth'), 1)
    torn = _checkpoint(str(tmp_path / 'epoch_2.pth'), 2)
    _tear(torn)
    runner = _FakeRunner(str(tmp_path))
    runner._resume, runner._load_from = True, torn
    with pytest.raises(RuntimeError) as err:
        HOOK(interval=1).before_run(runner)
    message = str(err.value)
    assert f'Cannot resume from {torn}' in message
    assert f'newest readable checkpoint next to it is {good}' in message
    assert runner._load_from == torn  # never replaced silently
    check_resume_checkpoint(good)


def test_explicit_resume_of_a_best_checkpoint_is_refused(tmp_path):
    """A best_* file has no optimizer state: resuming would be inexact."""
    best = str(tmp_path / 'best_acc_epoch_1.pth')
    torch.save(dict(meta={}, state_dict={}, message_hub={}), best)
    runner = _FakeRunner(str(tmp_path))
    runner._resume, runner._load_from = True, best
    with pytest.raises(RuntimeError) as err:
        HOOK(interval=1).before_run(runner)
    assert f"Cannot resume from {best}: it has no ['optimizer']" in str(
        err.value)
    assert 'load_from' in str(err.value)
