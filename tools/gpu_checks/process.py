"""Subprocesses of the checks: each in a process group of its own, killed
whole at its time limit, its output appended to the check's log."""
import contextlib
import os
import os.path as osp
import shlex
import signal
import socket
import subprocess
from typing import Sequence, Tuple

#: The repository: the working directory of every subprocess.
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run_logged(cmd: Sequence[str], log: str, timeout: float,
               env: dict) -> Tuple[int, bool]:
    """Run ``cmd`` with its output appended to ``log``.

    It runs in a session of its own, so that a timeout kills the whole
    group (torchrun's workers too), not only the direct child.

    Returns:
        tuple: The exit status and whether the time limit was hit.
    """
    with open(log, 'a') as f:
        f.write(f'$ {" ".join(shlex.quote(str(c)) for c in cmd)}\n')
        f.flush()
        proc = subprocess.Popen([str(c) for c in cmd],
                                cwd=REPO,
                                env=env,
                                stdout=f,
                                stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            return proc.wait(timeout=max(timeout, 0.1)), False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            f.write(f'\n[gpu_check] killed after the limit of {timeout:.0f}'
                    ' s\n')
            return proc.returncode, True


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def last_line(log: str) -> str:
    """The last non-empty line of a log (the error, usually)."""
    try:
        with open(log, errors='replace') as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        return ''
    return lines[-1][:200] if lines else ''


def free_port() -> int:
    """A free TCP port for the launcher's rendezvous."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
