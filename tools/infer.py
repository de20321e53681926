"""Segment your own images with a VICL model and prompt pairs.

Examples (the tiny demo model; a trained PromptHub checkpoint of
tools/train.py or a config with converted official weights works the
same)::

    # prompt pairs given as files, shared by every query
    CONFIG=configs/prompthub/prompthub-n4_tiny-vicl_1xb16-adamw-200iter_lookalike-fold0.py
    python tools/infer.py $CONFIG query.png \\
        --prompt p1.png p1_mask.png --prompt p2.png p2_mask.png \\
        --out-dir work_dirs/infer

    # prompts retrieved per query (looked up by file stem) from an index
    python tools/infer.py CONFIG queries/ --weights CKPT \\
        --index index.npz --candidates candidates.json --num-prompts 16

Inputs go through the config's test pipeline and ``model.test_step``, as
in ``tools/test.py``. It writes ``{stem}_mask.png`` (0/255 at the query's
size) and ``{stem}_vis.png`` (prompt pairs, decoded fused prompt,
prediction); queries whose stems repeat get ``{stem}_{i}`` (``i`` their
position).
"""
import argparse
import os.path as osp
import sys

# ``projects.prompthub`` lives at the repository root, which ``python
# tools/infer.py`` does not put on sys.path.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        epilog='Prompt masks: 0/1, 0/255, one label id (with or without '
        "mmseg's 255 void band) or a palette PNG are read as they are; "
        'other masks need --mask-fg-value or --mask-threshold.')
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        'inputs',
        nargs='+',
        help='query image files, or folders of them (every file, by name)')
    parser.add_argument(
        '--weights',
        default=None,
        help='checkpoint loaded into the model exactly (a tools/train.py '
        'checkpoint or converted weights); without it, parts without '
        'weights of their own stay random')
    parser.add_argument(
        '--prompt',
        nargs=2,
        action='append',
        metavar=('IMAGE', 'MASK'),
        help='a prompt pair shared by every query: image and its mask '
        '(repeat for several prompts)')
    parser.add_argument(
        '--index',
        help='instead of --prompt: a retrieval index (.npz of '
        'tools/misc/build_retrieval_index.py, or a reference {query: [names]} '
        '.json) giving each query, by file stem, its prompt names')
    parser.add_argument(
        '--candidates',
        metavar='JSON',
        help='with --index: {"name": ["image", "mask"], ...} (or '
        '["image", "mask", label id]) of the index\'s candidate names; '
        'relative paths are relative to the JSON file')
    parser.add_argument(
        '--num-prompts',
        type=int,
        default=None,
        help='with --index: prompts per query (default: the config\'s '
        'test_dataloader.dataset.num_prompts)')
    parser.add_argument(
        '--mask-fg-value',
        type=float,
        default=None,
        help='foreground label id of prompt masks with several classes')
    parser.add_argument(
        '--mask-threshold',
        type=float,
        default=None,
        help='foreground is above this value (soft or JPEG prompt masks)')
    parser.add_argument(
        '--out-dir',
        default='work_dirs/infer',
        help='where the masks and grids are written (default: '
        'work_dirs/infer)')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=1,
        help='queries per forward pass (default: 1)')
    parser.add_argument(
        '--device',
        default=None,
        help='e.g. cpu or cuda:0 (default: cuda when available, else cpu)')
    parser.add_argument(
        '--show', action='store_true', help='show each grid in a window')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=0,
        help='with --show: seconds a grid stays up (0: until a key)')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch CPU threads (default: torch\'s choice)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value (checked as in '
        'tools/test.py), e.g. load_from_allow.missing=backbone. for a '
        'neck-only checkpoint')
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    """Parse and check the command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.prompt is None) == (args.index is None):
        parser.error('give prompt pairs (--prompt IMAGE MASK) or a '
                     'retrieval index (--index, with --candidates)')
    if args.index is not None and args.candidates is None:
        parser.error('--index needs --candidates JSON (the image and mask '
                     'of every candidate name)')
    if args.mask_fg_value is not None and args.mask_threshold is not None:
        parser.error('give --mask-fg-value or --mask-threshold, not both')
    return args


def main(argv=None) -> None:
    """Build the inferencer from the config and write the predictions."""
    args = parse_args(argv)
    import torch

    from projects.prompthub.apis import PromptHubInferencer
    from projects.prompthub.utils import apply_cfg_options
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    apply_cfg_options(cfg, args.cfg_options)  # unknown keys raise
    inferencer = PromptHubInferencer(
        cfg,
        args.weights,
        args.device,
        mask_fg_value=args.mask_fg_value,
        mask_threshold=args.mask_threshold)
    inputs = inferencer.list_inputs(args.inputs)
    results = inferencer(
        inputs,
        prompts=None
        if args.prompt is None else [tuple(p) for p in args.prompt],
        index=args.index,
        candidates=args.candidates,
        num_prompts=args.num_prompts,
        batch_size=args.batch_size,
        show=args.show,
        wait_time=args.wait_time,
        out_dir=args.out_dir)
    for query, res in zip(inputs, results['predictions']):
        print(f'{query}: {int(res["mask"].sum())} foreground pixels -> '
              f'{", ".join(res["paths"])}')


if __name__ == '__main__':
    main()
