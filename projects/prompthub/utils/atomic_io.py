"""Crash-safe file writes: a reader sees the old file or the new one.

A file is written under a temporary name in its own folder (so the final
rename stays on one file system), flushed and ``fsync``-ed, then moved over
the target with ``os.replace`` (atomic on POSIX), and the folder is synced
so the rename itself survives a power cut. A process killed at any moment
leaves either the previous file or the complete new one, never a prefix;
at worst a hidden ``.<name>.*.tmp`` file is left behind, which is never
read and may be deleted.
"""
import os
import os.path as osp
import tempfile
from typing import BinaryIO


def _fsync_dir(folder: str) -> None:
    """Persist a rename in ``folder`` (a no-op where folders cannot be
    opened, e.g. on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
        folder = osp.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        fd, self.tmp_path = tempfile.mkstemp(
            prefix=f'.{osp.basename(self.path)}.', suffix='.tmp', dir=folder)
        self.file: BinaryIO = os.fdopen(fd, 'wb')

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
        _fsync_dir(osp.dirname(self.path))

    def abort(self) -> None:
        """Drop the temporary file; ``path`` is left untouched."""
        if not self.file.closed:
            self.file.close()
        if osp.exists(self.tmp_path):
            os.remove(self.tmp_path)

    def __enter__(self) -> BinaryIO:
        return self.file

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    Args:
        path (str): The file to write; its folder is created.
        data (bytes): The complete new content.
    """
    with AtomicWriter(path) as f:
        f.write(data)
