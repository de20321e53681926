"""A CheckpointHook whose saves always leave a readable resume point."""
import os
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, List, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook

from projects.prompthub.engine.resume_point import (RESUME_KEYS,
                                                    check_resume_checkpoint,
                                                    find_resume_checkpoint)
from projects.prompthub.registry import HOOKS
from projects.prompthub.utils.atomic_file_backend import ATOMIC_BACKEND
from projects.prompthub.utils.atomic_io import (atomic_write,
                                                unfinished_write_target)


class _RemovalQueue:
    """A file backend stand-in that queues ``remove``/``rmtree`` calls.

    Everything else goes to the wrapped backend.
    """

    def __init__(self, backend) -> None:
        self.backend = backend
        self.paths: List[str] = []

    def remove(self, path: str) -> None:
        self.paths.append(path)

    rmtree = remove

    def __getattr__(self, name: str):
        return getattr(self.backend, name)


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that never leaves the run without a resume point.

    Takes every argument of :class:`mmengine.hooks.CheckpointHook`
    (``interval``, ``max_keep_ckpts``, ``save_best``, ``rule``,
    ``out_dir``, ...) and saves the same files, but in an order a kill,
    OOM or preemption at any moment cannot break. MMEngine 0.10.7 deletes
    the outdated checkpoint (and the previous best one) *before* it writes
    the new file in place, so with ``max_keep_ckpts=1`` a kill mid-write
    leaves only a truncated file and a ``last_checkpoint`` naming a
    deleted one. Here:

    1. checkpoints are written to a temporary file in the same folder,
       ``fsync``-ed and renamed over the target (file backend
       ``'atomic_local'``, see
       :mod:`~projects.prompthub.utils.atomic_file_backend`);
    2. ``last_checkpoint`` is replaced the same way, after the checkpoint it
       names is in place;
    3. outdated and previous-best checkpoints are deleted last, never the
       file ``last_checkpoint`` or a best path names.

    A kill therefore leaves at worst an extra old checkpoint and a hidden
    ``.*.tmp`` file, which the next run removes (with a WARNING).

    On ``resume`` the hook also chooses the file (``before_run`` runs just
    before ``Runner.load_or_resume``): an auto resume (``load_from=None``)
    takes the checkpoint ``last_checkpoint`` names, or the newest readable
    one with a WARNING when that one is truncated or missing; an explicit
    file that cannot be resumed from is refused with an error naming it.
    See :mod:`projects.prompthub.engine.resume_point`.

    Atomic writes cover local ``out_dir`` folders only; with another
    backend (``backend_args``, ``file_client_args``) the deletion order
    still applies and a WARNING says the writes are that backend's.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._removals: Optional[_RemovalQueue] = None

    # -- resume -----------------------------------------------------------
    def before_run(self, runner) -> None:
        """Resolve or check the checkpoint ``Runner.load_or_resume`` uses.

        MMEngine 0.10.7 keeps the resume settings in ``runner._resume`` and
        ``runner._load_from``; there is no public accessor. Once a
        checkpoint is loaded (``runner.test()`` after ``train()``) there is
        nothing to choose.
        """
        if not getattr(runner, '_resume', False) or getattr(
                runner, '_has_loaded', False):
            return
        required = RESUME_KEYS + (('optimizer', ) if self.save_optimizer else
                                  ())
        if runner._load_from is None:
            runner._load_from = find_resume_checkpoint(
                runner.work_dir,
                extra_dirs=[self._checkpoint_dir(runner)],
                filename_tmpls=[self.filename_tmpl],
                required_keys=required)
        else:
            check_resume_checkpoint(
                runner._load_from,
                filename_tmpls=[self.filename_tmpl],
                required_keys=required)

    def _checkpoint_dir(self, runner) -> str:
        """Where ``before_train`` will put the checkpoints."""
        if self.out_dir is None or self.out_dir == runner.work_dir:
            return runner.work_dir
        return osp.join(self.out_dir,
                        osp.basename(runner.work_dir.rstrip(osp.sep)))

    # -- saving -----------------------------------------------------------
    def before_train(self, runner) -> None:
        """Choose the atomic backend, then set up as CheckpointHook does."""
        out_dir = self.out_dir if self.out_dir is not None else \
            runner.work_dir
        backend = None
        if self.file_client_args is None:
            backend = get_file_backend(out_dir, backend_args=self.backend_args)
        if isinstance(backend, LocalBackend):
            self.backend_args = dict(backend=ATOMIC_BACKEND)
        else:
            writer = (
                type(backend).__name__ if backend is not None else
                f'file_client_args={self.file_client_args}')
            runner.logger.warning(
                'SafeCheckpointHook writes atomically to local folders only; '
                f'checkpoints in {out_dir} are written by {writer} and a '
                'kill mid-write may leave a truncated file there.')
        super().before_train(runner)
        if is_main_process() and isinstance(backend, LocalBackend):
            self._remove_unfinished_writes(runner,
                                           {self.out_dir, runner.work_dir})

    def _remove_unfinished_writes(self, runner, folders: set) -> None:
        """Remove the temporary files of saves killed mid-write."""
        found = []
        for folder in sorted(folders):
            if not osp.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                target = unfinished_write_target(name)
                if target and (target.endswith('.pth')
                               or target == 'last_checkpoint'):
                    os.remove(osp.join(folder, name))
                    found.append(osp.join(folder, name))
        if found:
            runner.logger.warning(
                f'Removed {len(found)} unfinished checkpoint file(s) left by '
                f'an interrupted save: {found}')

    @contextmanager
    def _deferred_removals(self) -> Iterator[None]:
        """Delete old checkpoints only after the block's saves succeeded.

        Nested blocks (``_save_best_checkpoint`` calls
        ``_save_checkpoint_with_step``) are deleted by the outermost one;
        if the block raises nothing is deleted.
        """
        if self._removals is not None:
            yield
            return
        queue = self._removals = _RemovalQueue(self.file_backend)
        self.file_backend = queue
        try:
            yield
        finally:
            self.file_backend = queue.backend
            self._removals = None
        keep = {
            self.last_ckpt,
            getattr(self, 'best_ckpt_path', None),
            *getattr(self, 'best_ckpt_path_dict', {}).values()
        }
        for path in queue.paths:
            if path in keep:
                continue
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                # checkpoints saved by DeepSpeed are folders
                self.file_backend.rmtree(path)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Save as CheckpointHook does, in a kill-safe order.

        Bookkeeping and file names are MMEngine's: ``keep_ckpt_ids`` and
        ``last_ckpt`` are updated before the save so that the checkpoint
        records itself; only the deletions move after the save.
        """
        with self._deferred_removals():
            if self.max_keep_ckpts > 0 and not (
                    self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    old_step = self.keep_ckpt_ids.popleft()
                    if is_main_process():
                        self.file_backend.remove(
                            self.file_backend.join_path(
                                self.out_dir,
                                self.filename_tmpl.format(old_step)))
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids',
                                               list(self.keep_ckpt_ids))

            ckpt_filename = self.filename_tmpl.format(step)
            self.last_ckpt = self.file_backend.join_path(
                self.out_dir, ckpt_filename)
            runner.message_hub.update_info('last_ckpt', self.last_ckpt)

            runner.save_checkpoint(
                self.out_dir,
                ckpt_filename,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)

            if is_main_process():
                atomic_write(
                    osp.join(runner.work_dir, 'last_checkpoint'),
                    self.last_ckpt)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """CheckpointHook's best-checkpoint logic, old best deleted last."""
        with self._deferred_removals():
            super()._save_best_checkpoint(runner, metrics)
