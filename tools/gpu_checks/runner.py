"""The checks in the order they run, and one check run: timed, cut to the
budget, its row saved as ``<name>.json``."""
import json
import time
from dataclasses import asdict
from typing import Callable, Dict

from . import amp, benchmark, cuda_tests, dist, environment, retrieval
from .context import FAIL, Context, Result

#: Check name -> its function, in the order the checks run: the set-up
#: first, since it may install what the others import.
CHECK_FUNCS: Dict[str, Callable[[Context], Result]] = {
    module.NAME: module.check
    for module in (environment, cuda_tests, amp, dist, benchmark, retrieval)
}
CHECKS = tuple(CHECK_FUNCS)
#: A check is not started when less than this is left of the budget.
MIN_CHECK_S = 5.0


def run_check(ctx: Context, name: str) -> Result:
    """One check, timed; a crash of the check itself is a FAIL row."""
    start = time.monotonic()
    ctx.start(name)
    if ctx.time_left() < MIN_CHECK_S:
        result = Result(
            name,
            FAIL,
            key=f'not run: {max(ctx.time_left(), 0):.0f} s of the budget '
            'left')
    else:
        try:
            result = CHECK_FUNCS[name](ctx)
        except Exception as exc:  # a bug here must not hide later checks
            result = Result(name, FAIL, key=f'check crashed: {exc!r}')
    result.seconds = time.monotonic() - start
    with open(ctx.path(f'{name}.json'), 'w') as f:
        json.dump(asdict(result), f, indent=1)
    return result
