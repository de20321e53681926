"""Convert the public MAE-VQGAN + VQGAN weights to one MMEngine checkpoint.

Usage::

    python tools/model_converters/mae_vqgan2mmengine.py \\
        checkpoint-1000.pth work_dirs/mae_vqgan_mmengine.pth \\
        --vqgan vqgan_imagenet_f16_1024/ckpts/last.ckpt

``SRC`` is ``checkpoint-1000.pth`` (amirbar/visual_prompting README);
``--vqgan`` is taming-transformers' ``vqgan_imagenet_f16_1024``
``last.ckpt`` (needed when SRC carries no ``vae.*`` weights; when it does,
SRC's ``vae.*`` win, as in the reference). The output holds
``{'meta': ..., 'state_dict': {'backbone.<key>': tensor}}`` and loads with
``load_from`` (or ``init_cfg=dict(type='Pretrained', prefix='backbone.')``)
under the default ``weights_only=True``. Inputs are read with safe
unpickling; ``--trust-checkpoint`` allows full unpickling for files you
trust that the allow-list refuses.
"""
import argparse
import os.path as osp
import sys
from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Sequence

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import torch  # noqa: E402
from mmengine.utils import mkdir_or_exist  # noqa: E402

from projects.prompthub.models.backbones.mae_vqgan import (  # noqa: E402
    MAEVQGAN, TINY_MAE_VQGAN_CFG)
from projects.prompthub.models.utils.checkpoint_io import (  # noqa: E402
    check_state_dict, load_mae_vqgan_files, module_layout)

ARCHS = {
    'large': {},
    'tiny': {
        k: v
        for k, v in TINY_MAE_VQGAN_CFG.items() if k != 'type'
    },
}


def convert(state_dict: Mapping[str, Any],
            prefix: str = 'backbone.',
            model_cfg: Optional[dict] = None,
            sources: Sequence[str] = ('<state dict>', ),
            meta: Optional[dict] = None) -> Dict[str, Any]:
    """Validate a merged ``MAEVQGAN`` state dict and wrap it for MMEngine.

    Args:
        state_dict (Mapping): MAE keys plus ``vae.*``
            (:func:`load_mae_vqgan_files`).
        prefix (str): Prepended to every key (the backbone's attribute
            path in the full model). Defaults to ``'backbone.'``.
        model_cfg (dict, optional): ``MAEVQGAN`` keyword arguments whose
            layout the weights must match. None means full size.
        sources (Sequence[str]): Files named in a mismatch error.
        meta (dict, optional): Extra ``meta`` entries (strings/numbers).

    Returns:
        dict: ``{'meta': ..., 'state_dict': OrderedDict}``.

    Raises:
        RuntimeError: Missing/unexpected keys or wrong shapes, with the
            files named.
    """
    # Meta tensors: the layout costs no memory even at full size.
    with torch.device('meta'):
        layout = module_layout(MAEVQGAN(**(model_cfg or {})))
    check_state_dict(layout, state_dict, sources)
    out = OrderedDict((prefix + k, v.detach().cpu().contiguous())
                      for k, v in state_dict.items())
    info = dict(converter='mae_vqgan2mmengine', prefix=prefix)
    info.update(meta or {})
    return dict(meta=info, state_dict=out)


def convert_files(src: str,
                  dst: str,
                  vqgan: Optional[str] = None,
                  prefix: str = 'backbone.',
                  arch: str = 'large',
                  trust_checkpoint: bool = False) -> Dict[str, Any]:
    """Read the public files, convert and save to ``dst``.

    Args:
        src (str): ``checkpoint-1000.pth``.
        dst (str): Output path.
        vqgan (str, optional): Taming ``last.ckpt``.
        prefix (str): Key prefix. Defaults to ``'backbone.'``.
        arch (str): ``'large'`` (public weights) or ``'tiny'``.
        trust_checkpoint (bool): Allow full unpickling of the inputs.

    Returns:
        dict: The saved checkpoint.
    """
    if arch not in ARCHS:
        raise ValueError(f'arch must be one of {sorted(ARCHS)}, got {arch!r}')
    merged, sources = load_mae_vqgan_files(src, vqgan, trust_checkpoint)
    ckpt = convert(
        merged,
        prefix,
        ARCHS[arch],
        sources,
        meta=dict(
            mae_checkpoint=osp.basename(src),
            vqgan_checkpoint=osp.basename(vqgan) if vqgan else '',
            arch=arch))
    mkdir_or_exist(osp.dirname(osp.abspath(dst)))
    torch.save(ckpt, dst)
    return ckpt


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert MAE-VQGAN checkpoint-1000.pth (+ taming VQGAN '
        'last.ckpt) to one MMEngine checkpoint for MAEVQGAN.')
    parser.add_argument('src', help='MAE-VQGAN checkpoint-1000.pth')
    parser.add_argument('dst', help='output MMEngine checkpoint')
    parser.add_argument(
        '--vqgan',
        default=None,
        help='taming vqgan_imagenet_f16_1024 last.ckpt (required when SRC '
        'has no vae.* weights)')
    parser.add_argument(
        '--prefix',
        default='backbone.',
        help='prefix of the output keys (the backbone attribute path)')
    parser.add_argument(
        '--arch',
        default='large',
        choices=sorted(ARCHS),
        help='model size the weights must match')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='allow full unpickling (arbitrary code) of the inputs when '
        'safe loading refuses them; only for files you trust')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        ckpt = convert_files(args.src, args.dst, args.vqgan, args.prefix,
                             args.arch, args.trust_checkpoint)
    except (FileNotFoundError, KeyError, RuntimeError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'saved {len(ckpt["state_dict"])} tensors to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
