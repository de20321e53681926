"""Sizes, devices and time limits of each check, on the GPU and in the dry
run (CPU, tiny models)."""
import copy
from typing import Any

TINY_CONFIG = ('configs/prompthub/'
               'prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py')
FULL_MODEL_CONFIG = 'configs/_base_/models/prompthub_mae-vqgan-l16.py'

#: Every setting as a ``(GPU, dry run)`` pair; time limits in seconds. On
#: the GPU the limits after the set-up's add up to 465 s: with the set-up's
#: probe (about 15 s; the 300 s are for an install) they fill the 8 minutes.
#: The dry run takes seconds a check on an idle 2-core machine; its limits
#: leave room for a loaded CI machine.
SETTINGS = dict(
    device=('cuda', 'cpu'),
    budget=(480, 1200),
    setup=dict(timeout=(300, 120)),
    cuda_tests=dict(timeout=(60, 120)),
    amp=dict(
        timeout=(100, 240),
        model_config=(FULL_MODEL_CONFIG, None),
        # AmpOptimWrapper needs CUDA.
        optim_wrapper=('AmpOptimWrapper', 'OptimWrapper'),
        amp_dtype=('float16', 'bfloat16'),
        iters=(20, 10),
        batch_size=(8, 1),
        lr=(0.03, 0.3),
        # Reduced precision against fp32 (docs/benchmarks.md says why
        # these); bfloat16 keeps 8 bits of mantissa, float16 11.
        max_logit_diff_rel=(0.02, 0.1),
        min_code_agreement=(0.99, 0.95),
        max_level_diff=(2.0, 3.0)),
    dist=dict(timeout=(100, 300), amp=(True, False)),
    benchmark=dict(
        timeout=(120, 180),
        args=([
            FULL_MODEL_CONFIG, '--device', 'cuda', '--amp', '--batch-sizes',
            '16', '--num-prompts', '1', '4', '16', '64', '--repeat', '5',
            '--warmup', '2'
        ], [
            TINY_CONFIG, '--device', 'cpu', '--amp', '--batch-sizes', '1',
            '--num-prompts', '1', '2', '--repeat', '1', '--warmup', '0',
            '--threads', '1'
        ])),
    retrieval=dict(
        timeout=(85, 180),
        first_images=(1024, 32),
        max_images=(16384, 64),
        args=([
            FULL_MODEL_CONFIG, '--skip-model', '--retrieval',
            '--retrieval-device', 'cuda', '--retrieval-chunk', '4096'
        ], [
            TINY_CONFIG, '--skip-model', '--retrieval', '--retrieval-device',
            'cpu', '--retrieval-dim', '64', '--retrieval-chunk', '16',
            '--threads', '1'
        ])))


def profile(dry_run: bool) -> dict:
    """One mode's column of :data:`SETTINGS`, a fresh copy that a run may
    change (``--timeout``, ``--set``).

    Args:
        dry_run (bool): The dry run's column, else the GPU's.
    """

    def pick(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: pick(v) for k, v in value.items()}
        return copy.deepcopy(value[int(dry_run)])

    return pick(SETTINGS)
