"""What the checks share (output folder, mode, settings, clock, probe), what
each returns (a row of the summary), and how they run a worker."""
import json
import os
import os.path as osp
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from .process import REPO, last_line, run_logged
from .profiles import profile

PASS, FAIL, SKIP = 'PASS', 'FAIL', 'SKIP'


@dataclass
class Result:
    """The outcome of one check: a row of the summary table.

    Args:
        name (str): The check (one of :data:`.runner.CHECKS`).
        status (str): ``PASS``, ``FAIL`` or ``SKIP``.
        seconds (float): Wall time of the check.
        key (str): The key numbers, one line, or why it failed.
        details (dict): Everything measured, saved as ``<name>.json``.
    """
    name: str
    status: str
    seconds: float = 0.0
    key: str = ''
    details: dict = field(default_factory=dict)


class Context:
    """What the checks share: the output folder, mode, clock and probe.

    Args:
        out (str): Output folder (logs, JSON, summary).
        dry_run (bool): CPU, tiny sizes.
        budget (float, optional): Seconds for all checks together;
            None takes the profile's (480 on the GPU).
        timeouts (dict): Per-check time limits that replace the profile's.
        overrides (dict): Per-check profile values that replace the
            profile's (``--set amp.max_level_diff=...``).
    """

    def __init__(self, out: str, dry_run: bool, budget: Optional[float],
                 timeouts: Dict[str, float], overrides: Dict[str,
                                                             dict]) -> None:
        self.out = osp.abspath(out)
        self.dry_run = dry_run
        self.profile = profile(dry_run)
        self.deadline = time.monotonic() + (budget or self.profile['budget'])
        for name, seconds in timeouts.items():
            self.profile[name]['timeout'] = seconds
        for name, values in overrides.items():
            self.profile[name].update(values)
        self.device = self.profile['device']
        #: What the set-up probe found (torch, CUDA, devices); see
        #: :func:`.environment.probe` and :meth:`devices`.
        self.probe: Optional[dict] = None
        self.check_end = time.monotonic()
        self.work = osp.join(self.out, 'work')
        os.makedirs(self.work, exist_ok=True)

    def python(self) -> str:
        """The project's interpreter, as ``tools/python_env.sh`` picks it:
        the repository's ``.venv`` when it exists, else ``$PYTHON``, else
        the one running this script."""
        venv = osp.join(REPO, '.venv', 'bin', 'python')
        if osp.exists(venv):
            return venv
        return os.environ.get('PYTHON') or sys.executable

    def path(self, name: str) -> str:
        return osp.join(self.out, name)

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def timeout(self, check: str) -> float:
        """The check's limit, cut to what is left of the budget."""
        return min(float(self.profile[check]['timeout']), self.time_left())

    def start(self, check: str) -> None:
        """Start the clock of ``check`` (see :meth:`left`)."""
        self.check_end = time.monotonic() + self.timeout(check)

    def left(self) -> float:
        """Seconds left to the running check: what its next subprocess
        may take."""
        return max(self.check_end - time.monotonic(), 0.0)

    def devices(self) -> dict:
        """The set-up's probe (torch, CUDA, devices); probed here when the
        set-up check did not run."""
        if self.probe is None:
            self.probe = run_worker(self, 'probe', dict(need_cuda=False),
                                    self.path('probe.log'), 120)[0] or {}
        return self.probe

    def env(self, **extra: str) -> dict:
        """Environment of the subprocesses: the repository importable,
        unbuffered output (a killed process still leaves its log)."""
        env = dict(os.environ, PYTHONUNBUFFERED='1', **extra)
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (REPO, env.get('PYTHONPATH')) if p)
        env['PYTHON'] = self.python()  # for the launch scripts
        return env


def run_worker(ctx: Context, worker: str, params: dict, log: str,
               timeout: float) -> Tuple[Optional[dict], str]:
    """Run ``worker`` (a name in :data:`.worker.WORKERS`) in the project's
    interpreter.

    Returns:
        tuple: The worker's result dict (None when it did not finish) and,
        when it did not, why (one line).
    """
    result = osp.join(ctx.work, f'{worker}_{time.monotonic_ns()}.json')
    cmd = [
        ctx.python(), '-m', 'tools.gpu_checks.worker', worker, '--params',
        json.dumps(params), '--result', result
    ]
    rc, timed_out = run_logged(cmd, log, timeout, ctx.env())
    if timed_out:
        return None, f'timed out after {timeout:.0f} s'
    if rc != 0 or not osp.exists(result):
        return None, f'exit {rc}: {last_line(log)}'
    with open(result) as f:
        return json.load(f), ''
