"""DDP optimises the single-process objective on the global batch.

Two gloo processes (127.0.0.1) train the tiny PromptHub through
``MMDistributedDataParallel``, as the Runner does. Their mean loss terms
and their DDP-averaged gradients must equal those of one process that
sees the whole batch: with equal batches (2 + 2, every sampler step that
pads) and with uneven ones (3 + 1, a sampler that does not pad).
"""
import os
import os.path as osp
import socket
import time
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
TINY_CONFIG = osp.join(REPO, 'configs', 'prompthub',
                       'prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py')
# Per-process batch sizes of each case; one process sees their sum.
CASES = {'even': (2, 2), 'uneven': (3, 1)}
WORLD_SIZE = 2
TIMEOUT_S = 300


def _build(state_path: str = None) -> tuple:
    """The tiny model (no dropout) and 4 synthetic training samples."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from projects.prompthub.registry import DATASETS, MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.model.neck.dropout = 0.0
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    if state_path is not None:
        model.load_state_dict(torch.load(state_path))
    model.train()
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.num_samples = max(sum(s) for s in CASES.values())
    return model, DATASETS.build(dataset_cfg)


def _step(model, forward, dataset, indices) -> tuple:
    """Loss terms and parameter gradients of one training step."""
    from mmengine.dataset import pseudo_collate
    model.zero_grad(set_to_none=True)
    data = pseudo_collate([dataset[i] for i in indices])
    data = model.data_preprocessor(data, True)
    losses = forward(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    total.backward()
    names = sorted(losses)
    grads = {
        n: p.grad.detach().clone()
        for n, p in model.named_parameters() if p.grad is not None
    }
    return names, torch.stack([losses[k].detach() for k in names]), grads


def _worker(rank: int, port: int, state_path: str, out_path: str) -> None:
    """One DDP process: its share of each case's batch."""
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo',
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=timedelta(seconds=TIMEOUT_S))
    from mmengine.model import MMDistributedDataParallel
    model, dataset = _build(state_path)
    ddp = MMDistributedDataParallel(module=model, device_ids=None)
    results = {}
    for case, sizes in CASES.items():
        start = sum(sizes[:rank])
        names, values, grads = _step(model, ddp, dataset,
                                     range(start, start + sizes[rank]))
        # DDP optimises the mean over processes of their losses.
        dist.all_reduce(values)
        results[case] = (names, values / WORLD_SIZE, grads)
    if rank == 0:
        torch.save(results, out_path)
    dist.barrier()
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _run_workers(state_path: str, out_path: str) -> None:
    context = mp.spawn(
        _worker,
        args=(_free_port(), state_path, out_path),
        nprocs=WORLD_SIZE,
        join=False)
    deadline = time.monotonic() + TIMEOUT_S
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f'the DDP workers did not finish in {TIMEOUT_S} s')


def test_ddp_equals_one_process_with_the_global_batch(tmp_path):
    model, dataset = _build()
    state_path = str(tmp_path / 'state.pth')
    torch.save(model.state_dict(), state_path)
    expected = {
        case: _step(model, model, dataset, range(sum(sizes)))
        for case, sizes in CASES.items()
    }
    out_path = str(tmp_path / 'ddp.pth')
    _run_workers(state_path, out_path)
    got = torch.load(out_path)

    for case in CASES:
        names, values, grads = expected[case]
        ddp_names, ddp_values, ddp_grads = got[case]
        assert ddp_names == names == ['loss_p', 'loss_s', 'loss_u']
        loss_diff = (ddp_values - values).abs().max().item()
        print(f'{case}: one process {values.tolist()}, DDP mean '
              f'{ddp_values.tolist()}, max |diff| {loss_diff:.3g}')
        torch.testing.assert_close(
            ddp_values,
            values,
            rtol=1e-5,
            atol=0,
            msg=lambda m: f'{case}: loss terms {names} differ: {m}')
        assert ddp_grads.keys() == grads.keys() and grads
        scale = max(g.abs().max().item() for g in grads.values())
        grad_diff = max(
            (ddp_grads[k] - grads[k]).abs().max().item() for k in grads)
        print(f'{case}: max |grad diff| {grad_diff:.3g} '
              f'(max |grad| {scale:.3g})')
        assert grad_diff <= 1e-5 * scale, (case, grad_diff, scale)
