"""The ``retrieval`` check: the top-k of ``projects.prompthub.retrieval``
through the benchmark tool, doubling the images while the next run fits the
time left, with the tool's scaling to COCO-train."""
import json
import time

from .context import FAIL, PASS, Context, Result, run_worker

NAME = 'retrieval'


def check(ctx: Context) -> Result:
    """The top-k at doubling sizes while the next run fits the time left.

    Each run is the benchmark tool with ``--retrieval-images S/2 S``, so
    each has its own time exponent and its own scaling to COCO-train. The
    third and later sizes are tried when their predicted time (the last
    run's times its growth over the run before, between x2 and x4) fits
    what is left of this check's limit.
    """
    prof = ctx.profile[NAME]
    log = ctx.path('retrieval.log')
    size, runs, growth = prof['first_images'], [], 4.0
    why = ''
    while size <= prof['max_images']:
        left = ctx.left()
        # The second run always goes (a scaling needs two); its limit is
        # the guard.
        if len(runs) > 1 and runs[-1]['seconds'] * growth > left:
            why = f'next size {size} predicted not to fit'
            break
        args = list(prof['args']) + [
            '--retrieval-images',
            str(size // 2),
            str(size), '--out',
            ctx.path(f'retrieval_{size}.json')
        ]
        began = time.monotonic()
        got, why = run_worker(ctx, 'benchmark', dict(args=args), log, left)
        if got is None:
            break
        took = time.monotonic() - began
        if runs:
            growth = min(max(took / runs[-1]['seconds'], 2.0), 4.0)
        runs.append(dict(images=size, seconds=took, tables=got['tables']))
        size *= 2
    if not runs:
        return Result(NAME, FAIL, key=why)
    top = runs[-1]
    with open(ctx.path(f"retrieval_{top['images']}.json")) as f:
        ret = json.load(f)['retrieval']
    with open(ctx.path('retrieval.md'), 'w') as f:
        f.write(top['tables'] + '\n')
    largest = ret['points'][-1]
    ex = ret['extrapolation']
    exponent = ret['time_exponent']
    key = (f"{largest['images']} x {largest['images']} in "
           f"{largest['seconds']:.2f} s on {ret['device']} (exponent "
           f"{'n/a' if exponent is None else f'{exponent:.2f}'}); "
           f"COCO-train {ex['images']}^2: "
           f"{ret['measured_quadratic_s'] / 60:.1f} min measured x ratio^2, "
           f"{ex['total_s_upper'] / 60:.1f} min by the tool's model")
    details = dict(
        runs=[{
            k: v
            for k, v in r.items() if k != 'tables'
        } for r in runs],
        largest=f"retrieval_{top['images']}.json",
        stopped=why or f"reached max_images={prof['max_images']}",
        retrieval=ret)
    return Result(NAME, PASS, key=key, details=details)
