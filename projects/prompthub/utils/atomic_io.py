"""Files and folders that concurrent writers and open readers can share.

Linux semantics these helpers rely on:

* ``rename(2)`` (``os.replace``) swaps a name atomically, also when the
  name is a symlink: a reader resolves either the old or the new target,
  never a mix.
* A file that is unlinked while mapped or open stays readable through
  that mapping until it is closed; only rewriting or truncating a mapped
  file changes (or, past its end, breaks with SIGBUS) what readers see.
* ``flock(2)`` locks belong to an open file description: two opens, even
  in one process, exclude each other, and the kernel drops a lock when
  its holder dies, so a crashed writer never leaves a stale lock.

:class:`VersionBuilder` builds on them: a writer fills a fresh version
folder that nobody reads yet, then points ``<root>/current`` at it with
one rename, so open readers keep the version they mapped and new readers
see only complete versions.

:class:`AtomicWriter` does the same for one file: it is written under a
temporary name in its own folder, fsync-ed, then moved over the target
with ``os.replace``, so a process killed at any moment leaves the previous
file or the complete new one, never a prefix (at worst a hidden
``.<name>.*.tmp`` file that is never read and may be deleted).
"""
import contextlib
import errno
import fcntl
import os
import os.path as osp
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO, BinaryIO, Iterator, Optional, Union

#: Name of the pointer (a relative symlink) to the published version.
CURRENT = 'current'
#: Prefix of the version folders under a versioned root.
VERSION_PREFIX = 'v-'
_ROOT_LOCK = '.lock'


def try_lock(path: str) -> Optional[IO]:
    """An exclusive ``flock`` on ``path`` (created if absent), or None
    when another open file holds it. Keep the returned file open to keep
    the lock; closing it (or exiting) releases it."""
    handle = open(path, 'a+b')
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        handle.close()
        if err.errno in (errno.EAGAIN, errno.EACCES):
            return None
        raise
    return handle


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (blocking) in the block."""
    with open(path, 'a+b') as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def fsync_file(path: str) -> None:
    """Flush a written file's data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    """Make the names created, renamed or removed in ``path`` durable.

    Without it a power loss right after ``os.replace`` may bring back the
    old name. Folders cannot be opened for syncing on Windows, where the
    rename is durable once ``MoveFileEx`` returns.
    """
    if os.name != 'posix':
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock_dir(path: str, blocking: bool) -> Optional[int]:
    """A ``flock`` on a folder itself (its descriptor), or None."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


class VersionBuilder:
    """A fresh, private version folder under ``root``, then its switch.

    Use as a context manager: fill :attr:`path`, then call
    :meth:`publish`. The folder stays locked while it is built, so a
    concurrent builder's clean-up never removes it; if the block raises
    (or the process dies) it is never published and is removed (by the
    block, or by the next :meth:`publish` under ``root``).

    Args:
        root (str): The versioned folder (created if absent).
    """

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)
        # Created and locked under the root lock, so a clean-up running
        # right now cannot take it for a dead builder's leftover.
        with locked(osp.join(root, _ROOT_LOCK)):
            self.path = tempfile.mkdtemp(prefix=VERSION_PREFIX, dir=root)
            os.chmod(self.path, 0o755)  # mkdtemp's 0o700 hides it
            self._fd = _lock_dir(self.path, blocking=True)

    def __enter__(self) -> 'VersionBuilder':
        return self

    def __exit__(self, kind, value, trace) -> None:
        published = self._fd is None
        self.close()
        if not published:
            shutil.rmtree(self.path, ignore_errors=True)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def publish(self, stale: tuple = ()) -> None:
        """Point ``<root>/current`` at this version with one rename and
        remove the versions nobody builds any more.

        Every file in :attr:`path` must be complete and synced. Open
        readers of the replaced version keep their mapped files (removal
        only unlinks them).

        Args:
            stale (tuple[str]): Names directly under ``root`` left by an
                older unversioned layout; removed after the switch.
        """
        fsync_dir(self.path)
        name = osp.basename(self.path)
        with locked(osp.join(self.root, _ROOT_LOCK)):
            link = osp.join(self.root, f'.{CURRENT}.{name}.tmp')
            os.symlink(name, link)
            os.replace(link, osp.join(self.root, CURRENT))
            fsync_dir(self.root)
            self.close()
            for entry in os.listdir(self.root):
                path = osp.join(self.root, entry)
                if entry.startswith(VERSION_PREFIX) and entry != name:
                    fd = _lock_dir(path, blocking=False)
                    if fd is None:
                        continue  # another builder's version in progress
                    try:
                        shutil.rmtree(path, ignore_errors=True)
                    finally:
                        os.close(fd)
                elif entry in stale:
                    os.remove(path)


def current_version(root: str) -> Optional[str]:
    """The folder ``<root>/current`` points at, or None when absent."""
    link = osp.join(root, CURRENT)
    try:
        return osp.join(root, os.readlink(link))
    except FileNotFoundError:
        return None


# '.<name>.<pid>.<8 hex>.tmp', hidden so that globs like '*.pth' skip it.
_TEMP_NAME = re.compile(r'^\.(?P<target>.+)\.\d+\.[0-9a-f]{8}\.tmp$')


def _temp_path(path: str) -> str:
    folder, name = osp.split(path)
    return osp.join(folder,
                    f'.{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp')


def unfinished_write_target(filename: str) -> Optional[str]:
    """The target name if ``filename`` is a temporary file of
    :class:`AtomicWriter`, else None.

    Such a file outlives its write only when the process died mid-way;
    it never holds a complete version of its target.
    """
    match = _TEMP_NAME.match(osp.basename(filename))
    return match.group('target') if match else None


class AtomicWriter:
    """A binary file that appears at ``path`` only when committed.

    Use it as a context manager (commits on success, discards on an
    exception) or call :meth:`commit` / :meth:`abort` yourself for a file
    written across several calls.

    Args:
        path (str): The final file; its folder is created.
    """

    def __init__(self, path: str) -> None:
        self.path = osp.abspath(path)
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        self.tmp_path = _temp_path(self.path)
        # 'xb': a fresh file with the umask's permissions, as 'wb' gives.
        self.file: BinaryIO = open(self.tmp_path, 'xb')

    def write(self, data: bytes) -> int:
        """Append bytes to the temporary file."""
        return self.file.write(data)

    def commit(self) -> None:
        """Flush, fsync and move the file to ``path``."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.tmp_path, self.path)
        except BaseException:
            self.abort()
            raise
        fsync_dir(osp.dirname(self.path))

    def abort(self) -> None:
        """Drop the temporary file; ``path`` is left untouched."""
        if not self.file.closed:
            self.file.close()
        if osp.lexists(self.tmp_path):
            os.remove(self.tmp_path)

    def __enter__(self) -> BinaryIO:
        return self.file

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def atomic_write(path: Union[str, Path],
                 data: Union[bytes, str],
                 encoding: str = 'utf-8') -> None:
    """Replace the content of ``path`` by ``data`` atomically and durably.

    Args:
        path (str | Path): The file to write; its folder is created.
        data (bytes | str): The complete new content; ``str`` is encoded
            with ``encoding``.
        encoding (str): Encoding of a ``str`` ``data``. Defaults to
            ``'utf-8'``.
    """
    if isinstance(data, str):
        data = data.encode(encoding)
    with AtomicWriter(os.fspath(path)) as f:
        f.write(data)
