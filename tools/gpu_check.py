"""One prepared, unattended check of PromptHub on a CUDA GPU.

Usage::

    python tools/gpu_check.py --out work_dirs/gpu_check            # GPU
    python tools/gpu_check.py --out work_dirs/gpu_check --dry-run  # CPU

The checks run in this order, each in its own subprocess with its own time
limit, so that a hang costs one check and not the window (8 minutes in all
by default, ``--budget``):

* ``setup``: the environment imports mmcv with its ops (compiled for CUDA,
  and one CUDA op agrees with its CPU result), mmengine, mmseg, mmdet and
  the project, and torch sees the GPU; otherwise ``tools/setup_env.sh``
  runs with ``FORCE_CUDA=1`` and ``TORCH_CUDA_ARCH_LIST`` of the device;
* ``cuda_tests``: the test suite's CUDA-only tests (those skipped without
  CUDA), collected from the suite, run with pytest;
* ``amp``: full-size PromptHub (random weights, synthetic data on 224x224
  canvases) trains about 20 iterations under ``AmpOptimWrapper``: the loss
  is finite and falls; then AMP and fp32 predictions are compared;
* ``dist``: ``tools/dist_train.sh`` on all visible GPUs (NCCL) for one
  epoch, then ``--resume`` for a second one;
* ``benchmark``: ``tools/analysis_tools/benchmark.py --device cuda --amp``
  on B=16, N in {1, 4, 16, 64};
* ``retrieval``: the CUDA top-k of ``projects.prompthub.retrieval`` through
  the same tool, doubling the images while the next run fits the budget,
  with the tool's scaling to COCO-train.

``--dry-run`` runs the same functions on CPU with tiny models and sizes
(gloo instead of NCCL, autocast to bfloat16 instead of float16): CI runs it
so that this script cannot rot. Everything goes under ``--out``; the
format (files, table columns, JSON keys, tolerances) is documented in
``docs/benchmarks.md`` ("GPU check"). Exit status 1 when a check failed.

Only the standard library is imported at start: the set-up check may first
have to create the environment that the other checks import.
"""
import argparse
import contextlib
import glob
import importlib
import json
import math
import os
import os.path as osp
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = ('configs/prompthub/'
               'prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py')
FULL_MODEL_CONFIG = 'configs/_base_/models/prompthub_mae-vqgan-l16.py'
CHECKS = ('setup', 'cuda_tests', 'amp', 'dist', 'benchmark', 'retrieval')
PASS, FAIL, SKIP = 'PASS', 'FAIL', 'SKIP'
#: The profile keys of the AMP check's tolerances (see check_amp).
AMP_TOLERANCES = ('max_logit_diff_rel', 'min_code_agreement', 'max_level_diff')
#: A check is not started when less than this is left of the budget.
MIN_CHECK_S = 5.0

# -- what runs where --------------------------------------------------------
#: Sizes, devices and time limits (seconds) of each check on the GPU. The
#: limits after the set-up's add up to 465 s: with the set-up's probe
#: (about 15 s; the 300 s are for an install) they fill the 8 minutes.
GPU_PROFILE = dict(
    device='cuda',
    budget=480,
    setup=dict(timeout=300),
    cuda_tests=dict(timeout=60),
    amp=dict(
        timeout=100,
        model_config=FULL_MODEL_CONFIG,
        optim_wrapper='AmpOptimWrapper',
        amp_dtype='float16',
        iters=20,
        batch_size=8,
        lr=0.03,
        # AMP (float16) against fp32; docs/benchmarks.md says why these.
        max_logit_diff_rel=0.02,
        min_code_agreement=0.99,
        max_level_diff=2.0),
    dist=dict(timeout=100, amp=True),
    benchmark=dict(
        timeout=120,
        args=[
            FULL_MODEL_CONFIG, '--device', 'cuda', '--amp', '--batch-sizes',
            '16', '--num-prompts', '1', '4', '16', '64', '--repeat', '5',
            '--warmup', '2'
        ]),
    retrieval=dict(
        timeout=85,
        first_images=1024,
        max_images=16384,
        args=[
            FULL_MODEL_CONFIG, '--skip-model', '--retrieval',
            '--retrieval-device', 'cuda', '--retrieval-chunk', '4096'
        ]))

#: The same checks on CPU, tiny: seconds each on an idle 2-core machine;
#: the limits leave room for a loaded CI machine.
DRY_PROFILE = dict(
    device='cpu',
    budget=1200,
    setup=dict(timeout=120),
    cuda_tests=dict(timeout=120),
    amp=dict(
        timeout=240,
        model_config=None,
        optim_wrapper='OptimWrapper',  # AmpOptimWrapper needs CUDA
        amp_dtype='bfloat16',
        iters=10,
        batch_size=1,
        lr=0.3,
        # bfloat16 keeps 8 bits of mantissa, float16 11.
        max_logit_diff_rel=0.1,
        min_code_agreement=0.95,
        max_level_diff=3.0),
    dist=dict(timeout=300, amp=False),
    benchmark=dict(
        timeout=180,
        args=[
            TINY_CONFIG, '--device', 'cpu', '--amp', '--batch-sizes', '1',
            '--num-prompts', '1', '2', '--repeat', '1', '--warmup', '0',
            '--threads', '1'
        ]),
    retrieval=dict(
        timeout=180,
        first_images=32,
        max_images=64,
        args=[
            TINY_CONFIG, '--skip-model', '--retrieval', '--retrieval-device',
            'cpu', '--retrieval-dim', '64', '--retrieval-chunk', '16',
            '--threads', '1'
        ]))


@dataclass
class Result:
    """The outcome of one check: a row of the summary table.

    Args:
        name (str): The check (one of :data:`CHECKS`).
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
        self.profile = {
            k: dict(v) if isinstance(v, dict) else v
            for k, v in (DRY_PROFILE if dry_run else GPU_PROFILE).items()
        }
        self.deadline = time.monotonic() + (budget or self.profile['budget'])
        for name, seconds in timeouts.items():
            self.profile[name]['timeout'] = seconds
        for name, values in overrides.items():
            self.profile[name].update(values)
        self.device = self.profile['device']
        #: What the set-up probe found (torch, CUDA, devices); see
        #: :func:`worker_probe` and :meth:`devices`.
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


# -- subprocesses -------------------------------------------------------------
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


def run_worker(ctx: Context, worker: str, params: dict, log: str,
               timeout: float) -> Tuple[Optional[dict], str]:
    """Run ``worker`` of this file in the project's interpreter.

    Returns:
        tuple: The worker's result dict (None when it did not finish) and,
        when it did not, why (one line).
    """
    result = osp.join(ctx.work, f'{worker}_{time.monotonic_ns()}.json')
    cmd = [
        ctx.python(),
        osp.abspath(__file__), '--worker', worker, '--params',
        json.dumps(params), '--result', result
    ]
    rc, timed_out = run_logged(cmd, log, timeout, ctx.env())
    if timed_out:
        return None, f'timed out after {timeout:.0f} s'
    if rc != 0 or not osp.exists(result):
        return None, f'exit {rc}: {last_line(log)}'
    with open(result) as f:
        return json.load(f), ''


def last_line(log: str) -> str:
    """The last non-empty line of a log (the error, usually)."""
    try:
        with open(log, errors='replace') as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        return ''
    return lines[-1][:200] if lines else ''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# -- workers (run in the project's interpreter) -------------------------------
def worker_probe(params: dict) -> dict:
    """What the environment can do: torch and CUDA, and every package
    that does not import (all of them, not only the first)."""
    info: dict = dict(errors=[])
    import torch
    info.update(
        torch=torch.__version__,
        torch_cuda=torch.version.cuda,
        cuda_available=torch.cuda.is_available(),
        device_count=torch.cuda.device_count())
    if info['cuda_available']:
        info['device_name'] = torch.cuda.get_device_name(0)
        info['capability'] = list(torch.cuda.get_device_capability(0))
    modules = ('mmengine', 'mmcv', 'mmcv.ops', 'mmseg.models', 'mmdet.models',
               'projects.prompthub')
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            info['errors'].append(f'import {name}: {exc!r}')
    if not any(e.startswith('import mmcv') for e in info['errors']):
        import mmcv
        import mmcv.ops
        info['mmcv'] = mmcv.__version__
        info['mmcv_cuda'] = mmcv.ops.get_compiling_cuda_version()
    if params['need_cuda']:
        if not info['cuda_available']:
            info['errors'].append('torch sees no CUDA device')
        elif info.get('mmcv_cuda') in (None, 'not available'):
            info['errors'].append('mmcv ops were built without CUDA')
        else:
            info['mmcv_cuda_op'] = _mmcv_cuda_op_agrees(torch)
            if not info['mmcv_cuda_op']:
                info['errors'].append('mmcv.ops.nms on CUDA differs from CPU')
    info['ready'] = not info['errors']
    return info


def _mmcv_cuda_op_agrees(torch) -> bool:
    """One mmcv CUDA op (nms) keeps the boxes its CPU kernel keeps."""
    from mmcv.ops import nms
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(200, 2, generator=gen) * 100
    boxes = torch.cat([xy, xy + 5 + 20 * torch.rand(200, 2, generator=gen)], 1)
    scores = torch.rand(200, generator=gen)
    _, keep_cpu = nms(boxes, scores, 0.5)
    _, keep_gpu = nms(boxes.cuda(), scores.cuda(), 0.5)
    return torch.equal(keep_cpu, keep_gpu.cpu())


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


def worker_collect_cuda_tests(params: dict) -> dict:
    """Collect ``params['files']`` and keep the CUDA-only tests."""
    import pytest
    collector = _CudaOnlyCollector()
    rc = pytest.main(
        ['--collect-only', '-q', '-p', 'no:cacheprovider', *params['files']],
        plugins=[collector])
    if rc != 0:
        raise RuntimeError(f'pytest could not collect {params["files"]} '
                           f'(exit {rc}); see the log above')
    return dict(node_ids=collector.ids)


def worker_amp(params: dict) -> dict:
    """Train a few iterations, then compare AMP and fp32 predictions.

    The model is the tiny synthetic config's, or ``model_config``'s model
    (full size) with the tiny config's data, random weights, no dropout
    (the loss then follows the weights alone). Training runs
    ``model.train_step`` with the ``optim_wrapper`` type of the profile,
    on one batch of ``batch_size`` samples seen every iteration. The
    comparison predicts one validation batch twice (the prompt-state cache
    emptied before each): in fp32 and under ``torch.autocast`` to
    ``amp_dtype``.
    """
    import torch
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    import projects.prompthub  # noqa: F401
    from projects.prompthub.registry import MODELS
    device = torch.device(params['device'])
    amp_dtype = getattr(torch, params['amp_dtype'])
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(REPO, TINY_CONFIG))
    if params['model_config']:
        cfg.model = Config.fromfile(osp.join(REPO,
                                             params['model_config'])).model
        cfg.model.data_preprocessor.num_prompts = cfg.num_prompts
    cfg.model.neck.dropout = 0.0
    batch = params['batch_size']
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.batch_size = batch
        loader.dataset.num_samples = batch
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device)
    wrapper_cfg = dict(
        type=params['optim_wrapper'],
        optimizer=dict(type='SGD', lr=params['lr'], momentum=0.0))
    if params['optim_wrapper'] == 'AmpOptimWrapper':
        wrapper_cfg['loss_scale'] = 'dynamic'
    wrapper = build_optim_wrapper(model, wrapper_cfg)

    train_batch = next(iter(Runner.build_dataloader(cfg.train_dataloader, 0)))
    model.train()
    losses, scales = [], []
    start = time.perf_counter()
    for _ in range(params['iters']):
        log_vars = model.train_step(train_batch, wrapper)
        losses.append(float(torch.as_tensor(log_vars['loss']).detach()))
        scaler = getattr(wrapper, 'loss_scaler', None)
        scales.append(None if scaler is None else float(scaler.get_scale()))
    train_s = time.perf_counter() - start

    model.eval()
    val_batch = next(iter(Runner.build_dataloader(cfg.val_dataloader, 0)))
    data = model.data_preprocessor(val_batch, False)

    def predict(dtype) -> tuple:
        cache = getattr(model, 'prompt_state_cache', None)
        if cache is not None:
            cache.clear()  # else the second pass reuses the first's states
        cast = torch.autocast(device.type, dtype=dtype) if dtype \
            else contextlib.nullcontext()
        with torch.no_grad(), cast:
            logits = model(data['inputs'], None, mode='tensor')
            samples = model.predict(data['inputs'], None, logits=logits)
        masks = torch.stack([s.pred_sem_seg.data for s in samples])
        cells = torch.stack([s.pred_label_img.data for s in samples])
        return logits, masks, cells

    logits32, masks32, cells32 = predict(None)
    logits_amp, masks_amp, cells_amp = predict(amp_dtype)
    # The decoder alone, on the same (fp32) codes: code flips apart.
    codes32 = logits32.argmax(-1)
    with torch.no_grad():
        decoded32 = model.backbone.decode_codes(codes32)
        with torch.autocast(device.type, dtype=amp_dtype):
            decoded_amp = model.backbone.decode_codes(codes32)
    diff = (logits_amp.float() - logits32).abs()
    first, last = losses[:5], losses[-5:]
    return dict(
        device=str(device),
        model_params=sum(p.numel() for p in model.parameters()),
        optim_wrapper=type(wrapper).__name__,
        amp_dtype=params['amp_dtype'],
        iters=params['iters'],
        batch_size=batch,
        train_s=train_s,
        losses=losses,
        loss_scales=scales,
        loss_first5=sum(first) / len(first),
        loss_last5=sum(last) / len(last),
        losses_finite=all(math.isfinite(v) for v in losses),
        amp_logits_dtype=str(logits_amp.dtype).replace('torch.', ''),
        max_logit_diff=float(diff.max()),
        logit_std=float(logits32.std()),
        logit_diff_rel=float(diff.max() / logits32.std()),
        code_agreement=float(
            (logits_amp.argmax(-1) == codes32).float().mean()),
        level_diff=_level_diff(cells_amp, cells32),
        decode_level_diff=_level_diff(decoded_amp, decoded32),
        pixel_diff=float((masks_amp != masks32).float().mean()),
        pixels=masks32.numel())


def _level_diff(a, b) -> float:
    """Mean absolute difference of two images in uint8 levels (floats in
    [0, 1] are truncated to levels as ``paste_prediction`` does)."""

    def levels(x):
        if x.is_floating_point():
            x = (x.float() * 255).clamp(0, 255)
        return x.int()

    return float((levels(a) - levels(b)).abs().float().mean())


def worker_benchmark(params: dict) -> dict:
    """``tools/analysis_tools/benchmark.py`` with ``params['args']``, and
    its markdown tables."""
    from tools.analysis_tools.benchmark import format_tables, main
    result = main(params['args'])
    return dict(result=result, tables=format_tables(result))


WORKERS: Dict[str, Callable[[dict], dict]] = dict(
    probe=worker_probe,
    collect_cuda_tests=worker_collect_cuda_tests,
    amp=worker_amp,
    benchmark=worker_benchmark)


# -- the checks ---------------------------------------------------------------
def check_setup(ctx: Context) -> Result:
    """The environment, installed by ``tools/setup_env.sh`` when it lacks
    something (GPU mode only; the dry run only reports)."""
    log = ctx.path('setup.log')
    need_cuda = not ctx.dry_run
    probe, why = run_worker(ctx, 'probe', dict(need_cuda=need_cuda), log,
                            ctx.left())
    details = dict(before=probe, setup_env_ran=False)
    if (probe is None or not probe['ready']) and need_cuda:
        arch = _cuda_arch(probe)
        env = ctx.env(FORCE_CUDA='1', MAX_JOBS=str(os.cpu_count() or 1))
        if arch:
            env['TORCH_CUDA_ARCH_LIST'] = arch
        details.update(setup_env_ran=True, torch_cuda_arch_list=arch)
        rc, timed_out = run_logged(['bash', 'tools/setup_env.sh'], log,
                                   ctx.left(), env)
        details['setup_env_exit'] = 'timeout' if timed_out else rc
        probe, why = run_worker(ctx, 'probe', dict(need_cuda=True), log,
                                ctx.left())
        details['after'] = probe
    ran = f" (setup_env.sh: exit {details['setup_env_exit']})" \
        if details['setup_env_ran'] else ''
    if probe is None:
        return Result('setup', FAIL, key=f'probe {why}{ran}', details=details)
    ctx.probe = probe
    if not probe['ready']:
        return Result(
            'setup',
            FAIL,
            key='; '.join(probe['errors']) + ran,
            details=details)
    key = f"torch {probe['torch']}"
    if probe['cuda_available']:
        key += (f" on {probe['device_count']} x {probe['device_name']} "
                f"(sm_{''.join(map(str, probe['capability']))})")
    key += f", mmcv {probe['mmcv']} ops (CUDA: {probe['mmcv_cuda']})"
    key += ', setup_env.sh ran' if details['setup_env_ran'] else \
        ', set-up not needed'
    return Result('setup', PASS, key=key, details=details)


def _cuda_arch(probe: Optional[dict]) -> Optional[str]:
    """``TORCH_CUDA_ARCH_LIST`` of GPU 0: from torch, else nvidia-smi."""
    if probe and probe.get('capability'):
        return '{}.{}'.format(*probe['capability'])
    try:
        out = subprocess.run(
            ['nvidia-smi', '--query-gpu=compute_cap', '--format=csv,noheader'],
            capture_output=True,
            text=True,
            timeout=30).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out[0] if out else None


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


def check_cuda_tests(ctx: Context) -> Result:
    """The tests that skip without CUDA, collected, then run (GPU only)."""
    log = ctx.path('cuda_tests.log')
    files = cuda_test_files()
    found, why = run_worker(ctx, 'collect_cuda_tests', dict(files=files), log,
                            ctx.left())
    if found is None:
        return Result('cuda_tests', FAIL, key=f'collection: {why}')
    ids = found['node_ids']
    details = dict(files=files, node_ids=ids)
    if not ids:
        return Result(
            'cuda_tests',
            FAIL,
            key='no CUDA-only test found: the selection is broken',
            details=details)
    if ctx.dry_run:
        return Result(
            'cuda_tests',
            SKIP,
            key=f'{len(ids)} CUDA-only tests collected, not run (no CUDA)',
            details=details)
    if not ctx.devices().get('cuda_available'):
        return Result(
            'cuda_tests',
            FAIL,
            key=f'{len(ids)} CUDA-only tests, but torch sees no CUDA device',
            details=details)
    xml = ctx.path('cuda_tests.xml')
    rc, timed_out = run_logged([
        ctx.python(), '-m', 'pytest', '-p', 'no:cacheprovider', '-rA',
        f'--junitxml={xml}', *ids
    ], log, ctx.left(), ctx.env())
    if timed_out:
        return Result(
            'cuda_tests', FAIL, key='pytest timed out', details=details)
    counts = junit_counts(xml)
    details.update(pytest_exit=rc, counts=counts)
    ran_all = counts.get('passed') == len(ids)
    key = ', '.join(f'{v} {k}' for k, v in counts.items()) or \
        f'no report (exit {rc})'
    return Result(
        'cuda_tests',
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


def check_amp(ctx: Context) -> Result:
    """Training under the profile's optimiser wrapper and AMP vs fp32."""
    prof = ctx.profile['amp']
    params = {
        k: v
        for k, v in prof.items() if k != 'timeout' and k not in AMP_TOLERANCES
    }
    params['device'] = ctx.device
    got, why = run_worker(ctx, 'amp', params, ctx.path('amp.log'), ctx.left())
    if got is None:
        return Result('amp', FAIL, key=why)
    tol = {k: prof[k] for k in AMP_TOLERANCES}
    failures = [
        msg for ok, msg in (
            (got['losses_finite'], 'a loss is not finite'),
            (got['loss_last5'] < got['loss_first5'], 'the loss did not fall'),
            (got['amp_logits_dtype'] == prof['amp_dtype'],
             f"autocast gave {got['amp_logits_dtype']} logits"),
            (got['logit_diff_rel'] <= tol['max_logit_diff_rel'],
             'AMP logits differ from fp32'),
            (got['code_agreement'] >= tol['min_code_agreement'],
             'AMP codes differ from fp32'),
            (got['level_diff'] <= tol['max_level_diff'],
             'AMP predictions differ from fp32'),
        ) if not ok  # NaN compares False: a failure
    ]
    got['tolerances'] = tol
    got['failures'] = failures
    key = (f"{got['optim_wrapper']} {got['iters']} it: loss "
           f"{got['loss_first5']:.4f} -> {got['loss_last5']:.4f}; "
           f"{got['amp_dtype']} vs fp32: max |logit diff| / std "
           f"{got['logit_diff_rel']:.2g} (<= {tol['max_logit_diff_rel']:g}),"
           f" codes {100 * got['code_agreement']:.2f}% equal (>= "
           f"{100 * tol['min_code_agreement']:g}%), predictions "
           f"{got['level_diff']:.2f} levels apart (<= "
           f"{tol['max_level_diff']:g}), masks {got['pixel_diff']:.1e} apart")
    if failures:
        key = '; '.join(failures) + ' | ' + key
    return Result('amp', FAIL if failures else PASS, key=key, details=got)


def check_dist(ctx: Context) -> Result:
    """``tools/dist_train.sh`` for one epoch, then ``--resume`` to two.

    All visible GPUs with NCCL on the GPU; two gloo processes in the dry
    run. The global batch is 2 per process and an epoch 4 iterations, so
    the resumed run must start at iteration 4 x 1 and end at 4 x 2.
    """
    log = ctx.path('dist.log')
    procs = 2 if ctx.dry_run else max(ctx.devices().get('device_count', 0), 1)
    backend = 'gloo' if ctx.dry_run else 'nccl'
    work_dir = osp.join(ctx.work, 'dist')
    shutil.rmtree(work_dir, ignore_errors=True)  # a rerun starts afresh
    batch = 2 * procs
    options = [
        f'train_dataloader.batch_size={batch}',
        f'train_dataloader.dataset.num_samples={4 * batch}'
    ]
    extra = ['--amp'] if ctx.profile['dist']['amp'] else []
    details: dict = dict(processes=procs, backend=backend, runs=[])
    for epochs, resume in ((1, []), (2, ['--resume'])):
        cmd = [
            'bash', 'tools/dist_train.sh', TINY_CONFIG,
            str(procs), '--work-dir', work_dir, *extra, *resume,
            '--cfg-options', f'train_cfg.max_epochs={epochs}', *options
        ]
        start = osp.getsize(log) if osp.exists(log) else 0
        rc, timed_out = run_logged(cmd, log, ctx.left(),
                                   ctx.env(PORT=str(free_port())))
        with open(log, errors='replace') as f:
            f.seek(start)
            text = f.read()
        run = dict(
            epochs=epochs,
            resume=bool(resume),
            exit='timeout' if timed_out else rc,
            distributed='Distributed training: True' in text,
            backend_in_config=f"backend='{backend}'" in text,
            resumed_from=_resumed_at(text),
            last_iter=_last_iter(text))
        details['runs'].append(run)
        if timed_out or rc != 0:
            return Result(
                'dist',
                FAIL,
                key=f'run {len(details["runs"])} '
                f'{"timed out" if timed_out else f"exit {rc}"}: '
                f'{last_line(log)}',
                details=details)
    first, second = details['runs']
    iters = 4
    failures = [
        msg for ok, msg in (
            (first['distributed'] and second['distributed'],
             'not distributed'),
            (first['backend_in_config'], f'backend is not {backend}'),
            (first['last_iter'] == iters,
             f"first run ended at iteration {first['last_iter']}"),
            (second['resumed_from'] == (1, iters),
             f"resumed at {second['resumed_from']}, not (1, {iters})"),
            (second['last_iter'] == 2 * iters,
             f"resumed run ended at {second['last_iter']}"),
            (osp.exists(osp.join(work_dir, 'epoch_2.pth')), 'no epoch_2.pth'),
        ) if not ok
    ]
    # The checkpoints are no result (and would travel back from a device
    # machine); the logs stay.
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        os.remove(path)
    details['failures'] = failures
    epoch, it = second['resumed_from'] or ('?', '?')
    key = (f"{procs} x {backend}: epoch 1 ended at iteration "
           f"{first['last_iter']}; --resume started at epoch {epoch} "
           f"iteration {it}, ended at {second['last_iter']}")
    if failures:
        key = '; '.join(failures) + ' | ' + key
    return Result('dist', FAIL if failures else PASS, key=key, details=details)


def _resumed_at(log_text: str) -> Optional[Tuple[int, int]]:
    """(epoch, iter) of MMEngine's "resumed epoch: E, iter: I" line."""
    found = re.findall(r'resumed epoch: (\d+), iter: (\d+)', log_text)
    return tuple(map(int, found[-1])) if found else None


def _last_iter(log_text: str) -> Optional[int]:
    """Global iteration of the last training log line.

    MMEngine logs ``Epoch(train) [E][i/n]`` by epoch; the global
    iteration is ``(E - 1) * n + i``.
    """
    found = re.findall(r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\]',
                       log_text)
    if not found:
        return None
    epoch, i, n = map(int, found[-1])
    return (epoch - 1) * n + i


def check_benchmark(ctx: Context) -> Result:
    """The benchmark tool's grid; its JSON and tables are kept as they are.
    """
    args = list(ctx.profile['benchmark']['args'])
    args += ['--out', ctx.path('benchmark_grid.json')]
    got, why = run_worker(ctx, 'benchmark', dict(args=args),
                          ctx.path('benchmark.log'), ctx.left())
    if got is None:
        return Result('benchmark', FAIL, key=why)
    with open(ctx.path('benchmark.md'), 'w') as f:
        f.write(got['tables'] + '\n')
    rows = got['result']['model_bench']['rows']
    expected = _grid(args)
    found = [(r['batch'], r['num_prompts']) for r in rows]
    ratios = ('train_over_floor', 'eval_over_floor', 'neck_share')
    bad = [
        f'B={r["batch"]} N={r["num_prompts"]} {k}' for r in rows
        for k in ratios if not (math.isfinite(r[k]) and r[k] > 0)
    ]
    key = '; '.join(
        f"N={r['num_prompts']}: train/floor {r['train_over_floor']:.2f}, "
        f"eval/floor {r['eval_over_floor']:.2f}, neck "
        f"{100 * r['neck_share']:.0f}%, peak "
        f"{r['train']['peak_mib']:.0f} MiB" for r in rows)
    if found != expected:
        return Result(
            'benchmark',
            FAIL,
            key=f'rows {found}, expected {expected}',
            details=dict(json='benchmark_grid.json'))
    if bad:
        return Result(
            'benchmark',
            FAIL,
            key=f'not a positive number: {", ".join(bad)}',
            details=dict(json='benchmark_grid.json'))
    return Result(
        'benchmark',
        PASS,
        key=f"B={rows[0]['batch']} {got['result']['precision']}: {key}",
        details=dict(json='benchmark_grid.json', tables='benchmark.md'))


def _grid(args: List[str]) -> List[Tuple[int, int]]:
    """(B, N) rows the benchmark's arguments ask for, in its order."""

    def values(flag: str) -> List[int]:
        i = args.index(flag) + 1
        out = []
        while i < len(args) and not args[i].startswith('--'):
            out.append(int(args[i]))
            i += 1
        return out

    return [(b, n) for b in values('--batch-sizes')
            for n in values('--num-prompts')]


def check_retrieval(ctx: Context) -> Result:
    """The top-k at doubling sizes while the next run fits the time left.

    Each run is the benchmark tool with ``--retrieval-images S/2 S``, so
    each has its own time exponent and its own scaling to COCO-train. The
    third and later sizes are tried when their predicted time (the last
    run's times its growth over the run before, between x2 and x4) fits
    what is left of this check's limit.
    """
    prof = ctx.profile['retrieval']
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
        return Result('retrieval', FAIL, key=why)
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
    return Result('retrieval', PASS, key=key, details=details)


CHECK_FUNCS: Dict[str, Callable[[Context], Result]] = dict(
    setup=check_setup,
    cuda_tests=check_cuda_tests,
    amp=check_amp,
    dist=check_dist,
    benchmark=check_benchmark,
    retrieval=check_retrieval)


# -- summary ------------------------------------------------------------------
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


def format_table(results: List[Result], markdown: bool) -> str:
    """The summary table: check, status, seconds, key numbers."""
    header = ('check', 'status', 'seconds', 'key numbers')
    rows = [(r.name, r.status, f'{r.seconds:.1f}', r.key) for r in results]
    if markdown:
        lines = ['| ' + ' | '.join(header) + ' |', '|---|---|---|---|']
        lines += [
            '| ' + ' | '.join(c.replace('|', '\\|') for c in row) + ' |'
            for row in rows
        ]
        return '\n'.join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(row[:3], widths)) +
                     '  ' + row[3] for row in [header, *rows])


def write_summary(ctx: Context, results: List[Result], total: float) -> None:
    """``summary.md`` (table and the benchmark's tables) and
    ``summary.json``."""
    mode = 'dry run (CPU, tiny)' if ctx.dry_run else 'GPU'
    probe = ctx.probe or {}
    device = probe.get('device_name') or ctx.device
    lines = [
        '# GPU check', '',
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}, {mode}, device {device}, "
        f"torch {probe.get('torch', '?')}, {total:.0f} s in all.", '',
        format_table(results, markdown=True)
    ]
    for name, title in (('benchmark.md', 'Benchmark'), ('retrieval.md',
                                                        'Retrieval')):
        if osp.exists(ctx.path(name)):
            with open(ctx.path(name)) as f:
                lines += ['', f'## {title}', '', f.read().rstrip()]
    with open(ctx.path('summary.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    summary = dict(
        mode='dry-run' if ctx.dry_run else 'gpu',
        device=device,
        seconds=total,
        passed=all(r.status != FAIL for r in results),
        checks=[
            dict(
                name=r.name,
                status=r.status,
                seconds=r.seconds,
                key=r.key,
                json=f'{r.name}.json',
                log=f'{r.name}.log') for r in results
        ])
    with open(ctx.path('summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)


# -- command line -------------------------------------------------------------
def _pairs(items: Optional[List[str]], what: str) -> List[Tuple[str, str]]:
    out = []
    for item in items or []:
        name, sep, value = item.partition('=')
        if not sep:
            raise SystemExit(f'{what} {item!r}: expected NAME=VALUE')
        out.append((name, value))
    return out


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', help='output folder (created)')
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='CPU, tiny models and sizes: the CI run of this script')
    parser.add_argument(
        '--checks',
        nargs='+',
        choices=CHECKS,
        default=list(CHECKS),
        help='the checks to run (default: all, in their order)')
    parser.add_argument(
        '--budget',
        type=float,
        default=None,
        help='seconds for all checks together; a check is cut to what is '
        'left (default: 480, dry run 1200)')
    parser.add_argument(
        '--timeout',
        nargs='+',
        metavar='CHECK=SECONDS',
        help='replace a check\'s time limit, e.g. benchmark=200')
    parser.add_argument(
        '--set',
        nargs='+',
        metavar='CHECK.KEY=JSON',
        help='replace a value of the profile (see GPU_PROFILE), e.g. '
        'amp.max_level_diff=3 or amp.iters=40')
    # Internal: run one worker in the project's interpreter.
    parser.add_argument(
        '--worker', choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument('--params', help=argparse.SUPPRESS)
    parser.add_argument('--result', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is None and not args.out:
        parser.error('--out is required')
    args.timeouts = {}
    for name, value in _pairs(args.timeout, '--timeout'):
        if name not in CHECKS:
            parser.error(f'--timeout {name}: no such check; one of {CHECKS}')
        args.timeouts[name] = float(value)
    args.overrides: Dict[str, dict] = {}
    for key, value in _pairs(args.set, '--set'):
        check, _, item = key.partition('.')
        if check not in CHECKS or not item:
            parser.error(f'--set {key}: expected CHECK.KEY with CHECK one of '
                         f'{CHECKS}')
        args.overrides.setdefault(check, {})[item] = json.loads(value)
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.worker:
        sys.path.insert(0, REPO)
        result = WORKERS[args.worker](json.loads(args.params))
        with open(args.result, 'w') as f:
            json.dump(result, f)
        return 0
    ctx = Context(args.out, args.dry_run, args.budget, args.timeouts,
                  args.overrides)
    start = time.monotonic()
    results = []
    for name in [c for c in CHECKS if c in args.checks]:
        print(f'[gpu_check] {name} ...', flush=True)
        results.append(run_check(ctx, name))
        print(f'[gpu_check] {name}: {results[-1].status}', flush=True)
    write_summary(ctx, results, time.monotonic() - start)
    print(format_table(results, markdown=False))
    print(f'[gpu_check] logs, JSON and summary.md in {ctx.out}')
    return 1 if any(r.status == FAIL for r in results) else 0


if __name__ == '__main__':
    sys.exit(main())
