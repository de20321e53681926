"""Runs one worker of the checks in the project's interpreter::

    python -m tools.gpu_checks.worker NAME --params JSON --result PATH

The checks start it (:func:`.context.run_worker`) from the repository, so
that torch and the project are imported here and never by the checks."""
import argparse
import json
from typing import Callable, Dict, List, Optional

from . import amp, benchmark, cuda_tests, environment

#: Worker name -> function of its params dict, returning a JSON-able dict.
WORKERS: Dict[str, Callable[[dict], dict]] = dict(
    probe=environment.probe,
    collect_cuda_tests=cuda_tests.collect,
    amp=amp.train_and_compare,
    benchmark=benchmark.run_tool)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('name', choices=sorted(WORKERS), help='the worker')
    parser.add_argument('--params', required=True, help='its params (JSON)')
    parser.add_argument(
        '--result', required=True, help='where its result goes (JSON)')
    args = parser.parse_args(argv)
    result = WORKERS[args.name](json.loads(args.params))
    with open(args.result, 'w') as f:
        json.dump(result, f)


if __name__ == '__main__':
    main()
