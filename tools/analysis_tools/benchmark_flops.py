"""Count the FLOPs of PromptHub's steps against their floors (no timing).

The hardware-independent half of ``tools/analysis_tools/benchmark.py``: what
the
arithmetic of a configuration allows, whatever the machine. On the meta
device (no memory, no compute), ``torch.utils.flop_counter`` counts, per
batch of B queries and for every N of a grid:

* ``floor``: the backbone's forward over the fused tokens plus the
  backward through its activations (what any training step must do);
* ``neck``: the fusion neck's forward and backward;
* ``train``: a training step without the VQGAN encoder (the target-code
  cache is warm): pair embedding, neck, backbone, and the backward;
* ``eval_floor``: the backbone's forward plus the VQGAN decode;
* ``eval``: ``eval_floor`` plus the pair embedding and the neck's forward
  (every prompt new: the prompt-state cache cold or off);
* ``eval_warm``: ``eval_floor`` plus what remains when every prompt's
  states come from the prompt-state cache: the query's embedding and
  ``fuse_states`` (the content hashing is not counted).

Only matrix products and convolutions are counted (what the counter
knows); elementwise work is not.

Example::

    python tools/analysis_tools/benchmark_flops.py \\
        configs/_base_/models/prompthub_mae-vqgan-l16.py \\
        --num-prompts 1 4 16 64 \\
        --cfg-options model.neck.type=FastLocalityFusionNeck
"""
import argparse
import os.path as osp
import sys
from typing import Callable, List, Optional

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from tools.analysis_tools.benchmark import (add_model_args, build_model,
                                            markdown_table, write_json)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_model_args(parser)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--num-prompts', type=int, nargs='+', default=[1, 4, 16, 64])
    return parser.parse_args(argv)


def count(fn: Callable[[], None]) -> int:
    """FLOPs of ``fn`` (matrix products and convolutions)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def count_model(model, batch: int, num_prompts: List[int]) -> List[dict]:
    """Rows of FLOP counts (see the module docstring) for each N."""
    meta = torch.device('meta')
    bb = model.backbone
    tokens = torch.randn(batch, bb.grid_size**2, bb.embed_dim, device=meta)

    def floor():
        t = tokens.detach().requires_grad_()
        bb.forward_tokens(t).float().sum().backward()

    def eval_floor():
        with torch.no_grad():
            bb.decode_codes(bb.forward_tokens(tokens).argmax(-1))

    floors = dict(floor=count(floor), eval_floor=count(eval_floor))
    # Counted without the cache (it hashes on the host); the warm case is
    # counted from precomputed states below.
    model.prompt_state_cache = None
    rows = []
    for num in num_prompts:
        inputs = torch.rand(batch, num + 1, 2, 3, 111, 111, device=meta)
        with torch.no_grad():
            support, query = model.pair_tokens(inputs)

        def train():
            model.train()
            # The losses are elementwise work on the logits (not counted).
            model.encode_decode(inputs).float().sum().backward()

        def neck():
            model.train()
            model.neck(support, query).sum().backward()

        def embed_and_fuse():
            model.eval()
            with torch.no_grad():
                model.extract_feat(inputs)

        model.eval()
        with torch.no_grad():
            states = model.neck.prompt_states(support.flatten(0, 1)).unflatten(
                0, support.shape[:2])

        def fuse_from_states():
            with torch.no_grad():
                model.neck.fuse_states(states, model._embed_query(inputs))

        row = dict(batch=batch, num_prompts=num, **floors)
        row.update(
            train=count(train),
            neck=count(neck),
            eval=floors['eval_floor'] + count(embed_and_fuse),
            eval_warm=floors['eval_floor'] + count(fuse_from_states))
        row['train_over_floor'] = row['train'] / row['floor']
        row['neck_share'] = row['neck'] / row['train']
        row['eval_over_floor'] = row['eval'] / row['eval_floor']
        row['eval_warm_over_floor'] = row['eval_warm'] / row['eval_floor']
        rows.append(row)
    for row in rows:
        row['train_over_first_n'] = row['train'] / rows[0]['train']
    return rows


def format_table(rows: List[dict]) -> str:
    return '\n'.join(
        markdown_table(
            ('B', 'N', 'floor GFLOP', 'neck GFLOP', 'train GFLOP',
             'train/floor', 'neck share', 'N vs first N', 'eval GFLOP',
             'eval/eval-floor', 'eval warm GFLOP', 'eval warm/eval-floor'),
            [(r['batch'], r['num_prompts'], f"{r['floor'] / 1e9:.1f}",
              f"{r['neck'] / 1e9:.1f}", f"{r['train'] / 1e9:.1f}",
              f"{r['train_over_floor']:.3f}", f"{100 * r['neck_share']:.1f}%",
              f"{r['train_over_first_n']:.2f}", f"{r['eval'] / 1e9:.1f}",
              f"{r['eval_over_floor']:.3f}", f"{r['eval_warm'] / 1e9:.1f}",
              f"{r['eval_warm_over_floor']:.3f}") for r in rows]))


def main(argv: Optional[List[str]] = None) -> dict:
    """Count, print and optionally save; returns the result."""
    args = parse_args(argv)
    model = build_model(args.config, args.tiny, torch.device('cpu'),
                        args.cfg_options).to('meta')
    rows = count_model(model, args.batch_size, args.num_prompts)
    result = dict(
        command='python tools/analysis_tools/benchmark_flops.py ' +
        ' '.join(sys.argv[1:] if argv is None else argv),
        neck=type(model.neck).__name__,
        rows=rows)
    print(format_table(rows))
    write_json(args.out, result)
    return result


if __name__ == '__main__':
    main()
