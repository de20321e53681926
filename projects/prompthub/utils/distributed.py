"""Distributed set-up for machines without CUDA, and the global batch."""
import gc
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.dist import all_reduce, get_world_size


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


def close_distributed() -> None:
    """End the process group, if any, once every process got here.

    A process that exits with its gloo group still alive, or still held by
    a runner's DDP wrapper, may abort at interpreter shutdown ("terminate
    called without an active exception"), failing a run that finished. The
    tools drop their runner and call this after ``runner.train()`` /
    ``runner.test()``. A rank that failed never gets here; the others then
    stop at the barrier's timeout, as they would at the run's next
    collective.
    """
    gc.collect()  # what still holds the group (a freed runner's cycles)
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def global_batch_size(local: int,
                      device: Optional[torch.device] = None) -> int:
    """Sum of the batch sizes of all processes; ``local`` on one process.

    A collective under DDP: every process must call it at the same point
    of its step (the losses of :class:`PromptHub` do, once per term).

    Args:
        local (int): This process's batch size.
        device (torch.device, optional): Device of the exchanged count
            (the backend's device; MMEngine moves it if needed).

    Returns:
        int: The global batch size.
    """
    if get_world_size() == 1:
        return local
    size = torch.tensor([local], dtype=torch.long, device=device)
    all_reduce(size, op='sum')
    return int(size.item())


def require_single_process(terms: list, fix: str) -> None:
    """Fail under DDP for loss terms that are statistics of the batch.

    Such a term (a covariance, a variance over samples) computed on each
    process's share of the batch and averaged by DDP is not the term of
    the whole batch, and no rescaling makes it so.

    Args:
        terms (list[str]): The active batch-statistic terms; nothing is
            checked when empty.
        fix (str): What the user should do instead.

    Raises:
        RuntimeError: When more than one process trains.
    """
    world_size = get_world_size()
    if terms and world_size > 1:
        raise RuntimeError(
            f'{", ".join(terms)}: statistics of the whole batch, which '
            f'each of the {world_size} DDP processes would compute on its '
            'own share of the batch, so the averaged gradient would not '
            f'be the single-process one. {fix}')
