"""Segment your own images with a VICL model and prompt pairs.

Example (the tiny demo model; a trained PromptHub checkpoint of
tools/train.py or a config with converted official weights works the
same)::

    python tools/infer.py configs/prompthub_demo.py query.png \
        --prompt p1.png p1_mask.png --prompt p2.png p2_mask.png \
        --out-dir work_dirs/infer

It writes ``{stem}_mask.png`` (the mask at the query's size) and
``{stem}_vis.png`` (prompt pairs, decoded fused prompt, prediction);
queries whose stems repeat get ``{stem}_{i}`` (``i`` their position).
"""
import argparse

import torch


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config')
    parser.add_argument('queries', nargs='+', help='query image files')
    parser.add_argument(
        '--prompt',
        nargs=2,
        action='append',
        metavar=('IMAGE', 'MASK'),
        required=True,
        help='a prompt pair: image and its binary mask (repeatable)')
    parser.add_argument('--weights', default=None,
                        help='checkpoint to load into the model')
    parser.add_argument('--mask-fg-value', type=float, default=None,
                        help='foreground label id of multi-class masks')
    parser.add_argument('--mask-threshold', type=float, default=None,
                        help='foreground is above this (soft/JPEG masks)')
    parser.add_argument('--out-dir', default='work_dirs/infer')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=2)
    return parser.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    from projects.prompthub.apis import PromptHubInferencer
    inferencer = PromptHubInferencer(
        args.config, args.weights, args.device,
        mask_fg_value=args.mask_fg_value, mask_threshold=args.mask_threshold)
    results = inferencer(
        args.queries,
        prompts=[tuple(p) for p in args.prompt],
        out_dir=args.out_dir)
    for query, res in zip(args.queries, results):
        print(f'{query}: {int(res["mask"].sum())} foreground pixels -> '
              f'{", ".join(res["paths"])}')


if __name__ == '__main__':
    main()
