"""Write local files so that a reader sees the old or the new content.

A kill, OOM or preemption in the middle of ``open(path, 'wb').write(...)``
leaves ``path`` truncated: the previous content is gone and the new one is
incomplete. :func:`atomic_write` writes to a temporary file in the same
folder, flushes it to disk (``fsync``), renames it over ``path`` with
``os.replace`` (atomic on POSIX and Windows within one file system) and
flushes the folder, so ``path`` always holds one complete version and a
crash leaves at most a temporary file, recognised by
:func:`unfinished_write_target`.

:class:`AtomicLocalBackend` is MMEngine's ``LocalBackend`` with
:func:`atomic_write` behind ``put``/``put_text``; it is registered as the
file backend ``'atomic_local'`` so ``backend_args=dict(backend=
'atomic_local')`` makes ``mmengine.runner.save_checkpoint`` atomic.
"""
import os
import os.path as osp
import re
import uuid
from pathlib import Path
from typing import Optional, Union

from mmengine.fileio import LocalBackend, register_backend

ATOMIC_BACKEND = 'atomic_local'

# '.<name>.<pid>.<8 hex>.tmp', hidden so that globs like '*.pth' skip it.
_TEMP_NAME = re.compile(r'^\.(?P<target>.+)\.\d+\.[0-9a-f]{8}\.tmp$')


def _temp_path(path: str) -> str:
    folder, name = osp.split(path)
    return osp.join(folder,
                    f'.{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp')


def unfinished_write_target(filename: str) -> Optional[str]:
    """The target name if ``filename`` is a temporary file of
    :func:`atomic_write`, else None.

    Such a file outlives its write only when the process died mid-way;
    it never holds a complete version of its target.
    """
    match = _TEMP_NAME.match(osp.basename(filename))
    return match.group('target') if match else None


def fsync_dir(folder: str) -> None:
    """Flush a folder's entries (new names, renames) to disk.

    Without it a power loss right after ``os.replace`` may bring back the
    old name. Folders cannot be opened for syncing on Windows; there the
    rename is already durable once ``MoveFileEx`` returns.
    """
    if os.name != 'posix':
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Union[str, Path],
                 data: Union[bytes, str],
                 encoding: str = 'utf-8') -> None:
    """Replace the content of ``path`` by ``data`` in one step.

    Args:
        path (str | Path): The file to write; its folder must exist.
        data (bytes | str): The new content; ``str`` is encoded with
            ``encoding``.
        encoding (str): Encoding of a ``str`` ``data``. Defaults to
            ``'utf-8'``.
    """
    path = osp.abspath(path)
    if isinstance(data, str):
        data = data.encode(encoding)
    tmp = _temp_path(path)
    try:
        # 'xb': a fresh file with the umask's permissions, like 'wb' gives.
        with open(tmp, 'xb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.lexists(tmp):
            os.remove(tmp)
        raise
    fsync_dir(osp.dirname(path))


@register_backend(ATOMIC_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose writes are atomic (see :func:`atomic_write`).

    Reads, listings and removals are the parent's.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically, creating its folder."""
        os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
        atomic_write(filepath, obj)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically, creating its folder."""
        os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
        atomic_write(filepath, obj, encoding=encoding)
