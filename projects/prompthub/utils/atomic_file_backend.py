"""MMEngine's local file backend with atomic writes.

:class:`AtomicLocalBackend` is ``LocalBackend`` with
:func:`~projects.prompthub.utils.atomic_io.atomic_write` behind
``put``/``put_text``. It is registered as the file backend
``'atomic_local'``, so ``backend_args=dict(backend='atomic_local')`` makes
``mmengine.runner.save_checkpoint`` atomic without rewriting it.
"""

from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

from .atomic_io import atomic_write

ATOMIC_BACKEND = 'atomic_local'


@register_backend(ATOMIC_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose writes are atomic (see :func:`atomic_write`).

    Reads, listings and removals are the parent's.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically, creating its folder."""
        atomic_write(filepath, obj)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically, creating its folder."""
        atomic_write(filepath, obj, encoding=encoding)
