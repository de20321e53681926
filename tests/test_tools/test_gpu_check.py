"""tools/gpu_check.py: its dry run end to end on CPU, and the verdicts of
its checks (tools/gpu_checks/)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from tools.gpu_checks import amp, benchmark, cuda_tests, dist, environment
from tools.gpu_checks.context import Context, Result
from tools.gpu_checks.runner import run_check
from tools.gpu_checks.summary import format_table

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _dry_run(out, *args: str, timeout: int = 600):
    env = dict(os.environ, PYTHON=sys.executable, PYTHONUNBUFFERED='1')
    return subprocess.run([
        sys.executable, 'tools/gpu_check.py', '--dry-run', '--out',
        str(out), *args
    ],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=timeout)


def _check_json(out, name: str) -> dict:
    with open(osp.join(out, f'{name}.json')) as f:
        return json.load(f)


def test_dry_run_passes_and_writes_its_folder(tmp_path):
    out = tmp_path / 'out'
    checks = ['setup', 'cuda_tests', 'amp', 'benchmark', 'retrieval']
    proc = _dry_run(out, '--checks', *checks)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # The printed table: a header and one row per check, in order.
    lines = proc.stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith('check '))
    assert lines[head].split()[:3] == ['check', 'status', 'seconds']
    rows = [ln.split()[:2] for ln in lines[head + 1:head + 1 + len(checks)]]
    assert rows == [['setup', 'PASS'], ['cuda_tests', 'SKIP'], ['amp', 'PASS'],
                    ['benchmark', 'PASS'], ['retrieval', 'PASS']]

    summary = json.loads((out / 'summary.json').read_text())
    assert summary['mode'] == 'dry-run' and summary['passed'] is True
    assert [c['name'] for c in summary['checks']] == checks
    for name in checks:
        assert (out / f'{name}.log').stat().st_size > 0, name
        assert _check_json(out, name)['status'] in ('PASS', 'SKIP')
    md = (out / 'summary.md').read_text()
    assert '| check | status | seconds | key numbers |' in md
    assert '| amp | PASS |' in md and '## Benchmark' in md

    # The CUDA-only tests were found in the suite (and not run on CPU).
    cuda = _check_json(out, 'cuda_tests')['details']
    assert 'tests/test_retrieval/test_topk.py::test_cuda_matches_cpu' in \
        cuda['node_ids']
    assert all('cuda' in i.lower() for i in cuda['node_ids'])

    # AMP: real training (the loss fell) and a real reduced-precision pass.
    amp = _check_json(out, 'amp')['details']
    assert amp['optim_wrapper'] == 'OptimWrapper'
    assert amp['amp_logits_dtype'] == 'bfloat16'
    assert len(amp['losses']) == 10
    assert amp['loss_last5'] < amp['loss_first5']
    tol = amp['tolerances']
    assert 0 < amp['logit_diff_rel'] <= tol['max_logit_diff_rel']
    assert 1 >= amp['code_agreement'] >= tol['min_code_agreement']
    assert amp['level_diff'] <= tol['max_level_diff']

    # The benchmark tool's own JSON, with every row of the grid.
    bench = json.loads((out / 'benchmark_grid.json').read_text())
    assert [(r['batch'], r['num_prompts'])
            for r in bench['model_bench']['rows']] == [(1, 1), (1, 2)]
    assert bench['precision'] == 'amp-bf16'
    assert '| B | N | train ms' in (out / 'benchmark.md').read_text()

    # Retrieval doubled once (32, then 64 images) and scaled to COCO.
    ret = _check_json(out, 'retrieval')['details']
    assert [r['images'] for r in ret['runs']] == [32, 64]
    assert [p['images'] for p in ret['retrieval']['points']] == [32, 64]
    assert ret['retrieval']['extrapolation']['images'] == 82783
    assert (out / 'retrieval_64.json').exists()


def test_dist_dry_run_resumes_where_it_stopped(tmp_path):
    out = tmp_path / 'out'
    proc = _dry_run(out, '--checks', 'dist')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    dist = _check_json(out, 'dist')
    assert dist['status'] == 'PASS', dist['key']
    first, second = dist['details']['runs']
    assert first['distributed'] and first['backend_in_config']
    assert first['last_iter'] == 4
    assert second['resume'] and second['resumed_from'] == [1, 4]
    assert second['last_iter'] == 8
    # Checkpoints are removed, the logs stay.
    work = out / 'work' / 'dist'
    assert not list(work.glob('*.pth'))
    assert 'resumed epoch: 1, iter: 4' in (out / 'dist.log').read_text()


def test_a_check_over_its_time_limit_fails_the_run(tmp_path):
    out = tmp_path / 'out'
    proc = _dry_run(out, '--checks', 'amp', '--timeout', 'amp=1')
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    amp = _check_json(out, 'amp')
    assert amp['status'] == 'FAIL'
    assert amp['key'] == 'timed out after 1 s'
    assert 'killed after the limit of 1 s' in (out / 'amp.log').read_text()
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['passed'] is False
    assert '| amp | FAIL |' in (out / 'summary.md').read_text()


# -- verdicts on given measurements (no subprocess) --------------------------
def _context(tmp_path, dry_run=True) -> Context:
    return Context(
        str(tmp_path), dry_run, budget=60, timeouts={}, overrides={})


def _amp_measured(prof: dict, **change) -> dict:
    """What the AMP worker measures: a run inside the GPU profile's
    tolerances (``prof``), with ``change``."""
    measured = dict(
        optim_wrapper=prof['optim_wrapper'],
        amp_dtype=prof['amp_dtype'],
        iters=prof['iters'],
        amp_logits_dtype=prof['amp_dtype'],
        logit_diff_rel=prof['max_logit_diff_rel'] / 2,
        code_agreement=(1 + prof['min_code_agreement']) / 2,
        level_diff=prof['max_level_diff'] / 4,
        losses_finite=True,
        loss_first5=7.0,
        loss_last5=6.5,
        pixel_diff=0.2)
    return dict(measured, **change)


@pytest.mark.parametrize('change, failure', [
    ({}, None),
    (dict(loss_last5=7.0), 'the loss did not fall'),
    (dict(losses_finite=False), 'a loss is not finite'),
    (dict(amp_logits_dtype='float32'), 'autocast gave float32 logits'),
    (dict(logit_diff_rel=0.03), 'AMP logits differ from fp32'),
    (dict(logit_diff_rel=float('nan')), 'AMP logits differ from fp32'),
    (dict(code_agreement=0.98), 'AMP codes differ from fp32'),
    (dict(level_diff=2.5), 'AMP predictions differ from fp32'),
])
def test_amp_verdict(tmp_path, monkeypatch, change, failure):
    ctx = _context(tmp_path, dry_run=False)
    measured = _amp_measured(ctx.profile['amp'], **change)
    monkeypatch.setattr(amp, 'run_worker', lambda *a, **k:
                        (dict(measured), ''))
    result = amp.check(ctx)
    if failure is None:
        assert result.status == 'PASS', result.key
        assert result.details['failures'] == []
    else:
        assert result.status == 'FAIL'
        assert result.details['failures'] == [failure]
        assert result.key.startswith(failure)


def test_a_crashed_worker_is_a_fail_row_with_its_last_line(
        tmp_path, monkeypatch):
    # The collection worker (pytest alone: a light subprocess) raises.
    monkeypatch.setattr(cuda_tests, 'cuda_test_files',
                        lambda: ['tests/no_such_test.py'])
    result = run_check(_context(tmp_path), 'cuda_tests')
    assert result.status == 'FAIL'
    assert result.key.startswith('collection: exit 1: RuntimeError: pytest '
                                 "could not collect ['tests/no_such_test.py']")
    assert _check_json(tmp_path, 'cuda_tests')['status'] == 'FAIL'


def test_no_time_left_is_a_fail_row(tmp_path):
    ctx = Context(str(tmp_path), True, budget=1, timeouts={}, overrides={})
    result = run_check(ctx, 'benchmark')
    assert result.status == 'FAIL'
    assert result.key.startswith('not run: ')


def test_log_parsers(tmp_path):
    log = ('Epoch(train) [1][ 3/4]  lr: 3e-02\n'
           'resumed epoch: 1, iter: 4\n'
           'Epoch(train) [2][4/4]  lr: 3e-02\n')
    assert dist._last_iter(log) == 8
    assert dist._resumed_at(log) == (1, 4)
    assert dist._last_iter('nothing') is None
    assert dist._resumed_at('nothing') is None
    xml = tmp_path / 'r.xml'
    xml.write_text('<testsuites><testsuite tests="3" failures="1" '
                   'errors="0" skipped="1"/></testsuites>')
    assert cuda_tests.junit_counts(str(xml)) == dict(
        passed=1, failed=1, errors=0, skipped=1)
    assert cuda_tests.junit_counts(str(tmp_path / 'missing.xml')) == {}
    assert benchmark._grid(
        ['cfg', '--batch-sizes', '16', '--num-prompts', '1', '4',
         '--amp']) == [(16, 1), (16, 4)]


def test_summary_table_formats():
    results = [
        Result('setup', 'PASS', 1.25, 'ready'),
        Result('amp', 'FAIL', 10.0, 'a | b'),
    ]
    text = format_table(results, markdown=False).splitlines()
    assert text[0].split() == ['check', 'status', 'seconds', 'key', 'numbers']
    assert text[1].split() == ['setup', 'PASS', '1.2', 'ready']
    md = format_table(results, markdown=True).splitlines()
    assert md[0] == '| check | status | seconds | key numbers |'
    assert md[3] == '| amp | FAIL | 10.0 | a \\| b |'


# -- the GPU-only branches, with the subprocesses replaced -------------------
def test_setup_runs_setup_env_with_the_device_arch(tmp_path, monkeypatch):
    probes = iter([
        dict(
            ready=False,
            errors=['mmcv ops were built without CUDA'],
            capability=[9, 0]),
        dict(
            ready=True,
            errors=[],
            torch='2.x',
            cuda_available=True,
            device_count=1,
            device_name='GPU',
            capability=[9, 0],
            mmcv='2.1.0',
            mmcv_cuda='13.0'),
    ])
    calls = []
    monkeypatch.setattr(environment, 'run_worker', lambda *a, **k:
                        (next(probes), ''))

    def run_logged(cmd, log, timeout, env):
        calls.append((cmd, env['FORCE_CUDA'], env['TORCH_CUDA_ARCH_LIST']))
        return 0, False

    monkeypatch.setattr(environment, 'run_logged', run_logged)
    ctx = _context(tmp_path, dry_run=False)
    result = run_check(ctx, 'setup')
    assert calls == [(['bash', 'tools/setup_env.sh'], '1', '9.0')]
    assert result.status == 'PASS', result.key
    assert result.key.endswith('setup_env.sh ran')
    assert 'sm_90' in result.key and 'CUDA: 13.0' in result.key
    assert ctx.probe['device_count'] == 1


def test_setup_failure_names_what_is_missing(tmp_path, monkeypatch):
    probe = dict(ready=False, errors=['torch sees no CUDA device'])
    monkeypatch.setattr(environment, 'run_worker', lambda *a, **k:
                        (dict(probe), ''))
    monkeypatch.setattr(environment, 'run_logged', lambda *a, **k: (1, False))
    monkeypatch.setattr(environment, '_cuda_arch', lambda probe: None)
    result = run_check(_context(tmp_path, dry_run=False), 'setup')
    assert result.status == 'FAIL'
    assert result.key == 'torch sees no CUDA device (setup_env.sh: exit 1)'


@pytest.mark.parametrize('tests, skipped, status', [(2, 0, 'PASS'),
                                                    (2, 1, 'FAIL')])
def test_cuda_tests_pass_only_when_all_ran(tmp_path, monkeypatch, tests,
                                           skipped, status):
    ids = ['tests/a.py::test_x', 'tests/b.py::test_y']
    monkeypatch.setattr(cuda_tests, 'run_worker', lambda *a, **k:
                        (dict(node_ids=ids), ''))
    ran = []

    def run_logged(cmd, log, timeout, env):
        ran.append(cmd)
        (tmp_path / 'cuda_tests.xml').write_text(
            f'<testsuites><testsuite tests="{tests}" failures="0" '
            f'errors="0" skipped="{skipped}"/></testsuites>')
        return 0, False

    monkeypatch.setattr(cuda_tests, 'run_logged', run_logged)
    ctx = _context(tmp_path, dry_run=False)
    ctx.probe = dict(cuda_available=True)
    result = run_check(ctx, 'cuda_tests')
    assert ran[0][-2:] == ids and '-m' in ran[0] and 'pytest' in ran[0]
    assert result.status == status, result.key
    assert result.details['counts']['skipped'] == skipped
