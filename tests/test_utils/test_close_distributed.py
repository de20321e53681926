"""The tools end their process group, so that a finished run does not
abort in gloo's threads at interpreter shutdown."""
import torch.distributed as dist

from projects.prompthub.utils import close_distributed


def test_close_distributed_ends_the_group(tmp_path):
    dist.init_process_group(
        backend='gloo',
        init_method=f'file://{tmp_path / "rendezvous"}',
        rank=0,
        world_size=1)
    assert dist.is_initialized()
    close_distributed()
    assert not dist.is_initialized()
    close_distributed()  # without a group: nothing to do
