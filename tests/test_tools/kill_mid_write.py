"""Run a script and kill the process in the middle of a file write.

Usage::

    python kill_mid_write.py PATTERN NTH SCRIPT [ARGS...]

Runs ``SCRIPT`` (e.g. ``tools/train.py``) as ``__main__``. The ``NTH``
binary write whose file name fully matches the regex ``PATTERN`` writes
only the first half of its bytes, then the process ends at once with
``os._exit(KILL_CODE)``: no ``finally``, no ``atexit``, no cleanup, as
with SIGKILL, an OOM kill or a preemption. A write to a hidden temporary
file ``.<name>.<pid>.<hex>.tmp`` counts as a write to ``<name>``, so the
same injection hits in-place writers and write-then-rename writers.
"""
import builtins
import os
import re
import runpy
import sys

KILL_CODE = 17
_TEMP = re.compile(r'^\.(?P<target>.+)\.\d+\.[0-9a-f]{8}\.tmp$')


class _TearingFile:
    """A file whose first ``write`` writes half the data and kills."""

    def __init__(self, file, name: str) -> None:
        self._file = file
        self._name = name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._file.__exit__(*exc)

    def write(self, data) -> None:
        self._file.write(data[:len(data) // 2])
        self._file.flush()
        os.fsync(self._file.fileno())
        print(f'KILLED mid-write of {self._name}', flush=True)
        os._exit(KILL_CODE)

    def __getattr__(self, name: str):
        return getattr(self._file, name)


def install(pattern: str, nth: int) -> None:
    """Patch ``open`` to tear the ``nth`` matching binary write."""
    regex = re.compile(pattern)
    real_open = builtins.open
    seen = [0]

    def tearing_open(file, mode='r', *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if 'b' not in mode or not set(mode) & set('wxa'):
            return handle
        name = os.path.basename(os.fspath(file))
        temp = _TEMP.match(name)
        if regex.fullmatch(temp.group('target') if temp else name):
            seen[0] += 1
            if seen[0] == nth:
                return _TearingFile(handle, name)
        return handle

    builtins.open = tearing_open


if __name__ == '__main__':
    install(sys.argv[1], int(sys.argv[2]))
    sys.argv = sys.argv[3:]
    runpy.run_path(sys.argv[0], run_name='__main__')
