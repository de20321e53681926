"""Convert a prompt saved by the public VPT code (or a raw tensor) into a
prompt file of the source bank.

Usage::

    python projects/hgprompt/tools/convert_vpt_prompts.py SRC --task TASK \\
        --out work_dirs/vtab1k/vpt-deep_vit-b16/prompts/TASK.pth \\
        [--data-root data/vtab-1k/TASK]

``SRC``: VPT's ``prompt_ep<N>.pth`` (``{'shallow_prompt', 'deep_prompt'}``),
a VPT state dict / checkpoint, or a raw ``[D, L, d]`` / ``[L, d]`` tensor
(``.pth`` or ``.npy``). ``--task`` is the task the prompt was trained on
(the bank leaves the target's own task out by this name); ``--data-root``
records the folder it was trained on, which ``HGSourceOverlapHook``
compares with the target's.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0,
                osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..')))

from projects.hgprompt.models.prompt_bank import (  # noqa: E402
    PROMPT_SHAPE_KEYS, save_prompt)
from projects.hgprompt.models.prompt_convert import \
    read_foreign_prompt  # noqa: E402


def main(argv=None) -> None:
    """Read, convert and save one prompt."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='the prompt to convert')
    parser.add_argument(
        '--task', required=True, help='task the prompt was trained on')
    parser.add_argument('--out', required=True, help='output .pth file')
    parser.add_argument(
        '--data-root',
        default=None,
        help='task folder the prompt was trained on (recorded)')
    parser.add_argument(
        '--shallow',
        action='store_true',
        help='mark a one-layer prompt as VPT-shallow (default: deep when '
        'D > 1)')
    args = parser.parse_args(argv)
    prompt, fmt, meta = read_foreign_prompt(args.src)
    meta.update(
        task=args.task,
        deep=not args.shallow and prompt.shape[0] > 1,
        converted_from=osp.abspath(args.src),
        source_format=fmt)
    if args.data_root:
        meta['data_root'] = osp.realpath(args.data_root)
    for key in PROMPT_SHAPE_KEYS:
        meta.pop(key, None)  # save_prompt writes them from the tensor
    save_prompt(args.out, prompt, **meta)
    print(f'{args.src} ({fmt}) -> {args.out}: task {args.task!r}, prompt '
          f'[D, L, d] = {list(prompt.shape)}')


if __name__ == '__main__':
    main()
