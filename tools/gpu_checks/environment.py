"""The ``setup`` check: the environment imports mmcv with its CUDA ops,
mmengine, mmseg, mmdet and the project, and torch sees the GPU; otherwise
``tools/setup_env.sh`` installs it for the device's architecture."""
import importlib
import os
import subprocess
from typing import Optional

from .context import FAIL, PASS, Context, Result, run_worker
from .process import run_logged

NAME = 'setup'


def probe(params: dict) -> dict:
    """Worker: what the environment can do: torch and CUDA, and every
    package that does not import (all of them, not only the first)."""
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


def check(ctx: Context) -> Result:
    """The environment, installed by ``tools/setup_env.sh`` when it lacks
    something (GPU mode only; the dry run only reports)."""
    log = ctx.path('setup.log')
    need_cuda = not ctx.dry_run
    found, why = run_worker(ctx, 'probe', dict(need_cuda=need_cuda), log,
                            ctx.left())
    details = dict(before=found, setup_env_ran=False)
    if (found is None or not found['ready']) and need_cuda:
        arch = _cuda_arch(found)
        env = ctx.env(FORCE_CUDA='1', MAX_JOBS=str(os.cpu_count() or 1))
        if arch:
            env['TORCH_CUDA_ARCH_LIST'] = arch
        details.update(setup_env_ran=True, torch_cuda_arch_list=arch)
        rc, timed_out = run_logged(['bash', 'tools/setup_env.sh'], log,
                                   ctx.left(), env)
        details['setup_env_exit'] = 'timeout' if timed_out else rc
        found, why = run_worker(ctx, 'probe', dict(need_cuda=True), log,
                                ctx.left())
        details['after'] = found
    ran = f" (setup_env.sh: exit {details['setup_env_exit']})" \
        if details['setup_env_ran'] else ''
    if found is None:
        return Result(NAME, FAIL, key=f'probe {why}{ran}', details=details)
    ctx.probe = found
    if not found['ready']:
        return Result(
            NAME, FAIL, key='; '.join(found['errors']) + ran, details=details)
    key = f"torch {found['torch']}"
    if found['cuda_available']:
        key += (f" on {found['device_count']} x {found['device_name']} "
                f"(sm_{''.join(map(str, found['capability']))})")
    key += f", mmcv {found['mmcv']} ops (CUDA: {found['mmcv_cuda']})"
    key += ', setup_env.sh ran' if details['setup_env_ran'] else \
        ', set-up not needed'
    return Result(NAME, PASS, key=key, details=details)


def _cuda_arch(found: Optional[dict]) -> Optional[str]:
    """``TORCH_CUDA_ARCH_LIST`` of GPU 0: from the probe's torch, else
    nvidia-smi."""
    if found and found.get('capability'):
        return '{}.{}'.format(*found['capability'])
    try:
        out = subprocess.run(
            ['nvidia-smi', '--query-gpu=compute_cap', '--format=csv,noheader'],
            capture_output=True,
            text=True,
            timeout=30).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out[0] if out else None
