"""The ``cuda_tests`` check: the test suite's CUDA-only tests (those skipped
without CUDA), collected from the suite, run with pytest."""
import glob
import os.path as osp
import re
import xml.etree.ElementTree as ET
from typing import Dict, List

from .context import FAIL, PASS, SKIP, Context, Result, run_worker
from .process import REPO, run_logged

NAME = 'cuda_tests'


class _CudaOnlyCollector:
    """Pytest plugin: the node ids of the tests skipped without CUDA."""

    def __init__(self) -> None:
        self.ids: List[str] = []

    def pytest_collection_modifyitems(self, items) -> None:
        for item in items:
            for mark in item.iter_markers('skipif'):
                text = ' '.join(
                    str(v)
                    for v in (*mark.args, mark.kwargs.get('reason', '')))
                if 'cuda' in text.lower():
                    self.ids.append(item.nodeid)
                    break


def collect(params: dict) -> dict:
    """Worker: collect ``params['files']`` and keep the CUDA-only tests."""
    import pytest
    collector = _CudaOnlyCollector()
    rc = pytest.main(
        ['--collect-only', '-q', '-p', 'no:cacheprovider', *params['files']],
        plugins=[collector])
    if rc != 0:
        raise RuntimeError(f'pytest could not collect {params["files"]} '
                           f'(exit {rc}); see the log above')
    return dict(node_ids=collector.ids)


def cuda_test_files() -> List[str]:
    """Test files with a ``skipif`` that may name CUDA: the only ones worth
    collecting (collecting imports them)."""
    files = []
    pattern = osp.join(REPO, 'tests', '**', 'test_*.py')
    for path in sorted(glob.glob(pattern, recursive=True)):
        with open(path, errors='replace') as f:
            text = f.read()
        if 'skipif' in text and re.search('cuda', text, re.IGNORECASE):
            files.append(osp.relpath(path, REPO))
    return files


def check(ctx: Context) -> Result:
    """The tests that skip without CUDA, collected, then run (GPU only)."""
    log = ctx.path('cuda_tests.log')
    files = cuda_test_files()
    found, why = run_worker(ctx, 'collect_cuda_tests', dict(files=files), log,
                            ctx.left())
    if found is None:
        return Result(NAME, FAIL, key=f'collection: {why}')
    ids = found['node_ids']
    details = dict(files=files, node_ids=ids)
    if not ids:
        return Result(
            NAME,
            FAIL,
            key='no CUDA-only test found: the selection is broken',
            details=details)
    if ctx.dry_run:
        return Result(
            NAME,
            SKIP,
            key=f'{len(ids)} CUDA-only tests collected, not run (no CUDA)',
            details=details)
    if not ctx.devices().get('cuda_available'):
        return Result(
            NAME,
            FAIL,
            key=f'{len(ids)} CUDA-only tests, but torch sees no CUDA device',
            details=details)
    xml = ctx.path('cuda_tests.xml')
    rc, timed_out = run_logged([
        ctx.python(), '-m', 'pytest', '-p', 'no:cacheprovider', '-rA',
        f'--junitxml={xml}', *ids
    ], log, ctx.left(), ctx.env())
    if timed_out:
        return Result(NAME, FAIL, key='pytest timed out', details=details)
    counts = junit_counts(xml)
    details.update(pytest_exit=rc, counts=counts)
    ran_all = counts.get('passed') == len(ids)
    key = ', '.join(f'{v} {k}' for k, v in counts.items()) or \
        f'no report (exit {rc})'
    return Result(
        NAME,
        PASS if rc == 0 and ran_all else FAIL,
        key=f'{key} of {len(ids)}',
        details=details)


def junit_counts(path: str) -> Dict[str, int]:
    """passed/failed/errors/skipped of a pytest junit XML report."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    suites = [root] if root.tag == 'testsuite' else root.findall('testsuite')
    total = {k: 0 for k in ('tests', 'failures', 'errors', 'skipped')}
    for suite in suites:
        for k in total:
            total[k] += int(suite.get(k, 0))
    return dict(
        passed=total['tests'] - total['failures'] - total['errors'] -
        total['skipped'],
        failed=total['failures'],
        errors=total['errors'],
        skipped=total['skipped'])
