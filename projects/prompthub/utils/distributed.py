"""Distributed set-up for machines without CUDA."""
import torch
import torch.distributed as dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config) -> bool:
    """Start a gloo process group for the ``pytorch`` launcher on CPU.

    MMEngine's ``pytorch`` launcher calls ``torch.cuda.set_device``, which
    fails on a machine without CUDA. When the process group already exists,
    the Runner skips its own initialisation, so the tools start it here
    (from the ``torchrun`` environment) instead of patching MMEngine. DDP
    of a CPU module also needs ``device_ids=None`` instead of the local
    rank MMEngine passes by default.

    Args:
        cfg (Config): The run's config; ``launcher``, ``env_cfg`` and
            ``model_wrapper_cfg`` are read and updated in place.

    Returns:
        bool: Whether a CPU process group was started.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise RuntimeError(
            f'launcher={launcher!r} needs CUDA on this machine; for CPU '
            'processes use tools/dist_train.sh / dist_test.sh, which use the '
            "'pytorch' launcher (torchrun) with the gloo backend.")
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.setdefault('env_cfg', dict())
    cfg.env_cfg.setdefault('dist_cfg', dict())
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True
