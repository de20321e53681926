"""The configured train batch is the global batch (all processes together).

MMEngine reads ``train_dataloader.batch_size`` per process, so
``dist_train.sh CONFIG 8`` would train the reference's batch of 16 as 128.
The project's configs state the global batch instead, and the tools split
it over the processes, so N processes take the same optimiser steps on the
same amount of data as one process (the losses normalise by the global
batch, see :func:`data_parallel_factor`).
"""
from mmengine.logging import print_log


def _divisors(number: int) -> list:
    return [d for d in range(1, number + 1) if number % d == 0]


def split_global_batch(runner) -> None:
    """Set the per-process train batch to the global one / world size.

    Called on a built (not yet trained) Runner, so the dumped config keeps
    the global batch and the process group already exists. No-op on one
    process.

    Args:
        runner (Runner): The Runner; its train dataloader must still be a
            config dict.

    Raises:
        ValueError: When the global batch is missing or not a multiple of
            the number of processes.
        TypeError: When the train dataloader was passed already built.
    """
    loader = getattr(runner, '_train_dataloader', None)
    world_size = runner.world_size
    if loader is None or world_size == 1:
        return
    if not isinstance(loader, dict):
        raise TypeError(
            'split_global_batch needs train_dataloader as a config dict '
            f'(the global batch), got a built {type(loader).__name__}; '
            'pass the dict so the batch can be split over the '
            f'{world_size} processes.')
    batch = loader.get('batch_size')
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(
            f'train_dataloader.batch_size must be the global batch size '
            f'(a positive int, split over the {world_size} processes), got '
            f'{batch!r}; set it in the config or with --cfg-options '
            'train_dataloader.batch_size=<global batch>.')
    if batch % world_size:
        raise ValueError(
            f'train_dataloader.batch_size={batch} is the global batch (all '
            f'processes together) and must be a multiple of the number of '
            f'processes, {world_size}. Launch {_divisors(batch)} processes, '
            'or change the global batch with --cfg-options '
            f'train_dataloader.batch_size=<multiple of {world_size}> (a '
            'different batch than the config states).')
    loader['batch_size'] = batch // world_size
    print_log(
        f'train_dataloader.batch_size={batch} is the global batch: '
        f'{world_size} processes x {batch // world_size} per process.',
        logger='current')
