"""A process that writes samples into a shared ``TargetCache`` folder.

``python -m tests.test_models.test_utils.target_writer DIR SEED ME OTHER``
caches the
targets of 64 samples in batches of 8; after its first batch it creates
the file ``ME`` and waits for ``OTHER``, so that two such writers both
have the store open while they write.
"""
import os
import sys
import time

import torch

from tests.light_import import import_alone


def small_queries(num: int, seed: int) -> torch.Tensor:
    """[num, 1, 2, 3, 8, 8] query pairs (multiples of 1/255)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(
        0, 256,
        (num, 1, 2, 3, 8, 8), generator=gen, dtype=torch.uint8).float() / 255


def fake_targets(inputs: torch.Tensor) -> torch.Tensor:
    """A per-sample function of the query pair: [B, 24] int64."""
    return (inputs[:, 0].flatten(1)[:, :24] * 255).round().long()


def wait_for(path: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.01)


def main(cache_dir: str, seed: str, me: str, other: str) -> None:
    target_cache = import_alone('projects.prompthub.models.utils.target_cache')
    data = small_queries(64, int(seed))
    cache = target_cache.TargetCache(dir=cache_dir)
    backbone = torch.nn.Identity()  # one fingerprint for every process
    for start in range(0, len(data), 8):
        cache.get(data[start:start + 8], fake_targets, backbone)
        if start == 0:
            open(me, 'w').close()
            wait_for(other)


if __name__ == '__main__':
    main(*sys.argv[1:])
